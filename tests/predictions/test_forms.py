from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.utils.html import escape

from modelstore.schema import ATTRIBUTES, FEATURES, MAY_BE_UNKNOWN, MEANINGS, PERIOD_GRADES
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


def test_the_sensitive_attributes_offer_unknown_first_and_are_not_required_by_the_browser():
    form = StudentForm()

    for name in MAY_BE_UNKNOWN:
        html = str(form[name])
        assert re.search(r'<select name="%s"[^>]*>\s*<option value="" selected>Unknown</option>' % name, html), name
        assert "required" not in html and "Unknown" in form.fields[name].help_text
    for feature in ATTRIBUTES:
        if not feature.may_be_unknown:
            assert "required" in str(form[feature.name]) and ">Unknown<" not in str(form[feature.name])
    [(_, note, _)] = [section for section in form.fieldsets() if section[0] == "Life outside school"]
    assert "Unknown" in note


def test_a_student_saved_with_unknown_attributes_keeps_them_unknown(user, record):
    from predictions.services import student_create

    raw = {"external_id": "s-8", **record, "romantic": "", "Dalc": "", "Pstatus": ""}
    student = student_create(data=StudentForm(raw).data, teacher=user)
    student.refresh_from_db()

    assert student.romantic is None and student.Dalc is None and student.Pstatus is None
    assert student.Walc == record["Walc"]
    assert StudentForm(instance=student)["romantic"].value() is None


def test_the_school_list_is_the_installations(settings):
    settings.SCHOOLS = {"ESL": "Escola Secundaria de Lisboa", "GP": "Gabriel Pereira"}

    html = str(StudentForm()["school"])

    assert '<option value="ESL">ESL (Escola Secundaria de Lisboa)</option>' in html
    assert "MS" not in html and html.index("ESL") < html.index("GP")


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


# The dataset description, read here on its own (not through modelstore.schema): the quick prediction form must
# offer, accept and refuse exactly what data/student.txt allows, with each refusal beside its field.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
_DESCRIBED = re.compile(r"^\d+ (?P<name>\w+) - .*?\((?P<kind>binary|nominal|numeric): (?P<spec>.*)\)\s*$")


