"""CFS interpretation: level names, bands, uncertainty near cut points, validity caveat."""

from __future__ import annotations

import pytest

from cds.rules.conditions import All, AnyOf, Compare, Cond, Not
from cds.rules.loader import CFS_FACT, cfs_splits
from cds.rules.ruleset import RuleSet
from cds.scores._data import load_yaml
from cds.scores.cfs import cfs_cut_points, interpret_cfs


@pytest.mark.parametrize(
    ("level", "name_en", "band"),
    [
        (1, "Very fit", "fit"),
        (2, "Fit", "fit"),
        (3, "Managing well", "fit"),
        (4, "Living with very mild frailty", "very-mild-frailty"),
        (5, "Living with mild frailty", "frail"),
        (6, "Living with moderate frailty", "frail"),
        (7, "Living with severe frailty", "frail"),
        (8, "Living with very severe frailty", "frail"),
        (9, "Terminally ill", "terminally-ill"),
    ],
)
def test_each_level_has_its_v2_name_and_band(level: int, name_en: str, band: str) -> None:
    result = interpret_cfs(level, 80)
    assert (result.name_en, result.band) == (name_en, band)


@pytest.mark.parametrize("level", range(1, 10))
def test_each_level_has_a_norwegian_name(level: int) -> None:
    assert interpret_cfs(level, 80).name_nb


@pytest.mark.parametrize(("level", "frail"), [(4, False), (5, True), (8, True), (9, False)])
def test_frail_band_edges_are_five_and_eight(level: int, frail: bool) -> None:
    assert interpret_cfs(level, 80).frail is frail


@pytest.mark.parametrize(
    ("level", "cut_points"),
    [
        (1, ()),
        (2, ()),
        (3, ()),
        (4, (5,)),
        (5, (5,)),
        (6, (7,)),
        (7, (7, 8)),
        (8, (8, 9)),
        (9, (9,)),
    ],
)
def test_level_within_one_of_a_cut_point_is_uncertain(level: int, cut_points: tuple[int, ...]) -> None:
    result = interpret_cfs(level, 80)
    assert tuple(c.at for c in result.uncertain_cut_points) == cut_points
    assert result.uncertain is bool(cut_points)


def test_sixty_four_year_old_gets_the_validity_caveat() -> None:
    result = interpret_cfs(5, 64)
    assert result.validity_caveat == "under-validated-age"
    assert result.caveat_nb and result.caveat_en


def test_sixty_five_year_old_has_no_caveat() -> None:
    assert interpret_cfs(5, 65).validity_caveat is None


def test_unknown_age_is_flagged_not_assumed_valid() -> None:
    assert interpret_cfs(5, None).validity_caveat == "age-unknown"


@pytest.mark.parametrize("level", [0, 10, -1])
def test_level_outside_one_to_nine_is_rejected(level: int) -> None:
    with pytest.raises(ValueError, match="1-9"):
        interpret_cfs(level, 80)


def test_interpretation_links_to_the_copyrighted_descriptions_instead_of_copying_them() -> None:
    assert interpret_cfs(3, 80).link.startswith("https://")


def test_decision_cut_points_are_the_ones_the_sources_set() -> None:
    """5 frail (000:2160-2162), < 7 geriatric selection (004:134-137), 8 with end-of-life signs, 9 terminally ill."""
    assert [(c.id, c.at) for c in cfs_cut_points()] == [
        ("frail", 5),
        ("geriatric-selection", 7),
        ("end-of-life-signs", 8),
        ("terminally-ill", 9),
    ]
    sources = {c.id: c.source for c in cfs_cut_points()}
    assert "000:2160-2162" in sources["frail"]
    assert "004:134-137" in sources["geriatric-selection"]
    assert "clinical-content.md section 1" in sources["end-of-life-signs"]
    assert "000:2178-2180" in sources["terminally-ill"]


def test_each_cut_point_label_takes_its_level_from_the_cut_point_in_both_languages() -> None:
    """Labels write the level as {at}, so a label cannot name another level than the one it decides at."""
    for raw in load_yaml("cfs.yaml")["cut_points"]:
        assert "{at}" in raw["en"] and "{at}" in raw["nb"], raw["id"]
    for cut in cfs_cut_points():
        assert str(cut.at) in cut.en and str(cut.at) in cut.nb, cut.id


def _cfs_splits(cond: Cond) -> set[int]:
    if isinstance(cond, Compare):
        return set(cfs_splits(cond)) if cond.expr.text == CFS_FACT else set()
    if isinstance(cond, (All, AnyOf)):
        return set().union(*(_cfs_splits(part) for part in cond.parts))
    if isinstance(cond, Not):
        return _cfs_splits(cond.part)
    return set()


def test_used_by_names_exactly_the_bundled_rules_that_decide_at_each_cut_point() -> None:
    from cds.quality.sources import default_rules_dir

    ruleset = RuleSet.load(default_rules_dir())
    deciding: dict[int, set[str]] = {}
    for rule in ruleset.rules:
        conditions = [rule.condition, *rule.suggestion_conditions.values()]
        for at in set().union(*(_cfs_splits(c) for c in conditions)):
            deciding.setdefault(at, set()).add(rule.id)
    table = {c["at"]: set(c["used_by"]) for c in load_yaml("cfs.yaml")["cut_points"]}
    assert deciding == table
