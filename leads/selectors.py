"""Reads of leads for an actor: every list and detail starts from ``visible_to``
(crm.visibility). Leads lying in a pool are not in these lists (the lead pool list is
``leads.views.pool``'s)."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from crm.models import User
from crm.visibility import owner_scope, visible_to
from customers import owned
from customers.models import Attachment, FollowUp, SavedSearch, normalize_name
from customers.selectors import capped_count, saved_searches, today_bounds
from leads.models import Lead, LeadEvent

# The list views, named as users name them (DESIGN §5), in menu order.
VIEWS = [
    ("mine", _("My leads")),
    ("team", _("Team leads")),
    ("all", _("All")),
    ("today", _("Follow up today")),
    ("closed", _("Closed")),
    ("converted", _("Converted")),
]
VIEW_KEYS = {key for key, _label in VIEWS}

# Sort keys offered by the list; times sort newest first.
SORTS = {
    "created": ("-created_at", "-id"),
    "next_followup": (F("next_followup_at").desc(nulls_last=True), "-id"),
    # The work order of a day: the soonest next follow-up first (今日待跟进 by time of day).
    "next_followup_soon": (F("next_followup_at").asc(nulls_last=True), "id"),
    "last_followup": (F("last_followup_at").desc(nulls_last=True), "-id"),
    "company": ("company_normalized", "id"),
}
SORT_LABELS = {
    "created": _("Created"),
    "next_followup": _("Next follow-up, latest first"),
    "next_followup_soon": _("Next follow-up, soonest first"),
    "last_followup": _("Last follow-up"),
    "company": _("Company"),
}


def _visible(actor: User, qs: QuerySet) -> QuerySet:
    # The lists are the leads people own: pooled leads are the pool list's.
    return visible_to(actor, qs, include_pool=False)


def lead_base(*, actor: User, view: str = "mine") -> QuerySet:
    """The leads of one list view, visible to ``actor`` (never a pooled one). The work
    views (mine, team, all, today) hold open leads; closed and converted have their own."""
    if view not in VIEW_KEYS:
        raise Http404
    listed = Lead.objects.outside_pool()
    if view == "closed":
        return _visible(actor, listed.filter(status=Lead.Status.CLOSED))
    if view == "converted":
        return _visible(actor, listed.filter(status=Lead.Status.CONVERTED))
    qs = _visible(actor, listed.open())
    if view == "mine":
        return qs.filter(owner=actor)
    if view == "team":
        scope = owner_scope(actor)
        if scope.is_all:
            return qs.filter(owner__isnull=False).exclude(owner=actor)
        # PERF: nobody else in the scope (a rep's own scope) is an empty list without a query.
        if scope.is_alone:
            return qs.none()
        return qs.filter(scope.q("owner_id")).exclude(owner=actor)
    if view == "today":
        start, end = today_bounds()
        return qs.filter(next_followup_at__gte=start, next_followup_at__lt=end)
    return qs


def lead_list(
    *,
    actor: User,
    view: str = "mine",
    filters=None,
    sort: str = "created",
    queryset: QuerySet | None = None,
) -> QuerySet:
    """A page-ready list of one view (or of ``queryset``, a lead_base already filtered),
    filtered by ``filters`` (the list's query parameters, leads.filters.LeadFilter) and in
    the order ``sort``. PERF: owner, source and campaign joined: one query per page."""
    qs = queryset if queryset is not None else lead_base(actor=actor, view=view)
    if filters:
        from leads.filters import LeadFilter

        filterset = LeadFilter(filters, queryset=qs, request=_ActorRequest(actor))
        qs = filterset.qs if filterset.is_valid() else qs
    return qs.select_related("owner", "source", "campaign").order_by(
        *SORTS.get(sort, SORTS["created"])
    )


class _ActorRequest:
    """What the filter's choice querysets read of a request: its user."""

    def __init__(self, user: User):
        self.user = user


def view_counts(*, actor: User) -> dict[str, tuple[int, bool]]:
    """(count, capped) of every view (capped at customers.selectors.COUNT_CAP)."""
    return {key: capped_count(lead_base(actor=actor, view=key)) for key, _l in VIEWS}


def _visible_with_pool(actor: User, qs: QuerySet) -> QuerySet:
    """visible_to with the pooled leads the actor sees as a member of their lead pool."""
    return visible_to(actor, qs)


def lead_get_for_actor(*, actor: User, pk: int) -> Lead:
    """One visible lead (404 for missing, other tenant's and invisible ones); pooled leads
    for the members of their pool."""
    try:
        return (
            _visible_with_pool(actor, Lead.objects.all())
            .select_related(
                "owner",
                "created_by",
                "source",
                "campaign",
                "close_reason",
                "customer",
                "pool_group",
                "previous_owner",
                "converted_by",
                "converted_opportunity",
            )
            .get(pk=pk)
        )
    except Lead.DoesNotExist as exc:
        raise Http404 from exc


def lead_followups(*, lead: Lead) -> QuerySet:
    return (
        FollowUp.objects.filter(owned.on(lead), tenant_id=lead.tenant_id)
        .select_related("kind", "created_by")
        .prefetch_related("comments__author", "attachments")
        .order_by("-followed_at", "-id")
    )


def lead_attachments(*, lead: Lead) -> QuerySet:
    return (
        Attachment.objects.filter(owned.on(lead), tenant_id=lead.tenant_id)
        .select_related("uploaded_by")
        .order_by("-created_at", "-id")
    )


def lead_events(*, lead: Lead) -> QuerySet:
    return LeadEvent.objects.filter(tenant_id=lead.tenant_id, lead=lead).select_related(
        "from_user", "to_user", "actor", "pool_group", "rule"
    )


def lead_attachment_get_for_actor(*, actor: User, pk: int) -> Attachment:
    """SECURITY: a lead's file only for users who see the lead."""
    try:
        attachment = Attachment.objects.filter(owned.of_kind(Lead), tenant_id=actor.tenant_id).get(
            pk=pk
        )
    except Attachment.DoesNotExist as exc:
        raise Http404 from exc
    lead_get_for_actor(actor=actor, pk=attachment.record_id)
    return attachment


def lead_followups_due(*, actor: User) -> tuple[QuerySet, QuerySet]:
    """(due today, overdue) of the actor's own open leads, for the workbench."""
    start, end = today_bounds()
    mine = (
        Lead.objects.outside_pool()
        .open()
        .filter(tenant_id=actor.tenant_id, owner=actor)
        .order_by("next_followup_at", "id")
    )
    return (
        mine.filter(next_followup_at__gte=start, next_followup_at__lt=end),
        mine.filter(next_followup_at__lt=start),
    )


def lead_saved_searches(*, actor: User) -> QuerySet:
    return saved_searches(actor=actor, list_kind=SavedSearch.ListKind.LEADS)


def duplicate_rows(*, actor: User, leads: list[Lead], customers: list, company: str = "") -> dict:
    """Matches as the lead form's duplicate warning shows them (issue 15): the leads and
    customers the actor may open with their name and link; any other only as "exists, owned
    by …" (``owner`` or ``in_pool``), never its name, phone, company or id. A lead the actor
    sees in a lead pool that hides its phones counts as one they may not open unless its
    company matched the searched ``company`` (customers.selectors.duplicate_rows). The rows
    the actor may open come first, the others after them by owner."""
    from crm import masking
    from customers.selectors import duplicate_rows as customer_rows

    seen = set(
        _visible_with_pool(actor, Lead.objects.filter(pk__in=[x.pk for x in leads])).values_list(
            "pk", flat=True
        )
    )
    hidden = masking.hidden_fields_many(actor, [x for x in leads if x.pk in seen])
    searched = normalize_name(company)
    rows = []
    for x in leads:
        shown = x.pk in seen
        if shown and "contact_phones" in hidden.get(x.pk, ()):
            shown = bool(searched) and searched in (x.company_normalized or "")
        rows.append(
            {
                "lead": x,
                "visible": shown,
                "owner": x.owner.get_full_name() if x.owner else None,
                "in_pool": x.in_pool,
            }
        )
    rows.sort(key=lambda r: (not r["visible"], "" if r["visible"] else r["owner"] or ""))
    return {
        "leads": rows,
        "customers": customer_rows(actor=actor, customers=customers, name=company),
    }


def duplicate_search(*, actor: User, company: str = "", phone: str = "", exclude=None) -> dict:
    """While typing in the lead form: leads and customers with this company or number. A
    company or phone shorter than customers.selectors.DUPLICATE_MIN_CHARS is ignored (nothing
    left: no query). SECURITY: the rows the actor may not open leave without their object."""
    from customers.selectors import (
        duplicate_name_long_enough,
        duplicate_phone_long_enough,
        duplicate_phones,
    )
    from leads.services import lead_duplicates

    company = company if duplicate_name_long_enough(company) else ""
    phones = duplicate_phones(phone) if duplicate_phone_long_enough(phone) else []
    if not company and not phones:
        return {"leads": [], "customers": []}
    leads, customers = lead_duplicates(
        tenant_id=actor.tenant_id, company=company, phones=phones, exclude_pk=exclude
    )
    rows = duplicate_rows(actor=actor, leads=leads, customers=customers, company=company)
    for row in rows["leads"]:
        if not row["visible"]:
            row["lead"] = None
    for row in rows["customers"]:
        if not row["visible"]:
            row["customer"] = None
    return rows
