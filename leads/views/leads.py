"""Lead pages: the lists, the lead page with its tabs, the create/edit form with the live
duplicate warning, follow-ups, files and the batch actions. Thin: parse, one selector, at
most one service, render. Every lead comes through a selector that answers 404 for what
the user may not see. Follow-ups, files and saved searches reuse the customers module's
services and forms (one model, one UI)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm import recent
from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.selectors import activity_timeline
from crm.views.base import tenant_view
from crm.views.lists import back_url as _back
from crm.views.lists import offset_page
from customers.forms import AttachmentForm, FollowUpForm
from customers.views.customers import (
    attachment_add_response,
    attachment_delete_or_message,
    attachment_file_response,
    commentable_followups,
    followup_add_response,
)
from leads import policies, selectors, services
from leads.filters import LeadFilter
from leads.forms.leads import LeadBatchForm, LeadForm
from leads.models import Lead
from leads.pooling import lead_forecast, lead_hidden_fields

# ---------------------------------------------------------------- list


def _list_context(request, view: str) -> dict:
    from crm.views.lists import sort_headers, work_list_sort
    from leads.views.lists import SORT_COLUMNS, list_chips, mark_rows

    actor = request.user
    base = selectors.lead_base(actor=actor, view=view)
    filterset = LeadFilter(request.GET or None, queryset=base, request=request)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    sort = request.GET.get("sort") or work_list_sort(request, view)
    if sort not in selectors.SORTS:
        sort = work_list_sort(request, view)
    rows = selectors.lead_list(actor=actor, queryset=qs, sort=sort)
    counts = selectors.view_counts(actor=actor)
    filtered = bool(filterset.is_bound and filterset.active_filters)
    # Unfiltered, the list is the view's own: its tab count is the total (one count less).
    total, capped = counts[view] if not filtered else selectors.capped_count(qs)
    page = offset_page(request, rows, total=None if capped else total).counted(total, capped)
    mark_rows(page, actor)
    batch_form = LeadBatchForm(tenant_id=actor.tenant_id)
    # The 关闭 popover's reason reads 请选择原因, not "---------".
    batch_form.fields["close_reason"].empty_label = _("Choose a reason")
    return {
        "view": view,
        "views": selectors.VIEWS,
        "counts": counts,
        "filter": filterset,
        "page": page,
        "total": total,
        "capped": capped,
        "sort": sort,
        "sorts": selectors.SORT_LABELS,
        "headers": sort_headers(request, sort, SORT_COLUMNS),
        "chips": list_chips(request),
        "keep": {"view": view},
        "saved_searches": selectors.lead_saved_searches(actor=actor),
        "batch_form": batch_form,
        # 关闭 and 退回线索池 from the batch bar: their modals' forms (read when rendered).
        "close_form": batch_form,
        "return_form": _return_form(actor),
        "query": request.GET.urlencode(),
        "filtered": filtered,
    }


@tenant_view()
def lead_list(request):
    view = request.GET.get("view") or "mine"
    if view not in selectors.VIEW_KEYS:
        view = "mine"  # an unknown or outdated view (an old bookmark): the default list
    context = _list_context(request, view)
    if request.htmx and request.htmx.target == "lead-results":
        return render(request, "leads/lead_list.html#results", context)
    return render(request, "leads/lead_list.html", context)


@tenant_view()
@require_POST
def lead_batch(request):
    """One request, all-or-nothing, for the rows ticked in the list (or the one lead of
    the lead page's transfer / close / reopen)."""
    actor = request.user
    form = LeadBatchForm(request.POST, tenant_id=actor.tenant_id)
    back = _back(request, reverse("leads:lead-list"))
    from_list = request.htmx and request.POST.get("modal") == "batch-close-modal"
    if not form.is_valid():
        posted = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        if (response := _close_refused(request, posted, form)) is not None:
            return response
        if from_list:
            # The list's 关闭 modal without a reason: its form again, the errors inline.
            form.fields["close_reason"].empty_label = _("Choose a reason")
            context = {"close_form": form, "form_only": True, "view": "mine", "list_url": back}
            return render(request, "leads/lead_list.html#batch-close-modal", context, status=422)
        errors = [e for errs in form.errors.values() for e in errs]
        messages.error(request, " ".join(map(str, errors)) or _("Select at least one lead."))
        return _page_or_redirect(request, posted, back)
    data = form.cleaned_data
    ids, action = data["ids"], data["action"]
    try:
        if action == "transfer":
            services.lead_transfer(actor=actor, leads=ids, to_user=data["to_user"])
        elif action == "status":
            services.lead_status_set(actor=actor, leads=ids, status=data["status"])
        elif action == "close":
            services.lead_close(
                actor=actor, leads=ids, reason=data["close_reason"], note=data["close_note"]
            )
        elif action == "reopen":
            services.lead_reopen(actor=actor, leads=ids)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return _page_or_redirect(request, ids, back)
    if action == "transfer":
        messages.success(request, _transferred_message(actor, ids, data["to_user"]))
    else:
        messages.success(request, _("Done: %(count)d leads.") % {"count": len(ids)})
    if from_list:
        return HttpResponseClientRedirect(back)  # the list's modal (htmx): the list again
    return _page_or_redirect(request, ids, back)


def _close_refused(request, ids, form):
    """关闭线索 from the lead page's modal without a reason: the modal again with the error
    under its field (422), no message. None for any other refusal."""
    from pools.views.actions import posted_from

    if not (request.htmx and request.POST.get("modal") == "close-modal" and len(ids) == 1):
        return None
    if not posted_from(request, reverse("leads:lead-detail", args=[ids[0]])):
        return None
    lead = selectors.lead_get_for_actor(actor=request.user, pk=ids[0])
    return _modal_answer(request, lead, "close-modal", form)


def _page_or_redirect(request, ids, back: str):
    """The lead page's own actions (transfer, close, reopen) posted with htmx answer with
    its header and tab out of band (record_page_response); else back."""
    from pools.views.actions import posted_from

    if len(ids) == 1 and posted_from(request, reverse("leads:lead-detail", args=[ids[0]])):
        return record_page_response(request, ids[0])
    return redirect(back)


def _transferred_message(actor, ids, to_user):
    """The message "已转移 1 条线索给 陈静：A": the leads by name, links where the actor sees them
    (pools.views.actions.record_names, escaped)."""
    from django.utils.translation import ngettext

    from pools.views.actions import record_names, safe_format

    rows = list(Lead.objects.filter(tenant_id=actor.tenant_id, pk__in=ids).order_by("pk"))
    return safe_format(
        ngettext(
            "Transferred %(count)d lead to %(user)s: %(names)s",
            "Transferred %(count)d leads to %(user)s: %(names)s",
            len(ids),
        ),
        count=len(ids),
        user=str(to_user),
        names=record_names(actor, rows, detail="leads:lead-detail"),
    )


# ---------------------------------------------------------------- create / edit


def _form_view(request, lead: Lead | None):
    actor = request.user
    creating = lead is None
    form = LeadForm(
        request.POST or None,
        instance=lead,
        tenant_id=actor.tenant_id,
        creating=creating,
        may_transfer=actor.can("lead.transfer"),
    )
    context = {"form": form, "lead": lead, "duplicates": None}
    if request.method != "POST":
        return render(request, "leads/lead_form.html", context)
    if not form.is_valid():
        return render(request, "leads/lead_form.html", context, status=422)
    data = form.cleaned_data
    try:
        if creating:
            owner = None if data.get("to_pool") else (data.get("owner") or True)
            lead = services.lead_create(
                actor=actor,
                data=form.lead_data(),
                owner=owner,
                confirm_duplicates=data["confirm_duplicates"],
            )
            messages.success(request, _("Lead %(name)s was created.") % {"name": lead})
        else:
            lead.refresh_from_db()
            services.lead_update(
                actor=actor,
                lead=lead,
                data=form.lead_data(),
                confirm_duplicates=data["confirm_duplicates"],
            )
            messages.success(request, _("Lead saved."))
    except services.DuplicateLeadError as exc:
        context["duplicates"] = selectors.duplicate_rows(
            actor=actor, leads=exc.leads, customers=exc.customers
        )
        form.add_error(None, str(exc.message))
        return render(request, "leads/lead_form.html", context, status=422)
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "leads/lead_form.html", context, status=422)
    if (
        lead.owner_id is None
        or not selectors.lead_base(actor=actor, view="all").filter(pk=lead.pk).exists()
    ):
        # Created into the pool, or handed to someone outside the actor's sight.
        return redirect("leads:lead-list")
    return redirect("leads:lead-detail", pk=lead.pk)


