"""What the data endpoints read and answer.

The attributes of a record are checked by one validator, `predictions.validation.record_clean`, inside the
services, so that their errors read the same on every entry point. The input serializers here declare the
fields only for the OpenAPI schema; they check the shape of the body (an object, `instances` a list of at
most MAX_INSTANCES) and resolve `student_id` to a stored student, and hand the record over untouched.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

from modelstore.schema import ACTIONABLE, ATTRIBUTES, FEATURES, PERIOD_GRADES, Feature, feature_value_text
from predictions.models import SCHOOL_CODE_MAX, Prediction, Student
from predictions.validation import REQUIRED, UNKNOWN, record_clean, records_clean, records_error_fields
from studentperf.errors import ApplicationError

MAX_INSTANCES = 1000
NOT_AN_OBJECT = "The request body must be a JSON object."
NOT_A_STUDENT_ID = "must be the id of a student (an integer)"
NO_SUCH_STUDENT = "no student with this id"
MAX_ID = 2**63 - 1


def _attribute_field(feature: Feature, **kwargs) -> serializers.Field:
    if feature.kind == "category":
        choices = [(value, feature.choice_labels.get(value, value)) for value in feature.choices]
        return serializers.ChoiceField(choices=choices, help_text=feature.label, **kwargs)
    levels = ", ".join(f"{level} {label}" for level, label in feature.choice_labels.items())
    return serializers.IntegerField(
        min_value=feature.minimum, max_value=feature.maximum,
        help_text=f"{feature.label} ({levels})" if levels else feature.label, **kwargs,
    )


def record_fields() -> dict[str, serializers.Field]:
    """A field per attribute (required, but null allowed for the sensitive ones, schema.MAY_BE_UNKNOWN) and per
    period grade (optional, null when not known yet)."""
    fields = {
        feature.name: _attribute_field(feature, required=False, allow_null=True) if feature.may_be_unknown
        else _attribute_field(feature)
        for feature in ATTRIBUTES
    }
    # The installation's schools (settings.SCHOOLS), not only the two the model was trained on.
    fields["school"] = serializers.CharField(
        max_length=SCHOOL_CODE_MAX,
        help_text=f"School: a code of the installation's schools ({', '.join(settings.SCHOOLS)})",
    )
    for feature in PERIOD_GRADES:
        fields[feature.name] = _attribute_field(feature, required=False, allow_null=True)
    return fields


class RawObjectSerializer(serializers.Serializer):
    """Accepts any JSON object and returns it untouched (a plain dict): its services validate it."""

    def run_validation(self, data=empty):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [NOT_AN_OBJECT]})
        return self.validate(dict(data))


def students_resolve(ids: Sequence, *, students: QuerySet[Student]) -> tuple[list[Student | None], dict[int, str]]:
    """The student of each id (None where no id is given) in one query, and the problem at each bad position.

    `students` are those the requester may see: an id outside them is "no student with this id", as unknown.
    """
    found = students.in_bulk({value for value in ids if _is_id(value)})
    resolved: list[Student | None] = []
    problems: dict[int, str] = {}
    for position, value in enumerate(ids):
        resolved.append(found.get(value) if _is_id(value) else None)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            problems[position] = NOT_A_STUDENT_ID
        elif resolved[-1] is None:
            problems[position] = NO_SUCH_STUDENT
    return resolved, problems


def _is_id(value) -> bool:
    # Ids are positive 64-bit integers; a larger number would overflow the database's integer, not match.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


# --- Predictions ---------------------------------------------------------------------------------------


class PredictRecordSerializer(RawObjectSerializer):
    """One record, flat; `student_id` links the prediction to a stored student."""

    locals().update(record_fields())
    student_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="The id this API gave a stored student: links the prediction to it."
    )


class PredictBatchSerializer(serializers.Serializer):
    """Up to 1,000 records, all or nothing."""

    instances = serializers.ListField(child=PredictRecordSerializer(), min_length=1, max_length=MAX_INSTANCES)


class PredictInputSerializer(RawObjectSerializer):
    """The body of POST /predict: one record, or `{"instances": [...]}`.

    validated_data: `many` (whether `instances` was sent), `records` (without `student_id`) and `students`
    (the linked student of each record, or None). Context: `students`, the students the requester may see.
    """

    def validate(self, body: dict) -> dict:
        many = "instances" in body
        records = self._instances(body) if many else [body]
        # A record that is not an object is left as it is: the service names it ("<index>").
        records = [dict(record) if isinstance(record, Mapping) else record for record in records]
        ids = [record.pop("student_id", None) if isinstance(record, dict) else None for record in records]
        students, problems = students_resolve(ids, students=self.context["students"])
        if problems:
            # Report the records' own problems in the same answer, in the validator's words.
            fields = _record_problems(records, many=many)
            for position, problem in problems.items():
                fields[f"{position}.student_id" if many else "student_id"] = [problem]
            if many:  # by record, as the service names them
                fields = dict(sorted(fields.items(), key=lambda item: int(item[0].partition(".")[0])))
            raise serializers.ValidationError(fields)
        return {"many": many, "records": records, "students": students}

    @staticmethod
    def _instances(body: dict) -> list:
        beside = sorted(name for name in body if name != "instances")
        if beside:
            reason = "cannot be sent beside instances: send one record, or all of them in instances"
            raise serializers.ValidationError({name: [reason] for name in beside})
        instances = body["instances"]
        if not isinstance(instances, list):
            raise serializers.ValidationError({"instances": ["must be a list of student records"]})
        if not instances:
            raise serializers.ValidationError({"instances": ["must hold at least one record"]})
        if len(instances) > MAX_INSTANCES:
            raise serializers.ValidationError({"instances": [f"holds {len(instances)} records; at most {MAX_INSTANCES} are accepted"]})
        return instances


def _record_problems(records: list, *, many: bool) -> dict[str, list[str]]:
    if many:
        return records_error_fields(records_clean(records)[1])
    try:
        record_clean(records[0])
    except ApplicationError as exc:
        return dict(exc.fields)
    return {}


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class FactorValueField(serializers.Field):
    def to_representation(self, value):
        return value


class FactorSerializer(serializers.Serializer):
    feature = serializers.ChoiceField(choices=list(FEATURES), help_text="The attribute.")
    label = serializers.SerializerMethodField(
        help_text="The attribute and its value in plain words, from data/student.txt's meanings: "
        "\"mother's education: 5th to 9th grade\", \"first period grade: 9\"."
    )
    value = FactorValueField(help_text="Its value in this record.")
    effect = serializers.FloatField(help_text="Grade points it moved the prediction by: positive raises it.")
    actionable = serializers.SerializerMethodField(
        help_text="Whether the student or their family can change it (" + ", ".join(ACTIONABLE) + "); "
        "false: background."
    )

    def get_label(self, factor: dict) -> str:
        return feature_value_text(factor["feature"], factor["value"])

    def get_actionable(self, factor: dict) -> bool:
        return factor["feature"] in ACTIONABLE


class IntervalSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()
    coverage = serializers.FloatField(help_text="How often the final grade falls in [low, high] (0.9: 90 %).")


class PredictionSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField(source="id", help_text="The audit log row of this prediction.")
    model_version = serializers.IntegerField(source="model_version.version", help_text="The version that answered.")
    setup = serializers.ChoiceField(choices=["A", "B", "C"], help_text="A: G1 and G2 known; B: G1 only; C: neither.")
    predicted_grade = serializers.FloatField(help_text="The final grade G3, 0 to 20.")
    pass_probability = serializers.FloatField(help_text="Chance that G3 >= 10.")
    confidence = serializers.FloatField(help_text="How sure the pass/fail call is: max(p, 1 - p).")
    risk = serializers.ChoiceField(choices=Prediction.Risk.choices)
    interval = IntervalSerializer()
    top_factors = FactorSerializer(many=True)
    unusual = serializers.BooleanField(
        allow_null=True,
        help_text="Whether the record is unlike the students the model learned from: treat the prediction with "
        "care. null: the model version predates this check.",
    )
    unusual_reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="The attributes that make the record unusual, in words (empty when it is not).",
    )
    unknown_attributes = serializers.ListField(
        child=serializers.CharField(),
        help_text="The attributes the model did without, taking a typical student's value: those sent as null "
        "(allowed for the sensitive ones) and a school it was not trained on. They have no effect on the "
        "prediction and are never among its factors.",
    )


class PredictionBatchSerializer(serializers.Serializer):
    predictions = PredictionSerializer(many=True, help_text="One per instance, in input order.")


def prediction_data(prediction: Prediction) -> dict:
    """What PredictionSerializer gives for a prediction just served, built directly: the values already have
    their JSON types, and DRF's per-field work took 30 ms per 1,000 predictions (this: 3). The serializer
    stays what the schema shows; tests/predictions/test_api_predict.py holds the two equal."""
    return {
        "prediction_id": str(prediction.id),
        "model_version": prediction.model_version.version,
        "setup": prediction.setup,
        "predicted_grade": prediction.predicted_grade,
        "pass_probability": prediction.pass_probability,
        "confidence": prediction.confidence,
        "risk": str(prediction.risk),
        "interval": {
            "low": prediction.interval_low, "high": prediction.interval_high, "coverage": prediction.interval_coverage,
        },
        "top_factors": [factor_data(factor) for factor in prediction.top_factors],
        "unusual": prediction.unusual,
        "unusual_reasons": list(prediction.unusual_reasons),
        "unknown_attributes": prediction.unknown_attributes,
    }


def factor_data(factor: dict) -> dict:
    """A stored top factor as FactorSerializer gives it: `label`, its plain words, beside `feature`."""
    name, value = factor["feature"], factor["value"]
    return {"feature": name, "label": feature_value_text(name, value), "value": value, "effect": factor["effect"],
            "actionable": name in ACTIONABLE}


class StudentPredictionSerializer(PredictionSerializer):
    created_at = serializers.DateTimeField()


# --- Students ------------------------------------------------------------------------------------------


class StudentInputSerializer(RawObjectSerializer):
    """A student: the school's own id and the record (all attributes; G1, G2 once known)."""

    external_id = serializers.CharField(
        max_length=64, help_text="The school's own student id, unique among the requester's students of the school."
    )
    locals().update(record_fields())


class StudentSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The id this API assigned: `student_id` in other requests.")
    external_id = serializers.CharField(help_text="The school's own student id.")
    locals().update(record_fields())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StudentWrittenSerializer(serializers.Serializer):
    """What a change answers to a key that may write but not read (issue 18): the change was saved, nothing of
    the record."""

    id = serializers.IntegerField(help_text="The student's id.")
    updated_at = serializers.DateTimeField()


class StudentFilterSerializer(serializers.Serializer):
    school = serializers.CharField(required=False, help_text="A school's code (the installation's SCHOOLS).")
    external_id = serializers.CharField(required=False, max_length=64)
    risk = serializers.ChoiceField(
        choices=Prediction.Risk.values, required=False, help_text="The risk of the student's latest prediction."
    )

    def validate_school(self, value: str) -> str:
        # The installation's schools are read when the request is, so a changed SCHOOLS needs no new code.
        if value not in settings.SCHOOLS:
            raise serializers.ValidationError(f"must be one of {', '.join(settings.SCHOOLS)}")
        return value


# --- Outcomes ------------------------------------------------------------------------------------------


class OutcomeInputSerializer(RawObjectSerializer):
    """The final grade a student obtained."""

    # validated_data: `student`, resolved among the students the requester may see (context `students`),
    # and `final_grade` as sent (outcome_record validates it).

    student_id = serializers.IntegerField(help_text="The id this API gave the student.")
    final_grade = serializers.IntegerField(min_value=0, max_value=20, help_text="The final grade G3 obtained.")

    def validate(self, body: dict) -> dict:
        fields = {name: [UNKNOWN] for name in body if name not in self.fields}
        fields.update({name: [REQUIRED] for name in self.fields if body.get(name) is None})
        student = None
        if "student_id" not in fields:
            [student], problems = students_resolve([body["student_id"]], students=self.context["students"])
            if problems:
                fields["student_id"] = [problems[0]]
        if fields:
            raise serializers.ValidationError(fields)
        return {"student": student, "final_grade": body["final_grade"]}


class OutcomeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    student_id = serializers.IntegerField()
    final_grade = serializers.IntegerField()
    is_current = serializers.BooleanField(help_text="False once a later outcome corrected this one.")
    supersedes = serializers.IntegerField(
        source="supersedes_id", allow_null=True, help_text="The outcome this one corrected, if any."
    )
    recorded_at = serializers.DateTimeField()


class OutcomeWrittenSerializer(serializers.Serializer):
    """What recording a grade answers to a key that may write but not read (issue 18): what it sent and the id,
    not whether an earlier grade was corrected (`is_current`, `supersedes`: stored data)."""

    id = serializers.IntegerField()
    student_id = serializers.IntegerField()
    final_grade = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()


class OutcomeFilterSerializer(serializers.Serializer):
    student_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
