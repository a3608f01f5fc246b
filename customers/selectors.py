"""Reads of customers for an actor: every list, detail, export and search starts from
``visible_to`` (crm.visibility) and the recycle-bin filter."""

from __future__ import annotations

import datetime
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Option, User
from crm.visibility import owner_scope, visibility_conditions, visible_parts, visible_to
from customers import owned
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
OWNERS_APART = 16
# Longest list of a user's participations or stars read as literal ids (see _short_ids).
LITERAL_IDS = 500
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
    # The work order of a day: the soonest next follow-up first (今日待跟进 by time of day).
    "next_followup_soon": (F("next_followup_at").asc(nulls_last=True), "id"),
    "created": ("-created_at", "-id"),
    "name": ("name", "id"),
    "level": (F("level__sort_order").asc(nulls_last=True), "-created_at", "-id"),
    "status": (F("status__sort_order").asc(nulls_last=True), "-created_at", "-id"),
}
# Sorts whose deep pages follow a cursor (keyset pagination, see customer_list_after): the
# sort's keys as (field, descending), the id last and in the same direction. A nullable
# field sorts its NULLs last (as SORTS does). Level and status sort on a joined option's
# order: their pages stay offset pages.
KEYSETS: dict[str, tuple[tuple[str, bool], tuple[str, bool]]] = {
    "last_followup": (("last_followup_at", True), ("id", True)),
    "next_followup": (("next_followup_at", True), ("id", True)),
    "next_followup_soon": (("next_followup_at", False), ("id", False)),
    "created": (("created_at", True), ("id", True)),
    "name": (("name", False), ("id", False)),
}
SORT_LABELS = {
    "last_followup": _("Last follow-up"),
    "next_followup": _("Next follow-up, latest first"),
    "next_followup_soon": _("Next follow-up, soonest first"),
    "created": _("Created"),
    "name": _("Name"),
    "level": _("Level"),
    "status": _("Status"),
}


def today_bounds() -> tuple[datetime.datetime, datetime.datetime]:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + datetime.timedelta(days=1)


def _short_ids(rows: QuerySet) -> list[int] | QuerySet:
    """``rows`` (a ``values_list(…, flat=True)`` of ids) read as a list when there are at
    most LITERAL_IDS of them (one small query), else ``rows`` itself, for a subquery.

    PERF: a user's stars and participations are a few hundred rows; as literal ids
    PostgreSQL reads those customers by primary key, where it misjudges the subquery: a
    manager's 我的收藏 count hash-joined his 100 stars with every public customer (3.9 ms;
    1.7 with the list). Not for visible_to's participated condition: there the list,
    repeated in every visible part, cost more to plan (2-5 ms) than it saved."""
    ids = list(rows.order_by()[: LITERAL_IDS + 1])
    return ids if len(ids) <= LITERAL_IDS else rows


def _participations(actor: User) -> list[int] | QuerySet:
    """The ids of the customers ``actor`` participates in (as _short_ids reads them), read
    once per request (cached on the user, as the owner scope is)."""
    cached = getattr(actor, "_participation_ids", None)
    if cached is None:
        cached = actor._participation_ids = _short_ids(
            CustomerParticipant.objects.filter(user=actor).values_list("customer_id", flat=True)
        )
    return cached


class VisibleParts(NamedTuple):
    """visible_to's disjoint parts (crm.visibility.visible_parts) of one list, two ways."""

    count: list[QuerySet]  # one part per visibility condition: the fewest index walks
    page: list[QuerySet]  # the same, the owned part split per owner (see _visible)

    def map(self, fn) -> VisibleParts:
        return VisibleParts([fn(p) for p in self.count], [fn(p) for p in self.page])


