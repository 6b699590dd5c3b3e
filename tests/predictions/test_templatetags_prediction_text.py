"""The numbers, risk words and factor words of the teacher pages: numbers cut never rounded up, the thresholds of
settings, and every factor in plain words marked "can change" or "background"."""
from __future__ import annotations

import pytest
from django.template import Context, Template

from predictions.services import risk_for
from predictions.templatetags.prediction_text import chance, factor_bars, factor_sentence, grade, percent, risk_words


@pytest.mark.parametrize(
    ("probability", "shown"),
    [
        (0.0, "<1 %"), (0.004, "<1 %"), (0.006, "<1 %"), (0.0099, "<1 %"),  # below 1 %
        (0.01, "1 %"), (0.29, "29 %"),  # 0.29 * 100 is 28.999… in floats: still 29
        (0.497, "49 %"), (0.499, "49 %"), (0.5, "50 %"), (0.799, "79 %"), (0.8, "80 %"),
        (0.99, "99 %"), (0.991, ">99 %"), (0.994, ">99 %"), (0.995, ">99 %"), (1.0, ">99 %"),  # above 99 %
    ],
)
def test_a_chance_is_a_whole_percent_cut_with_the_ends_shown_as_less_than_or_more_than(probability, shown):
    assert chance(probability) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(9.46, "9.4"), (9.49, "9.4"), (9.5, "9.5"), (9.99, "9.9"), (15, "15.0"), (0.0, "0.0"), (20.0, "20.0"),
     (5.84, "5.8")],
)
def test_a_grade_has_one_decimal_cut_so_it_never_crosses_the_mark(value, shown):
    assert grade(value) == shown


def test_a_coverage_is_a_whole_percent_cut_the_same_way():
    assert (percent(0.9), percent(0.95), percent(0.975)) == ("90 %", "95 %", "97 %")


def test_a_shown_chance_and_its_risk_band_never_disagree_at_the_default_thresholds():
    for thousandths in range(1001):
        probability = thousandths / 1000
        shown = chance(probability)
        band = risk_for(pass_probability=probability)
        number = 0 if shown == "<1 %" else 100 if shown == ">99 %" else int(shown.removesuffix(" %"))
        assert band == ("high" if number < 50 else "medium" if number < 80 else "low"), (probability, shown, band)


def test_the_risk_words_at_the_default_thresholds():
    assert risk_words("high") == "less than a 50 % chance to pass"
    assert risk_words("medium") == "at least a 50 % but less than an 80 % chance to pass"
    assert risk_words("low") == "at least an 80 % chance to pass"
    assert risk_words("none") == ""


def test_the_risk_words_follow_the_thresholds_in_settings(settings):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 0.4, 0.7

    assert risk_words("high") == "less than a 40 % chance to pass"
    assert risk_words("medium") == "at least a 40 % but less than a 70 % chance to pass"
    assert risk_words("low") == "at least a 70 % chance to pass"


def test_a_threshold_that_is_not_a_whole_percent_is_written_exactly(settings):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 0.115, 0.185

    assert risk_words("medium") == "at least an 11.5 % but less than an 18.5 % chance to pass"


@pytest.mark.parametrize(
    ("high_below", "medium_below", "band"),
    [(0.0, 0.8, "high"), (0.6, 0.6, "medium"), (0.7, 0.5, "medium")],
)
def test_a_band_the_thresholds_leave_empty_says_so(settings, high_below, medium_below, band):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = high_below, medium_below

    assert risk_words(band) == "a band the current risk thresholds no longer use"


def test_low_risk_starts_at_the_higher_threshold_when_the_medium_band_is_empty(settings):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 0.7, 0.5

    assert risk_for(pass_probability=0.69) == "high" and risk_for(pass_probability=0.7) == "low"
    assert risk_words("low") == "at least a 70 % chance to pass"


def test_the_filters_escape_in_a_template():
    template = Template("{% load prediction_text %}{{ p|chance }}|{{ g|grade }}")

    rendered = template.render(Context({"p": 0.004, "g": 9.46}))

    assert rendered == "&lt;1 %|9.4"


@pytest.mark.parametrize(
    ("factor", "sentence"),
    [
        ({"feature": "Medu", "value": 2, "effect": -0.84},
         "mother's education: 5th to 9th grade (background) lowers the predicted grade by 0.8 points"),
        ({"feature": "G1", "value": 9, "effect": -2.0},
         "first period grade: 9 (background) lowers the predicted grade by 2.0 points"),
        ({"feature": "studytime", "value": 1, "effect": -1.0},
         "weekly study time: < 2 hours (can change) lowers the predicted grade by 1.0 point"),
        ({"feature": "internet", "value": "yes", "effect": 0.31},
         "internet access at home: yes (can change) raises the predicted grade by 0.3 points"),
    ],
)
def test_a_factor_sentence_is_in_plain_words_and_says_whether_it_can_change(factor, sentence):
    assert factor_sentence(factor) == sentence


def test_the_chart_names_each_factor_in_words_and_marks_what_can_change():
    factors = [{"feature": "Medu", "value": 2, "effect": -0.5}, {"feature": "absences", "value": 12, "effect": -1.0}]

    medu, absences = factor_bars(factors)

    assert (medu["label"], medu["value"], medu["actionable"], medu["mark"]) == (
        "Mother's education", "5th to 9th grade", False, "background",
    )
    assert (absences["label"], absences["value"], absences["actionable"], absences["mark"]) == (
        "School absences", "12", True, "can change",
    )
    assert absences["sentence"] == factor_sentence(factors[1])


def test_the_chart_shows_the_marks_and_its_text_version_the_sentences():
    factors = [{"feature": "Medu", "value": 2, "effect": -0.5}, {"feature": "goout", "value": 5, "effect": -1.0}]

    chart = Template('{% include "predictions/_factors.html" %}').render(Context({"factors": factors}))

    assert chart.count('<span class="factor-mark">background</span>') == 1
    assert chart.count('<span class="factor-mark actionable">can change</span>') == 1
    assert "<li>going out with friends: very high (can change) lowers the predicted grade by 1.0 point</li>" in chart
    assert "Medu =" not in chart


def test_changes_are_read_from_the_values_as_shown_never_contradicting_them():
    from predictions.templatetags.prediction_text import chance_change, grade_change

    assert grade_change(10.26, 9.46) == "+0.8 points"  # shown as 10.2 and 9.4
    assert grade_change(9.49, 10.0) == "\u22120.6 points"
    assert grade_change(9.41, 9.49) == "no change"
    assert grade_change(11.0, 10.0) == "+1.0 point"
    assert chance_change(0.612, 0.497) == "+12 points"  # 61 % against 49 %
    assert chance_change(0.4, 0.41) == "\u22121 point"
    assert chance_change(0.5, 0.5) == "no change"
