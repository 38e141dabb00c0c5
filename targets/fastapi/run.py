"""Launcher of the FastAPI reference target: seeds its database, or starts it.

    run.py seed  --dsn DSN [--size tiny|small|large]
    run.py [serve] --dsn DSN [--port 8000] [--profile naive|tuned]
                   [--knob name=value]... [--pid-dir DIR] [--exit-with-parent]

Knobs (a --knob overrides the profile's value):

    nplusone  lazy | selectin          GET /posts and /users/{id}/orders
    handlers  sync-in-async | threadpool
    workers   N                        uvicorn worker processes
    pool      SIZE[+OVERFLOW]          SQLAlchemy pool_size and max_overflow
    pool_timeout SECONDS               SQLAlchemy pool_timeout (default 30)
    index     missing | present        events (user_id, created_at DESC)
    cpu_ms    N                        CPU burnt by GET /users/{id}/token
    db_ms     N                        a statement of N ms more in GET /users/{id}/events

Run it with Debian's /usr/bin/python3, which has the python3-fastapi,
python3-uvicorn, python3-sqlalchemy, python3-psycopg2 and
python3-prometheus-client packages.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.join(HERE, "..", "schema")

APPLICATION_NAME = "advisor-target-fastapi"

PROFILES = {
    "naive": {
        "nplusone": "lazy",
        "handlers": "sync-in-async",
        "workers": "1",
        "pool": "2+0",
        "pool_timeout": "30",
        "index": "missing",
        "cpu_ms": "20",
        "db_ms": "0",
    },
    "tuned": {
        "nplusone": "selectin",
        "handlers": "threadpool",
        "workers": "2",
        "pool": "5+10",
        "pool_timeout": "30",
        "index": "present",
        "cpu_ms": "0",
        "db_ms": "0",
    },
}

CHOICES = {
    "nplusone": ("lazy", "selectin"),
    "handlers": ("sync-in-async", "threadpool"),
    "index": ("missing", "present"),
}

INDEX_NAME = "events_user_id_created_at_idx"


class UsageError(Exception):
    pass


def parse_knobs(profile, overrides):
    """Returns the knob settings of profile with the name=value overrides,
    checked and converted: workers, cpu_ms, db_ms, pool_timeout as numbers and pool
    as (size, overflow)."""
    if profile not in PROFILES:
        raise UsageError("unknown profile %r (naive or tuned)" % profile)
    raw = dict(PROFILES[profile])
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError("knob %r is not name=value" % item)
        if name not in raw:
            raise UsageError("unknown knob %r (known: %s)" % (name, ", ".join(sorted(raw))))
        raw[name] = value
    knobs = dict(raw)
    for name, allowed in CHOICES.items():
        if raw[name] not in allowed:
            raise UsageError("knob %s=%s: want one of %s" % (name, raw[name], ", ".join(allowed)))
    knobs["workers"] = number(raw, "workers", int, 1)
    knobs["cpu_ms"] = number(raw, "cpu_ms", int, 0)
    knobs["db_ms"] = number(raw, "db_ms", int, 0)
    knobs["pool_timeout"] = number(raw, "pool_timeout", float, 0)
    size, _, overflow = raw["pool"].partition("+")
    knobs["pool"] = [
        number({"pool": size}, "pool", int, 1),
        number({"pool": overflow or "0"}, "pool", int, 0),
    ]
    return knobs


def number(raw, name, kind, least):
    """Returns knob name of raw as a kind (int or float) of at least least."""
    try:
        value = kind(raw[name])
    except ValueError:
        value = None
    if value is None or value < least:
        what = "an integer" if kind is int else "a number"
        raise UsageError("knob %s=%s: want %s of at least %s" % (name, raw[name], what, least))
    return value


def libpq_dsn(dsn):
    """psycopg2 (libpq) reads postgres:// and postgresql:// URLs as they are;
    SQLAlchemy wants its dialect in the scheme."""
    for prefix in ("postgres://", "postgresql://"):
        if dsn.startswith(prefix):
            return dsn
    raise UsageError("--dsn must be a postgres:// or postgresql:// URL")


def connect(dsn, application_name):
    import psycopg2

    return psycopg2.connect(libpq_dsn(dsn), application_name=application_name)


def seed(dsn, size):
    """Creates the schema and data set of size from ../schema (the Express
    target's seed runs the same script)."""
    with open(os.path.join(SCHEMA_DIR, "sizes.json")) as f:
        sizes = json.load(f)
    if size not in sizes:
        raise UsageError("unknown size %r (%s)" % (size, ", ".join(sizes)))
    with open(os.path.join(SCHEMA_DIR, "seed.sql")) as f:
        script = f.read()
    for name, value in sizes[size].items():
        script = script.replace("{%s}" % name, str(int(value)))
    script = script.replace("{size}", size)
    conn = connect(dsn, APPLICATION_NAME + "-seed")
    try:
        with conn, conn.cursor() as cur:  # one transaction
            cur.execute(script)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()


def apply_index_knob(dsn, index):
    """Creates or drops the index GET /users/{id}/events needs. The target's
    own DDL on its own test database."""
    conn = connect(dsn, APPLICATION_NAME + "-setup")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if index == "present":
                cur.execute(
                    "CREATE INDEX IF NOT EXISTS %s ON events (user_id, created_at DESC)" % INDEX_NAME
                )
            else:
                cur.execute("DROP INDEX IF EXISTS %s" % INDEX_NAME)
    finally:
        conn.close()


def serve(args):
    knobs = parse_knobs(args.profile, args.knob)
    libpq_dsn(args.dsn)
    apply_index_knob(args.dsn, knobs["index"])

    # The app reads its settings from the environment, so that uvicorn's
    # worker processes (started with multiprocessing's spawn) see them too.
    os.environ["ADVISOR_TARGET_CONFIG"] = json.dumps(
        {
            "dsn": args.dsn,
            "knobs": knobs,
            "pid_dir": args.pid_dir or "",
            "exit_with_parent": args.exit_with_parent,
            "launcher_pid": os.getpid(),
        }
    )
    metrics_dir = None
    if knobs["workers"] > 1:
        # prometheus_client's multiprocess mode: each worker writes its
        # samples to files here and /metrics, in whichever worker answers,
        # adds them up. Set before anything imports prometheus_client.
        metrics_dir = tempfile.mkdtemp(prefix="advisor-target-fastapi-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    sys.path.insert(0, HERE)
    import uvicorn

    from parent import watch_parent

    if args.exit_with_parent:
        watch_parent(args.parent_pid)

    try:
        uvicorn.run(
            "app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=knobs["workers"],
            log_level="warning",
            access_log=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def main(argv):
    command = "serve"
    if argv and argv[0] in ("serve", "seed"):
        command, argv = argv[0], argv[1:]
    parser = argparse.ArgumentParser(prog="run.py " + command)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="postgres:// URL")
    if command == "seed":
        parser.add_argument("--size", default="small")
    else:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--profile", default="naive")
        parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--pid-dir", help="each serving process creates an empty file named after its pid here")
        parser.add_argument(
            "--exit-with-parent", action="store_true", help="exit when the process that started this one is gone"
        )
    args = parser.parse_args(argv)
    args.parent_pid = os.getppid()  # before anything slow
    if not args.dsn:
        parser.error("--dsn (or DATABASE_URL) is required")
    try:
        if command == "seed":
            seed(args.dsn, args.size)
        else:
            serve(args)
    except UsageError as e:
        print("run.py: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
