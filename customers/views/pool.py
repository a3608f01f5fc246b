"""The public pool's pages (公海): the pool list (per group or all the user's groups) and
its actions: claim, assign, move, return, export. Thin: parse, one selector or service,
render or redirect; the responses are the pool engine's (``pools.views.actions``)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import F, Prefetch
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm.idempotency import once
from crm.views.base import tenant_view
from crm.views.lists import back_url, chips, offset_page, sort_headers
from customers import pooling
from customers.filters import PoolCustomerFilter
from customers.models import Contact
from customers.selectors import capped_count
from pools import selectors
from pools.forms.actions import AssignForm, ClaimForm, MoveForm, ReturnForm
from pools.views.actions import (
    _run_action,
    assign_response,
    claim_response,
    kind_form,
    modal_refused,
    move_response,
    posted_from,
    record_names,
    safe_format,
)

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


# The sortable columns of the pool: column → (label, sort, reverse sort, direction).
SORT_COLUMNS = {
    "name": (gettext_lazy("Customer"), "name", None, "asc"),
    "level": (gettext_lazy("Level"), "level", None, "asc"),
    "pooled": (gettext_lazy("Days in pool"), "pooled", None, "asc"),
    "last_followup": (gettext_lazy("Last follow-up"), "last_followup", None, "desc"),
}


def pool_chips(request, *, tenant_id: int) -> list:
    """The pool's quick filters: 今天入池, 本周入池, the top level (one query)."""
    from django.utils import timezone

    from crm.models import OptionKind
    from crm.selectors import options_for
    from crm.views.lists import this_monday

    today, monday = timezone.localdate(), this_monday()
    specs = [
        ("pooled_today", _("Into the pool today"), {"pooled_after": today.isoformat()}),
        ("pooled_week", _("Into the pool this week"), {"pooled_after": monday.isoformat()}),
    ]
    top = options_for(tenant_id=tenant_id, kind=OptionKind.CUSTOMER_LEVEL).first()
    if top is not None:
        specs.append(("top_level", top.label, {"level": top.pk}))
    return chips(request, specs)


@tenant_view()
def pool_list(request):
    actor = request.user
    groups = selectors.visible_groups(actor, pooling.KIND)
    wanted = request.GET.get("group") or ""
    group = next((g for g in groups if str(g.pk) == wanted), None)
    base = selectors.pool_base(actor=actor, group=group, kind=pooling.KIND)
    filterset = PoolCustomerFilter(request.GET or None, queryset=base, request=request)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    sort = request.GET.get("sort") or "pooled"
    if sort not in SORTS:
        sort = "pooled"
    rows = (
        qs.select_related("pool_group", "previous_owner", "level", "status")
        .prefetch_related(Prefetch("contacts", queryset=Contact.objects.order_by("pk")))
        .order_by(*SORTS[sort])
    )
    total, capped = capped_count(qs)
    page = offset_page(request, rows, total=None if capped else total).counted(total, capped)
    hidden = selectors.hidden_fields_by_group(actor, groups)
    admin_ids = selectors.admin_group_ids(actor, pooling.KIND)
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
        "headers": sort_headers(request, sort, SORT_COLUMNS),
        "chips": pool_chips(request, tenant_id=actor.tenant_id),
        "keep": {"group": group.pk if group else ""},
        "filtered": bool(filterset.is_bound and filterset.active_filters),
        "is_admin": admin_ids is None or bool(admin_ids),
        "assign_form": AssignForm(tenant_id=actor.tenant_id, kind=pooling.KIND),
        "move_form": MoveForm(tenant_id=actor.tenant_id, kind=pooling.KIND),
        "can_claim": any(
            g.claim_mode == g.ClaimMode.SELF or selectors.is_group_admin(actor, g.pk, pooling.KIND)
            for g in ([group] if group else groups)
        ),
    }
    if request.htmx and request.htmx.target == "pool-results":
        return render(request, "pools/pool_list.html#results", context)
    return render(request, "pools/pool_list.html", context)


