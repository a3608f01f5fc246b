"""Customer, contact and follow-up pages. Thin: parse, one selector, at most one service,
render. Every object comes through a selector that answers 404 for what the user may not
see."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm import recent
from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.models import OptionKind
from crm.selectors import activity_timeline, options_for
from crm.services import assignable_users
from crm.views.base import tenant_view
from crm.views.lists import (
    OffsetPage,
    back_url,
    cursor_for,
    cursor_read,
    offset_page,
    page_size,
)
from customers import hooks, owned, policies, selectors, services
from customers.filters import ContactFilter, CustomerFilter
from customers.forms import (
    AttachmentForm,
    BatchForm,
    CommentForm,
    ContactForm,
    CustomerForm,
    FollowUpForm,
    MergeForm,
    ParticipantForm,
    SavedSearchForm,
)
from customers.models import (
    Attachment,
    Customer,
    CustomerParticipant,
    CustomerUserObjectPermission,
    OwnershipEvent,
    SavedSearch,
)


def _cursor_read(request, sort: str) -> tuple[int, list, bool] | None:
    return cursor_read(request, sort, selectors.sort_key_parse)


def keyset_page(
    request, rows, sort: str, per_page: int | None = None, total: int | None = None
) -> OffsetPage:
    """A page of a customer_list in the order ``sort``: from the request's cursor when it
    carries one (``?after=`` the last row of the page before, ``?before=`` the first of the
    page after), else ``?page=N`` (what a user types). The page's previous and next links
    carry cursors for the sorts selectors.KEYSETS knows; the others keep page numbers.

    PERF: same queries as offset_page, but a deep page reached by its links seeks the key
    instead of skipping (N - 1) × per_page rows."""
    per_page = per_page or page_size(request)
    cursor = _cursor_read(request, sort) if sort in selectors.KEYSETS else None
    if cursor is None:
        page = offset_page(request, rows, per_page, total)
    else:
        number, key, backwards = cursor
        after = selectors.customer_list_after(rows, sort=sort, key=key, backwards=backwards)
        got = list(after[: per_page + 1])
        more = len(got) > per_page
        got = got[:per_page]
        if backwards:
            got.reverse()
            # Nothing further back: this is the first page, whatever the cursor said.
            page = OffsetPage(got, max(number, 2) if more else 1, has_next=True, per_page=per_page)
        else:
            page = OffsetPage(got, number, more, per_page=per_page)
    if sort in selectors.KEYSETS and page.items:
        if page.has_next:
            last = selectors.sort_key(sort, page.items[-1])
            page.next_cursor = cursor_for(sort, page.number + 1, last)
        if page.number > 2:  # page 1 is the plain list
            first = selectors.sort_key(sort, page.items[0])
            page.previous_cursor = cursor_for(sort, page.number - 1, first)
    return page


# ---------------------------------------------------------------- list


# The sortable columns of the customer list: column → (label, sort, reverse sort, direction).
SORT_COLUMNS = {
    "name": (gettext_lazy("Customer"), "name", None, "asc"),
    "status": (gettext_lazy("Status"), "status", None, "asc"),
    "level": (gettext_lazy("Level"), "level", None, "asc"),
    "last_followup": (gettext_lazy("Last follow-up"), "last_followup", None, "desc"),
    "next_followup": (
        gettext_lazy("Next follow-up"),
        "next_followup_soon",
        "next_followup",
        "asc",
    ),
    "created": (gettext_lazy("Created"), "created", None, "desc"),
}


def list_chips(request, *, tenant_id: int, level_kind: str) -> list:
    """The quick filters of a customer or lead list: 今日待跟进, 已逾期, 3 天内掉公海, the top
    level (A 级) and 本周新建 (one query: the top level option)."""
    from crm.views.lists import chips, this_monday

    top = options_for(tenant_id=tenant_id, kind=level_kind).first()
    monday = this_monday()
    specs = [
        ("due_today", _("Due today"), {"due": "today"}),
        ("overdue", _("Overdue"), {"due": "overdue"}),
        ("recycle_soon", _("Into the pool within 3 days"), {"recycle_within": 3}),
    ]
    if top is not None:
        specs.append(("top_level", top.label, {"level": top.pk}))
    specs.append(("this_week", _("Created this week"), {"created_after": monday.isoformat()}))
    return chips(request, specs)


def _list_context(request, view: str):
    from crm.views.lists import sort_headers, work_list_sort

    actor = request.user
    base = selectors.customer_base(actor=actor, view=view)
    filterset = CustomerFilter(request.GET or None, queryset=base, request=request)
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else base
    sort = request.GET.get("sort") or work_list_sort(request, view)
    if sort not in selectors.SORTS:
        sort = work_list_sort(request, view)
    rows = selectors.customer_list(actor=actor, queryset=qs, sort=sort, contacts=True)
    counts = selectors.view_counts(actor=actor)
    filtered = bool(filterset.is_bound and filterset.active_filters)
    # Unfiltered, the list is the view's own: its tab count is the total (one count less).
    total, capped = counts[view] if view in counts and not filtered else selectors.capped_count(qs)
    page = keyset_page(request, rows, sort, total=None if capped else total)
    return {
        "view": view,
        "views": selectors.VIEWS,
        "counts": counts,
        "filter": filterset,
        "page": _with_forecasts(page.counted(total, capped), actor),
        "total": total,
        "capped": capped,
        "sort": sort,
        "sorts": selectors.SORT_LABELS,
        "headers": sort_headers(request, sort, SORT_COLUMNS),
        "chips": list_chips(
            request, tenant_id=actor.tenant_id, level_kind=OptionKind.CUSTOMER_LEVEL
        ),
        "keep": {"view": view},
        "saved_searches": selectors.saved_searches(actor=actor),
        "batch_form": BatchForm(tenant_id=actor.tenant_id),
        # 退回公海 from the batch bar: its modal's form (the reasons are read when rendered).
        "return_form": batch_return_form(actor),
        "query": request.GET.urlencode(),
        "filtered": filtered,
    }


def batch_return_form(actor, data=None):
    """The 退回公海 form of the customer list's batch bar (its reason modal)."""
    from customers import pooling
    from pools.forms.actions import ReturnForm

    return ReturnForm(data, tenant_id=actor.tenant_id, kind=pooling.KIND)


