"""The dashboard's sections: each domain adds what it has to show on the console's home page.

A section is a template and a function that loads its data for the signed-in staff
member's tenant; the home page shows the sections the role may read, by ``position``
(then in the order added): what the DPO works with first, the machinery's health last.
Kept on the app, so the foundation's home page names no domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

_KEY = "staff.dashboard"

# (session, tenant id, now) -> what the section's template reads as ``section``
Loader = Callable[[Session, str, datetime], Any]


@dataclass(frozen=True)
class Section:
    template: str
    load: Loader
    permission: str
    position: int = 50


def add_section(
    app: Flask, template: str, load: Loader, permission: str = "console.read", *, position: int = 50
) -> None:
    app.extensions.setdefault(_KEY, []).append(Section(template, load, permission, position))


def sections(app: Flask) -> list[Section]:
    return sorted(app.extensions.get(_KEY, []), key=lambda section: section.position)
