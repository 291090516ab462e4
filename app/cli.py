"""The ``samtycke`` command: the foundation's groups (tenants, clients, staff users, demo, serve), then each domain's.

Each command is one unit of work: services flush, the wrapper commits.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask
from sqlalchemy.orm import Session

from app import cli_commands, create_app
from app.errors import DomainError
from app.staff.permissions import ROLES


def _app() -> Flask:
    from app.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def unit_of_work(app: Flask) -> Iterator[Session]:
    from app.db import transaction

    with app.app_context(), transaction(app.extensions["samtycke.sessionmaker"]) as session:
        try:
            yield session
        except DomainError as exc:
            raise click.ClickException(exc.detail) from exc


@click.group(help="Samtycke: GDPR consent and e-signature service.")
def main() -> None:
    pass


@main.group(help="Tenants.")
def tenant() -> None:
    pass


@tenant.command("create", help="Create a tenant; prints its JSON.")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
def tenant_create(slug: str, name: str) -> None:
    from app.auth import create_tenant

    with unit_of_work(_app()) as session:
        t = create_tenant(session, slug, name)
        click.echo(json.dumps({"id": t.id, "slug": t.slug, "name": t.name, "created_at": t.created_at.isoformat()}))


@main.group(help="OAuth2 API clients.")
def client() -> None:
    pass


@client.command("create", help="Create an OAuth2 client for a tenant.")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--scopes", required=True, help='Space-separated, e.g. "persons:read rights:read".')
@click.option("--name", default="", help="A label for the client.")
@click.option("--json", "as_json", is_flag=True, help="Print {client_id, client_secret} as JSON.")
def client_create(tenant_slug: str, scopes: str, name: str, as_json: bool) -> None:
    from app.auth import create_client, tenant_by_slug

    with unit_of_work(_app()) as session:
        c, secret = create_client(session, tenant_by_slug(session, tenant_slug), scopes.split(), name=name)
        if as_json:
            click.echo(json.dumps({"client_id": c.client_id, "client_secret": secret}))
        else:
            click.echo(f"client_id:     {c.client_id}\nclient_secret: {secret}\nscopes:        {c.scopes}")
            click.echo("The secret is shown once; it is stored only as a hash.")


@client.command("list", help="List a tenant's OAuth2 clients (never their secrets).")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def client_list(tenant_slug: str, as_json: bool) -> None:
    from app.auth import list_clients, tenant_by_slug

    with unit_of_work(_app()) as session:
        rows = [_client_dict(c) for c in list_clients(session, tenant_by_slug(session, tenant_slug))]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(f"{row['client_id']}  {state}  {row['scopes']}  {row['name']}")


@client.command("revoke", help="Revoke an OAuth2 client and every token it was issued.")
@click.argument("client_id")
def client_revoke(client_id: str) -> None:
    from app.auth import revoke_client

    with unit_of_work(_app()) as session:
        c, tokens = revoke_client(session, client_id)
        click.echo(json.dumps({**_client_dict(c), "tokens_revoked": tokens}))


def _client_dict(c: Any) -> dict[str, Any]:
    return {
        "client_id": c.client_id, "name": c.name, "scopes": c.scopes, "created_at": c.created_at.isoformat(),
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }


@main.group(help="Staff accounts for the console.")
def user() -> None:
    pass


@user.command("create", help="Create a staff account; the password is read from standard input.")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_create(tenant_slug: str, email: str, role: str, password_stdin: bool) -> None:
    from app.auth import tenant_by_slug
    from app.staff.accounts import create_user

    password = _read_password() if password_stdin else None
    with unit_of_work(_app()) as session:
        u = create_user(session, tenant_by_slug(session, tenant_slug), email, role, password)
        click.echo(json.dumps({"id": u.id, "email": u.email, "role": u.role}))


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("no password on standard input")
    return password


def _user_json(u: Any, **extra: Any) -> str:
    return json.dumps({"id": u.id, "email": u.email, "role": u.role, "disabled": u.disabled_at is not None, **extra})


def _account_options(command: Any) -> Any:
    command = click.option("--email", required=True)(command)
    return click.option("--tenant", "tenant_slug", required=True)(command)


@user.command("set-role", help="Give a staff account another role; its sessions end.")
@_account_options
@click.option("--role", required=True, type=click.Choice(ROLES))
def user_set_role(tenant_slug: str, email: str, role: str) -> None:
    from app.auth import tenant_by_slug
    from app.staff.accounts import set_role, user_by_email

    with unit_of_work(_app()) as session:
        u = user_by_email(session, tenant_by_slug(session, tenant_slug), email)
        ended = set_role(session, u, role)
        click.echo(_user_json(u, sessions_ended=ended))


@user.command("set-password", help="Set a staff account's password from standard input; its sessions end.")
@_account_options
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_set_password(tenant_slug: str, email: str, password_stdin: bool) -> None:
    from app.auth import tenant_by_slug
    from app.staff.accounts import set_password, user_by_email

    if not password_stdin:
        raise click.UsageError("give --password-stdin and the password on standard input")
    password = _read_password()
    with unit_of_work(_app()) as session:
        u = user_by_email(session, tenant_by_slug(session, tenant_slug), email)
        ended = set_password(session, u, password)
        click.echo(_user_json(u, sessions_ended=ended))


@user.command("disable", help="Disable a staff account: it cannot sign in and its sessions end.")
@_account_options
def user_disable(tenant_slug: str, email: str) -> None:
    from app.auth import tenant_by_slug
    from app.staff.accounts import disable_user, user_by_email

    with unit_of_work(_app()) as session:
        u = user_by_email(session, tenant_by_slug(session, tenant_slug), email)
        ended = disable_user(session, u)
        click.echo(_user_json(u, sessions_ended=ended))


@user.command("enable", help="Let a disabled staff account sign in again.")
@_account_options
def user_enable(tenant_slug: str, email: str) -> None:
    from app.auth import tenant_by_slug
    from app.staff.accounts import enable_user, user_by_email

    with unit_of_work(_app()) as session:
        u = user_by_email(session, tenant_by_slug(session, tenant_slug), email)
        enable_user(session, u)
        click.echo(_user_json(u))


@user.command("end-sessions", help="Sign a staff account out everywhere.")
@_account_options
def user_end_sessions(tenant_slug: str, email: str) -> None:
    from app.auth import tenant_by_slug
    from app.staff.accounts import end_user_sessions, user_by_email

    with unit_of_work(_app()) as session:
        u = user_by_email(session, tenant_by_slug(session, tenant_slug), email)
        ended = end_user_sessions(session, u)
        click.echo(_user_json(u, sessions_ended=ended))


@main.command(help="Run the service with gunicorn.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=int, default=None, help="Worker processes (default: SAMTYCKE_WORKERS or 2×cores+1).")
@click.option("--threads", type=int, default=1, show_default=True, help="Threads per worker.")
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    from app.config import ConfigError
    from app.server import run

    try:
        run(host=host, port=port, workers=workers, threads=threads)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command(help="Run background work (Celery) from SAMTYCKE_BROKER_URL until stopped.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: one per core).")
@click.option("--beat", is_flag=True,
              help="Also run the periodic schedule (sweeps, expiry, audit checkpoints). Several beats are "
              "safe: each periodic run claims its period in the database.")
def worker(concurrency: int | None, beat: bool) -> None:
    from app.jobs import run_worker

    run_worker(_app(), concurrency=concurrency, beat=beat)


@main.group(help="Background work.")
def jobs() -> None:
    pass


@jobs.command("status", help="What background work is waiting: rows pending, the oldest one's age, failures, and "
              "the last run of each periodic job.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def jobs_status(as_json: bool) -> None:
    from app import jobs as service
    from app.db import utcnow

    app = _app()
    with unit_of_work(app) as session:
        now = utcnow()
        queues = [q.as_dict() for q in service.queue_status(session, tenant_id=None, now=now)]
        runs = service.last_runs(session)
    body = {"at": now.isoformat(), "broker": service.broker_kind(app), "queues": queues, "periodic": runs}
    if as_json:
        click.echo(json.dumps(body))
        return
    click.echo(f"broker: {body['broker']}")
    for q in queues:
        oldest = "—" if q["oldest_pending_seconds"] is None else f"{q['oldest_pending_seconds']:.0f} s"
        click.echo(f"{q['kind']:<20} pending {q['pending']:>6}  oldest {oldest:>10}  "
                   f"failed {q['failed']:>6} (retrying {q['retrying']})")
    for job, _task, seconds in service.periodic_jobs(app):
        run = runs.get(job)
        last = f"last period {run['period_start']}: {run['outcome'] or 'running'}" if run else "never run"
        click.echo(f"{job:<28} every {seconds:.0f} s  {last}")


# Each domain's own commands (records, consents, the schema...), named by the factory.
for _command in cli_commands():
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