def _with_forecasts(page: OffsetPage, actor) -> OffsetPage:
    """Mark each row with when (and why) the pool will take it back (a fixed number of
    queries: the page's groups with their level rules, and the exemption hooks)."""
    from django.utils import timezone

    from crm import masking
    from customers.subjects import forecasts_for

    now = timezone.now()
    forecasts = forecasts_for(page.items)
    # The card's phone (a tel: link) only as the masking layer shows it.
    hidden = masking.hidden_fields_many(actor, page.items) if page.items else {}
    for customer in page.items:
        customer.forecast = forecasts.get(customer.pk)
        customer.hidden = hidden.get(customer.pk, frozenset())
        # 已逾期: the next follow-up has passed (the row and its phone card marked red).
        customer.overdue = bool(customer.next_followup_at and customer.next_followup_at < now)
        contacts = getattr(customer, "_prefetched_objects_cache", {}).get("contacts")
        customer.primary_contact = contacts[0] if contacts else None
    return page


@tenant_view()
def customer_list(request):
    view = request.GET.get("view") or "mine"
    if view not in selectors.VIEW_KEYS:
        view = "mine"  # an unknown or outdated view (an old bookmark): the default list
    context = _list_context(request, view)
    if request.htmx and request.htmx.target == "customer-results":
        return render(request, "customers/customer_list.html#results", context)
    return render(request, "customers/customer_list.html", context)


@tenant_view()
@require_POST
def customer_batch(request):
    """One request, all-or-nothing, for the rows ticked in the list."""
    actor = request.user
    form = BatchForm(request.POST, tenant_id=actor.tenant_id)
    back = back_url(request, reverse("customers:customer-list"))
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        messages.error(request, " ".join(map(str, errors)) or _("Select at least one customer."))
        return redirect(back)
    data = form.cleaned_data
    ids, action = data["ids"], data["action"]
    try:
        if action == "transfer":
            services.customer_transfer(
                actor=actor,
                customers=ids,
                to_user=data["to_user"],
                with_related=data["with_related"],
            )
        elif action == "participants":
            services.customer_participants_add(
                actor=actor, customers=ids, users=data["users"], can_edit=data["can_edit"]
            )
        elif action == "status":
            services.customer_status_set(actor=actor, customers=ids, status=data["status"])
        elif action in ("tag_add", "tag_remove"):
            with transaction.atomic():
                tag = services.tag_get_or_create(actor=actor, name=data["tag_name"])
                key = "add" if action == "tag_add" else "remove"
                services.customer_tags_change(actor=actor, customers=ids, **{key: [tag]})
        elif action in ("star", "unstar"):
            services.customer_star(actor=actor, customers=ids, starred=action == "star")
        elif action == "trash":
            services.customer_trash(actor=actor, customers=ids)
        elif action == "restore":
            services.customer_restore(actor=actor, customers=ids)
        elif action == "purge":
            services.customer_purge(actor=actor, customers=ids)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect(back)
    if action == "transfer":
        messages.success(request, _transferred_message(actor, ids, data["to_user"]))
    else:
        messages.success(request, _("Done: %(count)d customers.") % {"count": len(ids)})
    return redirect(back)


def _transferred_message(actor, ids, to_user):
    """The message "已转移 2 个客户给 陈静：A、B": the customers by name, links where the actor sees
    them (pools.views.actions.record_names, escaped)."""
    from django.utils.translation import ngettext

    from pools.views.actions import record_names, safe_format

    rows = list(Customer.objects.filter(tenant_id=actor.tenant_id, pk__in=ids).order_by("pk"))
    return safe_format(
        ngettext(
            "Transferred %(count)d customer to %(user)s: %(names)s",
            "Transferred %(count)d customers to %(user)s: %(names)s",
            len(ids),
        ),
        count=len(ids),
        user=str(to_user),
        names=record_names(actor, rows, detail="customers:customer-detail"),
    )


