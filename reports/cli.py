"""``samtycke record verify FILE`` and ``samtycke records retry``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click


@click.group(help="One sealed record.")
def record() -> None:
    pass


@record.command("verify", help="Verify a sealed record offline; exit 0 when valid.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def record_verify(file: Path) -> None:
    from app.cli import _app
    from reports.services import trust_roots
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
