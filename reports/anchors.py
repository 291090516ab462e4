"""Anchors for the audit chain, where database access alone cannot rewind them.

The hash chain shows any changed event, unless someone with database access recomputes
every later hash and the head, or cuts the tail and rewinds the head with it. Two kinds
of evidence outside their reach pin the chain down:

* **signed checkpoints**: ``{tenant_id, seq, head, at}`` signed with the records' seal key
  (detached CMS) and timestamped by the records' TSA (RFC 3161). Each is stored in
  ``audit_checkpoints`` *and* appended to ``{AUDIT_ANCHOR_DIR}/<tenant_id>.jsonl``; the file
  is the part that matters, so production ships it off the database host.
* **sealed records**: every record PDF carries, under its seal, the hash of the audit event
  it records.

A checkpoint is only signed after the chain since the previous one verified, so the
checkpoints of a tenant form one line of custody. :func:`verify_chain` holds the chain
against every anchor: one that is genuine but no longer in the chain is a break.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask
from sqlalchemy.orm import Session

from app import audit_queries, audit_verify
from app.audit_verify import Anchor, AnchorProblem, ChainVerification, Proof
from app.db import transaction, utcnow
from app.models import Tenant
from reports import keys
from reports.errors import AnchorError, RecordError
from reports.models import AuditCheckpoint, Record
from reports.verify import sealed_audit_event_hash, verify_detached, verify_record

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "samtycke.audit-checkpoint"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True)
class Anchoring:
    """What anchoring needs from the configuration, as plain values and loaders (the key and
    certificates are loaded only when a checkpoint is signed or checked)."""

    directory: Path
    interval: timedelta  # checkpoints after sealing are at least this far apart
    sealer: Callable[[], Any]
    trust_roots: Callable[[], list[x509.Certificate]]
    seal_certificate: Callable[[], x509.Certificate]


def anchoring(app: Flask) -> Anchoring:
    directory = app.config.get("AUDIT_ANCHOR_DIR") or Path(app.instance_path) / "audit-anchors"
    return Anchoring(
        directory=Path(directory),
        interval=timedelta(seconds=int(app.config.get("AUDIT_CHECKPOINT_SECONDS", 3600))),
        sealer=lambda: keys.sealer(app),
        trust_roots=lambda: keys.trust_roots(app),
        seal_certificate=lambda: keys.seal_certificate(app),
    )


def anchor_file(directory: Path, tenant_id: str) -> Path:
    # Tenant ids are UUIDs; anything else (a row changed by hand) must not reach the path as it is.
    name = tenant_id if _SAFE_NAME.fullmatch(tenant_id) else hashlib.sha256(tenant_id.encode()).hexdigest()
    return directory / f"{name}.jsonl"


# --- checkpoints: payload, file, proof -------------------------------------------------


def checkpoint_payload(tenant_id: str, seq: int, head: str, at: datetime) -> str:
    """The exact text a checkpoint signs."""
    body = {"type": CHECKPOINT_TYPE, "tenant_id": tenant_id, "seq": seq, "head": head,
            "at": at.isoformat(timespec="microseconds")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _parse_payload(text: str, tenant_id: str) -> tuple[int, str] | None:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("type") != CHECKPOINT_TYPE or body.get("tenant_id") != tenant_id:
        return None
    seq, head = body.get("seq"), body.get("head")
    if type(seq) is not int or seq < 1 or not isinstance(head, str) or not _HEX64.fullmatch(head):
        return None
    return seq, head


@dataclass(frozen=True)
class _Entry:
    """One stored checkpoint (from the file or the table), not yet proven."""

    source: str  # "file" | "database"
    payload: str
    signature: bytes
    seq: int
    head: str


def _file_entries(path: Path, tenant_id: str, problems: list[AnchorProblem]) -> list[_Entry]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.error("cannot read the audit anchor file %s: %s", path, exc)
        problems.append(AnchorProblem("checkpoint", "file", None))
        return []
    lines = data.split(b"\n")
    if lines and lines[-1] != b"":
        lines = lines[:-1]  # a line cut short by a crash mid-write; the next append starts afresh
    entries = []
    for line in lines:
        if not line.strip():
            continue
        entry = _entry_from_line(line, tenant_id)
        if entry is None:
            problems.append(AnchorProblem("checkpoint", "file", None))
        else:
            entries.append(entry)
    return entries


def _entry_from_line(line: bytes, tenant_id: str) -> _Entry | None:
    try:
        item = json.loads(line)
        payload, signature = item["payload"], base64.b64decode(item["signature"], validate=True)
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    if not isinstance(payload, str):
        return None
    parsed = _parse_payload(payload, tenant_id)
    return None if parsed is None else _Entry("file", payload, signature, *parsed)


def _table_entries(session: Session, tenant_id: str, problems: list[AnchorProblem]) -> list[_Entry]:
    dialect = audit_queries.dialect_of(session)
    rows = session.execute(
        sa.select(audit_queries.as_stored(AuditCheckpoint.payload, dialect), AuditCheckpoint.signature)
        .where(AuditCheckpoint.tenant_id == tenant_id)
    )
    entries = []
    for raw_payload, signature in rows:
        try:
            payload = audit_queries.stored_text(raw_payload)
        except ValueError:
            payload = None
        parsed = _parse_payload(payload, tenant_id) if payload is not None else None
        if parsed is None or not isinstance(signature, bytes | bytearray | memoryview) or payload is None:
            problems.append(AnchorProblem("checkpoint", "database", None))
            continue
        entries.append(_Entry("database", payload, bytes(signature), *parsed))
    return entries


def _entries(session: Session, tenant_id: str, settings: Anchoring, problems: list[AnchorProblem]) -> list[_Entry]:
    """Every stored checkpoint of the tenant, the file's first; the same one stored twice counts once."""
    seen: set[tuple[str, bytes]] = set()
    entries = []
    for entry in _file_entries(anchor_file(settings.directory, tenant_id), tenant_id, problems) + _table_entries(
        session, tenant_id, problems
    ):
        if (entry.payload, entry.signature) not in seen:
            seen.add((entry.payload, entry.signature))
            entries.append(entry)
    return entries