class VisibleCustomerQuerySet(CustomerQuerySet):
    """A customer queryset that also carries its visible parts (VisibleParts), filtered
    alike: ``filter()`` and ``exclude()`` apply to the parts too; any other change
    (``none()``, ``distinct()``, ``values()``, ``annotate()``…) drops them, and the queryset
    is then read as it is. capped_count and CustomerPageQuerySet read the UNION ALL of the
    parts instead of visible_to's OR (PERF, see crm.visibility.visible_parts)."""

    _visible_parts: VisibleParts | None = None

    def _clone(self):
        clone = super()._clone()
        clone._visible_parts = None
        return clone

    def all(self):
        clone = super().all()  # django-filter starts from .all(): the same rows
        clone._visible_parts = self._visible_parts
        return clone

    def _filter_or_exclude(self, negate, args, kwargs):
        clone = super()._filter_or_exclude(negate, args, kwargs)
        if self._visible_parts is not None:
            clone._visible_parts = self._visible_parts.map(
                lambda part: part._filter_or_exclude(negate, args, kwargs)
            )
        return clone


def _recast(qs: QuerySet, cls: type[QuerySet]) -> QuerySet:
    """``qs`` as a queryset of class ``cls`` (same query, hints, prefetches, parts)."""
    cast = cls(model=qs.model, query=qs.query.chain(), using=qs._db, hints=qs._hints)
    cast._prefetch_related_lookups = qs._prefetch_related_lookups
    cast._known_related_objects = qs._known_related_objects
    cast._sticky_filter = qs._sticky_filter
    cast._visible_parts = getattr(qs, "_visible_parts", None)
    return cast


def _visible(
    actor: User,
    qs: QuerySet,
    *,
    include_public: bool = True,
    include_pool: bool = False,
    only: tuple[str, ...] = (),
    pages: bool = True,
    participations: list[int] | QuerySet | None = None,
) -> VisibleCustomerQuerySet:
    """visible_to(actor, qs) carrying its parts (VisibleParts). ``only`` keeps the parts so
    named (for a view that lies inside them: the others would be read for nothing);
    ``pages=False`` leaves pages to the plain query (views driven by a few ids or a date
    range rather than by the created order: the parts would each walk their index for them);
    ``participations`` (the actor's, as _participations reads them): the participated part
    by those ids when they are a list (the same rows).
    """
    # Customer lists never show pooled customers (the pool list does): no pool condition.
    rows = _recast(
        visible_to(actor, qs, include_public=include_public, include_pool=include_pool),
        VisibleCustomerQuerySet,
    )
    parts = visible_parts(actor, qs, include_public=include_public, include_pool=include_pool)
    if parts is None:
        return rows
    parts = {name: part for name, part in parts.items() if not only or name in only}
    if isinstance(participations, list) and "participated" in parts:
        owned = visibility_conditions(actor, Customer)["owned"]
        participated = qs.filter(tenant_id=actor.tenant_id, pk__in=participations)
        parts["participated"] = participated.exclude(owned)
    page = []
    if pages:
        page = list(parts.values())
        owners = _owners_apart(actor)
        if "owned" in parts and owners:
            page[:1] = _owner_parts(actor, qs, owners)
    rows._visible_parts = VisibleParts(list(parts.values()), page)
    return rows


def _owners_apart(actor: User) -> list[int]:
    """The users of the actor's data scope when few enough to read their rows apart."""
    ids = owner_scope(actor).ids()
    return sorted(set(ids)) if ids is not None and len(set(ids)) <= OWNERS_APART else []


def _owner_parts(actor: User, qs: QuerySet, owners: list[int]) -> list[QuerySet]:
    """One part per owner (users of the actor's data scope, so rows visible to the actor).

    PERF: a page of the created order reads each owner's rows in the order of
    cust_owner_created and merges them; ``owner IN (…)`` cannot give that order
    (PostgreSQL sorts or walks the tenant's cust_created and skips the other owners' rows:
    a manager's page 500 read 44,000 index entries for 12,500 rows, 6-8 ms). Counts need no
    order and keep the one owned part."""
    scope = owner_scope(actor)
    assert all(scope.covers(pk) for pk in owners), "owners outside the data scope"
    rows = qs.filter(tenant_id=actor.tenant_id)
    return [rows.filter(owner_id=pk) for pk in owners]


