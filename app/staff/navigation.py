"""The console's main navigation: each domain adds its entries when it registers with the app.

Entries are kept on the app (not in a module-level list), in the order added, and
shown to a staff member whose role holds the entry's permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

_KEY = "staff.navigation"


@dataclass(frozen=True)
class Entry:
    key: str  # what a page passes as ``active`` to mark its entry as the current one
    label: Any  # lazy_gettext, translated when shown
    endpoint: str
    permission: str


def add(app: Flask, key: str, label: Any, endpoint: str, permission: str) -> None:
    app.extensions.setdefault(_KEY, []).append(Entry(key, label, endpoint, permission))


def entries(app: Flask) -> list[Entry]:
    return list(app.extensions.get(_KEY, []))
