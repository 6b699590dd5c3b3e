"""A teacher uploads a class in a real browser; a real Celery worker on a real Redis predicts it while the
page's progress bar moves; then the summary and the results file."""
from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import expect

from predictions.models import BatchJob

from tests.integration.conftest import celery_worker, redis_server  # noqa: F401 (fixtures used by name)
from tests.predictions.batches.support import UCI_FILE

ROWS = 4000


def class_file(tmp_path, rows: int):
    """`rows` students from the UCI file (comma-separated, with external ids); every 1000th with a wrong age."""
    source = list(csv.DictReader(UCI_FILE.open(encoding="utf-8"), delimiter=";"))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["external_id", *source[0]], lineterminator="\n")
    writer.writeheader()
    for number in range(1, rows + 1):
        row = dict(source[(number - 1) % len(source)], external_id=f"S-{number:05d}")
        if number % 1000 == 0:
            row["age"] = "99"
        writer.writerow(row)
    path = tmp_path / "class.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_teacher_uploads_a_class_watches_progress_and_downloads_results(
    page, log_in, make_user, active_version, celery_worker, settings, tmp_path, screenshot  # noqa: F811
):
    settings.BATCH_CHUNK_SIZE = 40  # many small chunks: the job runs long enough to watch it move
    make_user("teacher")
    log_in(page, "teacher")
    page.get_by_role("navigation").get_by_role("link", name="Upload a class").click()
    screenshot(page, "batch-upload")
    page.get_by_label(re.compile("CSV file", re.I)).set_input_files(str(class_file(tmp_path, ROWS)))
    page.get_by_role("button", name="Upload and predict").click()

    # The bar is updated by the page's script while the worker commits chunk after chunk.
    page.wait_for_function(
        "() => { const bar = document.getElementById('batch-progress-bar');"
        " return bar && bar.value > 0 && bar.value < bar.max; }",
        timeout=60_000,
    )
    expect(page.locator("#batch-progress-text")).to_contain_text(f"of {ROWS} students done")
    screenshot(page, "batch-progress")

    expect(page.locator("#batch-summary")).to_be_visible(timeout=120_000)
    expect(page.locator("#batch-rejected")).to_contain_text("age must be an integer from 15 to 22")
    screenshot(page, "batch-done")
    job = BatchJob.objects.get()
    assert (job.status, job.rows_done, job.rows_failed) == ("done", ROWS, ROWS // 1000)

    with page.expect_download() as download:
        page.locator("#results-link").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(rows) == ROWS
    assert [row["row"] for row in rows if row["errors"]] == ["1000", "2000", "3000", "4000"]
    assert {row["student"] for row in rows if not row["errors"]} == {"added"}

    # "Add these students to my list" was on by default: the class is on the dashboard, highest risk first.
    expect(page.locator("#batch-student-counts [data-status=created] .count")).to_have_text(str(ROWS - ROWS // 1000))
    page.locator("#batch-dashboard-link").click()
    expect(page.locator("p.helptext[role=status]")).to_contain_text(f"{ROWS - ROWS // 1000} students")
    first = page.locator("#students tbody tr").first
    expect(first.locator("[data-column=risk] .risk")).to_have_class(re.compile("risk-high"))
    expect(first.locator("th a")).to_have_text(re.compile(r"S-\d{5}"))
    screenshot(page, "batch-class-on-dashboard")
