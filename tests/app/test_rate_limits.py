"""Rate limits hold across worker processes when they share Redis.

Two real ``samtycke serve`` processes (one worker each, so which one answers is
certain) count the staff login limit in one Redis database. Redis runs at
127.0.0.1:6379 in CI; this test uses database 13 and removes only its own keys.
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
from pathlib import Path

import httpx
import redis
from flask import Flask

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("SAMTYCKE_TEST_REDIS", "redis://127.0.0.1:6379/13")
PORTS = range(5130, 5140)
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def _free_port(taken: set[int]) -> int:
    for port in PORTS:
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS}")


def _start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port), "--workers", "1"],
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
def workers(app: Flask, folder: Path, count: int, storage: str) -> Iterator[list[str]]:
    """Base URLs of ``count`` single-worker servers on the test database, counting rate limits in ``storage``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMTYCKE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SAMTYCKE_ENV="development",
        SAMTYCKE_DATABASE_URL=app.config["DATABASE_URL"],
        SAMTYCKE_SECRET_KEY=app.config["SECRET_KEY"],
        SAMTYCKE_DATA_KEY=app.config["DATA_KEY"],
        SAMTYCKE_INSTANCE_PATH=str(folder),
        SAMTYCKE_RATELIMIT_STORAGE=storage,
        # Behind a proxy, so each run can speak from an address of its own (its own counter).
        SAMTYCKE_PROXY_FIX="1",
    )
    taken: set[int] = set()
    servers: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for _ in range(count):
            port = _free_port(taken)
            servers.append((_start(port, env), port))
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


def test_the_login_limit_holds_across_workers_that_share_redis(app: Flask, tmp_path: Path) -> None:
    store = redis.Redis.from_url(REDIS_URL)
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])  # 20 per minute, as documented
    try:
        with workers(app, tmp_path, 2, REDIS_URL) as bases:
            statuses = _login_tries(bases, address, 50)  # turn about: each worker gets 25 tries
        # Per-worker counting would let 2 x 20 through; shared counting lets 20 through.
        assert statuses == [200] * limit + [429] * (50 - limit)
    finally:
        for key in store.scan_iter(match=f"*{address}*"):
            store.delete(key)
        store.close()


def test_the_login_limit_still_holds_while_redis_is_down(app: Flask, tmp_path: Path) -> None:
    """Shared storage that does not answer: the worker counts on its own meanwhile; never a 500."""
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    with workers(app, tmp_path, 1, "redis://127.0.0.1:1/0") as bases:  # nothing listens on port 1
        statuses = _login_tries(bases, "2001:db8::1", limit + 5)
    assert statuses == [200] * limit + [429] * 5
