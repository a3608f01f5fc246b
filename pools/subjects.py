"""What the pool machinery works on: customers (公海) and leads (线索池).

The claim / assign / return / move / recycle code in ``pools.services`` and
``pools.recycling`` is written once; everything that differs between the two kinds of pool
is described here, one small class per subject: the model and its lock query, the one
ownership-change function of the model, the event model (the daily claim limit counts its
``claimed`` events), what counts towards the holding limit, what is cleared when a row goes
into the pool, when a row will be recycled and what exempts it (the forecast, the warnings
before recycling and their ``RecycleWarning`` foreign key), and the wording of the messages
(a customer is not a lead).

A group's ``kind`` says which subject lies in it (``subject_for(group.kind)``); a group of one
kind never holds rows of the other (the services refuse it).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from crm.models import User
from crm.visibility import scope_user_ids


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
    #: RecycleWarning's foreign key to the row ("customer" / "lead").
    warning_field: str
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
        if row.owner_id == actor.pk:
            return True
        ids = scope_user_ids(actor)
        if ids is None:
            return True
        if isinstance(ids, list):
            return row.owner_id in ids
        return ids.filter(id=row.owner_id).exists()

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

    def event(self, row, **fields):
        """An unsaved event of this subject about ``row``."""
        return self.event_model(tenant_id=row.tenant_id, **{self.event_field: row}, **fields)

    def message(self, code: str, count: int | None = None, **values) -> str:
        text = self.messages[code]
        if count is not None:
            values["count"] = count
        return str(text % values) if values else str(text)


class CustomerSubject(PoolSubject):
    kind = "customer"
    manage_permission = "pool.manage"
    pool_url = "/pools/"
    event_field = "customer"
    warning_field = "customer"
    warn_url = "/"
    pooled_fields = {"is_locked": False}
    messages = {
        "empty": _("Select at least one customer."),
        "lost": ngettext_lazy(
            "Someone else got %(count)d customer first: %(names)s",
            "Someone else got %(count)d customers first: %(names)s",
            "count",
        ),
        "not_visible": ngettext_lazy(
            "%(count)d selected customer is not in a pool you may use; nothing was changed.",
            "%(count)d selected customers are not in a pool you may use; nothing was changed.",
            "count",
        ),
        "admin_only": _("Only pool admins assign customers of %(group)s; nothing was claimed."),
        "daily_limit": _(
            "You have claimed %(done)d customers from %(group)s today; the daily "
            "limit is %(limit)d, so you may claim %(room)d more. Nothing was claimed."
        ),
        "holding_self": _(
            "You hold %(held)d customers; the limit of %(group)s is %(limit)d, so you "
            "may take %(room)d more. Nothing was claimed."
        ),
        "holding_other": _(
            "%(user)s holds %(held)d customers; the limit of %(group)s is %(limit)d, "
            "so they may take %(room)d more. Nothing was assigned."
        ),
        "inactive": _("A deactivated user cannot receive customers: %(names)s"),
        "reason": _("Choose why the customers go back to the pool."),
        "return_not_visible": _(
            "Some selected customers do not exist or are not visible to you; nothing was changed."
        ),
        "not_editable": _(
            "You may not return these customers (not yours, or locked): %(names)s. "
            "Nothing was changed."
        ),
        "not_empty": ngettext_lazy(
            "%(count)d customer belongs to this group; move it to another group first.",
            "%(count)d customers belong to this group; move them to another group first.",
            "count",
        ),
        "kind": _("Choose a pool group of the public pool."),
        "recycled": ngettext_lazy(
            "%(count)d customer returned to the pool: %(names)s",
            "%(count)d customers returned to the pool: %(names)s",
            "count",
        ),
        "warned": ngettext_lazy(
            "%(count)d customer falls into the pool soon (first in %(days)d days): %(names)s",
            "%(count)d customers fall into the pool soon (first in %(days)d days): %(names)s",
            "count",
        ),
        "forecast": ngettext_lazy(
            "Falls into the pool in %(count)d day (%(reason)s)",
            "Falls into the pool in %(count)d days (%(reason)s)",
            "count",
        ),
        "forecast_now": _("Falls into the pool at the next recycling run (%(reason)s)"),
    }

    @property
    def model(self):
        from customers.models import Customer

        return Customer

    @property
    def event_model(self):
        from customers.models import OwnershipEvent

        return OwnershipEvent

    def live(self, tenant_id: int) -> QuerySet:
        return self.model.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True)

    def change_owner(self, *, rows, **kwargs) -> list:
        from customers.services import ownership_change

        return ownership_change(customers=rows, **kwargs)

    def holding(self, user: User, group) -> int:
        qs = self.live(user.tenant_id).filter(owner_id=user.pk)
        if not group.holding_counts_signed:
            qs = qs.exclude(lifecycle=self.model.Lifecycle.SIGNED)
        return qs.count()

    def exempt_ids(self, group, ids: Sequence[int]) -> set[int]:
        """Customers with an open opportunity (the ``pools.hooks`` exemptions), where the
        group exempts them."""
        from pools import hooks

        return hooks.exempt_ids(list(ids)) if group.exempt_with_opportunity else set()

    def forecast(self, row, group, *, exempt: bool = False):
        from pools.selectors import forecast

        return forecast(row, group, exempt=exempt)

    def clear_when_pooled(self, rows: list) -> None:
        """A customer going into the pool leaves its team behind (participants and their
        edit grants): they belonged to the previous ownership."""
        from customers.models import CustomerParticipant, CustomerUserObjectPermission

        ids = [c.pk for c in rows]
        CustomerParticipant.objects.filter(customer_id__in=ids).delete()
        CustomerUserObjectPermission.objects.filter(content_object_id__in=ids).delete()

    def label(self, row) -> str:
        return row.name

    def may_return(self, actor: User, row) -> bool:
        """Not a deleted customer; managers may not return a locked one."""
        if row.owner_id is None or row.deleted_at is not None:
            return False
        if row.owner_id != actor.pk and row.is_locked:
            return False
        return super().may_return(actor, row)


class LeadSubject(PoolSubject):
    kind = "lead"
    manage_permission = "lead.manage"
    pool_url = "/leads/pool/"
    event_field = "lead"
    warning_field = "lead"
    warn_url = "/leads/"
    messages = {
        "empty": _("Select at least one lead."),
        "lost": ngettext_lazy(
            "Someone else got %(count)d lead first: %(names)s",
            "Someone else got %(count)d leads first: %(names)s",
            "count",
        ),
        "not_visible": ngettext_lazy(
            "%(count)d selected lead is not in a lead pool you may use; nothing was changed.",
            "%(count)d selected leads are not in a lead pool you may use; nothing was changed.",
            "count",
        ),
        "admin_only": _("Only pool admins assign leads of %(group)s; nothing was claimed."),
        "daily_limit": _(
            "You have claimed %(done)d leads from %(group)s today; the daily limit is "
            "%(limit)d, so you may claim %(room)d more. Nothing was claimed."
        ),
        "holding_self": _(
            "You hold %(held)d open leads; the limit of %(group)s is %(limit)d, so you may "
            "take %(room)d more. Nothing was claimed."
        ),
        "holding_other": _(
            "%(user)s holds %(held)d open leads; the limit of %(group)s is %(limit)d, so "
            "they may take %(room)d more. Nothing was assigned."
        ),
        "inactive": _("A deactivated user cannot receive leads: %(names)s"),
        "reason": _("Choose why the leads go back to the pool."),
        "return_not_visible": _(
            "Some selected leads do not exist or are not visible to you; nothing was changed."
        ),
        "not_editable": _(
            "You may not return these leads (not yours): %(names)s. Nothing was changed."
        ),
        "not_empty": ngettext_lazy(
            "%(count)d lead belongs to this lead pool; move it to another lead pool first.",
            "%(count)d leads belong to this lead pool; move them to another lead pool first.",
            "count",
        ),
        "kind": _("Choose a lead pool."),
        "recycled": ngettext_lazy(
            "%(count)d lead returned to the lead pool: %(names)s",
            "%(count)d leads returned to the lead pool: %(names)s",
            "count",
        ),
        "converted": _("Converted leads stay with their owner: %(names)s. Nothing was changed."),
        "warned": ngettext_lazy(
            "%(count)d lead falls into the lead pool soon (first in %(days)d days): %(names)s",
            "%(count)d leads fall into the lead pool soon (first in %(days)d days): %(names)s",
            "count",
        ),
        "forecast": ngettext_lazy(
            "Falls into the lead pool in %(count)d day: %(reason)s",
            "Falls into the lead pool in %(count)d days: %(reason)s",
            "count",
        ),
        "forecast_now": _("Falls into the lead pool at the next recycling run: %(reason)s"),
    }

    @property
    def model(self):
        from leads.models import Lead

        return Lead

    @property
    def event_model(self):
        from leads.models import LeadEvent

        return LeadEvent

    def live(self, tenant_id: int) -> QuerySet:
        return self.model.objects.filter(tenant_id=tenant_id)

    def change_owner(self, *, rows, **kwargs) -> list:
        from leads.services import lead_ownership_change

        return lead_ownership_change(leads=rows, **kwargs)

    def holding(self, user: User, group) -> int:
        """Open leads (new, contacted) count; closed and converted ones are done with."""
        return self.live(user.tenant_id).open().filter(owner_id=user.pk).count()

    def forecast(self, row, group, *, exempt: bool = False):
        """Open leads (new, contacted) with an owner: the group's days without a follow-up,
        counted from the later of the last follow-up and the start of the ownership. Closed
        and converted leads are never recycled, so they have no forecast."""
        from pools.selectors import Forecast, followup_reference

        if group is None or group.kind != self.kind or not group.is_enabled or exempt:
            return None
        if row.owner_id is None or row.pooled_at is not None:
            return None
        if row.status not in (self.model.Status.NEW, self.model.Status.CONTACTED):
            return None
        days = group.recycle_no_followup_days
        reference = followup_reference(row)
        if not days or reference is None:
            return None
        return Forecast(reference + datetime.timedelta(days=days), "followup", days, self.kind)

    def refuse_return(self, rows: list) -> tuple[str, str] | None:
        converted = [lead for lead in rows if lead.is_converted]
        if converted:
            names = "、".join(str(lead) for lead in converted[:10])
            return self.message("converted", names=names), "converted"
        return None


CUSTOMER = CustomerSubject()
LEAD = LeadSubject()
SUBJECTS = {CUSTOMER.kind: CUSTOMER, LEAD.kind: LEAD}


def subject_for(kind: str) -> PoolSubject:
    return SUBJECTS[kind]
