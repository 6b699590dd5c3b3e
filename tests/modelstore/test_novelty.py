import math

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.model_selection import KFold

from modelstore.ml.data import load_dataset
from modelstore.ml.novelty import (
    FAST_ROWS, TARGET_RATE, _looked_up, rarity_fast_tables, rarity_fit, rarity_reason, rarity_scores, rarity_unusual,
)
from modelstore.schema import FEATURES, SETUP_FEATURES

SETUP_A = list(SETUP_FEATURES["A"])
LEARNED = "of the 395 students the model learned from"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return load_dataset()[SETUP_A]


@pytest.fixture(scope="module")
def state(rows) -> dict:
    return rarity_fit(rows)


def _columns(records: list[dict]) -> dict[str, np.ndarray]:
    return {name: np.array([record[name] for record in records], dtype=object) for name in records[0]}


def _rarest(rows: pd.DataFrame, name: str):
    """The allowed category value fewest training rows share; the int value of the sparser training extreme."""
    feature, column = FEATURES[name], rows[name]
    if feature.kind == "category":
        return min(feature.choices, key=lambda value: (column == value).sum())
    low, high = column.min(), column.max()
    return int(low if (column == low).sum() < (column == high).sum() else high)


def _typical(rows: pd.DataFrame, name: str):
    if FEATURES[name].kind == "category":
        return rows[name].mode().iloc[0]
    return int(rows[name].median())


def test_held_out_rows_are_flagged_at_about_the_target_rate(rows):
    flagged = 0
    for train, test in KFold(10, shuffle=True, random_state=1).split(rows):
        unusual, _ = rarity_unusual(rarity_fit(rows.iloc[train]), _columns(rows.iloc[test].to_dict("records")))
        flagged += int(unusual.sum())
    assert 0.005 <= flagged / len(rows) <= 0.05


def test_out_of_fold_rate_is_near_the_target(state):
    assert state["target_rate"] == TARGET_RATE
    assert abs(state["cv_rate"] - TARGET_RATE) < 0.01
    assert state["n"] == 395 and state["attributes"] == SETUP_A


def test_threshold_is_the_quantile_of_out_of_fold_scores(rows):
    state = rarity_fit(rows, folds=5, random_state=3)
    held_out = np.empty(len(rows))
    for train, test in KFold(5, shuffle=True, random_state=3).split(rows):
        fold_state = rarity_fit(rows.iloc[train], folds=2)
        held_out[test] = rarity_scores(fold_state, _columns(rows.iloc[test].to_dict("records")))[0]
    assert state["threshold"] == pytest.approx(np.quantile(held_out, 1 - TARGET_RATE))
    assert state["cv_rate"] == pytest.approx(np.mean(held_out > state["threshold"]))
    # Scored in-sample, each row counts itself: the rows look more typical than the held-out ones did.
    in_sample, _ = rarity_scores(state, _columns(rows.to_dict("records")))
    assert np.quantile(in_sample, 1 - TARGET_RATE) < state["threshold"]


def test_an_obviously_odd_record_is_flagged_with_reasons_in_words(rows, state):
    odd = {name: _rarest(rows, name) for name in SETUP_A}
    assert (odd["age"], odd["absences"], odd["Medu"]) == (22, 75, 0)
    unusual, reasons = rarity_unusual(state, _columns([odd]))
    assert unusual.tolist() == [True]
    # Three attributes tie as rarest (p = 4 / 396); ties keep the schema's order.
    assert reasons[0] == [
        f"age: 22 (only 1 {LEARNED} was 22 or older)",
        f"school absences: 75 (only 1 {LEARNED} had as many or more)",
        f"first period grade: 3 (only 1 {LEARNED} had a grade this low or lower)",
    ]


def test_reasons_are_the_rarest_attributes_rarest_first(rows, state):
    odd = {name: _rarest(rows, name) for name in SETUP_A}
    _, p_values = rarity_scores(state, _columns([odd]))
    rarest = [SETUP_A[j] for j in np.argsort(p_values[0], kind="stable")[:3]]
    _, reasons = rarity_unusual(state, _columns([odd]))
    assert [reason.split(":")[0] for reason in reasons[0]] == [
        rarity_reason(state, name, odd[name]).split(":")[0] for name in rarest
    ]


def test_a_typical_record_is_not_flagged(rows, state):
    typical = {name: _typical(rows, name) for name in SETUP_A}
    unusual, reasons = rarity_unusual(state, _columns([typical]))
    assert unusual.tolist() == [False] and reasons == [[]]
    scores, _ = rarity_scores(state, _columns([typical]))
    assert scores[0] < state["threshold"] / 4


def test_only_attributes_below_five_percent_are_reasons(rows, state):
    record = {name: _typical(rows, name) for name in SETUP_A} | {"age": 22}
    unusual, reasons = rarity_unusual({**state, "threshold": 0.0}, _columns([record]))
    assert unusual.tolist() == [True]
    assert reasons == [[f"age: 22 (only 1 {LEARNED} was 22 or older)"]]


