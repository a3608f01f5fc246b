"""What every report page shares: the query a drill-down link carries, the person a drill-down
names (a 404 outside the viewer's scope), the table's cells for the template."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse

FILTER_KEYS = ("preset", "first", "last", "department", "only_this_department", "person")


def choice(request, name: str, choices: dict, default: str) -> str:
    value = request.GET.get(name) or default
    return value if value in choices else default


def filters_of(request, keys=FILTER_KEYS) -> dict:
    """The filter form's own parameters of the request, to carry into links."""
    return {k: request.GET[k] for k in keys if request.GET.get(k)}


# Values that urlencode leaves as they are (ids, ISO dates, keys): written without it.
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*\Z")


def _pair(key: str, value) -> str:
    text = str(value)
    return f"{key}={text}" if _PLAIN.match(text) else urlencode({key: text})


def linker(url_name: str, base: dict) -> Callable[..., str]:
    """``to(user_id, **query)``: the URL of ``url_name`` with the page's filters (``base``),
    the number's own ``query`` and, when given, the person (``user``); the same string as
    ``urlencode({**base, **query})`` gives.

    PERF: a table links every number (a month of days for 500 people: 33,000 links); the
    URL and the filters are encoded once, each link adds only its own few parameters."""
    url = reverse(url_name)
    head = f"{url}?{urlencode(base)}&" if base else f"{url}?"

    def to(user_id: int | None = None, **query) -> str:
        if user_id is not None:
            query["user"] = user_id
        if not query:
            return head[:-1]
        if base.keys() & query.keys():  # the number overrides a filter: encode it all
            return f"{url}?{urlencode({**base, **query})}"
        return head + "&".join([_pair(k, v) for k, v in query.items()])

    return to


def drill_person(request, scope):
    """The person a drill-down names (None: everyone in scope). SECURITY: a person outside
    the viewer's data scope, or another tenant's, is a 404 like a missing one."""
    if not request.GET.get("user"):
        return None
    try:
        user_id = int(request.GET["user"])
    except ValueError as exc:
        raise Http404 from exc
    if not scope.covers(user_id):
        raise Http404
    return next(p for p in scope.people() if p.id == user_id)


def table_context(table) -> dict:
    """The template's view of a reports.tables.Table: each row with its cells, the total's."""
    return {
        "table": table,
        "rows": [(row, row.cells(table.columns)) for row in table.rows],
        "total_cells": table.total.cells(table.columns) if table.total else [],
    }
