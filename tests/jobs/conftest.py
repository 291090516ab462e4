"""Real parts for the background-work tests: `samtycke worker` processes, Redis, RabbitMQ.

Each test gets its own queue name (and its own Redis database among 4-9), so tests and other
suites sharing the broker never see each other's messages. Workers run as subprocesses in
their own process group, so a test can SIGKILL one with its children, as a machine would die.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import transaction
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
# This suite's ports (proxies, servers) and Redis databases.
PORTS = range(5750, 5800)
REDIS_DBS = range(4, 10)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 5750-5799")


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Worker:
    """One `samtycke worker` process (its prefork children in the same process group)."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", *args], env=env, cwd=ROOT,
            stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited {self.process.returncode}:\n{self.output()[-3000:]}")
            return " ready." in self.output()

        wait_for(ready, timeout, "the worker to be ready")

    def kill(self) -> None:
        """SIGKILL the worker and its children at once: no warm shutdown, no acknowledgement."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()


class TcpProxy:
    """A broker address that can go down and come back: forwards a local port to the real broker."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis database of this suite's own, one per xdist worker (so one test at a time uses it),
    emptied before and after the test."""
    if not _redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    import redis

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db = REDIS_DBS[int(worker.removeprefix("gw") or 0) % (len(REDIS_DBS) - 1)]  # 9 is the benchmark's
    client = redis.Redis(host="127.0.0.1", port=6379, db=db)
    client.flushdb()
    yield db
    client.flushdb()
    client.close()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    return f"samtycke-test-{uuid.uuid4().hex[:10]}"


class Jobs:
    """Workers and a web app for one test, all on the same database, broker and queue."""

    def __init__(self, app: Flask, make_app: Any, tmp: Path, queue: str) -> None:
        self.app = app  # the suite's app: arranging data and reading it back
        self.make_app = make_app
        self.tmp = tmp
        self.queue = queue
        self.workers: list[Worker] = []
        self.used_amqp = False

    def settings(self, broker: str | None, **extra: Any) -> dict[str, Any]:
        self.used_amqp = self.used_amqp or str(broker).startswith("amqp")
        return {
            "BROKER_URL": broker, "JOBS_QUEUE": self.queue, "JOBS_EAGER": False,
            "JOBS_LEASE_SECONDS": 6, "JOBS_VISIBILITY_TIMEOUT": 5, "JOBS_SWEEP_SECONDS": 2,
            "JOBS_SWEEP_GRACE_SECONDS": 1, "JOBS_PUBLISH_TIMEOUT": 1.0, **extra,
        }

    def web(self, broker: str | None, **extra: Any) -> Flask:
        """An app that only enqueues (as a web process does), with the suite's database."""
        web = self.make_app(**self.settings(broker, **extra))
        return web  # type: ignore[no-any-return]

    def env(self, broker: str | None, **extra: Any) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAMTYCKE_")}
        config = self.app.config
        env.update(
            PYTHONPATH=str(ROOT), SAMTYCKE_ENV="development", SAMTYCKE_DATABASE_URL=config["DATABASE_URL"],
            SAMTYCKE_INSTANCE_PATH=config["INSTANCE_PATH"], SAMTYCKE_SECRET_KEY=config["SECRET_KEY"],
            SAMTYCKE_DATA_KEY=config["DATA_KEY"], SAMTYCKE_BASE_URL=config["BASE_URL"],
        )
        for key, value in self.settings(broker, **extra).items():
            if key != "JOBS_EAGER" and value is not None:
                env[f"SAMTYCKE_{key}"] = str(value)
        return env

    def worker(self, broker: str, *args: str, name: str = "worker", **extra: Any) -> Worker:
        worker = Worker(self.env(broker, **extra), self.tmp / f"{name}-{len(self.workers)}.log", *args)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        # The test has made its assertions: end what is left at once (a warm shutdown of a worker
        # whose broker is gone waits for reconnection attempts).
        for worker in self.workers:
            worker.kill()
        if self.used_amqp:  # RabbitMQ keeps a queue until it is deleted
            from kombu import Connection

            with Connection(AMQP) as conn:
                channel = conn.default_channel
                channel.queue_delete(self.queue)
                channel.exchange_delete(self.queue)


@pytest.fixture
def jobs(app: Flask, make_app: Any, tmp_path: Path, queue_name: str) -> Iterator[Jobs]:
    j = Jobs(app, make_app, tmp_path, queue_name)
    yield j
    j.close()


def api_for(web: Flask, slug: str = "acme") -> Api:
    """A DAM client of ``web`` (scopes for the whole flow)."""
    from app.auth import create_client, create_tenant
    from app.models import Tenant
    from tests.conftest import ALL_SCOPES

    with web.app_context(), transaction(web.extensions["samtycke.sessionmaker"]) as s:
        tenant = s.scalar(sa.select(Tenant).where(Tenant.slug == slug)) or create_tenant(s, slug, slug.title())
        c, secret = create_client(s, tenant, ALL_SCOPES.split())
        tenant_id, client_id = tenant.id, c.client_id
    return Api(web.test_client(), tenant_id, client_id, secret, ALL_SCOPES)
