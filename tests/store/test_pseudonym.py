"""The keyed pseudonym: stable per patient and key, different per key, never the identifier itself."""

from __future__ import annotations

import pytest

from cds.pseudonym import Pseudonymizer

KEY = b"hospital-a-secret-key-0123456789"
OTHER_KEY = b"hospital-b-secret-key-9876543210"
INGRID = "12345678901"  # synthetic 11-digit identifier, not a real fødselsnummer


def test_same_patient_same_key_gives_the_same_pseudonym() -> None:
    assert Pseudonymizer(KEY).pseudonym(INGRID) == Pseudonymizer(KEY).pseudonym(INGRID)


def test_different_keys_give_different_pseudonyms() -> None:
    assert Pseudonymizer(KEY).pseudonym(INGRID) != Pseudonymizer(OTHER_KEY).pseudonym(INGRID)


def test_different_patients_give_different_pseudonyms() -> None:
    p = Pseudonymizer(KEY)
    assert p.pseudonym(INGRID) != p.pseudonym("12345678902")


def test_pseudonym_is_prefixed_and_does_not_contain_the_identifier() -> None:
    value = Pseudonymizer(KEY).pseudonym(INGRID)
    assert value.startswith("p_")
    assert INGRID not in value
    assert len(value) == 2 + 52  # base32 of a full SHA-256 digest, unpadded


def test_fhir_reference_and_bare_id_give_the_same_pseudonym() -> None:
    p = Pseudonymizer(KEY)
    assert p.pseudonym(f"Patient/{INGRID}") == p.pseudonym(f" {INGRID} ")


def test_pseudonym_is_the_documented_hmac_sha256() -> None:
    import base64
    import hashlib
    import hmac

    expected = "p_" + base64.b32encode(hmac.new(KEY, INGRID.encode(), hashlib.sha256).digest()).decode().rstrip("=").lower()
    assert Pseudonymizer(KEY).pseudonym(INGRID) == expected


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        Pseudonymizer(b"short")


def test_empty_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Pseudonymizer(KEY).pseudonym("Patient/ ")


def test_repr_does_not_show_the_key() -> None:
    assert KEY.decode() not in repr(Pseudonymizer(KEY))
