"""The subject pages in headless Chromium: axe-core (WCAG 2.1 A/AA) on every state at
320 and 1280 px, no sideways scrolling at 320 px, and a keyboard-only signing run."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from signing_helpers import Phone, World, start, status

from app.db import utcnow
from tests.browser import (
    assert_no_horizontal_scroll,
    axe_violations,
    describe,
    focused,
    format_violations,
    press,
    set_width,
    tab_until,
    wait_for,
)
from tests.browser import (
    by as _by,
)
from tests.browser import (
    keys as _keys,
)

pytestmark = pytest.mark.browser
WIDTHS = (1280, 320)


def check(driver: Any, url: str, problems: list[str], ready: str | None = None) -> None:
    """Open ``url`` and collect axe and reflow failures at both widths (reported together)."""
    driver.get(url)
    if ready:
        wait_for(driver, lambda d: d.find_elements(_by().CSS_SELECTOR, ready), message=f"{ready} on {url}")
    for width in WIDTHS:
        set_width(driver, width)
        violations = axe_violations(driver)
        if violations:
            problems.append(format_violations(violations, f"{url} at {width}px"))
        if width == 320:
            try:
                assert_no_horizontal_scroll(driver)
            except AssertionError as exc:
                problems.append(str(exc))
    set_width(driver, WIDTHS[0])


def _signed(client: Any, token: str) -> None:
    assert start(client, token, "other").status_code == 200
    Phone(client).sign_qr(status(client, token)["qr_data"])
    for _ in range(20):
        if status(client, token)["status"] == "complete":
            return
        time.sleep(0.5)  # real time here: collect is asked at most every two seconds
    raise AssertionError("never completed")


def test_every_subject_page_state_passes_axe_and_reflows(
    browser: Any, live_url: str, app: Flask, client: Any, world: World, monkeypatch: Any
) -> None:
    problems: list[str] = []
    by = _by()
    for lang in ("en", "sv"):
        consent = world.adult(pn=None)
        check(browser, f"{live_url}/s/{consent}?lang={lang}", problems)

    # The consent page with its error: no purpose chosen, posted past the script's own check.
    token = world.adult(pn=None)
    browser.get(f"{live_url}/s/{token}?lang=en")
    assert not any(box.is_selected() for box in browser.find_elements(by.NAME, "purposes"))  # none pre-ticked
    browser.execute_script(
        "const f = document.getElementById('sign-form'); const i = document.createElement('input');"
        "i.type = 'hidden'; i.name = 'device'; i.value = 'other'; f.appendChild(i); f.submit();"
    )
    wait_for(browser, lambda d: "There is a problem" in d.page_source, message="form error")
    for width in WIDTHS:
        set_width(browser, width)
        violations = axe_violations(browser)
        if violations:
            problems.append(format_violations(violations, f"consent form error at {width}px"))
        if width == 320:
            assert_no_horizontal_scroll(browser)
    set_width(browser, WIDTHS[0])

    other = world.adult(pn=None)
    assert start(client, other, "other").status_code == 200
    check(browser, f"{live_url}/s/{other}/bankid?lang=en", problems, ready="#qr-image")

    same = world.adult(pn=None)
    assert start(client, same, "same").status_code == 200
    check(browser, f"{live_url}/s/{same}/bankid?lang=en", problems, ready="#open-bankid")

    failed = world.adult(pn=None)
    assert start(client, failed, "other").status_code == 200
    client.post(f"/s/{failed}/bankid/cancel", json={})
    check(browser, f"{live_url}/s/{failed}/bankid?lang=en", problems, ready="#attempt-failure p")

    signed = world.adult(pn=None)
    _signed(client, signed)
    check(browser, f"{live_url}/s/{signed}?lang=en", problems)
    check(browser, f"{live_url}/s/{signed}/withdraw?lang=en", problems)
    client.post(f"/s/{signed}/withdraw", json={})
    check(browser, f"{live_url}/s/{signed}/receipt?lang=nb", problems)

    declined = world.adult(pn=None)
    check(browser, f"{live_url}/s/{declined}/decline?lang=en", problems)
    client.post(f"/s/{declined}/decline", json={})
    check(browser, f"{live_url}/s/{declined}?lang=en", problems)

    check(browser, f"{live_url}/s/no-such-link?lang=en", problems)

    expired = world.adult(pn=None)
    later = utcnow() + timedelta(days=31)
    monkeypatch.setitem(app.config, "SIGNING_CLOCK", lambda: later)
    check(browser, f"{live_url}/s/{expired}?lang=en", problems)
    assert "This link is no longer valid" in browser.find_element(by.TAG_NAME, "h1").text
    assert not problems, "\n\n".join(problems)


def test_qr_refreshes_and_the_page_moves_on_to_the_receipt(
    browser: Any, live_url: str, client: Any, world: World
) -> None:
    by = _by()
    token = world.adult()
    assert start(client, token, "other").status_code == 200
    browser.get(f"{live_url}/s/{token}/bankid?lang=en")
    first = browser.find_element(by.ID, "qr-image").get_attribute("src")
    wait_for(browser, lambda d: d.find_element(by.ID, "qr-image").get_attribute("src") != first, message="QR refresh")
    Phone(client).sign_qr(status(client, token)["qr_data"])
    wait_for(browser, lambda d: d.current_url.endswith(f"/s/{token}/receipt?lang=en"), timeout=15, message="receipt")
    assert "Receipt" in browser.find_element(by.TAG_NAME, "h1").text


def test_failure_is_announced_in_the_alert_region(browser: Any, live_url: str, client: Any, world: World) -> None:
    by = _by()
    token = world.adult()
    assert start(client, token, "other").status_code == 200
    browser.get(f"{live_url}/s/{token}/bankid?lang=en")
    Phone(client).sign_qr(status(client, token)["qr_data"], approve=False)
    alert = wait_for(
        browser,
        lambda d: d.find_element(by.ID, "attempt-failure").text,
        timeout=15,
        message="failure announced",
    )
    assert alert == "Action cancelled."
    assert browser.find_element(by.ID, "attempt-failure").get_attribute("role") == "alert"
    assert browser.find_element(by.ID, "retry").is_displayed()
    assert not browser.find_element(by.ID, "qr-image").is_displayed()


def test_keyboard_only_signing_run(browser: Any, live_url: str, client: Any, world: World) -> None:
    by, keys = _by(), _keys()
    token = world.adult()
    browser.get(f"{live_url}/s/{token}?lang=en")

    # Nothing is pre-ticked: tick "Website" and "Print" with the keyboard only.
    for box_id in ("purpose-1", "purpose-2"):
        box = tab_until(browser, lambda e, box_id=box_id: e.get_attribute("id") == box_id)
        assert not box.is_selected()
        press(browser, keys.SPACE)
        assert focused(browser).is_selected()
    assert not browser.find_element(by.ID, "purpose-3").is_selected()
    button = tab_until(browser, lambda e: e.get_attribute("value") == "other")
    assert "another device" in describe(button)
    press(browser, keys.ENTER)
    wait_for(browser, lambda d: d.find_elements(by.ID, "qr-image"), message="progress page with QR")

    Phone(client).sign_qr(status(client, token)["qr_data"])
    wait_for(browser, lambda d: d.current_url.endswith(f"/s/{token}/receipt?lang=en"), timeout=15, message="receipt")
    text = browser.find_element(by.TAG_NAME, "main").text
    assert "Website" in text and "Print" in text and "Social media" not in text
    # The withdraw control is reachable from the keyboard as well.
    link = tab_until(browser, lambda e: e.get_attribute("id") == "withdraw-link")
    press(browser, keys.ENTER)
    wait_for(browser, lambda d: "/withdraw" in d.current_url, message="withdraw confirmation")
    assert link is not None
