"""A wire-compatible BankID RP API v6.0 simulator with a simulated phone app.

Orders live in the database (table ``bankid_sim_orders``) so every worker
process sees the same state; time comes from an injectable clock so tests can
walk an order through its timeouts without sleeping.

``register(app)`` serves it under ``/bankid-sim/`` (never in production).
"""

from signing.bankid.simulator.api import register

__all__ = ["register"]
