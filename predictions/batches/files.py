"""Reading a batch CSV: checked whole at upload, read again row by row by the worker.

Accepted: the UCI file exactly as published (`;`-separated, quoted values) or a comma-separated file, UTF-8
with or without a byte order mark, the first line naming the columns as in data/student.txt. The 30
attributes are required columns (an empty cell of a sensitive one, schema.MAY_BE_UNKNOWN: unknown);
`G1`, `G2` (empty: not known yet), `G3` (a known final grade) and
`external_id` (the school's student id) are optional. Any other column is refused rather than ignored: a
misspelt `G1` or `externalid` would otherwise be dropped without a word, and every prediction of the file
silently made with less than the teacher gave.
"""
from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from modelstore.schema import ATTRIBUTE_NAMES, FEATURES, GRADE_MAX, GRADE_MIN, TARGET
from predictions.validation import external_id_clean, integer_clean, records_clean
from studentperf.errors import ApplicationError

EXTERNAL_ID = "external_id"
OPTIONAL_COLUMNS = (EXTERNAL_ID, "G1", "G2", TARGET)
KNOWN_COLUMNS = frozenset(ATTRIBUTE_NAMES + OPTIONAL_COLUMNS)
TEMPLATE_HEADER = (EXTERNAL_ID, *FEATURES, TARGET)
ROW = "row"  # the "field" of a row-level problem (a wrong number of values)
SNIFF_BYTES = 64 * 1024
# Signatures of files people upload by mistake, and what to do instead.
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "is an Excel workbook or another zip file, not CSV: in Excel, use Save As > CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0", "is an old Excel workbook, not CSV: in Excel, use Save As > CSV UTF-8"),
    (b"%PDF", "is a PDF document, not CSV"),
    (b"\xff\xfe", "is UTF-16 text: save it as CSV UTF-8"),
    (b"\xfe\xff", "is UTF-16 text: save it as CSV UTF-8"),
)


@dataclass(frozen=True)
class BatchFile:
    """What the upload check found: the delimiter, the header and how many data rows follow it."""

    delimiter: str
    header: tuple[str, ...]
    rows_total: int


@dataclass(frozen=True)
class FileChunk:
    """Consecutive data rows of a file: (row number, values as read) each; `read()` validates them."""

    index: int
    names: tuple[str, ...]
    lines: list[tuple[int, list[str]]]

    def read(self) -> list[BatchFileRow]:
        return _rows_read(self.lines, self.names)


@dataclass(frozen=True)
class BatchFileRow:
    """One data row, validated: the cleaned record (None when rejected), its G3 and the reasons per field."""

    row_number: int
    external_id: str
    record: dict | None
    final_grade: int | None
    errors: dict[str, list[str]]


def _refuse(reason: str, *, kind: str = "invalid") -> ApplicationError:
    return ApplicationError(f"The file {reason}.", kind=kind, fields={"file": [reason]})


def batch_file_size_check(size: int) -> None:
    """Refuse (kind "too_large") a file above BATCH_MAX_BYTES, before anything reads it."""
    if size > settings.BATCH_MAX_BYTES:
        raise _refuse(
            f"is {_megabytes(size)}; at most {_megabytes(settings.BATCH_MAX_BYTES)} are accepted "
            "(split it into several files)",
            kind="too_large",
        )


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def batch_file_check(data: bytes) -> BatchFile:
    """The whole file checked as an upload: size, text, header and row count.

    Raises ApplicationError with `fields={"file": [reason]}`: kind "too_large" above BATCH_MAX_BYTES, kind
    "invalid" for a file that is not UTF-8 CSV text, has no header, misses required columns, has unknown or
    repeated columns, holds no data row or more than BATCH_MAX_ROWS. Bad values are not refused here: the
    worker reports them row by row.
    """
    batch_file_size_check(len(data))
    if not data.strip():
        raise _refuse("is empty")
    for signature, reason in BINARY_SIGNATURES:
        if data.startswith(signature):
            raise _refuse(reason)
    if b"\x00" in data[:SNIFF_BYTES]:
        raise _refuse("is not a text file: upload a CSV file")
    header, rows = _reader(data)
    rows_total = 0
    limit = settings.BATCH_MAX_ROWS
    try:
        for _ in rows:
            rows_total += 1
            if rows_total > limit:
                raise _refuse(f"has more than {limit:,} data rows (split it into several files)")
    except UnicodeDecodeError as exc:
        raise _refuse(_not_utf8(data)) from exc
    except csv.Error as exc:
        raise _refuse(f"is not readable as CSV ({exc})") from exc
    if rows_total == 0:
        raise _refuse("has a header but no data rows")
    return BatchFile(delimiter=header.delimiter, header=header.names, rows_total=rows_total)


def batch_file_chunks(data: bytes, *, size: int) -> Iterator[FileChunk]:
    """Consecutive chunks of `size` data rows of a file that passed batch_file_check, numbered from 0; rows
    are numbered from 1, blank lines skipped. A chunk's rows are validated only when read, so chunks a
    resumed job skips cost no validation.

    Deterministic: the same bytes always give the same chunks and row numbers, which is what lets a job
    resumed after a crash skip the chunks already done.
    """
    header, rows = _reader(data)
    index, lines, row_number = 0, [], 0
    for values in rows:
        row_number += 1
        lines.append((row_number, values))
        if len(lines) == size:
            yield FileChunk(index=index, names=header.names, lines=lines)
            index, lines = index + 1, []
    if lines:
        yield FileChunk(index=index, names=header.names, lines=lines)


