"""转为客户: converting leads into customers (issue 6, DESIGN §6).

A lead becomes a new customer with the lead's person as its first contact, or is merged into
an existing customer the user chose (the company name matched). Either way the lead's
follow-ups and files move to the customer (they keep their lead, so the lead still shows its
history), the customer and the lead point at each other, the lead is marked converted (and
read-only from then on: CORE's services refuse changes with code "converted") and a LeadEvent
of kind CONVERTED is written.

Decisions (documented here, tested in tests/leads/test_conversion*.py):

* A new customer gets an ownership event of kind CONVERTED (线索转换) instead of CREATED, so
  the increment report counts it as won from a lead. A merge changes no owner and records no
  ownership event (the customer is not new: counting it again would double it in that
  report); the lead's LeadEvent and both activity logs record the merge.
* The new customer belongs to the lead's owner (not to the actor): a manager converting a
  rep's lead gives the rep the customer, by the lead.convert right (no customer.transfer
  needed). A lead without an owner (pooled, or never assigned) is refused: claim it first.
* Files: a customer holds at most 10 (customers.services.MAX_ATTACHMENTS_PER_CUSTOMER).
  When the lead's files would not fit, the whole conversion is refused with how many fit;
  nothing is half-written (no file is dropped or left behind silently).
* Follow-up times: the customer's last follow-up is the latest of its own and the lead's;
  its next follow-up the earliest planned one of the two.
* Batch conversion: each lead is merged into the one customer the actor sees whose
  normalised name equals the lead's company (the person's name when there is no company),
  when exactly one such customer exists (customers created by earlier leads of the same
  batch count), else a new customer is created. All or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import User
from crm.services import notification_send, require_same_tenant
from crm.visibility import visible_to
from customers import hooks as customer_hooks
from customers import owned
from customers import policies as customer_policies
from customers.models import (
    Attachment,
    Contact,
    Customer,
    FollowUp,
    OwnershipEvent,
    normalize_name,
)
from customers.services import (
    MAX_ATTACHMENTS_PER_CUSTOMER,
    customer_create,
)
from leads import activity_actions as actions
from leads import policies
from leads.models import Lead, LeadEvent

# A batch is the ticked rows of a list page; more than this is not a selection.
MAX_BATCH = 200


def _refuse(message: str, code: str) -> None:
    raise ServiceError(message, code=code)


def customer_name_for(lead: Lead) -> str:
    """The name a lead's customer gets: its company, or the person when there is none."""
    return (lead.company or "").strip() or lead.name


# ---------------------------------------------------------------- checks


def _lock_visible_leads(actor: User, ids: list[int]) -> list[Lead]:
    """The leads, locked, refused as a whole when any is missing, in another tenant or
    invisible to the actor: a refusal (``not_visible``) that names none of them, as every
    batch action answers; a URL naming one invisible lead is a 404 before this."""
    found = list(
        visible_to(actor, Lead.objects.filter(pk__in=ids))
        .select_for_update(of=("self",))
        .select_related("owner")
        .order_by("pk")
    )
    if len(found) != len(set(ids)):
        missing = len(set(ids)) - len(found)
        raise ServiceError(
            ngettext(
                "%(count)d selected lead does not exist or is not visible to you; "
                "nothing was converted.",
                "%(count)d selected leads do not exist or are not visible to you; "
                "nothing was converted.",
                missing,
            )
            % {"count": missing},
            code="not_visible",
        )
    return found


def conversion_refusal(actor: User, lead: Lead) -> ServiceError | None:
    """Why ``actor`` may not convert this (visible) lead now, or None. Used by the service
    (on the locked row) and by the pages (to explain instead of showing a form)."""
    if lead.status == Lead.Status.CONVERTED:
        return ServiceError(_("%(lead)s is already converted.") % {"lead": lead}, code="converted")
    if lead.status == Lead.Status.CLOSED:
        return ServiceError(
            _("%(lead)s is closed; reopen it before converting it.") % {"lead": lead},
            code="closed",
        )
    if lead.pooled_at is not None or lead.owner_id is None:
        return ServiceError(
            _("%(lead)s lies in the lead pool or has no owner; claim or assign it first.")
            % {"lead": lead},
            code="pooled",
        )
    if not policies.may_edit(actor, lead):
        return PermissionRefusedError(
            _("You may not change %(lead)s, so you may not convert it.") % {"lead": lead},
            code="not_editable",
        )
    return None


