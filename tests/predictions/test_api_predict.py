"""POST /api/v1/predict: one record or a batch, validated by the one validator, all or nothing, audited."""
from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from modelstore.schema import ACTIONABLE, feature_value_text
from predictions.api.serializers import PredictionSerializer, prediction_data
from predictions.models import Prediction
from predictions.services import prediction_create_many, student_create
from predictions.validation import record_clean
from studentperf.errors import ApplicationError

from .api_answers import refused

PREDICT = "/api/v1/predict"
OUTPUT_KEYS = {
    "prediction_id", "model_version", "setup", "predicted_grade", "pass_probability", "confidence", "risk",
    "interval", "top_factors", "unusual", "unusual_reasons", "unknown_attributes",
}


FACTOR_KEYS = ["feature", "label", "value", "effect", "actionable"]


def without_id(output: dict) -> dict:
    return {name: value for name, value in output.items() if name != "prediction_id"}


def test_a_key_with_the_predict_scope_gets_a_prediction(api_client, active_version, record):
    client = api_client("predict")

    response = client.post(PREDICT, record, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == OUTPUT_KEYS
    assert set(body["interval"]) == {"low", "high", "coverage"}
    assert body["top_factors"] and all(list(factor) == FACTOR_KEYS for factor in body["top_factors"])
    row = Prediction.objects.get()
    assert body["prediction_id"] == str(row.pk)
    assert (body["model_version"], body["setup"], body["risk"]) == (active_version.version, "A", row.risk)
    assert body["predicted_grade"] == row.predicted_grade and body["pass_probability"] == row.pass_probability
    assert body["interval"] == {"low": row.interval_low, "high": row.interval_high, "coverage": 0.9}
    assert [f["feature"] for f in body["top_factors"]] == [f["feature"] for f in row.top_factors]
    for factor in body["top_factors"]:
        assert factor["label"] == feature_value_text(factor["feature"], factor["value"])
        assert factor["actionable"] is (factor["feature"] in ACTIONABLE)
    assert (body["unusual"], body["unusual_reasons"]) == (False, [])
    assert (row.source, row.requested_by, row.api_key_prefix) == ("api", None, client.api_key.prefix)
    assert row.student is None and row.input == record_clean(record)


def test_the_sensitive_attributes_may_be_null_and_the_answer_says_the_model_did_without_them(
    api_client, active_version, record
):
    client = api_client("predict")
    unknown = {"romantic": None, "Dalc": None, "Walc": None, "famrel": None}

    body = client.post(PREDICT, {**record, **unknown}, format="json").json()

    assert body["unknown_attributes"] == ["romantic", "famrel", "Dalc", "Walc"]  # in the schema's order
    assert not {factor["feature"] for factor in body["top_factors"]} & set(unknown)
    assert Prediction.objects.get().input == {**record_clean(record), **unknown}
    # A known value answers an empty list; an attribute that may not be unknown is still required.
    assert client.post(PREDICT, record, format="json").json()["unknown_attributes"] == []
    assert refused(client.post(PREDICT, {**record, "age": None}, format="json")) == {"age": ["is required"]}


def test_a_school_the_model_was_not_trained_on_is_accepted_when_it_is_the_installations(
    api_client, active_version, record, settings
):
    settings.SCHOOLS = {"GP": "Gabriel Pereira", "ESL": "Escola Secundaria de Lisboa"}
    client = api_client("predict")

    body = client.post(PREDICT, {**record, "school": "ESL"}, format="json").json()

    assert body["unknown_attributes"] == ["school"] and body["setup"] == "A"
    assert refused(client.post(PREDICT, {**record, "school": "MS"}, format="json")) == {
        "school": ["must be one of GP, ESL"]
    }


def test_the_answer_is_what_the_documented_serializer_gives(active_version, user, record, odd_record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)
    predictions = prediction_create_many(
        records=[record, dict(record, G2=None), dict(record, G1=None, G2=None, absences=40), odd_record],
        source="api", students=[student, None, None, None],
    )

    for prediction in predictions:
        shaped = prediction_data(prediction)
        assert json.dumps(shaped) == json.dumps(PredictionSerializer(prediction).data)
        assert shaped == PredictionSerializer(Prediction.objects.get(pk=prediction.pk)).data  # as stored


def test_an_unusual_record_is_answered_with_why(api_client, active_version, record, odd_record):
    response = api_client("predict").post(PREDICT, {"instances": [odd_record, record]}, format="json")

    assert response.status_code == 200, response.content
    odd, typical = response.json()["predictions"]
    row = Prediction.objects.get(pk=odd["prediction_id"])
    assert (odd["unusual"], odd["unusual_reasons"]) == (True, row.unusual_reasons)
    assert odd["unusual_reasons"] and all(isinstance(reason, str) for reason in odd["unusual_reasons"])
    assert (typical["unusual"], typical["unusual_reasons"]) == (False, [])


def test_a_prediction_of_a_version_older_than_the_check_answers_null(api_client, active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)
    Prediction.objects.create(
        student=student, model_version=active_version, setup="A", input=record, predicted_grade=12.0,
        pass_probability=0.8, confidence=0.8, risk="low", interval_low=10.0, interval_high=14.0,
        interval_coverage=0.9, source="api", latency_ms=1.0,
    )

    [listed] = api_client("read").get(f"/api/v1/students/{student.pk}/predictions").json()["results"]

    assert (listed["unusual"], listed["unusual_reasons"]) == (None, [])


def test_each_factor_carries_its_plain_words_and_whether_it_can_change(api_client, active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)
    stored = [("Medu", 2, -0.41), ("studytime", 2, 0.3), ("G1", 9, -1.2), ("internet", "no", -0.1)]
    Prediction.objects.create(
        student=student, model_version=active_version, setup="A", input=record, predicted_grade=9.0,
        pass_probability=0.4, confidence=0.6, risk="high", interval_low=7.0, interval_high=11.0,
        interval_coverage=0.9, source="api", latency_ms=1.0,
        top_factors=[{"feature": name, "value": value, "effect": effect} for name, value, effect in stored],
    )

    [listed] = api_client("read").get(f"/api/v1/students/{student.pk}/predictions").json()["results"]

    assert listed["top_factors"] == [
        {"feature": "Medu", "label": "mother's education: 5th to 9th grade", "value": 2, "effect": -0.41,
         "actionable": False},
        {"feature": "studytime", "label": "weekly study time: 2 to 5 hours", "value": 2, "effect": 0.3,
         "actionable": True},
        {"feature": "G1", "label": "first period grade: 9", "value": 9, "effect": -1.2, "actionable": False},
        {"feature": "internet", "label": "internet access at home: no", "value": "no", "effect": -0.1,
         "actionable": True},
    ]


def test_a_logged_in_user_gets_a_prediction_recorded_as_theirs(session_client, user, active_version, record):
    response = session_client.post(PREDICT, dict(record, G2=None), format="json")

    assert response.status_code == 200, response.content
    assert response.json()["setup"] == "B"
    row = Prediction.objects.get()
    assert (row.source, row.requested_by, row.api_key_prefix) == ("api", user, "")


def test_student_id_links_the_prediction_to_the_student(api_client, active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)

    response = api_client("predict").post(PREDICT, dict(record, student_id=student.pk), format="json")

    assert response.status_code == 200, response.content
    row = Prediction.objects.get()
    assert row.student == student
    assert row.input == record_clean(record)  # student_id is not part of the record


@pytest.mark.parametrize("student_id", [999, 2**70, "1", 1.5, True, [1], {"id": 1}])
def test_an_unknown_or_malformed_student_id_is_named(api_client, active_version, record, student_id):
    fields = refused(api_client("predict").post(PREDICT, dict(record, student_id=student_id), format="json"))

    assert list(fields) == ["student_id"]
    assert not Prediction.objects.exists()


def test_a_student_id_problem_is_reported_with_the_records_own(api_client, active_version, record):
    fields = refused(api_client("predict").post(PREDICT, dict(record, student_id=999, age=40), format="json"))

    assert fields == {"student_id": ["no student with this id"], "age": ["must be an integer from 15 to 22"]}


def test_a_teacher_cannot_link_a_colleagues_student(session_client, colleague, active_version, record):
    theirs = student_create(data={"external_id": "s-1", **record}, teacher=colleague)

    fields = refused(session_client.post(PREDICT, dict(record, student_id=theirs.pk), format="json"))

    assert fields == {"student_id": ["no student with this id"]}
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"age": 40}, "age"),
        ({"sex": "X"}, "sex"),
        ({"absences": "many"}, "absences"),
        ({"failures": True}, "failures"),
        ({"G1": None}, "G1"),  # G2 without G1
        ({"school": None}, "school"),
    ],
)
def test_a_bad_value_is_named_in_the_validators_words(api_client, active_version, record, change, field):
    bad = dict(record, **change)
    with pytest.raises(ApplicationError) as expected:
        record_clean(bad)

    fields = refused(api_client("predict").post(PREDICT, bad, format="json"))

    assert fields == expected.value.fields and list(fields) == [field]
    assert not Prediction.objects.exists()


