"""Reads of customers for an actor: every list, detail, export and search starts from
``visible_to`` (crm.visibility) and the recycle-bin filter."""

from __future__ import annotations

import datetime

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import User
from crm.visibility import scope_user_ids, visible_to
from customers.models import (
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    FollowUp,
    SavedSearch,
    Tag,
    normalize_name,
)

COUNT_CAP = 10_000
STALE_DAYS = 7

# The list views, named as users name them (DESIGN §5), in menu order.
VIEWS = [
    ("mine", _("Mine")),
    ("participated", _("Participated")),
    ("team", _("Team")),
    ("all", _("All")),
    ("today", _("Follow up today")),
    ("starred", _("Starred")),
    ("unassigned", _("Unassigned")),
    ("stale", _("Not followed for 7 days")),
]
VIEW_KEYS = {key for key, _label in VIEWS} | {"bin"}

# Sort keys offered by the list; times sort newest first (PERF: each matches an index).
SORTS = {
    "last_followup": (F("last_followup_at").desc(nulls_last=True), "-id"),
    "next_followup": (F("next_followup_at").desc(nulls_last=True), "-id"),
    "created": ("-created_at", "-id"),
    "name": ("name", "id"),
    "level": (F("level__sort_order").asc(nulls_last=True), "-created_at", "-id"),
    "status": (F("status__sort_order").asc(nulls_last=True), "-created_at", "-id"),
}
SORT_LABELS = {
    "last_followup": _("Last follow-up"),
    "next_followup": _("Next follow-up"),
    "created": _("Created"),
    "name": _("Name"),
    "level": _("Level"),
    "status": _("Status"),
}


def today_bounds() -> tuple[datetime.datetime, datetime.datetime]:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + datetime.timedelta(days=1)


def customer_base(*, actor: User, view: str = "all") -> QuerySet:
    """The customers of one list view, visible to ``actor``."""
    if view not in VIEW_KEYS:
        raise Http404
    if view == "bin":
        # Only what the user could restore: public customers of others stay out.
        return visible_to(actor, Customer.objects.in_bin(), include_public=False)
    qs = visible_to(actor, Customer.objects.alive())
    # The work lists (today, stale) are the customers one works on, not every public one.
    work = visible_to(actor, Customer.objects.alive(), include_public=False)
    if view == "mine":
        return qs.filter(owner=actor)
    if view == "participated":
        return qs.filter(
            pk__in=CustomerParticipant.objects.filter(user=actor).values("customer_id")
        )
    if view == "team":
        ids = scope_user_ids(actor)
        qs = qs.filter(owner__isnull=False).exclude(owner=actor)
        return qs if ids is None else qs.filter(owner_id__in=ids)
    if view == "today":
        start, end = today_bounds()
        return work.filter(next_followup_at__gte=start, next_followup_at__lt=end)
    if view == "starred":
        return qs.filter(pk__in=CustomerStar.objects.filter(user=actor).values("customer_id"))
    if view == "unassigned":
        return qs.filter(owner__isnull=True)
    if view == "stale":
        cutoff = timezone.now() - datetime.timedelta(days=STALE_DAYS)
        return work.filter(owner__isnull=False).filter(
            Q(last_followup_at__lt=cutoff) | Q(last_followup_at__isnull=True, created_at__lt=cutoff)
        )
    return qs


def customer_list(
    *, actor: User, view: str = "all", queryset: QuerySet | None = None, sort: str = "created"
) -> QuerySet:
    """A page-ready list: related rows joined, tags prefetched, the actor's star marked."""
    qs = queryset if queryset is not None else customer_base(actor=actor, view=view)
    return (
        qs.select_related("owner", "level", "status", "source", "industry")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .annotate(
            is_starred=Exists(CustomerStar.objects.filter(user=actor, customer=OuterRef("pk")))
        )
        .order_by(*SORTS.get(sort, SORTS["created"]))
    )


