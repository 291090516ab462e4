"""The link's own pages under ``/s/{token}`` and their JSON twins: the consent page,
decline, withdraw, the receipt, the sealed record and the link's QR codes.

No login: the link's token is the key. Views parse, call one service, and render
or serialise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Response, current_app, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.db import get_session
from app.errors import NotFound
from reports.download import pdf_download
from signing import services
from signing.bankid.connect import bankid_client
from signing.clock import now
from signing.pages import qr_image, texts
from signing.pages.blueprint import bp
from signing.pages.bodies import check_empty_body, json_response, wants_json
from signing.pages.consent_page import consent_page
from signing.pages.context import open_link
from signing.pages.receipt_data import receipt_data
from signing.pages.rendering import redirect_to, render_link


@bp.get("/s/<token>")
def page(token: str) -> Response:
    link = open_link(token)
    view = link.view
    if view.signer_status == "signed":
        return _receipt_page(token, link)  # a used link shows what was signed
    if not services.signable(view):
        return render_link("signing/state.html", token, view)
    return consent_page(token, link)


# --- decline and withdraw --------------------------------------------------------------------


@bp.route("/s/<token>/decline", methods=["GET", "POST"])
def decline(token: str) -> BaseResponse:
    link = open_link(token)
    if request.method == "GET":
        if not services.signable(link.view):
            return redirect_to("signing.page", token)
        return render_link("signing/confirm.html", token, link.view, action="decline")
    check_empty_body()
    with bankid_client() as client:
        services.decline(get_session(), client, signer=link.signer, now=now())
    if request.is_json:
        after = open_link(token).view
        return json_response(
            {"status": "declined", "signer_status": after.signer_status, "object_status": after.object_status}
        )
    return redirect_to("signing.page", token)


@bp.route("/s/<token>/withdraw", methods=["GET", "POST"])
def withdraw(token: str) -> BaseResponse:
    link = open_link(token)
    if request.method == "GET":
        if not link.view.can_withdraw:
            return redirect_to("signing.page", token)
        return render_link("signing/confirm.html", token, link.view, action="withdraw")
    check_empty_body()
    services.withdraw(get_session(), signer=link.signer, now=now())
    if request.is_json:
        return json_response({"status": "withdrawn", "object_status": "withdrawn"})
    return redirect_to("signing.receipt", token)


# --- the receipt ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _receipt_page(token: str, link: services.Link) -> Response:
    data = receipt_data(get_session(), token, link)
    if wants_json():
        body = {**data, "valid_until": _iso(data["valid_until"]), "signed_at": _iso(data["signed_at"])}
        body.pop("method_label", None)
        return json_response(body)
    if data["signed_at"] is None:
        return render_link("signing/state.html", token, link.view)
    return render_link(
        "signing/receipt.html", token, link.view, receipt=data, body=texts.markdown_html(link.view.body_markdown)
    )


@bp.get("/s/<token>/receipt")
def receipt(token: str) -> BaseResponse:
    link = open_link(token)
    if link.view.signer_status != "signed" and not wants_json():
        return redirect_to("signing.page", token)
    return _receipt_page(token, link)


@bp.get("/s/<token>/record.pdf")
def record(token: str) -> Response:
    link = open_link(token)
    if link.view.signer_status != "signed":
        raise NotFound("Nothing has been signed with this link.")
    found = services.sealed_record(get_session(), link.view)
    if found is None:
        raise NotFound("The record is still being prepared.")
    return pdf_download(found, f"samtycke-{link.view.object_id}-{found.kind}.pdf")


# --- QR codes of the link itself (on-site capture) --------------------------------------------


def _link_qr(token: str, image: Callable[[str], bytes], mimetype: str, filename: str) -> Response:
    open_link(token)  # an unknown or expired link gets no code
    signing_url = current_app.config["BASE_URL"].rstrip("/") + url_for("signing.page", token=token)
    response = Response(image(signing_url), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@bp.get("/s/<token>/qr.png")
def link_qr_png(token: str) -> Response:
    return _link_qr(token, qr_image.png, "image/png", "signing-link.png")


@bp.get("/s/<token>/qr.svg")
def link_qr_svg(token: str) -> Response:
    return _link_qr(token, qr_image.svg, "image/svg+xml", "signing-link.svg")