# A job's progress bar moves at least this many times: a class of 649 rows is 20 chunks of 33, not one of 649.
PROGRESS_STEPS = 20
# ... unless the chunks would be smaller than this: each chunk is one transaction and one model call per setup.
MIN_CHUNK_SIZE = 10


def batch_chunk_size(*, rows_total: int, largest: int) -> int:
    """The rows per chunk of a job: at most `largest` (BATCH_CHUNK_SIZE), small enough that the progress
    moves PROGRESS_STEPS times, never below MIN_CHUNK_SIZE."""
    steps = -(-rows_total // PROGRESS_STEPS)  # ceil
    return max(1, min(largest, max(MIN_CHUNK_SIZE, steps)))


def batch_file_chunk_indexes(*, rows_total: int, size: int) -> range:
    return range((rows_total + size - 1) // size)


@dataclass(frozen=True)
class _Header:
    delimiter: str
    names: tuple[str, ...]


def _reader(data: bytes) -> tuple[_Header, Iterator[list[str]]]:
    """The checked header and an iterator over the non-blank data rows (lists of values), decoding as it goes."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    try:
        sample = text.read(SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        raise _refuse(_not_utf8(data)) from exc
    text.seek(0)
    delimiter = _delimiter(sample)
    rows = (values for values in csv.reader(text, delimiter=delimiter) if any(value.strip() for value in values))
    try:
        first = next(rows, None)
    except csv.Error as exc:
        raise _refuse(f"is not readable as CSV ({exc})") from exc
    if first is None:
        raise _refuse("is empty")
    return _Header(delimiter=delimiter, names=_header_check([name.strip() for name in first])), rows


def _delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,").delimiter
    except csv.Error:  # a single column, or too little text to tell: the header line decides
        first_line = sample.partition("\n")[0]
        return ";" if first_line.count(";") > first_line.count(",") else ","


def _not_utf8(data: bytes) -> str:
    """The refusal of a file that does not decode, naming the first line that does not."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # the incremental decoder's position is within its block, not the file
        line = data[:exc.start].count(b"\n") + 1
        return f"is not UTF-8 text (line {line}): save it as CSV UTF-8"
    return "is not UTF-8 text: save it as CSV UTF-8"


def _header_check(names: list[str]) -> tuple[str, ...]:
    known = [name for name in names if name in KNOWN_COLUMNS]
    if not known:
        raise _refuse(
            "has no header row: its first line must name the columns, "
            f"{', '.join(ATTRIBUTE_NAMES[:3])}, ... as in the template"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _refuse(f"names a column more than once: {', '.join(repeated)}")
    unknown = [name for name in names if name not in KNOWN_COLUMNS]
    if unknown:
        raise _refuse(f"has unknown columns: {', '.join(_with_hint(name) for name in unknown)}")
    missing = [name for name in ATTRIBUTE_NAMES if name not in names]
    if missing:
        raise _refuse(f"misses required columns: {', '.join(missing)}")
    if "G2" in names and "G1" not in names:
        raise _refuse("has a G2 column without a G1 column")
    return tuple(names)


def _with_hint(name: str) -> str:
    if not name:
        return "(a column without a name)"
    close = difflib.get_close_matches(name, KNOWN_COLUMNS, n=1, cutoff=0.7)
    if not close:
        lowered = {column.lower(): column for column in KNOWN_COLUMNS}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"{name} (did you mean {close[0]}?)" if close else name


def _rows_read(raw_rows: list[tuple[int, list[str]]], names: tuple[str, ...]) -> list[BatchFileRow]:
    """A chunk's rows validated: the records together through records_clean, G3 and external_id one by one."""
    fields = [_fields(names, values) for _, values in raw_rows]
    records = [{name: value for name, value in row.items() if name in FEATURES} for row in fields]
    cleaned, record_errors = records_clean(records)
    read = []
    for position, ((row_number, values), row) in enumerate(zip(raw_rows, fields, strict=True)):
        errors = dict(record_errors[position].fields) if position in record_errors else {}
        if len(values) != len(names):
            errors[ROW] = [f"has {len(values)} values where the header names {len(names)} columns"]
        external_id, final_grade = _extras(row, errors)
        read.append(BatchFileRow(
            row_number=row_number, external_id=external_id, final_grade=final_grade, errors=errors,
            record=None if errors else cleaned[position],
        ))
    return read


def _fields(names: tuple[str, ...], values: list[str]) -> dict[str, str]:
    return {name: value for name, value in zip(names, values)}


def _extras(row: dict[str, str], errors: dict[str, list[str]]) -> tuple[str, int | None]:
    """The row's external_id and G3; a bad one is added to `errors` (and the value left out)."""
    try:
        external_id = external_id_clean(row.get(EXTERNAL_ID, ""), required=False)
    except ValueError as exc:
        errors[EXTERNAL_ID] = [str(exc)]
        external_id = ""
    grade_text = row.get(TARGET, "").strip()
    final_grade = None
    if grade_text:
        try:
            final_grade = integer_clean(grade_text, minimum=GRADE_MIN, maximum=GRADE_MAX)
        except ValueError as exc:
            errors[TARGET] = [str(exc)]
    return external_id, final_grade
