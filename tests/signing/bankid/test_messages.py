"""BankID's recommended user messages: which one for which answer, and their translations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask
from flask_babel import Babel, force_locale

import signing.bankid
from signing.bankid.messages import RFA, rfa_key, user_message

CATALOG = Path(signing.bankid.__file__).parent / "messages_sv_nb.json"


@pytest.mark.parametrize(
    ("code", "status", "device", "expected"),
    [
        ("outstandingTransaction", "pending", "other", "RFA1"),
        ("outstandingTransaction", "pending", "same", "RFA13"),
        ("noClient", "pending", "same", "RFA1"),
        ("started", "pending", "other", "RFA14A"),
        ("started", "pending", "same", "RFA14B"),
        ("userSign", "pending", "other", "RFA9"),
        ("userMrtd", "pending", "other", "RFA23"),
        ("userCallConfirm", "pending", "other", "RFA21"),
        ("somethingNew", "pending", "other", "RFA21"),
        ("expiredTransaction", "failed", "other", "RFA8"),
        ("certificateErr", "failed", "other", "RFA16"),
        ("userCancel", "failed", "other", "RFA6"),
        ("cancelled", "failed", "other", "RFA3"),
        ("startFailed", "failed", "other", "RFA17B"),
        ("startFailed", "failed", "same", "RFA17A"),
        ("userDeclinedCall", "failed", "other", "RFA6"),
        ("notSupportedByUserApp", "failed", "other", "RFA22"),
        ("somethingNew", "failed", "other", "RFA22"),
        ("alreadyInProgress", "error", "other", "RFA4"),
        ("internalError", "error", "other", "RFA5"),
        ("maintenance", "error", "other", "RFA5"),
        ("requestTimeout", "error", "other", "RFA5"),
        ("transportError", "error", "other", "RFA5"),
        ("invalidParameters", "error", "other", "RFA22"),
        ("unknownCode", "error", "other", "RFA22"),
    ],
)
def test_message_for_each_code(code: str, status: str, device: str, expected: str) -> None:
    assert rfa_key(code, status, device) == expected  # type: ignore[arg-type]


def test_variants() -> None:
    assert rfa_key("started", "pending", "other", mobile=True) == "RFA14B"
    assert rfa_key("started", "pending", "same", token_start=False) == "RFA15B"
    assert rfa_key("started", "pending", "other", token_start=False) == "RFA15A"
    assert rfa_key(None, "complete") is None


def test_english_text_outside_and_inside_a_request() -> None:
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        assert user_message("userSign", "pending") == (
            "Enter your security code in the BankID app and select Identify or Sign."
        )
        assert user_message(None, "complete") == ""


def test_catalog_covers_every_message() -> None:
    catalog = json.loads(CATALOG.read_text())
    for key, lazy in RFA.items():
        entry = catalog[lazy._args[0]]
        assert entry["rfa"] == key and entry["sv"] and entry["nb"]
    for msgid, entry in catalog.items():
        # Placeholders must survive translation.
        assert entry["sv"].count("%(") == entry["nb"].count("%(") == msgid.count("%(")


def test_page_strings_are_in_the_catalog() -> None:
    import re

    template = Path(signing.bankid.__file__).parent / "simulator" / "templates" / "bankid_sim" / "app.html"
    page = Path(signing.bankid.__file__).parent / "simulator" / "page.py"
    used = set(re.findall(r'_\("((?:[^"\\]|\\.)+)"', template.read_text()))
    used |= set(re.findall(r"_\('([^']+)'\)", template.read_text()))
    page_src = re.sub(r'"\s*\n\s*"', "", page.read_text())
    used |= set(re.findall(r'_\(\s*"((?:[^"\\]|\\.)+)"', page_src))
    assert used, "no strings found"
    assert used <= set(json.loads(CATALOG.read_text()))


@pytest.mark.parametrize("lang", ["sv", "nb"])
def test_messages_translate_through_gettext(tmp_path: Path, lang: str) -> None:
    catalog_data = json.loads(CATALOG.read_text())
    catalog = Catalog(locale=lang)
    for msgid, entry in catalog_data.items():
        catalog.add(msgid, entry[lang])
    folder = tmp_path / lang / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(tmp_path)
    Babel(app)
    expected = catalog_data["Unknown error. Please try again."][lang]
    with app.test_request_context(), force_locale(lang):
        assert user_message("userCancel", "failed") == catalog_data["Action cancelled."][lang]
        assert user_message("mystery", "failed") == expected
    if lang == "sv":
        assert expected == "Okänt fel. Försök igen."
