"""Asset look-up: the usage rights of one asset for every purpose, and the persons behind them."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from app.console import sessions
from app.console.blueprint import PREFIX, bp
from app.console.formatting import label_of
from app.console.forms import AssetLookupForm
from app.console.sessions import requires
from app.db import get_session, utcnow
from app.errors import DomainError
from consent import links, purposes, rights


@bp.route(f"{PREFIX}/assets", endpoint="assets")
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
                locale = str(get_locale() or "sv")
                for purpose in purposes.list_purposes(session, staff.tenant_id):
                    answer = rights.for_asset(session, staff.tenant_id, asset_id, purpose.key, now)
                    answers.append({"label": label_of(purpose.label, locale, purpose.key), **answer})
        else:
            status = 422
    names = {p.person_id: p for p in linked}
    return render_template(
        "console/assets.html", form=form, asset_id=asset_id, answers=answers, linked=linked, names=names,
        searched="asset_id" in request.args and status == 200,
        page_title=_("Asset lookup"), active="assets",
    ), status
