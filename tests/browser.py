"""Shared helpers for browser tests: a live server, headless Chromium, axe-core and reflow checks.

Make the fixtures visible by importing them in your test folder's ``conftest.py``
(importing them straight into a test module works too, but ruff then sees the
parameters as redefinitions)::

    # tests/<yours>/conftest.py
    from tests.browser import browser, live_url  # noqa: F401  (fixtures)

    # tests/<yours>/test_pages.py
    import pytest
    from tests.browser import assert_no_axe_violations, assert_no_horizontal_scroll, set_width

    @pytest.mark.browser
    def test_page_is_accessible(browser, live_url):
        browser.get(live_url + "/some/page")
        for width in (1280, 320):
            set_width(browser, width)
            assert_no_axe_violations(browser)
            assert_no_horizontal_scroll(browser)

``live_url`` serves the ``app`` fixture (so the test runs on SQLite and PostgreSQL),
and ``live_server(app)`` does the same for any Flask app as a context manager.

The browser is Debian's ``/usr/bin/chromium`` driven by ``/usr/bin/chromedriver``
(override with ``SAMTYCKE_CHROMIUM`` / ``SAMTYCKE_CHROMEDRIVER``). When it is missing
the test is skipped, except under ``CI=true`` where it fails. One Chromium process is
shared per test session (per xdist worker); the ``browser`` fixture clears cookies and
the viewport before every test, and each live server listens on its own port, so no
origin's storage leaks from one test into another.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("SAMTYCKE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SAMTYCKE_CHROMEDRIVER", "/usr/bin/chromedriver")
IN_CI = os.environ.get("CI", "").lower() == "true"
AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG21AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
DEFAULT_HEIGHT = 900
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--password-store=basic",
)


# --------------------------------------------------------------------------- live server


@contextmanager
def live_server(app: Flask, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on a free port in a daemon thread; yield its base URL (no trailing slash)."""
    server = make_server(host, 0, app, threaded=True)
    name = f"live-server-{server.server_port}"
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, at the end of every test.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The ``app`` fixture served over real HTTP for the duration of one test."""
    with live_server(app) as url:
        yield url


# --------------------------------------------------------------------------- Chromium


def browser_problem() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


def require_browser() -> None:
    """Skip the test when there is no browser; fail instead under CI=true."""
    problem = browser_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"headless Chromium is required under CI=true: {problem}")
        pytest.skip(f"headless Chromium not available: {problem}")


def new_driver(width: int = 1280, height: int = DEFAULT_HEIGHT, lang: str = "en") -> Any:
    """Start a fresh headless Chromium with its own profile. Call ``quit_driver`` when done."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="samtycke-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--lang={lang}")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.samtycke_profile = profile  # type: ignore[attr-defined]
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    set_width(driver, width, height)
    return driver


def quit_driver(driver: Any) -> None:
    with suppress(Exception):
        driver.quit()
    shutil.rmtree(getattr(driver, "samtycke_profile", ""), ignore_errors=True)


@contextmanager
def chromium(width: int = 1280, height: int = DEFAULT_HEIGHT, lang: str = "en") -> Iterator[Any]:
    """A fresh browser for one block, e.g. a second device in a signing test."""
    driver = new_driver(width, height, lang)
    try:
        yield driver
    finally:
        quit_driver(driver)


def set_width(driver: Any, width: int, height: int = DEFAULT_HEIGHT) -> None:
    """Make the layout viewport exactly ``width`` CSS pixels wide (320 and 1280 are the ones we test).

    Headless Chromium clamps tiny windows, so the viewport is set through device-metrics
    emulation, which is what DevTools' responsive mode does.
    """
    driver.set_window_size(max(width, 500), height)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    inner = driver.execute_script("return window.innerWidth")
    if inner not in (width, None) and driver.current_url not in ("data:,", "about:blank"):
        raise AssertionError(f"viewport is {inner}px wide, wanted {width}px")


def reset_browser(driver: Any, width: int = 1280) -> None:
    """Forget cookies and storage of every origin and go back to a blank page at ``width``."""
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    with suppress(Exception):
        driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    set_width(driver, width)


# One Chromium per test process, started on first use and stopped at exit: importing the
# ``browser`` fixture alone is enough (no companion session fixture to remember).
_shared: dict[str, Any] = {}


@atexit.register
def _quit_shared_browser() -> None:
    driver = _shared.pop("driver", None)
    if driver is not None:
        quit_driver(driver)


def _alive(driver: Any) -> bool:
    try:
        driver.execute_script("return 1")
        return True
    except Exception:
        return False


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium, 1280 px wide, no cookies. Mark the test ``@pytest.mark.browser``."""
    require_browser()
    driver = _shared.get("driver")
    if driver is None or not _alive(driver):
        if driver is not None:
            quit_driver(driver)
        driver = _shared["driver"] = new_driver()
    reset_browser(driver)
    yield driver
    # Leave no page running against a server that is about to stop.
    with suppress(Exception):
        driver.get("about:blank")


# --------------------------------------------------------------------------- waiting and keyboard


def by() -> Any:
    """selenium's ``By``, imported only when a browser test runs."""
    from selenium.webdriver.common.by import By

    return By


