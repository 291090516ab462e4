"""How a domain adds pages to the console: under the console's names, in the console's frame.

Every console page is named ``console.<endpoint>`` and served under ``/console``,
whichever domain owns it, so the console's context, error pages and links work the
same on all of them. Flask gives a name prefix only to one blueprint, so a domain
records its pages here, as it would on a blueprint, and :meth:`ConsolePages.register`
adds them to the app under that prefix (with the domain's own template folder).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask

from app.staff.blueprint import NAME, PREFIX

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Page:
    rule: str
    endpoint: str
    view: Callable[..., Any]
    methods: tuple[str, ...]


class ConsolePages:
    """One domain's console pages, recorded with :meth:`route` and added to an app by :meth:`register`."""

    def __init__(self, name: str, import_name: str, template_folder: str = "templates") -> None:
        # A blueprint without routes: Flask finds the domain's templates through it.
        self._templates = Blueprint(name, import_name, template_folder=template_folder)
        self._pages: list[_Page] = []

    def route(self, rule: str, *, endpoint: str | None = None, methods: Sequence[str] = ("GET",)) -> Callable[[F], F]:
        """``/console`` + ``rule`` answers with the view, named ``console.<endpoint>`` (the view's name by default)."""

        def decorator(view: F) -> F:
            self._pages.append(_Page(PREFIX + rule, endpoint or view.__name__, view, tuple(methods)))
            return view

        return decorator

    def register(self, app: Flask) -> None:
        app.register_blueprint(self._templates)
        for page in self._pages:
            app.add_url_rule(page.rule, f"{NAME}.{page.endpoint}", page.view, methods=list(page.methods))
