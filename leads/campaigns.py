"""Campaigns (市场活动): a simple tenant list of marketing activities with cost and dates,
named on leads and in assignment-rule conditions. Services (lead.manage) and the settings
list's selector."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError, refused_if_taken
from crm.models import User
from crm.services import require_same_tenant
from leads import activity_actions as actions
from leads.models import AssignmentRule, Campaign, Lead

CAMPAIGN_FIELDS = ["name", "cost", "starts_on", "ends_on", "is_active", "remark"]
MAX_COST = Decimal("999999999999.99")


def _refuse(message, code: str):
    raise ServiceError(message, code=code)


def _require_manager(actor: User) -> None:
    if not actor.can("lead.manage"):
        raise PermissionRefusedError()


def _clean(data: dict) -> dict:
    values = {k: v for k, v in data.items() if k in CAMPAIGN_FIELDS}
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            _refuse(_("Enter the campaign's name."), "required")
        if len(name) > 100:
            _refuse(_("A campaign name has at most 100 characters."), "too_long")
        values["name"] = name
    if "cost" in values:
        try:
            cost = Decimal(str(values["cost"] if values["cost"] not in (None, "") else 0))
        except InvalidOperation:
            cost = Decimal(-1)
        if not cost.is_finite() or cost < 0 or cost > MAX_COST:
            _refuse(_("Enter the cost as an amount of 0 or more."), "cost")
        values["cost"] = cost.quantize(Decimal("0.01"))
    for key in ("starts_on", "ends_on"):
        value = values.get(key)
        if value is not None and not isinstance(value, datetime.date):
            _refuse(_("Enter a valid date."), "date")
    if "remark" in values:
        values["remark"] = (values["remark"] or "").strip()[:500]
    return values


@transaction.atomic
def campaign_save(*, actor: User, data: dict, campaign: Campaign | None = None) -> Campaign:
    """Create or change a campaign. The name is unique in the tenant; the end date is not
    before the start date."""
    _require_manager(actor)
    require_same_tenant(actor, campaign)
    values = _clean(data)
    creating = campaign is None
    if creating and not values.get("name"):
        _refuse(_("Enter the campaign's name."), "required")
    name = values.get("name", campaign.name if campaign else "")
    clash = Campaign.objects.filter(tenant_id=actor.tenant_id, name=name)
    if campaign is not None:
        clash = clash.exclude(pk=campaign.pk)
    taken = _("A campaign named %(name)s exists already.") % {"name": name}
    if clash.exists():
        _refuse(taken, "duplicate")
    starts = values.get("starts_on", campaign.starts_on if campaign else None)
    ends = values.get("ends_on", campaign.ends_on if campaign else None)
    if starts and ends and ends < starts:
        _refuse(_("The campaign cannot end before it starts."), "dates")
    before = activity.snapshot(campaign, CAMPAIGN_FIELDS) if campaign else {}
    if creating:
        campaign = Campaign(tenant_id=actor.tenant_id)
    for key, value in values.items():
        setattr(campaign, key, value)
    with refused_if_taken(taken):
        campaign.save()
    activity.activity_record(
        actor=actor,
        target=campaign,
        action=actions.CAMPAIGN_SAVED,
        changes=activity.diff(before, activity.snapshot(campaign, CAMPAIGN_FIELDS)),
    )
    return campaign


@transaction.atomic
def campaign_delete(*, actor: User, campaign: Campaign) -> None:
    """Delete a campaign no lead and no assignment rule names (deactivate it otherwise)."""
    _require_manager(actor)
    require_same_tenant(actor, campaign)
    # Lock it, so that no lead is given the campaign between the check and the delete.
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    count = Lead.objects.filter(tenant_id=actor.tenant_id, campaign=campaign).count()
    if count:
        _refuse(
            ngettext(
                "%(count)d lead comes from %(name)s; it cannot be deleted, deactivate it instead.",
                "%(count)d leads come from %(name)s; it cannot be deleted, deactivate it instead.",
                count,
            )
            % {"count": count, "name": campaign.name},
            "in_use",
        )
    rules = list(
        AssignmentRule.objects.filter(tenant_id=actor.tenant_id, campaign=campaign).values_list(
            "name", flat=True
        )
    )
    if rules:
        _refuse(
            _(
                "The assignment rule %(rules)s names %(name)s; change the rule before "
                "deleting the campaign."
            )
            % {"rules": "、".join(rules), "name": campaign.name},
            "in_use",
        )
    activity.activity_record(actor=actor, target=campaign, action=actions.CAMPAIGN_DELETED)
    campaign.delete()


def campaign_list(*, actor: User) -> list[Campaign]:
    """The tenant's campaigns, each with ``lead_count`` (every lead of the tenant that
    names it). PERF: one query."""
    return list(
        Campaign.objects.filter(tenant_id=actor.tenant_id)
        .annotate(lead_count=Count("leads"))
        .order_by("-is_active", "-starts_on", "-id")
    )