def keys() -> Any:
    """selenium's ``Keys``, imported only when a browser test runs."""
    from selenium.webdriver.common.keys import Keys

    return Keys


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = 10, message: str = "") -> Any:
    """Wait until ``condition(driver)`` is truthy and return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message)


def focused(driver: Any) -> Any:
    """The element that has keyboard focus."""
    return driver.switch_to.active_element


def press(driver: Any, *keys: str) -> None:
    """Press keys on whatever has focus, as a keyboard user would (``Keys.TAB``, ``Keys.SPACE``, ...)."""
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver)
    for key in keys:
        actions.send_keys(key)
    actions.perform()


def tab_until(
    driver: Any, matches: Callable[[Any], bool], max_tabs: int = 80, backwards: bool = False
) -> Any:
    """Press Tab (or Shift+Tab) until the focused element satisfies ``matches``; return it.

    Fails with the list of elements visited, which doubles as a focus-order report.
    """
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    visited: list[str] = []
    for _ in range(max_tabs):
        if backwards:
            ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        else:
            press(driver, Keys.TAB)
        element = focused(driver)
        if matches(element):
            return element
        visited.append(describe(element))
    raise AssertionError(f"no matching element reached after {max_tabs} tabs; focus visited: {visited}")


def describe(element: Any) -> str:
    """A short human description of an element, for failure messages."""
    try:
        return element.parent.execute_script(
            "const e = arguments[0];"
            "const label = e.labels && e.labels.length ? e.labels[0].innerText"
            " : (e.getAttribute('aria-label') || e.innerText || e.value || '');"
            "return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')"
            " + (e.name ? '[name=' + e.name + ']' : '') + ' \"' + label.trim().slice(0, 40) + '\"';",
            element,
        )
    except Exception:
        return repr(element)


# --------------------------------------------------------------------------- axe-core


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


_RUN_AXE = """
const [tags, context, done] = arguments;
axe.run(context || document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
  .then(r => done({ok: true, violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, tags: v.tags,
      nodes: v.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary}))
  }))}))
  .catch(e => done({ok: false, error: String(e && e.stack || e)}));
"""


def axe_violations(
    driver: Any, tags: Sequence[str] = WCAG21AA, context: str | None = None
) -> list[dict[str, Any]]:
    """Run axe-core on the current page (or the CSS selector ``context``) and return its violations.

    axe is injected through WebDriver, which is not subject to the page's CSP.
    """
    if not driver.execute_script("return typeof window.axe === 'object' && !!window.axe.run"):
        driver.execute_script(_axe_source() + "\n;window.axe = window.axe || axe;")
    result = driver.execute_async_script(_RUN_AXE, list(tags), context)
    if not result or not result.get("ok"):
        raise RuntimeError(f"axe-core failed on {driver.current_url}: {result and result.get('error')}")
    return list(result["violations"])


def format_violations(violations: Sequence[dict[str, Any]], where: str = "") -> str:
    """Violations as readable text: rule, impact, what to do, and each offending element."""
    if not violations:
        return f"no accessibility violations{' on ' + where if where else ''}"
    count = sum(len(v["nodes"]) for v in violations)
    place = f" on {where}" if where else ""
    lines = [f"{len(violations)} accessibility rule(s) violated by {count} element(s){place}:"]
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact') or 'n/a'}): {v['help']}")
        lines.append(f"  {v['helpUrl']}")
        for node in v["nodes"]:
            target = " ".join(str(t) for t in node.get("target", []))
            html = " ".join(str(node.get("html", "")).split())
            lines.append(f"  * {target}")
            lines.append(f"    {html[:200]}")
            for summary_line in str(node.get("failureSummary") or "").splitlines():
                if summary_line.strip():
                    lines.append(f"      {summary_line.strip()}")
    return "\n".join(lines)


def _where(driver: Any) -> str:
    width = driver.execute_script("return window.innerWidth")
    return f"{driver.current_url} at {width}px"


def assert_no_axe_violations(driver: Any, tags: Sequence[str] = WCAG21AA, context: str | None = None) -> None:
    violations = axe_violations(driver, tags, context)
    assert not violations, format_violations(violations, _where(driver))


# --------------------------------------------------------------------------- reflow


_OVERFLOWING = """
const limit = window.innerWidth;
function scrollsInside(e) {
  for (let p = e.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p).overflowX;
    if (s === 'auto' || s === 'scroll' || s === 'hidden') return true;
  }
  return false;
}
const out = [];
for (const e of document.body.querySelectorAll('*')) {
  const r = e.getBoundingClientRect();
  if (r.right > limit + 0.5 && !scrollsInside(e)) {
    const cls = typeof e.className === 'string' && e.className.trim()
      ? '.' + e.className.trim().split(/\\s+/).join('.') : '';
    out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + cls + ' right=' + Math.round(r.right));
  }
  if (out.length >= 8) break;
}
return out;
"""


def horizontal_overflow(driver: Any) -> tuple[int, int]:
    """(document scrollWidth, window innerWidth) of the current page."""
    sw, iw = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    return int(sw), int(iw)


def assert_no_horizontal_scroll(driver: Any) -> None:
    """WCAG 1.4.10 Reflow: the page itself never scrolls sideways (wide tables scroll in their own region)."""
    scroll_width, inner_width = horizontal_overflow(driver)
    if scroll_width > inner_width:
        culprits = driver.execute_script(_OVERFLOWING)
        raise AssertionError(
            f"page scrolls horizontally on {driver.current_url}: scrollWidth {scroll_width} > "
            f"innerWidth {inner_width}; elements past the right edge: {culprits}"
        )
