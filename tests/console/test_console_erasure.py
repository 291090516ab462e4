"""Erasure in the console: the unlink rule of an erased person, and what erasing a guardian ends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from console_helpers import Seed, token_for
from flask import Flask

from consent.models import AssetLink


def test_an_erased_persons_asset_link_cannot_be_unlinked_from_the_console(
    app: Flask, seed: Seed, as_role: Any, api: Any
) -> None:
    assert api.delete(f"/api/v1/persons/{seed.bo}").status_code == 204
    editor = as_role("editor")
    resp = editor.post(f"/console/persons/{seed.bo}/assets/unlink",
                       data={"asset_id": "img-bo", "csrf_token": token_for(editor, "/console/persons")})
    assert resp.status_code in (404, 409)
    with app.extensions["samtycke.sessionmaker"]() as s:
        assert s.scalar(sa.select(AssetLink.person_id).where(AssetLink.asset_id == "img-bo")) == seed.bo
    assert api.get("/api/v1/assets/img-bo/usage-rights?purpose=web").get_json()["reason"] == "erased"
