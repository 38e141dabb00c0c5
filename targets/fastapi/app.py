"""The FastAPI reference target: a small API on sync SQLAlchemy and psycopg2.

run.py starts it through uvicorn (create_app is the factory) with its
settings in ADVISOR_TARGET_CONFIG; see run.py for the knobs.

Routes:
    GET /health
    GET /metrics
    GET /users/{user_id}
    GET /users/{user_id}/orders   orders with their items (N+1 when lazy)
    GET /users/{user_id}/events   newest 20 events (the index knob's query; db_ms
                                  more in a statement of its own)
    GET /users/{user_id}/token    a token that costs cpu_ms of CPU
    GET /posts?page=N             20 posts with author and comments (N+1 when lazy)
"""

import functools
import hashlib
import json
import os
import time

import psycopg2
from fastapi import FastAPI, HTTPException
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, Text, create_engine, text
from sqlalchemy.orm import declarative_base, relationship, selectinload, sessionmaker

import metrics
from parent import watch_parent

APPLICATION_NAME = "advisor-target-fastapi"
PAGE_SIZE = 20

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id = Column(BigInteger, primary_key=True)
    name = Column(Text, nullable=False)
    email = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)


class Comment(Base):
    __tablename__ = "comments"
    id = Column(BigInteger, primary_key=True)
    post_id = Column(BigInteger, ForeignKey("posts.id"), nullable=False)
    author_id = Column(BigInteger, ForeignKey("users.id"), nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)


class Post(Base):
    __tablename__ = "posts"
    id = Column(BigInteger, primary_key=True)
    author_id = Column(BigInteger, ForeignKey("users.id"), nullable=False)
    title = Column(Text, nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    # Lazy by default ("select"): one SELECT per post the first time each
    # is touched, unless the query asks for selectinload.
    author = relationship(User)
    comments = relationship(Comment, order_by=Comment.id)


class OrderItem(Base):
    __tablename__ = "order_items"
    id = Column(BigInteger, primary_key=True)
    order_id = Column(BigInteger, ForeignKey("orders.id"), nullable=False)
    sku = Column(Text, nullable=False)
    quantity = Column(Integer, nullable=False)
    price_cents = Column(BigInteger, nullable=False)


class Order(Base):
    __tablename__ = "orders"
    id = Column(BigInteger, primary_key=True)
    user_id = Column(BigInteger, ForeignKey("users.id"), nullable=False)
    status = Column(Text, nullable=False)
    total_cents = Column(BigInteger, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    items = relationship(OrderItem, order_by=OrderItem.id)


class Event(Base):
    __tablename__ = "events"
    id = Column(BigInteger, primary_key=True)
    user_id = Column(BigInteger, nullable=False)
    kind = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    payload = Column(Text, nullable=False)


def user_json(u):
    return {"id": u.id, "name": u.name, "email": u.email}


def burn_cpu(ms, seed):
    """Spends ms of this thread's CPU time hashing, and returns the digest.
    Small sha256 calls keep the GIL, as most Python work does, so a process
    never gets more than one core out of this."""
    h = seed.encode()
    end = time.thread_time() + ms / 1000.0
    while True:
        for _ in range(100):
            h = hashlib.sha256(h).digest()
        if time.thread_time() >= end:
            return h.hex()


def create_app():
    config = json.loads(os.environ["ADVISOR_TARGET_CONFIG"])
    knobs = config["knobs"]
    dsn = config["dsn"]
    pool_size, max_overflow = knobs["pool"]

    # psycopg2 reads the URL (and its passfile) itself; every session of the
    # service carries the same application_name in pg_stat_activity.
    engine = create_engine(
        "postgresql+psycopg2://",
        creator=lambda: psycopg2.connect(dsn, application_name=APPLICATION_NAME),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=knobs["pool_timeout"],
        future=True,
    )
    Session = sessionmaker(engine, future=True)
    selectin = knobs["nplusone"] == "selectin"

    app = FastAPI(title="advisor FastAPI target", docs_url=None, redoc_url=None, openapi_url=None)
    metrics.instrument(app)

    def route(path):
        """Registers body, a plain function, as GET path: called directly from
        an `async def` endpoint when handlers=sync-in-async (the sync session
        then blocks the event loop), or as a `def` endpoint FastAPI runs in
        its threadpool when handlers=threadpool."""

        def register(body):
            if knobs["handlers"] == "threadpool":
                endpoint = body
            else:

                @functools.wraps(body)
                async def endpoint(*args, **kwargs):
                    return body(*args, **kwargs)

            app.get(path)(endpoint)
            return body

        return register

    @route("/health")
    def health():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "pid": os.getpid()}

    @route("/users/{user_id}")
    def get_user(user_id: int):
        with Session() as db:
            u = db.get(User, user_id)
            if u is None:
                raise HTTPException(404, "no such user")
            return user_json(u)

    @route("/posts")
    def list_posts(page: int = 1):
        with Session() as db:
            q = db.query(Post).order_by(Post.id.desc()).limit(PAGE_SIZE).offset(max(page - 1, 0) * PAGE_SIZE)
            if selectin:
                q = q.options(selectinload(Post.author), selectinload(Post.comments))
            return [
                {
                    "id": p.id,
                    "title": p.title,
                    "author": user_json(p.author),  # lazy: one SELECT per post
                    "comments": [{"id": c.id, "body": c.body, "author_id": c.author_id} for c in p.comments],
                }
                for p in q.all()
            ]

    @route("/users/{user_id}/orders")
    def list_orders(user_id: int):
        with Session() as db:
            q = db.query(Order).filter(Order.user_id == user_id).order_by(Order.created_at.desc())
            if selectin:
                q = q.options(selectinload(Order.items))
            return [
                {
                    "id": o.id,
                    "status": o.status,
                    "total_cents": o.total_cents,
                    "items": [{"sku": i.sku, "quantity": i.quantity, "price_cents": i.price_cents} for i in o.items],
                }
                for o in q.all()
            ]

    @route("/users/{user_id}/events")
    def list_events(user_id: int):
        # WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20: a scan of the
        # whole table without events (user_id, created_at DESC).
        with Session() as db:
            if knobs["db_ms"]:
                # A statement that takes db_ms in PostgreSQL, as a report
                # query or a slower data set would: the session waits, the
                # worker's CPU does not run.
                db.execute(text("SELECT pg_sleep(:s)"), {"s": knobs["db_ms"] / 1000.0})
            q = db.query(Event).filter(Event.user_id == user_id).order_by(Event.created_at.desc()).limit(PAGE_SIZE)
            return [{"id": e.id, "kind": e.kind, "at": e.created_at.isoformat()} for e in q.all()]

    @route("/users/{user_id}/token")
    def issue_token(user_id: int):
        with Session() as db:
            u = db.get(User, user_id)
            if u is None:
                raise HTTPException(404, "no such user")
            email = u.email
        return {"user_id": user_id, "token": burn_cpu(knobs["cpu_ms"], email)}

    pid_file = os.path.join(config["pid_dir"], str(os.getpid())) if config["pid_dir"] else None

    @app.on_event("startup")
    def started():
        if pid_file:
            open(pid_file, "w").close()
        # A worker process watches the launcher (which watches its own
        # parent); with one worker the launcher is this process.
        if config["exit_with_parent"] and os.getpid() != config["launcher_pid"]:
            watch_parent(config["launcher_pid"])
        metrics.start_process_metrics()

    @app.on_event("shutdown")
    def stopping():
        if pid_file and os.path.exists(pid_file):
            os.remove(pid_file)
        metrics.process_exiting()
        engine.dispose()

    return app

