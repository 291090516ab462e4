"""Errors of the BankID RP API v6.0, one class per documented ``errorCode``.

Each carries the code, BankID's ``details`` and the key of the recommended user
message (RFA) the UI should show. Codes that mean a fault in our own requests
(invalidParameters, unauthorized, notFound, methodNotAllowed,
unsupportedMediaType) must not be shown as a BankID error, so the user gets the
generic RFA22; the RP logs ``details``.
"""

from __future__ import annotations


class BankIdError(Exception):
    error_code: str = "unknown"
    rfa: str = "RFA22"
    http_status: int | None = None
    # maintenance: BankID allows a silent retry before telling the user.
    retryable: bool = False

    def __init__(self, details: str = "", *, error_code: str | None = None, http_status: int | None = None) -> None:
        if error_code is not None:
            self.error_code = error_code
        if http_status is not None:
            self.http_status = http_status
        self.details = details
        super().__init__(f"{self.error_code}: {details}" if details else self.error_code)


class AlreadyInProgress(BankIdError):
    error_code, rfa, http_status = "alreadyInProgress", "RFA4", 400


class InvalidParameters(BankIdError):
    error_code, rfa, http_status = "invalidParameters", "RFA22", 400


class Unauthorized(BankIdError):
    error_code, rfa, http_status = "unauthorized", "RFA22", 401


class NotFound(BankIdError):
    error_code, rfa, http_status = "notFound", "RFA22", 404


class MethodNotAllowed(BankIdError):
    error_code, rfa, http_status = "methodNotAllowed", "RFA22", 405


class RequestTimeout(BankIdError):
    error_code, rfa, http_status = "requestTimeout", "RFA5", 408


class UnsupportedMediaType(BankIdError):
    error_code, rfa, http_status = "unsupportedMediaType", "RFA22", 415


class InternalError(BankIdError):
    error_code, rfa, http_status = "internalError", "RFA5", 500


class Maintenance(BankIdError):
    error_code, rfa, http_status, retryable = "maintenance", "RFA5", 503, True


class TransportError(BankIdError):
    """No usable answer: connection refused, TLS failure, timeout, or a body that is not BankID's JSON."""

    error_code, rfa = "transportError", "RFA5"


ERROR_CLASSES: dict[str, type[BankIdError]] = {
    cls.error_code: cls
    for cls in (
        AlreadyInProgress,
        InvalidParameters,
        Unauthorized,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        UnsupportedMediaType,
        InternalError,
        Maintenance,
    )
}


def error_for(error_code: str, details: str = "", http_status: int | None = None) -> BankIdError:
    """The exception for an ``{"errorCode", "details"}`` answer; unknown codes keep their code, RFA22."""
    cls = ERROR_CLASSES.get(error_code)
    if cls is None:
        return BankIdError(details, error_code=error_code, http_status=http_status)
    return cls(details, http_status=http_status)


def rfa_for_error(error_code: str) -> str:
    cls = ERROR_CLASSES.get(error_code)
    if cls is not None:
        return cls.rfa
    return TransportError.rfa if error_code == TransportError.error_code else "RFA22"
