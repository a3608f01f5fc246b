"""Lead pool pages (线索池): the pool list (per lead pool or all the user's lead pools) and
its actions — claim, assign, move, return — and the lead pool settings (lead.manage), which
are the public pool's settings pages for groups of kind ``lead``. Thin: parse, one selector
or service, render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import F
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm.idempotency import once
from crm.views.base import tenant_view
from crm.views.lists import back_url as _back
from crm.views.lists import offset_page
from customers.selectors import capped_count
from leads import pooling
from leads.filters import LeadPoolFilter
from pools import selectors as pool_selectors
from pools.forms.actions import AssignForm, ClaimForm, MoveForm, ReturnForm
from pools.views import settings as views_settings
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

KIND = "lead"
SORTS = {
    "pooled": ("-pooled_at", "-id"),
    "pooled_oldest": ("pooled_at", "id"),
    "name": ("name", "id"),
    "company": ("company", "id"),
    "last_followup": (F("last_followup_at").desc(nulls_last=True), "-id"),
    "created": ("-created_at", "-id"),
}
SORT_LABELS = {
    "pooled": gettext_lazy("Time in the pool"),
    "pooled_oldest": gettext_lazy("Longest in the pool first"),
    "name": gettext_lazy("Contact person"),
    "company": gettext_lazy("Company"),
    "last_followup": gettext_lazy("Last follow-up"),
    "created": gettext_lazy("Created"),
}
# The sortable columns of the pool list: column → (label, sort, reverse sort, direction).
# 在池时长 runs shortest first (the newest in the pool), and the other way round.
SORT_COLUMNS = {
    "lead": (gettext_lazy("Lead"), "name", None, "asc"),
    "pooled": (gettext_lazy("Days in pool"), "pooled", "pooled_oldest", "asc"),
    "last_followup": (gettext_lazy("Last follow-up"), "last_followup", None, "desc"),
}


def pool_chips(request) -> list:
    """The quick filters of the lead pool: 本周入池, 从未跟进 and 本周新建 (no query)."""
    from crm.views.lists import chips, this_monday

    monday = this_monday().isoformat()
    return chips(
        request,
        [
            ("pooled_this_week", gettext("Into the pool this week"), {"pooled_after": monday}),
            ("never_followed", gettext("Never followed up"), {"followed": "false"}),
            ("this_week", gettext("Created this week"), {"created_after": monday}),
        ],
    )


@tenant_view()
def pool_list(request):
    from crm.views.lists import sort_headers
    from leads.views.lists import mark_rows

    actor = request.user
    groups = pooling.lead_pool_groups(actor=actor)
    wanted = request.GET.get("group") or ""
    group = next((g for g in groups if str(g.pk) == wanted), None)
    base = pooling.lead_pool_list(actor=actor, group=group)
    filterset = LeadPoolFilter(request.GET or None, queryset=base, request=request)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    sort = request.GET.get("sort") or "pooled"
    if sort not in SORTS:
        sort = "pooled"
    total, capped = capped_count(qs)
    page = offset_page(request, qs.order_by(*SORTS[sort]), total=None if capped else total)
    page.counted(total, capped)
    hidden = pool_selectors.hidden_fields_by_group(actor, groups)
    admin_ids = pool_selectors.admin_group_ids(actor, KIND)
    # What the masking layer hides (the ``masked`` filter, the card's tel: link): the page's
    # groups are joined, so no query.
    mark_rows(page, actor)
    for lead in page:
        lead.hidden = hidden.get(lead.pool_group_id, frozenset())
    tid = actor.tenant_id
    context = {
        "active_nav": "lead-pool",
        "groups": groups,
        "group": group,
        "filter": filterset,
        "page": page,
        "total": total,
        "capped": capped,
        "sort": sort,
        "sorts": SORT_LABELS,
        "headers": sort_headers(request, sort, SORT_COLUMNS),
        "chips": pool_chips(request),
        "keep": {"group": group.pk if group else ""},
        "filtered": bool(filterset.is_bound and filterset.active_filters),
        "is_admin": admin_ids is None or bool(admin_ids),
        "assign_form": AssignForm(tenant_id=tid, kind=KIND),
        "move_form": MoveForm(tenant_id=tid, kind=KIND),
        "can_claim": any(
            g.claim_mode == g.ClaimMode.SELF or pool_selectors.is_group_admin(actor, g.pk, KIND)
            for g in ([group] if group else groups)
        ),
    }
    if request.htmx and request.htmx.target == "lead-pool-results":
        return render(request, "leads/pool_list.html#results", context)
    return render(request, "leads/pool_list.html", context)


def _page_response(request):
    """An htmx action posted from a lead's page: its header, tab bar and open tab out of band
    (leads.views.leads.record_page_response), or, when the actor no longer sees the lead, a
    full redirect to the list. None when not posted from that page."""
    from leads.views.leads import record_page_response

    ids = request.POST.getlist("ids")
    if len(ids) != 1 or not ids[0].isdigit():
        return None
    if not posted_from(request, reverse("leads:lead-detail", args=[int(ids[0])])):
        return None  # not from the page: the usual redirect
    return record_page_response(request, int(ids[0]))


@tenant_view()
@require_POST
def pool_claim(request):
    return claim_response(
        request,
        kind_form(ClaimForm, KIND),
        lambda data: pooling.lead_claim(actor=request.user, leads=data["ids"]),
        back=_back(request, reverse("leads:pool-list")),
        detail="leads:lead-detail",
        page_response=_page_response,
    )


@tenant_view()
@require_POST
def pool_assign(request):
    return assign_response(
        request,
        kind_form(AssignForm, KIND),
        lambda data: pooling.lead_assign(
            actor=request.user,
            leads=data["ids"],
            users=list(data["users"]),
            distribution=data["distribution"],
        ),
        back=_back(request, reverse("leads:pool-list")),
        message=lambda count: ngettext(
            "Assigned %(count)d lead to %(users)s: %(names)s",
            "Assigned %(count)d leads to %(users)s: %(names)s",
            count,
        ),
        detail="leads:lead-detail",
    )


@tenant_view()
@require_POST
def pool_move(request):
    return move_response(
        request,
        kind_form(MoveForm, KIND),
        lambda data: pooling.lead_move(actor=request.user, leads=data["ids"], group=data["group"]),
        back=_back(request, reverse("leads:pool-list")),
        message=lambda count, group: (
            ngettext(
                "%(count)d lead is now in %(group)s.",
                "%(count)d leads are now in %(group)s.",
                count,
            )
            % {"count": count, "group": group}
        ),
    )


@tenant_view()
@require_POST
def pool_return(request):
    """退回线索池 from the lead list's batch bar or the lead page (POST ``ids``, ``reason``,
    ``note``, optional ``group``)."""
    back = _back(request, reverse("leads:lead-list"))
    returned = _run_action(
        request,
        kind_form(ReturnForm, KIND),
        lambda data: pooling.lead_return(
            actor=request.user,
            leads=data["ids"],
            reason=data["reason"],
            note=data["note"],
            group=data["group"],
        ),
    )
    from_list = request.htmx and request.POST.get("modal") == "batch-return-modal"
    if returned is None:
        if modal_refused(request, "batch-return-modal"):
            # The list's modal without a reason: the modal's form again, its errors inline.
            from leads.views.leads import _return_form

            form = _return_form(request.user, request.POST)
            form.is_valid()
            context = {"return_form": form, "form_only": True, "view": "mine", "list_url": back}
            return render(request, "leads/lead_list.html#batch-return-modal", context, status=422)
        return _page_response(request) or redirect(back)
    messages.success(
        request,
        safe_format(
            gettext("Returned to the lead pool: %(names)s"),
            names=record_names(request.user, returned, detail="leads:lead-detail"),
        ),
    )
    if from_list:
        return HttpResponseClientRedirect(back)  # the list's modal (htmx): the list again
    if (response := _page_response(request)) is not None:
        return response
    # The page of a lead one may no longer see would be a 404: go to the list.
    if back.startswith("/leads/") and back.split("?")[0].rstrip("/").split("/")[-1].isdigit():
        return redirect("leads:lead-list")
    return redirect(back)


# ---------------------------------------------------------------- settings (lead.manage)


@tenant_view("lead.manage")
def pool_group_list(request):
    return views_settings.group_list_page(request, KIND)


@tenant_view("lead.manage")
@once
def pool_group_create(request):
    return views_settings.group_form_page(request, None, KIND)


@tenant_view("lead.manage")
def pool_group_edit(request, pk: int):
    return views_settings.group_form_page(request, views_settings._get(request, pk, KIND), KIND)


@tenant_view("lead.manage")
@require_POST
def pool_group_delete(request, pk: int):
    return views_settings.group_delete_action(request, pk, KIND)
