"""最近浏览 (issue 16 §6): the last records a user opened, in the top bar and on the workbench.

A page of a record (the customer page, the lead page) calls :func:`record_view`; the module
that owns the kind registers it here from its ``AppConfig.ready()`` (crm imports neither
customers nor leads):

    recent.register("customer", _("Customer"), visible_customers)

``visible(actor, ids)`` answers ``{id: (name, url)}`` for the records among ``ids`` that
``actor`` sees now, in a fixed number of queries whatever the number of ids. A record the
user no longer sees (returned to the pool, transferred away, deleted, another tenant's) is
simply left out of the list: nothing is stored about it but its id.

PERF: recording a view is one upsert (a record page costs one query more, always the same);
reading the list is one query for the user's newest rows plus one per kind present among them;
when that read finds more than :data:`KEEP` rows it trims them to :data:`KEEP` with one DELETE
(so a user's rows stay near KEEP: the workbench, the home page, reads them). Deterministic on
purpose: a trim drawn by chance would make the pages' fixed query counts flaky.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

# Rows kept per user (the newest); the list shows the first SHOWN of them still visible.
KEEP = 50
SHOWN = 10


@dataclass(frozen=True)
class Kind:
    key: str
    label: str  # a lazy translation: 客户, 线索
    visible: Callable[..., dict[int, tuple[str, str]]]


@dataclass(frozen=True)
class Item:
    """One line of the list: a record still visible, with its name and page."""

    kind: str
    label: str
    object_id: int
    name: str
    url: str
    viewed_at: datetime.datetime


_KINDS: dict[str, Kind] = {}


def register(key: str, label, visible: Callable[..., dict[int, tuple[str, str]]]) -> Kind:
    """Register a kind of record (``key`` at most 20 characters, stored in each row)."""
    if len(key) > 20:
        raise ValueError(f"recent-view kind {key!r} is longer than 20 characters")
    kind = Kind(key, label, visible)
    _KINDS[key] = kind
    return kind


def kinds() -> dict[str, Kind]:
    return dict(_KINDS)


def record_view(request, kind: str, obj) -> None:
    """The user of ``request`` opened the page of ``obj``: move it to the top of their list.
    Only a full page load counts (a GET without htmx): tab loads and actions do not."""
    from crm.models import RecentView

    if kind not in _KINDS:
        raise ValueError(f"unknown recent-view kind {kind!r}")
    user = request.user
    if request.method != "GET" or request.headers.get("HX-Request") or not user.tenant_id:
        return
    # One statement whatever the row's state (INSERT … ON CONFLICT DO UPDATE): two tabs
    # opening the same record at once never collide.
    RecentView.objects.bulk_create(
        [
            RecentView(
                tenant_id=user.tenant_id,
                user=user,
                kind=kind,
                object_id=obj.pk,
                viewed_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["tenant", "user", "kind", "object_id"],
        update_fields=["viewed_at"],
    )


def trim(user, keep: int = KEEP) -> int:
    """Delete ``user``'s rows beyond the newest ``keep``; the number deleted."""
    from crm.models import RecentView

    mine = RecentView.objects.filter(tenant_id=user.tenant_id, user=user)
    older = mine.order_by("-viewed_at", "-id").values("pk")[keep:]
    deleted, _by_model = mine.filter(pk__in=older).delete()
    return deleted


def recent_items(actor, limit: int = SHOWN) -> list[Item]:
    """The newest ``limit`` records ``actor`` opened and still sees, newest first.
    PERF: one query for the rows, then one per kind present among them (and one DELETE when
    the user has more than KEEP rows)."""
    from crm.models import RecentView

    rows = list(
        RecentView.objects.filter(tenant_id=actor.tenant_id, user=actor)
        .order_by("-viewed_at", "-id")
        .values_list("kind", "object_id", "viewed_at")[: KEEP + 1]
    )
    if len(rows) > KEEP:
        trim(actor)
        rows = rows[:KEEP]
    ids: dict[str, list[int]] = {}
    for kind, object_id, _at in rows:
        if kind in _KINDS:
            ids.setdefault(kind, []).append(object_id)
    found = {kind: _KINDS[kind].visible(actor, kind_ids) for kind, kind_ids in ids.items()}
    items: list[Item] = []
    for kind, object_id, viewed_at in rows:
        hit = found.get(kind, {}).get(object_id)
        if hit is None:
            continue
        name, url = hit
        items.append(Item(kind, _KINDS[kind].label, object_id, name, url, viewed_at))
        if len(items) >= limit:
            break
    return items


def workbench_panel(request) -> dict:
    """The workbench's 最近浏览 panel (registered in crm.workbench)."""
    return {"items": recent_items(request.user)}