def test_an_unusual_combination_without_a_rare_value_names_its_three_rarest(rows, state):
    typical = {name: _typical(rows, name) for name in SETUP_A}
    _, p_values = rarity_scores(state, _columns([typical]))
    assert p_values.min() >= 0.05
    unusual, reasons = rarity_unusual({**state, "threshold": -1.0}, _columns([typical]))
    assert unusual.tolist() == [True] and len(reasons[0]) == 3


def test_p_values_match_a_hand_computed_example():
    # Mjob: other x5, services x3, teacher x1, health x1. Absences sorted: 1 2 2 3 3 3 4 5 9 10.
    train = pd.DataFrame({
        "Mjob": ["other"] * 5 + ["services"] * 3 + ["teacher", "health"],
        "absences": [3, 1, 2, 9, 3, 10, 2, 4, 3, 5],
    })
    state = rarity_fit(train, folds=2)
    records = _columns([
        {"Mjob": "other", "absences": 3},
        {"Mjob": "services", "absences": 1},
        {"Mjob": "teacher", "absences": 9},
        {"Mjob": "health", "absences": 10},
        {"Mjob": "at_home", "absences": 0},
        {"Mjob": "other", "absences": 6},
    ])
    scores, p_values = rarity_scores(state, records)
    # Category: rows at most as frequent, + 1, over 11. Int: 2 * (smaller tail count + 1) / 11, at most 1.
    expected = np.array([
        [1, 1],
        [6 / 11, 4 / 11],
        [3 / 11, 6 / 11],
        [3 / 11, 4 / 11],
        [1 / 11, 2 / 11],
        [1, 6 / 11],
    ])
    np.testing.assert_allclose(p_values, expected)
    np.testing.assert_allclose(scores, -np.log(expected).sum(axis=1))


def test_state_holds_the_fitted_tables(rows, state):
    assert state["kinds"]["age"] == "int" and state["kinds"]["Mjob"] == "category"
    assert state["counts"]["Mjob"] == {str(k): int(v) for k, v in rows["Mjob"].value_counts().items()}
    np.testing.assert_array_equal(state["sorted"]["absences"], np.sort(rows["absences"].to_numpy()))


def test_values_never_seen_in_training_are_rarest_and_never_crash(rows, state):
    n = len(rows)
    base = {name: _typical(rows, name) for name in SETUP_A}
    allowed_but_unseen = base | {"failures": 4}
    unknown = base | {"Mjob": "astronaut", "school": "", "guardian": None}
    _, p_values = rarity_scores(state, _columns([allowed_but_unseen, unknown]))
    assert p_values[0, SETUP_A.index("failures")] == pytest.approx(2 / (n + 1))
    for name in ("Mjob", "school", "guardian"):
        assert p_values[1, SETUP_A.index(name)] == pytest.approx(1 / (n + 1))
    unusual, reasons = rarity_unusual({**state, "threshold": 0.0}, _columns([unknown]))
    assert f"mother's job: astronaut (none {LEARNED} had this)" in reasons[0]


def test_an_allowed_category_value_missing_from_training_gets_the_smallest_p():
    train = pd.DataFrame({"guardian": ["mother"] * 6 + ["father"] * 3})
    state = rarity_fit(train, folds=3)
    _, p_values = rarity_scores(state, {"guardian": np.array(["other", "father"], dtype=object)})
    np.testing.assert_allclose(p_values[:, 0], [1 / 10, 4 / 10])
    words = rarity_reason(state, "guardian", "other")
    assert words == "guardian: other (none of the 9 students the model learned from had this)"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("age", 22, f"age: 22 (only 1 {LEARNED} was 22 or older)"),
        ("age", 20, f"age: 20 (only 5 {LEARNED} were 20 or older)"),
        ("age", 15, f"age: 15 (82 {LEARNED} were 15 or younger)"),
        ("Medu", 0, f"mother's education: none (only 3 {LEARNED} had this)"),
        ("Dalc", 4, f"workday alcohol consumption: high (only 18 {LEARNED} had this or a higher level)"),
        ("absences", 75, f"school absences: 75 (only 1 {LEARNED} had as many or more)"),
        ("absences", 40, f"school absences: 40 (only 4 {LEARNED} had as many or more)"),
        ("G1", 3, f"first period grade: 3 (only 1 {LEARNED} had a grade this low or lower)"),
        ("school", "MS", f"school: Mousinho da Silveira (only 46 {LEARNED} had this)"),
        ("Mjob", "at_home", f"mother's job: at home (only 59 {LEARNED} had this)"),
    ],
)
def test_reason_wording(state, name, value, words):
    assert rarity_reason(state, name, value) == words