def _lock_merge_target(actor: User, customer: Customer) -> Customer:
    """The customer to merge into: same tenant, alive, visible and editable by the actor."""
    require_same_tenant(actor, customer)
    target = (
        visible_to(actor, Customer.objects.alive().filter(pk=customer.pk))
        .select_for_update(of=("self",))
        .first()
    )
    if target is None:
        # A choice of the form, refused on it: the lead's page exists.
        raise ServiceError(
            _("The customer to merge into does not exist or is not visible to you."),
            code="customer_not_visible",
        )
    if not customer_policies.may_edit(actor, target):
        raise PermissionRefusedError(
            _(
                "You may not change %(customer)s (locked or read-only for you); merge into "
                "another customer or create a new one."
            )
            % {"customer": target.name},
            code="customer_not_editable",
        )
    return target


def _check_room_for_files(lead: Lead, customer: Customer | None) -> int:
    """How many files move; refused when they would not fit on the customer."""
    moving = Attachment.objects.filter(owned.on(lead), customer__isnull=True).count()
    present = Attachment.objects.filter(customer=customer).count() if customer else 0
    if moving and present + moving > MAX_ATTACHMENTS_PER_CUSTOMER:
        free = max(0, MAX_ATTACHMENTS_PER_CUSTOMER - present)
        _refuse(
            _(
                "%(customer)s already has %(present)d files and %(lead)s has %(moving)d; a "
                "customer holds at most %(max)d, so only %(free)d can move. Delete files of "
                "the customer or of the lead first; nothing was converted."
            )
            % {
                "customer": customer.name if customer else "",
                "present": present,
                "lead": lead,
                "moving": moving,
                "max": MAX_ATTACHMENTS_PER_CUSTOMER,
                "free": free,
            },
            "too_many_files",
        )
    return moving


# ---------------------------------------------------------------- conversion


def _contact_from_lead(actor: User, lead: Lead, customer: Customer) -> Contact | None:
    """The lead's person as a contact of the customer, unless a contact with the same
    mobile is already there (merging a second lead of the same person)."""
    if lead.mobile and Contact.objects.filter(customer=customer, mobile=lead.mobile).exists():
        return None
    return Contact.objects.create(
        tenant_id=customer.tenant_id,
        customer=customer,
        name=lead.name[:50],
        mobile=lead.mobile,
        phone=lead.phone,
        email=lead.email,
        title=lead.title,
        created_by=actor,
    )


def _new_customer(actor: User, lead: Lead, data: dict | None) -> Customer:
    values = {
        "name": customer_name_for(lead),
        "source": lead.source,
        "province": lead.province,
        "city": lead.city,
        "district": lead.district,
        "address": lead.address,
        "remark": lead.remark,
    }
    values.update(data or {})
    return customer_create(
        actor=actor,
        data=values,
        owner=lead.owner,
        # SECURITY: conversion is deliberate (the page showed the matches and the user
        # chose to create); the owner is the lead's, by the lead.convert right.
        confirm_duplicates=True,
        check_owner_right=False,
        event_kind=OwnershipEvent.Kind.CONVERTED,
    )


def _move_history(lead: Lead, customer: Customer) -> None:
    """The lead's follow-ups and files now also belong to the customer (they keep the lead);
    the customer's follow-up times take the lead's into account."""
    FollowUp.objects.filter(owned.on(lead), customer__isnull=True).update(customer=customer)
    Attachment.objects.filter(owned.on(lead), customer__isnull=True).update(customer=customer)
    last = max((d for d in (customer.last_followup_at, lead.last_followup_at) if d), default=None)
    planned = min(
        (d for d in (customer.next_followup_at, lead.next_followup_at) if d), default=None
    )
    update = {"updated_at": timezone.now()}
    if last != customer.last_followup_at:
        update["last_followup_at"] = last
    if planned != customer.next_followup_at:
        update["next_followup_at"] = planned
    Customer.objects.filter(pk=customer.pk).update(**update)
    for key, value in update.items():
        setattr(customer, key, value)


