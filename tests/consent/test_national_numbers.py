"""National identity numbers of SE, NO, DK and FI: every test number is generated here from the
official algorithm (written independently of the code under test), valid and invalid."""

from __future__ import annotations

from datetime import date

import pytest

from consent import personal_numbers as pn

TODAY = date(2026, 12, 1)


# --- generators from the official algorithms ---------------------------------------------------

def se_number(yyyymmdd: str, serial: str) -> str:
    """Skatteverket: Luhn over YYMMDDNNN gives the tenth digit."""
    nine = yyyymmdd[2:] + serial
    total = 0
    for index, char in enumerate(nine):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value // 10 + value % 10
    return yyyymmdd + serial + str((10 - total % 10) % 10)


def no_number(ddmmyy: str, individual: str, k1_remainder: int = 0) -> str | None:
    """Skatteetaten: k1 and k2 by modulus 11 with weights 3 7 6 1 8 9 4 5 2 (1) and
    5 4 3 2 7 6 5 4 3 2 (1). Before 2032 the first sum must leave remainder 0; from 2032
    also 1, 2 or 3. None when no digit gives the wanted remainder (such numbers are not issued)."""
    nine = ddmmyy + individual
    w1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
    w2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    base = sum(w * int(d) for w, d in zip(w1, nine, strict=True))
    k1 = next((k for k in range(10) if (base + k) % 11 == k1_remainder), None)
    if k1 is None:
        return None
    ten = nine + str(k1)
    k2 = (11 - sum(w * int(d) for w, d in zip(w2, ten, strict=True)) % 11) % 11
    return None if k2 == 10 else ten + str(k2)


def no_numbers(ddmmyy: str, k1_remainder: int = 0, start: int = 0) -> list[str]:
    found = [no_number(ddmmyy, f"{i:03d}", k1_remainder) for i in range(start, start + 100)]
    return [number for number in found if number is not None]


def fi_number(ddmmyy: str, sign: str, individual: str) -> str:
    """DVV: the control character is DDMMYYZZZ mod 31 in 0123456789ABCDEFHJKLMNPRSTUVWXY."""
    return ddmmyy + sign + individual + "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(ddmmyy + individual) % 31]


def refused(value: str, country: str, **kwargs: object) -> str:
    with pytest.raises(pn.InvalidPersonalNumber) as info:
        pn.normalise(value, TODAY, country=country, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert value not in message and value.replace("-", "").replace(" ", "") not in message
    return message


# --- Sweden ------------------------------------------------------------------------------------

def test_swedish_personnummer_and_samordningsnummer() -> None:
    person = se_number("19850709", "980")
    coordination = se_number("19900161", "123")  # day 61 = 1 January
    assert pn.normalise(person[2:8] + "-" + person[8:], TODAY) == person
    assert pn.normalise(coordination, TODAY) == coordination
    assert pn.birth_date_of(coordination) == date(1990, 1, 1)
    assert pn.mask(person) == "19850709-****"
    wrong = person[:-1] + str((int(person[-1]) + 1) % 10)
    assert "check digit" in refused(wrong, "SE")


# --- Norway ------------------------------------------------------------------------------------

def test_norwegian_fodselsnummer_d_and_h_numbers() -> None:
    ordinary = no_numbers("150786")[0]  # individual < 500: 1900s
    d_number = no_numbers("550786")[0]  # day + 40
    h_number = no_numbers("154786")[0]  # month + 40
    child = no_numbers("010215", start=500)[0]  # individual 500-999 with year < 40: 2000s
    for number in (ordinary, d_number, h_number):
        assert pn.normalise(number[:6] + " " + number[6:], TODAY, country="NO") == number
        assert pn.birth_date_of(number, "NO") == date(1986, 7, 15)
    assert pn.normalise(child, TODAY, country="NO") == child
    assert pn.birth_date_of(child, "NO") == date(2015, 2, 1)
    assert pn.mask(ordinary, "NO") == "150786 *****"
    assert pn.word("NO") == "fødselsnummer"


def test_norwegian_check_digits_are_checked() -> None:
    number = no_numbers("150786")[0]
    wrong_k2 = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert "check digits" in refused(wrong_k2, "NO")
    # A first control sum leaving remainder 4 is wrong under every rule, old or 2032.
    beyond_2032 = no_numbers("150786", k1_remainder=4)[0]
    assert "check digits" in refused(beyond_2032, "NO")


def test_norwegian_numbers_of_the_2032_rule_are_accepted() -> None:
    for remainder in (1, 2, 3):
        number = no_numbers("150786", k1_remainder=remainder)[0]
        assert pn.normalise(number, TODAY, country="NO") == number
        # The individual number no longer says the century: the latest one not in the future.
        assert pn.birth_date_of(number, "NO") == date(1986, 7, 15)
    recent = no_numbers("010224", k1_remainder=2)[0]
    assert pn.birth_date_of(recent, "NO") == date(2024, 2, 1)


def test_norwegian_synthetic_numbers_only_outside_production() -> None:
    synthetic = no_numbers("158786")[0]  # month + 80 (Tenor, BankID test)
    synthetic_d = no_numbers("558786")[0]
    assert "synthetic" in refused(synthetic, "NO")
    assert pn.normalise(synthetic, TODAY, country="NO", test_numbers=True) == synthetic
    assert pn.normalise(synthetic_d, TODAY, country="NO", test_numbers=True) == synthetic_d
    assert pn.birth_date_of(synthetic, "NO") == date(1986, 7, 15)


def test_norwegian_impossible_and_future_dates_are_refused() -> None:
    assert "does not exist" in refused(no_numbers("300286")[0], "NO")
    assert "future" in refused(no_numbers("010130", start=500)[0], "NO")  # 2030


# --- Denmark -----------------------------------------------------------------------------------

def test_danish_cpr_is_date_checked_without_modulus_11() -> None:
    weights = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
    not_mod11 = next(
        f"211062{i:04d}" for i in range(1000, 2000)
        if sum(w * int(d) for w, d in zip(weights, f"211062{i:04d}", strict=True)) % 11
    )
    assert pn.normalise(not_mod11[:6] + "-" + not_mod11[6:], TODAY, country="DK") == not_mod11
    assert pn.birth_date_of(not_mod11, "DK") == date(1962, 10, 21)
    assert pn.birth_date_of("0102104000", "DK") == date(2010, 2, 1)  # seventh digit 4, year < 37
    assert pn.mask(not_mod11, "DK") == "211062-****"
    assert "does not exist" in refused("3002621234", "DK")
    assert "future" in refused("0101304000", "DK")  # 2030
    assert "Danish form" in refused("21106212345", "DK")


# --- Finland -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sign", "year"),
    [("+", 1885), ("-", 1985), ("Y", 1985), ("X", 1985), ("W", 1985), ("V", 1985), ("U", 1985),
     ("A", 2005), ("B", 2005), ("C", 2005), ("D", 2005), ("E", 2005), ("F", 2005)],
)
def test_finnish_henkilotunnus_with_every_century_sign(sign: str, year: int) -> None:
    number = fi_number(f"0107{year % 100:02d}", sign, "123")
    assert pn.normalise(number.lower(), TODAY, country="FI") == number
    assert pn.birth_date_of(number, "FI") == date(year, 7, 1)
    assert pn.mask(number, "FI") == number[:7] + "****"


