"""Production WSGI serving with gunicorn, configured in code."""

from __future__ import annotations

import logging
import os
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


def run(host: str, port: int, workers: int | None = None, threads: int = 1) -> None:
    from app.config import build, check_workers

    cfg = build(None)  # every start-up check (production included) fails here, before forking
    workers = workers or default_workers()
    warning = check_workers(cfg, workers)
    if warning:
        log.warning(warning)
    print(f"Samtycke listening on http://{host}:{port}  (workers: {workers}, database: "
          f"{cfg['DATABASE_URL'].split('@')[-1]})", flush=True)
    _Gunicorn(
        {
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
    ).run()
