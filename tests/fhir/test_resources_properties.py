"""ResourceSet never raises on odd input (property-based)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cds.fhir.resources import ENGINE_RESOURCE_TYPES, ResourceSet

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
resource_like = st.builds(
    lambda rtype, rid, body: {**body, "resourceType": rtype, **({"id": rid} if rid is not None else {})},
    st.sampled_from([*ENGINE_RESOURCE_TYPES, "Bundle", "Unknown", ""]),
    st.none() | st.text(max_size=10),
    st.dictionaries(
        st.sampled_from(["status", "code", "subject", "entry", "period", "valueQuantity", "class"]),
        json_values,
        max_size=4,
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(resource_like | json_values, max_size=6))
def test_any_json_input_gives_a_resource_set_without_raising(items: list[object]) -> None:
    rs = ResourceSet.from_json(items)
    assert len(rs) + len(rs.issues) + sum(rs.ignored.values()) >= 0
    for issue in rs.issues:
        assert len(issue.message) <= 300
