"""The animated QR code: BankID's published test vector and the parts around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signing.bankid.qr import autostart_url, parse_qr_data, qr_data, seconds_since

TOKEN = "67df3917-fa0d-44e5-b327-edcc928297f8"
SECRET = "d28db9a7-4cde-429e-a983-359be676944c"


def test_published_test_vector() -> None:
    assert qr_data(TOKEN, SECRET, 0) == (
        f"bankid.{TOKEN}.0.dc69358e712458a66a7525beef148ae8526b1c71610eff2c16cdffb4cdac9bf8"
    )
    assert qr_data(TOKEN, SECRET, 1) == (
        f"bankid.{TOKEN}.1.949d559bf23403952a94d103e67743126381eda00f0b3cbddbf7c96b1adcbce2"
    )


def test_matches_an_independent_implementation() -> None:
    import time

    from bankid import generate_qr_code_content

    started = time.time() - 7.4
    assert generate_qr_code_content(TOKEN, started, SECRET) == qr_data(TOKEN, SECRET, 7)


def test_seconds_are_whole_and_never_negative() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert seconds_since(start, start + timedelta(seconds=2.9)) == 2
    assert seconds_since(start, start - timedelta(seconds=1)) == 0
    with pytest.raises(ValueError):
        qr_data(TOKEN, SECRET, -1)


def test_parse_round_trip_and_rejects_other_text() -> None:
    assert parse_qr_data(qr_data(TOKEN, SECRET, 12)) == (TOKEN, 12, qr_data(TOKEN, SECRET, 12).rsplit(".", 1)[1])
    for bad in ("", "bankid", f"bankid.{TOKEN}.x.abc", f"otherid.{TOKEN}.1.{'a' * 64}", f"bankid.{TOKEN}.1.XYZ"):
        assert parse_qr_data(bad) is None


def test_autostart_url() -> None:
    assert autostart_url("abc") == "bankid:///?autostarttoken=abc&redirect=null"
