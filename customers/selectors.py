"""Reads of customers for an actor: every list, detail, export and search starts from
``visible_to`` (crm.visibility) and the recycle-bin filter."""

from __future__ import annotations

import datetime

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.query import ModelIterable
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Option, User
from crm.visibility import scope_user_ids, visible_to
from customers.models import (
    Contact,
    Customer,
    CustomerParticipant,
    CustomerQuerySet,
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


def _scope_ids_as_list(actor: User) -> None:
    """PERF: a department scope becomes the list of its user ids (one small query, cached
    on the user for the request) instead of a subquery inside visible_to's OR. With the
    subquery PostgreSQL cannot estimate the OR and picks (parallel) sequential scans: a
    manager's 我参与的 count took 105-135 ms on a 200k-customer tenant, 5 ms with the list
    (bench/customer_list.py). The proper home is crm.visibility.scope_user_ids; it keeps
    the subquery so that visible_to alone stays one query."""
    ids = scope_user_ids(actor)
    if isinstance(ids, QuerySet):
        actor._scope_user_ids = list(ids.values_list("id", flat=True))


def customer_base(*, actor: User, view: str = "all") -> QuerySet:
    """The customers of one list view, visible to ``actor``."""
    if view not in VIEW_KEYS:
        raise Http404
    _scope_ids_as_list(actor)
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
        if ids is None:
            return qs.filter(owner__isnull=False).exclude(owner=actor)
        # PERF: nobody else in the scope (a rep's own scope) is an empty list without a query.
        others = [i for i in ids if i != actor.pk]
        return qs.filter(owner_id__in=others) if others else qs.none()
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


# The option foreign keys a list row shows; CustomerPageQuerySet attaches them.
LIST_OPTIONS = ("industry", "level", "source", "status")


class CustomerPageQuerySet(CustomerQuerySet):
    """The queryset customer_list returns: the same rows as a plain queryset, fetched in a
    way that keeps a page's cost independent of the list's size and depth (PERF, measured
    by bench/customer_list.py on a 200k-customer tenant):

    * A slice that skips rows (``qs[start:stop]`` with ``start > 0``: page 2 onwards) is a
      deferred join: ``WHERE id IN (SELECT id … ORDER BY … LIMIT n OFFSET start)``. The
      subquery walks the index with the same filters and order but nothing else; only the
      page's rows are then joined and annotated. With a plain OFFSET every skipped row went
      through the joins and the star subquery too: page 500 took 60-210 ms.
    * The option foreign keys (industry, level, source, status) are attached from one
      query of those options instead of four LEFT JOINs, which cost PostgreSQL more to plan
      (~4.5 of 5.6 ms) than the whole page costs to run.
    """

    def __getitem__(self, k):
        if (
            isinstance(k, slice)
            and k.start
            and k.stop is not None
            and k.step is None
            and self._result_cache is None
            and self._iterable_class is ModelIterable
            and not self.query.is_sliced
        ):
            return self.filter(pk__in=self.values("pk")[k])
        return super().__getitem__(k)

    def _fetch_all(self):
        fetched = self._result_cache is None
        super()._fetch_all()
        if fetched and self._iterable_class is ModelIterable:
            attach_options(self._result_cache)


def attach_options(customers: list[Customer]) -> None:
    """Set the option foreign keys of ``customers`` from one query (as select_related would)."""
    fields = [Customer._meta.get_field(name) for name in LIST_OPTIONS]
    wanted = {getattr(c, f.attname) for c in customers for f in fields if not f.is_cached(c)} - {
        None
    }
    if not wanted:
        return
    options = {o.pk: o for o in Option.objects.filter(pk__in=wanted)}
    for customer in customers:
        for f in fields:
            if not f.is_cached(customer):
                f.set_cached_value(customer, options.get(getattr(customer, f.attname)))


def _page_queryset(qs: QuerySet) -> CustomerPageQuerySet:
    page = CustomerPageQuerySet(
        model=qs.model, query=qs.query.chain(), using=qs._db, hints=qs._hints
    )
    page._prefetch_related_lookups = qs._prefetch_related_lookups
    page._known_related_objects = qs._known_related_objects
    page._sticky_filter = qs._sticky_filter
    return page


def customer_list(
    *, actor: User, view: str = "all", queryset: QuerySet | None = None, sort: str = "created"
) -> QuerySet:
    """A page-ready list: owner joined, options attached, tags prefetched, the actor's star
    marked (a CustomerPageQuerySet: deep pages and the options are fetched cheaply)."""
    qs = queryset if queryset is not None else customer_base(actor=actor, view=view)
    return (
        _page_queryset(qs)
        .select_related("owner")
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
    # Only follow-ups on customers the actor sees now: a customer transferred away takes its
    # history with it, the actor's own entries included.
    visible = customer_base(actor=actor, view="all").values("pk")
    qs = FollowUp.objects.filter(tenant_id=actor.tenant_id, customer_id__in=visible)
    if scope == "mine":
        qs = qs.filter(created_by=actor)
    else:
        ids = scope_user_ids(actor)
        if ids is not None:
            qs = qs.filter(created_by_id__in=ids)
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
    return duplicate_rows(
        actor=actor, customers=list(qs.select_related("owner").order_by("name", "pk")[:50])
    )


def duplicate_rows(*, actor: User, customers: list[Customer]) -> list[dict]:
    """Matches as the duplicate warning and the 查重 page show them: the actor may open the
    visible ones; of the others only the name and the owner's name are shown."""
    visible = set(
        visible_to(actor, Customer.objects.filter(pk__in=[c.pk for c in customers])).values_list(
            "pk", flat=True
        )
    )
    return [
        {
            "customer": c,
            "visible": c.pk in visible,
            "owner": c.owner.get_full_name() if c.owner else None,
        }
        for c in customers
    ]
