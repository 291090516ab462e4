"""Errors of the records domain.

They carry ``status``, ``type`` and ``title`` like every domain error, so the
one app-level handler can render them as ``application/problem+json``. They do
not import ``app.errors`` (reports stays free of the web layer); the handler
only needs these three attributes.
"""

from __future__ import annotations


class RecordError(Exception):
    """Base class of every error raised by ``reports``."""

    status: int = 500
    type: str = "about:blank"
    title: str = "Record error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)


class InvalidRecordContext(RecordError):
    """The plain data given for a record is inconsistent (a programming error)."""

    status = 500
    type = "/problems/invalid-record-context"
    title = "Invalid record data"


class RenderingFailed(RecordError):
    """WeasyPrint could not produce the PDF (e.g. a forbidden resource was requested)."""

    status = 500
    type = "/problems/record-rendering-failed"
    title = "The record could not be rendered"


class SealingFailed(RecordError):
    """The PDF could not be sealed for a reason other than the timestamp authority."""

    status = 500
    type = "/problems/record-sealing-failed"
    title = "The record could not be sealed"


class TimestampUnavailable(SealingFailed):
    """The RFC 3161 timestamp authority did not answer; we never use the local clock instead."""

    status = 503
    type = "/problems/timestamp-unavailable"
    title = "The timestamp authority is unavailable"


class PkiError(RecordError):
    """The local PKI directory is unusable (unreadable, inconsistent keys)."""

    status = 500
    type = "/problems/pki-error"
    title = "The record sealing certificates are unusable"


class AnchorError(RecordError):
    """An audit checkpoint could not be made to count (seal certificate, trust roots, TSA)."""

    status = 500
    type = "/problems/audit-checkpoint-failed"
    title = "The audit checkpoint could not be made"
