"""The batch pages: upload form, job page with its progress bar, summary, results download, the list."""
from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.html import escape

from predictions.batches.files import TEMPLATE_HEADER
from predictions.batches.services import BROKER_DOWN, batch_job_process
from predictions.models import BatchJob, BatchRow
from tests.conftest import sign_in

from tests.predictions.batches.support import UCI_FILE, broker, csv_text  # noqa: F401  (broker: a fixture)

pytestmark = pytest.mark.django_db
NEW = "/batches/new/"
# A job id no one has (fixed, not random: pytest-xdist workers must collect the same test names).
NO_SUCH_JOB = "6f1c2a9e-0d3b-4c55-9a1e-2b7d8e4f5a60"


def post_file(client, data: bytes, name: str = "class.csv"):
    return client.post(NEW, {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def error_beside_file(content: str) -> str:
    found = re.search(r'<ul class="errorlist" id="id_file_error">(.*?)</ul>', content, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else ""


@pytest.fixture
def teacher(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def uploaded(teacher, broker, record, django_capture_on_commit_callbacks) -> BatchJob:
    """A job the teacher uploaded: two good rows and one bad one, not yet run."""
    rows = [dict(record, external_id="S-1"), dict(record, external_id="S-2", age="99"), dict(record, external_id="S-3")]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(teacher, csv_text(rows).encode())
    assert response.status_code == 302, response.content
    return BatchJob.objects.get()


def test_the_upload_page_explains_the_format_and_links_the_template(teacher):
    content = teacher.get(NEW).content.decode()

    assert '<input type="file" name="file" accept=".csv,text/csv" required' in content
    assert 'enctype="multipart/form-data"' in content and "student-mat.csv" in content
    assert 'href="/batches/template.csv"' in content and "200,000" in content and "20 MB" in content
    assert '<a href="/batches/new/" aria-current="page">Upload a class</a>' in content


def test_the_template_is_the_header_of_an_accepted_file(teacher):
    response = teacher.get("/batches/template.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode() == ",".join(TEMPLATE_HEADER) + "\n"


def test_an_upload_goes_to_the_job_page_with_a_progress_bar(teacher, uploaded, broker):
    response = teacher.get(f"/batches/{uploaded.pk}/")
    content = response.content.decode()

    assert broker.sent == [str(uploaded.pk)] and uploaded.source == "web" and uploaded.rows_total == 3
    assert '<progress id="batch-progress-bar" max="3" value="0">0 %</progress>' in content
    assert '<label for="batch-progress-bar"' in content and 'aria-live="polite"' in content
    assert f'data-status-url="/batches/{uploaded.pk}/status.json"' in content
    assert "/static/js/batch-progress.js" in content
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in content
    assert "results.csv" not in content


def test_the_status_url_reports_progress_as_json(teacher, uploaded):
    before = teacher.get(f"/batches/{uploaded.pk}/status.json").json()
    batch_job_process(job_id=uploaded.pk)  # no active model: fails
    after = teacher.get(f"/batches/{uploaded.pk}/status.json").json()

    assert before == {"status": "queued", "rows_total": 3, "rows_done": 0, "rows_failed": 0, "percent": 0,
                      "finished": False}
    assert after["status"] == "failed" and after["finished"] is True


def test_a_finished_job_shows_its_summary_rejected_rows_and_download_link(teacher, uploaded, active_version):
    batch_job_process(job_id=uploaded.pk)

    content = teacher.get(f"/batches/{uploaded.pk}/").content.decode()
    download = teacher.get(f"/batches/{uploaded.pk}/results.csv")

    assert "<progress" not in content and "batch-progress.js" not in content
    assert "<dt>Predicted</dt><dd>2</dd>" in content and "<dt>Rejected</dt><dd>1" in content
    assert sum(int(n) for n in re.findall(r'<span class="count">(\d+)</span>', content)) == 2
    assert "<td>S-2</td>" in content and "<code>age</code> must be an integer from 15 to 22" in content
    assert f'href="/batches/{uploaded.pk}/results.csv"' in content
    assert download.status_code == 200 and download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"] == 'attachment; filename="class-predictions.csv"'
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 4 and lines[2].startswith("2,S-2,,")
    assert lines[2].endswith("age: must be an integer from 15 to 22")


def test_a_finished_job_counts_its_unusual_records_and_says_why(
    teacher, broker, active_version, record, odd_record, django_capture_on_commit_callbacks
):
    rows = [dict(record, external_id="S-1"), dict(odd_record, external_id="S-odd")]
    with django_capture_on_commit_callbacks(execute=True):
        post_file(teacher, csv_text(rows).encode())
    job = BatchJob.objects.get()
    batch_job_process(job_id=job.pk)

    content = teacher.get(f"/batches/{job.pk}/").content.decode()

    count = r'<dt>Unusual</dt><dd id="batch-unusual-count">1 \(<a href="#unusual-title">see why</a>\)'
    assert re.search(count, content)
    table = re.search(r'<table id="batch-unusual">.*?</table>', content, re.S).group(0)
    prediction = BatchRow.objects.get(job=job, row_number=2).prediction
    assert "<td>S-odd</td>" in table and "S-1" not in table
    assert all(escape(reason) in table for reason in prediction.unusual_reasons) and prediction.unusual_reasons
    assert "unlike the students the model learned from: treat their predictions with care" in content


def test_a_failed_job_says_why(teacher, uploaded):
    batch_job_process(job_id=uploaded.pk)

    content = teacher.get(f"/batches/{uploaded.pk}/").content.decode()

    assert 'id="batch-failed"' in content and "No model version is active" in content


def test_results_are_refused_until_the_job_is_done(teacher, uploaded):
    response = teacher.get(f"/batches/{uploaded.pk}/results.csv")

    assert response.status_code == 409 and b"its results are ready when its status is done" in response.content


def test_a_bad_file_is_refused_beside_the_field_and_nothing_is_saved(teacher, broker, record):
    data = csv_text([{name: value for name, value in record.items() if name not in ("age", "sex")}]).encode()

    response = post_file(teacher, data)

    assert response.status_code == 200
    assert error_beside_file(response.content.decode()) == "CSV file misses required columns: sex, age."
    assert 'id="error-summary"' in response.content.decode()
    assert not BatchJob.objects.exists() and broker.sent == []


def test_an_upload_without_a_file_is_refused_beside_the_field(teacher, broker):
    response = teacher.post(NEW, {})

    assert error_beside_file(response.content.decode()) == "CSV file is required: choose a file."


def test_a_file_over_the_limit_is_refused_beside_the_field(teacher, broker, settings, record):
    settings.BATCH_MAX_BYTES = 100

    response = post_file(teacher, csv_text([record]).encode())

    assert error_beside_file(response.content.decode()).endswith("are accepted (split it into several files).")
    assert not BatchJob.objects.exists()


def test_the_broker_down_answers_a_503_page_and_saves_nothing(teacher, broker, record):
    broker.up = False

    response = post_file(teacher, csv_text([record]).encode())

    assert response.status_code == 503 and BROKER_DOWN in response.content.decode()
    assert not BatchJob.objects.exists()


def test_the_list_shows_my_uploads_only(teacher, uploaded, make_user, broker, record):
    colleague = Client()
    colleague.force_login(make_user("colleague"))
    post_file(colleague, csv_text([record]).encode(), name="other.csv")

    content = teacher.get("/batches/").content.decode()

    assert f'href="/batches/{uploaded.pk}/">class.csv</a>' in content and "other.csv" not in content


def test_another_teacher_gets_404_for_my_job_and_a_model_admin_sees_it(client, uploaded, make_user, model_admin):
    client.force_login(make_user("colleague"))
    for suffix in ("", "status.json", "results.csv"):
        assert client.get(f"/batches/{uploaded.pk}/{suffix}").status_code == 404, suffix

    sign_in(client, model_admin)
    assert client.get(f"/batches/{uploaded.pk}/").status_code == 200
    assert "class.csv" in client.get("/batches/").content.decode()
    assert client.get(NEW).status_code == 403


@pytest.mark.parametrize("path", ["/batches/", NEW, "/batches/template.csv", f"/batches/{NO_SUCH_JOB}/"])
def test_anonymous_visitors_are_sent_to_log_in_and_roleless_accounts_are_refused(client, make_user, path):
    assert client.get(path)["Location"].startswith("/accounts/login/?next=")

    client.force_login(make_user("nobody", None))
    assert client.get(path).status_code == 403


def test_the_uci_file_is_accepted_from_the_web_too(teacher, broker):
    response = post_file(teacher, UCI_FILE.read_bytes(), name="student-mat.csv")

    assert response.status_code == 302 and BatchJob.objects.get().rows_total == 395


def test_rejected_rows_list_their_reasons_in_the_schemas_order_whatever_the_database_kept(
    teacher, uploaded, active_version
):
    batch_job_process(job_id=uploaded.pk)
    row = BatchRow.objects.get(job=uploaded, prediction__isnull=True)
    # PostgreSQL's jsonb gives keys back in its own order; stored here the other way round from the schema's.
    BatchRow.objects.filter(pk=row.pk).update(errors={"age": ["must be an integer from 15 to 22"],
                                                      "sex": ["must be one of F, M"]})

    content = teacher.get(f"/batches/{uploaded.pk}/").content.decode()

    assert content.index("<code>sex</code>") < content.index("<code>age</code>")


def test_the_upload_form_offers_to_add_the_students_to_my_list_checked_by_default(teacher):
    content = teacher.get(NEW).content.decode()

    checkbox = re.search(r'<input type="checkbox" name="save_students"[^>]*>', content)
    assert checkbox and "checked" in checkbox.group(0)
    assert "Add these students to my list" in content


def test_a_class_upload_puts_its_students_on_my_dashboard_and_its_page_counts_them(
    teacher, user, colleague, broker, record, active_version, django_capture_on_commit_callbacks
):
    from predictions.models import Student

    theirs = Student.objects.create(external_id="S-9", teacher=colleague, **record)
    rows = [dict(record, external_id="S-1"), dict(record, external_id=""), dict(record, external_id="S-9")]
    with django_capture_on_commit_callbacks(execute=True):
        response = teacher.post(NEW, {"file": SimpleUploadedFile("class.csv", csv_text(rows).encode()),
                                      "save_students": "on"})
    job = BatchJob.objects.get()
    batch_job_process(job_id=str(job.pk))

    page = teacher.get(response.url).content.decode()
    counts = re.search(r'<ul class="counts" id="batch-student-counts".*?</ul>', page, re.S).group(0)
    # The colleague's S-9 is neither touched nor mentioned: the teacher's own S-9 is added (issue 18, attack 7).
    assert re.search(r'data-status="created"><span class="count">2</span> added to your list', counts)
    assert re.search(r'data-status="no_id"><span class="count">1</span> predicted but not saved', counts)
    assert 'data-status="not_allowed"' not in counts and 'id="batch-not-saved"' not in page
    assert 'href="/?sort=-risk" id="batch-dashboard-link"' in page
    dashboard = teacher.get("/").content.decode()
    assert "S-1" in dashboard and "S-9" in dashboard
    assert Student.objects.get(external_id="S-1").teacher == user
    assert Student.objects.get(external_id="S-9", teacher=user).pk != theirs.pk


def test_an_unchecked_box_saves_no_student(teacher, broker, record, active_version, django_capture_on_commit_callbacks):
    from predictions.models import Student

    with django_capture_on_commit_callbacks(execute=True):
        post_file(teacher, csv_text([dict(record, external_id="S-1")]).encode())
    batch_job_process(job_id=str(BatchJob.objects.get().pk))

    assert not Student.objects.exists()
    assert 'id="batch-student-counts"' not in teacher.get(f"/batches/{BatchJob.objects.get().pk}/").content.decode()