@tenant_view()
@once
def lead_create(request):
    return _form_view(request, None)


@tenant_view()
def lead_edit(request, pk: int):
    lead = selectors.lead_get_for_actor(actor=request.user, pk=pk)
    if not policies.may_edit(request.user, lead):
        messages.error(request, _("This lead is read-only for you."))
        return redirect("leads:lead-detail", pk=pk)
    return _form_view(request, lead)


@tenant_view()
def lead_duplicate_check(request):
    """While typing in the lead form (htmx): leads and customers with the same company or
    number. SECURITY (issue 15): a company of 2 characters or a phone of 7 at least; a record
    the user may not open shows only who owns it; throttled per user (429 with the message in
    the warning's place, crm.throttling)."""
    from crm import throttling
    from customers.selectors import DUPLICATE_TYPED_PHONE_MIN, duplicate_name_long_enough

    company = request.GET.get("company", "").strip()
    phone = (request.GET.get("mobile", "") or request.GET.get("phone", "")).strip()
    phone = phone if len(phone) >= DUPLICATE_TYPED_PHONE_MIN else ""
    exclude = request.GET.get("exclude", "")
    template = "leads/lead_form.html#duplicate-warning"
    if not (duplicate_name_long_enough(company) or phone):
        return render(request, template, {"duplicates": None})
    if not throttling.duplicate_check_allowed(request.user):
        context = {"duplicates": None, "duplicate_error": throttling.DUPLICATE_CHECK_REFUSED}
        return render(request, template, context, status=429)
    rows = selectors.duplicate_search(
        actor=request.user,
        company=company,
        phone=phone,
        exclude=int(exclude) if exclude.isdigit() else None,
    )
    return render(request, template, {"duplicates": rows})