def customer_base(*, actor: User, view: str = "all") -> QuerySet:
    """The customers of one list view, visible to ``actor``."""
    if view not in VIEW_KEYS:
        raise Http404
    # PERF: a department scope's ids as literals in every list (OwnerScope.inline_ids).
    scope = owner_scope(actor).inline_ids()
    # Customers lying in a pool are listed by the pool (pools app), not here.
    alive = Customer.objects.outside_pool()
    if view == "bin":
        # Only what the user could restore: public customers of others stay out.
        return _visible(actor, Customer.objects.in_bin(), include_public=False)
    if view == "mine":
        # Owned by the actor, who is always inside their own data scope.
        mine = _visible(actor, alive, only=("owned",)).filter(owner=actor)
        if mine._visible_parts is not None:
            mine._visible_parts = mine._visible_parts._replace(
                page=_owner_parts(actor, alive, [actor.pk])
            )
        return mine
    if view == "team":
        qs = _visible(actor, alive, only=("owned",))
        others = scope.others()
        if others is None:
            return qs.filter(owner__isnull=False).exclude(owner=actor)
        # PERF: nobody else in the scope (a rep's own scope) is an empty list without a query.
        if not others:
            return qs.none()
        team = qs.filter(owner_id__in=others)
        if len(others) <= OWNERS_APART:
            team._visible_parts = team._visible_parts._replace(
                page=_owner_parts(actor, alive, others)
            )
        return team
    if view == "participated":
        # One list of ids per query (PERF): the participations filter as a list; visible_to's
        # condition keeps its subquery. The same list twice, ``id IN (…) AND id IN (…)``, made
        # PostgreSQL square its estimate and scan the tenant's index (27 ms instead of 1.4);
        # two different lists (stars and participations) made PostgreSQL 15 cost a primary
        # key scan for every pair of their ids, with the same result.
        mine = _participations(actor)
        return _visible(actor, alive, only=("owned", "participated"), pages=False).filter(
            pk__in=mine
        )
    if view == "starred":
        stars = _short_ids(
            CustomerStar.objects.filter(user=actor).values_list("customer_id", flat=True)
        )
        return _visible(actor, alive, pages=False).filter(pk__in=stars)
    if view == "today":
        # The work lists (today, stale) are the customers one works on, not every public one.
        start, end = today_bounds()
        return _visible(actor, alive, include_public=False, pages=False).filter(
            next_followup_at__gte=start, next_followup_at__lt=end
        )
    if view == "stale":
        cutoff = timezone.now() - datetime.timedelta(days=STALE_DAYS)
        return (
            _visible(actor, alive, include_public=False)
            .filter(owner__isnull=False)
            .filter(
                Q(last_followup_at__lt=cutoff)
                | Q(last_followup_at__isnull=True, created_at__lt=cutoff)
            )
        )
    if view == "unassigned":
        # Nobody's customers are never "owned": the participated and public parts hold them.
        # PERF: the participated part by the ids of the actor's participations. With the
        # subquery PostgreSQL hash-joined every unassigned customer (16,000 on the bench
        # tenant) with a manager's 179 participations, 2.8 of the page's 3.5 ms, and the
        # count alike. Only here: in the participated view the same list would be there
        # twice (see above), and in the others the subquery's plan is a cheap nested loop.
        qs = _visible(actor, alive, participations=_participations(actor))
        return qs.filter(owner__isnull=True)
    return _visible(actor, alive)


# The option foreign keys a list row shows; CustomerPageQuerySet attaches them.
LIST_OPTIONS = ("industry", "level", "source", "status")


class CustomerPageQuerySet(VisibleCustomerQuerySet):
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
            and k.stop is not None
            and k.step is None
            and self._result_cache is None
            and self._iterable_class is ModelIterable
            and not self.query.is_sliced
        ):
            ids = _union_page_ids(self, k.start or 0, k.stop)
            if ids is not None:
                return self._chain().filter(pk__in=ids)
            if k.start:
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


# The one order whose every part has an index in that order (cust_owner_created per owner,
# cust_public_created, the participants' few rows sorted): pages of other orders read the
# plain query.
UNION_ORDER = ["-created_at", "-id"]


