"""Every user-facing string exists in sv, nb and en, and pages speak the chosen language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

CATALOGS = Path(__file__).resolve().parents[2] / "app" / "translations"


@pytest.mark.parametrize("lang", ["sv", "nb"])
def test_catalog_is_complete_and_compiled(lang: str) -> None:
    po = CATALOGS / lang / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    missing = [
        m.id for m in catalog
        if m.id and not (any(m.string) if isinstance(m.string, tuple) else m.string)
    ]
    assert missing == [], f"untranslated in {lang}: {missing[:10]}"
    assert len(catalog) > 500
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime - 5


def test_pages_negotiate_and_keep_the_language(client: Any) -> None:
    sv = client.get("/verify", headers={"Accept-Language": "sv-SE,sv;q=0.9"}).get_data(as_text=True)
    assert "Kontrollera en samtyckeshandling" in sv and 'lang="sv"' in sv
    nb = client.get("/verify", headers={"Accept-Language": "no"}).get_data(as_text=True)
    assert "Kontroller et samtykkedokument" in nb and 'lang="nb"' in nb
    en = client.get("/verify?lang=en", headers={"Accept-Language": "sv"})
    assert "Check a consent record" in en.get_data(as_text=True)
    assert "lang=en" in en.headers["Set-Cookie"]
    # The switch is kept: the cookie wins over the browser's Accept-Language afterwards.
    again = client.get("/verify", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Check a consent record" in again


def test_error_pages_are_translated(client: Any) -> None:
    page = client.get("/s/not-a-real-token", headers={"Accept-Language": "sv"})
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    assert "Traceback" not in body
    assert 'lang="sv"' in body