def test_a_missing_field_is_named(api_client, active_version, record):
    del record["Mjob"]

    assert refused(api_client("predict").post(PREDICT, record, format="json")) == {"Mjob": ["is required"]}


def test_an_unknown_field_is_named(api_client, active_version, record):
    fields = refused(api_client("predict").post(PREDICT, dict(record, shoe_size=42), format="json"))

    assert fields == {"shoe_size": ["unknown field"]}


@pytest.mark.parametrize("body", [[], ["a record"], "a record", 42, None])
def test_a_body_that_is_not_an_object_is_refused(api_client, active_version, body):
    response = api_client("predict").post(PREDICT, json.dumps(body), content_type="application/json")

    assert refused(response) == {}
    assert response.json()["message"] == "The request body must be a JSON object."


def test_more_than_1000_instances_are_refused(api_client, active_version, record):
    fields = refused(api_client("predict").post(PREDICT, {"instances": [record] * 1001}, format="json"))

    assert fields == {"instances": ["holds 1001 records; at most 1000 are accepted"]}
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("instances", "reason"),
    [({"0": {}}, "must be a list of student records"), ("all", "must be a list of student records"),
     ([], "must hold at least one record")],
)
def test_instances_must_be_a_list_of_records(api_client, active_version, instances, reason):
    assert refused(api_client("predict").post(PREDICT, {"instances": instances}, format="json")) == {
        "instances": [reason]
    }