class _ProofCache:
    """Proofs are pure functions of the bytes checked and the trust settings: checked once per process."""

    def __init__(self, size: int = 20_000) -> None:
        self._items: OrderedDict[bytes, Proof | None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: bytes, compute: Callable[[], Proof | None]) -> Proof | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


_proofs = _ProofCache()


def _trust_key(settings: Anchoring) -> bytes:
    digest = hashlib.sha256(settings.seal_certificate().subject.public_bytes())
    for root in settings.trust_roots():
        digest.update(root.public_bytes(serialization.Encoding.DER))
    return digest.digest()


def _prove_entry(entry: _Entry, settings: Anchoring) -> Proof | None:
    key = hashlib.sha256(b"checkpoint\0" + _trust_key(settings) + entry.payload.encode() + b"\0"
                         + entry.signature).digest()

    def check() -> Proof | None:
        at = verify_detached(entry.payload.encode(), entry.signature, trust_roots=settings.trust_roots(),
                             signer=settings.seal_certificate())
        return Proof(entry.head, at) if at is not None else None

    return _proofs.get(key, check)


def _checkpoint_anchor(entry: _Entry, settings: Anchoring) -> Anchor:
    return Anchor(kind="checkpoint", source=entry.source, hash=entry.head, seq=entry.seq,
                  prove=lambda: _prove_entry(entry, settings))


# --- sealed records as anchors --------------------------------------------------------------


def _record_anchors(session: Session, tenant_id: str, settings: Anchoring) -> Iterator[Anchor]:
    dialect = audit_queries.dialect_of(session)
    rows = session.execute(
        sa.select(audit_queries.as_stored(Record.id, dialect), audit_queries.as_stored(Record.audit_event_id, dialect),
                  audit_queries.as_stored(Record.audit_event_hash, dialect))
        .where(Record.tenant_id == tenant_id, Record.pdf.is_not(None))
    )
    for raw_id, raw_event_id, raw_hash in rows:
        try:
            record_id, event_id, digest = (audit_queries.stored_text(v) for v in (raw_id, raw_event_id, raw_hash))
        except ValueError:
            continue  # an unreadable record row is not evidence either way; its PDF is what counts
        if record_id is None or digest is None:
            continue
        yield Anchor(kind="record", source=record_id, hash=digest, event_id=event_id,
                     prove=_record_prover(session, tenant_id, record_id, settings))


def _record_key(settings: Anchoring, tenant_id: str, record_id: str, pdf: bytes) -> bytes:
    return hashlib.sha256(b"record\0" + _trust_key(settings) + tenant_id.encode() + b"\0" + record_id.encode()
                          + b"\0" + pdf).digest()


