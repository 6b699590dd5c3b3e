"""Reading batch CSVs: the UCI file as published, comma + BOM files, and every reason a file is refused."""
from __future__ import annotations

import pytest

from modelstore.schema import ATTRIBUTE_NAMES
from predictions.batches.files import TEMPLATE_HEADER, batch_file_check, batch_file_chunks
from predictions.validation import record_clean
from studentperf.errors import ApplicationError

from tests.predictions.batches.support import UCI_FILE, csv_text


def all_rows(data: bytes, size: int = 1000) -> list:
    return [row for chunk in batch_file_chunks(data, size=size) for row in chunk.read()]


def refusal(data: bytes) -> str:
    with pytest.raises(ApplicationError) as caught:
        batch_file_check(data)
    assert caught.value.kind in ("invalid", "too_large")
    [reason] = caught.value.fields["file"]
    assert caught.value.message == f"The file {reason}."
    return reason


def test_the_uci_file_as_published_is_accepted_with_all_395_rows():
    data = UCI_FILE.read_bytes()

    checked = batch_file_check(data)
    rows = all_rows(data)

    assert (checked.delimiter, checked.rows_total) == (";", 395)
    assert len(rows) == 395 and [row.row_number for row in rows] == list(range(1, 396))
    assert all(row.errors == {} for row in rows)
    first = rows[0]
    # Quoted G1/G2 ("5", "6") are read as the numbers they are; G3 is kept apart from the record.
    assert (first.record["G1"], first.record["G2"], first.final_grade, first.external_id) == (5, 6, 6, "")
    assert "G3" not in first.record and first.record["Mjob"] == "at_home"


def test_a_comma_separated_file_with_a_byte_order_mark_is_accepted(record):
    text = csv_text([record, dict(record, G1=None, G2=None)], extra={"external_id": "S-1", "G3": "7"})
    data = "\ufeff".encode() + text.encode()

    checked = batch_file_check(data)
    rows = all_rows(data)

    assert (checked.delimiter, checked.rows_total, checked.header[0]) == (",", 2, "school")
    assert rows[0].record == record_clean(record) and rows[0].external_id == "S-1" and rows[0].final_grade == 7
    assert rows[1].record["G1"] is None and rows[1].record["G2"] is None


def test_windows_line_endings_quotes_and_blank_lines_are_read(record):
    text = csv_text([record]).replace("\n", "\r\n") + "\r\n\r\n" + csv_text([record]).splitlines()[1] + "\r\n"
    text = text.replace("GP", '"GP"')

    rows = all_rows(text.encode())

    assert batch_file_check(text.encode()).rows_total == 2
    assert [row.row_number for row in rows] == [1, 2] and all(row.record == record_clean(record) for row in rows)


def test_g1_and_g2_columns_are_optional(record):
    without = {name: value for name, value in record.items() if name not in ("G1", "G2")}

    [row] = all_rows(csv_text([without]).encode())

    assert row.errors == {} and (row.record["G1"], row.record["G2"]) == (None, None)


def test_a_bad_value_is_reported_per_field_with_the_validators_reason(record):
    data = csv_text([dict(record, age="99", Mjob="pilot"), record], extra={"G3": ""}).encode()

    bad, good = all_rows(data)

    assert bad.record is None
    assert bad.errors == {"age": ["must be an integer from 15 to 22"],
                          "Mjob": ["must be one of teacher, health, services, at_home, other"]}
    assert good.errors == {} and good.final_grade is None


def test_a_bad_g3_or_external_id_rejects_the_row(record):
    data = csv_text([dict(record, G3="21", external_id="x" * 65), dict(record, G3="abc", external_id="ok")]).encode()

    long_id, bad_grade = all_rows(data)

    assert long_id.errors == {"G3": ["must be an integer from 0 to 20"],
                              "external_id": ["must be text of at most 64 characters"]}
    assert long_id.record is None and bad_grade.record is None and bad_grade.external_id == "ok"


