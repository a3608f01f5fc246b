"""Pool pages: the pool list (per group or all the user's groups) and its actions: claim,
assign, move, return. Thin: parse, one selector or service, render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import F, Prefetch
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.exceptions import ServiceError
from crm.views.base import tenant_view
from customers.filters import CustomerFilter
from customers.models import Contact
from customers.selectors import capped_count
from customers.views import _back, offset_page
from pools import selectors, services
from pools.action_forms import AssignForm, ClaimForm, MoveForm, ReturnForm

SORTS = {
    "pooled": ("-pooled_at", "-id"),
    "name": ("name", "id"),
    "level": (F("level__sort_order").asc(nulls_last=True), "-pooled_at", "-id"),
    "last_followup": (F("last_followup_at").desc(nulls_last=True), "-id"),
    "created": ("-created_at", "-id"),
}
SORT_LABELS = {
    "pooled": gettext_lazy("Time in the pool"),
    "name": gettext_lazy("Name"),
    "level": gettext_lazy("Level"),
    "last_followup": gettext_lazy("Last follow-up"),
    "created": gettext_lazy("Created"),
}


def _form_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@tenant_view()
def pool_list(request):
    actor = request.user
    groups = selectors.visible_groups(actor)
    wanted = request.GET.get("group") or ""
    group = next((g for g in groups if str(g.pk) == wanted), None)
    base = selectors.pool_base(actor=actor, group=group)
    filterset = CustomerFilter(request.GET or None, queryset=base, request=request)
    filterset.filters.pop("owner", None)  # nobody owns a pool customer
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    sort = request.GET.get("sort") or "pooled"
    if sort not in SORTS:
        sort = "pooled"
    rows = (
        qs.select_related("pool_group", "previous_owner", "level", "status")
        .prefetch_related(Prefetch("contacts", queryset=Contact.objects.order_by("pk")))
        .order_by(*SORTS[sort])
    )
    page = offset_page(request, rows)
    total, capped = capped_count(qs)
    hidden = selectors.hidden_fields_by_group(actor, groups)
    admin_ids = selectors.admin_group_ids(actor)
    for customer in page:
        customer.hidden = hidden.get(customer.pool_group_id, frozenset())
        contacts = list(customer.contacts.all())
        customer.first_contact = contacts[0] if contacts else None
    context = {
        "active_nav": "pool",
        "groups": groups,
        "group": group,
        "filter": filterset,
        "page": page,
        "total": total,
        "capped": capped,
        "sort": sort,
        "sorts": SORT_LABELS,
        "filtered": bool(filterset.is_bound and filterset.active_filters),
        "is_admin": admin_ids is None or bool(admin_ids),
        "assign_form": AssignForm(tenant_id=actor.tenant_id),
        "move_form": MoveForm(tenant_id=actor.tenant_id),
        "can_claim": any(
            g.claim_mode == g.ClaimMode.SELF or selectors.is_group_admin(actor, g.pk)
            for g in ([group] if group else groups)
        ),
    }
    if request.htmx and request.htmx.target == "pool-results":
        return render(request, "pools/pool_list.html#results", context)
    return render(request, "pools/pool_list.html", context)


def _done(request, result: services.PoolResult, message: str) -> None:
    if result.done:
        messages.success(request, message)
    if result.lost:
        messages.warning(request, result.lost_message)
    if not result.done and not result.lost:
        messages.info(request, _("Nothing was changed."))


def _run_action(request, form_class, action):
    """Validate the POSTed form and call ``action(cleaned_data)`` (one service). A bad form
    or a refusal becomes an error message; returns the service's result or None."""
    form = form_class(request.POST, tenant_id=request.user.tenant_id)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return None
    try:
        return action(form.cleaned_data)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return None


def claim_response(request, form_class, claim, *, back: str, message, detail: str):
    """A claim from a pool list (customers or leads): ``claim(cleaned_data)`` is the service,
    ``message(count)`` the success; one record claimed opens its page ``detail``, else back."""
    result = _run_action(request, form_class, claim)
    if result is None:
        return redirect(back)
    count = len(result.done)
    _done(request, result, message(count))
    if count == 1 and not result.lost:
        return redirect(detail, pk=result.done[0].pk)
    return redirect(back)


def assign_response(request, form_class, assign, *, back: str, message):
    """An assignment from a pool list: ``assign(cleaned_data)`` is the service,
    ``message(count, users)`` the success (``users`` joined with 、)."""
    users = []

    def run(data):
        users.extend(data["users"])
        return assign(data)

    result = _run_action(request, form_class, run)
    if result is not None:
        _done(request, result, message(len(result.done), "、".join(str(u) for u in users)))
    return redirect(back)


def move_response(request, form_class, move, *, back: str, message):
    """A move to another pool group: ``move(cleaned_data)`` is the service, returning the
    moved records; ``message(count, group)`` the success."""
    result = _run_action(request, form_class, lambda data: (data["group"], move(data)))
    if result is not None:
        group, moved = result
        messages.success(request, message(len(moved), group))
    return redirect(back)


@tenant_view()
@require_POST
def pool_claim(request):
    return claim_response(
        request,
        ClaimForm,
        lambda data: services.pool_claim(actor=request.user, customers=data["ids"]),
        back=_back(request, reverse("pools:pool-list")),
        message=lambda count: _("You claimed %(count)d customers.") % {"count": count},
        detail="customers:customer-detail",
    )


@tenant_view()
@require_POST
def pool_assign(request):
    return assign_response(
        request,
        AssignForm,
        lambda data: services.pool_assign(
            actor=request.user,
            customers=data["ids"],
            users=list(data["users"]),
            distribution=data["distribution"],
        ),
        back=_back(request, reverse("pools:pool-list")),
        message=lambda count, users: (
            _("%(count)d customers were assigned to %(users)s.") % {"count": count, "users": users}
        ),
    )


@tenant_view()
@require_POST
def pool_move(request):
    return move_response(
        request,
        MoveForm,
        lambda data: services.pool_move(
            actor=request.user, customers=data["ids"], group=data["group"]
        ),
        back=_back(request, reverse("pools:pool-list")),
        message=lambda count, group: (
            _("%(count)d customers are now in %(group)s.") % {"count": count, "group": group}
        ),
    )


@tenant_view()
@require_POST
def pool_return(request):
    """退回公海 from the customer list (batch) or the customer page (one)."""
    back = _back(request, reverse("customers:customer-list"))
    returned = _run_action(
        request,
        ReturnForm,
        lambda data: services.pool_return(
            actor=request.user,
            customers=data["ids"],
            reason=data["reason"],
            note=data["note"],
            group=data["group"],
        ),
    )
    if returned is None:
        return redirect(back)
    messages.success(
        request, _("%(count)d customers went back to the pool.") % {"count": len(returned)}
    )
    # The customer page of a customer one no longer sees would be a 404: go to the list.
    if back.startswith("/customers/") and back.rstrip("/").split("/")[-1].isdigit():
        return redirect("customers:customer-list")
    return redirect(back)


@tenant_view("customer.export")
def pool_export(request):
    """导出 the pool list as filtered (GET) or the ticked customers (POST); the fields the
    group hides until a claim stay hidden (pools.exporting)."""
    from crm.views.exports import export_response

    return export_response(request, "pool")