# ---------------------------------------------------------------- detail and tabs

TABS = [
    ("overview", gettext_lazy("Overview")),
    ("followups", gettext_lazy("Follow-ups")),
    ("attachments", gettext_lazy("Attachments")),
    ("events", gettext_lazy("Ownership history")),
    ("activity", gettext_lazy("Activity")),
]


def _tab_context(request, lead: Lead, tab: str) -> dict:
    actor = request.user
    context = {"lead": lead, "tab": tab, "can_edit": policies.may_edit(actor, lead)}
    if tab == "overview":
        context["recent"] = list(selectors.lead_followups(lead=lead)[:3])
        context["hidden"] = lead_hidden_fields(actor=actor, lead=lead)
    elif tab == "followups":
        context["followups"] = list(selectors.lead_followups(lead=lead)[:100])
        context["form"] = FollowUpForm(record=lead, actor=actor)
        context["commentable"] = commentable_followups(actor, context["followups"])
    elif tab == "attachments":
        context["attachments"] = list(selectors.lead_attachments(lead=lead))
        context["form"] = AttachmentForm()
    elif tab == "events":
        context["events"] = list(selectors.lead_events(lead=lead))
    elif tab == "activity":
        context["activity"] = activity_timeline(actor=actor, obj=lead)
    return context


@tenant_view()
def lead_detail(request, pk: int):
    actor = request.user
    lead = selectors.lead_get_for_actor(actor=actor, pk=pk)
    recent.record_view(request, "lead", lead)  # 最近浏览
    tab = request.GET.get("tab", "overview")
    if tab not in dict(TABS):
        tab = "overview"
    context = _tab_context(request, lead, tab)
    context.update(_header_context(request, lead), tabs=TABS)
    return render(request, "leads/lead_detail.html", context)


def _header_context(request, lead: Lead) -> dict:
    """What the lead page's header shows (owner, status, last and next follow-up, the pool
    countdown, the phone and e-mail when the masking layer shows them) and its actions; the
    same for the page and for the header re-rendered out of band after an htmx action."""
    actor = request.user
    can_edit = policies.may_edit(actor, lead)
    return {
        "lead": lead,
        "can_edit": can_edit,
        "hidden": lead_hidden_fields(actor=actor, lead=lead),
        "may_transfer": policies.may_transfer(actor, lead),
        "may_convert": policies.may_convert(actor, lead),
        "may_return": policies.may_return(actor, lead),
        "forecast": lead_forecast(lead),
        "batch_form": LeadBatchForm(tenant_id=actor.tenant_id) if can_edit else None,
        "return_form": _return_form(actor) if can_edit else None,
        "page_url": reverse("leads:lead-detail", args=[lead.pk]),
    }


def _return_form(actor, data=None):
    """The 退回线索池 form of the lead page's modal (its reasons read only when rendered)."""
    from leads.pooling import KIND
    from pools.forms.actions import ReturnForm

    return ReturnForm(data, tenant_id=actor.tenant_id, kind=KIND)


def _modal_answer(request, lead: Lead, modal: str, form):
    """A reason modal of the lead page whose form was refused: the modal's form again, its
    errors under its fields, with 422 (templates/components/reason_modal.html)."""
    page_url = reverse("leads:lead-detail", args=[lead.pk])
    context = {"lead": lead, "form_only": True, "page_url": page_url}
    context["batch_form" if modal == "close-modal" else "return_form"] = form
    return render(request, f"leads/lead_detail.html#{modal}", context, status=422)


