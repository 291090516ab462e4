"""Reading every text the database holds, however it is stored: encrypted with our keyring,
base64, JSON, or inside a PDF record (its embedded evidence.json, and its visible text
when poppler's pdftotext is installed)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime
from io import BytesIO
from typing import Any

import pikepdf
import sqlalchemy as sa
from flask import Flask

from app.crypto import Keyring

_B64 = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")


def _decoded(text: str, keyring: Keyring, contexts: set[str]) -> Iterator[Any]:
    """What a string may hide: JSON, base64, or AES-GCM ciphertext of our keyring."""
    stripped = text.strip()
    if stripped[:1] in "{[":
        with contextlib.suppress(ValueError):
            yield json.loads(stripped)
    if not _B64.match(stripped):
        return
    for context in contexts:
        try:
            yield keyring.decrypt(stripped, context=context)
            return
        except Exception:  # noqa: S112 - not encrypted with this context: try the next one
            continue
    try:
        urlsafe = "-" in stripped or "_" in stripped
        raw = base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_" if urlsafe else None)
    except (binascii.Error, ValueError):
        return
    yield raw


def _pdf_strings(data: bytes) -> Iterator[Any]:
    with pikepdf.open(BytesIO(data)) as pdf:
        for spec in pdf.attachments.values():
            yield spec.get_file().read_bytes()
        yield {str(k): str(v) for k, v in pdf.docinfo.items()}
    if shutil.which("pdftotext"):  # the visible text too, when poppler is installed (the evidence is enough)
        run = subprocess.run(
            ["pdftotext", "-", "-"], input=data, capture_output=True, check=False, timeout=60
        )
        yield run.stdout.decode("utf-8", "replace")


def strings(value: Any, keyring: Keyring, contexts: set[str], depth: int = 0) -> Iterator[str]:
    """Every text a stored value holds, however it is wrapped."""
    if depth > 6 or value is None or isinstance(value, bool | int | float | datetime):
        return
    if isinstance(value, date):
        yield value.isoformat()
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item, keyring, contexts, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item, keyring, contexts, depth + 1)
    elif isinstance(value, bytes | memoryview):
        data = bytes(value)
        if data.startswith(b"%PDF"):
            for part in _pdf_strings(data):
                yield from strings(part, keyring, contexts, depth + 1)
            return
        try:
            yield from strings(data.decode("utf-8"), keyring, contexts, depth + 1)
        except UnicodeDecodeError:
            return
    elif isinstance(value, str):
        yield value
        for inner in _decoded(value, keyring, contexts):
            yield from strings(inner, keyring, contexts, depth + 1)


def hits(text: str, needles: set[str]) -> set[str]:
    folded = text.casefold()
    return {n for n in needles if n.casefold() in folded}


def walk(app: Flask, needles: set[str]) -> dict[str, set[str]]:
    """For every table: which of the needles it holds anywhere."""
    keyring = app.extensions["samtycke.keyring"]
    engine = app.extensions["samtycke.engine"]
    meta = sa.MetaData()
    meta.reflect(engine)
    found: dict[str, set[str]] = {}
    with engine.connect() as conn:
        tenants = set(conn.scalars(sa.text("SELECT id FROM tenants")))
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                plain = {str(v) for v in row.values() if isinstance(v, str)}
                contexts = tenants | {"column"} | {f"order:{v}" for v in plain} | {f"oidc:{v}" for v in plain}
                for value in row.values():
                    for text in strings(value, keyring, contexts):
                        got = hits(text, needles)
                        if got:
                            found.setdefault(table.name, set()).update(got)
    return found


def export_strings(app: Flask, export: dict[str, Any]) -> str:
    keyring = app.extensions["samtycke.keyring"]
    return "\n".join(strings(export, keyring, {"column"}))


