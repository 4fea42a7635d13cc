"""The CDS Hooks wire models enforce the spec's card and request rules."""

import pytest
from pydantic import ValidationError

from cds.hooks.models import Card, HookRequest, HookResponse, to_json_dict

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
