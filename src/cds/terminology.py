"""Value sets and lab concepts loaded from YAML data files (``rules/valuesets/``).

Code lists never live in Python: a rule, a score or the fact builder asks
`Terminology` whether a coding belongs to a named value set. The file format is
documented in ``rules/valuesets/README.md``; in short, a file holds any of::

    systems:                      # code-system families and their URIs
      icd-10: {uris: [urn:oid:2.16.578.1.12.4.1.1.7110, http://hl7.org/fhir/sid/icd-10], normalise: icd-10}
    valuesets:
      - id: condition.heart-failure
        title: Heart failure
        source: "Quan 2005 (Charlson, ICD-10 coding)"
        include:
          - system: icd-10        # a family name or a URI
            codes:
              - {code: "I50*", display: Heart failure}   # '*' = prefix match
    labs:
      - id: haemoglobin
        ...                       # a value set plus a canonical unit and unit conversions

`Terminology.load(dir1, dir2, ...)` reads every ``*.yaml`` file of each
directory in name order. Later directories *add* codes to value sets of the same
id (site overrides); a value set defined twice in one directory is an error.
Every error names the file and line.

Matching: a coding's system is mapped to its family (so the Norwegian ICD-10
OID, WHO ICD-10 and ICD-10-CM all match an ``icd-10`` include), and codes are
normalised per family (ICD-10: upper case, dots and spaces removed). A coding
without a system matches nothing.

Example::

    >>> from pathlib import Path
    >>> t = Terminology.load(Path("rules/valuesets"))
    >>> t.contains("condition.heart-failure", {"system": "urn:oid:2.16.578.1.12.4.1.1.7110", "code": "I50.0"})
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["LabConcept", "TerminologyError", "Terminology", "UnitConversion", "coding_parts"]


_MEMBERSHIP_CACHE_SIZE = 100_000


class TerminologyError(Exception):
    """One or more value-set files are malformed; ``errors`` holds 'file:line: message' strings."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


# -- YAML with line numbers ---------------------------------------------------------


