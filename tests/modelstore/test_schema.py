"""The attribute schema's plain words for a factor and its list of what a student or family can change."""
from __future__ import annotations

import pytest

from modelstore.schema import ACTIONABLE, ATTRIBUTES, FEATURES, PERIOD_GRADES, feature_label, feature_value_text


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("Medu", 2, "mother's education: 5th to 9th grade"),
        ("Fedu", 4, "father's education: higher"),
        ("G1", 9, "first period grade: 9"),
        ("G2", None, "second period grade: not known yet"),
        ("internet", "no", "internet access at home: no"),
        ("studytime", 2, "weekly study time: 2 to 5 hours"),
        ("absences", 4, "school absences: 4"),
        ("school", "GP", "school: Gabriel Pereira"),
        ("Mjob", "at_home", "mother's job: at home"),
        ("Walc", 5, "weekend alcohol consumption: very high"),
    ],
)
def test_a_factor_reads_in_plain_words(name, value, words):
    assert feature_value_text(name, value) == words


def test_a_level_read_back_as_a_float_or_text_gets_the_same_words():
    assert feature_value_text("Medu", 2.0) == feature_value_text("Medu", "2") == feature_value_text("Medu", 2)


def test_the_label_alone_is_the_attribute_in_a_sentence():
    assert (feature_label("Medu"), feature_label("G1"), feature_label("Dalc")) == (
        "mother's education", "first period grade", "workday alcohol consumption",
    )
    assert feature_label("unknown") == "unknown"


# The attributes whose UCI name already is a plain word.
PLAIN_NAMES = {"school", "sex", "age", "guardian"}


def test_every_attribute_and_every_allowed_value_has_words_and_no_code():
    for feature in ATTRIBUTES + PERIOD_GRADES:
        label = feature_label(feature.name)
        assert label[:1].islower() and (label != feature.name or feature.name in PLAIN_NAMES), feature.name
        for value in feature.allowed:
            named, _, value_words = feature_value_text(feature.name, value).partition(": ")
            assert named == label
            assert value_words and "_" not in value_words, (feature.name, value)
            if feature.choice_labels:  # a level with a meaning in data/student.txt reads as that meaning
                assert value_words == feature.choice_labels[value], (feature.name, value)


def test_the_actionable_attributes_are_those_a_student_or_family_can_change():
    assert set(ACTIONABLE) == {
        "studytime", "absences", "goout", "freetime", "Dalc", "Walc", "activities", "paid", "schoolsup", "famsup",
        "internet", "higher",
    }
    assert [f.name for f in ATTRIBUTES + PERIOD_GRADES if f.actionable] == [
        f.name for f in ATTRIBUTES if f.name in ACTIONABLE
    ]
    assert not any(FEATURES[name].actionable for name in ("sex", "age", "Medu", "failures", "G1", "G2"))


def test_the_stored_feature_schema_says_which_attributes_can_change():
    assert FEATURES["studytime"].as_dict()["actionable"] is True
    assert FEATURES["Medu"].as_dict()["actionable"] is False
