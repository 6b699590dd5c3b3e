"""A class upload becomes students: each row with an `external_id` creates or updates the uploader's student
of that school, and its prediction is linked to the student (so the dashboard shows it at once). An empty
cell of a sensitive attribute keeps the value the student already has (`_known_kept`).

Ids are matched within the uploader's own namespace, as student_create keeps them (issue 18, attack 7): a
person's rows match only their own students (new ones become theirs, with STUDENT_ADD; existing ones are
updated with STUDENT_CHANGE), and another teacher's student of the same id is never looked at, changed or
revealed. An API key with the "write" scope (it belongs to the installation, like its students API) creates
and updates the students without a teacher, its own namespace. A row whose student the uploader may not
save is still predicted, but nothing is saved or linked.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q

from modelstore.schema import FEATURES, MAY_BE_UNKNOWN
from predictions.access.roles import STUDENT_ADD, STUDENT_CHANGE
from predictions.batches.files import BatchFileRow
from predictions.access.oauth import oauth_client_usable
from predictions.models import ApiKey, BatchJob, BatchRow, OAuthClient, Student
from studentperf.bulk import rows_update
from studentperf.errors import ApplicationError


@dataclass(frozen=True)
class RowStudent:
    """What saving did for one valid row: its student (None when not saved) and a BatchRow.StudentStatus."""

    student: Student | None
    status: str


def batch_save_students_check(*, user=None, api_key: ApiKey | None = None) -> None:
    """Refuse a class upload that asks to save students its uploader may not create (kind "forbidden",
    naming `save_students`): a role without STUDENT_ADD, or an API key without the "write" scope."""
    if api_key is not None:
        allowed = api_key.has_scope("write")
        reason = 'needs an API key with the "write" scope'
    else:
        allowed = user is not None and user.has_perm(STUDENT_ADD)
        reason = "is not allowed for your role: it cannot add students"
    if not allowed:
        raise ApplicationError(
            "This upload may not save students.", kind="forbidden", fields={"save_students": [reason]}
        )


def batch_rows_students_save(*, job: BatchJob, rows: Sequence[BatchFileRow]) -> list[RowStudent]:
    """Create or update the students of `rows` (valid rows, record not None) for the job's uploader, in the
    caller's transaction, in a few queries rather than one per row. One RowStudent per row, in
    order; an id twice in the rows is one student ("created" then "updated"), the later row's values kept. A
    job that did not ask saves nothing."""
    if not job.save_students:
        return [RowStudent(None, BatchRow.StudentStatus.NOT_ASKED) for _ in rows]
    editor = _Editor(job)
    keys = {(row.record["school"], row.external_id) for row in rows if row.external_id}
    saved, created, changed = _plan(rows, _students_by_key(keys, teacher=editor.user), editor)
    if created:
        try:
            with transaction.atomic():  # a savepoint
                Student.objects.bulk_create(created)
        except IntegrityError:  # the uploader added one of these ids meanwhile: plan again, knowing it
            saved, created, changed = _plan(rows, _students_by_key(keys, teacher=editor.user), editor)
            Student.objects.bulk_create(created)
    if changed:
        rows_update(Student, changed, fields=RECORD_FIELDS)  # not bulk_update: its cost grows with rows squared
    return saved


def _plan(
    rows: Sequence[BatchFileRow], known: dict[tuple[str, str], Student], editor: _Editor
) -> tuple[list[RowStudent], list[Student], list[Student]]:
    """Each row's RowStudent, and the students to create and to update."""
    created: dict[tuple[str, str], Student] = {}
    changed: dict[tuple[str, str], Student] = {}
    saved = []
    for row in rows:
        key = (row.record["school"], row.external_id)
        if not row.external_id:
            saved.append(RowStudent(None, BatchRow.StudentStatus.NO_ID))
        elif key in created:  # the same id again in the file: one student, the later values
            _known_kept(row.record, created[key])
            saved.append(RowStudent(_set_record(created[key], row.record), BatchRow.StudentStatus.UPDATED))
        elif key not in known and editor.may_add:
            created[key] = _set_record(Student(external_id=row.external_id, teacher=editor.user), row.record)
            saved.append(RowStudent(created[key], BatchRow.StudentStatus.CREATED))
        elif key in known and editor.may_change:
            _known_kept(row.record, known[key])
            changed[key] = _set_record(known[key], row.record)
            saved.append(RowStudent(known[key], BatchRow.StudentStatus.UPDATED))
        else:
            saved.append(RowStudent(None, BatchRow.StudentStatus.NOT_ALLOWED))
    return saved, list(created.values()), list(changed.values())


RECORD_FIELDS = tuple(FEATURES)


def _students_by_key(keys: set[tuple[str, str]], *, teacher) -> dict[tuple[str, str], Student]:
    """The students of `teacher` (None: those without a teacher) with these (school, external_id)."""
    if not keys:
        return {}
    match = Q()
    for school in {school for school, _ in keys}:
        match |= Q(school=school, external_id__in=[external_id for other, external_id in keys if other == school])
    students = Student.objects.filter(match, teacher=teacher)
    return {(student.school, student.external_id): student for student in students}


def _known_kept(record: dict, student: Student) -> None:
    """An empty cell never erases what the student already has: each sensitive attribute the row leaves unknown
    (schema.MAY_BE_UNKNOWN) takes the student's stored value, in `record` itself, so the row's prediction is
    made from the record the student is saved with. (A school's export often lacks these columns' values,
    which a teacher may have entered by hand; the student form's "Unknown" clears one on purpose.)"""
    for name in MAY_BE_UNKNOWN:
        if record.get(name) is None and getattr(student, name) is not None:
            record[name] = getattr(student, name)


def _set_record(student: Student, record: dict) -> Student:
    for name, value in record.items():
        setattr(student, name, value)
    return student


class _Editor:
    """The uploader's rights over the students of its namespace (`user`; None: a key's, without a teacher), read
    once per chunk."""

    def __init__(self, job: BatchJob):
        self.user = job.created_by
        key_may_write = False
        if self.user is None and job.api_key_prefix:
            key = ApiKey.objects.filter(prefix=job.api_key_prefix, revoked=False).first()
            key_may_write = key is not None and key.has_scope("write")
        elif self.user is None and job.oauth_client_id:  # an OAuth2 client: as a key, while it is usable
            client = OAuthClient.objects.filter(application__client_id=job.oauth_client_id).first()
            key_may_write = oauth_client_usable(client) and client.has_scope("write")
        self.may_add = key_may_write or (self.user is not None and self.user.has_perm(STUDENT_ADD))
        self.may_change = key_may_write or (self.user is not None and self.user.has_perm(STUDENT_CHANGE))