def _union_page_ids(qs: VisibleCustomerQuerySet, start: int, stop: int) -> RawSQL | None:
    """The ids of rows ``start:stop`` of ``qs`` in the created order, read from the UNION ALL
    of its visible parts (PERF: each part walks its own index in that order and stops early,
    instead of one walk of the tenant's index that filters visible_to's OR row by row: a
    rep's page 500 read 130,000 index entries for 12,500 rows, 13 ms; now 2.5 ms). ``None``
    when the queryset has no page parts or another order.

    The SQL differs by database, each in the one shape its planner merges:

    * PostgreSQL: each part ordered and cut at ``stop`` in a subquery; the planner merges
      the parts' index scans (Merge Append) and stops at ``stop`` rows. Without the cut
      (plain UNION ALL members) it flattens the union and sorted a manager's page 500:
      21-29 ms instead of 5.
    * SQLite: plain members and the ORDER BY on the compound itself, which SQLite runs as a
      merge of the members, each read in index order (``MERGE (UNION ALL)``). Members in
      ordered subqueries are instead collected whole and sorted: a manager's page 500 took
      30-57 ms that way, 6 ms merged (bench/customer_list.py)."""
    if qs._visible_parts is None or not qs._visible_parts.page:
        return None
    ordering = list(qs.query.order_by) or (
        list(qs.model._meta.ordering) if qs.query.default_ordering else []
    )
    if ordering != UNION_ORDER:
        return None
    # reverse(): the order read backwards (a previous page's cursor, customer_list_after).
    descending = qs.query.standard_ordering
    connection = connections[qs.db]
    quote = connection.ops.quote_name
    merged = connection.vendor == "sqlite"
    branches, params = [], []
    for n, part in enumerate(qs._visible_parts.page):
        branch = part.annotate(row_id=F("pk"), row_created=F("created_at"))
        if merged:
            branch = branch.order_by().values_list("row_id", "row_created")
        else:
            branch = branch.order_by(*UNION_ORDER)
            if not descending:
                branch = branch.reverse()
            branch = branch.values_list("row_id", "row_created")[:stop]
        try:
            sql, branch_params = branch.query.get_compiler(using=qs.db).as_sql()
        except EmptyResultSet:  # e.g. no pool group: that part has no rows
            continue
        branches.append(sql if merged else f"SELECT * FROM ({sql}) {quote(f'part{n}')}")  # noqa: S608
        params += branch_params
    if not branches:
        return RawSQL("SELECT NULL WHERE 1 = 0", [])
    # Every piece is Django's SQL of a queryset or a quoted constant name; values are params.
    union = " UNION ALL ".join(branches)
    way = "DESC" if descending else "ASC"
    order = f"ORDER BY {quote('row_created')} {way}, {quote('row_id')} {way} LIMIT %s OFFSET %s"
    if merged:
        sql = f"SELECT {quote('row_id')} FROM ({union} {order}) {quote('visible')}"  # noqa: S608
    else:
        sql = f"SELECT {quote('row_id')} FROM ({union}) {quote('visible')} {order}"  # noqa: S608
    return RawSQL(sql, [*params, stop - start, start])  # noqa: S611


def _page_queryset(qs: QuerySet) -> CustomerPageQuerySet:
    return _recast(qs, CustomerPageQuerySet)


def customer_list(
    *,
    actor: User,
    view: str = "all",
    queryset: QuerySet | None = None,
    sort: str = "created",
    contacts: bool = False,
) -> QuerySet:
    """A page-ready list: owner joined, options attached, tags prefetched, the actor's star
    marked (a CustomerPageQuerySet: deep pages and the options are fetched cheaply);
    ``contacts``: their contacts too, the primary one first (the phone cards' tel: link)."""
    qs = queryset if queryset is not None else customer_base(actor=actor, view=view)
    prefetch = [Prefetch("tags", queryset=Tag.objects.order_by("name"))]
    if contacts:
        prefetch.append(
            Prefetch(
                "contacts",
                queryset=Contact.objects.only(
                    "customer_id", "name", "mobile", "phone", "email", "is_decision_maker"
                ),
            )
        )
    rows = (
        _page_queryset(qs)
        .select_related("owner")
        .prefetch_related(*prefetch)
        .annotate(
            is_starred=Exists(CustomerStar.objects.filter(user=actor, customer=OuterRef("pk")))
        )
        .order_by(*SORTS.get(sort, SORTS["created"]))
    )
    # The joins, the star and the order leave the rows as they are: the parts still hold.
    rows._visible_parts = getattr(qs, "_visible_parts", None)
    return rows


