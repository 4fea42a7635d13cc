"""Card-language labels of internal keys (``rules/codesystems/labels.yaml``), used by ``label(group, key)``.

Format::

    band:                     # a label group
      source: "where the wording comes from"
      labels:
        high: {nb: høy, en: high}

Score bands and model feature names are internal English keys; cards show
these texts instead.
"""

from __future__ import annotations

from pathlib import Path

import yaml

Labels = dict[str, dict[str, dict[str, str]]]  # group -> key -> language -> text


class LabelsError(Exception):
    pass


def load_labels(path: Path) -> Labels:
    """The labels of a file (empty when the file does not exist); raises `LabelsError`."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise LabelsError(f"cannot read the labels: {error}") from None
    if not isinstance(data, dict):
        raise LabelsError("expected a mapping of label groups")
    out: Labels = {}
    for group, body in data.items():
        if not isinstance(body, dict) or not isinstance(body.get("labels"), dict) or not body.get("source"):
            raise LabelsError(f"label group {group!r} needs 'source' and 'labels'")
        out[str(group)] = {}
        for key, text in body["labels"].items():
            if not isinstance(text, dict) or not all(isinstance(text.get(lang), str) and text[lang] for lang in ("nb", "en")):
                raise LabelsError(f"label {group}.{key} needs 'nb' and 'en' text")
            out[str(group)][str(key)] = {"nb": text["nb"], "en": text["en"]}
    return out
