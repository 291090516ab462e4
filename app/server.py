"""Production WSGI serving with gunicorn, configured in code."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Each worker builds its own app after the fork: no shared connections.
        from app import create_app

        return create_app()


def default_workers() -> int:
    from app.config import from_environment

    configured = int(from_environment().get("WORKERS") or 0)
    return configured or (os.cpu_count() or 1) * 2 + 1


class EmbeddedWorker:
    """The embedded default's background work: one ``samtycke worker --beat`` process beside gunicorn,
    on the instance folder's broker, restarted if it dies and stopped with the server."""

    def __init__(self, concurrency: int) -> None:
        self.argv = [sys.executable, "-m", "app.cli", "worker", "--beat", f"--concurrency={concurrency}"]
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._owner = os.getpid()

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)  # noqa: S603 - our own interpreter and module
        threading.Thread(target=self._watch, name="embedded-worker", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.wait(2.0):
            process = self.process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                log.warning("the background worker exited (%s); starting it again", process.returncode)
                time.sleep(1.0)
                if not self._stopping.is_set():
                    self.process = subprocess.Popen(self.argv)  # noqa: S603

    def on_exit(self, server: Any) -> None:
        """gunicorn's hook when the master exits."""
        self.stop()

    def stop(self) -> None:
        if os.getpid() != self._owner:
            return  # a forked gunicorn worker calling the hook: only the master owns the process
        self._stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # warm shutdown: tasks in hand finish first
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(host: str, port: int, workers: int | None = None, threads: int = 1) -> None:
    from app.config import build, check_workers

    cfg = build(None)  # every start-up check (production included) fails here, before forking
    workers = workers or default_workers()
    warning = check_workers(cfg, workers)
    if warning:
        log.warning(warning)
    # No broker: the background work runs here, in one worker process beside gunicorn, on the
    # instance folder's queue. With a broker, `samtycke worker` processes (anywhere) do it.
    embedded = None if cfg.get("BROKER_URL") else EmbeddedWorker(concurrency=min(2, os.cpu_count() or 1))
    print(f"Samtycke listening on http://{host}:{port}  (workers: {workers}, database: "
          f"{cfg['DATABASE_URL'].split('@')[-1]}, background work: "
          f"{'embedded worker' if embedded else 'samtycke worker processes'})", flush=True)
    if embedded is not None:
        embedded.start()
    try:
        _serve(host, port, workers, threads, on_exit=embedded.on_exit if embedded else None)
    finally:
        if embedded is not None:
            embedded.stop()


def _serve(host: str, port: int, workers: int, threads: int, on_exit: Any) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": "-" if os.environ.get("SAMTYCKE_ACCESS_LOG") else None,
        # Paths only: a query string may carry a personal number (?personal_number=).
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
        "errorlog": "-",
        "timeout": 60,
        # Recycle workers now and then: WeasyPrint's memory grows over many records.
        "max_requests": 5000,
        "max_requests_jitter": 500,
        "preload_app": False,
    }
    if on_exit is not None:
        options["on_exit"] = on_exit
    _Gunicorn(options).run()
