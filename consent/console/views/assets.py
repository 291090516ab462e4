"""Assets: the look-up (usage rights of one asset for every purpose, and the persons behind them)
and the asset page (status per purpose, linked persons, persons expected and legal bases)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.db import get_session, utcnow
from app.errors import NotFound, Unprocessable
from app.i18n import current_locale
from app.staff import sessions
from app.staff.forms import apply_service_errors
from app.staff.permissions import authorize
from app.staff.sessions import requires
from consent import assets, purposes, rights
from consent.console.forms import AssetEditForm, AssetLookupForm, asset_edit_form
from consent.console.labels import LEGAL_BASIS_LABELS
from consent.console.pages import pages
from consent.ids import check_asset_id


@pages.route("/assets", endpoint="assets")
@requires("console.read")
def assets_lookup() -> Any:
    staff = sessions.staff()
    session = get_session()
    form = AssetLookupForm(request.args)
    asset_id = (form.asset_id.data or "").strip()
    answers: list[dict[str, Any]] = []
    view: assets.AssetView | None = None
    status = 200
    if "asset_id" in request.args:
        if form.validate() and asset_id and check_asset_id(asset_id) is None:
            try:
                view = assets.view_asset(session, staff.tenant_id, asset_id)
            except NotFound:
                view = None  # unknown: said plainly on the page, never shown as allowed
            else:
                answers = _labelled(session, staff.tenant_id, view)
        elif form.validate():
            form.asset_id.errors = [_("An asset id is 1 to 200 characters without control characters.")]
            status = 422
        else:
            status = 422
    return render_template(
        "console/assets.html", form=form, asset_id=asset_id, answers=answers, view=view,
        names={p.person_id: p for p in view.persons} if view else {},
        searched="asset_id" in request.args and status == 200,
        page_title=_("Asset lookup"), active="assets",
    ), status


def _labelled(session: Any, tenant_id: str, view: assets.AssetView) -> list[dict[str, Any]]:
    """Each purpose's answer with its label and status, in the purposes' order."""
    locale = current_locale()
    return [
        {"label": purposes.label_in(p.label, locale, p.key), "key": p.key,
         "status": rights.status_of(view.answers[p.key]), **view.answers[p.key]}
        for p in purposes.list_purposes(session, tenant_id) if p.key in view.answers
    ]


def _edit_form(session: Any, tenant_id: str, asset: Any, formdata: Any = None) -> AssetEditForm:
    locale = current_locale()
    choices = [("", _("Consent of each person"))] + [(b, str(LEGAL_BASIS_LABELS[b])) for b in assets.LEGAL_BASES]
    keys = [(p.key, purposes.label_in(p.label, locale, p.key)) for p in purposes.list_purposes(session, tenant_id)]
    current = {purpose: entry["basis"] for entry in asset.legal_bases or [] for purpose in entry["purposes"]}
    data = {"persons_expected": asset.persons_expected, **{f"basis__{k}": current.get(k, "") for k, _l in keys}}
    return asset_edit_form(keys, choices, formdata=formdata, data=None if formdata is not None else data)


def _page(asset_id: str, form: AssetEditForm | None = None, status: int = 200) -> Any:
    staff = sessions.staff()
    session = get_session()
    view = assets.view_asset(session, staff.tenant_id, asset_id, utcnow())
    return render_template(
        "console/asset.html", view=view, answers=_labelled(session, staff.tenant_id, view),
        names={p.person_id: p for p in view.persons},
        form=form or _edit_form(session, staff.tenant_id, view.asset),
        page_title=view.title or _("Asset %(asset)s", asset=asset_id), active="assets",
    ), status


@pages.route("/assets/<asset_id>", methods=["GET", "POST"])
@requires("console.read")
def asset(asset_id: str) -> Any:
    if request.method == "GET":
        return _page(asset_id)
    staff = sessions.staff()
    authorize(staff.role, "assets.manage")
    session = get_session()
    found = assets.get_asset(session, staff.tenant_id, asset_id)  # 404 before anything else
    form = _edit_form(session, staff.tenant_id, found, formdata=request.form)
    if not form.validate():
        return _page(asset_id, form, 422)
    by_basis: dict[str, list[str]] = {}
    for name, field in form._fields.items():
        if name.startswith("basis__") and field.data:
            by_basis.setdefault(field.data, []).append(name.removeprefix("basis__"))
    values = {
        "persons_expected": form.persons_expected.data,
        "legal_bases": [{"basis": b, "purposes": keys} for b, keys in by_basis.items()],
    }
    try:
        assets.put_asset(session, staff.tenant_id, asset_id, staff.actor, values)
    except Unprocessable as exc:
        apply_service_errors(form, exc.errors, {
            "persons_expected": ("persons_expected", _("The DAM marked this asset as showing nobody.")),
        }, _("The asset could not be saved."))
        return _page(asset_id, form, 422)
    flash(_("The asset has been saved."), "ok")
    return redirect(url_for("console.asset", asset_id=asset_id))