def sort_key(sort: str, customer: Customer) -> list:
    """The values of ``customer`` that place it in the order ``sort`` (a KEYSETS key)."""
    return [getattr(customer, name) for name, _desc in KEYSETS[sort]]


def sort_key_parse(sort: str, raw: list) -> list:
    """``raw`` (values as a cursor carries them) as a sort key of ``sort``; ValueError when
    they are not one (wrong length or type, a naive time)."""
    keys = KEYSETS[sort]
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise ValueError("not a sort key")
    values = []
    for (name, _desc), value in zip(keys, raw, strict=True):
        field = Customer._meta.get_field(name)
        if value is None:
            if not field.null:
                raise ValueError(f"{name} is never empty")
            values.append(None)
            continue
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError(f"{name}: not a value")
        try:
            value = field.to_python(value)
        except ValidationError as exc:
            raise ValueError(f"{name}: not a value") from exc
        if isinstance(value, datetime.datetime) and timezone.is_naive(value):
            raise ValueError(f"{name}: a time without its zone")
        values.append(value)
    return values


def customer_list_after(
    rows: QuerySet, *, sort: str, key: list, backwards: bool = False
) -> QuerySet:
    """The rows of ``rows`` (a customer_list in the order ``sort``, a KEYSETS key) that come
    after the row whose sort key is ``key`` — or, ``backwards``, those before it, nearest
    first (the order reversed).

    PERF: keyset pagination. A deep page seeks its index to the key and reads a page of
    rows, where ``OFFSET`` walks every row before it: a manager's page 500 merged 12,500
    rows of 8 index walks (5-7 ms on PostgreSQL, 13 ms on SQLite). The visible parts are
    filtered alike (their UNION ALL reads the created order from the key). SECURITY: the key
    only says where to start; ``rows`` is already what the actor may see, so a made-up key
    shows no other rows."""
    (name, descending), (pk_name, pk_descending) = KEYSETS[sort]
    assert pk_name == "id" and pk_descending == descending, "the id follows the sort"
    value, pk = key
    nullable = Customer._meta.get_field(name).null
    # Later in a descending order is smaller; reading backwards, larger.
    op = "lt" if descending != backwards else "gt"
    if value is None:
        # NULLs come last: after a NULL only NULLs with a smaller id; before it, every value.
        cond = Q(**{f"{name}__isnull": True, f"id__{op}": pk})
        if backwards:
            cond |= Q(**{f"{name}__isnull": False})
    else:
        # The redundant ``<=`` bounds the index walk (the OR alone is a filter over it).
        cond = Q(**{f"{name}__{op}e": value}) & (
            Q(**{f"{name}__{op}": value}) | Q(**{f"id__{op}": pk})
        )
        if nullable and not backwards:
            cond |= Q(**{f"{name}__isnull": True})
    after = rows.filter(cond)
    if backwards:
        parts = getattr(after, "_visible_parts", None)
        after = after.reverse()
        after._visible_parts = parts  # read in the reversed order (_union_page_ids)
    return after


def capped_count(qs: QuerySet) -> tuple[int, bool]:
    """(count, capped): huge sets are counted up to COUNT_CAP ("10,000+")."""
    # PERF: COUNT over a LIMITed subquery stops early instead of counting a million rows; over
    # the UNION ALL of the visible parts it reads visible rows only (see visible_parts).
    parts = getattr(qs, "_visible_parts", None)
    if parts is not None and parts.count:
        ids = [part.order_by().values("pk") for part in parts.count]
        qs = ids[0].union(*ids[1:], all=True) if len(ids) > 1 else ids[0]
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
        qs = qs.filter(owner_scope(actor).q("created_by_id"))
    return (
        qs.select_related("customer", "contact", "kind", "created_by")
        .prefetch_related("comments__author")
        .order_by("-followed_at", "-id")
    )


