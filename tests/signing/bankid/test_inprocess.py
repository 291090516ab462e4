"""The in-process client: the service calling its own simulator during a request."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, g, jsonify

from app.db import get_session
from signing.bankid.simulator.inprocess import in_process_client
from signing.bankid.simulator.models import SimOrder


def test_inner_requests_leave_the_outer_request_alone(make_app: Any) -> None:
    app = make_app()

    def outer() -> tuple[Response, int]:
        session = get_session()
        session.execute(sa.text("SELECT 1"))
        g.marker = "outer"
        bankid = in_process_client(app)
        start = bankid.sign("192.0.2.1", "Jag samtycker.")
        pending = bankid.collect(start.order_ref)
        # Same session, same g: the simulator's requests had their own.
        assert g.db_session is session and g.marker == "outer"
        assert session.is_active
        # The outer request fails; the simulator's order must survive its rollback.
        return jsonify(ref=start.order_ref, hint=pending.hint_code), 409

    # GET: the service checks CSRF on every other method of a page like this one.
    app.add_url_rule("/outer", "outer", outer, methods=["GET"])
    resp = app.test_client().get("/outer")
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["hint"] == "outstandingTransaction"
    with app.extensions["samtycke.sessionmaker"]() as check:
        assert check.get(SimOrder, body["ref"]) is not None
