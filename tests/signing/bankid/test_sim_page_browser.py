"""The simulator's page in a real browser: WCAG 2.1 AA (axe-core), reflow at 320 px, the script, a signing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.browser import (  # noqa: F401  (browser, live_url are fixtures)
    assert_no_axe_violations,
    assert_no_horizontal_scroll,
    browser,
    live_url,
    set_width,
    wait_for,
)
from tests.signing.bankid.conftest import b64, collect, rp_post, sign_body

LONG_WORD = "https://example.test/" + "x" * 120  # must wrap, not widen the page


@pytest.mark.browser
def test_sign_in_the_simulated_app(browser: Any, live_url: str, client: FlaskClient) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    text = f"# Samtycke\n\nJag samtycker till publicering.\n{LONG_WORD}"
    start = rp_post(client, "sign", sign_body(userVisibleData=b64(text))).get_json()
    browser.get(live_url + "/bankid-sim/app?lang=sv")
    custom = browser.find_element(By.ID, "custom-identity")
    assert not custom.is_displayed()  # the script hides the name fields until "Someone else" is chosen
    browser.find_element(By.ID, "identity-custom").click()
    assert custom.is_displayed()
    for width in (1280, 320):
        set_width(browser, width)
        assert_no_axe_violations(browser)
        assert_no_horizontal_scroll(browser)

    browser.find_element(By.ID, "identity-2").click()
    browser.find_element(By.ID, "code").send_keys(f"bankid:///?autostarttoken={start['autoStartToken']}&redirect=null")
    browser.find_element(By.CSS_SELECTOR, "form.start button[type=submit]").click()
    wait_for(browser, lambda d: "order=" in d.current_url)
    assert "Cecilia Carlsson" in browser.page_source
    for width in (1280, 320):
        set_width(browser, width)
        assert_no_axe_violations(browser)
        assert_no_horizontal_scroll(browser)
    browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    # The page was opened in Swedish (?lang=sv) and keeps the language.
    wait_for(browser, lambda d: "Du har skrivit under" in d.page_source)
    assert_no_axe_violations(browser)
    done = collect(client, start["orderRef"]).get_json()
    assert done["completionData"]["user"]["name"] == "Cecilia Carlsson"