def followup_get_for_actor(*, actor: User, pk: int) -> FollowUp:
    """One follow-up on a record the actor may see, whatever its kind (customers.owned),
    with its record loaded (``followup.record``); 404 for a missing one, another tenant's
    and one on a record the actor may not see (see :func:`followup_record_for_actor`)."""
    try:
        followup = (
            FollowUp.objects.filter(tenant_id=actor.tenant_id)
            .select_related("customer", "created_by")
            .get(pk=pk)
        )
    except FollowUp.DoesNotExist as exc:
        raise Http404 from exc
    followup_record_for_actor(actor=actor, followup=followup)
    return followup


def followup_record_for_actor(*, actor: User, followup: FollowUp):
    """The record ``followup`` is on, once the actor may see the follow-up, else a 404.

    Seen through the record's own kind (``get_for_actor`` of customers.owned). A follow-up
    that also sits on a customer (a converted lead's) is on that customer's page and in the
    follow-up feed too, so whoever sees the customer sees it as well. The record is kept on
    the follow-up (``followup.record`` reads no more)."""
    if followup.tenant_id != actor.tenant_id:
        raise Http404
    try:
        kind = owned.kind_for_type(followup.record_type_id)
    except LookupError as exc:
        raise Http404 from exc
    try:
        record = kind.get_for_actor(actor=actor, pk=followup.record_id)
    except Http404:
        if followup.customer_id is None or kind.model is Customer:
            raise
        owned.kind_of(Customer).get_for_actor(actor=actor, pk=followup.customer_id)
        try:
            record = kind.model._default_manager.get(
                tenant_id=actor.tenant_id, pk=followup.record_id
            )
        except kind.model.DoesNotExist as exc:
            raise Http404 from exc
    followup.record = record
    return record


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


def saved_searches(*, actor: User, list_kind: str = SavedSearch.ListKind.CUSTOMERS) -> QuerySet:
    """The actor's saved searches of one list (customers, or leads)."""
    return SavedSearch.objects.filter(tenant_id=actor.tenant_id, user=actor, list_kind=list_kind)


# 查重 needs at least this many characters: of a name as it is compared (normalised, see
# normalize_name), or digits of a phone number. Shorter input runs no query (issue 15).
DUPLICATE_MIN_CHARS = 2
# While typing in a form, a phone is checked from this many characters on (the form's warning
# looks for a whole number, not a prefix).
DUPLICATE_TYPED_PHONE_MIN = 7


def duplicate_name_long_enough(name: str) -> bool:
    return len(normalize_name(name)) >= DUPLICATE_MIN_CHARS


def duplicate_phone_long_enough(phone: str) -> bool:
    return sum(ch.isdigit() for ch in phone or "") >= DUPLICATE_MIN_CHARS


def duplicate_phones(phone: str) -> list[str]:
    """The numbers a typed phone is compared as: normalised, or as typed when it does not
    parse (an extension, a foreign format)."""
    if not phone:
        return []
    from crm.phones import normalize_phone

    try:
        return [normalize_phone(phone)]
    except ValidationError:
        return [phone.strip()]