def described_attributes() -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> ("category" | "number", the allowed values as text, in the description's order) for every
    attribute of data/student.txt but the target G3."""
    described = {}
    for line in (DATA_DIR / "student.txt").read_text(encoding="utf-8").splitlines():
        match = _DESCRIBED.match(line)
        if not match or match["name"] == "G3":
            continue
        name, kind, spec = match["name"], match["kind"], match["spec"]
        if kind != "numeric":  # '"GP" - Gabriel Pereira or "MS" - ...', 'yes or no'
            values = re.findall(r'"(\w+)"', spec) or re.findall(r"\b(yes|no)\b", spec)
        elif name == "failures":
            # "n if 1<=n<3, else 4": the data itself holds 0 to 3, so 0 to 4 is accepted (modelstore/schema.py).
            values = range(0, 5)
        elif bounds := re.match(r"from (\d+)\b.*\bto (\d+)\b", spec):  # "from 15 to 22", "from 1 - very bad to 5"
            values = range(int(bounds[1]), int(bounds[2]) + 1)
        else:  # levels: "0 - none,  1 - primary education (4th grade), 2 – 5th to 9th grade, ... or 4 – higher"
            values = [int(level) for level in re.findall(r"(?:^|,\s+|or )(\d+) [-–]", spec)]
        described[name] = ("category" if kind != "numeric" else "number", tuple(str(value) for value in values))
    return described


DESCRIBED = described_attributes()


def valid_post() -> dict[str, str]:
    """The first student of data/student-mat.csv (without G3) as the text a browser posts."""
    with open(DATA_DIR / "student-mat.csv", newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle, delimiter=";"))
    del first["G3"]
    return first


def rendered_fields(form) -> dict[str, str]:
    """The HTML of each field group (label, help, errors, widget) as the prediction page renders the form."""
    html = render_to_string("predictions/_record_fields.html", {"form": form})
    groups = [
        (re.search(r'<(?:input|select)[^>]* name="(\w+)"', chunk)[1], chunk)
        for chunk in html.split('<div class="field">')[1:]
    ]
    names = [name for name, _ in groups]
    assert len(names) == len(set(names)), names  # no field rendered twice
    return dict(groups)


def refused_values():
    """(name, value) the description does not allow: a word outside each category, one past each numeric limit."""
    for name, (kind, allowed) in DESCRIBED.items():
        if kind == "category":
            yield name, "unknown"
        else:
            yield name, str(int(allowed[0]) - 1)
            yield name, str(int(allowed[-1]) + 1)


def test_the_dataset_description_is_read_whole():
    assert len(DESCRIBED) == 32  # 30 attributes, G1 and G2
    assert DESCRIBED["Mjob"] == ("category", ("teacher", "health", "services", "at_home", "other"))
    assert DESCRIBED["Medu"] == ("number", ("0", "1", "2", "3", "4"))
    assert DESCRIBED["absences"] == ("number", tuple(str(n) for n in range(0, 94)))
    assert DESCRIBED["famrel"] == ("number", ("1", "2", "3", "4", "5"))
    assert DESCRIBED["schoolsup"] == ("category", ("yes", "no"))


def test_the_quick_prediction_form_offers_exactly_the_values_of_the_dataset_description():
    form = StudentRecordForm()

    fields = rendered_fields(form)

    assert set(form.fields) == set(DESCRIBED) and set(fields) == set(DESCRIBED)
    for name, (kind, allowed) in DESCRIBED.items():
        options = [value for value in re.findall(r'<option value="([^"]*)"', fields[name]) if value]
        if kind == "category" or options:  # categories, and numbers with named levels, are lists of values
            assert f'<select name="{name}"' in fields[name] and options == list(allowed), name
        else:
            bounds = re.search(rf'<input type="number" name="{name}"[^>]*min="(\d+)" max="(\d+)"', fields[name])
            assert bounds, name
            assert (bounds[1], bounds[2]) == (allowed[0], allowed[-1]), name


def test_the_quick_prediction_form_accepts_each_limit_of_the_dataset_description():
    post = valid_post()
    assert StudentRecordForm(post).is_valid()

    for name, (kind, allowed) in DESCRIBED.items():
        for value in (allowed[0], allowed[-1]):
            form = StudentRecordForm({**post, name: value})
            assert form.is_valid(), (name, value, form.errors)
            assert form.cleaned_data[name] == (value if kind == "category" else int(value)), (name, value)


@pytest.mark.parametrize(("name", "value"), list(refused_values()), ids=lambda item: str(item))
def test_the_quick_prediction_form_refuses_a_value_the_description_does_not_allow_beside_its_field(name, value):
    kind, allowed = DESCRIBED[name]
    form = StudentRecordForm({**valid_post(), name: value})

    assert not form.is_valid()
    assert list(form.errors) == [name]  # that field only, nothing above the form
    [message] = form.errors[name]
    label = form.fields[name].label
    if kind == "category":
        assert message.startswith(f"{label} must be one of ") and all(option in message for option in allowed)
    else:
        assert message == f"{label} must be an integer from {allowed[0]} to {allowed[-1]}."
    fields = rendered_fields(form)
    assert f'<ul class="errorlist" id="id_{name}_error"><li>{escape(message)}</li></ul>' in fields[name]
    assert 'aria-invalid="true"' in fields[name]
    assert [other for other, html in fields.items() if "errorlist" in html] == [name]


def test_the_quick_prediction_form_needs_every_attribute_and_g1_with_g2():
    post = {**valid_post(), "sex": " ", "G1": ""}

    form = StudentRecordForm(post)

    assert not form.is_valid()
    assert form.errors == {"sex": ["Sex is required."], "G1": ["First period grade is required when G2 is given."]}
    assert StudentRecordForm({**post, "sex": "M", "G2": ""}).is_valid()  # neither grade known yet: setup C


def test_the_outcome_form_is_a_bounded_grade():
    html = str(OutcomeForm()["final_grade"])

    assert re.search(r'<input type="number" name="final_grade"[^>]*min="0" max="20"', html)
    assert escape("Final grade (G3)") in OutcomeForm()["final_grade"].label_tag()
