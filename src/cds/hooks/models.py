"""CDS Hooks 2.0.1 wire models: requests, responses, cards, feedback, discovery.

These models follow https://cds-hooks.hl7.org/2.0/ exactly: required fields are
required, enums are enums, and a response never contains ``null`` or an empty
string, array or object (except the top-level ``cards: []``). Use
`to_json_dict` to serialise a response model; it enforces that rule.
"""

from __future__ import annotations

import uuid as _uuid
from enum import StrEnum
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

SUMMARY_MAX = 140  # spec: "<140 characters"


class _Wire(BaseModel):
    """Response-side model: strict, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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


class Coding(_Wire):
    system: str | None = Field(default=None, min_length=1)
    code: str = Field(min_length=1)
    display: str | None = Field(default=None, min_length=1)


class OverrideReason(_Wire):
    """An override reason: a Coding whose display is required by the spec."""

    system: str | None = Field(default=None, min_length=1)
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)


class Source(_Wire):
    label: str = Field(min_length=1)
    url: AnyHttpUrl | None = None
    icon: AnyHttpUrl | None = None
    topic: Coding | None = None


class Link(_Wire):
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
    resource: dict[str, Any] | None = None
    resourceId: list[str] | None = Field(default=None, min_length=1)

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
    extension: dict[str, Any] | None = None

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
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = Field(default=None, min_length=1)
    extension: dict[str, Any] | None = None


class Discovery(_Wire):
    services: list[ServiceDescription]


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


def _prune(value: Any) -> Any:
    """Drop None and empty strings, lists and dicts, recursively."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != "" and v != [] and v != {}}
    if isinstance(value, list):
        items = [_prune(v) for v in value]
        return [v for v in items if v is not None and v != "" and v != [] and v != {}]
    return value


def to_json_dict(model: BaseModel) -> dict[str, Any]:
    """Serialise a response model as CDS Hooks JSON: no nulls, no empty values.

    ``HookResponse`` keeps ``cards`` even when it is empty, as the spec requires.
    """
    data = _prune(model.model_dump(mode="json", exclude_none=True))
    if isinstance(model, HookResponse):
        data.setdefault("cards", [])
    return data