def test_a_body_mixing_instances_with_record_fields_is_refused(api_client, active_version, record):
    fields = refused(api_client("predict").post(PREDICT, {"instances": [record], "age": 17, "student_id": 1}, format="json"))

    assert set(fields) == {"age", "student_id"}
    assert not Prediction.objects.exists()


def test_a_batch_answers_in_input_order_like_one_by_one_calls(api_client, active_version, record):
    records = [record, dict(record, G2=None), dict(record, G1=None, G2=None), dict(record, absences=30, G2=15)]
    client = api_client("predict")

    batch = client.post(PREDICT, {"instances": records}, format="json")
    alone = [client.post(PREDICT, one, format="json").json() for one in records]

    assert batch.status_code == 200, batch.content
    predictions = batch.json()["predictions"]
    assert [p["setup"] for p in predictions] == ["A", "B", "C", "A"]
    assert [without_id(p) for p in predictions] == [without_id(p) for p in alone]
    assert all(set(p) == OUTPUT_KEYS for p in predictions)


def test_a_batch_writes_one_audit_row_per_record(api_client, active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)
    client = api_client("predict")
    instances = [dict(record, student_id=student.pk), dict(record, G2=None), dict(record, age=16)]

    predictions = client.post(PREDICT, {"instances": instances}, format="json").json()["predictions"]

    rows = {str(row.pk): row for row in Prediction.objects.all()}
    assert len(rows) == 3 and set(rows) == {p["prediction_id"] for p in predictions}
    ordered = [rows[p["prediction_id"]] for p in predictions]
    assert [row.student for row in ordered] == [student, None, None]
    assert [row.input["age"] for row in ordered] == [18, 18, 16]
    assert {(row.source, row.api_key_prefix) for row in ordered} == {("api", client.api_key.prefix)}


def test_a_batch_with_any_invalid_record_names_each_problem_and_saves_nothing(api_client, active_version, record):
    instances = [record, dict(record, age=40, sex="X"), dict(record, student_id=999), "not a record", record]

    fields = refused(api_client("predict").post(PREDICT, {"instances": instances}, format="json"))

    assert fields == {
        "1.age": ["must be an integer from 15 to 22"],
        "1.sex": ["must be one of F, M"],
        "2.student_id": ["no student with this id"],
        "3": ["A student record must map attribute names to values."],
    }
    assert not Prediction.objects.exists()


def test_a_batch_of_only_valid_records_with_a_bad_record_field_saves_nothing(api_client, active_version, record):
    instances = [record] * 5 + [dict(record, romantic="maybe")]

    fields = refused(api_client("predict").post(PREDICT, {"instances": instances}, format="json"))

    assert fields == {"5.romantic": ["must be one of yes, no"]}
    assert not Prediction.objects.exists()


def test_a_key_without_the_predict_scope_is_forbidden(api_client, active_version, record):
    refused(api_client("read", "write").post(PREDICT, record, format="json"), 403, "forbidden")

    assert not Prediction.objects.exists()