# ---------------------------------------------------------------- create / edit


def _customer_form_view(request, customer: Customer | None):
    actor = request.user
    creating = customer is None
    form = CustomerForm(
        request.POST or None, instance=customer, tenant_id=actor.tenant_id, creating=creating
    )
    context = {"form": form, "customer": customer, "duplicates": None}
    if request.method != "POST":
        return render(request, "customers/customer_form.html", context)
    if not form.is_valid():
        return render(request, "customers/customer_form.html", context, status=422)
    data = form.cleaned_data
    try:
        if creating:
            customer = services.customer_create(
                actor=actor,
                data=form.customer_data(),
                contact_name=data["contact_name"],
                contact_phone=data["contact_phone"],
                tags=data["tags"],
                confirm_duplicates=data["confirm_duplicates"],
            )
            messages.success(request, _("Customer %(name)s was created.") % {"name": customer})
        else:
            customer.refresh_from_db()
            services.customer_update(
                actor=actor,
                customer=customer,
                data=form.customer_data(),
                tags=data["tags"],
                confirm_duplicates=data["confirm_duplicates"],
            )
            messages.success(request, _("Customer saved."))
    except services.DuplicateCustomerError as exc:
        context["duplicates"] = selectors.duplicate_rows(actor=actor, customers=exc.matches)
        form.add_error(None, str(exc.message))
        return render(request, "customers/customer_form.html", context, status=422)
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "customers/customer_form.html", context, status=422)
    return redirect("customers:customer-detail", pk=customer.pk)


@tenant_view()
@once
def customer_create(request):
    return _customer_form_view(request, None)


