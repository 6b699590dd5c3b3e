"""The student record forms, one field per attribute, generated from modelstore.schema.

The fields only carry the raw text; the record's one validator (predictions.validation.record_clean, through
the services) judges it, and each reason it gives is shown beside its field.
"""
from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.conf import settings

from modelstore.schema import ATTRIBUTES, FEATURES, GRADE_MAX, GRADE_MIN, PERIOD_GRADES, Feature
from studentperf.errors import ApplicationError

from .validation import record_clean

# The form's sections: (legend, note, attribute names). Every attribute appears in exactly one.
FIELDSETS = (
    ("School and family", "", (
        "school", "sex", "age", "address", "famsize", "Pstatus", "Medu", "Fedu", "Mjob", "Fjob", "guardian",
        "famrel", "famsup", "internet",
    )),
    ("Studies", "", (
        "reason", "traveltime", "studytime", "failures", "schoolsup", "paid", "nursery", "higher", "absences",
    )),
    ("Life outside school", (
        "Some of these are private. Leave one as \"Unknown\" when you do not know it: the prediction does "
        "without it, and says so."
    ), ("activities", "romantic", "freetime", "goout", "Dalc", "Walc", "health")),
    ("Period grades", (
        "Optional. With both grades the prediction uses setup A (the most accurate), with the first one only "
        "setup B, and with neither setup C (the start of the year, the least accurate). Fill each grade in "
        "as soon as it is known: the prediction becomes more accurate."
    ), tuple(feature.name for feature in PERIOD_GRADES)),
)


def choice_text(feature: Feature, value) -> str:
    """A value as a teacher reads it: "4 (higher)", "GP (Gabriel Pereira)", "at_home"."""
    label = feature.choice_labels.get(value)
    return f"{value} ({label})" if label else str(value)


UNKNOWN_CHOICE = "Unknown"


def _help_text(feature: Feature, *, optional: bool) -> str:
    text = feature.meaning
    if feature.kind != "category" and not feature.choice_labels:
        text += f" A whole number from {feature.minimum} to {feature.maximum}."
    if feature.may_be_unknown:
        text += " Leave it as \"Unknown\" if you do not know it: the prediction then does without it."
    elif optional:
        text += " Leave empty while it is not known yet."
    return text.strip()


def _attribute_field(feature: Feature, *, optional: bool = False) -> forms.Field:
    # The browser is told what is required and allowed; the server decides with record_clean.
    optional = optional or feature.may_be_unknown
    attrs = {} if optional else {"required": True}
    if feature.kind == "category" or feature.choice_labels:
        empty = UNKNOWN_CHOICE if feature.may_be_unknown else "Not known yet" if optional else "Choose..."
        choices = [("", empty)] + [(str(value), choice_text(feature, value)) for value in feature.allowed]
        widget = forms.Select(choices=choices, attrs=attrs)
    else:
        widget = forms.NumberInput(attrs={"min": feature.minimum, "max": feature.maximum, "step": 1, **attrs})
    return forms.CharField(
        label=feature.label, required=False, widget=widget, help_text=_help_text(feature, optional=optional)
    )


def application_error_add(form: forms.Form, error: ApplicationError) -> None:
    """Show an ApplicationError on a form: each reason beside its field, anything else above the form."""
    if not error.fields:
        form.add_error(None, error.message)
    for name, reasons in error.fields.items():
        for reason in reasons:
            if name in form.fields:
                form.add_error(name, f"{form.fields[name].label} {reason}.")
            else:
                form.add_error(None, f"{name} {reason}.")


class _RecordFields(forms.Form):
    """All 30 attributes and the optional period grades G1 and G2, shown in FIELDSETS."""

    locals().update({feature.name: _attribute_field(feature) for feature in ATTRIBUTES})
    locals().update({feature.name: _attribute_field(feature, optional=True) for feature in PERIOD_GRADES})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The installation's schools (settings.SCHOOLS), read when the form is built, not when it is imported.
        self.fields["school"].widget.choices = [("", "Choose...")] + [
            (code, f"{code} ({name})") for code, name in settings.SCHOOLS.items()
        ]

    def fieldsets(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(legend, note, bound fields) per section, for the templates."""
        return [(legend, note, [self[name] for name in names]) for legend, note, names in FIELDSETS]


class StudentRecordForm(_RecordFields):
    """A record to predict once (nothing saved); `cleaned_data` is the validated record."""

    def clean(self) -> dict:
        raw = super().clean()
        try:
            return record_clean(raw)
        except ApplicationError as exc:
            application_error_add(self, exc)
            return raw


class StudentForm(_RecordFields):
    """A student to create or edit: the school's student id and the record.

    `cleaned_data` is the raw text for student_create / student_update, which validate it; the view shows
    their ApplicationError with application_error_add. With `instance`, the fields start from that student;
    with `record` (a quick prediction's input), from that record, the student id left for the teacher to enter.
    """

    external_id = forms.CharField(
        label="Student id", required=False,
        widget=forms.TextInput(attrs={"required": True, "maxlength": 64, "autocomplete": "off"}),
        help_text="The school's own id for this student (unique among your students of a school).",
    )
    field_order = ["external_id"]

    def __init__(self, data=None, *, instance=None, record: Mapping | None = None, **kwargs):
        if instance is not None and data is None:
            kwargs.setdefault("initial", {
                "external_id": instance.external_id,
                **{name: getattr(instance, name) for name in FEATURES},
            })
        elif record is not None and data is None:
            kwargs.setdefault("initial", {name: record.get(name) for name in FEATURES})
        super().__init__(data, **kwargs)
        self.instance = instance

    def fieldsets(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [("Student", "", [self["external_id"]]), *super().fieldsets()]


class OutcomeForm(forms.Form):
    """The final grade a student obtained; outcome_record validates it."""

    final_grade = forms.CharField(
        label="Final grade (G3)", required=False,
        widget=forms.NumberInput(attrs={"min": GRADE_MIN, "max": GRADE_MAX, "step": 1, "required": True}),
        help_text=f"The grade the student obtained at the end of the year, a whole number from {GRADE_MIN} to "
                  f"{GRADE_MAX}. Recording it again corrects the earlier one; both are kept.",
    )


class StudentFilterForm(forms.Form):
    """The dashboard's search and filters (GET). Only rendered: the selector ignores values it does not know."""

    q = forms.CharField(label="Student id", required=False, widget=forms.TextInput(attrs={"type": "search"}))
    risk = forms.ChoiceField(label="Risk", required=False, choices=[
        ("", "Any risk"), ("high", "High risk"), ("medium", "Medium risk"), ("low", "Low risk"),
        ("none", "Not predicted yet"),
    ])
    setup = forms.ChoiceField(label="Setup", required=False, choices=[
        ("", "Any setup"), ("A", "A: both period grades"), ("B", "B: first period grade only"),
        ("C", "C: no period grade"),
    ])
    intervention = forms.ChoiceField(label="Interventions", required=False, choices=[
        ("", "With or without"), ("none", "No intervention yet"), ("some", "At least one intervention"),
    ])
