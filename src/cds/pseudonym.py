"""Keyed pseudonyms for patient identifiers.

The audit store never holds a patient's identifier (a fødselsnummer, a FHIR
logical id). It holds a *keyed pseudonym*: an HMAC-SHA256 of the identifier
under a secret key that only the service knows. The same patient under the same
key always gets the same pseudonym, so the quality team can count calls per
patient; without the key nobody can recompute a pseudonym from a known
identifier, unlike a plain hash, which anybody could compute for every
fødselsnummer there is.

>>> p = Pseudonymizer(b"a secret key of at least 16 bytes")
>>> p.pseudonym("Patient/123") == p.pseudonym("123")
True
>>> p.pseudonym("123").startswith("p_")
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "p_"
MIN_KEY_BYTES = 16  # 128 bits; shorter secrets are guessable


class Pseudonymizer:
    """Turns patient identifiers into stable keyed pseudonyms (``p_`` + base32 HMAC-SHA256).

    ``key`` is the secret (bytes, at least 16 of them). Identifiers are compared
    after trimming whitespace and dropping a leading ``Patient/``, so a FHIR
    reference and the bare logical id give the same pseudonym.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)):
            raise TypeError("the pseudonym key must be bytes")
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"the pseudonym key is {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self._key = bytes(key)

    def pseudonym(self, patient_id: str) -> str:
        """Return the pseudonym of ``patient_id``: ``p_`` followed by 52 lower-case base32 characters."""
        normalised = normalise_patient_id(patient_id)
        digest = hmac.new(self._key, normalised.encode("utf-8"), hashlib.sha256).digest()
        return PREFIX + base64.b32encode(digest).decode("ascii").rstrip("=").lower()

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymizer(key=<redacted>)"


def normalise_patient_id(patient_id: str) -> str:
    """Trim ``patient_id`` and drop a leading ``Patient/``; refuse an empty identifier."""
    if not isinstance(patient_id, str):
        raise TypeError("a patient identifier must be a string")
    value = patient_id.strip()
    if value.startswith("Patient/"):
        value = value[len("Patient/") :].strip()
    if not value:
        raise ValueError("a patient identifier must not be empty")
    return value
