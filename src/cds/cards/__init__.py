"""Findings -> CDS Hooks cards (nb/en), suggestions as FHIR resources, card topics."""

from cds.cards.render import render_card, render_cards
from cds.cards.topics import TOPIC_SYSTEM

__all__ = ["TOPIC_SYSTEM", "render_card", "render_cards"]
