"""Imports every module that defines tables, so ``Base.metadata`` is complete
(for Alembic's autogenerate and the schema-drift test)."""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from app.db import Base

MODEL_MODULES = (
    "app.models",
    "app.audit",
    "consent.models",
    "signing.models",
    "signing.bankid.simulator.models",
    "reports.models",
    "consent.webhook_models",
)


def load_metadata() -> sa.MetaData:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
    return Base.metadata
