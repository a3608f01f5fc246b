"""Inserting many rows fast (imports): ids reserved up front, then PostgreSQL ``COPY``.

``bulk_create`` spends most of its time building model instances and SQL in Python (about
10k rows/s here against COPY's 60k, research/perf.md Table A). Imports write plain dicts
instead: every column not given takes the field's default, ids come from the table's
sequence before the rows are sent, so children (contacts, events) can point at their new
parents in the same pass. Other databases get one ``executemany`` with the reserved ids.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Collection, Mapping, Sequence

from django.conf import settings
from django.db import IntegrityError, connection, models
from django.db.models import NOT_PROVIDED

# Rows per write to the COPY stream: the server indexes the first rows while the next ones
# are being formatted.
COPY_CHUNK = 2000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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
            # PERF: the sequence is named once (pg_get_serial_sequence per value reads the
            # catalogue 10,000 times a batch), and a run of values nobody interleaved with
            # (the usual case) comes back as its ends.
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
            sequence = cursor.fetchone()[0]
            cursor.execute(
                "SELECT MIN(v), MAX(v), CASE WHEN MAX(v) - MIN(v) + 1 = COUNT(*) THEN NULL"
                " ELSE array_agg(v ORDER BY v) END"
                " FROM (SELECT nextval(%s::regclass) AS v FROM generate_series(1, %s)) AS ids",
                [sequence, count],
            )
            low, high, values = cursor.fetchone()
            return list(range(low, high + 1)) if values is None else values
        cursor.execute(f'SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"')  # noqa: S608
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def last_id(model: type[models.Model]) -> int:
    """The highest id this connection gave ``model``'s table so far (after
    ``insert_rows(..., ids=False)``; on SQLite, where the write lock is held, the highest)."""
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT currval(pg_get_serial_sequence(%s, %s))", [table, pk])
        else:
            cursor.execute(f'SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"')  # noqa: S608
        return cursor.fetchone()[0]


def _copy(raw, table, columns, rows, pairs, tail, pks) -> None:
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for start in range(0, len(rows), COPY_CHUNK):
            lines = []
            for index in range(start, min(start + COPY_CHUNK, len(rows))):
                row = rows[index]
                cells = [copy_text(row.get(name, default)) for name, default in pairs]
                if pks is not None:
                    cells.insert(0, str(pks[index]))
                lines.append("\t".join(cells) + tail if cells else tail[1:])
            copy.write("".join(lines))


def copy_text(value) -> str:
    """``value`` as a field of PostgreSQL's COPY text format."""
    kind = type(value)
    if kind is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    if value is None:
        return "\\N"
    if kind is int:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, str):  # TextChoices members and other str subclasses
        return copy_text(str.__str__(value))
    if isinstance(value, dict | list):
        return copy_text(json.dumps(value))
    if isinstance(value, int | float | decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"cannot COPY a {kind.__name__}")


def set_based_checks_allowed() -> bool:
    """Whether this connection may check foreign keys per batch instead of per row: on
    PostgreSQL when settings.IMPORT_SET_BASED_FK_CHECKS is on and the role may set
    ``session_replication_role`` (a superuser, or granted on PostgreSQL 15+:
    ``GRANT SET ON PARAMETER session_replication_role TO <role>``)."""
    if connection.vendor != "postgresql" or not settings.IMPORT_SET_BASED_FK_CHECKS:
        return False
    cached = getattr(connection, "_tidepool_set_based_fk", None)
    if cached is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT CASE WHEN current_setting('server_version_num')::int >= 150000"
                " THEN has_parameter_privilege('session_replication_role', 'SET')"
                " ELSE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) END"
            )
            cached = bool(cursor.fetchone()[0])
        connection._tidepool_set_based_fk = cached
    return cached


