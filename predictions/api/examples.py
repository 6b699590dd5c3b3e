"""The OpenAPI examples of the data endpoints (each one valid against its schema: tests check it)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from predictions.api.serializers import factor_data

# The first student of data/student-mat.csv, without the final grade G3.
RECORD = {
    "school": "GP", "sex": "F", "age": 18, "address": "U", "famsize": "GT3", "Pstatus": "A", "Medu": 4,
    "Fedu": 4, "Mjob": "at_home", "Fjob": "teacher", "reason": "course", "guardian": "mother",
    "traveltime": 2, "studytime": 2, "failures": 0, "schoolsup": "yes", "famsup": "no", "paid": "no",
    "activities": "no", "nursery": "yes", "higher": "yes", "internet": "no", "romantic": "no", "famrel": 4,
    "freetime": 3, "goout": 4, "Dalc": 1, "Walc": 1, "health": 3, "absences": 6, "G1": 5, "G2": 6,
}


def factor(feature: str, value, effect: float) -> dict:
    """A top factor as the API gives it."""
    return factor_data({"feature": feature, "value": value, "effect": effect})


PREDICTION = {
    "prediction_id": "3f2c9a4e-8b1d-4c55-9e0a-6d7b2f1c8e90",
    "model_version": 3,
    "setup": "A",
    "predicted_grade": 5.84,
    "pass_probability": 0.031,
    "confidence": 0.969,
    "risk": "high",
    "interval": {"low": 3.62, "high": 8.06, "coverage": 0.9},
    "top_factors": [
        factor("G2", 6, -3.41),
        factor("G1", 5, -1.12),
        factor("absences", 6, 0.38),
        factor("schoolsup", "yes", -0.21),
        factor("age", 18, -0.12),
    ],
    "unusual": False,
    "unusual_reasons": [],
    "unknown_attributes": [],
}
# The same student at 22 with 75 absences: both values only one training student had.
UNUSUAL_PREDICTION = dict(
    PREDICTION,
    top_factors=[
        factor("G2", 6, -3.38),
        factor("G1", 5, -1.09),
        factor("absences", 75, 0.52),
        factor("age", 22, -0.31),
    ],
    unusual=True,
    unusual_reasons=[
        "Age 22: only 1 of the 395 students the model learned from was 22 or older",
        "School absences 75: only 1 of the 395 students the model learned from had as many or more",
    ],
)
STUDENT = {
    "id": 42,
    "external_id": "2024-017",
    **RECORD,
    "created_at": "2026-09-15T08:30:00Z",
    "updated_at": "2026-11-20T14:05:00Z",
}
OUTCOME = {
    "id": 7,
    "student_id": 42,
    "final_grade": 6,
    "is_current": True,
    "supersedes": 5,
    "recorded_at": "2026-07-01T10:00:00Z",
}


def page(*results: dict) -> dict:
    return {"count": len(results), "next": None, "previous": None, "results": list(results)}


def request(name: str, value) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


def response(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


PREDICT = [
    request("One record", dict(RECORD, student_id=42)),
    request("A batch", {"instances": [RECORD, dict(RECORD, G2=None), dict(RECORD, G1=None, G2=None)]}),
    response("One prediction", PREDICTION),
    response("A prediction for an unusual record", UNUSUAL_PREDICTION),
    response(
        "A batch's predictions",
        {"predictions": [PREDICTION, dict(PREDICTION, setup="B"), dict(PREDICTION, setup="C")]},
    ),
]
STUDENT_LIST = [response("A page of students", page(STUDENT))]
STUDENT_CREATE = [
    request("A new student", {"external_id": "2024-017", **RECORD}),
    response("The stored student", STUDENT, 201),
]
STUDENT_DETAIL = [response("A student", STUDENT)]
STUDENT_UPDATE = [request("The second period's grade", {"G2": 6}), response("The updated student", STUDENT)]
STUDENT_PREDICTIONS = [
    response("A page of predictions", page(dict(PREDICTION, created_at="2026-11-20T14:06:00Z")))
]
STUDENT_PREDICT = [response("The student's prediction", PREDICTION)]
OUTCOME_LIST = [response("A page of outcomes", page(OUTCOME))]
OUTCOME_CREATE = [
    request("A final grade", {"student_id": 42, "final_grade": 6}),
    response("The recorded outcome (here a correction of outcome 5)", OUTCOME, 201),
]
