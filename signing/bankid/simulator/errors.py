"""Errors the simulator answers with, in BankID's ``{"errorCode", "details"}`` shape.

The RP API uses BankID's own codes; the simulated phone app uses the same
shape with codes of its own (``qrCodeRejected``, ``personalNumberMismatch``, ...).
"""

from __future__ import annotations


class SimError(Exception):
    def __init__(self, status: int, error_code: str, details: str) -> None:
        super().__init__(f"{error_code}: {details}")
        self.status = status
        self.error_code = error_code
        self.details = details


def invalid(details: str) -> SimError:
    return SimError(400, "invalidParameters", details)


def already_in_progress() -> SimError:
    return SimError(400, "alreadyInProgress", "Order already in progress for pno")


NO_SUCH_ORDER = "No such order"

# errorCode and HTTP status of every documented RP API error, for fault injection and routing errors.
RP_ERRORS: dict[str, int] = {
    "alreadyInProgress": 400,
    "invalidParameters": 400,
    "unauthorized": 401,
    "notFound": 404,
    "methodNotAllowed": 405,
    "requestTimeout": 408,
    "unsupportedMediaType": 415,
    "internalError": 500,
    "maintenance": 503,
}
