"""The application factory: the one place where the parts are wired together."""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import config as config_module
from app import errors, signals
from app.crypto import install_keyring
from app.db import make_engine, make_sessionmaker
from app.extensions import api, babel, csrf, limiter
from app.i18n import DEFAULT_LOCALE, LOCALE_NAMES, LOCALES, current_locale, select_locale
from app.json_input import JSONProvider

log = logging.getLogger(__name__)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    # Behind a TLS-terminating proxy the request itself may look like plain http;
    # the public https URL says the site is served over https all the same.
    secure = request.is_secure or current_app.config["BASE_URL"].startswith("https://")
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Signing links carry their key in the path: never leak it through Referer.
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if not (request.endpoint or "").endswith("static"):
        # Console pages, subject pages and the API all carry personal data or signing links:
        # no browser or proxy keeps a copy. Only the static files may be cached.
        headers.setdefault("Cache-Control", "no-store")
    chosen = request.args.get("lang")
    if chosen in LOCALES and request.cookies.get("lang") != chosen:
        response.set_cookie("lang", chosen, max_age=365 * 86400, samesite="Lax", secure=secure)
    return response


class _Samtycke(Flask):
    def process_response(self, response: Response) -> Response:
        # The after-request hooks may replace the answer (the commit hook turns a failed
        # commit into a 409 or 503); the security headers go on whatever answer is final.
        return _security_headers(super().process_response(response))


def _finish_transaction(response: Response) -> Response:
    """The one commit of a request: commit on success, roll back on any error answer."""
    session = g.pop("db_session", None)
    if session is None:
        return response
    try:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    except IntegrityError as exc:
        session.rollback()
        return errors.handle_integrity_error(exc)
    except StaleDataError as exc:
        session.rollback()
        return errors.handle_stale_data(exc)
    except Exception:
        session.rollback()
        log.exception("commit failed")
        return errors.problem(503, "Service unavailable", "The change could not be saved; try again.")
    finally:
        session.close()
    return response


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def _csrf_for_forms() -> None:
    """CSRF on every HTML form post; JSON bodies (API, subject pages) cannot be sent cross-site."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or request.routing_exception is not None:
        return
    if request.path.startswith(("/api/", "/oauth/", "/bankid-sim/")):
        return
    if request.path.startswith("/s/") and request.is_json:
        return
    csrf.protect()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = config_module.build(config)
    app = _Samtycke(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        instance_relative_config=False,
    )
    app.config.update(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["BASE_URL"].startswith("https://"),
        SESSION_COOKIE_NAME="samtycke_session",
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_TRANSLATION_DIRECTORIES="translations",
        API_TITLE="Samtycke",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        RATELIMIT_STORAGE_URI=settings["RATELIMIT_STORAGE_URI"],
        RATELIMIT_HEADERS_ENABLED=True,
        # Shared storage (Redis) down: count in this process meanwhile rather than answer 500
        # or let every try through; flask-limiter logs the switch and retries the storage.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    # Every JSON body, whoever reads it, goes through the one bounded parser.
    app.json = JSONProvider(app)
    if settings.get("PROXY_FIX"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(settings["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    # The engine is created here but connects lazily: no database work at start-up,
    # so pre-forked workers never inherit an open connection.
    engine = make_engine(settings["DATABASE_URL"])
    app.extensions["samtycke.engine"] = engine
    app.extensions["samtycke.sessionmaker"] = make_sessionmaker(engine)

    install_keyring(app, settings["DATA_KEY"], engine)

    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
        },
    )
    from app import auth, health, jobs

    auth.init_app(app)
    health.init_app(app)
    jobs.init_app(app)
    _wire_domains(app)
    # Registered last so these handlers replace flask-smorest's own.
    errors.init_app(app)

    from app.input_guard import reject_unstorable_input

    app.before_request(reject_unstorable_input)
    app.before_request(_csrf_for_forms)
    app.after_request(_finish_transaction)
    app.teardown_request(_close_session)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"current_locale": current_locale(), "locales": LOCALES, "locale_names": LOCALE_NAMES}

    return app


def _wire_domains(app: Flask) -> None:
    """Every domain, plainly imported: its pages and API, and the signals between domains.

    The one place where the foundation names the domains (apart from the CLI's list below).
    Receivers run in the order connected.
    """
    from app import staff
    from consent import api as consent_api
    from consent import console as consent_console
    from consent import signals as consent_signals
    from consent import tasks as consent_tasks
    from consent import webhook_sending, webhooks
    from reports import api as reports_api
    from reports import console as reports_console
    from reports import services as records
    from reports import tasks as reports_tasks
    from signing import gdpr as signing_gdpr
    from signing import pages
    from signing.bankid import simulator

    consent_api.register(api)
    if app.config["BANKID"] == "simulator":
        simulator.register(app)  # never in production: the configuration refuses it there
    pages.register(app)
    reports_api.register(app, api)
    # The staff console: the foundation's frame first (its navigation entry leads), then each
    # domain's pages in the domains' order.
    staff.register(app)
    consent_console.register(app)
    reports_console.register(app)

    # An audit event queues a webhook delivery, then a PDF record, in its own transaction.
    signals.audit_appended.connect(webhooks.on_audit_event)
    signals.audit_appended.connect(records.on_audit_event)
    consent_signals.sealed_records.connect(records.sealed_ids)
    consent_signals.records_listed.connect(records.records_of)
    # An erased person's copies in the signing attempts and the records (Art. 17), mirrored by the export.
    consent_signals.exporting.connect(signing_gdpr.export_orders)
    consent_signals.exporting.connect(records.export_records)
    consent_signals.erasing.connect(signing_gdpr.erase_orders)
    consent_signals.erasing.connect(records.erase_records)

    # Background work: each domain's periodic jobs for beat, and what its queue of rows holds.
    reports_tasks.register(app)
    consent_tasks.register(app)
    signals.job_queues.connect(records.queue_status)
    signals.job_queues.connect(webhook_sending.queue_status)
    signals.retry_failed_jobs.connect(records.queue_failed)
    signals.retry_failed_jobs.connect(webhook_sending.retry_failed)


def cli_commands() -> list[click.Command]:
    """Each domain's ``samtycke`` commands, for ``app.cli``."""
    from consent import cli as consent_cli
    from migrations import cli as schema_cli
    from reports import cli as reports_cli

    return [*schema_cli.COMMANDS, *consent_cli.COMMANDS, *reports_cli.COMMANDS]