class _Located(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own line and each key's line (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    result = _Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest located mapping (or key) along a pydantic error location."""
    line = data.line if isinstance(data, _Located) else None
    node = data
    for part in loc:
        if isinstance(node, _Located) and isinstance(part, str):
            line = node.key_lines.get(part, node.line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, _Located):
                line = node.line
        else:
            break
    return line


# -- the file schema ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CodeEntry(_Strict):
    code: str = Field(min_length=1)
    display: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        # YAML reads SNOMED codes as ints; keep them as text
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _Include(_Strict):
    system: str = Field(min_length=1)
    codes: list[_CodeEntry] = Field(min_length=1)


class _ValueSetFile(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    title: str = Field(min_length=1)
    description: str | None = None
    source: str = Field(min_length=1, description="seed file:lines or publication the codes come from")
    include: list[_Include] = Field(min_length=1)


class UnitConversion(_Strict):
    """``canonical = value * factor + offset`` for a value reported in ``unit`` (UCUM code)."""

    unit: str = Field(min_length=1)
    factor: float
    offset: float = 0.0
    aliases: list[str] = Field(default_factory=list, description="non-UCUM spellings seen in real data")
    source: str | None = None


class _LabFile(_ValueSetFile):
    canonical_unit: str = Field(min_length=1)
    units: list[UnitConversion] = Field(min_length=1)


class _SystemFamily(_Strict):
    uris: list[str] = Field(min_length=1)
    normalise: str | None = Field(default=None, pattern=r"^(icd-10|upper)$")


class _File(_Strict):
    systems: dict[str, _SystemFamily] = Field(default_factory=dict)
    valuesets: list[_ValueSetFile] = Field(default_factory=list)
    labs: list[_LabFile] = Field(default_factory=list)


# -- the loaded terminology --------------------------------------------------------


@dataclass(frozen=True)
class LabConcept:
    """A laboratory concept: its value set id, canonical unit and the unit conversions it accepts."""

    id: str
    title: str
    canonical_unit: str
    conversions: Mapping[str, UnitConversion]
    source: str

    def to_canonical(self, value: float, unit: str | None) -> float | None:
        """The value in the canonical unit, or None when ``unit`` is missing or not listed."""
        if unit is None:
            return None
        conversion = self.conversions.get(unit.strip()) or self.conversions.get(unit.strip().lower())
        if conversion is None:
            return None
        return value * conversion.factor + conversion.offset

    def from_canonical(self, value: float, unit: str) -> float | None:
        """A canonical-unit value expressed in ``unit`` (the inverse of `to_canonical`), or None for an unknown unit."""
        conversion = self.conversions.get(unit.strip()) or self.conversions.get(unit.strip().lower())
        if conversion is None or conversion.factor == 0:
            return None
        return (value - conversion.offset) / conversion.factor

    def spellings_of(self, unit: str) -> frozenset[str]:
        """Every unit spelling with the same conversion as ``unit`` ('%' -> '%', '% Hb', '%{Hb}', ...)."""
        conversion = self.conversions.get(unit.strip()) or self.conversions.get(unit.strip().lower())
        return frozenset(k for k, c in self.conversions.items() if conversion is not None and c == conversion)


@dataclass
class _ValueSet:
    id: str
    title: str
    sources: list[str]
    exact: set[tuple[str, str]] = field(default_factory=set)
    prefixes: set[tuple[str, str]] = field(default_factory=set)
    displays: dict[tuple[str, str], str | None] = field(default_factory=dict)


def coding_parts(coding: Any) -> tuple[str | None, str | None]:
    """(system, code) of a FHIR Coding model, a snapshot Coding or a plain dict."""
    if isinstance(coding, Mapping):
        return coding.get("system"), coding.get("code")
    return getattr(coding, "system", None), getattr(coding, "code", None)


def _normalise(kind: str | None, code: str) -> str:
    code = code.strip()
    if kind == "icd-10":
        return code.upper().replace(".", "").replace(" ", "")
    if kind == "upper":
        return code.upper()
    return code


class Terminology:
    """Named value sets and lab concepts; `contains` decides membership of a coding."""

    def __init__(self) -> None:
        self._family_of_uri: dict[str, str] = {}
        self._normaliser: dict[str, str | None] = {}
        self._valuesets: dict[str, _ValueSet] = {}
        self._index: dict[tuple[str, str], set[str]] = {}
        self._prefix_index: list[tuple[str, str, str]] = []  # (family, prefix, valueset id)
        self._labs: dict[str, LabConcept] = {}
        self._membership_cache: dict[tuple[str, str], frozenset[str]] = {}
        self.files: list[Path] = []
        self.digest: str = self._compute_digest()

    # -- loading ---------------------------------------------------------------------
    @classmethod
    def load(cls, *dirs: Path | str) -> Terminology:
        """Load every ``*.yaml`` in each directory; later directories add codes to earlier value sets."""
        terminology = cls()
        errors: list[str] = []
        parsed: list[tuple[int, Path, _File, Any]] = []
        for layer, directory in enumerate(Path(d) for d in dirs):
            if not directory.is_dir():
                errors.append(f"{directory}: value-set directory not found")
                continue
            for path in sorted(directory.glob("*.yaml")):
                loaded = _read_file(path, errors)
                if loaded is not None:
                    parsed.append((layer, path, *loaded))
        for _layer, path, content, _raw in parsed:
            for name, family in content.systems.items():
                terminology._add_system(name, family, path, errors)
        seen: dict[tuple[int, str], Path] = {}
        for layer, path, content, raw in parsed:
            for index, vs in enumerate(content.valuesets):
                where = _where(path, raw, ("valuesets", index))
                terminology._add_valueset(vs, layer, where, seen, errors)
            for index, lab in enumerate(content.labs):
                where = _where(path, raw, ("labs", index))
                terminology._add_valueset(lab, layer, where, seen, errors)
                terminology._add_lab(lab, where, errors)
        if errors:
            raise TerminologyError(errors)
        terminology.files = [p for _, p, _, _ in parsed]
        terminology._build_index()
        terminology.digest = terminology._compute_digest()
        return terminology

    def _add_system(self, name: str, family: _SystemFamily, path: Path, errors: list[str]) -> None:
        if name in self._normaliser and self._normaliser[name] != family.normalise:
            errors.append(f"{path}: system family {name!r} redefined with another normalisation")
        self._normaliser[name] = family.normalise
        for uri in family.uris:
            other = self._family_of_uri.get(uri)
            if other is not None and other != name:
                errors.append(f"{path}: system URI {uri} belongs to both {other!r} and {name!r}")
            self._family_of_uri[uri] = name

    def _family(self, system_name: str) -> str:
        """Family of a system given in a value-set file (a family name or a URI)."""
        if system_name in self._normaliser:
            return system_name
        return self._family_of_uri.get(system_name, system_name)

    def _add_valueset(
        self, vs: _ValueSetFile, layer: int, where: str, seen: dict[tuple[int, str], Path], errors: list[str]
    ) -> None:
        if (layer, vs.id) in seen:
            errors.append(
                f"{where}: value set {vs.id!r} is defined twice in one directory (also in {seen[(layer, vs.id)]})"
            )
            return
        seen[(layer, vs.id)] = Path(where.split(":")[0])
        target = self._valuesets.get(vs.id)
        if target is None:
            target = self._valuesets[vs.id] = _ValueSet(id=vs.id, title=vs.title, sources=[])
        target.sources.append(vs.source)
        for include in vs.include:
            family = self._family(include.system)
            kind = self._normaliser.get(family)
            for entry in include.codes:
                if entry.code.endswith("*"):
                    stem = _normalise(kind, entry.code[:-1])
                    if not stem:
                        errors.append(f"{where}: a bare '*' would match every {include.system} code")
                        continue
                    target.prefixes.add((family, stem))
                else:
                    key = (family, _normalise(kind, entry.code))
                    target.exact.add(key)
                    target.displays.setdefault(key, entry.display)

    def _add_lab(self, lab: _LabFile, where: str, errors: list[str]) -> None:
        conversions: dict[str, UnitConversion] = {}
        for conversion in lab.units:
            for spelling in [conversion.unit, *conversion.aliases]:
                for key in {spelling, spelling.lower()}:
                    if key in conversions and conversions[key] != conversion:
                        errors.append(f"{where}: unit {spelling!r} listed twice for lab {lab.id!r}")
                    conversions[key] = conversion
        if lab.canonical_unit not in conversions:
            errors.append(
                f"{where}: canonical unit {lab.canonical_unit!r} of lab {lab.id!r} needs a units entry (factor 1)"
            )
        existing = self._labs.get(lab.id)
        if existing is not None:
            if existing.canonical_unit != lab.canonical_unit:
                errors.append(f"{where}: lab {lab.id!r} overrides the canonical unit {existing.canonical_unit!r}")
                return
            conversions = {**existing.conversions, **conversions}
        self._labs[lab.id] = LabConcept(
            id=lab.id, title=lab.title, canonical_unit=lab.canonical_unit, conversions=conversions, source=lab.source
        )

    def _build_index(self) -> None:
        for vs in self._valuesets.values():
            for key in vs.exact:
                self._index.setdefault(key, set()).add(vs.id)
            for family, stem in vs.prefixes:
                self._prefix_index.append((family, stem, vs.id))
        self._prefix_index.sort()

    def _compute_digest(self) -> str:
        content = {
            "systems": sorted((uri, fam, self._normaliser.get(fam)) for uri, fam in self._family_of_uri.items()),
            "valuesets": {
                vs_id: [sorted(vs.exact), sorted(vs.prefixes)] for vs_id, vs in sorted(self._valuesets.items())
            },
            "labs": {
                lab_id: [lab.canonical_unit, sorted((k, c.factor, c.offset) for k, c in lab.conversions.items())]
                for lab_id, lab in sorted(self._labs.items())
            },
        }
        return hashlib.sha256(orjson.dumps(content)).hexdigest()

    # -- queries ---------------------------------------------------------------------
    def valueset_ids(self, prefix: str = "") -> list[str]:
        """Ids of the loaded value sets (lab concepts included), sorted, optionally by prefix."""
        return sorted(v for v in self._valuesets if v.startswith(prefix))

    def has(self, value_set: str) -> bool:
        return value_set in self._valuesets

    def title(self, value_set: str) -> str:
        return self._require(value_set).title

    def sources(self, value_set: str) -> list[str]:
        return list(self._require(value_set).sources)

    def _require(self, value_set: str) -> _ValueSet:
        try:
            return self._valuesets[value_set]
        except KeyError:
            raise KeyError(f"unknown value set {value_set!r}") from None

    def _key(self, coding: Any) -> tuple[str, str] | None:
        system, code = coding_parts(coding)
        if not system or not code or not isinstance(system, str) or not isinstance(code, str):
            return None
        family = self._family_of_uri.get(system, system)
        return family, _normalise(self._normaliser.get(family), code)

    def memberships(self, coding: Any) -> frozenset[str]:
        """Every value set id the coding belongs to."""
        system, code = coding_parts(coding)
        if not isinstance(system, str) or not isinstance(code, str):
            return frozenset()
        return self.memberships_of(system, code)

    def memberships_of(self, system: str, code: str) -> frozenset[str]:
        """Every value set id that holds (system, code); cached, since a terminology never changes."""
        cached = self._membership_cache.get((system, code))
        if cached is not None:
            return cached
        key = self._key({"system": system, "code": code})
        found: set[str] = set()
        if key is not None:
            found.update(self._index.get(key, ()))
            family, normalised = key
            for fam, stem, vs_id in self._prefix_index:
                if fam == family and normalised.startswith(stem):
                    found.add(vs_id)
        result = frozenset(found)
        if len(self._membership_cache) >= _MEMBERSHIP_CACHE_SIZE:
            self._membership_cache.clear()
        self._membership_cache[(system, code)] = result
        return result

    def contains(self, value_set: str, coding: Any) -> bool:
        """True when the coding (system + code) is in the value set. Unknown value set -> KeyError."""
        self._require(value_set)
        return value_set in self.memberships(coding)

    def contains_any(self, value_set: str, codings: Iterable[Any]) -> bool:
        return any(self.contains(value_set, c) for c in codings)

    def first_match(self, value_set_prefix: str, codings: Iterable[Any]) -> str | None:
        """The first (sorted) value set id starting with the prefix that holds any of the codings."""
        hits: set[str] = set()
        for coding in codings:
            hits |= {v for v in self.memberships(coding) if v.startswith(value_set_prefix)}
        return min(hits) if hits else None

    def lab(self, concept: str) -> LabConcept:
        try:
            return self._labs[concept]
        except KeyError:
            raise KeyError(f"unknown lab concept {concept!r}") from None

    def lab_concepts(self) -> list[LabConcept]:
        return [self._labs[k] for k in sorted(self._labs)]

    def lab_concept_in(self, valueset_ids: Iterable[str]) -> LabConcept | None:
        """The lab concept among these value-set ids (first by id), or None."""
        hits = [v for v in valueset_ids if v in self._labs]
        return self._labs[min(hits)] if hits else None

    def lab_concept_of(self, codings: Iterable[Any]) -> LabConcept | None:
        """The lab concept whose value set holds one of the codings (first by id), or None."""
        hits: set[str] = set()
        for coding in codings:
            hits |= {v for v in self.memberships(coding) if v in self._labs}
        return self._labs[min(hits)] if hits else None

    def system_family(self, system: str | None) -> str | None:
        """The family name of a system URI ('icd-10', 'snomed', ...) or the URI itself."""
        if system is None:
            return None
        return self._family_of_uri.get(system, system)

    def __repr__(self) -> str:
        return f"Terminology({len(self._valuesets)} value sets, {len(self._labs)} labs, digest={self.digest[:12]})"


def _where(path: Path, raw: Any, loc: tuple[Any, ...]) -> str:
    line = _line_of(raw, loc)
    return f"{path}:{line}" if line else str(path)


def _read_file(path: Path, errors: list[str]) -> tuple[_File, Any] | None:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        errors.append(f"{path}{line}: YAML syntax error: {error.problem or error}")
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        errors.append(f"{path}: cannot read: {error}")
        return None
    if raw is None:
        return _File(), raw
    if not isinstance(raw, Mapping):
        errors.append(f"{path}:1: expected a mapping with 'valuesets', 'labs' and/or 'systems'")
        return None
    try:
        return _File.model_validate(raw), raw
    except ValidationError as error:
        for err in error.errors(include_url=False):
            loc = tuple(err["loc"])
            where = _where(path, raw, loc)
            dotted = ".".join(str(p) for p in loc)
            errors.append(f"{where}: {dotted}: {err['msg']}")
        return None