def _record_prover(session: Session, tenant_id: str, record_id: str, settings: Anchoring) -> Callable[[], Proof | None]:
    def prove() -> Proof | None:
        pdf = session.scalar(sa.select(Record.pdf).where(Record.id == record_id, Record.tenant_id == tenant_id))
        if not isinstance(pdf, bytes | bytearray | memoryview):
            return None
        pdf = bytes(pdf)
        key = _record_key(settings, tenant_id, record_id, pdf)

        def check() -> Proof | None:
            result = verify_record(pdf, trust_roots=settings.trust_roots(), expected_tenant_id=tenant_id)
            digest = sealed_audit_event_hash(pdf) if result.valid and result.record_id == record_id else None
            return Proof(digest, result.timestamp) if digest else None

        return _proofs.get(key, check)

    return prove


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _seal_time(pdf: bytes) -> datetime | None:
    """The TSA time in the seal of a PDF this process has just sealed (trusted input: the first
    /ByteRange is the seal's, its gap holds the CMS); a full parse would cost ~50 ms a record."""
    match = _BYTE_RANGE.search(pdf)
    if match is None:
        return None
    start, length = int(match.group(2)), int(match.group(3)) - int(match.group(2))
    try:
        signed = cms.ContentInfo.load(bytes.fromhex(pdf[start + 1:start + length - 1].decode()), strict=False)
        for attr in signed["content"]["signer_infos"][0]["unsigned_attrs"]:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
                at: datetime = token["gen_time"].native
                return at
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return None


def remember_sealed(app: Flask, tenant_id: str, record_id: str, pdf: bytes, audit_event_hash: str) -> None:
    """What a record this process has just sealed proves, so anchoring need not re-validate
    the PDF (~0.5 s): exactly what :func:`verify_record` would conclude from these bytes."""
    try:
        settings = anchoring(app)
        key = _record_key(settings, tenant_id, record_id, pdf)
        proof = Proof(audit_event_hash, _seal_time(pdf))
        _proofs.get(key, lambda: proof)
    except Exception:  # only an optimisation: a later check validates the PDF in full
        log.warning("could not remember the proof of record %s", record_id, exc_info=True)


# --- verifying ------------------------------------------------------------------------------


def collect_anchors(
    session: Session, tenant_id: str, settings: Anchoring
) -> tuple[list[Anchor], list[AnchorProblem]]:
    """Every anchor of the tenant's chain, and the stored checkpoints that cannot even be read."""
    problems: list[AnchorProblem] = []
    anchors = [_checkpoint_anchor(e, settings) for e in _entries(session, tenant_id, settings, problems)]
    anchors.extend(_record_anchors(session, tenant_id, settings))
    return anchors, problems


def verify_chain(session: Session, tenant_id: str, settings: Anchoring) -> ChainVerification:
    """The chain held against its checkpoints and sealed records (see :func:`app.audit_verify.verify`)."""
    anchors, problems = collect_anchors(session, tenant_id, settings)
    result = audit_verify.verify(session, tenant_id, anchors)
    if problems:
        result = replace(result, anchor_problems=tuple(problems) + result.anchor_problems)
    return result


# --- signing checkpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointResult:
    status: str  # signed | unchanged | recent | refused (the chain does not verify) | empty | failed
    seq: int
    at: datetime | None = None
    first_bad_seq: int | None = None
    error: str | None = None


def _latest_proven(
    session: Session, tenant_id: str, settings: Anchoring
) -> tuple[_Entry, Proof] | None:
    entries = sorted(_entries(session, tenant_id, settings, []), key=lambda e: e.seq, reverse=True)
    for entry in entries:
        proof = _prove_entry(entry, settings)
        if proof is not None:
            return entry, proof
    return None


