"""A sealed record as an HTTP download: the one answer the API, the console and the
subject's link all give for a record's PDF."""

from __future__ import annotations

from flask import Response

from reports.models import Record


def pdf_download(record: Record, filename: str) -> Response:
    """The record's PDF as an attachment, with its SHA-256 so a client can check what it got."""
    response = Response(record.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-SHA256"] = record.sha256
    response.headers["Cache-Control"] = "no-store"
    return response
