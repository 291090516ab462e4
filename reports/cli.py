"""``samtycke record verify FILE``, ``samtycke record ip-hash``, ``samtycke records retry`` and
``samtycke audit verify|checkpoint`` (the audit chain is held against the records' anchors)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa


@click.group(help="One sealed record.")
def record() -> None:
    pass


@record.command("verify", help="Verify a sealed record offline; exit 0 when valid.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def record_verify(file: Path) -> None:
    from app.cli import _app
    from reports.keys import trust_roots
    from reports.verify import verify_record

    app = _app()
    with app.app_context():
        result = verify_record(file.read_bytes(), trust_roots=trust_roots(app))
    body = asdict(result)
    for key in ("signed_at", "timestamp"):
        body[key] = body[key].isoformat() if body[key] else None
    click.echo(json.dumps(body, indent=2))
    if not result.valid:
        click.echo(f"record is NOT valid: {', '.join(result.problems)}", err=True)
        sys.exit(1)


@record.command(
    "ip-hash",
    help="The keyed hash a tenant's records show for an IP address (deviceIpHmac, endUserIpHmac, "
    "ipAddressHmac), to show that an address from the logs or the database is the one in a record.",
)
@click.option("--tenant", "tenant_slug", required=True)
@click.argument("address")
def record_ip_hash(tenant_slug: str, address: str) -> None:
    from app.auth import tenant_by_slug
    from app.cli import _app, unit_of_work

    app = _app()
    with unit_of_work(app) as session:
        tenant_id = tenant_by_slug(session, tenant_slug).id
    click.echo(app.extensions["samtycke.keyring"].address_hash(tenant_id, address))


@click.group(help="The record queue.")
def records() -> None:
    pass


@records.command("retry", help="Render and seal every failed (and pending) record again.")
@click.option("--failed-only", is_flag=True, help="Leave pending records alone.")
def records_retry(failed_only: bool) -> None:
    from app.cli import _app
    from reports.services import retry

    results = retry(_app(), include_pending=not failed_only)
    sealed = sum(1 for r in results if r.status == "sealed")
    failed = [r for r in results if r.status == "failed"]
    click.echo(f"{len(results)} records tried: {sealed} sealed, {len(failed)} failed")
    for r in failed:
        click.echo(f"  {r.record_id}: {r.reason}", err=True)
    if failed:
        sys.exit(1)


@click.group(help="The audit chain.")
def audit() -> None:
    pass


@audit.command(
    "verify",
    help="Verify a tenant's hash chain against its signed checkpoints and sealed records; exit 1 naming "
    "the first broken sequence number. When the chain holds, its head is checkpointed.",
)
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--no-checkpoint", is_flag=True, help="Only verify; sign no checkpoint of the head.")
def audit_verify(tenant_slug: str, no_checkpoint: bool) -> None:
    from app.auth import tenant_by_slug
    from app.cli import _app, unit_of_work
    from reports import anchors

    app = _app()
    with unit_of_work(app) as session:
        tenant_id = tenant_by_slug(session, tenant_slug).id
        settings = anchors.anchoring(app)
        if no_checkpoint:
            result = anchors.verify_chain(session, tenant_id, settings)
        else:
            result = anchors.verify_and_checkpoint(session, tenant_id, settings)
    for problem in result.anchor_problems:
        where = f" at seq {problem.seq}" if problem.seq is not None else ""
        click.echo(f"warning: {problem.kind} anchor ({problem.source}){where} does not verify", err=True)
    anchored = _anchored_line(result)
    if result.ok:
        click.echo(f"audit chain intact: {result.events} events, head {result.head}")
        click.echo(anchored)
        return
    click.echo(f"audit chain broken at sequence number {result.first_bad_seq}", err=True)
    click.echo(anchored, err=True)
    sys.exit(1)


def _anchored_line(result: Any) -> str:
    if not result.anchored_through:
        return "not anchored: no signed checkpoint or sealed record vouches for any event yet"
    at = result.anchor_at.isoformat(timespec="seconds") if result.anchor_at else "unknown time"
    line = f"anchored through seq {result.anchored_through} ({result.anchor_kind} at {at})"
    if result.ok and result.events > result.anchored_through:
        line += f"; {result.events - result.anchored_through} later events not anchored yet"
    return line


@audit.command(
    "checkpoint",
    help="Sign a checkpoint of each tenant's chain head (after verifying what follows the last one), "
    "into the database and the anchor file (Celery beat does this every AUDIT_CHECKPOINT_SECONDS); exit 1 "
    "when a chain does not verify.",
)
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
def audit_checkpoint(tenant_slug: str | None) -> None:
    from app.auth import tenant_by_slug
    from app.cli import _app, unit_of_work
    from app.models import Tenant
    from reports import anchors

    app = _app()
    with unit_of_work(app) as session:
        ids = [tenant_by_slug(session, tenant_slug).id] if tenant_slug else None
        results = anchors.checkpoint_tenants(session, anchors.anchoring(app), ids)
        slugs = {t.id: t.slug for t in session.scalars(sa.select(Tenant).where(Tenant.id.in_(list(results))))}
    refused = False
    for tenant_id, made in results.items():
        slug = slugs.get(tenant_id, tenant_id)
        if made.status == "refused":
            refused = True
            click.echo(f"{slug}: chain broken at sequence number {made.first_bad_seq}; no checkpoint signed", err=True)
        elif made.status == "failed":
            refused = True
            click.echo(f"{slug}: checkpoint failed: {made.error}", err=True)
        elif made.status == "signed":
            click.echo(f"{slug}: checkpoint signed at seq {made.seq}")
        elif made.status == "empty":
            click.echo(f"{slug}: no events yet")
        else:
            click.echo(f"{slug}: nothing new since the checkpoint at seq {made.seq}")
    if refused:
        sys.exit(1)


COMMANDS = (record, records, audit)
