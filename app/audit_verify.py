"""Verifying a tenant's audit chain, alone or held against its anchors.

The chain alone proves that no event was changed *unless* someone recomputed every
later hash and the head, or cut the tail and rewound the head together. Anchors close
that gap: evidence kept where database access alone cannot rewrite it (signed
checkpoints of the head, appended to a file outside the database; event hashes sealed
into PDF records) that event N had hash H. The chain must still contain every anchor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit import GENESIS, AuditEvent
from app.audit_queries import as_stored, dialect_of, read_or_none, read_seq, stored_columns, stored_event
from app.models import Tenant


@dataclass(frozen=True)
class Proof:
    """What an anchor's own evidence proves: the event hash it vouches for, and when
    (the trusted time of its timestamp)."""

    hash: str
    at: datetime | None


@dataclass(frozen=True)
class Anchor:
    """A claim that an event had hash ``hash``: at ``seq`` (a checkpoint), or wherever the
    chain holds that hash (a record; ``event_id`` says which event it was about). ``prove``
    checks the evidence itself (signature, timestamp) and is only called for the anchors a
    verdict rests on, since that is the expensive part."""

    kind: str  # "checkpoint" | "record"
    source: str  # where the claim was read: "file", "database", or the record's id
    hash: str
    prove: Callable[[], Proof | None]
    seq: int | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class AnchorProblem:
    """Anchor evidence that does not verify: a bad signature, or changed outside the service."""

    kind: str
    source: str
    seq: int | None


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None
    # The highest seq an anchor proves the chain still holds (0: none), and that anchor.
    anchored_through: int = 0
    anchor_kind: str | None = None
    anchor_at: datetime | None = None
    anchor_problems: tuple[AnchorProblem, ...] = ()


@dataclass
class _Walk:
    count: int  # events verified (from seq 1)
    head: str  # hash of the last verified event
    break_seq: int | None  # first bad seq found by the chain itself (None: intact)
    tail_read: bool  # every stored event was verified (no break inside the rows)
    hash_at: dict[int, str] = field(default_factory=dict)  # only for watched seqs
    seq_of_hash: dict[str, int] = field(default_factory=dict)  # only for watched hashes
    seq_of_id: dict[str, int] = field(default_factory=dict)  # only for watched event ids


def _walk(
    session: Session,
    tenant_id: str,
    *,
    start: tuple[int, str] | None = None,
    watch_seqs: frozenset[int] = frozenset(),
    watch_hashes: frozenset[str] = frozenset(),
    watch_ids: frozenset[str] = frozenset(),
) -> _Walk:
    """Walk the chain as stored (from ``start`` = (seq, hash) already proven, else from seq 1)."""
    dialect = dialect_of(session)
    joined = AuditEvent.tenant_id == Tenant.id
    if start is not None:
        joined = sa.and_(joined, AuditEvent.seq >= start[0])
    # One statement for the head and the events: a concurrent append is then either
    # wholly seen or wholly unseen, never an event without its head.
    rows = session.execute(
        sa.select(as_stored(Tenant.audit_seq, dialect), as_stored(Tenant.audit_head, dialect),
                  *stored_columns(dialect))
        .select_from(Tenant)
        .outerjoin(AuditEvent, joined)
        .where(Tenant.id == tenant_id)
        .order_by(AuditEvent.seq)
    )
    walk = _Walk(count=0, head=GENESIS, break_seq=None, tail_read=False)
    expected_seq, prev = 1, GENESIS
    if start is not None:
        expected_seq, prev = start
        walk.count, walk.head = start[0] - 1, GENESIS  # until the start event itself is checked
    head: tuple[object, object] | None = None
    for row in rows:
        head = (row[0], row[1])
        if row[2] is None:
            continue  # the outer join's row for a tenant without events
        event = stored_event(row[2:])
        if start is not None and walk.count == start[0] - 1:
            # The proven start event: its own content must still give the proven hash.
            ok = event.seq == start[0] and event.hash == start[1] and event.prev_hash is not None and (
                event.recomputed_hash(tenant_id, event.prev_hash) == start[1])
            if not ok:
                walk.break_seq = start[0]
                return walk
        elif event.seq != expected_seq or event.prev_hash != prev:
            # A gap or a changed link: deleted, inserted or reordered rows.
            walk.break_seq = expected_seq if event.seq is None else min(event.seq, expected_seq)
            return walk
        else:
            digest = event.recomputed_hash(tenant_id, prev)
            if digest is None or digest != event.hash:
                walk.break_seq = expected_seq
                return walk
        assert event.hash is not None and event.seq is not None
        prev = event.hash
        expected_seq = event.seq + 1
        walk.count, walk.head = event.seq, event.hash
        if event.seq in watch_seqs:
            walk.hash_at[event.seq] = event.hash
        if event.hash in watch_hashes:
            walk.seq_of_hash[event.hash] = event.seq
        if event.id is not None and event.id in watch_ids:
            walk.seq_of_id[event.id] = event.seq
    if head is None:
        raise LookupError(tenant_id)
    walk.tail_read = True
    if start is not None and walk.count < start[0]:
        walk.break_seq = start[0]  # the proven start event is gone
        return walk
    head_seq = read_seq(head[0])
    if head_seq != walk.count or read_or_none(head[1]) != walk.head:
        # The head on the tenant row remembers rows missing from the tail, or does not
        # know rows that were added behind it.
        count = walk.count
        walk.break_seq = count + 1 if head_seq is None or head_seq >= count else head_seq + 1
    return walk


def verify_since(session: Session, tenant_id: str, seq: int, digest: str) -> ChainVerification:
    """Verify only what follows a proven point (a checkpoint): event ``seq`` must still have
    hash ``digest`` and everything after it must link to it."""
    walk = _walk(session, tenant_id, start=(seq, digest))
    return ChainVerification(walk.break_seq is None, walk.count, walk.head, first_bad_seq=walk.break_seq)


def verify(session: Session, tenant_id: str, anchors: Sequence[Anchor] = ()) -> ChainVerification:
    """Walk the chain as stored and hold it against ``anchors``; name the first bad seq.

    Breaks: any value that does not read as its type, a changed link or hash, a gap, a head
    on the tenant row that disagrees with the last event, and a genuine anchor the chain no
    longer holds (at its seq: the chain is trusted only up to the last anchor below it; past
    the chain's end: the tail was cut, so the first missing seq).
    """
    walk = _walk(
        session, tenant_id,
        watch_seqs=frozenset(a.seq for a in anchors if a.seq is not None),
        watch_hashes=frozenset(a.hash for a in anchors),
        watch_ids=frozenset(a.event_id for a in anchors if a.event_id),
    )
    judge = _Judge(session, tenant_id, walk)
    for anchor in anchors:
        judge.add(anchor)
    while True:
        anchor_bad = judge.first_failure()
        bads = [b for b in (walk.break_seq, anchor_bad) if b is not None]
        first_bad = min(bads) if bads else None
        best = judge.highest_proven(below=first_bad)
        if not judge.moved:
            break
        # Proving found a claim its own evidence contradicts (a record row changed to fit the
        # chain): that anchor now counts as failing, so judge again.
        judge.moved = False
    return ChainVerification(
        ok=first_bad is None, events=walk.count, head=walk.head, first_bad_seq=first_bad,
        anchored_through=best[0] if best else 0,
        anchor_kind=best[1].kind if best else None,
        anchor_at=best[2].at if best else None,
        anchor_problems=tuple(judge.problems),
    )


class _Judge:
    """Places anchors against a walked chain, proving each at most once and only when a
    verdict rests on it."""

    def __init__(self, session: Session, tenant_id: str, walk: _Walk) -> None:
        self.session, self.tenant_id, self.walk = session, tenant_id, walk
        self.matched: list[tuple[int, Anchor]] = []  # the chain holds the claimed hash at seq
        self.failing: list[tuple[int | None, Anchor]] = []  # it does not (None: past its end)
        self.moved = False
        self._problems: dict[int, AnchorProblem] = {}  # one per anchor
        self._proofs: dict[int, Proof | None] = {}

    @property
    def problems(self) -> list[AnchorProblem]:
        return list(self._problems.values())

    def add(self, anchor: Anchor) -> None:
        verdict, seq = self.place(anchor, anchor.hash)
        if verdict == "match" and seq is not None:
            self.matched.append((seq, anchor))
        elif verdict in ("differs", "missing"):
            self.failing.append((seq, anchor))

    def place(self, anchor: Anchor, digest: str) -> tuple[str, int | None]:
        """("match" | "differs" | "missing" | "unknown", seq) of ``digest`` for this anchor."""
        walk = self.walk
        if anchor.seq is not None:
            if anchor.seq <= walk.count:
                return ("match" if walk.hash_at.get(anchor.seq) == digest else "differs", anchor.seq)
            return ("missing" if walk.tail_read else "unknown", anchor.seq)
        found = walk.seq_of_hash.get(digest)
        if found is None and digest != anchor.hash:
            found = self._seq_of_stored_hash(digest)
        if found is not None:
            return "match", found
        if anchor.event_id is not None and anchor.event_id in walk.seq_of_id:
            return "differs", walk.seq_of_id[anchor.event_id]
        return ("missing" if walk.tail_read else "unknown"), None

    def _seq_of_stored_hash(self, digest: str) -> int | None:
        # Only rows the walk verified count; their hash column is then the chain's.
        seqs = self.session.execute(
            sa.select(as_stored(AuditEvent.seq, dialect_of(self.session)))
            .where(AuditEvent.tenant_id == self.tenant_id, AuditEvent.hash == digest)
        ).scalars()
        for raw in seqs:
            seq = read_seq(raw)
            if seq is not None and 1 <= seq <= self.walk.count:
                return seq
        return None

    def proof(self, anchor: Anchor, seq: int | None) -> Proof | None:
        key = id(anchor)
        if key not in self._proofs:
            try:
                proof = anchor.prove()
            except Exception:  # evidence that cannot be checked proves nothing
                logging.getLogger(__name__).exception("checking %s anchor %s failed", anchor.kind, anchor.source)
                proof = None
            self._proofs[key] = proof
            if proof is None:
                self.problem(anchor, seq)
        return self._proofs[key]

    def problem(self, anchor: Anchor, seq: int | None) -> None:
        self._problems.setdefault(id(anchor), AnchorProblem(anchor.kind, anchor.source, seq))

    def first_failure(self) -> int | None:
        """The first bad seq that the lowest genuine failing anchor shows, if any."""
        # Lowest first; "past the end" (no seq) last: the first genuine one decides.
        for seq, anchor in sorted(self.failing, key=lambda item: (item[0] is None, item[0] or 0)):
            proof = self.proof(anchor, seq)
            if proof is None:
                continue
            if proof.hash != anchor.hash:
                # A record row claims another hash than its sealed PDF: what the PDF says counts.
                self.problem(anchor, seq)
                verdict, seq = self.place(anchor, proof.hash)
                if verdict not in ("differs", "missing"):
                    continue  # the chain does hold what the PDF proves
            if seq is None or seq > self.walk.count:
                return self.walk.count + 1  # the tail holding it was cut: the first missing seq
            below = self.highest_proven(below=seq)
            return (below[0] if below else 0) + 1  # trusted up to the last anchor it still holds
        return None

    def highest_proven(self, *, below: int | None) -> tuple[int, Anchor, Proof] | None:
        for seq, anchor in sorted(self.matched, key=lambda item: item[0], reverse=True):
            if below is not None and seq >= below:
                continue
            proof = self.proof(anchor, seq)
            if proof is None:
                continue
            if proof.hash == anchor.hash or self.place(anchor, proof.hash) == ("match", seq):
                return seq, anchor, proof
            # The claim matched but its own evidence does not: it is a failing anchor.
            self.problem(anchor, seq)
            self.matched.remove((seq, anchor))
            self.failing.append((seq, anchor))
            self.moved = True
        return None
