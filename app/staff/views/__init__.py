"""Console pages, one module per page family; importing them attaches their routes to ``bp``."""

from app.console.views import (  # noqa: F401
    addenda,
    assets,
    audit,
    auth,
    consents,
    contacts,
    dashboard,
    gdpr,
    persons,
    requests,
)