def _page_response(request):
    """An htmx action posted from a customer's page: its header, tab bar and open tab out of
    band (customers.views.customers.record_page_response), or, when the actor no longer
    sees the customer, a full redirect to the list. None when not posted from that page."""
    from customers.views.customers import record_page_response

    ids = request.POST.getlist("ids")
    if len(ids) != 1 or not ids[0].isdigit():
        return None
    if not posted_from(request, reverse("customers:customer-detail", args=[int(ids[0])])):
        return None  # not from the page: the usual redirect
    return record_page_response(request, int(ids[0]))


@tenant_view()
@require_POST
def pool_claim(request):
    return claim_response(
        request,
        kind_form(ClaimForm, pooling.KIND),
        lambda data: pooling.customer_claim(actor=request.user, customers=data["ids"]),
        back=back_url(request, reverse("customers:pool-list")),
        detail="customers:customer-detail",
        page_response=_page_response,
    )


@tenant_view()
@require_POST
def pool_assign(request):
    return assign_response(
        request,
        kind_form(AssignForm, pooling.KIND),
        lambda data: pooling.customer_assign(
            actor=request.user,
            customers=data["ids"],
            users=list(data["users"]),
            distribution=data["distribution"],
        ),
        back=back_url(request, reverse("customers:pool-list")),
        message=lambda count: ngettext(
            "Assigned %(count)d customer to %(users)s: %(names)s",
            "Assigned %(count)d customers to %(users)s: %(names)s",
            count,
        ),
        detail="customers:customer-detail",
    )


@tenant_view()
@require_POST
def pool_move(request):
    return move_response(
        request,
        kind_form(MoveForm, pooling.KIND),
        lambda data: pooling.customer_move(
            actor=request.user, customers=data["ids"], group=data["group"]
        ),
        back=back_url(request, reverse("customers:pool-list")),
        message=lambda count, group: (
            _("%(count)d customers are now in %(group)s.") % {"count": count, "group": group}
        ),
    )


@tenant_view()
@require_POST
def pool_return(request):
    """退回公海 from the customer list (batch) or the customer page (one)."""
    back = back_url(request, reverse("customers:customer-list"))
    returned = _run_action(
        request,
        kind_form(ReturnForm, pooling.KIND),
        lambda data: pooling.customer_return(
            actor=request.user,
            customers=data["ids"],
            reason=data["reason"],
            note=data["note"],
            group=data["group"],
        ),
    )
    from_list = request.htmx and request.POST.get("modal") == "batch-return-modal"
    if returned is None:
        if modal_refused(request, "batch-return-modal"):
            # The list's modal without a reason: the modal's form again, its errors inline.
            from customers.views.customers import batch_return_form

            form = batch_return_form(request.user, request.POST)
            form.is_valid()
            # list_url: where the modal's form comes back to (this request is the POST's).
            context = {"return_form": form, "form_only": True, "view": "mine", "list_url": back}
            return render(
                request, "customers/customer_list.html#batch-return-modal", context, status=422
            )
        return _page_response(request) or redirect(back)
    messages.success(
        request,
        safe_format(
            _("Returned to the pool: %(names)s"),
            names=record_names(request.user, returned, detail="customers:customer-detail"),
        ),
    )
    if from_list:
        # The list's modal (htmx): the list again, without the returned rows.
        return HttpResponseClientRedirect(back)
    if (response := _page_response(request)) is not None:
        return response
    # The customer page of a customer one no longer sees would be a 404: go to the list.
    if back.startswith("/customers/") and back.rstrip("/").split("/")[-1].isdigit():
        return redirect("customers:customer-list")
    return redirect(back)


@tenant_view("customer.export")
@require_POST
@once(vary=("rows", "ids"))  # crm.views.exports.EXPORT_ONCE_VARY: a double click exports once
def pool_export(request):
    """导出 (a POST) the pool list as filtered or the ticked customers; the fields the group
    hides until a claim stay hidden (customers.exporting)."""
    from crm.views.exports import export_response

    return export_response(request, "pool")
