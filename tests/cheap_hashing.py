"""Staff passwords hashed at argon2's lowest cost in tests (``argon2.profiles.CHEAPEST``).

Production pays ~0.2 s per hash on purpose; the suite hashes and checks passwords thousands
of times to test sign-in behaviour, not hash strength. Only the cost changes: the same
argon2id hasher creates, verifies and re-hashes, so every sign-in rule (wrong password,
lock-out, unknown e-mail) is still exercised. ``tests/conftest.py`` applies it to the test
process; servers a test starts in a subprocess apply it before they load the app.
"""

from __future__ import annotations


def use_cheapest_argon2() -> None:
    from argon2 import PasswordHasher, profiles

    from app.staff import accounts

    accounts._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    accounts._DUMMY_HASH = accounts._hasher.hash("not a real password")
