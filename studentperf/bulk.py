"""Writing many rows of one model at once: one INSERT (or UPDATE) statement the driver executes for every row."""
from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone

# Fields whose Python values the drivers (sqlite3, psycopg) take as they are: numbers, text, None.
_PLAIN = (models.FloatField, models.IntegerField, models.CharField)


def rows_insert(model: type[models.Model], objects: Sequence[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert new `objects` of `model` as one INSERT executed for each (executemany), in one transaction (the
    caller's if it holds one). The rows are those bulk_create writes, at a fraction of its cost: bulk_create
    prepares every value of every row through its field (most of its time: 19 fields x 1,000 rows of the audit
    log take 65 ms on SQLite, 181 on PostgreSQL, against 27 and 87 here) and splits the statement at
    SQLite's 999 parameters.

    Plain values (numbers, text, None, the integer ids of related rows) go to the driver as they are, so they
    must already be of their field's Python type (bulk_create would convert, say, an int given to a
    CharField); the others (uuids, JSON, times) go through their field's get_db_prep_save, as in bulk_create. auto_now and
    auto_now_add fields get one time for all rows. An auto-incremented primary key is left to the database
    and not read back; the objects come out marked as saved. No signals are sent (neither does bulk_create).
    """
    if not objects:
        return
    database = connections[using]  # the connection itself, not the per-thread proxy, inside the loops
    now = timezone.now()
    fields = [
        field for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, AutoFieldMixin))
    ]
    stamped = [field for field in fields if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)]
    for obj in objects:
        for field in stamped:
            setattr(obj, field.attname, now)
    columns = []
    for field in fields:
        if field in stamped:
            columns.append([field.get_db_prep_save(now, database)] * len(objects))
            continue
        values = [getattr(obj, field.attname) for obj in objects]
        if not _plain(field):
            prepare = field.get_db_prep_save
            values = [prepare(value, database) for value in values]
        columns.append(values)
    quote = database.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"
    with transaction.atomic(using=using, savepoint=False), database.cursor() as cursor:
        cursor.executemany(sql, list(zip(*columns)))
    for obj in objects:
        obj._state.adding = False
        obj._state.db = using


def rows_update(
    model: type[models.Model], objects: Sequence[models.Model], *, fields: Sequence[str], using: str = DEFAULT_DB_ALIAS
) -> None:
    """Write `fields` of existing `objects` of `model` as one UPDATE ... WHERE pk = %s executed for each
    (executemany), in one transaction (the caller's if it holds one). auto_now fields are stamped with one time
    for all rows and written too.

    Django's bulk_update writes one statement of CASE WHEN pk = ... per field: the database evaluates each CASE
    for every row it updates, so its cost grows with the square of the rows (2,000 students of 32 attributes in
    batches of 100: 14 s on SQLite; this: a fraction of a second). Values go to the driver as rows_insert sends
    them: plain ones as they are, the others through their field's get_db_prep_save.
    """
    if not objects:
        return
    database = connections[using]
    now = timezone.now()
    asked = [model._meta.get_field(name) for name in fields]
    stamped = [field for field in model._meta.concrete_fields if getattr(field, "auto_now", False)]
    written = asked + [field for field in stamped if field not in asked]
    for obj in objects:
        for field in stamped:
            setattr(obj, field.attname, now)
    rows = []
    for obj in objects:
        values = [getattr(obj, field.attname) for field in written]
        values = [value if _plain(field) else field.get_db_prep_save(value, database)
                  for field, value in zip(written, values)]
        rows.append((*values, obj.pk))
    quote = database.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in written)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    with transaction.atomic(using=using, savepoint=False), database.cursor() as cursor:
        cursor.executemany(sql, rows)


def _plain(field: models.Field) -> bool:
    if isinstance(field, models.ForeignKey):
        return _plain(field.target_field)
    return isinstance(field, _PLAIN)