def _convert_locked(
    *, actor: User, lead: Lead, customer: Customer | None, contact: bool, data: dict | None
) -> Customer:
    """Convert one locked, checked lead (lead_convert and the batch share this)."""
    merged = customer is not None
    _check_room_for_files(lead, customer)
    if customer is None:
        customer = _new_customer(actor, lead, data)
    if contact:
        _contact_from_lead(actor, lead, customer)
    _move_history(lead, customer)
    now = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(
        status=Lead.Status.CONVERTED,
        customer=customer,
        converted_at=now,
        converted_by=actor,
        updated_by=actor,
        updated_at=now,
    )
    lead.status, lead.customer, lead.converted_at, lead.converted_by = (
        Lead.Status.CONVERTED,
        customer,
        now,
        actor,
    )
    LeadEvent.objects.create(
        tenant_id=lead.tenant_id,
        lead=lead,
        kind=LeadEvent.Kind.CONVERTED,
        from_user_id=lead.owner_id,
        to_user_id=lead.owner_id,
        actor=actor,
        note=customer.name[:500],
        created_at=now,
    )
    activity.activity_record(
        actor=actor,
        target=lead,
        action=actions.LEAD_CONVERTED,
        changes={"customer": ["", customer.name]},
        note=_("merged into an existing customer") if merged else _("new customer"),
    )
    activity.activity_record(
        actor=actor,
        target=customer,
        action=actions.CUSTOMER_FROM_LEAD if not merged else actions.CUSTOMER_LEAD_MERGED,
        changes={"lead": ["", str(lead)]},
    )
    if lead.owner_id != actor.pk and lead.owner is not None:
        notification_send(
            tenant_id=lead.tenant_id,
            recipients=[lead.owner],
            title=_("%(actor)s converted your lead %(lead)s into the customer %(customer)s")
            % {"actor": actor, "lead": lead, "customer": customer.name},
            link=f"/customers/{customer.pk}/",
        )
    return customer


@transaction.atomic
def lead_convert(
    *,
    actor: User,
    lead: Lead,
    customer: Customer | None = None,
    contact: bool = True,
    data: dict | None = None,
    opportunity: dict | None = None,
) -> Customer:
    """Convert ``lead`` into a new customer, or merge it into ``customer`` (chosen by the
    user among the matches). ``contact``: add the lead's person as a contact. ``data``:
    fields of the new customer that replace those taken from the lead (e.g. its name).

    Needs lead.convert and the right to change the lead; refused (codes) for another
    tenant's lead ("not_found") or customer, an invisible lead ("not_visible") or merge
    target ("customer_not_visible"), one the actor may not change ("not_editable",
    "customer_not_editable"), a closed ("closed"), converted ("converted") or pooled /
    ownerless ("pooled") lead, or files that would not fit ("too_many_files").

    ``opportunity`` (同时创建商机): the fields of an opportunity created on the customer in the
    same transaction (``name``, ``amount``, ``expected_close_date``, ``stage``) through
    opportunities.services.opportunity_create, owned by the lead's owner; the lead keeps it
    (``converted_opportunity``). Its refusals (no opportunity.create right…) refuse the whole
    conversion."""
    if not actor.can("lead.convert"):
        raise PermissionRefusedError()
    require_same_tenant(actor, lead)
    [locked] = _lock_visible_leads(actor, [lead.pk])
    if (refusal := conversion_refusal(actor, locked)) is not None:
        raise refusal
    target = _lock_merge_target(actor, customer) if customer is not None else None
    result = _convert_locked(actor=actor, lead=locked, customer=target, contact=contact, data=data)
    if opportunity is not None:
        locked.converted_opportunity = _opportunity_from_lead(actor, locked, result, opportunity)
    for field in ("status", "customer", "converted_at", "converted_by", "converted_opportunity"):
        setattr(lead, field, getattr(locked, field))
    return result


def _opportunity_from_lead(actor: User, lead: Lead, customer: Customer, fields: dict):
    """The opportunity 同时创建商机 creates on the converted lead's customer (the lead's owner
    owns it, as they own the customer), linked from the lead."""
    from opportunities.services.opportunities import opportunity_create

    data = {
        "name": fields["name"],
        "expected_close_date": fields["expected_close_date"],
        "amount": fields.get("amount"),
        "owner": lead.owner,
    }
    if fields.get("stage") is not None:
        data["stage"] = fields["stage"]
    created = opportunity_create(actor=actor, customer=customer, data=data)
    # The opportunity's own log says it was created (opportunity.created); the lead's page
    # links it.
    Lead.objects.filter(pk=lead.pk).update(converted_opportunity=created)
    return created


