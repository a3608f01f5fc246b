"""What the pool machinery works on: the registry of pool subjects.

The claim / assign / return / move / recycle code in ``pools.services`` and
``pools.recycling`` is written once; everything that differs between kinds of pooled rows is
described by a subject, one small class per kind, registered by the app that owns the model
(``customers.subjects``: customers in the public pool, 公海; ``leads.subjects``: leads in the
lead pools, 线索池) from its ``AppConfig.ready()``. A subject says: the model (a
``pools.models.PooledModel``) and its lock query, the one ownership-change function of the
model, the event model (the daily claim limit counts its ``claimed`` events), what counts
towards the holding limit, what is cleared when a row goes into the pool, which rows a group
recycles and why, when a row will be recycled and what exempts it (the forecast, the warnings
before recycling), and the wording of the messages
(a customer is not a lead).

A group's ``kind`` says which subject lies in it (``subject_for(group.kind)``); a group of one
kind never holds rows of the other (the services refuse it). The pool engine never names a
model of a higher app.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.db.models import QuerySet

from crm.models import User
from crm.visibility import owner_scope


class PoolSubject:
    """The description of one kind of pooled row; subclasses fill it in."""

    kind: str
    #: The permission whose holders configure every group of this kind and administer them.
    manage_permission: str
    #: Where the pool list of this kind lives (notification links).
    pool_url: str
    #: Messages, by code (lazy; plural ones are formatted with a ``count`` key).
    messages: dict

    @property
    def model(self):
        raise NotImplementedError

    @property
    def event_model(self):
        raise NotImplementedError

    #: The event's foreign key to the row ("customer" / "lead").
    event_field: str
    #: Where a warning before recycling links to.
    warn_url: str

    def live(self, tenant_id: int) -> QuerySet:
        """The rows of the tenant the pool may act on (customers: not in the recycle bin)."""
        raise NotImplementedError

    def lock(self, tenant_id: int, ids: Sequence[int]) -> list:
        """The live rows with these ids, locked in id order (no visibility filter: the
        callers decide per row what the actor may know)."""
        return list(
            self.live(tenant_id)
            .select_for_update(of=("self",))
            .select_related("pool_group", "owner")
            .filter(pk__in=list(ids))
            .order_by("pk")
        )

    def change_owner(self, **kwargs) -> list:
        """The model's one ownership-change service (``actor``, ``rows``, ``to_user``,
        ``kind``, ``note``, ``group``, ``fields``)."""
        raise NotImplementedError

    def holding(self, user: User, group) -> int:
        """What ``user`` holds, as ``group``'s holding limit counts it."""
        raise NotImplementedError

    def clear_when_pooled(self, rows: list) -> None:
        """What a row leaves behind when it goes into the pool."""

    #: Further columns reset when a row goes into the pool.
    pooled_fields: dict = {}

    def label(self, row) -> str:
        return str(row)

    def may_return(self, actor: User, row) -> bool:
        """The owner, and managers whose data scope covers the owner."""
        if row.owner_id is None:
            return False
        return row.owner_id == actor.pk or owner_scope(actor).covers(row.owner_id)

    def refuse_return(self, rows: list) -> tuple[str, str] | None:
        """(message, code) when some rows may never go back to the pool, else None."""
        return None

    def exempt_ids(self, group, ids: Sequence[int]) -> set[int]:
        """The ids among ``ids`` that an exemption hook keeps out of ``group``'s recycling
        (what the candidates query cannot say itself)."""
        return set()

    def forecast(self, row, group, *, exempt: bool = False):
        """When ``group``'s rules recycle the owned ``row`` and by which rule (a
        ``pools.selectors.Forecast``), or None when they never will."""
        raise NotImplementedError

    def candidates(self, group, at: datetime.datetime) -> QuerySet:
        """The owned rows of ``group`` whose recycling time is ``at`` or earlier (one
        set-based query: ``pools.recycling`` locks and moves them in batches)."""
        raise NotImplementedError

    #: The columns recycling reads of a candidate (forecast, messages, events).
    row_fields: tuple[str, ...] = ()

    def recycle_rule(self, row, group) -> tuple[str, int]:
        """(rule, days) by which a due ``row`` is recycled: ``followup`` or ``deal``."""
        return "followup", group.recycle_no_followup_days or 0

    #: The name of the tenant's default group of this kind (created on first use), lazy.
    default_group_name = None
    #: Whether groups of this kind take per-level rules (PoolLevelRule: customer levels).
    level_rules: bool = False
    #: The URL names of the group settings pages of this kind (list, create, edit, delete)
    #: and their menu entry (nav), for ``pools.views.settings``.
    settings_pages: dict = {}

    def event(self, row, **fields):
        """An unsaved event of this subject about ``row``."""
        return self.event_model(tenant_id=row.tenant_id, **{self.event_field: row}, **fields)

    def message(self, code: str, count: int | None = None, **values) -> str:
        text = self.messages[code]
        if count is not None:
            values["count"] = count
        return str(text % values) if values else str(text)


_SUBJECTS: dict[str, PoolSubject] = {}


def register(subject: PoolSubject) -> PoolSubject:
    """Make ``subject`` the one for its kind (from the owning app's ``AppConfig.ready()``)."""
    _SUBJECTS[subject.kind] = subject
    return subject


def subject_for(kind: str) -> PoolSubject:
    """The registered subject of pool groups of ``kind``."""
    return _SUBJECTS[kind]


def subjects() -> list[PoolSubject]:
    return list(_SUBJECTS.values())