def test_state_round_trips_through_skops_with_no_untrusted_types(rows, state):
    data = sio.dumps(state)
    assert sio.get_untrusted_types(data=data) == []
    loaded = sio.loads(data)
    records = _columns(rows.sample(50, random_state=0).to_dict("records"))
    before, after = rarity_scores(state, records), rarity_scores(loaded, records)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert loaded["threshold"] == state["threshold"] and loaded["counts"] == state["counts"]


def test_scoring_many_records_at_once_equals_scoring_each_alone(rows, state):
    records = rows.sample(30, random_state=2).to_dict("records")
    records += [{name: _rarest(rows, name) for name in SETUP_A}, rows.iloc[0].to_dict() | {"Mjob": "astronaut"}]
    scores, p_values = rarity_scores(state, _columns(records))
    unusual, reasons = rarity_unusual(state, _columns(records))
    for i, record in enumerate(records):
        alone_scores, alone_p = rarity_scores(state, _columns([record]))
        alone_unusual, alone_reasons = rarity_unusual(state, _columns([record]))
        assert alone_scores[0] == scores[i]
        np.testing.assert_array_equal(alone_p[0], p_values[i])
        assert (alone_unusual[0], alone_reasons[0]) == (unusual[i], reasons[i])
    assert unusual.any() and not unusual.all()


def _random_record(rows: pd.DataFrame, rng: np.random.Generator) -> dict:
    """Values drawn at random, each within what the training rows hold (ints: any between their extremes, seen or
    not): mostly combinations no student had, many of them flagged."""
    record = {}
    for name in SETUP_A:
        if FEATURES[name].kind == "category":
            record[name] = str(rng.choice(sorted(rows[name].unique())))
        else:
            record[name] = int(rng.integers(rows[name].min(), rows[name].max() + 1))
    return record


def test_looked_up_p_values_are_the_searched_ones_for_every_value_in_the_tables(state):
    fast = rarity_fast_tables(state)
    assert [name for name, _, _ in fast] == state["attributes"]
    for column, (name, _, table) in enumerate(fast):
        values = list(table)
        # Each value of the table in its attribute, every other attribute at one of its training values.
        columns = {
            other: np.array(values if other == name else [_seen(state, other)] * len(values), dtype=object)
            for other in state["attributes"]
        }
        assert rarity_scores(state, columns)[1][:, column].tolist() == list(table.values()), name


def _seen(state: dict, name: str):
    return state["sorted"][name][0] if state["kinds"][name] == "int" else next(iter(state["counts"][name]))


def test_a_few_records_are_flagged_by_lookups_exactly_as_by_the_search(rows, state):
    fast, rng = rarity_fast_tables(state), np.random.default_rng(7)
    records = [_random_record(rows, rng) for _ in range(300)] + rows.sample(40, random_state=3).to_dict("records")
    records += [{name: _rarest(rows, name) for name in SETUP_A}]
    flagged = 0
    for start in range(0, len(records), 3):
        columns = _columns(records[start:start + 3])
        p_values = _looked_up(fast, columns)
        assert p_values is not None  # every value lies within the training range: all in the tables
        np.testing.assert_array_equal(p_values, rarity_scores(state, columns)[1])
        unusual, reasons = rarity_unusual(state, columns, fast=fast)
        expected_unusual, expected_reasons = rarity_unusual(state, columns)
        assert unusual.tolist() == expected_unusual.tolist() and reasons == expected_reasons
        flagged += int(unusual.sum())
    assert 30 < flagged < len(records) - 30  # both answers were compared, many times


def test_values_the_tables_lack_and_many_records_go_through_the_search(rows, state):
    fast = rarity_fast_tables(state)
    typical = rows.iloc[0].to_dict()
    assert _looked_up(fast, _columns([typical])) is not None
    for odd in ({"age": 40}, {"absences": -1}, {"Mjob": "astronaut"}, {"G1": None}, {"studytime": 2.5}):
        columns = _columns([typical | odd])
        assert _looked_up(fast, columns) is None, odd
        unusual, reasons = rarity_unusual(state, columns, fast=fast)
        expected_unusual, expected_reasons = rarity_unusual(state, columns)
        assert (unusual.tolist(), reasons) == (expected_unusual.tolist(), expected_reasons)
    assert _looked_up(fast, _columns([typical] * (FAST_ROWS + 1))) is None


def test_columns_may_be_a_dataframe_with_extra_attributes(rows, state):
    frame = load_dataset().head(20)
    scores, _ = rarity_scores(state, frame)
    expected, _ = rarity_scores(state, _columns(rows.head(20).to_dict("records")))
    np.testing.assert_array_equal(scores, expected)


def test_target_rate_must_be_a_share():
    with pytest.raises(ValueError):
        rarity_fit(pd.DataFrame({"age": [15, 16, 17]}), target_rate=0)
    assert math.isclose(rarity_fit(pd.DataFrame({"age": [15, 16, 17, 18]}), folds=2)["target_rate"], TARGET_RATE)
