"""The project's API blueprint: flask-smorest's, reading JSON through the bounded parser, with one
decorator that both demands a route's OAuth2 scopes and documents them in /openapi.json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest

from app.auth import require_scope
from app.json_input import ArgumentsParser

F = TypeVar("F", bound=Callable[..., Any])


class Blueprint(flask_smorest.Blueprint):
    """``@blp.arguments`` parse JSON through :func:`app.json_input.loads`; ``@blp.requires_scope``
    guards an operation."""

    ARGUMENTS_PARSER = ArgumentsParser()

    def requires_scope(self, *scopes: str) -> Callable[[F], F]:
        """Authenticate the bearer token and demand every scope (:func:`app.auth.require_scope`), and
        list the same scopes as the operation's ``security`` requirement, so the two cannot drift.

        Put it right under ``@blp.route`` (or first on a MethodView's method): the token is checked
        before the body or query is parsed."""
        documented = self.doc(security=[{"oauth2": list(scopes)}])

        def decorator(view: F) -> F:
            # require_scope's wrapper copies the view's attributes, flask-smorest's docs among them.
            return require_scope(*scopes)(documented(view))

        return decorator
