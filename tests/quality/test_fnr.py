"""Synthetic fødselsnummer: +80 month marker and valid mod-11 check digits."""

from __future__ import annotations

from datetime import date

from cds.quality.fnr import is_synthetic, is_valid_fnr, synthetic_fnr


def test_the_month_carries_the_plus_80_marker() -> None:
    assert synthetic_fnr(date(1938, 5, 17), 123)[2:4] == "85"


def test_check_digits_are_valid() -> None:
    assert all(is_valid_fnr(synthetic_fnr(date(1940 + i, 1 + i % 12, 1 + i % 28), i * 13)) for i in range(60))


def test_a_changed_digit_breaks_the_check() -> None:
    number = synthetic_fnr(date(1950, 3, 3), 42)
    tampered = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
    assert not is_valid_fnr(tampered)


def test_a_real_month_is_not_synthetic() -> None:
    number = synthetic_fnr(date(1950, 3, 3), 42)
    real_shape = number[:2] + "03" + number[4:9]
    assert not is_synthetic(real_shape + "00")


def test_births_after_2000_use_the_upper_individual_numbers() -> None:
    assert int(synthetic_fnr(date(2004, 2, 2), 0)[6:9]) >= 500
