"""The card-topic code system (``rules/codesystems/card-topic.yaml``): what each card is about."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

TOPIC_SYSTEM = "https://fhir.cds-frailty.no/CodeSystem/card-topic"


@dataclass(frozen=True)
class Topic:
    code: str
    display_nb: str
    display_en: str
    definition: str

    def display(self, language: str) -> str:
        return self.display_nb if language == "nb" else self.display_en


class TopicError(Exception):
    pass


def load_topics(path: Path) -> tuple[str, dict[str, Topic]]:
    """(code-system url, code -> Topic) from the code-system file; raises `TopicError` with a message."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise TopicError(f"cannot read the card-topic code system: {error}") from None
    try:
        url = data["url"]
        topics = {
            c["code"]: Topic(c["code"], c["display"]["nb"], c["display"]["en"], c["definition"]) for c in data["concepts"]
        }
    except (TypeError, KeyError) as error:
        raise TopicError(f"malformed card-topic code system (missing {error})") from None
    return url, topics