def test_finnish_temporary_numbers_only_outside_production() -> None:
    temporary = fi_number("010785", "-", "923")
    assert "temporary" in refused(temporary, "FI")
    assert pn.normalise(temporary, TODAY, country="FI", test_numbers=True) == temporary


def test_finnish_wrong_control_character_and_date_are_refused() -> None:
    number = fi_number("010785", "-", "123")
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert "control character" in refused(wrong, "FI")
    assert "does not exist" in refused(fi_number("300285", "-", "123"), "FI")
    assert "not in use" in refused(fi_number("010785", "-", "001"), "FI")
    assert "future" in refused(fi_number("010130", "A", "123"), "FI")


# --- across countries --------------------------------------------------------------------------

def test_a_number_of_one_country_is_refused_for_another() -> None:
    swedish = se_number("19850709", "980")
    norwegian = no_numbers("150786")[0]
    finnish = next(n for i in range(2, 900) if (n := fi_number("010785", "-", f"{i:03d}"))[-1].isalpha())
    danish = next(f"150786{i:04d}" for i in range(1000, 2000) if not pn.is_valid(f"150786{i:04d}", TODAY))
    assert "Norwegian form" in refused(swedish, "NO")
    assert "Danish form" in refused(swedish, "DK")
    assert "Finnish form" in refused(norwegian, "FI")
    assert "Swedish form" in refused(norwegian, "SE")
    assert "Swedish form" in refused(finnish, "SE")
    assert "check digit" in refused(danish, "SE")
    assert "check digits" in refused(danish + "0", "NO") or "future" in refused(danish + "0", "NO")
    with pytest.raises(pn.InvalidPersonalNumber, match="unknown country"):
        pn.normalise(swedish, TODAY, country="IS")
    with pytest.raises(pn.InvalidPersonalNumber):
        pn.mask(swedish, "NO")


@pytest.mark.parametrize("country", pn.COUNTRIES)
def test_the_example_shown_on_forms_is_a_valid_number(country: str) -> None:
    assert pn.is_valid(pn.example(country), TODAY, country=country)


def test_the_foundation_names_the_same_countries() -> None:
    from app.config import IDENTITY_COUNTRIES

    assert IDENTITY_COUNTRIES == pn.COUNTRIES
