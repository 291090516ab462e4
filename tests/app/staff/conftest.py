"""Staff sign-in, sessions, roles and the console's frame: the console's test world and the browser fixtures."""

from tests.browser import browser, live_url  # noqa: F401  (fixtures for the browser tests)
from tests.console_world import as_role, make_staff, seed  # noqa: F401  (fixtures)