def capped_count(qs: QuerySet) -> tuple[int, bool]:
    """(count, capped): huge sets are counted up to COUNT_CAP ("10,000+")."""
    # PERF: COUNT over a LIMITed subquery stops early instead of counting a million rows.
    n = qs.order_by()[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def view_counts(*, actor: User) -> dict[str, tuple[int, bool]]:
    return {key: capped_count(customer_base(actor=actor, view=key)) for key, _l in VIEWS}


def customer_get_for_actor(*, actor: User, pk: int, deleted: bool = False) -> Customer:
    """One visible customer (404 for missing, other tenant's and invisible ones)."""
    base = Customer.objects.in_bin() if deleted else Customer.objects.alive()
    try:
        return (
            visible_to(actor, base)
            .select_related(
                "owner", "created_by", "level", "status", "source", "industry", "referrer"
            )
            .get(pk=pk)
        )
    except Customer.DoesNotExist as exc:
        raise Http404 from exc


def contact_list(*, actor: User) -> QuerySet:
    """Contacts of the customers the actor sees."""
    visible = customer_base(actor=actor, view="all").values("pk")
    return (
        Contact.objects.filter(tenant_id=actor.tenant_id, customer_id__in=visible)
        .select_related("customer")
        .order_by("-created_at", "-id")
    )


def contact_get_for_actor(*, actor: User, pk: int) -> Contact:
    try:
        return contact_list(actor=actor).get(pk=pk)
    except Contact.DoesNotExist as exc:
        raise Http404 from exc


def followup_feed(*, actor: User, scope: str = "mine") -> QuerySet:
    """我的跟进 (mine) or 团队跟进 (team: follow-ups by the people in the data scope, on
    customers the actor sees)."""
    qs = FollowUp.objects.filter(tenant_id=actor.tenant_id)
    if scope == "mine":
        qs = qs.filter(created_by=actor)
    else:
        ids = scope_user_ids(actor)
        if ids is not None:
            qs = qs.filter(created_by_id__in=ids)
        qs = qs.filter(customer_id__in=customer_base(actor=actor, view="all").values("pk"))
    return (
        qs.select_related("customer", "contact", "kind", "created_by")
        .prefetch_related("comments__author")
        .order_by("-followed_at", "-id")
    )


def followup_get_for_actor(*, actor: User, pk: int) -> FollowUp:
    visible = customer_base(actor=actor, view="all").values("pk")
    try:
        return (
            FollowUp.objects.filter(tenant_id=actor.tenant_id, customer_id__in=visible)
            .select_related("customer", "created_by")
            .get(pk=pk)
        )
    except FollowUp.DoesNotExist as exc:
        raise Http404 from exc


def followups_due(*, actor: User) -> tuple[QuerySet, QuerySet]:
    """(due today, overdue) of the actor's own customers, for the workbench."""
    start, end = today_bounds()
    mine = (
        Customer.objects.alive()
        .filter(tenant_id=actor.tenant_id, owner=actor)
        .select_related("status")
        .order_by("next_followup_at", "id")
    )
    return (
        mine.filter(next_followup_at__gte=start, next_followup_at__lt=end),
        mine.filter(next_followup_at__lt=start),
    )


def saved_searches(*, actor: User) -> QuerySet:
    return SavedSearch.objects.filter(tenant_id=actor.tenant_id, user=actor)


def duplicate_search(*, actor: User, name: str = "", phone: str = "") -> list[dict]:
    """The 查重 page: matches across the whole tenant (pool included); for customers the
    actor may not see, only the name and the owner's name are shown."""
    from customers.services import duplicates_for

    phones = []
    if phone:
        from django.core.exceptions import ValidationError

        from crm.phones import normalize_phone

        try:
            phones = [normalize_phone(phone)]
        except ValidationError:
            phones = [phone.strip()]
    qs = duplicates_for(tenant_id=actor.tenant_id, name=name, phones=phones)
    # Also partial matches on the name, for 查重 by a fragment (never an empty fragment,
    # which would match every customer).
    fragment = normalize_name(name) if name and not phones else ""
    if fragment:
        qs = (
            qs
            | Customer.objects.alive().filter(
                tenant_id=actor.tenant_id, name_normalized__contains=fragment
            )
        ).distinct()
    rows = list(qs.select_related("owner").order_by("name", "pk")[:50])
    visible = set(
        visible_to(actor, Customer.objects.filter(pk__in=[r.pk for r in rows])).values_list(
            "pk", flat=True
        )
    )
    return [
        {
            "customer": r,
            "visible": r.pk in visible,
            "owner": r.owner.get_full_name() if r.owner else None,
        }
        for r in rows
    ]
