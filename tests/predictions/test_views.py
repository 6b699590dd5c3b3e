from __future__ import annotations

import re
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils.html import escape

from modelstore.schema import FEATURES, SETUP_DESCRIPTIONS
from modelstore.texts import model_version_accuracy_text
from predictions.models import Outcome, Prediction, Student
from predictions.selectors import student_record_get
from predictions.services import prediction_create, student_create
from predictions.templatetags.prediction_text import chance, factor_sentence, grade, risk_words
from tests.conftest import sign_in

NEW = "/predictions/new/"


def form_data(record: dict) -> dict:
    return {name: "" if value is None else value for name, value in record.items()}


def error_beside(content: str, name: str) -> str:
    """The text of the error list Django renders for one field (id_<name>_error), "" if none."""
    found = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', content, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else ""


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/"), ("get", NEW), ("get", "/predictions/3b9d7c1e-5a2f-4e8b-9c6d-0f1a2b3c4d5e/"), ("get", "/students/new/"),
     ("get", "/students/1/"), ("get", "/students/1/edit/"), ("post", "/students/1/predict/"),
     ("post", "/students/1/outcome/"), ("get", "/predictions/3b9d7c1e-5a2f-4e8b-9c6d-0f1a2b3c4d5e/student/")],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, db, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_login_page_logs_a_teacher_in(client, user):
    assert b"Log in" in client.get("/accounts/login/").content

    response = client.post("/accounts/login/", {"username": "teacher", "password": "a-long-test-password"})

    assert response.status_code == 302 and response["Location"] == "/"


def test_the_form_has_a_field_for_every_attribute(client, user, active_version):
    client.force_login(user)

    content = client.get(NEW).content.decode()

    for name, feature in FEATURES.items():
        assert f'name="{name}"' in content, name
        assert f'<label for="id_{name}">{escape(feature.label)}:</label>' in content, name
    assert '<option value="GP">GP (Gabriel Pereira)</option>' in content
    assert '<option value="4">4 (higher)</option>' in content
    assert re.search(r'<input type="number" name="age"[^>]*min="15"[^>]*max="22"', content)
    assert re.search(r'<input type="number" name="G1"(?![^>]*required)[^>]*>', content)


def test_a_valid_form_shows_the_prediction(client, user, active_version, record):
    client.force_login(user)

    response = client.post(NEW, form_data(dict(record, G2=None)))

    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("predictions:detail", kwargs={"pk": prediction.pk})
    assert (prediction.source, prediction.requested_by, prediction.setup) == ("web", user, "B")
    page = client.get(response["Location"]).content.decode()
    # Cut as the teacher pages cut every number (tests/predictions/test_templatetags_prediction_text.py).
    assert f"{grade(prediction.predicted_grade)} / 20" in page
    assert "90 % interval" in page
    assert f"{grade(prediction.interval_low)} to {grade(prediction.interval_high)}" in page
    assert f"{escape(chance(prediction.pass_probability))} (a pass is 10 or more)" in page
    assert f'class="risk risk-{prediction.risk}">{prediction.get_risk_display()} risk<' in page
    assert risk_words(prediction.risk) in page
    assert "Confidence" not in page
    assert SETUP_DESCRIPTIONS["B"] in page
    assert all(escape(factor_sentence(factor)) in page for factor in prediction.top_factors)
    assert f"v{active_version.version} (test-default)" in page


def test_an_invalid_form_shows_each_error_beside_its_field(client, user, active_version, record):
    client.force_login(user)

    response = client.post(NEW, form_data(dict(record, age="99", school="", G1="")))

    content = response.content.decode()
    assert response.status_code == 200
    assert error_beside(content, "age") == "Age must be an integer from 15 to 22."
    assert error_beside(content, "school") == "School is required."
    assert error_beside(content, "G1") == "First period grade is required when G2 is given."
    assert error_beside(content, "sex") == ""
    assert 'aria-invalid="true" aria-describedby="id_age_helptext id_age_error"' in content
    assert 'value="99"' in content  # what was typed is kept
    assert not Prediction.objects.exists()


def test_a_teacher_cannot_see_another_teachers_prediction(client, user, colleague, active_version, record):
    prediction = prediction_create(record=record, source="web", user=user)
    url = reverse("predictions:detail", kwargs={"pk": prediction.pk})

    client.force_login(colleague)
    assert client.get(url).status_code == 404

    client.force_login(user)
    assert client.get(url).status_code == 200


def test_a_superuser_sees_every_prediction(client, user, django_user_model, active_version, record):
    prediction = prediction_create(record=record, source="web", user=user)
    sign_in(client, django_user_model.objects.create_superuser(username="boss", password="long-boss-password"))

    assert client.get(reverse("predictions:detail", kwargs={"pk": prediction.pk})).status_code == 200


