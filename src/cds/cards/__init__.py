"""Findings -> CDS Hooks cards (nb/en, as CDS Hooks JSON), suggestions as FHIR resources, card topics."""

from cds.cards.render import WireCard, render_card, render_cards
from cds.cards.topics import TOPIC_SYSTEM

__all__ = ["TOPIC_SYSTEM", "WireCard", "render_card", "render_cards"]
