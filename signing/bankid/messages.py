"""BankID's recommended user messages (RFA1–RFA23) and which one to show.

The English official texts are the gettext msgids; the official Swedish texts
and our Norwegian Bokmål translations are in ``messages_sv_nb.json`` for the
catalogs. The table is built with ``lazy_gettext`` so it translates in the
locale of the request that reads it.
"""

from __future__ import annotations

from typing import Literal

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from signing.bankid.errors import ERROR_CLASSES, TransportError, rfa_for_error

Device = Literal["same", "other"]

RFA: dict[str, LazyString] = {
    "RFA1": _l("Start your BankID app."),
    "RFA2": _l("The BankID app is not installed. Please contact your bank."),
    "RFA3": _l("Action cancelled. Please try again."),
    "RFA4": _l("An identification or signing for this personal number is already started. Please try again."),
    "RFA5": _l("Internal error. Please try again."),
    "RFA6": _l("Action cancelled."),
    "RFA8": _l(
        "The BankID app is not responding. Please check that it’s started and that you have internet "
        "access. If you don’t have a valid BankID you can get one from your bank. Try again."
    ),
    "RFA9": _l("Enter your security code in the BankID app and select Identify or Sign."),
    "RFA13": _l("Trying to start your BankID app."),
    "RFA14A": _l(
        "Searching for BankID, it may take a little while … If a few seconds have passed and still no "
        "BankID has been found, you probably don’t have a BankID which can be used for this "
        "identification/signing on this computer. If you have a BankID card, please insert it into your "
        "card reader. If you don’t have a BankID you can get one from your bank. If you have a BankID on "
        "another device you can start the BankID app on that device."
    ),
    "RFA14B": _l(
        "Searching for BankID, it may take a little while … If a few seconds have passed and still no "
        "BankID has been found, you probably don’t have a BankID which can be used for this "
        "identification/signing on this device. If you don’t have a BankID you can get one from your "
        "bank. If you have a BankID on another device you can start the BankID app on that device."
    ),
    "RFA15A": _l(
        "Searching for BankID:s, it may take a little while … If a few seconds have passed and still no "
        "BankID has been found, you probably don’t have a BankID which can be used for this "
        "identification/signing on this computer. If you have a BankID card, please insert it into your "
        "card reader. If you don’t have a BankID you can get one from your bank."
    ),
    "RFA15B": _l(
        "Searching for BankID, it may take a little while … If a few seconds have passed and still no "
        "BankID has been found, you probably don’t have a BankID which can be used for this "
        "identification/signing on this device. If you don’t have a BankID you can get one from your "
        "bank."
    ),
    "RFA16": _l(
        "The BankID you are trying to use is blocked or too old. Please use another BankID or get a new "
        "one from your bank."
    ),
    "RFA17A": _l(
        "The BankID app couldn’t be found on your computer or mobile device. Please install it and get a "
        "BankID from your bank. Install the app from your app store or https://install.bankid.com."
    ),
    "RFA17B": _l(
        "Failed to scan the QR code. Start the BankID app and scan the QR code. Check that the BankID app"
        " is up to date. If you don't have the BankID app, you need to install it and get a BankID from "
        "your bank. Install the app from your app store or https://install.bankid.com."
    ),
    "RFA18": _l("Start the BankID app."),
    "RFA19": _l("Would you like to identify yourself or sign with a BankID on this computer, or with a Mobile BankID?"),
    "RFA20": _l(
        "Would you like to identify yourself or sign with a BankID on this device or with a BankID on another device?"
    ),
    "RFA21": _l("Identification or signing in progress."),
    "RFA22": _l("Unknown error. Please try again."),
    "RFA23": _l("Process your machine-readable travel document using the BankID app."),
}

# Failed orders; startFailed depends on how the app was to be started.
_FAILED = {
    "expiredTransaction": "RFA8",
    "certificateErr": "RFA16",
    "userCancel": "RFA6",
    "cancelled": "RFA3",
    # No official text; the user said no in the app, which reads as their own cancel.
    "userDeclinedCall": "RFA6",
}


def rfa_key(
    code: str | None,
    status: str,
    device: Device = "other",
    *,
    mobile: bool | None = None,
    token_start: bool = True,
) -> str | None:
    """The RFA key for a collect answer (hintCode + status) or an errorCode; None for ``complete``.

    ``device``: "same" when the app is started with the autostart token on this
    device, "other" when the user scans the QR code. ``mobile``: the browser is on
    a phone or tablet (A/B variants); by default a same-device user is taken to be
    on a phone and a QR user on a computer. ``token_start``: False for phone
    orders, where the app finds the order by personal number.
    """
    if code is not None and (code in ERROR_CLASSES or code == TransportError.error_code or status == "error"):
        return rfa_for_error(code)
    if status == "complete":
        return None
    on_mobile = (device == "same") if mobile is None else mobile
    if status == "failed":
        if code == "startFailed":
            return "RFA17B" if device == "other" else "RFA17A"
        # notSupportedByUserApp, transactionRiskBlocked and unknown codes: BankID's generic RFA22.
        return _FAILED.get(code or "", "RFA22")
    # pending
    if code == "outstandingTransaction":
        return "RFA13" if device == "same" else "RFA1"
    if code == "noClient":
        return "RFA1"
    if code == "started":
        if token_start:
            return "RFA14B" if on_mobile else "RFA14A"
        return "RFA15B" if on_mobile else "RFA15A"
    if code == "userSign":
        return "RFA9"
    if code == "userMrtd":
        return "RFA23"
    # userCallConfirm has no official text; BankID's rule for the rest is RFA21.
    return "RFA21"


def rfa_message(key: str) -> str:
    return str(RFA[key])


def user_message(
    code: str | None,
    status: str,
    device: Device = "other",
    *,
    mobile: bool | None = None,
    token_start: bool = True,
) -> str:
    """BankID's recommended message, translated; "" for a complete order (BankID has no text for it)."""
    key = rfa_key(code, status, device, mobile=mobile, token_start=token_start)
    return "" if key is None else rfa_message(key)