def duplicate_search(
    *, actor: User, name: str = "", phone: str = "", exclude: int | None = None
) -> list[dict]:
    """The 查重 page and the customer form's duplicate warning: matches across the whole
    tenant (pool included), shown as :func:`duplicate_rows` shows them. A name or a phone
    shorter than DUPLICATE_MIN_CHARS is ignored (nothing left: no query at all)."""
    from customers.services import duplicates_for

    name = name if duplicate_name_long_enough(name) else ""
    phones = duplicate_phones(phone) if duplicate_phone_long_enough(phone) else []
    if not name and not phones:
        return []
    qs = duplicates_for(tenant_id=actor.tenant_id, name=name, phones=phones, exclude_pk=exclude)
    # Also partial matches on the name, for 查重 by a fragment (never an empty fragment,
    # which would match every customer).
    fragment = normalize_name(name) if name and not phones else ""
    if fragment:
        partial = Customer.objects.alive().filter(
            tenant_id=actor.tenant_id, name_normalized__contains=fragment
        )
        if exclude:
            partial = partial.exclude(pk=exclude)
        qs = (qs | partial).distinct()
    rows = duplicate_rows(
        actor=actor,
        customers=list(qs.select_related("owner", "pool_group").order_by("name", "pk")[:50]),
        name=name,
    )
    # SECURITY: the object of a row the actor may not open leaves the selector only with the
    # rows the forms' refusal and the convert page build themselves (duplicate_rows); the
    # 查重 page and the warning while typing get the owner and nothing else.
    for row in rows:
        if not row["visible"]:
            row["customer"] = None
    return rows


def duplicate_rows(*, actor: User, customers: list[Customer], name: str = "") -> list[dict]:
    """Matches as the duplicate warnings and the 查重 page show them (issue 15).

    ``visible``: the actor may open the customer, and its name and link are shown. Any other
    match is shown only as "exists, owned by …": ``owner`` (the owner's name) or ``in_pool``,
    never its name, phone, company details or id (templates show nothing else of it). A
    customer the actor may open but whose contacts' phones are hidden from them (a pool group
    hides them until a claim) counts as one they may not open, unless its name matched the
    searched ``name``: otherwise a phone search would map the hidden number to the customer.

    The rows the actor may open come first, the others after them ordered by owner, so that
    their place says nothing about their names. ``customer`` is kept on every row for the
    callers that decide on the server side (the lead conversion's matches)."""
    from crm import masking

    visible = set(
        visible_to(actor, Customer.objects.filter(pk__in=[c.pk for c in customers])).values_list(
            "pk", flat=True
        )
    )
    hidden = masking.hidden_fields_many(actor, [c for c in customers if c.pk in visible])
    searched = normalize_name(name)
    rows = []
    for c in customers:
        shown = c.pk in visible
        if shown and "contact_phones" in hidden.get(c.pk, ()):
            shown = bool(searched) and searched in c.name_normalized
        rows.append(
            {
                "customer": c,
                "visible": shown,
                "owner": c.owner.get_full_name() if c.owner else None,
                "in_pool": c.in_pool,
            }
        )
    return sorted(rows, key=lambda r: (not r["visible"], "" if r["visible"] else r["owner"] or ""))


# ---------------------------------------------------------------- the workbench's numbers

# 即将掉公海: owned customers the pool rules recycle within this many days (the list's
# ``recycle_within`` filter, the workbench's KPI and its list; a group's default warning).
RECYCLE_SOON_DAYS = 3


def month_start() -> datetime.datetime:
    """The first moment of the current month, local time."""
    return timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def recycle_soon_q(
    *, tenant_id: int, days: int, now: datetime.datetime | None = None, kind: str = "customer"
) -> Q | None:
    """The condition "the pool rules recycle this owned customer (or lead, with
    ``kind="lead"``) within ``days``": the recycling candidates (``pools.recycling.
    candidates``: the subject's rules, per level, with its exemptions) of every enabled group
    of that kind of the tenant at now + ``days``. None when no group recycles anything.
    PERF: two queries (the groups and their level rules); the condition itself is one
    subquery per group."""
    import functools
    import operator

    from pools.recycling import candidates
    from pools.selectors import groups_with_rules

    at = (now or timezone.now()) + datetime.timedelta(days=max(0, days))
    groups = groups_with_rules().filter(tenant_id=tenant_id, kind=kind, is_enabled=True)
    parts = [Q(pk__in=candidates(group, at).values("pk")) for group in groups]
    return functools.reduce(operator.or_, parts) if parts else None


