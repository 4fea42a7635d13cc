"""The CDS Hooks wire models enforce the spec's card and request rules."""

from typing import Any

import pytest
from pydantic import ValidationError

from cds.hooks import models
from cds.hooks.models import Action, Card, Discovery, HookRequest, HookResponse, ServiceDescription, to_json_dict

SOURCE = {"label": "Frailty CDS"}


def test_summary_of_140_characters_is_refused():
    with pytest.raises(ValidationError):
        Card(summary="x" * 140, indicator="info", source=SOURCE)


def test_summary_of_139_characters_is_accepted():
    assert Card(summary="x" * 139, indicator="info", source=SOURCE).summary == "x" * 139


def test_suggestions_without_selection_behavior_are_refused():
    with pytest.raises(ValidationError, match="selectionBehavior"):
        Card(summary="s", indicator="info", source=SOURCE, suggestions=[{"label": "do it"}])


def test_at_most_one_allows_only_one_recommended_suggestion():
    with pytest.raises(ValidationError, match="at most one"):
        Card(
            summary="s",
            indicator="info",
            source=SOURCE,
            selectionBehavior="at-most-one",
            suggestions=[{"label": "a", "isRecommended": True}, {"label": "b", "isRecommended": True}],
        )


def test_delete_action_needs_resource_id_and_no_resource():
    with pytest.raises(ValidationError, match="delete"):
        Card(
            summary="s",
            indicator="info",
            source=SOURCE,
            selectionBehavior="any",
            suggestions=[{"label": "a", "actions": [{"type": "delete", "description": "d", "resource": {}}]}],
        )


def test_app_context_only_on_smart_links():
    with pytest.raises(ValidationError, match="appContext"):
        Card(
            summary="s",
            indicator="info",
            source=SOURCE,
            links=[{"label": "l", "url": "https://example.org", "type": "absolute", "appContext": "x"}],
        )


def test_empty_response_keeps_cards_and_drops_nothing_else_is_emitted():
    assert to_json_dict(HookResponse()) == {"cards": []}


def test_serialised_card_has_no_null_or_empty_members():
    card = Card(summary="s", indicator="info", source=SOURCE, extension={})
    data = to_json_dict(HookResponse(cards=[card]))
    assert set(data["cards"][0]) == {"uuid", "summary", "indicator", "source"}


def test_fhir_authorization_without_fhir_server_is_refused():
    with pytest.raises(ValidationError, match="fhirServer"):
        HookRequest(
            hook="patient-view",
            hookInstance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            context={"patientId": "p1", "userId": "Practitioner/1"},
            fhirAuthorization={
                "access_token": "secret", "token_type": "Bearer", "expires_in": 300,
                "scope": "patient/*.read", "subject": "cds",
            },
        )


def test_unknown_request_members_are_tolerated():
    req = HookRequest(
        hook="patient-view",
        hookInstance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        context={"patientId": "p1", "userId": "Practitioner/1", "somethingNew": 1},
        extension={"no.example.flag": True},
        unknownTopLevel="ok",
    )
    assert req.context["somethingNew"] == 1


def test_token_never_appears_in_repr():
    req = HookRequest(
        hook="patient-view",
        hookInstance="i",
        context={},
        fhirServer="https://fhir.example.org",
        fhirAuthorization={
            "access_token": "topsecret", "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "cds",
        },
    )
    assert "topsecret" not in repr(req.fhirAuthorization)


# ----------------------------------------------------------------------------- wire form held from construction on

TASK = {"resourceType": "Task", "for": {"reference": "Patient/p1"}}