def batch_merge_target(actor: User, lead: Lead) -> Customer | None:
    """The customer a batch merges ``lead`` into: the only alive customer the actor sees
    whose normalised name equals the lead's; None when there is none or more than one."""
    name = normalize_name(customer_name_for(lead))
    if not name:
        return None
    matches = list(
        visible_to(actor, Customer.objects.alive().filter(name_normalized=name)).order_by("pk")[:2]
    )
    return matches[0] if len(matches) == 1 else None


@transaction.atomic
def lead_convert_batch(*, actor: User, leads: Sequence[Lead | int]) -> list[Customer]:
    """转为客户 for selected leads, all or nothing: each is merged into the single visible
    customer with the same normalised name (batch_merge_target), else becomes a new
    customer. Refused as a whole when any lead is invisible, closed, converted, pooled or
    not the actor's to change, or when a single match may not be changed by the actor."""
    if not actor.can("lead.convert"):
        raise PermissionRefusedError()
    ids = sorted({lead.pk if isinstance(lead, Lead) else int(lead) for lead in leads})
    if not ids:
        _refuse(_("Select at least one lead."), "empty")
    if len(ids) > MAX_BATCH:
        _refuse(_("Convert at most %(count)d leads at a time.") % {"count": MAX_BATCH}, "too_many")
    found = _lock_visible_leads(actor, ids)
    refusals = [r for lead in found if (r := conversion_refusal(actor, lead)) is not None]
    if refusals:
        codes = {r.code for r in refusals}
        code = refusals[0].code if len(codes) == 1 else "refused"
        message = " ".join(str(r.message) for r in refusals[:10])
        raise ServiceError(
            _("Nothing was converted: %(reasons)s") % {"reasons": message}, code=code
        )
    customers = []
    for lead in found:
        target = batch_merge_target(actor, lead)
        if target is not None:
            target = _lock_merge_target(actor, target)
        customers.append(
            _convert_locked(actor=actor, lead=lead, customer=target, contact=True, data=None)
        )
    return customers


# ---------------------------------------------------------------- reads for the pages


def lead_get_for_conversion(*, actor: User, pk: int) -> Lead:
    """One lead the actor sees (404 for missing, another tenant's and invisible ones)."""
    try:
        return (
            visible_to(actor, Lead.objects.all())
            .select_related("owner", "source", "campaign", "customer", "converted_by")
            .get(pk=pk)
        )
    except Lead.DoesNotExist as exc:
        raise Http404 from exc


def conversion_matches(*, actor: User, lead: Lead) -> list[dict]:
    """Customers a lead may belong to (the convert page): same normalised name, or a contact
    with the lead's mobile or phone; across the tenant, pool included. As on the 查重 page,
    the ones the actor may not see show only their name and owner; ``editable`` marks
    those the lead may be merged into."""
    from customers.selectors import duplicate_rows
    from customers.services import duplicates_for

    matches = list(
        duplicates_for(
            tenant_id=actor.tenant_id,
            name=customer_name_for(lead),
            phones=[p for p in (lead.mobile, lead.phone) if p],
        )[:20]
    )
    rows = duplicate_rows(actor=actor, customers=matches)
    for row in rows:
        row["editable"] = row["visible"] and customer_policies.may_edit(actor, row["customer"])
        row["same_name"] = row["customer"].name_normalized == normalize_name(
            customer_name_for(lead)
        )
    return rows


def source_leads(*, actor: User, customer: Customer):
    """The leads converted into ``customer`` that ``actor`` may see (客户画像 来源线索)."""
    return (
        visible_to(actor, Lead.objects.filter(customer=customer))
        .select_related("owner", "converted_by", "campaign", "source")
        .order_by("-converted_at", "-id")
    )


# ---------------------------------------------------------------- customer hooks


@customer_hooks.register_merge_related
def _merge_leads(*, actor, keep, merged_ids) -> None:
    """Leads converted into merged-away customers point at the kept one."""
    Lead.objects.filter(customer_id__in=merged_ids).update(customer=keep)


def _source_leads_tab(request, customer) -> dict:
    return {"source_leads": list(source_leads(actor=request.user, customer=customer)[:100])}


customer_hooks.register_detail_tab(
    "leads", gettext_lazy("Source leads"), "leads/customer_source_leads.html", _source_leads_tab
)