def test_the_prediction_page_shows_the_time_in_the_schools_time_zone(client, user, active_version, record):
    prediction = prediction_create(record=record, source="web", user=user)
    client.force_login(user)

    content = client.get(reverse("predictions:detail", kwargs={"pk": prediction.pk})).content.decode()

    lisbon = prediction.created_at.astimezone(ZoneInfo("Europe/Lisbon"))  # TIME_ZONE's default
    assert f'<time datetime="{lisbon.isoformat()}">{lisbon:%Y-%m-%d %H:%M} {lisbon.tzname()}</time>' in content
    assert "UTC" not in content


def test_a_student_of_another_school_is_added_shown_by_its_name_and_predicted_without_the_school(
    client, user, active_version, record, settings
):
    settings.SCHOOLS = {"GP": "Gabriel Pereira", "ESL": "Escola Secundaria de Lisboa"}
    client.force_login(user)

    response = client.post(reverse("predictions:student-new"), {
        **form_data({**record, "school": "ESL", "health": None}), "external_id": "e-1",
    })

    student = Student.objects.get(external_id="e-1")
    assert response.status_code == 302 and (student.school, student.health) == ("ESL", None)
    page = client.get(reverse("predictions:student-detail", kwargs={"pk": student.pk})).content.decode()
    assert "<dd>Escola Secundaria de Lisboa (ESL)</dd>" in page
    unknown = re.search(r'<p class="helptext" id="unknown-attributes">(.*?)</p>', page, re.S).group(1)
    assert "school, current health status." in " ".join(unknown.split())
    prediction = Prediction.objects.get(student=student)
    detail = client.get(reverse("predictions:detail", kwargs={"pk": prediction.pk})).content.decode()
    assert re.search(r'Current health status <span class="helptext">\(health\)</span></th><td>unknown</td>', detail)
    assert re.search(r'School <span class="helptext">\(school\)</span></th><td>ESL \(Escola Secundaria de Lisboa\)</td>',
                     detail)


# ---- A quick prediction saved as a student ---------------------------------------------------------------------


def save_as_student_url(prediction) -> str:
    return reverse("predictions:student-new-from-prediction", kwargs={"pk": prediction.pk})


def test_a_quick_prediction_offers_to_save_it_as_a_student_on_its_page_and_the_dashboard(
    client, user, active_version, record
):
    prediction = prediction_create(record=record, source="web", user=user)
    client.force_login(user)

    page = client.get(reverse("predictions:detail", kwargs={"pk": prediction.pk})).content.decode()
    dashboard = client.get(url("dashboard")).content.decode()

    link = f'href="{save_as_student_url(prediction)}"'
    assert re.search(rf'<a class="button" id="save-as-student"\s+{re.escape(link)}>Save as a student</a>', page)
    assert f'<a {link}\n            data-save-as-student>Save as a student' in dashboard


def test_a_prediction_of_a_student_or_of_someone_else_offers_no_save_as_student(
    client, user, colleague, model_admin, active_version, record
):
    student = student_of(user, "s-1", record)
    of_student = prediction_create(record=record, source="web", user=user, student=student)
    quick = prediction_create(record=record, source="web", user=user)

    client.force_login(user)
    assert 'id="save-as-student"' not in client.get(url("detail", of_student)).content.decode()
    sign_in(client, model_admin)  # sees every prediction, but adds no student and did not make this one
    assert 'id="save-as-student"' not in client.get(url("detail", quick)).content.decode()


def test_the_student_form_comes_filled_in_from_my_quick_prediction_and_saving_predicts_the_student(
    client, user, active_version, record
):
    quick = prediction_create(record=dict(record, G2=None), source="web", user=user)
    client.force_login(user)

    content = client.get(save_as_student_url(quick)).content.decode()

    assert 'id="from-prediction"' in content
    assert re.search(r'<input type="text" name="external_id"(?![^>]*value=)[^>]*>', content)  # left to the teacher
    for name, value in quick.input.items():
        assert typed_value_kept(content, name, value), name
    assert re.search(r'<input type="number" name="G2"(?![^>]*value=)[^>]*>', content)
    assert re.search(rf'<form method="post" novalidate id="student-form"\s+action="{url("student-new")}">', content)

    response = client.post(url("student-new"), form_data({"external_id": "2024-007", **quick.input}))

    student = Student.objects.get()
    assert response.status_code == 302 and response["Location"] == url("student-detail", student)
    assert student_record_get(student=student) == quick.input
    latest = Prediction.objects.filter(student=student).get()  # a new row: the quick one stays as it was
    assert (latest.input, latest.predicted_grade, latest.risk) == (quick.input, quick.predicted_grade, quick.risk)
    assert Prediction.objects.get(pk=quick.pk).student is None


def test_only_my_own_quick_prediction_fills_in_the_student_form(client, user, colleague, active_version, record):
    theirs = prediction_create(record=record, source="web", user=colleague)
    of_student = prediction_create(record=record, source="web", user=user, student=student_of(user, "s-1", record))
    batch_row = prediction_create(record=record, source="batch", user=user)  # a class upload's: its own pages
    client.force_login(user)

    assert client.get(save_as_student_url(theirs)).status_code == 404
    assert client.get(save_as_student_url(of_student)).status_code == 404
    assert client.get(save_as_student_url(batch_row)).status_code == 404
    assert 'id="save-as-student"' not in client.get(url("detail", batch_row)).content.decode()
    assert client.get(f"/predictions/{uuid.uuid4()}/student/").status_code == 404
    assert client.get("/predictions/not-a-uuid/student/").status_code == 404