def _empties(value: Any, path: str = "") -> list[str]:
    """Paths of null or empty values anywhere in a JSON value."""
    if value is None or value == "" or value == [] or value == {}:
        return [path or "(top)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empties(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _empties(v, f"{path}[{i}]")]
    return []


def test_a_free_form_object_is_stored_without_its_null_and_empty_members() -> None:
    resource = {"resourceType": "Task", "note": "", "code": {"text": None}, "input": [{}, []], "for": {"reference": "Patient/p1"}}
    action = Action(type="create", description="d", resource=resource)
    assert action.resource == TASK
    assert resource["note"] == "" and resource["code"] == {"text": None}  # the caller's object is not changed


def test_a_clean_free_form_object_is_stored_as_given() -> None:
    assert Action(type="create", description="d", resource=TASK).resource == TASK


def test_a_create_action_whose_resource_has_nothing_left_is_refused() -> None:
    with pytest.raises(ValidationError, match="carries a resource"):
        Action(type="create", description="d", resource={"note": "", "code": {}})


def test_an_empty_resource_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        Action(type="delete", description="d", resourceId=[""])


def test_an_extension_with_nothing_left_is_left_out() -> None:
    card = Card(summary="s", indicator="info", source=SOURCE, extension={"no.example": {"flag": None}})
    assert card.extension is None


def test_a_card_serialises_as_the_old_prune_walk_of_its_dump_gave_it() -> None:
    card = Card(
        summary="s",
        indicator="warning",
        source={"label": "l", "topic": {"system": "https://example.org/topics", "code": "t"}},
        selectionBehavior="any",
        suggestions=[{"label": "a", "isRecommended": False, "actions": [{"type": "create", "description": "d", "resource": {**TASK, "note": [""]}}]}],
        links=[{"label": "l", "url": "https://example.org", "type": "absolute"}],
        extension={"no.example": {"a": 1, "b": "", "c": [None]}},
    )
    data = to_json_dict(HookResponse(cards=[card]))
    assert data == models._prune(HookResponse(cards=[card]).model_dump(mode="json", exclude_none=True))
    assert _empties(data) == [] and data["cards"][0]["suggestions"][0]["isRecommended"] is False


SERVICE = {"hook": "patient-view", "id": "s", "description": "d"}
# A minimal valid instance of every response model; each must be listed here.
MINIMAL: dict[type, dict[str, Any]] = {
    models.Coding: {"code": "c"},
    models.OverrideReason: {"code": "c", "display": "d"},
    models.Source: {"label": "l"},
    models.Link: {"label": "l", "url": "https://example.org", "type": "absolute"},
    models.Action: {"type": "create", "description": "d", "resource": TASK},
    models.SystemAction: {"type": "create", "description": "d", "resource": TASK},
    models.Suggestion: {"label": "l"},
    models.Card: {"summary": "s", "indicator": "info", "source": SOURCE},
    models.HookResponse: {},
    models.ServiceDescription: SERVICE,
    models.Discovery: {"services": [SERVICE]},
}
EMPTIES: list[Any] = [None, "", [], {}, [""], [None], {"k": ""}, {"k": None}, {"k": {"j": []}}, [{}]]


def _wire_models() -> set[type]:
    found: set[type] = set()
    todo = list(models._Wire.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if not cls.__name__.startswith("_"):
            found.add(cls)
    return found


def test_every_response_model_has_a_minimal_example() -> None:
    assert set(MINIMAL) == _wire_models()


@pytest.mark.parametrize("model", sorted(MINIMAL, key=lambda m: m.__name__), ids=lambda m: m.__name__)
def test_no_response_model_field_ever_serialises_as_null_or_empty(model: type) -> None:
    """What the prune walk at serialisation used to ensure, each model ensures when it is built."""
    for field in model.model_fields:  # type: ignore[attr-defined]
        for empty in EMPTIES:
            try:
                instance = model.model_validate({**MINIMAL[model], field: empty})  # type: ignore[attr-defined]
            except ValidationError:
                continue
            data = to_json_dict(instance)
            if model is models.HookResponse and data == {"cards": []}:
                continue  # the one empty value the spec requires
            assert _empties(data) == [], (field, empty)


def test_discovery_without_services_is_refused() -> None:
    with pytest.raises(ValidationError):
        Discovery(services=[])
    assert to_json_dict(Discovery(services=[ServiceDescription(**SERVICE, prefetch={"patient": "Patient/{{context.patientId}}"})]))


def test_a_request_model_is_still_pruned_when_serialised() -> None:
    req = HookRequest(hook="patient-view", hookInstance="i", context={"patientId": "p1", "x": ""}, extension={})
    assert to_json_dict(req) == {"hook": "patient-view", "hookInstance": "i", "context": {"patientId": "p1"}}


def test_a_service_without_prefetch_templates_is_described_without_prefetch() -> None:
    assert "prefetch" not in to_json_dict(ServiceDescription(**SERVICE, prefetch={}))
    assert to_json_dict(ServiceDescription(**SERVICE, prefetch={"a": "", "b": "Patient/{{context.patientId}}"}))["prefetch"] == {
        "b": "Patient/{{context.patientId}}"
    }
