from __future__ import annotations

import re

from django.utils.html import escape

from modelstore.schema import ATTRIBUTES, FEATURES, MEANINGS, PERIOD_GRADES
from predictions.forms import FIELDSETS, OutcomeForm, StudentForm, StudentRecordForm, application_error_add
from studentperf.errors import ApplicationError


def test_the_sections_hold_every_attribute_exactly_once():
    names = [name for _, _, names in FIELDSETS for name in names]

    assert sorted(names) == sorted(FEATURES) and len(names) == len(set(names))
    assert [legend for legend, _, _ in FIELDSETS] == [
        "School and family", "Studies", "Life outside school", "Period grades"
    ]


def test_every_attribute_says_what_it_means():
    assert set(MEANINGS) == set(FEATURES)
    form = StudentForm()
    for name in FEATURES:
        assert MEANINGS[name] in form.fields[name].help_text, name


def test_the_student_form_starts_with_the_student_id_and_then_the_sections():
    form = StudentForm()

    sections = form.fieldsets()

    assert [legend for legend, _, _ in sections] == [
        "Student", "School and family", "Studies", "Life outside school", "Period grades"
    ]
    assert [field.name for field in sections[0][2]] == ["external_id"]
    assert list(form.fields) == ["external_id", *FEATURES]


def test_categories_are_selects_with_labelled_values_and_numbers_are_bounded():
    html = "".join(str(StudentForm()[name]) for name in FEATURES)

    assert '<option value="GP">GP (Gabriel Pereira)</option>' in html
    assert '<option value="2">2 (15 to 30 min)</option>' in html  # traveltime: a number with named levels
    assert '<option value="at_home">at_home</option>' in html
    for feature in ATTRIBUTES + PERIOD_GRADES:
        if feature.kind == "int" and not feature.choice_labels:
            assert re.search(
                rf'<input type="number" name="{feature.name}"[^>]*min="{feature.minimum}" max="{feature.maximum}"',
                html,
            ), feature.name


def test_the_period_grades_are_optional_and_say_what_they_change():
    form = StudentForm()
    [(_, note, fields)] = [section for section in form.fieldsets() if section[0] == "Period grades"]

    assert [field.name for field in fields] == ["G1", "G2"]
    assert "setup A" in note and "setup B" in note and "setup C" in note and "accurate" in note
    assert all("required" not in str(field) for field in fields)
    assert all("Leave empty while it is not known yet." in field.help_text for field in fields)


def test_an_existing_student_fills_the_form(user, record):
    from predictions.services import student_create

    student = student_create(data={"external_id": "s-7", **dict(record, G2=None)}, teacher=user)

    form = StudentForm(instance=student)

    assert form["external_id"].value() == "s-7"
    assert form["age"].value() == record["age"] and form["G2"].value() is None
    assert 'value="s-7"' in str(form["external_id"])


def test_a_posted_form_keeps_the_raw_text_for_the_services():
    form = StudentForm({"external_id": " x ", "age": "abc", "school": "GP"})

    assert form.is_valid()
    assert form.cleaned_data["age"] == "abc" and form.cleaned_data["G1"] == ""


def test_an_application_error_is_shown_beside_each_named_field_and_the_rest_above():
    form = StudentForm({})
    form.is_valid()

    application_error_add(form, ApplicationError("Invalid.", fields={"age": ["must be an integer from 15 to 22"],
                                                                     "G3": ["unknown field"]}))

    assert form.errors["age"] == ["Age must be an integer from 15 to 22."]
    assert form.non_field_errors() == ["G3 unknown field."]
    assert 'aria-invalid="true"' in str(form["age"]) and 'aria-describedby="id_age_helptext id_age_error"' in str(form["age"])


def test_the_quick_prediction_form_uses_the_same_sections():
    assert [legend for legend, _, _ in StudentRecordForm().fieldsets()] == [legend for legend, _, _ in FIELDSETS]


def test_the_outcome_form_is_a_bounded_grade():
    html = str(OutcomeForm()["final_grade"])

    assert re.search(r'<input type="number" name="final_grade"[^>]*min="0" max="20"', html)
    assert escape("Final grade (G3)") in OutcomeForm()["final_grade"].label_tag()
