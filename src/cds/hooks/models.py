"""CDS Hooks 2.0.1 wire models: requests, responses, cards, feedback, discovery.

These models follow https://cds-hooks.hl7.org/2.0/ exactly: required fields are
required, enums are enums, and a response never contains ``null`` or an empty
string, array or object (except the top-level ``cards: []``). Use
`to_json_dict` to serialise a response model.

A response model holds its wire form from construction on, so serialising it
is one pass of pydantic's (Rust) serialiser and no walk over the result:
strings and arrays are refused when empty (``min_length``), and a free-form
JSON object (`WireObject`: a suggestion's FHIR resource, an ``extension``) is
stored without its null and empty members (`wire_object`), or as None when
nothing is left. Treat the models as immutable once built (the shared leaves -
`Coding`, `OverrideReason`, `Source`, `Link` - are frozen).

The cards a hook call serves are not built through these models on every
call: `cds.cards` validates each card's fixed structure with them once per
rule set and language, and checks what a call fills in (texts, suggestions)
itself, building the wire dicts directly (see `cds.cards.render`). The models
remain the specification of a card: the tests validate every card the
bundled rules render against `Card`, and the OpenAPI document is made from them.
"""

from __future__ import annotations

import uuid as _uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

SUMMARY_MAX = 140  # spec: "<140 characters"


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _has_empty(value: dict[str, Any] | list[Any] | tuple[Any, ...]) -> bool:
    """Whether a JSON object or array holds a null or empty member at any depth (a walk that builds nothing)."""
    for member in value.values() if isinstance(value, dict) else value:
        if isinstance(member, (dict, list, tuple)):
            if not member or _has_empty(member):
                return True
        elif member is None or member == "":
            return True
    return False


def _prune(value: Any) -> Any:
    """Drop None and empty strings, lists and dicts, recursively (new containers; the input is not changed)."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not _empty(v)}
    if isinstance(value, (list, tuple)):
        items = [_prune(v) for v in value]
        return [v for v in items if not _empty(v)]
    return value


def wire_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A free-form JSON object as the wire carries it: no null or empty members, None when nothing is left.

    Objects we build are usually clean already; they are checked, and copied
    (pruned) only when something has to go.
    """
    if not value:
        return None
    return (_prune(value) or None) if _has_empty(value) else value


# A free-form JSON object in a response (FHIR resource, extension): kept pruned, see the module docstring.
WireObject = Annotated[dict[str, Any] | None, AfterValidator(wire_object)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class _Wire(BaseModel):
    """Response-side model: strict, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _FrozenWire(_Wire):
    """Response-side model that cannot change after validation, so one instance can be shared."""

    model_config = ConfigDict(frozen=True)


class _Tolerant(BaseModel):
    """Request-side model: unknown members are tolerated (spec: extensibility)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ----------------------------------------------------------------------------- cards


class Indicator(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class SelectionBehavior(StrEnum):
    at_most_one = "at-most-one"
    any = "any"


class ActionType(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class LinkType(StrEnum):
    absolute = "absolute"
    smart = "smart"


class Coding(_FrozenWire):
    system: str | None = Field(default=None, min_length=1)
    code: str = Field(min_length=1)
    display: str | None = Field(default=None, min_length=1)


class OverrideReason(_FrozenWire):
    """An override reason: a Coding whose display is required by the spec."""

    system: str | None = Field(default=None, min_length=1)
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)


class Source(_FrozenWire):
    label: str = Field(min_length=1)
    url: AnyHttpUrl | None = None
    icon: AnyHttpUrl | None = None
    topic: Coding | None = None


class Link(_FrozenWire):
    label: str = Field(min_length=1)
    url: AnyHttpUrl
    type: LinkType
    appContext: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.appContext is not None and self.type is not LinkType.smart:
            raise ValueError("appContext is only allowed on links of type 'smart'")
        return self


class Action(_Wire):
    type: ActionType
    description: str = Field(min_length=1)
    resource: WireObject = None
    resourceId: list[NonEmptyStr] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _resource_matches_type(self) -> Action:
        if self.type is ActionType.delete:
            if self.resource is not None or not self.resourceId:
                raise ValueError("a delete action carries resourceId and no resource")
        elif self.resource is None:
            raise ValueError(f"a {self.type.value} action carries a resource")
        return self


class Suggestion(_Wire):
    label: str = Field(min_length=1)
    uuid: str | None = Field(default=None, min_length=1)
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Card(_Wire):
    uuid: str = Field(default_factory=lambda: str(_uuid.uuid4()), min_length=1)
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX - 1)
    detail: str | None = Field(default=None, min_length=1)
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: SelectionBehavior | None = None
    overrideReasons: list[OverrideReason] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)
    extension: WireObject = None

    @model_validator(mode="after")
    def _selection_rules(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        if self.selectionBehavior is SelectionBehavior.at_most_one and self.suggestions:
            if sum(1 for s in self.suggestions if s.isRecommended) > 1:
                raise ValueError("at most one suggestion may be recommended with selectionBehavior 'at-most-one'")
        return self


class SystemAction(Action):
    pass


class HookResponse(_Wire):
    cards: list[Card] = Field(default_factory=list)
    systemActions: list[SystemAction] | None = Field(default=None, min_length=1)


# ----------------------------------------------------------------------------- discovery


class ServiceDescription(_Wire):
    hook: str = Field(min_length=1)
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-.]+$")
    title: str | None = Field(default=None, min_length=1)
    description: str = Field(min_length=1)
    prefetch: Annotated[dict[str, str] | None, AfterValidator(wire_object)] = None  # pruned like `WireObject`
    usageRequirements: str | None = Field(default=None, min_length=1)
    extension: WireObject = None


