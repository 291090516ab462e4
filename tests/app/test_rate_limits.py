"""Rate limits hold across worker processes when they share Redis.

Real single-worker ``samtycke serve`` processes (so which one answers is certain) count the
staff login limit: two in one Redis database, one whose Redis does not answer. They are
started once per module and backend, on this xdist worker's share of the test ports
(``tests.conftest.worker_ports``). Redis runs at 127.0.0.1:6379 in CI; this test uses
database 13 (``SAMTYCKE_TEST_REDIS``), each test speaks from an address of its own and
removes only that address's keys.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from flask import Flask

from tests.conftest import worker_ports

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("SAMTYCKE_TEST_REDIS", "redis://127.0.0.1:6379/13")
# The server hashes passwords as the test process does (tests/cheap_hashing.py); gunicorn's worker inherits it.
SERVE = "from tests.cheap_hashing import use_cheapest_argon2; use_cheapest_argon2(); from app.cli import main; main()"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def _free_port(taken: set[int]) -> int:
    ports = worker_ports()
    for port in ports:
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port in {ports}")


def _start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env={**env, "SAMTYCKE_BASE_URL": f"http://127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_until_up(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the server did not start:\n" + (proc.stderr.read().decode() if proc.stderr else ""))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server on port {port} did not answer in time")


@contextmanager
def workers(app: Flask, folder: Path, storages: list[str]) -> Iterator[list[str]]:
    """Base URLs of single-worker servers on the test database, one per rate-limit ``storages`` entry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMTYCKE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SAMTYCKE_ENV="development",
        SAMTYCKE_DATABASE_URL=app.config["DATABASE_URL"],
        SAMTYCKE_SECRET_KEY=app.config["SECRET_KEY"],
        SAMTYCKE_DATA_KEY=app.config["DATA_KEY"],
        SAMTYCKE_INSTANCE_PATH=str(folder),
        # Behind a proxy, so each run can speak from an address of its own (its own counter).
        SAMTYCKE_PROXY_FIX="1",
        # Web processes only, as on a production web machine: with a broker named, `serve` starts no
        # embedded worker beside gunicorn (nothing here makes background work; nothing consumes it).
        SAMTYCKE_BROKER_URL=REDIS_URL,
    )
    taken: set[int] = set()
    servers: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for storage in storages:
            port = _free_port(taken)
            servers.append((_start(port, {**env, "SAMTYCKE_RATELIMIT_STORAGE": storage}), port))
        for proc, port in servers:
            _wait_until_up(proc, port)
        yield [f"http://127.0.0.1:{port}" for _proc, port in servers]
    finally:
        for proc, _port in servers:
            proc.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown
        for proc, _port in servers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _login_tries(bases: list[str], address: str, tries: int) -> list[int]:
    """Failed logins from one client address, taking the servers in turn; the answers' statuses."""
    clients: list[tuple[httpx.Client, str]] = []
    try:
        for base in bases:
            http = httpx.Client(base_url=base, headers={"X-Forwarded-For": address}, timeout=30)
            found = _CSRF.search(http.get("/console/login").text)
            assert found, "the login page has no CSRF token"
            clients.append((http, found.group(1) or found.group(2)))
        statuses: list[int] = []
        for attempt in range(tries):
            http, csrf = clients[attempt % len(clients)]
            statuses.append(http.post("/console/login", data={
                "email": "dpo@kommun.example", "password": f"guess {attempt}", "csrf_token": csrf,
            }).status_code)
        return statuses
    finally:
        for http, _csrf in clients:
            http.close()


@dataclass(frozen=True)
class Servers:
    sharing_redis: list[str]  # two servers counting in REDIS_URL
    redis_down: list[str]  # one server whose Redis does not answer


@pytest.fixture(scope="module")
def servers(_session_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The module's servers, on the test database of this backend."""
    storages = [REDIS_URL, REDIS_URL, "redis://127.0.0.1:1/0"]  # nothing listens on port 1
    with workers(_session_app, tmp_path_factory.mktemp("rate-limit-servers"), storages) as bases:
        yield Servers(sharing_redis=bases[:2], redis_down=bases[2:])


def _address() -> str:
    """A client address of this test's own, so its counters are its own."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def test_the_login_limit_holds_across_workers_that_share_redis(app: Flask, servers: Servers) -> None:
    store = redis.Redis.from_url(REDIS_URL)
    address = _address()
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])  # 20 per minute, as documented
    try:
        statuses = _login_tries(servers.sharing_redis, address, 50)  # turn about: each worker gets 25 tries
        # Per-worker counting would let 2 x 20 through; shared counting lets 20 through.
        assert statuses == [200] * limit + [429] * (50 - limit)
    finally:
        for key in store.scan_iter(match=f"*{address}*"):
            store.delete(key)
        store.close()


def test_the_login_limit_still_holds_while_redis_is_down(app: Flask, servers: Servers) -> None:
    """Shared storage that does not answer: the worker counts on its own meanwhile; never a 500."""
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    statuses = _login_tries(servers.redis_down, _address(), limit + 5)
    assert statuses == [200] * limit + [429] * 5
