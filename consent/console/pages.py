"""The consent domain's console pages, named ``console.<endpoint>`` under ``/console`` like every console page."""

from __future__ import annotations

from app.staff.pages import ConsolePages

pages = ConsolePages("consent_console", "consent.console")
