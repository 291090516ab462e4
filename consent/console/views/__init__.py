"""The consent domain's console pages, one module per page family; importing them records their routes on ``pages``."""

from consent.console.views import addenda, assets, consents, contacts, gdpr, persons, requests  # noqa: F401