def _oob_parts(request, context: dict, *names: str) -> str:
    """Partials of the lead page rendered out of band (``oob`` set in their context)."""
    context = {**context, "oob": True}
    return "".join(
        render_to_string(f"leads/lead_detail.html#{name}", context, request) for name in names
    )


def _current_tab(request) -> str:
    """The tab open in the browser when an htmx action was posted from the page
    (HX-Current-URL, kept current by the tabs' hx-push-url)."""
    from urllib.parse import parse_qs, urlsplit

    url = (request.htmx.current_url if request.htmx else None) or ""
    tab = parse_qs(urlsplit(url).query).get("tab", ["overview"])[0]
    return tab if tab in dict(TABS) else "overview"


def record_page_response(request, pk: int):
    """The answer to an htmx action posted from a lead's page (a claim, a return…): the
    header, the tab bar and the open tab out of band, with the messages; when the actor no
    longer sees the lead, the browser goes to the list (the messages wait there)."""
    from django.http import HttpResponse
    from django_htmx.http import HttpResponseClientRedirect

    from crm.visibility import visible_to
    from pools.views.actions import modal_refused

    if not visible_to(request.user, Lead.objects.all()).filter(pk=pk).exists():
        return HttpResponseClientRedirect(reverse("leads:lead-list"))
    lead = selectors.lead_get_for_actor(actor=request.user, pk=pk)
    if modal_refused(request, "lead-return-modal"):  # 退回线索池 without a reason
        form = _return_form(request.user, request.POST)
        form.is_valid()
        return _modal_answer(request, lead, "lead-return-modal", form)
    tab = _current_tab(request)
    context = _tab_context(request, lead, tab)
    context.update(_header_context(request, lead), tabs=TABS)
    response = HttpResponse(_oob_parts(request, context, "record-header", "tab-bar", "tab-body"))
    response.write(render_to_string("leads/lead_detail.html#oob-messages", {}, request))
    return response


@tenant_view()
def lead_tab(request, pk: int, tab: str):
    if tab not in dict(TABS):
        raise Http404
    lead = selectors.lead_get_for_actor(actor=request.user, pk=pk)
    context = _tab_context(request, lead, tab)
    response = render(request, f"leads/lead_detail.html#tab-{tab}", context)
    # The tab bar follows the loaded tab (out of band): the clicked one is highlighted.
    response.write(_oob_parts(request, {**context, "tabs": TABS}, "tab-bar"))
    return response


def _tab_response(request, lead: Lead, tab: str, status: int = 200, **extra):
    """After an action on the lead page: the tab fragment for htmx (messages out of band),
    else a redirect to the page on that tab."""
    if request.htmx:
        context = _tab_context(request, lead, tab)
        context.update(extra)
        form = extra.get("form")
        if form is not None and not context["can_edit"]:
            for error in form.non_field_errors():
                messages.error(request, error)
        response = render(request, f"leads/lead_detail.html#tab-{tab}", context, status=status)
        # The header (last / next follow-up, pool countdown, owner, status) and the tab bar
        # out of band: the page never shows what the action just changed as stale.
        header = {**context, **_header_context(request, lead), "tabs": TABS}
        response.write(_oob_parts(request, header, "record-header", "tab-bar"))
        response.write(render_to_string("leads/lead_detail.html#oob-messages", {}, request))
        return response
    return redirect(reverse("leads:lead-detail", args=[lead.pk]) + f"?tab={tab}")


# ---------------------------------------------------------------- follow-ups and files


@tenant_view()
@require_POST
@once
def lead_followup_add(request, pk: int):
    lead = selectors.lead_get_for_actor(actor=request.user, pk=pk)
    return followup_add_response(
        request,
        record=lead,
        tab_response=_tab_response,
        detail_url=reverse("leads:lead-detail", args=[pk]),
    )


@tenant_view()
@require_POST
@once
def lead_attachment_add(request, pk: int):
    lead = selectors.lead_get_for_actor(actor=request.user, pk=pk)
    return attachment_add_response(request, record=lead, tab_response=_tab_response)


@tenant_view()
def lead_attachment_download(request, pk: int):
    # SECURITY: only for users who see the lead (404 otherwise, like a missing file).
    attachment = selectors.lead_attachment_get_for_actor(actor=request.user, pk=pk)
    return attachment_file_response(attachment)


@tenant_view()
@require_POST
def lead_attachment_delete(request, pk: int):
    attachment = selectors.lead_attachment_get_for_actor(actor=request.user, pk=pk)
    lead_id = attachment.record_id
    attachment_delete_or_message(request, attachment)
    return redirect(reverse("leads:lead-detail", args=[lead_id]) + "?tab=attachments")
