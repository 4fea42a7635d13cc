"""Card and suggestion uuids as strings: a random one per card (version 4), one per suggestion derived
from the card uuid and the suggestion id (version 5), so feedback can name the suggestion.

The same strings as ``str(uuid.uuid4())`` and ``str(uuid.uuid5(uuid.UUID(card_uuid), id))``, made
straight from the bytes: a call renders several of them, and building `uuid.UUID` objects only to
print them cost more than the rest of a small card.
"""

from __future__ import annotations

import hashlib
import os
import uuid


def _formatted(raw: bytearray, version: int) -> str:
    """RFC 4122 text of 16 bytes, with the version and the variant bits set (as `uuid.UUID` sets them)."""
    raw[6] = (raw[6] & 0x0F) | (version << 4)
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def random_uuid() -> tuple[str, bytes]:
    """A new random uuid (version 4) as ``str(uuid.uuid4())`` gives it, and its 16 bytes (see `derived_uuid`)."""
    return random_uuids(1)[0]


def random_uuids(count: int) -> list[tuple[str, bytes]]:
    """``count`` new random uuids as `random_uuid` gives them, from one read of the system's random source."""
    raw = os.urandom(16 * count)
    made = []
    for start in range(0, 16 * count, 16):
        chunk = bytearray(raw[start : start + 16])
        text = _formatted(chunk, 4)
        made.append((text, bytes(chunk)))
    return made


def namespace_bytes(card_uuid: str) -> bytes:
    """The 16 bytes of a card uuid in any form `uuid.UUID` reads; raises ValueError when it is not one."""
    return uuid.UUID(card_uuid).bytes


def derived_uuid(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` for a namespace given as its 16 bytes (see `namespace_bytes`)."""
    return _formatted(bytearray(hashlib.sha1(namespace + name.encode("utf-8")).digest()[:16]), 5)
