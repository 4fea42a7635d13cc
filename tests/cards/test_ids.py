"""Card and suggestion uuids made from bytes are the strings the `uuid` module gives."""

from __future__ import annotations

import uuid

import pytest

from cds.cards.ids import derived_uuid, namespace_bytes, random_uuid, random_uuids


@pytest.mark.parametrize("name", ["record-cfs", "book-follow-up", "", "æøå-ÆØÅ", "x" * 300])
def test_a_derived_uuid_is_uuid5_of_the_card_uuid_and_the_suggestion_id(name: str) -> None:
    for _ in range(50):
        card = uuid.uuid4()
        assert derived_uuid(namespace_bytes(str(card)), name) == str(uuid.uuid5(card, name))


def test_a_random_uuid_is_a_version_4_uuid_in_canonical_form_with_its_bytes() -> None:
    made = [random_uuid() for _ in range(2000)]
    assert len({text for text, _ in made}) == len(made)
    for text, raw in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed), parsed.bytes) == (4, uuid.RFC_4122, text, raw)


def test_random_uuids_made_together_are_distinct_version_4_uuids_with_their_bytes() -> None:
    made = [pair for _ in range(400) for pair in random_uuids(5)]
    assert len({text for text, _ in made}) == len(made) == 2000
    for text, raw in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed), parsed.bytes) == (4, uuid.RFC_4122, text, raw)
    assert random_uuids(0) == []


def test_a_card_uuid_is_read_in_every_form_uuid_reads_and_refused_otherwise() -> None:
    card = uuid.uuid4()
    for form in (str(card), str(card).upper(), "{" + str(card) + "}", card.urn, card.hex):
        assert namespace_bytes(form) == card.bytes
    with pytest.raises(ValueError):
        namespace_bytes("not-a-uuid")
