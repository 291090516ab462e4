"""Signing: signature orders (``signing.services``, ``signing.bankid_flow``,
``signing.oidc_flow``), the BankID RP API v6 client and simulator
(``signing.bankid``), OIDC signing (``signing.oidc``) and the subject-facing
pages under ``/s/{token}`` (``signing.pages``, ``signing.pages_bankid``,
``signing.pages_oidc``, sharing ``signing.blueprint``)."""
