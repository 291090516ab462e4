"""BankID (Swedish mobile BankID) for signing: the RP API v6.0 client, the
animated QR code, BankID's recommended user messages, and a wire-compatible
simulator (``signing.bankid.simulator``) that is the embedded default."""
