"""Inserting many rows fast (imports): ids reserved up front, then PostgreSQL ``COPY``.

``bulk_create`` spends most of its time building model instances and SQL in Python (about
10k rows/s here against COPY's 60k, research/perf.md Table A). Imports write plain dicts
instead: every column not given takes the field's default, ids come from the table's
sequence before the rows are sent, so children (contacts, events) can point at their new
parents in the same pass. Other databases get one ``executemany`` with the reserved ids.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

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


def _copy_chunks(rows, pairs, tail, pks) -> Iterator[str]:
    """The COPY text of ``rows``, :data:`COPY_CHUNK` rows at a time."""
    for start in range(0, len(rows), COPY_CHUNK):
        lines = []
        for index in range(start, min(start + COPY_CHUNK, len(rows))):
            row = rows[index]
            cells = [copy_text(row.get(name, default)) for name, default in pairs]
            if pks is not None:
                cells.insert(0, str(pks[index]))
            lines.append("\t".join(cells) + tail if cells else tail[1:])
        yield "".join(lines)


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


@dataclass
class Prepared:
    """Rows of one table ready to be sent (:func:`prepare_rows`)."""

    model: type[models.Model]
    rows: Sequence[Mapping]
    keys: set[str]
    defaults: dict[str, object]
    pks: list[int]
    columns: str
    chunks: Iterable[str] = ()  # PostgreSQL: the COPY text
    values: list[list] = dataclasses.field(default_factory=list)  # other databases: the parameters


def prepare_rows(
    model: type[models.Model],
    rows: Sequence[Mapping],
    *,
    common: Mapping | None = None,
    ids: bool = True,
    now: bool = True,
) -> Prepared:
    """``rows`` of ``model`` ready for :func:`insert_prepared` (see :func:`insert_rows` for
    ``common`` and ``ids``). With ``now`` the COPY text is formatted here, at once (so that
    it can be done while the server is busy with an earlier insert, and without touching the
    database when ``ids`` is false); otherwise chunk by chunk as it is sent."""
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
    order = ([model._meta.pk] if ids else []) + varying + constant
    prepared = Prepared(
        model=model,
        rows=rows,
        keys=keys,
        defaults=defaults,
        pks=pks,
        columns=", ".join(f'"{f.column}"' for f in order),
    )
    names = [f.attname for f in varying]
    if connection.vendor == "postgresql":
        tail = "".join("\t" + copy_text(defaults[f.attname]) for f in constant) + "\n"
        pairs = [(name, defaults[name]) for name in names]
        chunks = _copy_chunks(rows, pairs, tail, pks if ids else None)
        prepared.chunks = list(chunks) if now else chunks
        return prepared
    converted = {
        f.attname: f
        for f in fields
        if isinstance(f, models.DateTimeField | models.DateField | models.DecimalField)
    }
    names += [f.attname for f in constant]
    for index, row in enumerate(rows):
        line = [pks[index]] if ids else []
        for name in names:
            value = row.get(name, defaults[name])
            if name in converted and value is not None:
                value = converted[name].get_db_prep_save(value, connection)
            line.append(value)
        prepared.values.append(line)
    return prepared


def insert_prepared(
    prepared: Prepared,
    *,
    fresh: Mapping[str, Collection[int]] | None = None,
    meanwhile: Callable[[list[int]], None] | None = None,
) -> list[int]:
    """Insert rows made ready by :func:`prepare_rows`; returns their ids (``[]`` when the
    database numbers them). ``meanwhile(ids)`` is called once the rows are sent: on
    PostgreSQL the server is still indexing them then, so the next insert's rows can be
    prepared there without the server waiting (it must not use the database)."""
    model = prepared.model
    table = model._meta.db_table
    if not prepared.rows:
        if meanwhile is not None:
            meanwhile(prepared.pks)
        return prepared.pks
    if connection.vendor == "postgresql":
        set_based = set_based_checks_allowed()
        if set_based:
            _lock_references(model, prepared.rows, prepared.keys, prepared.defaults, fresh or {})
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY is not in the DB-API
            if set_based:
                # SET LOCAL: if the COPY fails, the setting ends with the (aborted)
                # transaction or savepoint; otherwise the triggers are back right after it.
                raw.execute("SET LOCAL session_replication_role = replica")
            with raw.copy(f"COPY {table} ({prepared.columns}) FROM STDIN") as copy:
                for chunk in prepared.chunks:
                    copy.write(chunk)
                if meanwhile is not None:
                    meanwhile(prepared.pks)
            if set_based:
                raw.execute("SET LOCAL session_replication_role = origin")
        return prepared.pks
    marks = ", ".join(["%s"] * len(prepared.values[0]))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({prepared.columns}) VALUES ({marks})",  # noqa: S608
            prepared.values,
        )
    if meanwhile is not None:
        meanwhile(prepared.pks)
    return prepared.pks


def insert_rows(
    model: type[models.Model],
    rows: Sequence[Mapping],
    *,
    common: Mapping | None = None,
    ids: bool = True,
    fresh: Mapping[str, Collection[int]] | None = None,
    meanwhile: Callable[[list[int]], None] | None = None,
) -> list[int]:
    """Insert ``rows`` (attname -> value; missing columns take ``common``'s value, else the
    field default) and return their ids, in order. No signals, no ``save()``: callers set
    derived columns (normalised names, timestamps) themselves.

    ``common`` holds the values every row shares (tenant, actor, timestamps): they are
    formatted once, not once per row. With ``ids=False`` the database numbers the rows
    (no ids are read first) and ``[]`` is returned; :func:`last_id` gives the highest.
    ``fresh`` gives, by foreign key column, ids this transaction inserted (nothing to look
    up for them); ``meanwhile``: see :func:`insert_prepared`.

    PERF: PostgreSQL checks foreign keys with one trigger call per row and key at the commit
    (about 4 µs each: 46 % of the database's work of an import, bench/README.md). Where
    :func:`set_based_checks_allowed`, they are checked per distinct value before the COPY
    (``_lock_references``) and the per-row triggers are off for the COPY alone."""
    if not rows:
        if meanwhile is not None:
            meanwhile([])
        return []
    prepared = prepare_rows(model, rows, common=common, ids=ids, now=False)
    return insert_prepared(prepared, fresh=fresh, meanwhile=meanwhile)