class Discovery(_Wire):
    services: list[ServiceDescription] = Field(min_length=1)


# ----------------------------------------------------------------------------- requests


class FhirAuthorization(_Tolerant):
    access_token: str = Field(min_length=1)
    token_type: str = Field(min_length=1)
    expires_in: int
    scope: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, v: str) -> str:
        if v.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return v

    def __repr__(self) -> str:  # never show the token
        return f"FhirAuthorization(token_type={self.token_type!r}, scope={self.scope!r}, access_token=<redacted>)"

    __str__ = __repr__


class HookRequest(_Tolerant):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: AnyHttpUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization is given without fhirServer")
        return self


# ----------------------------------------------------------------------------- feedback


class FeedbackOutcome(StrEnum):
    accepted = "accepted"
    overridden = "overridden"


class AcceptedSuggestion(_Tolerant):
    id: str = Field(min_length=1)


class FeedbackOverrideReason(_Tolerant):
    reason: Coding | None = None
    userComment: str | None = None


class FeedbackItem(_Tolerant):
    card: str = Field(min_length=1)
    outcome: FeedbackOutcome
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: FeedbackOverrideReason | None = None
    outcomeTimestamp: str = Field(min_length=1)

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> FeedbackItem:
        if self.outcome is FeedbackOutcome.accepted and not self.acceptedSuggestions:
            raise ValueError("an 'accepted' outcome lists acceptedSuggestions")
        if self.outcome is FeedbackOutcome.overridden and self.acceptedSuggestions:
            raise ValueError("an 'overridden' outcome carries no acceptedSuggestions")
        return self


class FeedbackRequest(_Tolerant):
    feedback: list[FeedbackItem] = Field(min_length=1)


# ----------------------------------------------------------------------------- serialisation


def to_json_dict(model: BaseModel) -> dict[str, Any]:
    """Serialise a response model as CDS Hooks JSON: no nulls, no empty values.

    A response model (`_Wire`) is already in wire form, so leaving out its None
    fields is all there is to do; any other model is pruned after dumping.
    ``HookResponse`` keeps ``cards`` even when it is empty, as the spec requires.
    """
    data = model.model_dump(mode="json", exclude_none=True, by_alias=True)
    if not isinstance(model, _Wire):
        data = _prune(data)
    if isinstance(model, HookResponse):
        data.setdefault("cards", [])
    return data
