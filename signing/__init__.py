"""Signing: signature orders (``signing.services``, ``signing.bankid_flow``,
``signing.oidc_flow``) on the domain's clock (``signing.clock``), the BankID RP
API v6 client, its factory and simulator (``signing.bankid``), OIDC signing
(``signing.oidc``), the subject-facing pages under ``/s/{token}``
(``signing.pages``) and the domain's part of a person's export and erasure
(``signing.gdpr``)."""
