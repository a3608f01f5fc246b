"""Inserting many rows fast (imports): ids reserved up front, then PostgreSQL ``COPY``.

``bulk_create`` spends most of its time building model instances and SQL in Python (about
10k rows/s here against COPY's 60k, research/perf.md Table A). Imports write plain dicts
instead: every column not given takes the field's default, ids come from the table's
sequence before the rows are sent, so children (contacts, events) can point at their new
parents in the same pass. Other databases get one ``executemany`` with the reserved ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models
from django.db.models import NOT_PROVIDED


def _defaults(fields: Sequence[models.Field]) -> dict[str, object]:
    defaults = {}
    for field in fields:
        if field.default is NOT_PROVIDED:
            defaults[field.attname] = (
                None if field.null else ("" if field.empty_strings_allowed else None)
            )
        else:
            defaults[field.attname] = field.get_default()
    return defaults


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys of ``model``'s table. Must run in the transaction that
    inserts them (on SQLite the write lock, taken by BEGIN IMMEDIATE, keeps them free)."""
    if count <= 0:
        return []
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f'SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"')  # noqa: S608
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def insert_rows(model: type[models.Model], rows: Sequence[dict]) -> list[int]:
    """Insert ``rows`` (attname -> value; missing columns take the field default) and
    return their ids, in order. No signals, no ``save()``: callers set derived columns
    (normalised names, timestamps) themselves."""
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = _defaults(fields)
    names = [f.attname for f in fields]
    ids = reserve_ids(model, len(rows))
    table = model._meta.db_table
    columns = ", ".join(f'"{f.column}"' for f in [model._meta.pk, *fields])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY is not in the DB-API
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for pk, row in zip(ids, rows, strict=True):
                    copy.write_row([pk, *(row.get(n, defaults[n]) for n in names)])
        return ids
    prepared = {
        f.attname: f
        for f in fields
        if isinstance(f, models.DateTimeField | models.DateField | models.DecimalField)
    }
    values = []
    for pk, row in zip(ids, rows, strict=True):
        line = [pk]
        for name in names:
            value = row.get(name, defaults[name])
            if name in prepared and value is not None:
                value = prepared[name].get_db_prep_save(value, connection)
            line.append(value)
        values.append(line)
    marks = ", ".join(["%s"] * (len(fields) + 1))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # noqa: S608
    return ids
