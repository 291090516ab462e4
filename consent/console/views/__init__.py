"""The consent domain's console pages, one module per page family; importing them records their routes on ``pages``."""

from consent.console.views import (  # noqa: F401
    addenda,
    assets,
    consents,
    contacts,
    gdpr,
    objections,
    persons,
    requests,
)
