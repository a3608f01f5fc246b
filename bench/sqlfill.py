"""SQL pieces the benches fill their tenants with (set-based: INSERT … SELECT over a series of
integers), on PostgreSQL and SQLite. A module of bench/, imported by the scripts beside it."""

from __future__ import annotations

import datetime


def vendor() -> str:
    from django.db import connection

    return connection.vendor


def at(anchor: datetime.datetime, seconds: str) -> str:
    """SQL for ``anchor`` + ``seconds`` (an SQL integer expression), stored as Django does."""
    if vendor() == "postgresql":
        return f"(TIMESTAMPTZ '{anchor.isoformat(' ')}' + ({seconds}) * INTERVAL '1 second')"
    # Django keeps SQLite datetimes as naive UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    naive = anchor.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)
    return f"datetime('{naive.isoformat(' ')}', ({seconds}) || ' seconds')"


def series(n: int) -> tuple[str, str]:
    """(prefix, FROM clause) yielding the integers 1..n as ``g.i``."""
    if vendor() == "postgresql":
        return "", f"generate_series(1::bigint, {int(n)}::bigint) AS g(i)"
    return (
        f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {int(n)}) ",
        "g",
    )


def other_columns(model, explicit: set[str]) -> tuple[list[str], list]:
    """Every other column of ``model`` (except the id) with its model default, prepared for
    the database, so a raw INSERT fills the NOT NULL columns as the ORM would."""
    from django.db import connection
    from django.utils import timezone

    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.column in explicit:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = timezone.now()
        else:
            value = f.get_default()
        if value is None and not f.null:
            raise ValueError(f"{model.__name__}.{f.attname} needs a value")
        columns.append(f.column)
        values.append(f.get_db_prep_save(value, connection))
    return columns, values
