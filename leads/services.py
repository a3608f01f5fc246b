"""Every state change of leads (STYLE: one function each, keyword-only, actor first,
transactional, writes the activity log). Pool actions on leads (claim, assign, return, move,
recycle) live in ``pools.services`` and reach leads through ``leads.pooling``; automatic
assignment in ``leads.assignment``; conversion in ``leads.conversion``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import Option, OptionKind, User
from crm.phones import normalize_mobile, normalize_phone
from crm.services import notification_send, require_same_tenant
from crm.visibility import visible_to
from customers import owned
from customers.models import Customer, FollowUp, PoolReason, normalize_name
from customers.services import ownership_columns, ownership_columns_set
from leads import activity_actions as actions
from leads import policies
from leads.models import Lead, LeadEvent
from leads.selectors import lead_get_for_actor
from pools import services as pool_services
from pools.subjects import subject_for

# The fields of a lead that the form and lead_update may set (conversion, the pool and the
# ownership service set the others).
LEAD_FIELDS = [
    "name",
    "company",
    "mobile",
    "phone",
    "email",
    "title",
    "source",
    "campaign",
    "province",
    "city",
    "district",
    "address",
    "remark",
    "next_followup_at",
]
# Statuses a user sets by hand (closing takes a reason, converting is leads.conversion's).
SETTABLE_STATUSES = (Lead.Status.NEW, Lead.Status.CONTACTED)


def _refuse(message: str, code: str) -> None:
    raise ServiceError(message, code=code)


def _record(actor, target, action, changes=None, note=""):
    return activity.activity_record(
        actor=actor, target=target, action=action, changes=changes, note=note
    )


class DuplicateLeadError(ServiceError):
    """Leads or customers with the same mobile/phone or the same company already exist."""

    def __init__(self, leads: list[Lead], customers: list[Customer]):
        # SECURITY (issue 15): the message names no match: the form lists them as the actor
        # may see them (leads.selectors.duplicate_rows: "exists, owned by …" otherwise).
        super().__init__(
            _("Possible duplicates already exist (listed above). Check them, or save anyway."),
            code="duplicate",
        )
        self.leads = leads
        self.customers = customers


# ---------------------------------------------------------------- rights and batches


# The rules of one lead live in leads.policies; this name stays for its callers.
lead_can_edit = policies.may_edit


def _visible_leads(actor: User, leads: Sequence[Lead | int]) -> list[Lead]:
    """The leads of a batch, locked, refused as a whole when any is missing or invisible
    (pooled leads are the pool's: not part of these batches)."""
    ids = [lead.pk if isinstance(lead, Lead) else int(lead) for lead in leads]
    if not ids:
        _refuse(_("Select at least one lead."), "empty")
    found = list(
        visible_to(actor, Lead.objects.outside_pool().filter(pk__in=ids), include_pool=False)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if len(found) != len(set(ids)):
        missing = len(set(ids)) - len(found)
        _refuse(
            ngettext(
                "%(count)d selected lead does not exist or is not visible to you; "
                "nothing was changed.",
                "%(count)d selected leads do not exist or are not visible to you; "
                "nothing was changed.",
                missing,
            )
            % {"count": missing},
            "not_visible",
        )
    return found


def _editable_leads(actor: User, leads: Sequence[Lead | int]) -> list[Lead]:
    """_visible_leads, refused as a whole when any is converted or not the actor's to change."""
    found = _visible_leads(actor, leads)
    converted = [str(lead) for lead in found if lead.is_converted]
    if converted:
        _refuse(
            _("Converted leads are read-only: %(names)s. Nothing was changed.")
            % {"names": "、".join(converted[:10])},
            "converted",
        )
    forbidden = [str(lead) for lead in found if not policies.may_edit(actor, lead)]
    if forbidden:
        _refuse(
            _("You may not change these leads: %(names)s. Nothing was changed.")
            % {"names": "、".join(forbidden[:10])},
            "not_editable",
        )
    return found


def lead_for_work(*, actor: User, lead: Lead | int, what: str = "edit") -> Lead:
    """One lead, locked, that the actor may work on (follow-ups and files go through
    customers.services with this): refused when invisible, converted or not theirs."""
    [found] = _editable_leads(actor, [lead])
    return found


# ---------------------------------------------------------------- field checks


def _clean(actor: User, data: dict) -> dict:
    """The lead fields of ``data``, checked: names trimmed, numbers normalised, options of
    the right list and of the actor's tenant."""
    values = {k: v for k, v in data.items() if k in LEAD_FIELDS}
    for key in ("name", "company", "email", "title", "province", "city", "district", "address"):
        if key in values:
            values[key] = (values[key] or "").strip()
    if "name" in values and not values["name"]:
        _refuse(_("Enter the contact person's name."), "required")
    if values.get("mobile"):
        try:
            values["mobile"] = normalize_mobile(values["mobile"])
        except ValidationError as exc:
            raise ServiceError(exc.messages[0], code="invalid_mobile") from exc
    if values.get("phone"):
        try:
            values["phone"] = normalize_phone(values["phone"])
        except ValidationError as exc:
            raise ServiceError(exc.messages[0], code="invalid_phone") from exc
    source = values.get("source")
    if source is not None:
        require_same_tenant(actor, source)
        if source.kind != OptionKind.CUSTOMER_SOURCE:
            _refuse(_("Choose a valid option."), "option")
    campaign = values.get("campaign")
    if campaign is not None:
        require_same_tenant(actor, campaign)
    return values


def lead_duplicates(
    *,
    tenant_id: int,
    company: str = "",
    phones: Iterable[str] = (),
    exclude_pk: int | None = None,
) -> tuple[list[Lead], list[Customer]]:
    """(leads, customers) of the tenant that look like the same person or company: a lead
    with the same mobile or phone or the same normalised company; a customer with the same
    normalised name or a contact with that number (customers.services.duplicates_for)."""
    from customers.services import duplicates_for

    numbers = {p for p in phones if p}
    normalized = normalize_name(company)
    condition = Q()
    if numbers:
        condition |= Q(mobile__in=numbers) | Q(phone__in=numbers)
    if normalized:
        condition |= Q(company_normalized=normalized)
    leads: list[Lead] = []
    if condition:
        qs = Lead.objects.filter(condition, tenant_id=tenant_id)
        if exclude_pk:
            qs = qs.exclude(pk=exclude_pk)
        leads = list(qs.select_related("owner").order_by("pk")[:10])
    customers = list(duplicates_for(tenant_id=tenant_id, name=company, phones=numbers)[:10])
    return leads, customers


def _check_duplicates(actor: User, values: dict, exclude_pk: int | None = None) -> None:
    leads, customers = lead_duplicates(
        tenant_id=actor.tenant_id,
        company=values.get("company", ""),
        phones=[values.get("mobile", ""), values.get("phone", "")],
        exclude_pk=exclude_pk,
    )
    if leads or customers:
        raise DuplicateLeadError(leads, customers)


def _default_lead_pool(tenant_id: int):
    """The tenant's default lead pool (created on first use by the pools app)."""
    from pools.services import default_group_for

    return default_group_for(tenant_id, kind="lead")


# ---------------------------------------------------------------- leads


@transaction.atomic
def lead_create(
    *,
    actor: User,
    data: dict,
    owner: User | bool | None = True,
    confirm_duplicates: bool = False,
) -> Lead:
    """A lead owned by ``owner`` (default: the actor; another user takes lead.transfer;
    ``None``: into the tenant's default lead pool, then automatic assignment may hand it to
    someone). Possible duplicates (same mobile/phone or company among leads and customers)
    are refused until confirmed. Writes a CREATED lead event and the activity log."""
    values = _clean(actor, data)
    if not values.get("name"):
        _refuse(_("Enter the contact person's name."), "required")
    owner_user = actor if owner is True else (owner or None)
    require_same_tenant(actor, owner_user)
    if owner_user is not None and owner_user.pk != actor.pk and not actor.can("lead.transfer"):
        # Creating a lead for someone else hands it over: the transfer right.
        raise PermissionRefusedError()
    if owner_user is not None and not owner_user.is_active:
        _refuse(_("A deactivated user cannot receive leads."), "inactive")
    if not confirm_duplicates:
        _check_duplicates(actor, values)
    now = timezone.now()
    group = None
    if owner_user is None:
        group = _default_lead_pool(actor.tenant_id)
        values.update(pool_group=group, pooled_at=now, pool_reason=PoolReason.CREATED)
    lead = Lead.objects.create(
        tenant_id=actor.tenant_id,
        owner=owner_user,
        created_by=actor,
        updated_by=actor,
        owned_since=now if owner_user else None,
        **values,
    )
    LeadEvent.objects.create(
        tenant_id=actor.tenant_id,
        lead=lead,
        kind=LeadEvent.Kind.CREATED,
        to_user=owner_user,
        actor=actor,
        pool_group=group,
        created_at=now,
    )
    _record(actor, lead, actions.LEAD_CREATED)
    if owner_user is None:
        from leads.assignment import auto_assign

        auto_assign(leads=[lead], trigger="create", actor=actor)
        lead.refresh_from_db()
    return lead


@transaction.atomic
def lead_update(*, actor: User, lead: Lead, data: dict, confirm_duplicates: bool = False) -> Lead:
    """Change a lead's fields (its owner, or users whose data scope covers the owner);
    refused for converted leads. A changed number or company is checked for duplicates."""
    require_same_tenant(actor, lead)
    [lead] = _editable_leads(actor, [lead])
    values = _clean(actor, data)
    if "name" in data and not values.get("name"):
        _refuse(_("Enter the contact person's name."), "required")
    if not confirm_duplicates:
        changed = {
            k: values[k]
            for k in ("company", "mobile", "phone")
            if k in values and values[k] and values[k] != getattr(lead, k)
        }
        if "company" in changed and normalize_name(changed["company"]) == lead.company_normalized:
            del changed["company"]
        if changed:
            _check_duplicates(actor, changed, exclude_pk=lead.pk)
    before = activity.snapshot(lead, LEAD_FIELDS)
    for key, value in values.items():
        setattr(lead, key, value)
    lead.updated_by = actor
    lead.save()
    changes = activity.diff(before, activity.snapshot(lead, LEAD_FIELDS))
    if changes:
        _record(actor, lead, actions.LEAD_UPDATED, changes)
    return lead


@transaction.atomic
def lead_transfer(
    *, actor: User, leads: Sequence[Lead | int], to_user: User, note: str = ""
) -> list[Lead]:
    """Hand leads to ``to_user`` (lead.transfer, or the owner handing over their own), all
    or nothing, through lead_ownership_change (kind TRANSFERRED). The holding limits of
    the leads' pools bound the receiver as they bound a claim; the receiver's row is locked
    first, then the leads (the pool's lock order: a racing claim counts what this gave)."""
    require_same_tenant(actor, to_user)
    pool_services.lock_users(actor.tenant_id, [to_user.pk])
    found = _editable_leads(actor, leads)
    if not all(policies.may_transfer(actor, lead) for lead in found):
        raise PermissionRefusedError(
            _("Only their owner or a user with the transfer right hands leads over.")
        )
    if not to_user.is_active:
        _refuse(_("A deactivated user cannot receive leads."), "inactive")
    moving = [lead for lead in found if lead.owner_id != to_user.pk]
    pool_services.holding_check_receive(subject=subject_for("lead"), user=to_user, rows=moving)
    before = {lead.pk: str(lead.owner or "") for lead in moving}
    lead_ownership_change(
        actor=actor, leads=moving, to_user=to_user, kind=LeadEvent.Kind.TRANSFERRED, note=note
    )
    activity.activity_record_many(
        actor=actor,
        targets=moving,
        action=actions.LEAD_TRANSFERRED,
        changes_for=lambda lead: {"owner": [before[lead.pk], str(to_user)]},
        note=note,
    )
    return found


@transaction.atomic
def lead_status_set(*, actor: User, leads: Sequence[Lead | int], status: str) -> list[Lead]:
    """Set 未处理 / 已联系 by hand on open leads (closing and converting have their own
    services; a closed lead is reopened first)."""
    if status not in SETTABLE_STATUSES:
        _refuse(_("Choose new or contacted; close a lead with a reason."), "status")
    found = _editable_leads(actor, leads)
    closed = [str(lead) for lead in found if lead.status == Lead.Status.CLOSED]
    if closed:
        _refuse(
            _("Reopen these closed leads first: %(names)s. Nothing was changed.")
            % {"names": "、".join(closed[:10])},
            "closed",
        )
    changing = [lead for lead in found if lead.status != status]
    labels = dict(Lead.Status.choices)
    before = {lead.pk: str(labels[lead.status]) for lead in changing}
    now = timezone.now()
    Lead.objects.filter(pk__in=[lead.pk for lead in changing]).update(
        status=status, updated_by=actor, updated_at=now
    )
    for lead in changing:
        lead.status = status
    activity.activity_record_many(
        actor=actor,
        targets=changing,
        action=actions.LEAD_STATUS,
        changes_for=lambda lead: {"status": [before[lead.pk], str(labels[status])]},
    )
    return found


@transaction.atomic
def lead_close(
    *, actor: User, leads: Sequence[Lead | int], reason: Option | None, note: str = ""
) -> list[Lead]:
    """关闭: leads that will not be pursued, with a reason of the tenant's close-reason list
    and an optional note."""
    if reason is None:
        _refuse(_("Choose why the leads are closed."), "reason")
    require_same_tenant(actor, reason)
    if reason.kind != OptionKind.LEAD_CLOSE_REASON or not reason.is_active:
        _refuse(_("Choose a valid close reason."), "reason")
    found = _editable_leads(actor, leads)
    now = timezone.now()
    note = (note or "").strip()[:500]
    Lead.objects.filter(pk__in=[lead.pk for lead in found]).update(
        status=Lead.Status.CLOSED,
        close_reason=reason,
        close_note=note,
        closed_at=now,
        updated_by=actor,
        updated_at=now,
    )
    for lead in found:
        lead.status, lead.close_reason, lead.close_note, lead.closed_at = (
            Lead.Status.CLOSED,
            reason,
            note,
            now,
        )
    activity.activity_record_many(
        actor=actor,
        targets=found,
        action=actions.LEAD_CLOSED,
        changes_for=lambda lead: {"close_reason": ["", reason.label]},
        note=note,
    )
    return found


@transaction.atomic
def lead_reopen(*, actor: User, leads: Sequence[Lead | int]) -> list[Lead]:
    """Reopen closed leads: contacted when they were ever followed up, else new."""
    found = _editable_leads(actor, leads)
    open_ = [str(lead) for lead in found if lead.status != Lead.Status.CLOSED]
    if open_:
        _refuse(
            _("These leads are not closed: %(names)s. Nothing was changed.")
            % {"names": "、".join(open_[:10])},
            "not_closed",
        )
    now = timezone.now()
    for lead in found:
        lead.status = Lead.Status.CONTACTED if lead.last_followup_at else Lead.Status.NEW
        Lead.objects.filter(pk=lead.pk).update(
            status=lead.status,
            close_reason=None,
            close_note="",
            closed_at=None,
            updated_by=actor,
            updated_at=now,
        )
        lead.close_reason, lead.close_note, lead.closed_at = None, "", None
    activity.activity_record_many(actor=actor, targets=found, action=actions.LEAD_REOPENED)
    return found


# ---------------------------------------------------------------- ownership


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
    update = ownership_columns(actor=actor, to_user=to_user, fields=fields, now=now)
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
        ownership_columns_set(leads, update)
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


def _lead_followed_up(lead: Lead) -> dict:
    """A new lead that is followed up becomes contacted."""
    return {"status": Lead.Status.CONTACTED} if lead.status == Lead.Status.NEW else {}


# Leads are owned records: their follow-ups and files go through customers.services
# (customers.owned); a converted lead's rows are its customer's too.
owned.register(
    owned.OwnedKind(
        key="lead",
        model=Lead,
        get_for_actor=lambda *, actor, pk: lead_get_for_actor(actor=actor, pk=pk),
        for_work=lambda *, actor, row, what: lead_for_work(actor=actor, lead=row, what=what),
        detail_url=lambda pk: reverse("leads:lead-detail", args=[pk]),
        customer_id=lambda lead: lead.customer_id,
        files_full=gettext_lazy("A lead has at most 10 files; delete one first."),
        followup_elsewhere=gettext_lazy("The follow-up does not belong to this lead."),
        followed_up=_lead_followed_up,
        counts_as=FollowUp.LEAD,
    )
)
