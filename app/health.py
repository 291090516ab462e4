"""Liveness with a database check, for load balancers and the DAM."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, jsonify

from app.errors import problem

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    if ping_database(current_app):
        return jsonify(status="ok", db="ok")
    return problem(503, "Service unavailable", "The database does not answer.", db="unavailable")


def ping_database(app: Flask) -> bool:
    try:
        with app.extensions["samtycke.engine"].connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
