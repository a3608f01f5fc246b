"""The lead as a pool subject: what the pool engine (``pools.services``,
``pools.recycling``) needs to know of leads in the lead pools (线索池). Registered from
``LeadsConfig.ready()``.
"""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy, pgettext_lazy

from crm.models import User
from leads.models import Lead, LeadEvent
from leads.services import lead_ownership_change
from pools.recycling import followup_rule_q
from pools.selectors import Forecast, followup_reference
from pools.subjects import PoolSubject, register


class LeadSubject(PoolSubject):
    kind = "lead"
    manage_permission = "lead.manage"
    pool_url = "/leads/pool/"
    event_field = "lead"
    warn_url = "/leads/"
    messages = {
        "empty": _("Select at least one lead."),
        "lost_unnamed": ngettext_lazy(
            "%(count)d lead does not exist or someone else got it first.",
            "%(count)d leads do not exist or someone else got them first.",
            "count",
        ),
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
        "holding_transfer": _(
            "%(user)s holds %(held)d open leads; the limit of %(group)s is %(limit)d, so "
            "they may take %(room)d more. Nothing was transferred."
        ),
        "holding_import": _(
            "Not imported: %(user)s holds %(held)d open leads; the limit of %(group)s is %(limit)d."
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

    default_group_name = pgettext_lazy("pool group", "Default lead pool")
    settings_pages = {
        "list": "leads:pool-group-list",
        "create": "leads:pool-group-create",
        "edit": "leads:pool-group-edit",
        "delete": "leads:pool-group-delete",
        "nav": "lead-pool-groups",
    }
    row_fields = (
        "id",
        "tenant_id",
        "name",
        "company",
        "owner_id",
        "status",
        "last_followup_at",
        "owned_since",
        "created_at",
        "pooled_at",
        "pool_group_id",
    )

    @property
    def model(self):
        return Lead

    @property
    def event_model(self):
        return LeadEvent

    def live(self, tenant_id: int) -> QuerySet:
        return self.model.objects.filter(tenant_id=tenant_id)

    def change_owner(self, *, rows, **kwargs) -> list:
        return lead_ownership_change(leads=rows, **kwargs)

    def holding(self, user: User, group) -> int:
        """Open leads (new, contacted) count; closed and converted ones are done with."""
        return self.live(user.tenant_id).open().filter(owner_id=user.pk).count()

    def counts_in_holding(self, row, group) -> bool:
        """Whether ``holding`` counts ``row`` once its receiver owns it (open leads)."""
        return row.status in (self.model.Status.NEW, self.model.Status.CONTACTED)

    def forecast(self, row, group, *, exempt: bool = False):
        """Open leads (new, contacted) with an owner: the group's days without a follow-up,
        counted from the later of the last follow-up and the start of the ownership. Closed
        and converted leads are never recycled, so they have no forecast."""
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

    def candidates(self, group, at: datetime.datetime) -> QuerySet:
        """Open leads of lead pool ``group`` lying with an owner for its days without a
        follow-up at time ``at`` (closed and converted leads are never recycled)."""
        qs = Lead.objects.open().filter(
            tenant_id=group.tenant_id, pool_group=group, owner__isnull=False, pooled_at__isnull=True
        )
        condition = followup_rule_q(group.recycle_no_followup_days, at)
        if condition is None or not group.is_enabled:
            return qs.none()
        return qs.filter(condition)

    def refuse_return(self, rows: list) -> tuple[str, str] | None:
        converted = [lead for lead in rows if lead.is_converted]
        if converted:
            names = "、".join(str(lead) for lead in converted[:10])
            return self.message("converted", names=names), "converted"
        return None


LEAD = register(LeadSubject())
