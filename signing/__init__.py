"""Signing: signature orders, the BankID RP API v6 client and simulator
(``signing.bankid``), OIDC signing (``signing.oidc``) and the subject-facing
pages under ``/s/{token}`` (``signing.pages``)."""
