"""The console in headless Chromium: axe-core (WCAG 2.1 A/AA) at 1280 and 320 px, reflow, keyboard use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consent.models import Consent
from tests.browser import (
    assert_no_horizontal_scroll,
    axe_violations,
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
from tests.console_world import PASSWORD, Seed

pytestmark = pytest.mark.browser
WIDTHS = (1280, 320)


def browser_sign_in(driver: Any, base: str, email: str, password: str = PASSWORD) -> None:
    by, keys = _by(), _keys()
    driver.get(base + "/?lang=en")
    driver.find_element(by.ID, "email").send_keys(email)
    driver.find_element(by.ID, "password").send_keys(password + keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(by.CSS_SELECTOR, "nav.console-nav"), message="not signed in")


def check_page(driver: Any, url: str, problems: list[str]) -> None:
    """Open ``url`` and collect axe and reflow failures at every width (all reported together)."""
    driver.get(url)
    for width in WIDTHS:
        set_width(driver, width)
        violations = axe_violations(driver)
        if violations:
            problems.append(format_violations(violations, f"{url} at {width}px"))
        try:
            assert_no_horizontal_scroll(driver)
        except AssertionError as exc:
            problems.append(f"{exc} (at {width}px)")
    set_width(driver, WIDTHS[0])


@pytest.fixture
def addendum_id(api: Any, seed: Seed) -> str:
    response = api.post("/api/v1/addenda", json={"kind": "transcription-transfer", "signer": {"name": "Ann Rep"}})
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


@pytest.fixture
def objection_id(api: Any, seed: Seed) -> str:
    response = api.post(f"/api/v1/persons/{seed.anna}/objections", json={"purpose": "web"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


@pytest.fixture
def dpo_browser(browser: Any, live_url: str, seed: Seed, make_staff: Any) -> Iterator[Any]:
    browser_sign_in(browser, live_url, make_staff("dpo"))
    yield browser


def test_every_console_page_passes_axe_and_reflows(dpo_browser: Any, live_url: str, seed: Seed,
                                                   addendum_id: str, objection_id: str) -> None:
    paths = [
        "/",
        "/console/persons",
        "/console/persons?q=Anna",
        "/console/persons/new",
        f"/console/persons/{seed.anna}",
        f"/console/persons/{seed.bo}",
        "/console/consents",
        "/console/consents?status=given&purpose=web&template=photo&expires=365",
        f"/console/consents/{seed.given_consent}",
        f"/console/consents/{seed.pending_consent}",
        "/console/requests/new",
        "/console/requests/new?q=Anna",
        f"/console/requests/new?person_id={seed.anna}",
        f"/console/requests/{seed.pending_request}",
        "/console/assets",
        "/console/assets?asset_id=img-both",
        "/console/assets?asset_id=img-nobody",
        "/console/assets/img-both",
        "/console/assets/img-anna?lang=nb",
        f"/console/persons/{seed.anna}/objections/{objection_id}/withdraw",
        "/console/gdpr",
        "/console/gdpr?q=Anna",
        f"/console/persons/{seed.anna}/erase",
        "/console/addenda",
        f"/console/addenda/{addendum_id}",
        f"/console/addenda/{addendum_id}/revoke",
        f"/console/consents/{seed.given_consent}/withdraw",
        f"/console/consents/{seed.given_consent}/revoke",
        f"/console/consents/{seed.pending_consent}/revoke",
        "/console/contacts",
        "/console/audit",
        "/?lang=sv",
        "/?lang=nb",
    ]
    problems: list[str] = []
    for path in paths:
        check_page(dpo_browser, live_url + path, problems)
    assert not problems, "\n\n".join(problems)


def test_sign_in_and_error_pages_pass_axe(browser: Any, live_url: str, make_staff: Any) -> None:
    by, keys = _by(), _keys()
    problems: list[str] = []
    check_page(browser, live_url + "/?lang=en", problems)
    email = make_staff("viewer")
    browser.find_element(by.ID, "email").send_keys(email)
    browser.find_element(by.ID, "password").send_keys("wrong password" + keys.ENTER)
    wait_for(browser, lambda d: d.find_elements(by.CSS_SELECTOR, "[data-error-summary]"))
    # The error summary is announced (role=alert) and has focus.
    assert focused(browser).get_attribute("data-error-summary") is not None
    check_page(browser, browser.current_url, problems)  # a GET of the same page after the failed POST
    browser_sign_in(browser, live_url, email)
    check_page(browser, live_url + "/console/audit", problems)  # 403 for a viewer
    check_page(browser, live_url + "/console/persons/00000000-0000-0000-0000-000000000000", problems)  # 404
    assert not problems, "\n\n".join(problems)


def test_form_errors_are_tied_to_fields_and_announced(dpo_browser: Any, live_url: str) -> None:
    by = _by()
    driver = dpo_browser
    driver.get(live_url + "/console/contacts")
    driver.find_element(by.ID, "dpo_email").send_keys("not-an-address")
    driver.find_element(by.CSS_SELECTOR, "form[action='/console/contacts'] button[type=submit]").click()
    summary = wait_for(driver, lambda d: d.find_elements(by.CSS_SELECTOR, "[data-error-summary]"))[0]
    assert summary.get_attribute("role") == "alert"
    assert focused(driver) == summary
    field = driver.find_element(by.ID, "dpo_email")
    assert field.get_attribute("aria-invalid") == "true"
    described = field.get_attribute("aria-describedby").split()
    message = driver.find_element(by.ID, "dpo_email-error")
    assert "dpo_email-error" in described and "e-mail address" in message.text
    # The summary links to the field.
    assert summary.find_elements(by.CSS_SELECTOR, "a[href='#dpo_email']")
    problems: list[str] = []
    for width in WIDTHS:
        set_width(driver, width)
        violations = axe_violations(driver)
        if violations:
            problems.append(format_violations(violations, f"contacts with errors at {width}px"))
    assert not problems, "\n\n".join(problems)


def test_send_a_request_with_the_keyboard_alone(app: Flask, browser: Any, live_url: str, seed: Seed,
                                                make_staff: Any) -> None:
    """Tab, Space and Enter only (plus typing the name to search for)."""
    by, keys = _by(), _keys()
    driver = browser
    browser_sign_in(driver, live_url, make_staff("editor"))
    driver.get(live_url + "/?lang=en")

    def is_link_to(path: str) -> Any:
        return lambda el: el.tag_name == "a" and (el.get_attribute("href") or "").endswith(path)

    # The skip link comes first.
    first = tab_until(driver, lambda el: True)
    assert first.get_attribute("class") == "skip-link"

    tab_until(driver, is_link_to("/console/requests/new"))
    press(driver, keys.ENTER)
    wait_for(driver, lambda d: d.current_url.endswith("/console/requests/new"))

    search = tab_until(driver, lambda el: el.get_attribute("id") == "q")
    search.send_keys("Anna")
    press(driver, keys.ENTER)
    wait_for(driver, lambda d: "q=Anna" in d.current_url)

    tab_until(driver, lambda el: "choose-person" in (el.get_attribute("class") or ""))
    press(driver, keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(by.ID, "send-request"))

    web = tab_until(driver, lambda el: el.get_attribute("id") == "purposes-0")
    assert web.is_selected()
    print_box = tab_until(driver, lambda el: el.get_attribute("id") == "purposes-1")
    assert print_box.is_selected()
    press(driver, keys.SPACE)  # only the website, not print
    assert not print_box.is_selected()
    asset = tab_until(driver, lambda el: el.get_attribute("name") == "assets"
                      and el.get_attribute("value") == "img-anna")
    press(driver, keys.SPACE)
    assert asset.is_selected()
    tab_until(driver, lambda el: el.get_attribute("id") == "send-request")
    press(driver, keys.ENTER)
    wait_for(driver, lambda d: "/console/requests/" in d.current_url and "new" not in d.current_url,
             message="the request was not created")

    link = driver.find_element(by.CSS_SELECTOR, ".signer-card a.link")
    assert "/s/" in link.get_attribute("href")
    qr = driver.find_element(by.CSS_SELECTOR, ".signer-card .qr img")
    assert qr.get_attribute("alt")
    # The QR image really loads (the signing pages serve it).
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", qr)
    # Every step is reachable: focus is visible on the link (outline from :focus-visible).
    tab_until(driver, lambda el: el.get_attribute("class") == "link")
    outline = driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")

    with app.extensions["samtycke.sessionmaker"]() as session:
        made = session.scalars(
            sa.select(Consent).where(Consent.person_id == seed.anna, Consent.status == "pending")
        ).all()
    assert len(made) == 1
    assert made[0].requested_purposes == ["web"] and made[0].asset_ids == ["img-anna"]


def test_withdraw_with_the_keyboard_alone_after_its_confirmation(
    app: Flask, browser: Any, live_url: str, seed: Seed, make_staff: Any
) -> None:
    """From the consent to the confirmation, an error without the tick (announced, passes axe),
    then the tick and the withdrawal: Tab, Space and Enter only."""
    by, keys = _by(), _keys()
    driver = browser
    browser_sign_in(driver, live_url, make_staff("editor"))
    driver.get(f"{live_url}/console/consents/{seed.given_consent}?lang=en")
    tab_until(driver, lambda el: el.get_attribute("id") == "withdraw-link")
    press(driver, keys.ENTER)
    wait_for(driver, lambda d: d.current_url.endswith(f"/consents/{seed.given_consent}/withdraw"))

    tab_until(driver, lambda el: el.get_attribute("id") == "confirm-button")
    press(driver, keys.ENTER)  # without the tick
    summary = wait_for(driver, lambda d: d.find_elements(by.CSS_SELECTOR, "[data-error-summary]"))[0]
    assert summary.get_attribute("role") == "alert" and focused(driver) == summary
    assert "Tick the box to confirm the withdrawal." in summary.text
    problems: list[str] = []
    for width in WIDTHS:
        set_width(driver, width)
        violations = axe_violations(driver)
        if violations:
            problems.append(format_violations(violations, f"withdraw confirmation with errors at {width}px"))
        try:
            assert_no_horizontal_scroll(driver)
        except AssertionError as exc:
            problems.append(f"{exc} (at {width}px)")
    set_width(driver, WIDTHS[0])
    assert not problems, "\n\n".join(problems)
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Consent, seed.given_consent).status == "given"  # type: ignore[union-attr]

    box = tab_until(driver, lambda el: el.get_attribute("id") == "confirm")
    assert not box.is_selected()
    press(driver, keys.SPACE)
    assert focused(driver).is_selected()
    tab_until(driver, lambda el: el.get_attribute("id") == "confirm-button")
    press(driver, keys.ENTER)
    wait_for(driver, lambda d: d.current_url.endswith(f"/console/consents/{seed.given_consent}"),
             message="back on the consent")
    with app.extensions["samtycke.sessionmaker"]() as session:
        assert session.get(Consent, seed.given_consent).status == "withdrawn"  # type: ignore[union-attr]