class WorkbenchLinks(NamedTuple):
    """The list URLs' query strings that show exactly the rows a workbench number counts."""

    today: str
    overdue: str
    new: str

    @classmethod
    def build(cls, view: str = "mine", owner: int | None = None) -> WorkbenchLinks:
        from urllib.parse import urlencode

        today = timezone.localdate()
        base = {"view": view, **({"owner": owner} if owner else {})}
        yesterday = (today - datetime.timedelta(days=1)).isoformat()
        return cls(
            today=urlencode(
                {
                    **base,
                    "next_followup_after": today.isoformat(),
                    "next_followup_before": today.isoformat(),
                }
            ),
            overdue=urlencode({**base, "next_followup_before": yesterday}),
            new=urlencode({**base, "created_after": month_start().date().isoformat()}),
        )


def workbench_numbers(*, actor: User) -> dict:
    """The rep's KPI row (issue 16), each number with the query string of the list that
    shows exactly its rows: 今日待跟进 and 已逾期 (next follow-up today / before today), 即将掉公海
    (recycled within RECYCLE_SOON_DAYS), 本月新增客户 of the 我的客户 list, and 本月跟进次数 of
    我的跟进. PERF: the groups' query, their level rules', one for the four customer counts and
    one for the follow-ups, whatever the data."""
    start, end = today_bounds()
    month = month_start()
    recycle = recycle_soon_q(tenant_id=actor.tenant_id, days=RECYCLE_SOON_DAYS)
    counts = {
        "today": Count("pk", filter=Q(next_followup_at__gte=start, next_followup_at__lt=end)),
        "overdue": Count("pk", filter=Q(next_followup_at__lt=start)),
        "new": Count("pk", filter=Q(created_at__gte=month)),
    }
    if recycle is not None:
        counts["recycle"] = Count("pk", filter=recycle)
    numbers = customer_base(actor=actor, view="mine").order_by().aggregate(**counts)
    numbers.setdefault("recycle", 0)
    numbers["followups"] = (
        followup_feed(actor=actor, scope="mine")
        .filter(followed_at__date__gte=month.date())
        .order_by()
        .count()
    )
    links = WorkbenchLinks.build()
    numbers["links"] = {
        **links._asdict(),
        "recycle": f"view=mine&recycle_within={RECYCLE_SOON_DAYS}",
        "followups": f"scope=mine&start={month.date().isoformat()}",
    }
    numbers["recycle_days"] = RECYCLE_SOON_DAYS
    return numbers


def workbench_team(*, actor: User) -> list[dict] | None:
    """A manager's per-rep table (issue 16): for every rep inside the actor's data scope
    (``owner_scope``), the customers with a follow-up due today, overdue, and created this
    month, each with the query string of the 全部客户 list showing exactly those rows. None
    for a scope of the actor alone. PERF: two queries (one GROUP BY owner, one for the
    people) plus the scope's own, whatever the number of reps."""
    from crm.models import DataScope

    scope = owner_scope(actor)
    if scope.kind == DataScope.OWN or scope.is_alone:
        return None
    start, end = today_bounds()
    month = month_start()
    rows = {
        row["owner_id"]: row
        for row in Customer.objects.outside_pool()
        .filter(tenant_id=actor.tenant_id, owner__isnull=False)
        .filter(scope.q("owner_id"))
        .values("owner_id")
        .annotate(
            today=Count("pk", filter=Q(next_followup_at__gte=start, next_followup_at__lt=end)),
            overdue=Count("pk", filter=Q(next_followup_at__lt=start)),
            new=Count("pk", filter=Q(created_at__gte=month)),
        )
        .order_by()
    }
    people = (
        scope.users()
        .filter(Q(is_active=True) | Q(pk__in=list(rows)))
        .select_related("department")
        .order_by("department__path", "name", "id")
    )
    table = []
    for person in people:
        row = rows.get(person.pk, {})
        table.append(
            {
                "user": person,
                "today": row.get("today", 0),
                "overdue": row.get("overdue", 0),
                "new": row.get("new", 0),
                "links": WorkbenchLinks.build(view="all", owner=person.pk),
            }
        )
    return table