def test_an_account_that_adds_no_students_cannot_open_the_filled_in_form(client, model_admin, active_version, record):
    mine = prediction_create(record=record, source="web", user=model_admin)
    sign_in(client, model_admin)

    assert client.get(save_as_student_url(mine)).status_code == 403


def test_an_unknown_prediction_is_not_found(client, user):
    client.force_login(user)

    assert client.get(f"/predictions/{uuid.uuid4()}/").status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
def test_without_an_active_model_the_form_page_says_so(client, user, record, method):
    client.force_login(user)

    response = getattr(client, method)(NEW, form_data(record) if method == "post" else None)

    assert response.status_code == 503
    assert "no prediction model is active" in response.content.decode()
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("factor", "sentence"),
    [
        ({"feature": "absences", "value": 10, "effect": -0.84},
         "school absences: 10 (can change) lowers the predicted grade by 0.8 points"),
        ({"feature": "Medu", "value": 4, "effect": 1.02},
         "mother's education: higher (background) raises the predicted grade by 1.0 point"),
        ({"feature": "Mjob", "value": "at_home", "effect": 0.01},
         "mother's job: at home (background) barely changes the predicted grade"),
    ],
)
def test_factors_read_as_plain_sentences(factor, sentence):
    assert factor_sentence(factor) == sentence


# ---- Students: helpers --------------------------------------------------------------------------------------


def student_of(teacher, external_id: str, record: dict, **changes):
    return student_create(data={"external_id": external_id, **dict(record, **changes)}, teacher=teacher)


def prediction_row(student, version, *, grade: float, pass_probability: float, risk: str, setup: str = "A"):
    """A prediction written straight to the audit log, for pages that list given grades and risks."""
    return Prediction.objects.create(
        student=student, model_version=version, setup=setup, input={}, predicted_grade=grade,
        pass_probability=pass_probability, confidence=0.8, risk=risk, interval_low=max(grade - 2, 0),
        interval_high=min(grade + 2, 20), interval_coverage=0.9, top_factors=[], source="web", latency_ms=1.0,
    )


def url(name: str, student=None) -> str:
    return reverse(f"predictions:{name}", kwargs={"pk": student.pk} if student is not None else None)


def typed_value_kept(content: str, name: str, value) -> bool:
    """Whether the page shows `value` in the input or select named `name`."""
    if value is None or value == "":
        return True
    as_input = re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(escape(str(value)))}"', content)
    select = re.search(rf'<select name="{name}".*?</select>', content, re.S)
    return bool(as_input) or bool(select and f'<option value="{escape(value)}" selected>' in select.group(0))


def bad_value(name: str) -> str:
    feature = FEATURES[name]
    return "nonsense" if feature.kind == "category" else str(feature.maximum + 1)


def rows_of(content: str) -> list[str]:
    """The external ids of the dashboard table's rows, in order."""
    table = re.search(r'<table id="students">(.*?)</table>', content, re.S)
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', table.group(1)) if table else []


# ---- Permissions and visibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dashboard", "student-new", "new"])
def test_an_account_without_a_role_is_refused_the_teacher_pages(client, make_user, name):
    client.force_login(make_user("norole", None))

    assert client.get(url(name)).status_code == 403


@pytest.mark.parametrize(
    ("method", "name"),
    [("get", "student-detail"), ("get", "student-edit"), ("post", "student-edit"), ("post", "student-predict"),
     ("post", "student-outcome")],
)
def test_another_teachers_student_does_not_exist_for_a_teacher(client, user, colleague, record, method, name):
    student = student_of(colleague, "theirs", record)
    client.force_login(user)

    response = getattr(client, method)(url(name, student), {"final_grade": "12", **form_data(record)})

    assert response.status_code == 404
    assert not Prediction.objects.exists() and not Outcome.objects.exists()


def test_a_model_admin_reads_any_student_but_cannot_edit_or_record_grades(client, user, model_admin, record):
    student = student_of(user, "s-1", record)
    sign_in(client, model_admin)

    page = client.get(url("student-detail", student))

    assert page.status_code == 200
    content = page.content.decode()
    assert url("student-edit", student) not in content and 'id="outcome-form"' not in content
    assert client.get(url("student-edit", student)).status_code == 403
    assert client.post(url("student-edit", student), form_data(dict(record, external_id="x"))).status_code == 403
    assert client.post(url("student-outcome", student), {"final_grade": "12"}).status_code == 403
    assert client.get(url("student-new")).status_code == 403
    assert not Outcome.objects.exists() and Student.objects.get().external_id == "s-1"