@tenant_view()
def customer_edit(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    if not policies.may_edit(request.user, customer):
        messages.error(request, _("This customer is locked or read-only for you."))
        return redirect("customers:customer-detail", pk=pk)
    return _customer_form_view(request, customer)


@tenant_view()
def duplicate_check(request):
    """While typing in the customer form (htmx): possible duplicates by name and phone.
    SECURITY (issue 15): a customer the user may not open shows only who owns it; searches
    are throttled per user (429 with the message in the warning's place)."""
    from crm import throttling

    name = request.GET.get("name", "").strip()
    phone = request.GET.get("contact_phone", "").strip()
    phone = phone if len(phone) >= selectors.DUPLICATE_TYPED_PHONE_MIN else ""
    exclude = request.GET.get("exclude", "")
    template = "customers/customer_form.html#duplicate-warning"
    if not (selectors.duplicate_name_long_enough(name) or phone):
        return render(request, template, {"duplicates": []})
    if not throttling.duplicate_check_allowed(request.user):
        context = {"duplicates": [], "duplicate_error": throttling.DUPLICATE_CHECK_REFUSED}
        return render(request, template, context, status=429)
    rows = selectors.duplicate_search(
        actor=request.user,
        name=name,
        phone=phone,
        exclude=int(exclude) if exclude.isdigit() else None,
    )
    return render(request, template, {"duplicates": rows})


@tenant_view()
def duplicates_page(request):
    """查重: search names and phones across the whole tenant, the pool included.

    SECURITY (issue 15): at least DUPLICATE_MIN_CHARS characters of the name (or digits of the
    phone), else a message and no query (422); a customer the user may not open shows only
    that it exists and who owns it (or that it lies in the pool); at most
    DUPLICATE_CHECK_PER_MINUTE searches per user and minute, then 429 with a message."""
    from crm import throttling

    name = request.GET.get("name", "").strip()
    phone = request.GET.get("phone", "").strip()
    context = {
        "rows": None,
        "name": name,
        "phone": phone,
        "error": "",
        "min_chars": selectors.DUPLICATE_MIN_CHARS,
    }
    template = "customers/customer_duplicates.html"
    if not (name or phone):
        return render(request, template, context)
    if (name and not selectors.duplicate_name_long_enough(name)) or (
        phone and not selectors.duplicate_phone_long_enough(phone)
    ):
        context["error"] = _(
            "Enter at least %(count)d characters of the name or %(count)d digits of the phone "
            "number. Nothing was searched."
        ) % {"count": selectors.DUPLICATE_MIN_CHARS}
        return render(request, template, context, status=422)
    if not throttling.duplicate_check_allowed(request.user):
        context["error"] = throttling.DUPLICATE_CHECK_REFUSED
        return render(request, template, context, status=429)
    context["rows"] = selectors.duplicate_search(actor=request.user, name=name, phone=phone)
    return render(request, template, context)


# ---------------------------------------------------------------- detail and tabs

TABS = [
    ("overview", gettext_lazy("Overview")),
    ("followups", gettext_lazy("Follow-ups")),
    ("contacts", gettext_lazy("Contacts")),
    ("participants", gettext_lazy("Participants")),
    ("attachments", gettext_lazy("Attachments")),
    ("ownership", gettext_lazy("Ownership history")),
    ("activity", gettext_lazy("Activity")),
]


def detail_tabs() -> list[tuple]:
    """The page's tabs: its own, with those later modules register (customers.hooks)
    before the two history tabs."""
    extra = [(t.key, t.label) for t in hooks.detail_tabs()]
    return TABS[:-2] + extra + TABS[-2:]


def _tab_context(request, customer: Customer, tab: str) -> dict:
    actor = request.user
    from pools.selectors import hidden_fields_for

    context = {
        "customer": customer,
        "tab": tab,
        "can_edit": policies.may_edit(actor, customer),
        "can_follow_up": policies.may_follow_up(actor, customer),
        # Pool rules: fields hidden while the customer lies in the pool (seed 001).
        "hidden": hidden_fields_for(actor, customer),
    }
    if tab == "overview":
        context["contacts"] = list(customer.contacts.all()[:5])
        context["followup_count"] = customer.followups.count()
        context["recent"] = list(customer.followups.select_related("kind", "created_by")[:3])
    elif tab == "followups":
        context["followups"] = list(
            customer.followups.select_related("kind", "created_by", "contact").prefetch_related(
                "comments__author", "attachments"
            )[:100]
        )
        context["form"] = FollowUpForm(record=customer, actor=actor)
        context["commentable"] = commentable_followups(actor, context["followups"])
    elif tab == "contacts":
        context["contacts"] = list(customer.contacts.all())
        context["form"] = ContactForm()
    elif tab == "participants":
        rows = list(
            CustomerParticipant.objects.filter(customer=customer)
            .select_related("user", "added_by")
            .order_by("created_at")
        )
        editors = set(
            CustomerUserObjectPermission.objects.filter(content_object=customer).values_list(
                "user_id", flat=True
            )
        )
        context["participants"] = [{"row": r, "can_edit": r.user_id in editors} for r in rows]
        context["form"] = ParticipantForm(tenant_id=actor.tenant_id)
    elif tab == "attachments":
        context["attachments"] = list(customer.attachments.select_related("uploaded_by"))
        context["form"] = AttachmentForm()
    elif tab == "ownership":
        context["events"] = list(
            OwnershipEvent.objects.filter(customer=customer).select_related(
                "from_user", "to_user", "actor", "pool_group"
            )
        )
    elif tab == "activity":
        context["activity"] = activity_timeline(actor=actor, obj=customer)
    elif (extra := hooks.detail_tab(tab)) is not None:
        context.update(extra.context(request, customer))
        context["tab_template"] = extra.template
    return context


@tenant_view()
def customer_detail(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    recent.record_view(request, "customer", customer)  # 最近浏览
    tab = request.GET.get("tab", "overview")
    tabs = detail_tabs()
    if tab not in dict(tabs):
        tab = "overview"
    context = _tab_context(request, customer, tab)
    context.update(_header_context(request, customer))
    context["tabs"] = tabs
    return render(request, "customers/customer_detail.html", context)


def _header_context(request, customer: Customer) -> dict:
    """What the page's header shows: owner, status, last and next follow-up, the pool
    countdown, the primary contact (its phone and e-mail only when the masking layer shows
    them) and the actions. The same for the page and for the header re-rendered out of band
    after an htmx action (record_page_response, _tab_response)."""
    from pools.selectors import hidden_fields_for

    actor = request.user
    # Contact.Meta.ordering: the decision maker first, then the first entered.
    primary = customer.contacts.first()
    context = {
        "customer": customer,
        "can_edit": policies.may_edit(actor, customer),
        "can_follow_up": policies.may_follow_up(actor, customer),
        "hidden": hidden_fields_for(actor, customer),
        "primary_contact": primary,
        "tags": list(customer.tags.order_by("name")),
        "is_starred": customer.customerstar_set.filter(user=actor).exists(),
        "days_since": customer.days_since_followup(),
        "page_url": reverse("customers:customer-detail", args=[customer.pk]),
    }
    context.update(_pool_context(request, customer))
    return context


def _current_tab(request) -> str:
    """The tab open in the browser when an htmx action was posted from the page (its URL,
    kept current by the tabs' hx-push-url, arrives as HX-Current-URL)."""
    from urllib.parse import parse_qs, urlsplit

    url = (request.htmx.current_url if request.htmx else None) or ""
    tab = parse_qs(urlsplit(url).query).get("tab", ["overview"])[0]
    return tab if tab in dict(detail_tabs()) else "overview"


def _oob_parts(request, context: dict, *names: str) -> str:
    """Partials of the customer page rendered out of band (``oob`` set in their context)."""
    context = {**context, "oob": True}
    return "".join(
        render_to_string(f"customers/customer_detail.html#{name}", context, request)
        for name in names
    )


def record_page_response(request, pk: int):
    """The answer to an htmx action posted from a customer's page (a claim, a return…):
    nothing swapped in place, but the header, the tab bar and the open tab out of band,
    with the messages. When the actor no longer sees the customer, the browser goes to the
    list (the messages wait there)."""
    from django.http import HttpResponse
    from django_htmx.http import HttpResponseClientRedirect

    from crm.visibility import visible_to
    from pools.views.actions import modal_refused

    if not visible_to(request.user, Customer.objects.alive()).filter(pk=pk).exists():
        return HttpResponseClientRedirect(reverse("customers:customer-list"))
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    if modal_refused(request, "return-modal"):
        # 退回公海 without a reason: the modal again, its errors under its fields (no message).
        form, fields = _return_form(request.user, customer, request.POST)
        form.is_valid()
        context = {"customer": customer, "return_form": form, "return_fields": fields}
        context.update(page_url=reverse("customers:customer-detail", args=[pk]), form_only=True)
        return render(request, "customers/customer_detail.html#return-modal", context, status=422)
    tab = _current_tab(request)
    context = _tab_context(request, customer, tab)
    context.update(_header_context(request, customer), tabs=detail_tabs())
    response = HttpResponse(_oob_parts(request, context, "record-header", "tab-bar", "tab-body"))
    response.write(render_to_string("customers/customer_detail.html#oob-messages", {}, request))
    return response


def _pool_context(request, customer: Customer) -> dict:
    """The pool part of the customer page: when (and why) it will be recycled, or why it
    lies in the pool, and the pool actions the user may take here."""
    from customers import pooling
    from customers.subjects import customer_forecast
    from pools.forms.actions import AssignForm

    actor = request.user
    if customer.in_pool:
        return {
            "in_pool": True,
            "can_claim": policies.may_claim(actor, customer),
            "assign_form": (
                AssignForm(tenant_id=actor.tenant_id, kind=pooling.KIND)
                if policies.may_assign(actor, customer)
                else None
            ),
        }
    context = {"in_pool": False, "forecast": customer_forecast(customer)}
    if pooling.customer_may_return(actor=actor, customer=customer):
        context["return_form"], context["return_fields"] = _return_form(actor, customer)
    return context


def _return_form(actor, customer: Customer, data=None):
    """The 退回公海 form of the customer page (its groups: those the customer may go back to)
    and the fields its modal shows (the group only when there is a choice)."""
    from customers import pooling
    from pools.forms.actions import ReturnForm

    form = ReturnForm(data, tenant_id=actor.tenant_id, kind=pooling.KIND)
    targets = pooling.customer_return_targets(actor=actor, customer=customer)
    form.fields["group"].queryset = form.fields["group"].queryset.filter(
        pk__in=[g.pk for g in targets]
    )
    return form, "reason note group" if len(targets) > 1 else "reason note"


@tenant_view()
def customer_tab(request, pk: int, tab: str):
    if tab not in dict(detail_tabs()):
        raise Http404
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    context = _tab_context(request, customer, tab)
    template = context.get("tab_template") or f"customers/customer_detail.html#tab-{tab}"
    response = render(request, template, context)
    # The tab bar follows the loaded tab (out of band): the clicked one is highlighted.
    response.write(_oob_parts(request, {**context, "tabs": detail_tabs()}, "tab-bar"))
    return response


def commentable_followups(actor, followups) -> set[int]:
    """The ids of the follow-ups of a record's follow-ups tab the actor may comment on
    (customers.policies.may_comment). PERF: the rule reads only the actor's data scope,
    read once per request (owner_scope), so the tab's queries do not grow with its rows."""
    return {f.pk for f in followups if policies.may_comment(actor, f)}


# The tab shows its form only to users with this right (see _tab_context).
_TAB_FORM_RIGHT = {"followups": "can_follow_up", "contacts": "can_edit"}


def _tab_response(request, customer, tab, status=200, **extra):
    """After an action on the detail page: the tab fragment for htmx, else a redirect.

    For htmx the messages travel out of band (into ``#messages``), so a refusal or a
    success is shown now and not on some later page."""
    if request.htmx:
        context = _tab_context(request, customer, tab)
        context.update(extra)
        form, right = extra.get("form"), _TAB_FORM_RIGHT.get(tab)
        if form is not None and right and not context[right]:
            # The tab has no form for this user to show the refusal on.
            for error in form.non_field_errors():
                messages.error(request, error)
        response = render(
            request, f"customers/customer_detail.html#tab-{tab}", context, status=status
        )
        # The header (last / next follow-up, pool countdown, owner, primary contact) and the
        # tab bar out of band: the page never shows what the action just changed as stale.
        header = {**context, **_header_context(request, customer), "tabs": detail_tabs()}
        response.write(_oob_parts(request, header, "record-header", "tab-bar"))
        response.write(render_to_string("customers/customer_detail.html#oob-messages", {}, request))
        return response
    url = reverse("customers:customer-detail", args=[customer.pk]) + f"?tab={tab}"
    return redirect(url)


@tenant_view()
@require_POST
def customer_lock(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    try:
        services.customer_lock(actor=request.user, customer=customer, locked=not customer.is_locked)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    if request.htmx:  # from the page: its header (and tab) out of band
        return record_page_response(request, pk)
    return redirect("customers:customer-detail", pk=pk)


@tenant_view()
@require_POST
def customer_star(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    # The button says what it wants (starred=1 / 0): a double click stars once instead of
    # starring and unstarring. Without it (an old page), the button toggles.
    wanted = request.POST.get("starred")
    if wanted in ("0", "1"):
        starred = wanted == "1"
    else:
        starred = not customer.customerstar_set.filter(user=request.user).exists()
    services.customer_star(actor=request.user, customers=[customer], starred=starred)
    if request.htmx:  # from the page: its header out of band
        return record_page_response(request, pk)
    return redirect(back_url(request, reverse("customers:customer-detail", args=[pk])))


@tenant_view()
@require_POST
@once
def participants_add(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    form = ParticipantForm(request.POST, tenant_id=request.user.tenant_id)
    if form.is_valid():
        try:
            services.customer_participants_add(
                actor=request.user,
                customers=[customer],
                users=form.cleaned_data["users"],
                can_edit=form.cleaned_data["can_edit"],
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
    else:
        messages.error(request, _("Choose at least one person."))
    return _tab_response(request, customer, "participants")


@tenant_view()
@require_POST
def participant_remove(request, pk: int, user_pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    row = get_object_or_404(CustomerParticipant.objects.filter(customer=customer), user_id=user_pk)
    try:
        services.customer_participant_remove(actor=request.user, customer=customer, user=row.user)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return _tab_response(request, customer, "participants")


# ---------------------------------------------------------------- follow-ups


@tenant_view()
@require_POST
@once
def followup_create(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    return followup_add_response(
        request,
        record=customer,
        tab_response=_tab_response,
        detail_url=reverse("customers:customer-detail", args=[pk]),
    )


def followup_add_response(request, *, record, tab_response, detail_url: str):
    """The follow-up form posted on the page of an owned record (a customer's, a lead's…):
    the follow-up and its file are saved together, then ``tab_response`` answers with the
    follow-ups tab; a refused form comes back in the tab with 422 for htmx, else as a
    message on ``detail_url``'s follow-ups tab."""
    form = FollowUpForm(request.POST, request.FILES, record=record)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                followup = services.followup_create(
                    actor=request.user,
                    record=record,
                    kind=data["kind"],
                    contact=data.get("contact"),  # a lead's form has no contacts
                    content=data["content"],
                    followed_at=data["followed_at"],
                    next_followup_at=data["next_followup_at"],
                )
                if data["attachment"]:
                    services.attachment_add(
                        actor=request.user,
                        record=record,
                        upload=data["attachment"],
                        followup=followup,
                    )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("Follow-up saved."))
            record.refresh_from_db()
            return tab_response(request, record, "followups")
    if request.htmx:
        return tab_response(request, record, "followups", status=422, form=form)
    messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect(detail_url + "?tab=followups")


@tenant_view()
@require_POST
@once
def followup_comment(request, pk: int):
    followup = selectors.followup_get_for_actor(actor=request.user, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.followup_comment(
                actor=request.user, followup=followup, content=form.cleaned_data["content"]
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
    else:
        messages.error(request, _("Write a comment."))
    return redirect(back_url(request, reverse("customers:followup-feed")))


@tenant_view()
def followup_feed(request):
    from django.utils import timezone

    from crm.views.lists import chips, this_monday

    scope = "team" if request.GET.get("scope") == "team" else "mine"
    qs = _filtered_feed(request, scope)
    total, capped = selectors.capped_count(qs)
    today, monday = timezone.localdate(), this_monday()
    return render(
        request,
        "customers/followup_feed.html",
        {
            "scope": scope,
            "page": offset_page(request, qs, total=None if capped else total).counted(
                total, capped
            ),
            "chips": chips(
                request,
                [
                    ("today", _("Today"), {"start": today.isoformat()}),
                    ("this_week", _("This week"), {"start": monday.isoformat()}),
                    ("this_month", _("This month"), {"start": today.replace(day=1).isoformat()}),
                ],
            ),
            "advanced": any(request.GET.get(k) for k in ("end", "kind", "person")),
            "filtered": any(
                request.GET.get(k) for k in ("q", "start", "end", "kind", "person", "customer")
            ),
            "comment_form": CommentForm(),
            "query": request.GET.urlencode(),
            "kinds": options_for(tenant_id=request.user.tenant_id, kind=OptionKind.FOLLOWUP_TYPE),
            "people": _people_in_scope(request.user) if scope == "team" else None,
            "params": request.GET,
        },
    )


def _people_in_scope(actor):
    """The people whose follow-ups the actor sees in the team feed (the person filter)."""
    from crm.visibility import owner_scope

    return assignable_users(actor.tenant_id).filter(owner_scope(actor).q("pk"))


def _filtered_feed(request, scope: str):
    from django.utils.dateparse import parse_date

    qs = selectors.followup_feed(actor=request.user, scope=scope)
    start, end = (
        parse_date(request.GET.get("start") or ""),
        parse_date(request.GET.get("end") or ""),
    )
    if start:
        qs = qs.filter(followed_at__date__gte=start)
    if end:
        qs = qs.filter(followed_at__date__lte=end)
    if (kind := request.GET.get("kind", "")).isdigit():
        qs = qs.filter(kind_id=int(kind))
    if (person := request.GET.get("person", "")).isdigit():
        qs = qs.filter(created_by_id=int(person))
    if (customer := request.GET.get("customer", "")).isdigit():
        qs = qs.filter(customer_id=int(customer))
    if (contact := request.GET.get("contact", "")).isdigit():
        qs = qs.filter(contact_id=int(contact))
    if text := (request.GET.get("q") or "").strip()[:100]:
        qs = qs.filter(Q(content__contains=text) | Q(customer__name__contains=text))
    return qs


# ---------------------------------------------------------------- exports (crm.exporting)


@tenant_view("customer.export")
@require_POST
@once(vary=("rows", "ids"))  # crm.views.exports.EXPORT_ONCE_VARY: a double click exports once
def customer_export(request):
    """导出 (a POST, crm.views.exports): the customer list as filtered (the query string of
    the form's action), or the ticked rows."""
    from crm.views.exports import export_response

    return export_response(request, "customers")


@tenant_view("customer.export")
@require_POST
@once(vary=("rows", "ids"))  # crm.views.exports.EXPORT_ONCE_VARY: a double click exports once
def contact_export(request):
    from crm.views.exports import export_response

    return export_response(request, "contacts")


@tenant_view("customer.export")
@require_POST
@once(vary=("rows", "ids"))  # crm.views.exports.EXPORT_ONCE_VARY: a double click exports once
def followup_export(request):
    """The feed (我的跟进 / 团队跟进) as filtered, or the ticked follow-ups, as xlsx (POST)."""
    from crm.views.exports import export_response

    return export_response(request, "followups")


# ---------------------------------------------------------------- contacts


# The contact list's orders and its sortable columns (crm.views.lists.sort_headers).
CONTACT_SORTS = {
    "created": ("-created_at", "-id"),
    "name": ("name", "id"),
    "customer": ("customer__name", "customer_id", "id"),
}
CONTACT_SORT_COLUMNS = {
    "name": (gettext_lazy("Name"), "name", None, "asc"),
    "customer": (gettext_lazy("Customer"), "customer", None, "asc"),
}


@tenant_view()
def contact_list(request):
    from crm import masking
    from crm.views.lists import chips, sort_headers

    filterset = ContactFilter(
        request.GET or None, queryset=selectors.contact_list(actor=request.user), request=request
    )
    qs = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    sort = request.GET.get("sort") if request.GET.get("sort") in CONTACT_SORTS else "created"
    total, capped = selectors.capped_count(qs)
    rows = qs.order_by(*CONTACT_SORTS[sort])
    page = offset_page(request, rows, total=None if capped else total).counted(total, capped)
    # A number or address shows (and links) only as the masking layer shows its customer's.
    hidden = masking.hidden_fields_many(request.user, [ct.customer for ct in page.items])
    for contact in page.items:
        contact.hidden = hidden.get(contact.customer_id, frozenset())
    context = {
        "filter": filterset,
        "page": page,
        "sort": sort,
        "headers": sort_headers(request, sort, CONTACT_SORT_COLUMNS),
        "filtered": bool(filterset.is_bound and filterset.active_filters),
        "chips": chips(
            request, [("decision_maker", _("Decision makers"), {"is_decision_maker": "true"})]
        ),
    }
    return render(request, "customers/contact_list.html", context)


@tenant_view()
@require_POST
@once
def contact_create(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    form = ContactForm(request.POST)
    if form.is_valid():
        try:
            services.contact_create(actor=request.user, customer=customer, data=form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            return _tab_response(request, customer, "contacts")
    if request.htmx:
        return _tab_response(request, customer, "contacts", status=422, form=form)
    messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect(reverse("customers:customer-detail", args=[pk]) + "?tab=contacts")


@tenant_view()
def contact_edit(request, pk: int):
    contact = selectors.contact_get_for_actor(actor=request.user, pk=pk)
    back = reverse("customers:customer-detail", args=[contact.customer_id]) + "?tab=contacts"
    if not policies.may_edit(request.user, contact.customer):
        # Visible (a public or participated customer) but read-only: no form to fill in vain.
        messages.error(request, _("This customer is locked or read-only for you."))
        return redirect(back)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.contact_update(actor=request.user, contact=contact, data=form.cleaned_data)
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("Contact saved."))
                return redirect(back)
        contact.refresh_from_db()
        return render(
            request, "customers/contact_form.html", {"form": form, "contact": contact}, status=422
        )
    return render(request, "customers/contact_form.html", {"form": form, "contact": contact})


@tenant_view()
@require_POST
def contact_delete(request, pk: int):
    contact = selectors.contact_get_for_actor(actor=request.user, pk=pk)
    customer_id = contact.customer_id
    try:
        services.contact_delete(actor=request.user, contact=contact)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    return redirect(reverse("customers:customer-detail", args=[customer_id]) + "?tab=contacts")


# ---------------------------------------------------------------- attachments


@tenant_view()
@require_POST
@once
def attachment_create(request, pk: int):
    customer = selectors.customer_get_for_actor(actor=request.user, pk=pk)
    return attachment_add_response(request, record=customer, tab_response=_tab_response)


def attachment_add_response(request, *, record, tab_response):
    """A file uploaded on the files tab of an owned record (a customer's, a lead's…);
    ``tab_response`` answers with the tab, a refusal travelling as a message."""
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.attachment_add(
                actor=request.user, record=record, upload=form.cleaned_data["file"]
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
    else:
        messages.error(request, _("Choose a file."))
    return tab_response(request, record, "attachments")


def attachment_file_response(attachment: Attachment) -> FileResponse:
    """The file of an attachment the user may see, as a download (404 when it is gone)."""
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    return FileResponse(handle, as_attachment=True, filename=attachment.original_name)


def attachment_delete_or_message(request, attachment: Attachment) -> None:
    """Delete an attachment the user may see; a refusal becomes a message."""
    try:
        services.attachment_delete(actor=request.user, attachment=attachment)
    except ServiceError as exc:
        messages.error(request, str(exc.message))


def _attachment_for(request, pk: int) -> Attachment:
    """SECURITY: a file is served only to users who see its customer, or its record when it
    has no customer (a file of a converted lead is on both: seeing the customer is enough
    here, the lead's page asks for the lead)."""
    attachment = get_object_or_404(
        Attachment.objects.filter(tenant_id=request.user.tenant_id), pk=pk
    )
    if attachment.customer_id is None:
        # The record's own module decides who sees it (customers never imports leads).
        record_kind = owned.kind_for_type(attachment.record_type_id)
        record_kind.get_for_actor(actor=request.user, pk=attachment.record_id)
    else:
        selectors.customer_get_for_actor(actor=request.user, pk=attachment.customer_id)
    return attachment


@tenant_view()
def attachment_download(request, pk: int):
    return attachment_file_response(_attachment_for(request, pk))


@tenant_view()
@require_POST
def attachment_delete(request, pk: int):
    attachment = _attachment_for(request, pk)
    customer = attachment.customer
    attachment_delete_or_message(request, attachment)
    if customer is None:  # a file of another record (a lead's): back to its files
        record_kind = owned.kind_for_type(attachment.record_type_id)
        return redirect(record_kind.detail_url(attachment.record_id) + "?tab=attachments")
    return _tab_response(request, customer, "attachments")


# ---------------------------------------------------------------- merge, saved searches


@tenant_view("customer.delete")  # merging deletes the other customers
def customer_merge(request):
    raw = request.POST.getlist("ids") if request.method == "POST" else request.GET.getlist("ids")
    ids = [int(i) for i in raw if str(i).isdigit()]
    customers = list(
        selectors.customer_list(
            actor=request.user,
            queryset=selectors.customer_base(actor=request.user).filter(pk__in=ids),
        )
    )
    if len(customers) != len(set(ids)) or len(customers) < 2:
        messages.error(request, _("Select two or more customers you may see to merge."))
        return redirect("customers:customer-list")
    choices = [(c.pk, c.name) for c in customers]
    form = MergeForm(
        request.POST or None,
        choices=choices,
        initial={"keep": min(customers, key=lambda c: c.created_at).pk},
    )
    if request.method == "POST" and form.is_valid():
        keep_pk = form.cleaned_data["keep"]
        keep = next((c for c in customers if c.pk == keep_pk), None)
        if keep is None:
            raise Http404
        try:
            services.customer_merge(
                actor=request.user, keep=keep, others=[c.pk for c in customers if c.pk != keep_pk]
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Customers merged into %(name)s.") % {"name": keep})
            return redirect("customers:customer-detail", pk=keep_pk)
    return render(request, "customers/customer_merge.html", {"customers": customers, "form": form})


# The list each kind of saved search belongs to (the same services and UI serve both).
SAVED_SEARCH_LISTS = {
    SavedSearch.ListKind.CUSTOMERS: "customers:customer-list",
    SavedSearch.ListKind.LEADS: "leads:lead-list",
    SavedSearch.ListKind.OPPORTUNITIES: "opportunities:opportunity-list",
}


@tenant_view()
@require_POST
def saved_search_create(request):
    form = SavedSearchForm(request.POST)
    if form.is_valid():
        try:
            search = services.saved_search_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                query=form.cleaned_data["query"],
                list_kind=form.cleaned_data["list_kind"] or SavedSearch.ListKind.CUSTOMERS,
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Search saved."))
            return redirect(f"{reverse(SAVED_SEARCH_LISTS[search.list_kind])}?{search.query}")
    else:
        messages.error(request, _("Name the search."))
    kind = request.POST.get("list_kind")
    return redirect(
        back_url(request, reverse(SAVED_SEARCH_LISTS.get(kind, "customers:customer-list")))
    )


@tenant_view()
@require_POST
def saved_search_delete(request, pk: int):
    search = get_object_or_404(
        SavedSearch.objects.filter(tenant_id=request.user.tenant_id, user=request.user), pk=pk
    )
    services.saved_search_delete(actor=request.user, search=search)
    return redirect(SAVED_SEARCH_LISTS[search.list_kind])


def list_url(**params) -> str:
    return f"{reverse('customers:customer-list')}?{urlencode(params)}"
