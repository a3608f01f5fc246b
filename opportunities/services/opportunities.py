"""Every state change of opportunities (商机), their lines, contacts, team and stages, and of
the tenant's stage settings (wave2.md §3).

One function each, keyword-only, acting user first, transactional: the row is locked
(``select_for_update``), its state checked again under the lock, the change written with its
activity-log entry, and a refusal raised as a ``ServiceError`` with a translated message and
a stable code. Every stage change (create, move, win, lose, reopen) writes one
``OpportunityStageChange`` row; moving to the stage it is already in changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm import activity, participants
from crm.exceptions import NotVisibleError, PermissionRefusedError, ServiceError, refused_if_taken
from crm.models import Option, OptionKind, User
from crm.services import notification_send, require_same_tenant
from crm.visibility import owner_scope, visible_to
from customers import owned
from customers.models import Attachment, Contact, Customer, FollowUp
from opportunities import activity_actions as actions
from opportunities import hooks, policies
from opportunities.defaults import settings_for
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityLine,
    OpportunitySettings,
    OpportunityStage,
    OpportunityStageChange,
    Product,
    StageKind,
)
from opportunities.selectors import opportunity_get_for_actor

CENT = Decimal("0.01")

# The fields opportunity_create / opportunity_update take from ``data``.
OPPORTUNITY_FIELDS = [
    "name",
    "budget",
    "amount",
    "expected_close_date",
    "probability",
    "commit",
    "next_followup_at",
    "remark",
    "primary_contact",
]
# What stays editable once the opportunity is won or lost (wave2.md §3.4; files, follow-ups
# and the team have their own services, open to the same people).
CLOSED_EDITABLE = {"remark"}
STAGE_FIELDS = ["name", "probability", "allow_rollback_open", "allow_reopen", "is_active"]


def _refuse(message, code: str) -> None:
    raise ServiceError(message, code=code)


def _record(actor, target, action, changes=None, note=""):
    return activity.activity_record(
        actor=actor, target=target, action=action, changes=changes, note=note
    )


def _money(value, *, field: str, allow_none: bool = False) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        _refuse(_("Enter an amount."), "required")
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        _refuse(_("Enter a valid amount."), "invalid")
    if amount < 0:
        _refuse(_("An amount cannot be negative."), "negative")
    if amount >= Decimal("1e12"):
        _refuse(_("The amount is too large."), "invalid")
    return amount


def opportunity_url(pk: int) -> str:
    """The opportunity's page."""
    return reverse("opportunities:opportunity-detail", args=[pk])


# ---------------------------------------------------------------- locking


def _lock(actor: User, opportunity: Opportunity | int) -> Opportunity:
    """The opportunity, locked, when ``actor`` may see it; else not found."""
    pk = opportunity.pk if isinstance(opportunity, Opportunity) else int(opportunity)
    # No join in the locking query: when a concurrent transaction changed the row (its
    # stage), PostgreSQL re-checks the locked row against the joined rows it read before
    # and would drop it. The stage is read after the lock.
    found = (
        visible_to(actor, Opportunity.objects.filter(pk=pk)).select_for_update(of=("self",)).first()
    )
    if found is None:
        raise NotVisibleError(_("The record does not exist."))
    return found