def _lock_references(
    model: type[models.Model],
    rows: Sequence[Mapping],
    keys: Collection[str],
    defaults: Mapping,
    fresh: Mapping[str, Collection[int]],
) -> None:
    """SECURITY: the foreign keys of ``rows``, checked per distinct value instead of by
    PostgreSQL's per-row triggers (which the caller then switches off for the insert): each
    referenced row must exist, and is locked ``FOR KEY SHARE`` till the commit, as the
    triggers lock it, so that nobody deletes it meanwhile. ``fresh`` gives, by column, the
    ids of rows this transaction inserted (no one else sees them, nothing to look up); any
    other value is looked up. Raises IntegrityError as the triggers would at the commit."""
    for field in model._meta.concrete_fields:
        if not field.is_relation or not field.many_to_one or not field.db_constraint:
            continue
        name = field.attname
        if name in keys:
            wanted = {row.get(name, defaults[name]) for row in rows}
        else:
            wanted = {defaults[name]}
        wanted.discard(None)
        if name in fresh:
            wanted.difference_update(fresh[name])
        if not wanted:
            continue
        target = field.target_field
        table = target.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "{target.column}" FROM "{table}" '  # noqa: S608
                f'WHERE "{target.column}" = ANY(%s) FOR KEY SHARE',
                [sorted(wanted)],
            )
            found = {row[0] for row in cursor.fetchall()}
        missing = wanted - found
        if missing:
            raise IntegrityError(
                f'insert into "{model._meta.db_table}": {name}={min(missing)!r} is not present '
                f'in table "{table}"'
            )


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping],
    *,
    common: Mapping | None = None,
    ids: bool = True,
    fresh: Mapping[str, Collection[int]] | None = None,
) -> list[int]:
    """Insert ``rows`` (attname -> value; missing columns take ``common``'s value, else the
    field default) and return their ids, in order. No signals, no ``save()``: callers set
    derived columns (normalised names, timestamps) themselves.

    ``common`` holds the values every row shares (tenant, actor, timestamps): they are
    formatted once, not once per row. With ``ids=False`` the database numbers the rows
    (no ids are read first) and ``[]`` is returned; :func:`last_id` gives the highest.

    PERF: PostgreSQL checks foreign keys with one trigger call per row and key at the commit
    (about 4 µs each: 46 % of the database's work of an import, bench/README.md). Where
    :func:`set_based_checks_allowed`, they are checked per distinct value before the COPY
    (``_lock_references``) and the per-row triggers are off for the COPY alone."""
    if not rows:
        return []
    common = dict(common or {})
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = _defaults(fields)
    defaults.update(common)
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    # Columns some row sets are formatted per row; the others once, as a constant tail.
    varying = [f for f in fields if f.attname in keys]
    constant = [f for f in fields if f.attname not in keys]
    pks = reserve_ids(model, len(rows)) if ids else []
    table = model._meta.db_table
    order = ([model._meta.pk] if ids else []) + varying + constant
    columns = ", ".join(f'"{f.column}"' for f in order)
    names = [f.attname for f in varying]
    if connection.vendor == "postgresql":
        tail = "".join("\t" + copy_text(defaults[f.attname]) for f in constant) + "\n"
        pairs = [(name, defaults[name]) for name in names]
        set_based = set_based_checks_allowed()
        if set_based:
            _lock_references(model, rows, keys, defaults, fresh or {})
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY is not in the DB-API
            if set_based:
                # SET LOCAL: if the COPY fails, the setting ends with the (aborted)
                # transaction or savepoint; otherwise the triggers are back right after it.
                raw.execute("SET LOCAL session_replication_role = replica")
            _copy(raw, table, columns, rows, pairs, tail, pks if ids else None)
            if set_based:
                raw.execute("SET LOCAL session_replication_role = origin")
        return pks
    prepared = {
        f.attname: f
        for f in fields
        if isinstance(f, models.DateTimeField | models.DateField | models.DecimalField)
    }
    names += [f.attname for f in constant]
    values = []
    for index, row in enumerate(rows):
        line = [pks[index]] if ids else []
        for name in names:
            value = row.get(name, defaults[name])
            if name in prepared and value is not None:
                value = prepared[name].get_db_prep_save(value, connection)
            line.append(value)
        values.append(line)
    marks = ", ".join(["%s"] * len(order))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # noqa: S608
    return pks
