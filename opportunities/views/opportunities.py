"""Opportunity pages (商机): the lists, the create / edit form with its lines, the opportunity
page with its stage path, 赢单 / 输单 / 重新打开 and its tabs, the batch transfer, the export and
the stage settings. Thin: parse, one selector, at most one service, render. Every
opportunity comes through ``opportunities.selectors.opportunity_get_for_actor`` (404 for what
the user may not see); follow-ups and files reuse the customers module's forms and answers
(customers.owned: one model, one UI)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from crm import recent
from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.selectors import activity_timeline
from crm.views.base import tenant_view
from crm.views.lists import back_url, offset_page, sort_headers
from customers import owned
from customers.forms import AttachmentForm, FollowUpForm
from customers.models import Attachment, FollowUp, SavedSearch
from customers.views.customers import (
    attachment_add_response,
    attachment_delete_or_message,
    attachment_file_response,
    commentable_followups,
    followup_add_response,
)
from opportunities import listing, policies, selectors
from opportunities.filters import OpportunityFilter
from opportunities.forms.opportunities import (
    ContactRoleForm,
    LoseForm,
    NoteForm,
    OpportunityForm,
    StageForm,
    StageMoveForm,
    StageSettingsForm,
    TeamForm,
    TransferForm,
    line_formset,
)
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityParticipant,
    OpportunitySettings,
    OpportunityStage,
    OpportunityStageChange,
    OpportunityUserObjectPermission,
    StageKind,
)
from opportunities.services import opportunities as services

# ---------------------------------------------------------------- list


def _list_context(request, view: str) -> dict:
    from customers.selectors import capped_count, saved_searches

    actor = request.user
    base = listing.opportunity_base(actor=actor, view=view)
    filterset = OpportunityFilter(request.GET or None, queryset=base, request=request)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    default_sort = "close" if view in ("closing", "stale") else "created"
    sort = request.GET.get("sort") or default_sort
    if sort not in listing.SORTS:
        sort = default_sort
    rows = listing.opportunity_list(queryset=qs, sort=sort)
    counts = listing.view_counts(actor=actor)
    filtered = bool(filterset.is_bound and filterset.active_filters)
    # Unfiltered, the list is the view's own: its tab count is the total (one count less).
    total, capped = counts[view] if not filtered else capped_count(qs)
    page = offset_page(request, rows, total=None if capped else total).counted(total, capped)
    listing.mark_rows(page.items, actor)
    kind = SavedSearch.ListKind.OPPORTUNITIES
    return {
        "view": view,
        "views": listing.VIEWS,
        "counts": counts,
        "filter": filterset,
        "page": page,
        "total": total,
        "capped": capped,
        "sort": sort,
        "sorts": listing.SORT_LABELS,
        "headers": sort_headers(request, sort, listing.SORT_COLUMNS),
        "chips": listing.list_chips(request),
        "keep": {"view": view},
        "saved_kind": kind,
        "saved_searches": saved_searches(actor=actor, list_kind=kind),
        "transfer_form": TransferForm(tenant_id=actor.tenant_id),
        "query": request.GET.urlencode(),
        "filtered": filtered,
    }


@tenant_view()
def opportunity_list(request):
    view = request.GET.get("view") or "mine"
    if view not in listing.VIEW_KEYS:
        view = "mine"  # an unknown or outdated view (an old bookmark): the default list
    context = _list_context(request, view)
    if request.htmx and request.htmx.target == "opportunity-results":
        return render(request, "opportunities/opportunity_list.html#results", context)
    return render(request, "opportunities/opportunity_list.html", context)


@tenant_view()
@require_POST
def opportunity_transfer(request):
    """批量转移 (the list's batch bar, or the page's 转移 with one id): all or nothing."""
    actor = request.user
    form = TransferForm(request.POST, tenant_id=actor.tenant_id)
    back = back_url(request, reverse("opportunities:opportunity-list"))
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        messages.error(request, " ".join(map(str, errors)))
        return redirect(back)
    ids, to_user = form.cleaned_data["ids"], form.cleaned_data["to_user"]
    try:
        services.opportunity_transfer(actor=actor, opportunities=ids, to_user=to_user)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return _page_or_redirect(request, ids, back)
    messages.success(request, _transferred_message(actor, ids, to_user))
    return _page_or_redirect(request, ids, back)


def _transferred_message(actor, ids, to_user):
    from pools.views.actions import record_names, safe_format

    rows = list(Opportunity.objects.filter(tenant_id=actor.tenant_id, pk__in=ids).order_by("pk"))
    return safe_format(
        ngettext(
            "Transferred %(count)d opportunity to %(user)s: %(names)s",
            "Transferred %(count)d opportunities to %(user)s: %(names)s",
            len(ids),
        ),
        count=len(ids),
        user=str(to_user),
        names=record_names(actor, rows, detail="opportunities:opportunity-detail"),
    )


def _page_or_redirect(request, ids, back: str):
    """An action posted with htmx from the opportunity's own page answers with its parts out
    of band (record_page_response); else back."""
    from pools.views.actions import posted_from

    if len(ids) == 1 and posted_from(
        request, reverse("opportunities:opportunity-detail", args=[ids[0]])
    ):
        return record_page_response(request, ids[0])
    return redirect(back)


@tenant_view("opportunity.export")
@require_POST
@once(vary=("rows", "ids"))  # crm.views.exports.EXPORT_ONCE_VARY: a double click exports once
def opportunity_export(request):
    """导出商机 (a POST, crm.views.exports): the filtered list (the query string of the form's
    action), or the ticked rows."""
    from crm.views.exports import export_response

    return export_response(request, "opportunities")


# ---------------------------------------------------------------- create / edit


def _opportunity_settings(tenant_id: int) -> OpportunitySettings | None:
    return OpportunitySettings.objects.filter(tenant_id=tenant_id).first()


@tenant_view("opportunity.create")
@once
def opportunity_create(request):
    """新建商机, from the list or from a customer's page (``?customer=``, which must be one
    the user may edit: else the form simply has no customer chosen)."""
    from opportunities.forms.opportunities import editable_customers

    actor = request.user
    settings = _opportunity_settings(actor.tenant_id)
    preset = None
    raw = request.GET.get("customer", "")
    if raw.isdigit():
        preset = editable_customers(actor).filter(pk=int(raw)).first()
    post = request.POST if request.method == "POST" else None
    form = OpportunityForm(
        post,
        actor=actor,
        creating=True,
        probability_override=bool(settings and settings.probability_override),
        customer=preset,
    )
    if preset is not None and post is None:
        form.initial.setdefault("name", "")
    lines = line_formset(post, tenant_id=actor.tenant_id)
    context = {"form": form, "lines": lines, "opportunity": None, "customer": preset}
    if request.method != "POST":
        return render(request, "opportunities/opportunity_form.html", context)
    if not (form.is_valid() & lines.is_valid()):
        return render(request, "opportunities/opportunity_form.html", context, status=422)
    try:
        opportunity = services.opportunity_create(
            actor=actor,
            customer=form.cleaned_data["customer"],
            data=form.opportunity_data(),
            lines=lines.lines(),
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "opportunities/opportunity_form.html", context, status=422)
    messages.success(request, _("Opportunity %(name)s was created.") % {"name": opportunity})
    return redirect("opportunities:opportunity-detail", pk=opportunity.pk)


@tenant_view()
def opportunity_edit(request, pk: int):
    """编辑商机: the fields (won / lost: the remark only) and, while open, the lines."""
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    if not policies.may_edit_remark(actor, opportunity):
        messages.error(request, _("This opportunity is read-only for you."))
        return redirect("opportunities:opportunity-detail", pk=pk)
    settings = _opportunity_settings(actor.tenant_id)
    post = request.POST if request.method == "POST" else None
    form = OpportunityForm(
        post,
        instance=opportunity,
        actor=actor,
        creating=False,
        probability_override=bool(settings and settings.probability_override),
        read_only=not opportunity.is_open,
    )
    context = {"form": form, "lines": None, "opportunity": opportunity, "customer": None}
    if request.method != "POST":
        return render(request, "opportunities/opportunity_form.html", context)
    if not form.is_valid():
        return render(request, "opportunities/opportunity_form.html", context, status=422)
    opportunity.refresh_from_db()
    try:
        services.opportunity_update(
            actor=actor, opportunity=opportunity, data=form.opportunity_data()
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "opportunities/opportunity_form.html", context, status=422)
    messages.success(request, _("Opportunity saved."))
    return redirect("opportunities:opportunity-detail", pk=pk)


@tenant_view()
def opportunity_lines(request, pk: int):
    """编辑产品 (the 产品 tab's editor): GET the editor, POST the whole set of lines."""
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    current = list(opportunity.lines.select_related("product"))
    post = request.POST if request.method == "POST" else None
    lines = line_formset(post, tenant_id=actor.tenant_id, lines=current)
    context = {"opportunity": opportunity, "lines": lines, "edit_lines": True}
    template = "opportunities/opportunity_lines_form.html"
    if not policies.may_edit(actor, opportunity):
        messages.error(request, _("The products of this opportunity cannot be changed."))
        return redirect(reverse("opportunities:opportunity-detail", args=[pk]) + "?tab=lines")
    if request.method != "POST":
        return render(request, template, context)
    if not lines.is_valid():
        return render(request, template, context, status=422)
    try:
        services.opportunity_lines_set(actor=actor, opportunity=opportunity, lines=lines.lines())
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return render(request, template, context, status=422)
    messages.success(request, _("Products saved."))
    return redirect(reverse("opportunities:opportunity-detail", args=[pk]) + "?tab=lines")


@tenant_view()
@require_POST
def opportunity_delete(request, pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    try:
        services.opportunity_delete(actor=actor, opportunity=opportunity)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("opportunities:opportunity-detail", pk=pk)
    messages.success(request, _("Opportunity %(name)s was deleted.") % {"name": opportunity})
    return redirect("opportunities:opportunity-list")


# ---------------------------------------------------------------- the page and its tabs

TABS = [
    ("overview", gettext_lazy("Details")),
    ("lines", pgettext_lazy("opportunity tab", "Products")),
    ("contacts", gettext_lazy("Contacts")),
    ("team", pgettext_lazy("opportunity tab", "Team")),
    ("followups", gettext_lazy("Follow-ups")),
    ("attachments", gettext_lazy("Attachments")),
    ("activity", gettext_lazy("Activity")),
    ("stages", gettext_lazy("Stage history")),
]


def stage_history(opportunity: Opportunity) -> list[dict]:
    """The stage changes, oldest first, each with the time spent in the stage it entered
    (until the next change, or until now while it is still there). One query."""
    rows = list(
        OpportunityStageChange.objects.filter(
            tenant_id=opportunity.tenant_id, opportunity=opportunity
        )
        .select_related("from_stage", "to_stage", "changed_by")
        .order_by("changed_at", "id")
    )
    now = timezone.now()
    out = []
    for i, row in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) else None
        end = following.changed_at if following else None
        if end is None and row.to_stage.kind == StageKind.OPEN:
            end = now
        spent = (end - row.changed_at) if end is not None else None
        out.append({"row": row, "spent": spent, "current": following is None})
    return out


def _contacts(opportunity: Opportunity) -> list:
    return list(
        OpportunityContact.objects.filter(tenant_id=opportunity.tenant_id, opportunity=opportunity)
        .select_related("contact", "role")
        .order_by("-is_primary", "id")
    )


def _tab_context(request, opportunity: Opportunity, tab: str) -> dict:
    actor = request.user
    from crm import masking

    masking.prepare(actor, [opportunity])
    context = {
        "opportunity": opportunity,
        "tab": tab,
        # The remark, the team and the files stay editable after the end; lines, contacts
        # and the other fields change only while open (wave2.md §3.4: may_edit).
        "can_edit": policies.may_edit_remark(actor, opportunity),
        "can_change": policies.may_edit(actor, opportunity),
        "can_manage_team": policies.may_manage_participants(actor, opportunity),
        "can_follow_up": policies.may_follow_up(actor, opportunity),
    }
    if tab == "overview":
        context["lines_count"] = opportunity.lines.count()
        context["contact_roles"] = _contacts(opportunity)[:5]
    elif tab == "lines":
        context["lines_rows"] = list(opportunity.lines.select_related("product"))
        # A rule hiding the amount hides the prices and subtotals it is made of.
        context["prices_hidden"] = "amount" in masking.prepared_paths(opportunity)
    elif tab == "contacts":
        context["contact_roles"] = _contacts(opportunity)
        if context["can_change"]:
            context["form"] = ContactRoleForm(opportunity=opportunity)
    elif tab == "team":
        rows = list(
            OpportunityParticipant.objects.filter(
                tenant_id=opportunity.tenant_id, opportunity=opportunity
            )
            .select_related("user", "added_by")
            .order_by("created_at")
        )
        editors = set(
            OpportunityUserObjectPermission.objects.filter(content_object=opportunity).values_list(
                "user_id", flat=True
            )
        )
        context["participants"] = [{"row": r, "can_edit": r.user_id in editors} for r in rows]
        if context["can_manage_team"]:
            context["form"] = TeamForm(tenant_id=actor.tenant_id)
    elif tab == "followups":
        context["followups"] = list(
            FollowUp.objects.filter(owned.on(opportunity), tenant_id=opportunity.tenant_id)
            .select_related("kind", "created_by", "contact")
            .prefetch_related("comments__author", "attachments")
            .order_by("-followed_at", "-id")[:100]
        )
        context["form"] = FollowUpForm(record=opportunity, actor=actor)
        context["commentable"] = commentable_followups(actor, context["followups"])
    elif tab == "attachments":
        context["attachments"] = list(
            Attachment.objects.filter(owned.on(opportunity), tenant_id=opportunity.tenant_id)
            .select_related("uploaded_by")
            .order_by("-created_at", "-id")
        )
        context["form"] = AttachmentForm()
    elif tab == "activity":
        context["activity"] = activity_timeline(actor=actor, obj=opportunity)
    elif tab == "stages":
        context["history"] = stage_history(opportunity)
    return context


def _stages(tenant_id: int) -> list[OpportunityStage]:
    return list(
        OpportunityStage.objects.filter(tenant_id=tenant_id, is_active=True).order_by("sort", "id")
    )


def _header_context(request, opportunity: Opportunity) -> dict:
    """The header: the stage path with its buttons, amount, probability, expected close,
    owner, customer; 赢单 / 输单 (its reason modal) / 重新打开 / 编辑 / 转移 / 删除 as the user
    may. The same for the page and for the header re-rendered out of band."""
    actor = request.user
    stages = _stages(actor.tenant_id)
    from crm import masking

    masking.prepare(actor, [opportunity])
    may_move = opportunity.is_open and policies.may_change_stage(actor, opportunity)
    may_reopen = (not opportunity.is_open) and policies.may_reopen(actor, opportunity)
    return {
        "opportunity": opportunity,
        "stages": stages,
        "open_stages": [s for s in stages if s.kind == StageKind.OPEN],
        "current_sort": opportunity.stage.sort,
        "may_move": may_move,
        "may_reopen": may_reopen,
        "may_transfer": policies.may_transfer(actor, opportunity),
        "may_delete": policies.may_delete(actor, opportunity),
        "can_edit": policies.may_edit_remark(actor, opportunity),
        "can_follow_up": policies.may_follow_up(actor, opportunity),
        "lose_form": LoseForm(tenant_id=actor.tenant_id) if may_move else None,
        "reopen_form": NoteForm(tenant_id=actor.tenant_id) if may_reopen else None,
        "transfer_form": (
            TransferForm(tenant_id=actor.tenant_id)
            if policies.may_transfer(actor, opportunity)
            else None
        ),
        "stage_days": max(0, (timezone.now() - opportunity.stage_entered_at).days),
        "page_url": reverse("opportunities:opportunity-detail", args=[opportunity.pk]),
    }


@tenant_view()
def opportunity_detail(request, pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    recent.record_view(request, "opportunity", opportunity)  # 最近浏览 (when registered)
    tab = request.GET.get("tab", "overview")
    if tab not in dict(TABS):
        tab = "overview"
    context = _tab_context(request, opportunity, tab)
    context.update(_header_context(request, opportunity), tabs=TABS)
    return render(request, "opportunities/opportunity_detail.html", context)


def _oob_parts(request, context: dict, *names: str) -> str:
    context = {**context, "oob": True}
    return "".join(
        render_to_string(f"opportunities/opportunity_detail.html#{name}", context, request)
        for name in names
    )


def _current_tab(request) -> str:
    from urllib.parse import parse_qs, urlsplit

    url = (request.htmx.current_url if request.htmx else None) or ""
    tab = parse_qs(urlsplit(url).query).get("tab", ["overview"])[0]
    return tab if tab in dict(TABS) else "overview"


def record_page_response(request, pk: int):
    """The answer to an htmx action posted from the opportunity's page: the header, the tab
    bar and the open tab out of band, with the messages; when the actor no longer sees the
    opportunity (transferred away), the browser goes to the list."""
    from django_htmx.http import HttpResponseClientRedirect

    from crm.visibility import visible_to

    if not visible_to(request.user, Opportunity.objects.all()).filter(pk=pk).exists():
        return HttpResponseClientRedirect(reverse("opportunities:opportunity-list"))
    opportunity = selectors.opportunity_get_for_actor(actor=request.user, pk=pk)
    tab = _current_tab(request)
    context = _tab_context(request, opportunity, tab)
    context.update(_header_context(request, opportunity), tabs=TABS)
    response = HttpResponse(_oob_parts(request, context, "record-header", "tab-bar", "tab-body"))
    response.write(
        render_to_string("opportunities/opportunity_detail.html#oob-messages", {}, request)
    )
    return response


@tenant_view()
def opportunity_tab(request, pk: int, tab: str):
    if tab not in dict(TABS):
        raise Http404
    opportunity = selectors.opportunity_get_for_actor(actor=request.user, pk=pk)
    context = _tab_context(request, opportunity, tab)
    response = render(request, f"opportunities/opportunity_detail.html#tab-{tab}", context)
    response.write(_oob_parts(request, {**context, "tabs": TABS}, "tab-bar"))
    return response


def _tab_response(request, opportunity: Opportunity, tab: str, status: int = 200, **extra):
    """After an action on a tab: the tab for htmx (header and tab bar out of band, messages
    too), else a redirect to the page on that tab."""
    if request.htmx:
        context = _tab_context(request, opportunity, tab)
        context.update(extra)
        response = render(
            request, f"opportunities/opportunity_detail.html#tab-{tab}", context, status=status
        )
        header = {**context, **_header_context(request, opportunity), "tabs": TABS}
        response.write(_oob_parts(request, header, "record-header", "tab-bar"))
        response.write(
            render_to_string("opportunities/opportunity_detail.html#oob-messages", {}, request)
        )
        return response
    return redirect(
        reverse("opportunities:opportunity-detail", args=[opportunity.pk]) + f"?tab={tab}"
    )


# ---------------------------------------------------------------- stage path, win, lose, reopen


def _from_kanban(request) -> bool:
    return request.POST.get("from") == "kanban"


def _after_move(request, opportunity_pk: int):
    """The answer after a stage move, win, lose or reopen: the kanban's board for a move made
    on the kanban (htmx), the page's parts for one made on the page (htmx), else back."""
    if _from_kanban(request):
        if request.htmx:
            from opportunities.views.kanban import board_response

            return board_response(request)
        return redirect(back_url(request, reverse("opportunities:opportunity-kanban")))
    if request.htmx:
        return record_page_response(request, opportunity_pk)
    return redirect(
        back_url(request, reverse("opportunities:opportunity-detail", args=[opportunity_pk]))
    )


def _refused(request, opportunity_pk: int, exc: ServiceError):
    """A refused move: the message; for htmx 422 and nothing swapped (the card snaps back on
    the kanban, the page keeps its stage)."""
    from crm.views.base import refusal_response

    if request.htmx:
        return refusal_response(request, exc)
    messages.error(request, str(exc.message))
    if _from_kanban(request):
        return redirect(back_url(request, reverse("opportunities:opportunity-kanban")))
    return redirect(
        back_url(request, reverse("opportunities:opportunity-detail", args=[opportunity_pk]))
    )


@tenant_view()
@require_POST
def opportunity_stage(request, pk: int):
    """A stage button of the page, a card dragged on the kanban or its stage select: to an open
    stage or to 赢单 (opportunity_stage_change, with the stage the user saw: a stale board
    is refused). To 输单 a reason is needed: without one, the lose dialog of the page (no
    JavaScript: the page opened on it)."""
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    form = StageMoveForm(request.POST, tenant_id=actor.tenant_id)
    if not form.is_valid():
        return _refused(request, pk, ServiceError(_("Choose a stage."), code="invalid"))
    stage = form.cleaned_data["stage"]
    if stage.kind == StageKind.LOST:
        if request.htmx:
            return _refused(
                request, pk, ServiceError(_("Choose why the deal was lost."), code="reason")
            )
        return redirect(reverse("opportunities:opportunity-detail", args=[pk]) + "#lose-modal")
    try:
        services.opportunity_stage_change(
            actor=actor,
            opportunity=opportunity,
            stage=stage,
            note=form.cleaned_data["note"],
            expected_stage_id=form.cleaned_data["expected_stage_id"],
        )
    except ServiceError as exc:
        return _refused(request, pk, exc)
    if stage.kind == StageKind.WON:
        messages.success(request, _("%(name)s is won.") % {"name": opportunity})
    else:
        messages.success(
            request,
            _("%(name)s moved to %(stage)s.") % {"name": opportunity, "stage": stage.name},
        )
    return _after_move(request, pk)


@tenant_view()
@require_POST
def opportunity_win(request, pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    form = NoteForm(request.POST, tenant_id=actor.tenant_id)
    form.is_valid()
    try:
        services.opportunity_win(
            actor=actor, opportunity=opportunity, note=form.cleaned_data.get("note", "")
        )
    except ServiceError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("%(name)s is won.") % {"name": opportunity})
    return _after_move(request, pk)


def lose_modal_answer(request, opportunity: Opportunity, form, *, template: str, status=422):
    """The 输单 dialog's form again with its errors under its fields (422, no message)."""
    context = {
        "opportunity": opportunity,
        "lose_form": form,
        "form_only": True,
        "page_url": reverse("opportunities:opportunity-detail", args=[opportunity.pk]),
    }
    return render(request, f"{template}#lose-modal", context, status=status)


@tenant_view()
@require_POST
def opportunity_lose(request, pk: int):
    """输单 from the page's dialog: a reason from the tenant's list is required (422 with the
    error under the field, nothing changed)."""
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    form = LoseForm(request.POST, tenant_id=actor.tenant_id)
    if not form.is_valid():
        if request.htmx:
            return lose_modal_answer(
                request, opportunity, form, template="opportunities/opportunity_detail.html"
            )
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(reverse("opportunities:opportunity-detail", args=[pk]) + "#lose-modal")
    try:
        services.opportunity_lose(
            actor=actor,
            opportunity=opportunity,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except ServiceError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("%(name)s is lost.") % {"name": opportunity})
    return _after_move(request, pk)


@tenant_view()
@require_POST
def opportunity_reopen(request, pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    form = NoteForm(request.POST, tenant_id=actor.tenant_id)
    if not form.is_valid():
        return _refused(request, pk, ServiceError(_("Choose a stage."), code="invalid"))
    try:
        services.opportunity_reopen(
            actor=actor,
            opportunity=opportunity,
            stage=form.cleaned_data["stage"],
            note=form.cleaned_data["note"],
        )
    except ServiceError as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("%(name)s is open again.") % {"name": opportunity})
    return _after_move(request, pk)


# ---------------------------------------------------------------- contacts and team


@tenant_view()
@require_POST
@once
def contact_add(request, pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    form = ContactRoleForm(request.POST, opportunity=opportunity)
    if not form.is_valid():
        if request.htmx:
            return _tab_response(request, opportunity, "contacts", status=422, form=form)
        messages.error(request, _("Choose a contact of the customer."))
        return _tab_response(request, opportunity, "contacts")
    data = form.cleaned_data
    try:
        services.opportunity_contact_add(
            actor=actor,
            opportunity=opportunity,
            contact=data["contact"],
            role=data["role"],
            is_primary=data["is_primary"],
            remark=data["remark"],
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Contact added."))
    opportunity.refresh_from_db()
    return _tab_response(request, opportunity, "contacts")


def _contact_row(opportunity: Opportunity, row: int) -> OpportunityContact:
    return get_object_or_404(
        OpportunityContact.objects.filter(
            tenant_id=opportunity.tenant_id, opportunity=opportunity
        ).select_related("contact"),
        pk=row,
    )


@tenant_view()
@require_POST
def contact_remove(request, pk: int, row: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    link = _contact_row(opportunity, row)
    try:
        services.opportunity_contact_remove(actor=actor, opportunity=opportunity, row=link)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    opportunity.refresh_from_db()
    return _tab_response(request, opportunity, "contacts")


@tenant_view()
@require_POST
def contact_primary(request, pk: int, row: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    link = _contact_row(opportunity, row)
    try:
        services.opportunity_contact_set_primary(actor=actor, opportunity=opportunity, row=link)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    opportunity.refresh_from_db()
    return _tab_response(request, opportunity, "contacts")


@tenant_view()
@require_POST
@once
def participants_add(request, pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    form = TeamForm(request.POST, tenant_id=actor.tenant_id)
    if form.is_valid():
        try:
            services.opportunity_participants_add(
                actor=actor,
                opportunity=opportunity,
                users=form.cleaned_data["users"],
                can_edit=form.cleaned_data["can_edit"],
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
    else:
        messages.error(request, _("Choose at least one person."))
    return _tab_response(request, opportunity, "team")


@tenant_view()
@require_POST
def participant_remove(request, pk: int, user_pk: int):
    actor = request.user
    opportunity = selectors.opportunity_get_for_actor(actor=actor, pk=pk)
    row = get_object_or_404(
        OpportunityParticipant.objects.filter(
            tenant_id=opportunity.tenant_id, opportunity=opportunity
        ).select_related("user"),
        user_id=user_pk,
    )
    try:
        services.opportunity_participant_remove(actor=actor, opportunity=opportunity, user=row.user)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return _tab_response(request, opportunity, "team")


# ---------------------------------------------------------------- follow-ups and files


@tenant_view()
@require_POST
@once
def followup_add(request, pk: int):
    opportunity = selectors.opportunity_get_for_actor(actor=request.user, pk=pk)
    return followup_add_response(
        request,
        record=opportunity,
        tab_response=_tab_response,
        detail_url=reverse("opportunities:opportunity-detail", args=[pk]),
    )


@tenant_view()
@require_POST
@once
def attachment_add(request, pk: int):
    opportunity = selectors.opportunity_get_for_actor(actor=request.user, pk=pk)
    return attachment_add_response(request, record=opportunity, tab_response=_tab_response)


def _attachment_for(request, pk: int) -> Attachment:
    """SECURITY: an opportunity's file only for users who see the opportunity (404
    otherwise, like a missing file)."""
    try:
        attachment = Attachment.objects.filter(
            owned.of_kind(Opportunity), tenant_id=request.user.tenant_id
        ).get(pk=pk)
    except Attachment.DoesNotExist as exc:
        raise Http404 from exc
    selectors.opportunity_get_for_actor(actor=request.user, pk=attachment.record_id)
    return attachment


@tenant_view()
def attachment_download(request, pk: int):
    return attachment_file_response(_attachment_for(request, pk))


@tenant_view()
@require_POST
def attachment_delete(request, pk: int):
    attachment = _attachment_for(request, pk)
    opportunity_id = attachment.record_id
    attachment_delete_or_message(request, attachment)
    return redirect(
        reverse("opportunities:opportunity-detail", args=[opportunity_id]) + "?tab=attachments"
    )


# ---------------------------------------------------------------- stage settings


def _settings_context(request, form=None, settings_form=None) -> dict:
    actor = request.user
    settings = _opportunity_settings(actor.tenant_id)
    stages = list(OpportunityStage.objects.filter(tenant_id=actor.tenant_id).order_by("sort", "id"))
    used = set(
        Opportunity.objects.filter(tenant_id=actor.tenant_id)
        .values_list("stage_id", flat=True)
        .distinct()
    )
    open_ids = [stage.pk for stage in stages if stage.kind == StageKind.OPEN]
    for stage in stages:
        stage.in_use = stage.pk in used
        # Only open stages change places (the won and lost stages stay last).
        stage.may_move_up = stage.pk in open_ids[1:]
        stage.may_move_down = stage.pk in open_ids[:-1]
    initial = {
        "stage_mode": settings.stage_mode if settings else "free",
        "probability_override": bool(settings and settings.probability_override),
    }
    return {
        "stages": stages,
        "settings_form": settings_form or StageSettingsForm(initial=initial),
        "form": form or StageForm(),
    }


@tenant_view("opportunity.settings")
def stage_settings(request):
    """销售阶段设置: the stages in order (add, edit, move, delete) and the stage mode."""
    if request.method == "POST":
        settings_form = StageSettingsForm(request.POST)
        if settings_form.is_valid():
            try:
                services.settings_update(
                    actor=request.user,
                    stage_mode=settings_form.cleaned_data["stage_mode"],
                    probability_override=settings_form.cleaned_data["probability_override"],
                )
            except ServiceError as exc:
                messages.error(request, str(exc.message))
            else:
                messages.success(request, _("Settings saved."))
                return redirect("opportunities:stage-settings")
        context = _settings_context(request, settings_form=settings_form)
        return render(request, "opportunities/stage_settings.html", context, status=422)
    return render(request, "opportunities/stage_settings.html", _settings_context(request))


@tenant_view("opportunity.settings")
@require_POST
@once
def stage_create(request):
    form = StageForm(request.POST)
    if form.is_valid():
        try:
            stage = services.stage_create(actor=request.user, data=form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("Stage %(name)s added.") % {"name": stage.name})
            return redirect("opportunities:stage-settings")
    context = _settings_context(request, form=form)
    return render(request, "opportunities/stage_settings.html", context, status=422)


@tenant_view("opportunity.settings")
def stage_edit(request, pk: int):
    stage = get_object_or_404(
        OpportunityStage.objects.filter(tenant_id=request.user.tenant_id), pk=pk
    )
    form = StageForm(request.POST or None, instance=stage)
    context = {"form": form, "stage": stage}
    if request.method != "POST":
        return render(request, "opportunities/stage_form.html", context)
    if not form.is_valid():
        return render(request, "opportunities/stage_form.html", context, status=422)
    stage.refresh_from_db()
    try:
        services.stage_update(actor=request.user, stage=stage, data=form.cleaned_data)
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "opportunities/stage_form.html", context, status=422)
    messages.success(request, _("Stage saved."))
    return redirect("opportunities:stage-settings")


@tenant_view("opportunity.settings")
@require_POST
def stage_delete(request, pk: int):
    stage = get_object_or_404(
        OpportunityStage.objects.filter(tenant_id=request.user.tenant_id), pk=pk
    )
    try:
        services.stage_delete(actor=request.user, stage=stage)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Stage %(name)s deleted.") % {"name": stage.name})
    return redirect("opportunities:stage-settings")


@tenant_view("opportunity.settings")
@require_POST
def stage_move(request, pk: int):
    """上移 / 下移 an open stage (the won and lost stages stay last)."""
    stage = get_object_or_404(
        OpportunityStage.objects.filter(tenant_id=request.user.tenant_id), pk=pk
    )
    try:
        services.stage_move(
            actor=request.user, stage=stage, up=request.POST.get("direction") == "up"
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return redirect("opportunities:stage-settings")
