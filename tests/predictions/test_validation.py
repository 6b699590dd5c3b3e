from __future__ import annotations

import math

import pytest

from modelstore.schema import ATTRIBUTES, FEATURES, MAY_BE_UNKNOWN, PERIOD_GRADES
from predictions.validation import record_clean, records_clean
from studentperf.errors import ApplicationError


def refusal(raw) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        record_clean(raw)
    assert caught.value.kind == "invalid"
    return caught.value


def bad_value(feature):
    return "bogus" if feature.kind == "category" else feature.maximum + 1


def test_valid_record_is_returned_with_ints_and_exact_categories(record):
    raw = {name: str(value) for name, value in record.items()}
    raw["school"] = " GP "

    cleaned = record_clean(raw)

    assert cleaned == record
    assert all(type(cleaned[f.name]) is int for f in FEATURES.values() if f.kind == "int")


@pytest.mark.parametrize("name", list(FEATURES))
def test_a_bad_value_is_refused_naming_its_field(record, name):
    feature = FEATURES[name]
    record[name] = bad_value(feature)

    error = refusal(record)

    assert error.message == "Invalid student record."
    expected = (
        f"must be one of {', '.join(feature.choices)}"
        if feature.kind == "category"
        else f"must be an integer from {feature.minimum} to {feature.maximum}"
    )
    assert error.fields == {name: [expected]}


@pytest.mark.parametrize("name", [f.name for f in FEATURES.values() if f.kind == "int"])
def test_an_int_below_its_minimum_is_refused(record, name):
    record[name] = FEATURES[name].minimum - 1

    assert list(refusal(record).fields) == [name]


@pytest.mark.parametrize("name", [f.name for f in ATTRIBUTES if not f.may_be_unknown])
@pytest.mark.parametrize("missing", ["absent", None, "", "  ", math.nan])
def test_every_attribute_but_the_sensitive_ones_is_required(record, name, missing):
    if missing == "absent":
        del record[name]
    else:
        record[name] = missing

    assert refusal(record).fields == {name: ["is required"]}


@pytest.mark.parametrize("missing", ["absent", None, "", "  ", math.nan])
def test_the_sensitive_attributes_may_be_unknown(record, missing):
    for name in MAY_BE_UNKNOWN:
        if missing == "absent":
            del record[name]
        else:
            record[name] = missing

    cleaned = record_clean(record)

    assert {name: cleaned[name] for name in MAY_BE_UNKNOWN} == dict.fromkeys(MAY_BE_UNKNOWN)
    assert set(cleaned) == set(FEATURES)


def test_the_sensitive_attributes_are_the_issues_and_only_background_or_private_ones():
    # issue 17 names these; each is about the student's private life, health or family.
    assert set(MAY_BE_UNKNOWN) == {"romantic", "Dalc", "Walc", "Pstatus", "famrel", "goout", "freetime", "health"}
    assert [f.name for f in ATTRIBUTES if f.may_be_unknown] == list(MAY_BE_UNKNOWN)


def test_a_school_is_a_code_of_the_installations_schools(record, settings):
    settings.SCHOOLS = {"GP": "Gabriel Pereira", "ESL": "Escola Secundaria de Lisboa"}
    record["school"] = "ESL"
    assert record_clean(record)["school"] == "ESL"

    record["school"] = "MS"  # a UCI school, but not one of this installation's
    assert refusal(record).fields == {"school": ["must be one of GP, ESL"]}


@pytest.mark.parametrize("missing", ["absent", None, "", math.nan])
def test_period_grades_are_optional(record, missing):
    for name in ("G1", "G2"):
        if missing == "absent":
            del record[name]
        else:
            record[name] = missing

    cleaned = record_clean(record)

    assert cleaned["G1"] is None and cleaned["G2"] is None
    assert set(cleaned) == set(FEATURES)


def test_g1_alone_is_accepted(record):
    record["G2"] = None

    assert record_clean(record)["G1"] == 5


def test_g2_without_g1_is_an_error_on_g1(record):
    record["G1"] = ""

    assert refusal(record).fields == {"G1": ["is required when G2 is given"]}


def test_an_unknown_field_is_refused(record):
    record["G3"] = 7
    record["shoe_size"] = 42

    assert refusal(record).fields == {"G3": ["unknown field"], "shoe_size": ["unknown field"]}


@pytest.mark.parametrize("name", ["age", "Medu", "absences", "G1"])
@pytest.mark.parametrize("flag", [True, False])
def test_a_boolean_is_not_an_integer(record, name, flag):
    record[name] = flag

    assert list(refusal(record).fields) == [name]


@pytest.mark.parametrize(("text", "number"), [("17", 17), (" 17 ", 17), ("+17", 17), ("017", 17)])
def test_a_string_of_digits_is_an_integer(record, text, number):
    record["age"] = text

    assert record_clean(record)["age"] == number


def test_a_float_without_fraction_is_an_integer(record):
    record["absences"] = 6.0

    assert record_clean(record)["absences"] == 6


@pytest.mark.parametrize(
    # Arabic-Indic and superscript digits pass str.isdigit() but are not digits here; 25 is out of range.
    "value", [17.5, "17.5", "17.0", "seventeen", "1e1", [17], {"value": 17}, "\u0661\u0667", "1\u2077", "25"],
)
def test_a_fraction_or_a_word_is_not_an_integer(record, value):
    record["age"] = value

    assert refusal(record).fields == {"age": ["must be an integer from 15 to 22"]}


@pytest.mark.parametrize("value", ["gp", "Gp", "G P", 1, True])
def test_categories_are_exact_and_case_sensitive(record, value):
    record["school"] = value

    assert refusal(record).fields == {"school": ["must be one of GP, MS"]}


def test_all_bad_fields_are_reported_together(record):
    record.update(school="XX", age=30, Mjob="astronaut", absences="many", G2=25)
    del record["sex"]
    record["extra"] = 1

    assert refusal(record).fields == {
        "school": ["must be one of GP, MS"],
        "sex": ["is required"],
        "age": ["must be an integer from 15 to 22"],
        "Mjob": ["must be one of teacher, health, services, at_home, other"],
        "absences": ["must be an integer from 0 to 93"],
        "G2": ["must be an integer from 0 to 20"],
        "extra": ["unknown field"],
    }


@pytest.mark.parametrize("raw", [None, [], "school=GP", 3])
def test_a_record_must_be_a_mapping(raw):
    assert refusal(raw).message == "A student record must map attribute names to values."


def test_records_clean_keeps_the_good_and_names_the_bad_by_index(record):
    bad = dict(record, age=99)
    no_grades = dict(record, G1=None, G2=None)

    cleaned, errors = records_clean([record, bad, no_grades])

    assert cleaned[0] == record and cleaned[1] is None and cleaned[2]["G1"] is None
    assert list(errors) == [1]
    assert errors[1].fields == {"age": ["must be an integer from 15 to 22"]}


def test_the_schema_has_the_32_uci_fields():
    assert len(ATTRIBUTES) == 30 and len(PERIOD_GRADES) == 2 and len(FEATURES) == 32