def test_without_an_active_model_predict_is_unavailable(api_client, db, record):
    refused(api_client("predict").post(PREDICT, record, format="json"), 503, "unavailable")


def _queries(client, body) -> tuple[list[str], list[str]]:
    """The SQL a predict request runs: (inserts into the audit log, everything else)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.post(PREDICT, body, format="json").status_code == 200
    sql = [_without_times(query["sql"]) for query in captured]
    inserts = [q for q in sql if q.startswith("INSERT") and "predictions_prediction" in q]
    return inserts, [q for q in sql if q not in inserts]


def _without_times(sql: str) -> str:
    """A captured query's SQL without the "<N> times: " Django puts before a statement run by executemany."""
    return re.sub(r"^\d+ times: ", "", sql)


def _statements(captured) -> list[str]:
    """Each query as its verb and table: "SELECT predictions_apikey", "BEGIN"."""
    described = []
    for query in captured.captured_queries:
        sql = _without_times(query["sql"])
        table = re.search(r'\b(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
        verb = sql.split()[0].upper()
        described.append(f"{verb} {table.group(1)}" if table else verb)
    return described


@pytest.fixture
def steady_client(api_client, active_version, record, settings):
    """A predict key whose first request is done: the model is loaded (once per process) and the active
    version looked at, not again before ACTIVE_MODEL_CHECK_SECONDS (here long enough for any test)."""
    settings.ACTIVE_MODEL_CHECK_SECONDS = 600
    client = api_client("predict")
    assert client.post(PREDICT, record, format="json").status_code == 200
    return client


# Real transactions (as in production, not a test's rolled-back one), so that BEGIN and COMMIT are counted.
@pytest.mark.django_db(transaction=True)
def test_a_one_record_request_reads_the_key_and_writes_the_audit_row(steady_client, record, django_assert_num_queries):
    # The rate limit is counted in the shared cache: Redis in production (no SQL), memory in the test settings.
    with django_assert_num_queries(2) as captured:
        assert steady_client.post(PREDICT, record, format="json").status_code == 200

    assert _statements(captured) == [
        "SELECT predictions_apikey",  # the unrevoked key with this prefix (unique index); hash, expiry checked on it
        "INSERT predictions_prediction",  # the audit row: one statement, no BEGIN/COMMIT around it
    ]


@pytest.mark.django_db(transaction=True)
def test_the_active_version_check_adds_one_query_when_due(steady_client, record, settings, django_assert_num_queries):
    settings.ACTIVE_MODEL_CHECK_SECONDS = 0  # due on every request (by default once a second)

    with django_assert_num_queries(3) as captured:
        assert steady_client.post(PREDICT, record, format="json").status_code == 200

    assert _statements(captured)[1] == "SELECT modelstore_modelversion"


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_rate_limits_cost_no_query(steady_client, record, settings, django_assert_num_queries):
    # Without REDIS_URL (or CACHE_REDIS_URL) the shared cache is a database table, whose read-then-write cannot
    # count atomically: the rate limits are counted in each process's memory instead (studentperf/ratelimit.py).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "throttle"}}
    call_command("createcachetable", verbosity=0)

    with django_assert_num_queries(2) as captured:
        assert steady_client.post(PREDICT, record, format="json").status_code == 200

    assert _statements(captured) == ["SELECT predictions_apikey", "INSERT predictions_prediction"]


@pytest.mark.django_db(transaction=True)
def test_a_1000_record_request_reads_the_key_and_inserts_the_audit_rows(steady_client, record):
    with CaptureQueriesContext(connection) as captured:
        assert steady_client.post(PREDICT, {"instances": [record] * 1000}, format="json").status_code == 200

    # One INSERT statement, executed for each row by the driver (executemany) in one transaction.
    assert _statements(captured) == ["SELECT predictions_apikey", "BEGIN", "INSERT predictions_prediction", "COMMIT"]
    assert Prediction.objects.count() == 1001


def test_the_queries_of_a_batch_do_not_grow_with_its_size(api_client, active_version, user, record):
    student = student_create(data={"external_id": "s-1", **record}, teacher=user)
    client = api_client("predict")
    client.post(PREDICT, record, format="json")

    small_inserts, small_other = _queries(client, {"instances": [dict(record, student_id=student.pk)] * 2})
    large_inserts, large_other = _queries(client, {"instances": [dict(record, student_id=student.pk)] * 1000})

    assert len(small_other) == len(large_other) <= 3  # the key, the students, which version is active
    assert len(small_inserts) == len(large_inserts) == 1  # one statement, executed for each row
