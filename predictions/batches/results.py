"""A batch job's results file: one CSV line per uploaded row, a prediction or the row's reasons."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import PurePath

from modelstore.schema import FEATURES
from predictions.models import BatchJob, BatchRow
from studentperf.errors import ApplicationError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
RESULTS_HEADER = (
    "row", "external_id", "predicted_grade", "pass_probability", "risk", "interval_low", "interval_high", "setup",
    "unusual", "unusual_reasons", "student", "errors",
)


def batch_results_rows(*, job: BatchJob) -> Iterator[tuple]:
    """The results file's rows, header first, in row order: a prediction, whether its record is unusual ("true",
    "false"; empty for a model version older than the check) and why ("reason; reason"), what a class upload did
    with the row's student, or for a rejected row its reasons as "field: reason; field: reason"."""
    yield RESULTS_HEADER
    rows = (
        BatchRow.objects.filter(job=job).order_by("row_number")
        .values_list(
            "row_number", "external_id", "prediction__predicted_grade", "prediction__pass_probability",
            "prediction__risk", "prediction__interval_low", "prediction__interval_high", "prediction__setup",
            "prediction__unusual", "prediction__unusual_reasons", "student_status", "errors",
        )
    )
    for row_number, external_id, *values, unusual, reasons, student, errors in rows.iterator(chunk_size=2000):
        yield (row_number, _cell_safe(external_id), *("" if value is None else value for value in values),
               _flag_text(unusual), "; ".join(reasons or ()), _student_text(student), errors_text(errors))


def _student_text(status: str) -> str:
    # What a class upload did with the row's student; empty when saving was not asked or the row was rejected.
    return BatchRow.StudentStatus(status).label if status else ""


def _flag_text(flag: bool | None) -> str:
    return "" if flag is None else str(flag).lower()


def _cell_safe(text: str) -> str:
    # The one free text from the upload: a spreadsheet opening the results must not run it as a formula
    # (OWASP's CSV injection advice: a leading quote makes it text).
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


# Reasons are listed in the schema's order: PostgreSQL's jsonb does not keep the order the keys were written in.
ERROR_FIELD_ORDER = {name: position for position, name in enumerate((*FEATURES, "G3", "external_id"))}


def errors_ordered(errors: dict) -> list[tuple[str, list[str]]]:
    """A rejected row's (field, reasons) in the schema's order, whatever order the database kept."""
    return sorted((errors or {}).items(), key=lambda item: (ERROR_FIELD_ORDER.get(item[0], len(ERROR_FIELD_ORDER)), item[0]))


def errors_text(errors: dict) -> str:
    """A rejected row's reasons on one line, fields in the schema's order: "age: must be ...; G3: ..."."""
    return "; ".join(f"{name}: {reason}" for name, reasons in errors_ordered(errors) for reason in reasons)


def batch_results_csv(*, job: BatchJob) -> Iterator[str]:
    """The results file as CSV text, streamed a block of rows at a time.

    Raises ApplicationError(kind="conflict") at once, not while streaming, unless the job is done.
    """
    if job.status != BatchJob.Status.DONE:
        raise ApplicationError(_not_ready(job), kind="conflict")
    return _csv_blocks(batch_results_rows(job=job))


def _not_ready(job: BatchJob) -> str:
    if job.status == BatchJob.Status.FAILED:
        return f"The batch job failed, so it has no results file: {job.error}"
    return (f"The batch job is {job.status} ({job.rows_done:,} of {job.rows_total:,} rows done): "
            "its results are ready when its status is done.")


def _csv_blocks(rows: Iterator[tuple], block: int = 1000) -> Iterator[str]:
    buffer = io.StringIO()
    # RFC 4180's CRLF: the writer then quotes every cell holding a line break, a bare CR included. With "\n" a
    # CR inside an uploaded external_id went out unquoted and split the row for whoever read the file (issue 18).
    writer = csv.writer(buffer, lineterminator="\r\n")
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % block == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def batch_results_file_name(*, job: BatchJob) -> str:
    """A safe download name from the uploaded one: "class 3B.csv" -> "class_3B-predictions.csv"."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePath(job.file_name).stem).strip("._")[:80] or "batch"
    return f"{stem}-predictions.csv"