def test_a_row_with_too_few_values_is_rejected_not_the_file(record):
    text = csv_text([record, record])
    lines = text.splitlines()
    lines[1] = ",".join(lines[1].split(",")[:-3])

    short, good = all_rows(("\n".join(lines) + "\n").encode())

    assert short.errors["row"] == ["has 29 values where the header names 32 columns"]
    assert short.errors["absences"] == ["is required"] and good.errors == {}


def test_chunks_split_the_rows_in_order_and_the_same_bytes_give_the_same_chunks():
    data = UCI_FILE.read_bytes()

    chunks = list(batch_file_chunks(data, size=100))

    assert [chunk.index for chunk in chunks] == [0, 1, 2, 3]
    assert [len(chunk.lines) for chunk in chunks] == [100, 100, 100, 95]
    assert chunks[3].read()[0].row_number == 301
    again = list(batch_file_chunks(data, size=100))
    assert [chunk.read() for chunk in again] == [chunk.read() for chunk in chunks]


def test_the_template_header_is_itself_a_valid_header():
    assert TEMPLATE_HEADER[0] == "external_id" and TEMPLATE_HEADER[-1] == "G3"
    assert refusal((",".join(TEMPLATE_HEADER) + "\n").encode()) == "has a header but no data rows"


# --- refused at upload ----------------------------------------------------------------------------------------


def test_an_empty_file_is_refused():
    assert refusal(b"") == "is empty"
    assert refusal(b"\n\n  \n") == "is empty"


@pytest.mark.parametrize(
    ("start", "reason"),
    [(b"PK\x03\x04", "is an Excel workbook or another zip file, not CSV: in Excel, use Save As > CSV UTF-8"),
     (b"%PDF-1.7", "is a PDF document, not CSV"),
     (b"\xff\xfes\x00c\x00", "is UTF-16 text: save it as CSV UTF-8"),
     (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a text file: upload a CSV file")],
)
def test_binary_files_are_refused_saying_what_they_are(start, reason):
    assert refusal(start + bytes(range(256)) * 4) == reason


def test_a_file_that_is_not_utf8_is_refused_with_its_line(record):
    text = csv_text([record] * 2000 + [dict(record, Mjob="services")], extra={"external_id": "ok"})
    data = text.encode().replace(b"services", "\xe9l\xe8ve".encode("latin-1"))

    assert refusal(data) == "is not UTF-8 text (line 2002): save it as CSV UTF-8"


def test_a_file_without_a_header_is_refused(record):
    data = csv_text([record, record]).split("\n", 1)[1].encode()

    assert refusal(data).startswith("has no header row: its first line must name the columns")


def test_missing_required_columns_are_listed(record):
    data = csv_text([{name: value for name, value in record.items() if name not in ("age", "health")}]).encode()

    assert refusal(data) == "misses required columns: age, health"


def test_unknown_columns_are_listed_with_a_hint(record):
    data = csv_text([record], extra={"g3": "5", "name": "Ana", "externalid": "1"}).encode()

    assert refusal(data) == "has unknown columns: g3 (did you mean G3?), name, externalid (did you mean external_id?)"


def test_a_repeated_column_is_refused(record):
    data = csv_text([record]).replace("sex", "age", 1).encode()

    assert refusal(data) == "names a column more than once: age"


def test_g2_without_g1_is_refused(record):
    data = csv_text([{name: value for name, value in record.items() if name != "G1"}]).encode()

    assert refusal(data) == "has a G2 column without a G1 column"


def test_a_header_alone_is_refused():
    assert refusal((";".join(ATTRIBUTE_NAMES) + "\n").encode()) == "has a header but no data rows"


def test_too_many_rows_are_refused(settings, record):
    settings.BATCH_MAX_ROWS = 3

    assert batch_file_check(csv_text([record] * 3).encode()).rows_total == 3
    assert refusal(csv_text([record] * 4).encode()) == "has more than 3 data rows (split it into several files)"


def test_a_file_over_the_size_limit_is_refused_as_too_large(settings, record):
    data = csv_text([record] * 20).encode()
    settings.BATCH_MAX_BYTES = len(data) - 1

    with pytest.raises(ApplicationError) as caught:
        batch_file_check(data)

    assert caught.value.kind == "too_large"
    assert caught.value.fields["file"][0].endswith("are accepted (split it into several files)")