def test_a_teacher_sees_the_edit_link_and_the_outcome_form_of_their_student(client, user, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    content = client.get(url("student-detail", student)).content.decode()

    assert url("student-edit", student) in content and 'id="outcome-form"' in content


def test_predicting_a_student_takes_a_post(client, user, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    assert client.get(url("student-predict", student)).status_code == 405
    assert client.get(url("student-outcome", student)).status_code == 405


# ---- Student form --------------------------------------------------------------------------------------------


def test_the_student_form_groups_every_attribute_under_legends(client, user):
    client.force_login(user)

    content = client.get(url("student-new")).content.decode()

    assert 'id="student-form"' in content
    for legend in ("Student", "School and family", "Studies", "Life outside school", "Period grades"):
        assert f"<legend>{legend}</legend>" in content
    for name, feature in FEATURES.items():
        assert f'<label for="id_{name}">{escape(feature.label)}:</label>' in content, name
    assert 'name="external_id"' in content


def test_a_good_record_creates_the_student_predicts_and_audits_it(client, user, active_version, record):
    client.force_login(user)

    response = client.post(url("student-new"), form_data({"external_id": "2024-001", **record}))

    student = Student.objects.get()
    prediction = Prediction.objects.get()
    assert response.status_code == 302 and response["Location"] == url("student-detail", student)
    assert (student.external_id, student.teacher, student.G2) == ("2024-001", user, record["G2"])
    assert (prediction.student, prediction.source, prediction.requested_by, prediction.setup) == (
        student, "web", user, "A"
    )
    page = client.get(response["Location"]).content.decode()
    assert "Student 2024-001 added and predicted." in page
    assert f"{grade(prediction.predicted_grade)} / 20" in page


def test_without_an_active_model_the_student_is_saved_and_the_page_says_predictions_are_unavailable(
    client, user, record
):
    client.force_login(user)
    assert 'id="no-model"' in client.get(url("student-new")).content.decode()

    response = client.post(url("student-new"), form_data({"external_id": "2024-001", **record}), follow=True)

    content = response.content.decode()
    assert Student.objects.count() == 1 and not Prediction.objects.exists()
    assert "Predictions are unavailable right now" in content
    assert 'id="predictions-unavailable"' in content


@pytest.mark.parametrize("name", list(FEATURES))
def test_a_bad_value_shows_its_error_beside_the_field_and_keeps_the_rest(client, user, record, name):
    client.force_login(user)
    typed = {"external_id": "2024-001", **dict(record, **{name: bad_value(name)})}

    response = client.post(url("student-new"), form_data(typed))

    content = response.content.decode()
    assert response.status_code == 200 and not Student.objects.exists()
    assert error_beside(content, name).startswith(escape(FEATURES[name].label)), name
    assert f'aria-invalid="true" aria-describedby="id_{name}_helptext id_{name}_error" id="id_{name}"' in content
    assert f'<a href="#id_{name}">' in re.search(r'class="error-summary".*?</div>', content, re.S).group(0)
    others = {key: value for key, value in typed.items() if key != name}
    assert all(error_beside(content, other) == "" for other in others)
    assert all(typed_value_kept(content, other, value) for other, value in others.items()), name
    is_select = FEATURES[name].kind == "category" or FEATURES[name].choice_labels
    assert is_select or typed_value_kept(content, name, typed[name])  # a select has no option for a bad value


def test_a_student_id_the_teacher_already_uses_at_the_school_is_refused_beside_the_id(client, user, record):
    student_of(user, "2024-001", record)
    client.force_login(user)

    response = client.post(url("student-new"), form_data({"external_id": "2024-001", **record}))

    assert error_beside(response.content.decode(), "external_id") == (
        "Student id is already used by another student of the same teacher at school GP."
    )
    assert Student.objects.count() == 1


def test_another_teachers_student_id_is_free_for_a_teacher_and_nothing_of_it_is_shown(client, user, colleague, record):
    theirs = student_of(colleague, "2024-001", record, absences=17)
    client.force_login(user)

    response = client.post(url("student-new"), form_data({"external_id": "2024-001", **record}), follow=True)

    mine = Student.objects.get(teacher=user, external_id="2024-001")
    assert response.status_code == 200 and mine.pk != theirs.pk and mine.absences == record["absences"]
    content = response.content.decode()
    assert "already" not in content and "colleague" not in content
    assert f"/students/{theirs.pk}/" not in content


def test_editing_shows_the_stored_values(client, user, record):
    student = student_of(user, "s-1", record, G2=None)
    client.force_login(user)

    content = client.get(url("student-edit", student)).content.decode()

    assert typed_value_kept(content, "external_id", "s-1") and typed_value_kept(content, "G1", record["G1"])
    assert re.search(r'<input type="number" name="G2"(?![^>]*value=)[^>]*>', content)


def test_clearing_g2_changes_the_setup_of_the_next_prediction(client, user, active_version, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    response = client.post(url("student-edit", student), form_data(dict(record, external_id="s-1", G2=None)))

    student.refresh_from_db()
    assert response.status_code == 302 and student.G2 is None
    assert Prediction.objects.get(student=student).setup == "B"
    page = client.get(url("student-detail", student)).content.decode()
    assert "setup B: " in page and "Student s-1 saved and predicted." in page


def test_an_invalid_edit_changes_nothing(client, user, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    response = client.post(url("student-edit", student), form_data(dict(record, external_id="s-2", G1=None)))

    assert error_beside(response.content.decode(), "G1") == "First period grade is required when G2 is given."
    assert typed_value_kept(response.content.decode(), "external_id", "s-2")
    student.refresh_from_db()
    assert (student.external_id, student.G1) == ("s-1", record["G1"])


# ---- Student page --------------------------------------------------------------------------------------------


def test_the_student_page_shows_the_latest_prediction_its_accuracy_and_factor_chart(
    client, user, active_version, record
):
    student = student_of(user, "s-1", record)
    older = prediction_create(record=dict(record), source="web", user=user, student=student)
    latest = prediction_create(record=dict(record), source="web", user=user, student=student)
    client.force_login(user)

    content = client.get(url("student-detail", student)).content.decode()

    section = re.search(r'<section id="latest-prediction".*?</section>', content, re.S).group(0)
    assert f"{grade(latest.predicted_grade)} / 20" in section
    assert f"{grade(latest.interval_low)} to {grade(latest.interval_high)}" in section
    assert f'class="risk risk-{latest.risk}"' in section and SETUP_DESCRIPTIONS["A"] in section
    assert escape(model_version_accuracy_text(version=active_version, setup="A")) in section
    chart = re.search(r'<figure class="factors" id="factors".*?</figure>', section, re.S).group(0)
    for factor in latest.top_factors:
        assert escape(FEATURES[factor["feature"]].label) in chart
        assert f"{factor['effect']:+.1f} points" in chart
        assert escape(factor_sentence(factor)) in chart  # the text alternative
    assert "<svg" in chart and "<script" not in content
    for prediction in (older, latest):
        assert url("detail", prediction) in content
    assert 'action="' + url("student-predict", student) + '"' in content


UNUSUAL_NOTICE = "This student's record is unlike the students the model learned from: treat the prediction with care."


def unusual_notice(content: str) -> str:
    """The unusual-record notice of a page, "" if it has none."""
    found = re.search(r'<div class="notice" role="note" id="unusual-notice">.*?</div>', content, re.S)
    return found.group(0) if found else ""


def test_the_student_page_says_plainly_why_an_unusual_record_is_unusual(client, user, active_version, odd_record):
    student = student_of(user, "s-1", odd_record)
    prediction = prediction_create(record=odd_record, source="web", user=user, student=student)
    client.force_login(user)

    content = client.get(url("student-detail", student)).content.decode()

    assert prediction.unusual is True and prediction.unusual_reasons
    section = re.search(r'<section id="latest-prediction".*?</section>', content, re.S).group(0)
    notice = unusual_notice(section)
    assert UNUSUAL_NOTICE in notice
    reasons = re.findall(r"<li>(.*?)</li>", notice)
    assert reasons == [escape(reason) for reason in prediction.unusual_reasons]
    history = re.search(r'<table id="predictions">.*?</table>', content, re.S).group(0)
    assert history.count('data-unusual="true"') == 1 and ">unusual<" in history


def test_a_typical_record_and_a_prediction_older_than_the_check_show_no_notice(client, user, active_version, record):
    typical = student_of(user, "s-1", record)
    prediction = prediction_create(record=record, source="web", user=user, student=typical)
    old = prediction_row(student_of(user, "s-2", record), active_version, grade=12.0, pass_probability=0.8, risk="low")
    client.force_login(user)

    assert (prediction.unusual, Prediction.objects.get(pk=old.pk).unusual) == (False, None)
    pages = (url("student-detail", typical), url("student-detail", old.student), url("detail", old), url("dashboard"))
    for page in pages:
        response = client.get(page)
        content = response.content.decode()
        assert response.status_code == 200, page
        assert not unusual_notice(content) and UNUSUAL_NOTICE not in content and 'data-unusual="true"' not in content


def test_a_quick_prediction_of_an_unusual_record_shows_the_notice(client, user, active_version, odd_record):
    client.force_login(user)

    response = client.post(NEW, form_data(odd_record), follow=True)

    prediction = Prediction.objects.get()
    notice = unusual_notice(response.content.decode())
    assert UNUSUAL_NOTICE in notice
    assert all(escape(reason) in notice for reason in prediction.unusual_reasons)
    dashboard = client.get(url("dashboard")).content.decode()
    assert 'data-unusual="true"' in dashboard.split("My recent quick predictions")[1]


def test_predict_again_adds_a_prediction_to_the_history(client, user, active_version, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    response = client.post(url("student-predict", student), follow=True)

    prediction = Prediction.objects.get()
    assert (prediction.student, prediction.source) == (student, "web")
    assert "predicted again" in response.content.decode()


def test_predict_again_without_a_model_says_so_and_writes_nothing(client, user, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    response = client.post(url("student-predict", student), follow=True)

    assert "No new prediction" in response.content.decode() and not Prediction.objects.exists()


@pytest.mark.parametrize("grade", ["21", "-1", "abc", "", "12.5"])
def test_a_bad_final_grade_shows_the_error_and_saves_nothing(client, user, record, grade):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    response = client.post(url("student-outcome", student), {"final_grade": grade})

    content = response.content.decode()
    assert response.status_code == 200 and not Outcome.objects.exists()
    assert error_beside(content, "final_grade") == "Final grade (G3) must be an integer from 0 to 20."
    assert 'id="outcome-form"' in content and typed_value_kept(content, "final_grade", grade)


def test_a_corrected_final_grade_keeps_the_history(client, user, record):
    student = student_of(user, "s-1", record)
    client.force_login(user)

    client.post(url("student-outcome", student), {"final_grade": "11"})
    response = client.post(url("student-outcome", student), {"final_grade": "13"}, follow=True)

    content = response.content.decode()
    history = re.search(r'<table id="outcome-history">(.*?)</table>', content, re.S).group(1)
    rows = re.findall(r"<tr(.*?)</tr>", history, re.S)[1:]
    assert len(rows) == 2
    assert "13 / 20" in rows[0] and "corrects 11" in rows[0] and "teacher" in rows[0]
    assert "11 / 20" in rows[1] and "corrected" in rows[1] and 'data-corrected="true"' in rows[1]
    assert "Final grade 13 recorded" in content
    assert Outcome.objects.get(is_current=True).final_grade == 13


def test_the_prediction_page_links_back_to_the_student_and_says_how_accurate(client, user, active_version, record):
    student = student_of(user, "s-1", record, G2=None)
    prediction = prediction_create(record=dict(record, G2=None), source="web", user=user, student=student)
    client.force_login(user)

    content = client.get(url("detail", prediction)).content.decode()

    assert f'href="{url("student-detail", student)}"' in content
    assert escape(model_version_accuracy_text(version=active_version, setup="B")) in content
    assert 'id="factors"' in content


# ---- Numbers and risk in a teacher's words ------------------------------------------------------------------


def test_the_student_page_shows_no_confidence_and_explains_the_risk_in_words(client, user, active_version, record):
    student = student_of(user, "s-1", record)
    prediction_row(student, active_version, grade=9.46, pass_probability=0.004, risk="high")
    client.force_login(user)

    content = client.get(url("student-detail", student)).content.decode()

    section = re.search(r'<section id="latest-prediction".*?</section>', content, re.S).group(0)
    assert "Confidence" not in content
    assert 'High risk</span><span class="risk-words">: less than a 50 % chance to pass</span>' in section
    assert "Chance to pass</dt><dd>&lt;1 % (a pass is 10 or more)" in section
    assert "Predicted final grade: 9.4 / 20" in section and "7.4 to 11.4" in section  # cut, never rounded up
    history = re.search(r'<table id="predictions">.*?</table>', content, re.S).group(0)
    assert "9.4 / 20" in history and "&lt;1 %" in history and "less than a 50 % chance to pass" in history


def test_the_prediction_page_shows_no_confidence_and_explains_the_risk_in_words(client, user, active_version, record):
    prediction = prediction_row(student_of(user, "s-1", record), active_version, grade=14.0, pass_probability=0.995,
                                risk="low")
    client.force_login(user)

    content = client.get(url("detail", prediction)).content.decode()

    assert "Confidence" not in content
    assert "Chance to pass</dt><dd>&gt;99 % (a pass is 10 or more)" in content
    assert 'Low risk</span><span class="risk-words">: at least an 80 % chance to pass</span>' in content


def test_the_risk_words_follow_the_thresholds_in_settings(client, user, active_version, record, settings):
    settings.RISK_HIGH_BELOW, settings.RISK_MEDIUM_BELOW = 0.4, 0.7
    prediction = prediction_row(student_of(user, "s-1", record), active_version, grade=10.0, pass_probability=0.55,
                                risk="medium")
    client.force_login(user)

    content = client.get(url("detail", prediction)).content.decode()

    assert "55 %" in content
    assert ": at least a 40 % but less than a 70 % chance to pass</span>" in content


def test_the_dashboard_explains_each_risk_band_and_cuts_its_numbers(client, user, active_version, record):
    prediction_row(student_of(user, "s-a", record), active_version, grade=9.46, pass_probability=0.497, risk="high")
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    counts = re.search(r'<ul class="counts" id="risk-counts".*?</ul>', content, re.S).group(0)
    assert "high risk: less than a 50 % chance to pass" in counts
    assert "medium risk: at least a 50 % but less than an 80 % chance to pass" in counts
    assert "low risk: at least an 80 % chance to pass" in counts
    row = re.search(r'<tr data-student="\d+">.*?</tr>', content, re.S).group(0)
    # 0.497 is not "50 %" beside "less than a 50 % chance"; 9.46 is not "9.5", the grade that means a pass is likely.
    assert "9.4 / 20" in row and ">49 %<" in row


# ---- Dashboard -----------------------------------------------------------------------------------------------


@pytest.fixture
def three_students(user, colleague, active_version, record):
    """s-a (high risk, grade 6, setup A), s-b (low, 15, B), s-c (never predicted), and a colleague's student."""
    a = student_of(user, "s-a", record)
    b = student_of(user, "s-b", record, G2=None)
    c = student_of(user, "s-c", record)
    theirs = student_of(colleague, "their-1", record)
    prediction_row(a, active_version, grade=9.0, pass_probability=0.6, risk="medium")  # superseded by the next one
    prediction_row(a, active_version, grade=6.0, pass_probability=0.1, risk="high")
    prediction_row(b, active_version, grade=15.0, pass_probability=0.95, risk="low", setup="B")
    prediction_row(theirs, active_version, grade=8.0, pass_probability=0.2, risk="high")
    return a, b, c


def test_the_dashboard_lists_my_students_with_their_latest_prediction_only(client, user, three_students):
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    assert rows_of(content) == ["s-a", "s-b", "s-c"]
    assert "their-1" not in content
    row_a = re.search(r'<tr data-student="\d+">\s*<th scope="row"><a[^>]*>s-a</a>.*?</tr>', content, re.S).group(0)
    assert "6.0 / 20" in row_a and "10 %" in row_a and "risk-high" in row_a
    # the superseded prediction is not shown (matched as displayed, not as a substring a timestamp may contain)
    assert "9.0 / 20" not in row_a and "60 %" not in row_a and "risk-medium" not in row_a


def test_the_dashboard_marks_a_student_whose_latest_prediction_is_unusual(client, user, active_version, record,
                                                                         odd_record):
    odd, typical = student_of(user, "s-odd", odd_record), student_of(user, "s-typical", record)
    for student in (odd, typical):
        prediction_create(record=student_record_get(student=student), source="web", user=user, student=student)
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    rows = dict(re.findall(r'<tr data-student="\d+">\s*<th scope="row"><a[^>]*>([^<]+)</a>(.*?)</tr>', content, re.S))
    assert 'data-unusual="true"' in rows["s-odd"] and 'title="This record is unlike' in rows["s-odd"]
    assert "unusual" not in rows["s-typical"]


def test_the_dashboard_counts_my_students_per_risk_band(client, user, three_students):
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    counts = dict(re.findall(r'<li data-risk="(\w+)"><a[^>]*>\s*<span class="count">(\d+)</span>', content))
    assert counts == {"high": "1", "medium": "0", "low": "1", "none": "1"}


def test_a_model_admin_sees_every_student_on_the_dashboard(client, model_admin, three_students):
    sign_in(client, model_admin)

    content = client.get(url("dashboard")).content.decode()

    assert rows_of(content) == ["s-a", "their-1", "s-b", "s-c"]  # both high risk: the lower chance to pass first
    assert "Add student" not in content


@pytest.mark.parametrize(
    ("sort", "order"),
    [("external_id", ["s-a", "s-b", "s-c"]), ("-external_id", ["s-c", "s-b", "s-a"]),
     ("grade", ["s-a", "s-b", "s-c"]), ("-grade", ["s-b", "s-a", "s-c"]),
     ("pass_probability", ["s-a", "s-b", "s-c"]), ("-pass_probability", ["s-b", "s-a", "s-c"]),
     ("-risk", ["s-a", "s-b", "s-c"]), ("risk", ["s-b", "s-a", "s-c"]),
     ("setup", ["s-a", "s-b", "s-c"]), ("-setup", ["s-b", "s-a", "s-c"]),
     ("-predicted_at", ["s-b", "s-a", "s-c"])],
)
def test_the_dashboard_sorts_by_column(client, user, three_students, sort, order):
    client.force_login(user)

    content = client.get(url("dashboard"), {"sort": sort}).content.decode()

    assert rows_of(content) == order
    assert re.search(rf'<th scope="col" aria-sort="(ascending|descending)"><a href="\?sort=[^"]*" data-sort="{sort.lstrip("-")}"', content)


def test_the_dashboard_puts_the_highest_risk_first_then_the_lowest_chance_and_never_predicted_last(
    client, user, active_version, record
):
    students = {name: student_of(user, name, record) for name in ("a-none", "b-low", "c-high-40", "d-high-10", "e-mid")}
    prediction_row(students["b-low"], active_version, grade=15.0, pass_probability=0.95, risk="low")
    prediction_row(students["c-high-40"], active_version, grade=9.0, pass_probability=0.4, risk="high")
    prediction_row(students["d-high-10"], active_version, grade=6.0, pass_probability=0.1, risk="high")
    prediction_row(students["e-mid"], active_version, grade=11.0, pass_probability=0.6, risk="medium")
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()
    lowest_first = client.get(url("dashboard"), {"sort": "risk"}).content.decode()

    assert rows_of(content) == ["d-high-10", "c-high-40", "e-mid", "b-low", "a-none"]
    assert rows_of(lowest_first) == ["b-low", "e-mid", "c-high-40", "d-high-10", "a-none"]
    # the risk column is marked as the sorted one, and its link turns the order round
    assert '<th scope="col" aria-sort="descending"><a href="?sort=risk" data-sort="risk">' in content
    assert "Highest risk first, then the lowest chance to pass" in content
    assert "Highest risk first" not in lowest_first


def test_the_risk_comes_right_after_the_student_and_school_columns(client, user, three_students):
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    assert re.findall(r'data-sort="(\w+)"', content)[:4] == ["external_id", "school", "risk", "pass_probability"]
    row_a = re.search(r'<tr data-student="\d+">\s*<th scope="row"><a[^>]*>s-a</a>.*?</tr>', content, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row_a, re.S)
    assert "risk-high" in cells[1] and "10 %" in cells[2]


def test_a_column_header_links_to_the_other_direction_and_keeps_the_filters(client, user, three_students):
    client.force_login(user)

    content = client.get(url("dashboard"), {"sort": "grade", "q": "s-", "page": "1"}).content.decode()

    assert 'aria-sort="ascending"><a href="?sort=-grade&amp;q=s-" data-sort="grade"' in content
    assert '<a href="?sort=pass_probability&amp;q=s-" data-sort="pass_probability"' in content


@pytest.mark.parametrize("sort", ["bogus", "-", "latest_grade", "pk; drop table", "--grade"])
def test_an_unknown_sort_is_ignored(client, user, three_students, sort):
    client.force_login(user)

    response = client.get(url("dashboard"), {"sort": sort})

    assert response.status_code == 200 and rows_of(response.content.decode()) == ["s-a", "s-b", "s-c"]


@pytest.mark.parametrize(
    ("query", "rows"),
    [({"risk": "high"}, ["s-a"]), ({"risk": "low"}, ["s-b"]), ({"risk": "none"}, ["s-c"]), ({"risk": "medium"}, []),
     ({"setup": "B"}, ["s-b"]), ({"setup": "A", "risk": "high"}, ["s-a"]), ({"q": "S-B"}, ["s-b"]),
     ({"q": "their"}, []), ({"risk": "extreme", "setup": "Z"}, ["s-a", "s-b", "s-c"])],
)
def test_the_dashboard_filters_by_risk_and_setup_and_searches_the_student_id(client, user, three_students, query, rows):
    client.force_login(user)

    response = client.get(url("dashboard"), query)

    content = response.content.decode()
    assert response.status_code == 200 and rows_of(content) == rows
    assert ('id="no-match"' in content) == (not rows)


def test_the_dashboard_shows_fifty_students_a_page(client, user, record):
    Student.objects.bulk_create(
        [Student(external_id=f"s-{number:03}", teacher=user, **dict(record, G1=None, G2=None)) for number in range(51)]
    )
    client.force_login(user)

    first = client.get(url("dashboard")).content.decode()
    second = client.get(url("dashboard"), {"page": "2"}).content.decode()

    assert len(rows_of(first)) == 50 and rows_of(second) == ["s-050"]
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    assert rows_of(client.get(url("dashboard"), {"page": "nonsense"}).content.decode())[0] == "s-000"


def test_an_empty_dashboard_says_to_add_the_first_student(client, user, active_version):
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    assert 'id="empty-state"' in content and "Add your first student" in content
    assert f'href="{url("student-new")}"' in content
    assert 'id="students"' not in content and 'id="no-model"' not in content


def test_an_empty_dashboard_without_a_model_says_none_is_active(client, user):
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    assert 'id="no-model"' in content and "No prediction model is active yet" in content


# ---- Look and feel -------------------------------------------------------------------------------------------


def test_the_stylesheet_is_a_static_file_linked_from_every_page(client, user):
    from django.contrib.staticfiles import finders
    from django.templatetags.static import static

    found = finders.find("css/studentperf.css")
    client.force_login(user)

    content = client.get(url("dashboard")).content.decode()

    assert found and ".risk-high" in open(found).read() and ":focus-visible" in open(found).read()
    assert f'<link rel="stylesheet" href="{static("css/studentperf.css")}">' in content
    assert "<style" not in content and " style=" not in content  # no CSS in the page itself (the CSP forbids it)
    assert "https://" not in re.search(r"<head>.*?</head>", content, re.S).group(0)


def test_the_navigation_marks_the_current_page_and_offers_what_the_account_may_do(client, user, model_admin):
    client.force_login(user)

    content = client.get(url("student-new")).content.decode()

    assert f'<a href="{url("student-new")}" aria-current="page">Add student</a>' in content
    assert f'href="{reverse("password_change")}"' in content and 'action="/accounts/logout/"' in content
    assert 'href="/admin/"' not in content and 'class="skip" href="#content"' in content
    sign_in(client, model_admin)
    content = client.get(url("dashboard")).content.decode()
    assert 'href="/admin/"' in content and "Add student" not in content