def _lock_many(actor: User, opportunities: Sequence[Opportunity | int]) -> list[Opportunity]:
    ids = [o.pk if isinstance(o, Opportunity) else int(o) for o in opportunities]
    if not ids:
        _refuse(_("Select at least one opportunity."), "empty")
    found = list(
        visible_to(actor, Opportunity.objects.filter(pk__in=ids))
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if len(found) != len(set(ids)):
        missing = len(set(ids)) - len(found)
        _refuse(
            ngettext(
                "%(count)d selected opportunity does not exist or is not visible to you; "
                "nothing was changed.",
                "%(count)d selected opportunities do not exist or are not visible to you; "
                "nothing was changed.",
                missing,
            )
            % {"count": missing},
            "not_visible",
        )
    return found


def _require_editable(actor: User, opportunity: Opportunity) -> None:
    if not opportunity.is_open:
        _refuse(
            _(
                "The opportunity is won or lost: only its remark, files, follow-ups and team "
                "may change. Reopen it first."
            ),
            "closed",
        )
    if not policies.may_edit(actor, opportunity):
        raise PermissionRefusedError(_("You may not change this opportunity."))


def opportunity_for_work(*, actor: User, row: Opportunity | int, what: str) -> Opportunity:
    """One opportunity, locked, that the actor may add follow-ups or files to (``what``:
    "followup", "file"; "edit" for removing a file): also after the end (customers.owned)."""
    opportunity = _lock(actor, row)
    if what == "edit":
        allowed = policies.may_edit_remark(actor, opportunity)
    else:
        allowed = policies.may_follow_up(actor, opportunity)
    if not allowed:
        if what == "followup":
            raise PermissionRefusedError(_("You may not add follow-ups to this opportunity."))
        raise PermissionRefusedError(_("You may not change the files of this opportunity."))
    return opportunity


# ---------------------------------------------------------------- checks


def _stage_of_tenant(actor: User, stage: OpportunityStage | int) -> OpportunityStage:
    if not isinstance(stage, OpportunityStage):
        stage = OpportunityStage.objects.filter(tenant_id=actor.tenant_id, pk=stage).first()
        if stage is None:
            _refuse(_("Choose a valid stage."), "stage")
    require_same_tenant(actor, stage)
    return stage


def _first_open_stage(tenant_id: int) -> OpportunityStage:
    stage = (
        OpportunityStage.objects.filter(tenant_id=tenant_id, kind=StageKind.OPEN, is_active=True)
        .order_by("sort", "id")
        .first()
    )
    if stage is None:
        _refuse(_("The company has no active sales stage; ask an administrator."), "stage")
    return stage


def _end_stage(tenant_id: int, kind: str) -> OpportunityStage:
    stage = OpportunityStage.objects.filter(tenant_id=tenant_id, kind=kind).first()
    if stage is None:
        _refuse(_("The company has no won or lost stage; ask an administrator."), "stage")
    return stage


def _check_contact(opportunity_customer_id: int, contact: Contact | None) -> None:
    if contact is not None and contact.customer_id != opportunity_customer_id:
        _refuse(_("The contact does not belong to the opportunity's customer."), "contact")


def _check_option(actor: User, option: Option | None, kind: str) -> None:
    if option is None:
        return
    require_same_tenant(actor, option)
    if option.kind != kind or not option.is_active:
        _refuse(_("Choose a valid option."), "option")


def _probability(value) -> int:
    try:
        probability = int(value)
    except (TypeError, ValueError):
        _refuse(_("The win probability is a whole number from 0 to 100."), "probability")
    if not 0 <= probability <= 100:
        _refuse(_("The win probability is a whole number from 0 to 100."), "probability")
    return probability


def _clean(actor: User, data: dict, *, customer_id: int, settings: OpportunitySettings) -> dict:
    """The opportunity fields of ``data``, checked and normalised."""
    values = {k: v for k, v in data.items() if k in OPPORTUNITY_FIELDS}
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            _refuse(_("Enter the opportunity's name."), "required")
        if len(values["name"]) > 128:
            _refuse(_("The name is too long (at most 128 characters)."), "invalid")
    if "budget" in values:
        values["budget"] = _money(values["budget"], field="budget", allow_none=True)
    if "amount" in values:
        values["amount"] = _money(values["amount"], field="amount", allow_none=True)
    if "expected_close_date" in values and values["expected_close_date"] is None:
        _refuse(_("Enter the expected close date."), "required")
    if "probability" in values:
        if not settings.probability_override or values["probability"] in (None, ""):
            values.pop("probability")
        else:
            values["probability"] = _probability(values["probability"])
    if "remark" in values:
        values["remark"] = (values["remark"] or "").strip()
    if "commit" in values:
        values["commit"] = bool(values["commit"])
    if "primary_contact" in values:
        require_same_tenant(actor, values["primary_contact"])
        _check_contact(customer_id, values["primary_contact"])
    return values


def _stage_row(actor, opportunity, from_stage_id, note="") -> OpportunityStageChange:
    return OpportunityStageChange.objects.create(
        tenant_id=opportunity.tenant_id,
        opportunity=opportunity,
        from_stage_id=from_stage_id,
        to_stage=opportunity.stage,
        changed_by=actor,
        changed_at=opportunity.stage_entered_at,
        amount=opportunity.amount,
        probability=opportunity.probability,
        note=note[:1000],
    )


# ---------------------------------------------------------------- lines


def _line_rows(
    actor: User, opportunity: Opportunity, lines: Iterable[dict]
) -> list[OpportunityLine]:
    """The new line rows of ``lines`` (not saved), checked; snapshots (name, spec, list
    price) of a kept line stay, new ones come from the product. Totals are computed here,
    never taken from the caller."""
    existing = {line.pk: line for line in opportunity.lines.all()} if opportunity.pk else {}
    on_before = {line.product_id for line in existing.values()}
    rows = []
    lines = list(lines)
    product_ids = [
        d["product"].pk if isinstance(d.get("product"), Product) else d.get("product")
        for d in lines
    ]
    if any(pk in (None, "") for pk in product_ids):
        _refuse(_("Choose a product for every line."), "product")
    products = {
        p.pk: p
        for p in Product.objects.filter(
            tenant_id=opportunity.tenant_id, pk__in=[int(pk) for pk in product_ids]
        )
    }
    for i, (data, pk) in enumerate(zip(lines, product_ids, strict=True)):
        product = products.get(int(pk))
        if product is None:
            _refuse(_("Choose a valid product."), "product")
        kept = existing.get(data.get("id")) if data.get("id") else None
        if kept is not None and kept.product_id != product.pk:
            kept = None
        if (
            kept is None
            and product.status != Product.Status.ON_SALE
            and product.pk not in on_before
        ):
            _refuse(
                _("%(product)s is off sale and cannot be added.") % {"product": product},
                "off_sale",
            )
        try:
            qty = Decimal(str(data.get("qty") if data.get("qty") is not None else "1"))
        except (InvalidOperation, ValueError):
            _refuse(_("Enter a valid quantity."), "qty")
        qty = qty.quantize(CENT, rounding=ROUND_HALF_UP)
        if qty <= 0 or qty >= Decimal("1e10"):
            _refuse(_("The quantity must be more than zero."), "qty")
        list_price = kept.list_price if kept is not None else product.price
        unit_price = data.get("unit_price")
        unit_price = list_price if unit_price in (None, "") else _money(unit_price, field="price")
        subtotal = (qty * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        if subtotal >= Decimal("1e12"):
            _refuse(_("The amount is too large."), "invalid")
        discount = Decimal(0)
        if list_price > 0:
            discount = ((1 - unit_price / list_price) * 100).quantize(CENT, rounding=ROUND_HALF_UP)
            discount = max(min(discount, Decimal("999.99")), Decimal("-999.99"))
        rows.append(
            OpportunityLine(
                tenant_id=opportunity.tenant_id,
                opportunity=opportunity,
                product=product,
                name=kept.name if kept is not None else product.name,
                spec=kept.spec if kept is not None else product.spec,
                qty=qty,
                list_price=list_price,
                unit_price=unit_price,
                discount_pct=discount,
                subtotal=subtotal,
                remark=(data.get("remark") or "").strip()[:200],
                sort=i,
            )
        )
    return rows


def _lines_summary(rows: Iterable[OpportunityLine]) -> str:
    return "；".join(f"{r.name} × {r.qty.normalize():f} @ {r.unit_price}" for r in rows)[:1000]


def _replace_lines(opportunity: Opportunity, rows: list[OpportunityLine]) -> Decimal:
    OpportunityLine.objects.filter(
        tenant_id=opportunity.tenant_id, opportunity=opportunity
    ).delete()
    OpportunityLine.objects.bulk_create(rows)
    return sum((r.subtotal for r in rows), Decimal(0))


# ---------------------------------------------------------------- contacts (internal)


def _set_primary(opportunity: Opportunity, contact: Contact | None) -> None:
    """``contact`` becomes the primary contact (its contact row too, created without a role
    when missing); None clears it."""
    OpportunityContact.objects.filter(
        tenant_id=opportunity.tenant_id, opportunity=opportunity, is_primary=True
    ).exclude(contact=contact).update(is_primary=False)
    if contact is not None:
        row, created = OpportunityContact.objects.get_or_create(
            tenant_id=opportunity.tenant_id,
            opportunity=opportunity,
            contact=contact,
            defaults={"is_primary": True},
        )
        if not created and not row.is_primary:
            row.is_primary = True
            row.save(update_fields=["is_primary"])
    opportunity.primary_contact = contact


# ---------------------------------------------------------------- create / update


@transaction.atomic
def opportunity_create(
    *,
    actor: User,
    customer: Customer,
    data: dict,
    lines: Iterable[dict] = (),
    contacts: Iterable[dict | Contact] = (),
) -> Opportunity:
    """A new opportunity on ``customer`` (which the actor must be allowed to edit), owned
    by the actor (or ``data["owner"]``, a user in the actor's data scope), in the stage
    ``data["stage"]`` (an open one; default the first), with its lines and contacts. The
    amount is ``data["amount"]`` when given (entered by hand), else the lines' total."""
    if not actor.can("opportunity.create"):
        raise PermissionRefusedError()
    require_same_tenant(actor, customer)
    locked = (
        visible_to(actor, Customer.objects.filter(pk=customer.pk))
        .select_for_update(of=("self",))
        .first()
    )
    if locked is None:
        raise NotVisibleError(_("The record does not exist."))
    customer = locked
    if not policies.may_create_for(actor, customer):
        _refuse(
            _("You may only add opportunities to customers you may edit."),
            "customer",
        )
    settings = settings_for(actor.tenant_id)
    values = _clean(actor, data, customer_id=customer.pk, settings=settings)
    if not values.get("name"):
        _refuse(_("Enter the opportunity's name."), "required")
    if not values.get("expected_close_date"):
        _refuse(_("Enter the expected close date."), "required")
    owner = data.get("owner") or actor
    require_same_tenant(actor, owner)
    if owner.pk != actor.pk:
        if not owner.is_active:
            _refuse(_("A deactivated user cannot own an opportunity."), "inactive")
        if not owner_scope(actor).covers(owner.pk):
            _refuse(_("You may only give the opportunity to someone in your data scope."), "owner")
    stage = data.get("stage")
    stage = _first_open_stage(actor.tenant_id) if stage is None else _stage_of_tenant(actor, stage)
    if stage.kind != StageKind.OPEN or not stage.is_active:
        _refuse(_("A new opportunity starts in an active open stage."), "stage")
    primary = values.pop("primary_contact", None)
    amount = values.pop("amount", None)
    now = timezone.now()
    opportunity = Opportunity(
        tenant_id=actor.tenant_id,
        customer=customer,
        owner=owner,
        owner_department_id=owner.department_id,
        created_by=actor,
        updated_by=actor,
        stage=stage,
        status=StageKind.OPEN,
        stage_entered_at=now,
        probability=values.pop("probability", stage.probability),
        amount=amount or Decimal(0),
        amount_manual=amount is not None,
        **values,
    )
    opportunity.save()
    rows = _line_rows(actor, opportunity, lines)
    total = _replace_lines(opportunity, rows)
    if not opportunity.amount_manual and total != opportunity.amount:
        opportunity.amount = total
        opportunity.save(update_fields=["amount"])
    for item in contacts:
        if isinstance(item, Contact):
            item = {"contact": item}
        _contact_add(actor, opportunity, **item)
    if primary is not None:
        _set_primary(opportunity, primary)
        opportunity.save(update_fields=["primary_contact"])
    _stage_row(actor, opportunity, None)
    _record(actor, opportunity, actions.OPPORTUNITY_CREATED, note=str(customer)[:200])
    return opportunity


@transaction.atomic
def opportunity_update(*, actor: User, opportunity: Opportunity, data: dict) -> Opportunity:
    """Change the fields of an open opportunity; a won or lost one only takes its remark.
    ``data["amount"]`` given sets the amount by hand; ``data["amount"] = None`` or
    ``data["amount_manual"] = False`` makes it follow the lines' total again."""
    opportunity = _lock(actor, opportunity)
    settings = settings_for(actor.tenant_id)
    values = _clean(actor, data, customer_id=opportunity.customer_id, settings=settings)
    follow_lines = "amount_manual" in data and not data["amount_manual"]
    if "amount" in values and values["amount"] is None:
        values.pop("amount")
        follow_lines = True
    changing = {k: v for k, v in values.items() if getattr(opportunity, k) != v}
    if follow_lines and opportunity.amount_manual:
        changing["amount_manual"] = False
    elif "amount" in changing:
        changing["amount_manual"] = True
    if not opportunity.is_open:
        if set(changing) - CLOSED_EDITABLE:
            _refuse(
                _(
                    "The opportunity is won or lost: only its remark, files, follow-ups and team "
                    "may change. Reopen it first."
                ),
                "closed",
            )
        if not policies.may_edit_remark(actor, opportunity):
            raise PermissionRefusedError(_("You may not change this opportunity."))
    elif not policies.may_edit(actor, opportunity):
        raise PermissionRefusedError(_("You may not change this opportunity."))
    if not changing:
        return opportunity
    if changing.get("amount_manual") is False:
        changing["amount"] = sum((line.subtotal for line in opportunity.lines.all()), Decimal(0))
    fields = [f for f in OPPORTUNITY_FIELDS if f in changing]
    before = activity.snapshot(opportunity, fields)
    if "primary_contact" in changing:
        _set_primary(opportunity, changing.pop("primary_contact"))
    for key, value in changing.items():
        setattr(opportunity, key, value)
    opportunity.updated_by = actor
    opportunity.save()
    changes = activity.diff(before, activity.snapshot(opportunity, fields))
    if changes:
        _record(actor, opportunity, actions.OPPORTUNITY_UPDATED, changes)
    return opportunity


@transaction.atomic
def opportunity_lines_set(
    *, actor: User, opportunity: Opportunity, lines: Iterable[dict]
) -> Opportunity:
    """Replace the lines of an open opportunity (each: ``product`` (a Product or its id),
    ``qty``, ``unit_price`` (default the list price), ``remark``, optionally the ``id`` of
    the line it replaces, whose snapshots stay). The list price is the product's; discount
    and subtotals are computed; the amount follows Σ subtotal unless entered by hand."""
    opportunity = _lock(actor, opportunity)
    _require_editable(actor, opportunity)
    before = _lines_summary(opportunity.lines.all())
    rows = _line_rows(actor, opportunity, lines)
    total = _replace_lines(opportunity, rows)
    after = _lines_summary(rows)
    update = ["updated_at", "updated_by"]
    if not opportunity.amount_manual and opportunity.amount != total:
        opportunity.amount = total
        update.append("amount")
    opportunity.updated_by = actor
    opportunity.save(update_fields=update)
    if before != after:
        _record(actor, opportunity, actions.OPPORTUNITY_LINES, {"lines": [before, after]})
    return opportunity


# ---------------------------------------------------------------- stages


def _strict_refusal(settings, current: OpportunityStage, target: OpportunityStage) -> str | None:
    """Why the stage mode forbids moving from ``current`` to ``target`` (open stages)."""
    if settings.stage_mode != OpportunitySettings.StageMode.STRICT:
        return None
    order = [
        s.pk
        for s in OpportunityStage.objects.filter(
            tenant_id=current.tenant_id, kind=StageKind.OPEN, is_active=True
        ).order_by("sort", "id")
    ]
    if target.pk not in order:
        return _("Choose an active open stage.")
    if current.pk not in order:  # the current stage was deactivated: any stage goes
        return None
    here, there = order.index(current.pk), order.index(target.pk)
    if there > here + 1:
        return _("Stages are taken one at a time: move to %(next)s first.") % {
            "next": OpportunityStage.objects.get(pk=order[here + 1]).name
        }
    return None


def _move(actor, opportunity, stage, *, note="", **fields) -> Opportunity:
    """Put the locked opportunity into ``stage`` now, with its stage-change row and the
    probability of the stage."""
    from_stage_id = opportunity.stage_id
    opportunity.stage = stage
    opportunity.status = stage.kind
    opportunity.probability = stage.probability
    opportunity.stage_entered_at = timezone.now()
    opportunity.updated_by = actor
    for key, value in fields.items():
        setattr(opportunity, key, value)
    opportunity.save()
    _stage_row(actor, opportunity, from_stage_id, note)
    return opportunity


def _check_stale(opportunity: Opportunity, expected_stage_id) -> None:
    if expected_stage_id is not None and opportunity.stage_id != int(expected_stage_id):
        _refuse(
            _("Someone moved this opportunity to %(stage)s meanwhile; nothing was changed.")
            % {"stage": opportunity.stage.name},
            "stale",
        )


@transaction.atomic
def opportunity_stage_change(
    *,
    actor: User,
    opportunity: Opportunity,
    stage: OpportunityStage | int,
    note: str = "",
    expected_stage_id: int | None = None,
) -> Opportunity:
    """Move an open opportunity to another open stage (its probability becomes the
    stage's). The won stage wins it (``opportunity_win``); the lost stage needs a reason
    (``opportunity_lose``). ``expected_stage_id``: the stage the caller saw (the kanban card's
    column); when the row has moved meanwhile the move is refused with code ``"stale"``."""
    opportunity = _lock(actor, opportunity)
    stage = _stage_of_tenant(actor, stage)
    _check_stale(opportunity, expected_stage_id)
    if not opportunity.is_open:
        _refuse(_("The opportunity is won or lost; reopen it to change its stage."), "closed")
    if not policies.may_change_stage(actor, opportunity):
        raise PermissionRefusedError(_("You may not change this opportunity."))
    if stage.kind == StageKind.WON:
        return _win(actor, opportunity, note)
    if stage.kind == StageKind.LOST:
        _refuse(_("Choose why the opportunity was lost."), "lost_reason")
    if not stage.is_active:
        _refuse(_("Choose an active open stage."), "stage")
    if stage.pk == opportunity.stage_id:
        return opportunity
    current = opportunity.stage
    backwards = (stage.sort, stage.pk) < (current.sort, current.pk)
    if backwards and not current.allow_rollback_open:
        _refuse(
            _("An opportunity in %(stage)s cannot move back to an earlier stage.")
            % {"stage": current.name},
            "rollback",
        )
    if not backwards and (
        refusal := _strict_refusal(settings_for(actor.tenant_id), current, stage)
    ):
        _refuse(refusal, "strict")
    _move(actor, opportunity, stage, note=note)
    _record(
        actor,
        opportunity,
        actions.OPPORTUNITY_STAGE,
        {"stage": [current.name, stage.name]},
        note,
    )
    return opportunity


def _win(actor, opportunity, note) -> Opportunity:
    won = _end_stage(actor.tenant_id, StageKind.WON)
    current = opportunity.stage
    _move(
        actor,
        opportunity,
        won,
        note=note,
        closed_date=actor.tenant.today(),
        lost_reason=None,
        lost_note="",
    )
    _record(actor, opportunity, actions.OPPORTUNITY_WON, {"stage": [current.name, won.name]}, note)
    owner = opportunity.owner
    manager = owner.manager if owner is not None and owner.manager_id else None
    if manager is not None and manager.pk != actor.pk:
        notification_send(
            tenant_id=opportunity.tenant_id,
            recipients=[manager],
            title=_("%(user)s won the opportunity %(name)s (%(amount)s)")
            % {"user": owner, "name": opportunity.name, "amount": opportunity.amount},
            link=opportunity_url(opportunity.pk),
        )
    return opportunity


@transaction.atomic
def opportunity_win(
    *, actor: User, opportunity: Opportunity, note: str = "", expected_stage_id: int | None = None
) -> Opportunity:
    """Win an open opportunity: the won stage, probability of that stage (100), closed today;
    the owner's manager is told. The customer is not signed here (contracts and orders do)."""
    opportunity = _lock(actor, opportunity)
    _check_stale(opportunity, expected_stage_id)
    if not opportunity.is_open:
        _refuse(_("The opportunity is already won or lost."), "closed")
    if not policies.may_change_stage(actor, opportunity):
        raise PermissionRefusedError(_("You may not change this opportunity."))
    return _win(actor, opportunity, note)


@transaction.atomic
def opportunity_lose(
    *,
    actor: User,
    opportunity: Opportunity,
    reason: Option | None,
    note: str = "",
    expected_stage_id: int | None = None,
) -> Opportunity:
    """Lose an open opportunity: a lost reason of the tenant's list is required, the note is
    kept (``lost_note``); the lost stage, its probability (0), closed today."""
    opportunity = _lock(actor, opportunity)
    _check_stale(opportunity, expected_stage_id)
    if not opportunity.is_open:
        _refuse(_("The opportunity is already won or lost."), "closed")
    if not policies.may_change_stage(actor, opportunity):
        raise PermissionRefusedError(_("You may not change this opportunity."))
    if reason is None:
        _refuse(_("Choose why the opportunity was lost."), "reason")
    _check_option(actor, reason, OptionKind.LOST_REASON)
    lost = _end_stage(actor.tenant_id, StageKind.LOST)
    current = opportunity.stage
    note = (note or "").strip()
    _move(
        actor,
        opportunity,
        lost,
        note=note,
        closed_date=actor.tenant.today(),
        lost_reason=reason,
        lost_note=note,
    )
    _record(
        actor,
        opportunity,
        actions.OPPORTUNITY_LOST,
        {"stage": [current.name, lost.name], "lost_reason": ["", reason.label]},
        note,
    )
    return opportunity


def _stage_before_end(opportunity: Opportunity) -> OpportunityStage | None:
    """The open stage the opportunity was in when it was won or lost (the last change into
    its end stage), when still active."""
    change = (
        OpportunityStageChange.objects.filter(
            tenant_id=opportunity.tenant_id,
            opportunity=opportunity,
            to_stage_id=opportunity.stage_id,
            from_stage__isnull=False,
        )
        .select_related("from_stage")
        .order_by("-changed_at", "-id")
        .first()
    )
    stage = change.from_stage if change is not None else None
    if stage is None or stage.kind != StageKind.OPEN or not stage.is_active:
        return None
    return stage


@transaction.atomic
def opportunity_reopen(
    *,
    actor: User,
    opportunity: Opportunity,
    stage: OpportunityStage | int | None = None,
    note: str = "",
) -> Opportunity:
    """Reopen a won or lost opportunity into an open stage (default: the one it was in
    before the end, else the first): managers with ``opportunity.reopen`` whose data scope
    covers the owner, only when the end stage allows reopening. The closing date and the
    lost reason are cleared; the reason given is in the log."""
    opportunity = _lock(actor, opportunity)
    if opportunity.is_open:
        _refuse(_("The opportunity is open already."), "open")
    if not opportunity.stage.allow_reopen:
        _refuse(
            _("Opportunities in %(stage)s cannot be reopened (stage settings).")
            % {"stage": opportunity.stage.name},
            "no_reopen",
        )
    if not policies.may_reopen(actor, opportunity):
        raise PermissionRefusedError(
            _("Only managers whose data scope covers the owner reopen opportunities.")
        )
    if stage is None:
        stage = _stage_before_end(opportunity) or _first_open_stage(actor.tenant_id)
    else:
        stage = _stage_of_tenant(actor, stage)
    if stage.kind != StageKind.OPEN or not stage.is_active:
        _refuse(_("Choose an active open stage."), "stage")
    current = opportunity.stage
    note = (note or "").strip()
    _move(actor, opportunity, stage, note=note, closed_date=None, lost_reason=None, lost_note="")
    _record(
        actor,
        opportunity,
        actions.OPPORTUNITY_REOPENED,
        {"stage": [current.name, stage.name]},
        note,
    )
    return opportunity


# ---------------------------------------------------------------- transfer / delete


def _owner_change(actor, rows: list[Opportunity], to_user: User, note: str = "") -> None:
    moving = [o for o in rows if o.owner_id != to_user.pk]
    if not moving:
        return
    owners = {
        u.pk: str(u)
        for u in User.tenant_objects.filter(pk__in={o.owner_id for o in moving if o.owner_id})
    }
    previous = {o.pk: owners.get(o.owner_id, "") for o in moving}
    now = timezone.now()
    Opportunity.objects.filter(pk__in=[o.pk for o in moving]).update(
        owner=to_user, owner_department_id=to_user.department_id, updated_by=actor, updated_at=now
    )
    for o in moving:
        o.owner, o.owner_department_id, o.updated_by = to_user, to_user.department_id, actor
    activity.activity_record_many(
        actor=actor,
        targets=moving,
        action=actions.OPPORTUNITY_TRANSFERRED,
        changes_for=lambda o: {"owner": [previous[o.pk], str(to_user)]},
        note=note,
    )


def _check_receiver(actor: User, to_user: User) -> None:
    require_same_tenant(actor, to_user)
    if not to_user.is_active:
        _refuse(_("A deactivated user cannot receive opportunities."), "inactive")


@transaction.atomic
def opportunity_transfer(
    *, actor: User, opportunities: Sequence[Opportunity | int], to_user: User, note: str = ""
) -> list[Opportunity]:
    """Give opportunities (open or not) to another user, all or nothing: the owner and the
    owner's department snapshot change."""
    _check_receiver(actor, to_user)
    found = _lock_many(actor, opportunities)
    forbidden = [o.name for o in found if not policies.may_transfer(actor, o)]
    if forbidden:
        _refuse(
            _("You may not transfer these opportunities: %(names)s. Nothing was changed.")
            % {"names": "、".join(forbidden[:10])},
            "not_editable",
        )
    _owner_change(actor, found, to_user, note)
    return found


def transfer_open_of_customers(*, actor: User, customers, to_user: User) -> None:
    """customers.hooks related transfer: a customer transferred with its related records
    takes its open opportunities along; won and lost ones stay with their owner (wave2.md
    §3.4). The customer service has checked the actor's rights on the customers."""
    ids = [c.pk for c in customers]
    rows = list(
        Opportunity.objects.filter(
            tenant_id=actor.tenant_id, customer_id__in=ids, status=StageKind.OPEN
        )
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    _owner_change(actor, rows, to_user, _("with the customer"))


def merge_into_customer(*, actor: User, keep: Customer, merged_ids: Sequence[int]) -> None:
    """customers.hooks merge: the opportunities of the merged-away customers belong to the
    kept one (their contacts moved there already)."""
    rows = list(
        Opportunity.objects.filter(tenant_id=keep.tenant_id, customer_id__in=list(merged_ids))
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if not rows:
        return
    customers = dict(
        Customer.objects.filter(pk__in={o.customer_id for o in rows}).values_list("pk", "name")
    )
    names = {o.pk: customers.get(o.customer_id, "") for o in rows}
    Opportunity.objects.filter(pk__in=[o.pk for o in rows]).update(customer=keep)
    activity.activity_record_many(
        actor=actor,
        targets=rows,
        action=actions.OPPORTUNITY_UPDATED,
        changes_for=lambda o: {"customer": [names[o.pk], str(keep)]},
    )


def customer_delete_refusal(customer: Customer) -> str | None:
    """customers.hooks delete check: a customer with opportunities is neither trashed nor
    deleted (the opportunities would lose their customer)."""
    count = Opportunity.objects.filter(tenant_id=customer.tenant_id, customer=customer).count()
    if not count:
        return None
    return ngettext("it has %(count)d opportunity", "it has %(count)d opportunities", count) % {
        "count": count
    }


@transaction.atomic
def opportunity_delete(*, actor: User, opportunity: Opportunity) -> None:
    """Delete an opportunity for good: the ``opportunity.delete`` right and the owner or a
    scope covering them; refused while a registered module (quotes, contracts, orders)
    references it. Its follow-ups and files stay on its customer."""
    opportunity = _lock(actor, opportunity)
    if not policies.may_delete(actor, opportunity):
        raise PermissionRefusedError()
    if refusals := hooks.delete_refusals(opportunity):
        _refuse(
            _("The opportunity cannot be deleted: %(reasons)s") % {"reasons": "；".join(refusals)},
            "protected",
        )
    customer_type = ContentType.objects.get_for_model(Customer)
    for model in (FollowUp, Attachment):
        model.objects.filter(owned.on(opportunity)).update(
            record_type=customer_type, record_id=opportunity.customer_id
        )
    customer = Customer.objects.get(pk=opportunity.customer_id)
    _record(
        actor,
        customer,
        actions.OPPORTUNITY_DELETED,
        {"opportunity": ["", opportunity.name]},
    )
    opportunity.delete()


# ---------------------------------------------------------------- contacts


def _contact_add(
    actor, opportunity, *, contact, role=None, is_primary=False, remark=""
) -> OpportunityContact:
    require_same_tenant(actor, contact)
    _check_contact(opportunity.customer_id, contact)
    _check_option(actor, role, OptionKind.CONTACT_ROLE)
    with refused_if_taken(
        _("%(contact)s is a contact of this opportunity already.") % {"contact": contact}
    ):
        row = OpportunityContact.objects.create(
            tenant_id=opportunity.tenant_id,
            opportunity=opportunity,
            contact=contact,
            role=role,
            remark=(remark or "").strip()[:200],
        )
    if is_primary:
        _set_primary(opportunity, contact)
        row.is_primary = True
        opportunity.save(update_fields=["primary_contact"])
    return row


def _contact_row(opportunity, row) -> OpportunityContact:
    pk = row.pk if isinstance(row, OpportunityContact) else int(row)
    found = (
        OpportunityContact.objects.filter(
            tenant_id=opportunity.tenant_id, opportunity=opportunity, pk=pk
        )
        .select_related("contact", "role")
        .first()
    )
    if found is None:
        raise NotVisibleError(_("The record does not exist."))
    return found


@transaction.atomic
def opportunity_contact_add(
    *,
    actor: User,
    opportunity: Opportunity,
    contact: Contact,
    role: Option | None = None,
    is_primary: bool = False,
    remark: str = "",
) -> OpportunityContact:
    """Put a contact of the opportunity's customer on it with their role in the deal
    (决策人, 采购…: the tenant's contact roles); ``is_primary`` makes them the primary
    contact."""
    opportunity = _lock(actor, opportunity)
    _require_editable(actor, opportunity)
    row = _contact_add(
        actor, opportunity, contact=contact, role=role, is_primary=is_primary, remark=remark
    )
    _record(
        actor,
        opportunity,
        actions.OPPORTUNITY_CONTACTS,
        {"contact": ["", f"{contact.name}（{role.label}）" if role else contact.name]},
    )
    return row


@transaction.atomic
def opportunity_contact_update(
    *,
    actor: User,
    opportunity: Opportunity,
    row: OpportunityContact | int,
    role: Option | None,
    remark: str = "",
) -> OpportunityContact:
    """Change a contact's role and remark on the opportunity."""
    opportunity = _lock(actor, opportunity)
    _require_editable(actor, opportunity)
    row = _contact_row(opportunity, row)
    _check_option(actor, role, OptionKind.CONTACT_ROLE)
    before = f"{row.contact.name}（{row.role.label}）" if row.role else row.contact.name
    row.role, row.remark = role, (remark or "").strip()[:200]
    row.save(update_fields=["role", "remark"])
    after = f"{row.contact.name}（{role.label}）" if role else row.contact.name
    if before != after:
        _record(actor, opportunity, actions.OPPORTUNITY_CONTACTS, {"contact": [before, after]})
    return row


@transaction.atomic
def opportunity_contact_remove(
    *, actor: User, opportunity: Opportunity, row: OpportunityContact | int
) -> None:
    """Take a contact off the opportunity (the primary contact too: then there is none)."""
    opportunity = _lock(actor, opportunity)
    _require_editable(actor, opportunity)
    row = _contact_row(opportunity, row)
    if opportunity.primary_contact_id == row.contact_id:
        opportunity.primary_contact = None
        opportunity.save(update_fields=["primary_contact"])
    row.delete()
    _record(actor, opportunity, actions.OPPORTUNITY_CONTACTS, {"contact": [row.contact.name, ""]})


@transaction.atomic
def opportunity_contact_set_primary(
    *, actor: User, opportunity: Opportunity, row: OpportunityContact | int
) -> OpportunityContact:
    opportunity = _lock(actor, opportunity)
    _require_editable(actor, opportunity)
    row = _contact_row(opportunity, row)
    if opportunity.primary_contact_id == row.contact_id and row.is_primary:
        return row
    before = str(opportunity.primary_contact or "") if opportunity.primary_contact_id else ""
    _set_primary(opportunity, row.contact)
    opportunity.save(update_fields=["primary_contact"])
    row.is_primary = True
    _record(
        actor, opportunity, actions.OPPORTUNITY_CONTACTS, {"primary": [before, row.contact.name]}
    )
    return row


# ---------------------------------------------------------------- team


@transaction.atomic
def opportunity_participants_add(
    *, actor: User, opportunity: Opportunity, users: Iterable[User], can_edit: bool = False
) -> None:
    """Add team members (我参与的), also after the end; with ``can_edit`` they hold the
    django-guardian grant ``opportunities.change_opportunity`` on it (crm.participants).
    Team members see the opportunity, not the customer."""
    users = list(users)
    if not users:
        _refuse(_("Choose at least one person."), "empty")
    for user in users:
        require_same_tenant(actor, user)
        if not user.is_active:
            _refuse(_("A deactivated user cannot join a team."), "inactive")
    opportunity = _lock(actor, opportunity)
    if not policies.may_manage_participants(actor, opportunity):
        raise PermissionRefusedError(_("You may not change the team of this opportunity."))
    editors = participants.editor_ids(opportunity)
    added = participants.participants_add(
        actor=actor, record=opportunity, users=users, can_edit=can_edit
    )
    if not added and participants.editor_ids(opportunity) == editors:
        return
    _record(
        actor,
        opportunity,
        actions.OPPORTUNITY_PARTICIPANTS,
        {"participants": ["", "、".join(str(u) for u in users)]},
        _("with edit rights") if can_edit else _("read only"),
    )


@transaction.atomic
def opportunity_participant_remove(*, actor: User, opportunity: Opportunity, user: User) -> None:
    require_same_tenant(actor, user)
    opportunity = _lock(actor, opportunity)
    if not policies.may_manage_participants(actor, opportunity):
        raise PermissionRefusedError(_("You may not change the team of this opportunity."))
    if user.pk not in participants.participant_ids(opportunity):
        return
    participants.participant_remove(record=opportunity, user=user)
    _record(actor, opportunity, actions.OPPORTUNITY_PARTICIPANTS, {"participants": [str(user), ""]})


# ---------------------------------------------------------------- stage settings


def _require_settings(actor: User) -> None:
    if not actor.can("opportunity.settings"):
        raise PermissionRefusedError()


def _lock_stages(tenant_id: int) -> list[OpportunityStage]:
    """Every stage of the tenant, locked (stage settings take turns)."""
    return list(
        OpportunityStage.objects.filter(tenant_id=tenant_id)
        .select_for_update()
        .order_by("sort", "id")
    )


def _stage_values(data: dict) -> dict:
    values = {k: v for k, v in data.items() if k in STAGE_FIELDS}
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            _refuse(_("Enter the stage's name."), "required")
        if len(values["name"]) > 32:
            _refuse(_("The name is too long (at most 32 characters)."), "invalid")
    if "probability" in values:
        values["probability"] = _probability(values["probability"])
    for key in ("allow_rollback_open", "allow_reopen", "is_active"):
        if key in values:
            values[key] = bool(values[key])
    return values


def _name_taken(tenant_id: int, name: str, exclude_pk=None) -> None:
    qs = OpportunityStage.objects.filter(tenant_id=tenant_id, name=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        _refuse(_("A stage named %(name)s exists already.") % {"name": name}, "duplicate")


@transaction.atomic
def stage_create(*, actor: User, data: dict) -> OpportunityStage:
    """A new open stage, placed after the last open one (the won and lost stages are the
    tenant's one each and cannot be added)."""
    _require_settings(actor)
    stages = _lock_stages(actor.tenant_id)
    values = _stage_values(data)
    if not values.get("name"):
        _refuse(_("Enter the stage's name."), "required")
    if "probability" not in values:
        _refuse(_("The win probability is a whole number from 0 to 100."), "probability")
    if data.get("kind", StageKind.OPEN) != StageKind.OPEN:
        _refuse(_("There is exactly one won and one lost stage; add open stages only."), "kind")
    _name_taken(actor.tenant_id, values["name"])
    open_sorts = [s.sort for s in stages if s.kind == StageKind.OPEN]
    sort = (max(open_sorts) if open_sorts else 0) + 10
    # The end stages stay after every open one.
    for end in (s for s in stages if s.kind != StageKind.OPEN and s.sort <= sort):
        end.sort = sort + (10 if end.kind == StageKind.WON else 20)
        end.save(update_fields=["sort"])
    with refused_if_taken(_("A stage named %(name)s exists already.") % {"name": values["name"]}):
        stage = OpportunityStage.objects.create(
            tenant_id=actor.tenant_id, kind=StageKind.OPEN, sort=sort, **values
        )
    _record(actor, stage, actions.STAGE_CREATED)
    return stage


@transaction.atomic
def stage_update(*, actor: User, stage: OpportunityStage, data: dict) -> OpportunityStage:
    """Change a stage's name, probability and switches; its kind never changes. The won and
    lost stages stay active, and one open stage at least."""
    _require_settings(actor)
    require_same_tenant(actor, stage)
    stages = _lock_stages(actor.tenant_id)
    stage = next((s for s in stages if s.pk == stage.pk), None)
    if stage is None:
        raise NotVisibleError(_("The record does not exist."))
    values = _stage_values(data)
    if values.get("is_active") is False and stage.is_active:
        if stage.kind != StageKind.OPEN:
            _refuse(_("The won and lost stages cannot be turned off."), "end_stage")
        others = [s for s in stages if s.kind == StageKind.OPEN and s.is_active and s != stage]
        if not others:
            _refuse(_("Keep at least one active open stage."), "last_open")
    if "name" in values:
        _name_taken(actor.tenant_id, values["name"], exclude_pk=stage.pk)
    before = activity.snapshot(stage, STAGE_FIELDS)
    for key, value in values.items():
        setattr(stage, key, value)
    with refused_if_taken(_("A stage named %(name)s exists already.") % {"name": stage.name}):
        stage.save()
    changes = activity.diff(before, activity.snapshot(stage, STAGE_FIELDS))
    if changes:
        _record(actor, stage, actions.STAGE_UPDATED, changes)
    return stage


@transaction.atomic
def stage_reorder(*, actor: User, order: Sequence[int]) -> list[OpportunityStage]:
    """Put the open stages in the order of ``order`` (their ids, every open stage once);
    the won and lost stages stay last."""
    _require_settings(actor)
    stages = _lock_stages(actor.tenant_id)
    open_stages = {s.pk: s for s in stages if s.kind == StageKind.OPEN}
    order = [int(pk) for pk in order]
    if sorted(order) != sorted(open_stages):
        _refuse(_("Give every open stage once."), "order")
    changed = []
    for i, pk in enumerate(order):
        stage = open_stages[pk]
        if stage.sort != (i + 1) * 10:
            changed.append((stage, stage.sort))
            stage.sort = (i + 1) * 10
            stage.save(update_fields=["sort"])
    end_sort = (len(order) + 1) * 10
    for end in (s for s in stages if s.kind != StageKind.OPEN):
        wanted = end_sort + (0 if end.kind == StageKind.WON else 10)
        if end.sort != wanted:
            end.sort = wanted
            end.save(update_fields=["sort"])
    for stage, old in changed:
        _record(actor, stage, actions.STAGE_UPDATED, {"sort": [str(old), str(stage.sort)]})
    return [open_stages[pk] for pk in order]


@transaction.atomic
def stage_move(*, actor: User, stage: OpportunityStage, up: bool) -> None:
    """Move an open stage one place up or down among the open stages."""
    _require_settings(actor)
    require_same_tenant(actor, stage)
    ids = list(
        OpportunityStage.objects.filter(tenant_id=actor.tenant_id, kind=StageKind.OPEN)
        .order_by("sort", "id")
        .values_list("pk", flat=True)
    )
    if stage.pk not in ids:
        _refuse(_("Only open stages change places."), "kind")
    i = ids.index(stage.pk)
    j = i - 1 if up else i + 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    stage_reorder(actor=actor, order=ids)


@transaction.atomic
def stage_delete(*, actor: User, stage: OpportunityStage) -> None:
    """Delete an open stage no opportunity is or was in (else turn it off); never the won
    or lost stage, nor the last open one."""
    _require_settings(actor)
    require_same_tenant(actor, stage)
    stages = _lock_stages(actor.tenant_id)
    stage = next((s for s in stages if s.pk == stage.pk), None)
    if stage is None:
        raise NotVisibleError(_("The record does not exist."))
    if stage.kind != StageKind.OPEN:
        _refuse(_("The won and lost stages cannot be deleted."), "end_stage")
    if not [s for s in stages if s.kind == StageKind.OPEN and s.is_active and s != stage]:
        _refuse(_("Keep at least one active open stage."), "last_open")
    used = (
        Opportunity.objects.filter(tenant_id=actor.tenant_id, stage=stage).exists()
        or OpportunityStageChange.objects.filter(tenant_id=actor.tenant_id, to_stage=stage).exists()
        or OpportunityStageChange.objects.filter(
            tenant_id=actor.tenant_id, from_stage=stage
        ).exists()
    )
    if used:
        _refuse(
            _("%(stage)s is used by opportunities or their history; turn it off instead.")
            % {"stage": stage.name},
            "in_use",
        )
    _record(actor, stage, actions.STAGE_DELETED, {"name": [stage.name, ""]})
    stage.delete()


@transaction.atomic
def settings_update(
    *, actor: User, stage_mode: str, probability_override: bool
) -> OpportunitySettings:
    """The tenant's stage mode (free / strict) and whether the probability may be typed."""
    _require_settings(actor)
    if stage_mode not in OpportunitySettings.StageMode.values:
        _refuse(_("Choose a valid option."), "option")
    settings_for(actor.tenant_id)
    settings = OpportunitySettings.objects.select_for_update().get(tenant_id=actor.tenant_id)
    before = activity.snapshot(settings, ["stage_mode", "probability_override"])
    settings.stage_mode = stage_mode
    settings.probability_override = bool(probability_override)
    settings.save()
    changes = activity.diff(
        before, activity.snapshot(settings, ["stage_mode", "probability_override"])
    )
    if changes:
        _record(actor, settings, actions.SETTINGS_UPDATED, changes)
    return settings


# ---------------------------------------------------------------- registrations

# Opportunities are owned records: follow-ups, files and comments go on them through the
# customers services (the follow-up keeps its direct customer link; followup_create moves
# the opportunity's last and next follow-up times, which it has, and the customer's last
# follow-up: working an opportunity is working its customer, the pool must not recycle it).
owned.register(
    owned.OwnedKind(
        key="opportunity",
        model=Opportunity,
        get_for_actor=lambda *, actor, pk: opportunity_get_for_actor(actor=actor, pk=pk),
        for_work=opportunity_for_work,
        detail_url=opportunity_url,
        customer_id=lambda opportunity: opportunity.customer_id,
        files_full=gettext_lazy("An opportunity has at most 10 files; delete one first."),
        followup_elsewhere=gettext_lazy("The follow-up does not belong to this opportunity."),
        touches_customer=True,
    )
)
