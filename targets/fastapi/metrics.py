"""/metrics of the FastAPI target with prometheus-fastapi-instrumentator's
names, labels and buckets, written with prometheus_client alone (the
instrumentator is not packaged in Debian):

    http_requests_total{handler,method,status}        status grouped: "2xx"
    http_request_size_bytes{handler}, http_response_size_bytes{handler}
    http_request_duration_seconds{handler,method}     buckets 0.1, 0.5, 1
    http_request_duration_highr_seconds               fine buckets, no labels
    http_requests_inprogress{handler,method}          gauge

plus the process and platform collectors (process_cpu_seconds_total,
process_start_time_seconds, python_info, ...).

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR is set (by run.py) and
prometheus_client's multiprocess mode adds up the workers' samples in whichever
worker answers /metrics. That mode has no process collector, so each worker
copies its own process figures into multiprocess metrics of the same names
every half second: process_cpu_seconds_total is then the sum over workers.
"""

import os
import threading
import time

from fastapi import Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    Summary,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response
from starlette.routing import Match

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# The instrumentator's defaults.
LOWR_BUCKETS = (0.1, 0.5, 1)
HIGHR_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60)

# In multiprocess mode metrics write to the shared files whatever registry
# holds them; /metrics then reads the files. In a single process they live
# in this registry, beside the process, platform and GC collectors.
REGISTRY = CollectorRegistry()
if not MULTIPROCESS:
    REGISTRY.register(PROCESS_COLLECTOR)
    REGISTRY.register(PLATFORM_COLLECTOR)
    REGISTRY.register(GC_COLLECTOR)
_own = None if MULTIPROCESS else REGISTRY

REQUESTS = Counter(
    "http_requests_total",
    "Total number of requests by method, status and handler.",
    ("method", "status", "handler"),
    registry=_own,
)
REQUEST_SIZE = Summary(
    "http_request_size_bytes",
    "Content length of incoming requests by handler. Only value of header is respected. Otherwise ignored.",
    ("handler",),
    registry=_own,
)
RESPONSE_SIZE = Summary(
    "http_response_size_bytes",
    "Content length of outgoing responses by handler. Only value of header is respected. Otherwise ignored.",
    ("handler",),
    registry=_own,
)
LATENCY_HIGHR = Histogram(
    "http_request_duration_highr_seconds",
    "Latency with many buckets but no API specific labels. Made for more accurate percentile calculations.",
    buckets=HIGHR_BUCKETS,
    registry=_own,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important.",
    ("method", "handler"),
    buckets=LOWR_BUCKETS,
    registry=_own,
)
INPROGRESS = Gauge(
    "http_requests_inprogress",
    "Number of HTTP requests in progress.",
    ("method", "handler"),
    multiprocess_mode="livesum",
    registry=_own,
)

if MULTIPROCESS:
    # The process collector's figures, per worker, added up on reading.
    PROC_CPU = Counter("process_cpu_seconds", "Total user and system CPU time spent in seconds.", registry=None)
    PROC_START = Gauge(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        multiprocess_mode="min",
        registry=None,
    )
    PROC_RSS = Gauge(
        "process_resident_memory_bytes", "Resident memory size in bytes.", multiprocess_mode="livesum", registry=None
    )
    PROC_FDS = Gauge(
        "process_open_fds", "Number of open file descriptors.", multiprocess_mode="livesum", registry=None
    )


def handler_of(app, scope):
    """The route template that matches the request (e.g. /users/{user_id}),
    or "none" for a path no route matches, as the instrumentator groups
    untemplated requests."""
    for route in app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route.path
    return "none"


class PrometheusMiddleware:
    """ASGI middleware recording each HTTP request's metrics."""

    def __init__(self, app, router_app):
        self.app = app
        self.router_app = router_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        method = scope["method"]
        handler = handler_of(self.router_app, scope)
        inprogress = INPROGRESS.labels(method, handler)
        inprogress.inc()
        status = 500
        response_length = 0

        async def send_wrapper(message):
            nonlocal status, response_length
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-length":
                        response_length = int(value)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            duration = time.perf_counter() - start
            inprogress.dec()
            request_length = 0
            for name, value in scope.get("headers", []):
                if name == b"content-length":
                    request_length = int(value)
            REQUESTS.labels(method, str(status)[0] + "xx", handler).inc()
            REQUEST_SIZE.labels(handler).observe(request_length)
            RESPONSE_SIZE.labels(handler).observe(response_length)
            LATENCY_HIGHR.observe(duration)
            LATENCY.labels(method, handler).observe(duration)


def instrument(app):
    """Adds the middleware and GET /metrics to app."""
    app.add_middleware(PrometheusMiddleware, router_app=app)

    @app.get("/metrics")
    def metrics_endpoint(request: Request):
        if MULTIPROCESS:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            PlatformCollector(registry=registry)  # python_info, from this worker
            body = generate_latest(registry)
        else:
            body = generate_latest(REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def start_process_metrics():
    """In multiprocess mode, copies this worker's process figures into the
    shared metrics every half second from a daemon thread."""
    if not MULTIPROCESS:
        return
    collector = ProcessCollector(registry=None)
    last_cpu = 0.0

    def update():
        nonlocal last_cpu
        for family in collector.collect():
            for sample in family.samples:
                if sample.name == "process_cpu_seconds_total":
                    PROC_CPU.inc(max(sample.value - last_cpu, 0))
                    last_cpu = sample.value
                elif sample.name == "process_start_time_seconds":
                    PROC_START.set(sample.value)
                elif sample.name == "process_resident_memory_bytes":
                    PROC_RSS.set(sample.value)
                elif sample.name == "process_open_fds":
                    PROC_FDS.set(sample.value)

    def loop():
        while True:
            update()
            time.sleep(0.5)

    update()
    threading.Thread(target=loop, name="process-metrics", daemon=True).start()


def process_exiting():
    """Drops this worker's live gauges from the sums (multiprocess mode)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())
