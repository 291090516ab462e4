"""Every table of the service, so ``Base.metadata`` is complete for Alembic's autogenerate and
the schema-drift test. Importing a models module is what registers its tables."""

from __future__ import annotations

import sqlalchemy as sa

import app.audit
import app.models
import consent.models
import consent.webhook_models
import reports.models
import signing.bankid.simulator.models
import signing.models
from app.db import Base

MODEL_MODULES = (
    app.models, app.audit, consent.models, consent.webhook_models, reports.models, signing.models,
    signing.bankid.simulator.models,
)


def load_metadata() -> sa.MetaData:
    return Base.metadata
