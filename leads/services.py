"""Every state change of leads (STYLE: one function each, keyword-only, actor first,
transactional, writes the activity log). Pool actions on leads (claim, assign, return, move,
recycle) live in ``pools.services`` and reach leads through ``leads.pooling``; automatic
assignment in ``leads.assignment``; conversion in ``leads.conversion``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.exceptions import ServiceError
from crm.models import User
from crm.services import notification_send
from leads.models import Lead, LeadEvent


def _refuse(message: str, code: str) -> None:
    raise ServiceError(message, code=code)


def lead_ownership_change(
    *,
    actor: User | None,
    leads: Sequence[Lead],
    to_user: User | None,
    kind: str,
    note: str = "",
    group=None,
    rule=None,
    fields: dict | None = None,
    notify: bool = True,
) -> list[LeadEvent]:
    """The one place a lead's owner changes (the counterpart of
    customers.services.ownership_change): sets the owner, writes a LeadEvent per lead (with
    the pool ``group`` and assignment ``rule`` involved, if any) and notifies the new owner
    once for the batch. Callers check rights and lock the rows.

    Giving a lead an owner takes it out of the pool and starts its ownership clock
    (``owned_since``: recycling counts from there). ``fields`` are further columns set in
    the same UPDATE (the pool puts leads into the pool with it)."""
    if to_user is not None and not to_user.is_active:
        _refuse(_("A deactivated user cannot receive leads."), "inactive")
    now = timezone.now()
    update = {"owner": to_user, "updated_at": now, "updated_by": actor}
    if to_user is not None:
        update.update(
            owned_since=now, pooled_at=None, pool_reason="", pool_reason_days=None, pool_note=""
        )
    update.update(fields or {})
    events = [
        LeadEvent(
            tenant_id=lead.tenant_id,
            lead=lead,
            kind=kind,
            from_user_id=lead.owner_id,
            to_user=to_user,
            actor=actor,
            note=note[:500],
            pool_group=group,
            rule=rule,
            created_at=now,
        )
        for lead in leads
    ]
    if leads:
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(**update)
        LeadEvent.objects.bulk_create(events)
        for lead in leads:
            previous_owner_id = lead.owner_id
            for key, value in update.items():
                if hasattr(value, "resolve_expression"):  # F("owner"): the old owner
                    setattr(lead, f"{key}_id", previous_owner_id)
                else:
                    setattr(lead, key, value)
    if notify and to_user is not None and to_user.pk != getattr(actor, "pk", None) and leads:
        names = "、".join(str(lead) for lead in leads[:5])
        notification_send(
            tenant_id=to_user.tenant_id,
            recipients=[to_user],
            title=ngettext(
                "%(count)d lead is now yours: %(names)s",
                "%(count)d leads are now yours: %(names)s",
                len(leads),
            )
            % {"count": len(leads), "names": names},
            link=f"/leads/{leads[0].pk}/" if len(leads) == 1 else "/leads/",
        )
    return events
