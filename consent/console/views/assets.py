"""Asset look-up: the usage rights of one asset for every purpose, and the persons behind them."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from app.db import get_session, utcnow
from app.errors import DomainError
from app.i18n import current_locale
from app.staff import sessions
from app.staff.sessions import requires
from consent import links, purposes, rights
from consent.console.forms import AssetLookupForm
from consent.console.pages import pages


@pages.route("/assets", endpoint="assets")
@requires("console.read")
def assets_lookup() -> Any:
    staff = sessions.staff()
    session = get_session()
    form = AssetLookupForm(request.args)
    asset_id = (form.asset_id.data or "").strip()
    answers: list[dict[str, Any]] = []
    linked: list[Any] = []
    status = 200
    if "asset_id" in request.args:
        if form.validate() and asset_id:
            try:
                linked = links.persons_in(session, staff.tenant_id, asset_id)
            except DomainError:
                form.asset_id.errors = [_("An asset id is 1 to 200 characters without control characters.")]
                status = 422
            else:
                now = utcnow()
                locale = current_locale()
                for purpose in purposes.list_purposes(session, staff.tenant_id):
                    answer = rights.for_asset(session, staff.tenant_id, asset_id, purpose.key, now)
                    answers.append({"label": purposes.label_in(purpose.label, locale, purpose.key), **answer})
        else:
            status = 422
    names = {p.person_id: p for p in linked}
    return render_template(
        "console/assets.html", form=form, asset_id=asset_id, answers=answers, linked=linked, names=names,
        searched="asset_id" in request.args and status == 200,
        page_title=_("Asset lookup"), active="assets",
    ), status