def create_checkpoint(
    session: Session, tenant_id: str, settings: Anchoring, *, min_age: timedelta | None = None
) -> CheckpointResult:
    """Sign the tenant's head once the chain since the last genuine checkpoint verifies
    (the whole chain, with its records, for the first one). Nothing is signed for a chain
    that does not verify: a checkpoint must never vouch for a rewound head.

    With ``min_age``, nothing is signed while the last checkpoint is younger than that.
    Call it in a transaction that has appended no events: the head it signs must be committed.
    """
    latest = _latest_proven(session, tenant_id, settings)
    now = utcnow()
    if latest is not None and min_age is not None and latest[1].at is not None and now - latest[1].at < min_age:
        return CheckpointResult("recent", latest[0].seq, latest[1].at)
    if latest is None:
        # The first checkpoint: the whole chain, held against its sealed records.
        chain = verify_chain(session, tenant_id, settings)
    else:
        chain = audit_verify.verify_since(session, tenant_id, latest[0].seq, latest[0].head)
    if not chain.ok and latest is not None:
        chain = verify_chain(session, tenant_id, settings)  # where it breaks, judged by every anchor
    if not chain.ok:
        log.error("audit chain of tenant %s broken at seq %s: no checkpoint signed", tenant_id, chain.first_bad_seq)
        return CheckpointResult("refused", chain.events, first_bad_seq=chain.first_bad_seq)
    if chain.events == 0:
        return CheckpointResult("empty", 0)
    if latest is not None and chain.events == latest[0].seq:
        return CheckpointResult("unchanged", latest[0].seq, latest[1].at)
    payload = checkpoint_payload(tenant_id, chain.events, chain.head, now)
    signature = settings.sealer().sign_detached(payload.encode())
    # Checked as verify will check it (and so cached): a checkpoint that would not count is
    # a configuration error (seal certificate, trust roots, TSA), not something to store.
    proof = _prove_entry(_Entry("database", payload, signature, chain.events, chain.head), settings)
    if proof is None:
        raise AnchorError("a new audit checkpoint does not verify against the seal certificate and trust roots")
    # The file first: it is the copy that counts, and a checkpoint of a committed head stays
    # true even if this transaction is rolled back.
    _append(anchor_file(settings.directory, tenant_id),
            json.dumps({"payload": payload, "signature": base64.b64encode(signature).decode()}).encode() + b"\n")
    session.add(AuditCheckpoint(tenant_id=tenant_id, seq=chain.events, payload=payload, signature=signature,
                                created_at=now))
    session.flush()
    return CheckpointResult("signed", chain.events, proof.at)


def _append(path: Path, line: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # writers in other processes take turns
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # end a line a crash cut short, so this one stands alone
        os.write(fd, line)
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def checkpoint_tenants(
    session: Session, settings: Anchoring, tenant_ids: list[str] | None = None
) -> dict[str, CheckpointResult]:
    """``create_checkpoint`` for the given tenants (all when None), for beat or the CLI."""
    if tenant_ids is None:
        tenant_ids = list(session.scalars(sa.select(Tenant.id).order_by(Tenant.slug)))
    results = {}
    for tenant_id in tenant_ids:
        try:
            with session.begin_nested():
                results[tenant_id] = create_checkpoint(session, tenant_id, settings)
        except (RecordError, OSError) as exc:  # the TSA, the key or the anchor file: the others still go
            log.error("audit checkpoint for tenant %s failed: %s", tenant_id, exc)
            results[tenant_id] = CheckpointResult("failed", 0, error=str(exc))
    return results


def checkpoint_after_seal(app: Flask, tenant_id: str) -> None:
    """After a record is sealed (outside any request transaction): checkpoint the head when the
    last checkpoint is older than ``AUDIT_CHECKPOINT_SECONDS``. A failure is logged, never raised:
    the record is sealed either way, and the next seal or ``samtycke audit checkpoint`` tries again."""
    settings = anchoring(app)
    try:
        with transaction(app.extensions["samtycke.sessionmaker"]) as session:
            create_checkpoint(session, tenant_id, settings, min_age=settings.interval)
    except Exception:
        log.exception("audit checkpoint for tenant %s failed", tenant_id)


def verify_and_checkpoint(
    session: Session, tenant_id: str, settings: Anchoring, *, min_age: timedelta | None = None
) -> ChainVerification:
    """Verify; when the chain holds, checkpoint its head (so the next verify is anchored through
    it). The verdict stands even when signing fails: that is logged, and tried again next time."""
    result = verify_chain(session, tenant_id, settings)
    if not result.ok or result.events == 0 or result.anchored_through == result.events:
        return result
    try:
        with session.begin_nested():
            made = create_checkpoint(session, tenant_id, settings, min_age=min_age)
    except Exception:
        log.exception("audit checkpoint for tenant %s failed", tenant_id)
        return result
    if made.status == "signed" and made.seq == result.events:
        return replace(result, anchored_through=made.seq, anchor_kind="checkpoint", anchor_at=made.at)
    return result
