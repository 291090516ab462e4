"""Records over HTTP: authorised download, verification (API and public page), the CA and CRL."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_smorest import Api

from app.api_blueprint import Blueprint as ApiBlueprint
from app.auth import current_caller
from app.db import get_session
from app.errors import BadRequest, NotFound, PayloadTooLarge
from app.extensions import limiter
from consent.models import Addendum
from consent.queries import get_scoped
from reports import audit_api, keys, services
from reports.download import pdf_download, record_pdf_for_consent
from reports.verification import RecordTooLarge, verify_for_service

blp = ApiBlueprint("records", __name__, description="Sealed PDF records")
pages = Blueprint("records_pages", __name__, template_folder="web_templates")

KINDS = {
    "given": "consent_given",
    "refused": "consent_refused",
    "withdrawn": "consent_withdrawn",
    "revoked": "consent_revoked",
}


@blp.route("/consents/<string:consent_id>/record.pdf")
@blp.requires_scope("consents:read")
@blp.doc(
    summary="The sealed PDF/A-3b record of a consent (latest, or ?kind=given|refused|withdrawn|revoked)",
    responses={"200": {"description": "PDF", "content": {"application/pdf": {}}}},
)
def consent_record(consent_id: str) -> Response:
    kind = request.args.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}.")
    return record_pdf_for_consent(current_caller().tenant_id, consent_id, KINDS.get(kind or ""))


@blp.route("/addenda/<string:addendum_id>/record.pdf")
@blp.requires_scope("addenda:read")
@blp.doc(
    summary="The sealed PDF/A-3b record of a DPA addendum",
    responses={"200": {"description": "PDF", "content": {"application/pdf": {}}}},
)
def addendum_record(addendum_id: str) -> Response:
    tenant_id = current_caller().tenant_id
    session = get_session()
    get_scoped(session, Addendum, tenant_id, addendum_id, "addendum")
    record = services.latest_sealed(session, tenant_id, addendum_id=addendum_id)
    if record is None:
        raise NotFound("This addendum has no sealed record yet.")
    return pdf_download(record, f"addendum-{addendum_id}-{record.kind}.pdf")


def _verify_limit() -> str:
    return str(current_app.config["VERIFY_RATE_LIMIT"])


# One count per client address for the page and the API together (VERIFY_RATE_LIMIT).
limit_verification = limiter.shared_limit(_verify_limit, scope="record-verify", methods=["POST"])


def _uploaded_pdf() -> bytes:
    if request.files:
        upload = next(iter(request.files.values()))
        data = upload.read()
    else:
        data = request.get_data(cache=False)
    if not data:
        raise BadRequest("Send the PDF as the request body (Content-Type: application/pdf).")
    if len(data) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise PayloadTooLarge("The file is too large to be a record.")
    return data


@blp.route("/records/verify", methods=["POST"])
@blp.requires_scope("consents:read")
@blp.doc(
    summary="Verify a sealed record: intact, sealed by us, timestamped, of this tenant",
    requestBody={"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
)
@limit_verification
def verify_api() -> Any:
    body = verify_for_service(
        current_app, get_session(), _uploaded_pdf(), expected_tenant_id=current_caller().tenant_id
    )
    return body


@pages.route("/verify", methods=["GET", "POST"])
@limit_verification
def verify_page() -> Any:
    result = None
    error = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("record")
        data = upload.read() if upload else b""
        if not data:
            error, status = _("Choose the PDF record to check."), 400
        else:
            try:
                result = verify_for_service(current_app, get_session(), data)
            except RecordTooLarge as exc:
                error, status = _("This file is far larger inside than any record, so it was not checked."), exc.status
    return render_template("verify.html", result=result, error=error), status


@pages.route("/pki/ca.pem")
def ca_certificate() -> Response:
    from cryptography.hazmat.primitives import serialization

    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in keys.trust_roots(current_app))
    return Response(pem, mimetype="application/x-pem-file")


@pages.route("/pki/crl.der")
def crl() -> Response:
    from pathlib import Path

    from reports.pki import ensure_local_pki

    if current_app.config.get("SEAL_PKCS12"):
        raise NotFound("The production seal publishes its revocation data at its CA.")
    pki = ensure_local_pki(Path(current_app.instance_path) / "pki", current_app.config["BASE_URL"])
    return Response(pki.crl_der(), mimetype="application/pkix-crl")


def register(app: Flask, api: Api) -> None:
    api.register_blueprint(blp, url_prefix="/api/v1")
    api.register_blueprint(audit_api.blp, url_prefix="/api/v1")
    app.register_blueprint(pages)
