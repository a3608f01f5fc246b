"""The one visibility function: which owned records may a user see (DESIGN §5).

visible = records they own ∪ records they participate in ∪ records owned by users inside
their data scope. Everything is an indexed predicate (owner id, the participants table, the
department subtree); there is never a per-object permission lookup over a list.

The data scope itself is one object, :class:`OwnerScope` (``owner_scope(user)``): every
"is this owner in my scope?" is its ``covers()``, every query condition on owners its ``q()``.
"""

from __future__ import annotations

import functools
import operator

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404

from crm.models import DataScope, Department, User


class OwnerScope:
    """Which owners' records a user sees through the data scope of their role (DESIGN §5):
    ``own``, ``own_and_subordinates``, ``department``, ``department_and_below`` or ``all``.

    The one answer to "is this owner in my scope?": :meth:`covers` tests one owner,
    :meth:`q` builds the query condition. Get it from :func:`owner_scope` (one per user
    object, so one per request). A department scope of a user without a department is the
    narrowest one, ``own``. The owners are users of the user's tenant, deactivated ones
    too (their records stay in the scope).
    """

    def __init__(self, user: User):
        self.user = user
        kind = user.data_scope
        departmental = (DataScope.DEPARTMENT, DataScope.DEPARTMENT_AND_BELOW)
        if kind in departmental and not user.department_id:
            kind = DataScope.OWN
        self.kind: str = kind
        self._ids: list[int] | None = None
        self._id_set: frozenset[int] | None = None
        self._inline = False

    def __repr__(self) -> str:
        return f"<OwnerScope {self.kind} of user {self.user.pk}>"

    @property
    def is_all(self) -> bool:
        """Every owner of the tenant (and records without owner)."""
        return self.kind == DataScope.ALL

    @property
    def is_alone(self) -> bool:
        """The scope holds the user alone (``own``, or nobody reports to them), known without
        reading a department: a department scope is never called alone (its query answers)."""
        return self._listed() and len(self.ids()) == 1

    def _listed(self) -> bool:
        # Scopes whose ids are a Python list from the start (no subquery to keep).
        return self.kind in (DataScope.OWN, DataScope.OWN_AND_SUBORDINATES)

    def users(self) -> QuerySet:
        """The users of the scope as a queryset (a subquery when filtered on), every user of
        the tenant for ``all``."""
        users = User.tenant_objects.filter(tenant_id=self.user.tenant_id)
        if self.is_all:
            return users
        if self.kind == DataScope.DEPARTMENT:
            return users.filter(department_id=self.user.department_id)
        if self.kind == DataScope.DEPARTMENT_AND_BELOW:
            subtree = Department.objects.filter(
                tenant_id=self.user.tenant_id, path__startswith=self.user.department.path
            ).values("id")
            return users.filter(department_id__in=subtree)
        return users.filter(pk__in=self.ids())

    def ids(self) -> list[int] | None:
        """The ids of the users of the scope, the user first; ``None`` for ``all``. Read
        once and kept (no query for ``own``, one for the others)."""
        if self.is_all:
            return None
        if self._ids is None:
            if self.kind == DataScope.OWN:
                ids = [self.user.pk]
            elif self.kind == DataScope.OWN_AND_SUBORDINATES:
                ids = [self.user.pk, *subordinate_ids(self.user)]
            else:
                found = self.users().order_by("pk").values_list("id", flat=True)
                ids = [self.user.pk, *(pk for pk in found if pk != self.user.pk)]
            self._ids = ids
        return self._ids

    def covers(self, owner_id: int | None) -> bool:
        """Is a record owned by ``owner_id`` inside the scope? A record without owner only
        for ``all``. At most one query per scope object (the ids, then kept)."""
        if self.is_all:
            return True
        if owner_id is None:
            return False
        if owner_id == self.user.pk:
            return True
        if self._id_set is None:
            self._id_set = frozenset(self.ids())
        return owner_id in self._id_set

    def q(self, field: str = "owner_id") -> Q:
        """The condition "``field`` (a user id) lies in the scope": an empty ``Q()`` for
        ``all`` (records without owner included), otherwise ``field IN (…)`` with the ids of
        ``own`` and ``own_and_subordinates`` as literals and a department scope as a
        subquery (one query whatever the department's size), unless :meth:`inline_ids`."""
        if self.is_all:
            return Q()
        if self._listed() or self._inline:
            return Q(**{f"{field}__in": self.ids()})
        return Q(**{f"{field}__in": self.users().values("id")})

    def inline_ids(self) -> OwnerScope:
        """From now on :meth:`q` writes a department scope's ids as literals (read with one
        small query, kept for the request).

        PERF: with the subquery inside visible_to's OR PostgreSQL cannot estimate the OR and
        picks (parallel) sequential scans: a manager's 我参与的 count took 105-135 ms on a
        200k-customer tenant, 5 ms with the list (bench/customer_list.py). The customer
        lists ask for it; visible_to alone keeps the subquery, so it stays one query."""
        self.ids()
        self._inline = True
        return self

    def count(self) -> int:
        """How many people the scope holds (the user too): the active users of the tenant
        for ``all``, deactivated owners counted otherwise (their records are still seen)."""
        if self.is_all:
            return User.tenant_objects.filter(tenant_id=self.user.tenant_id, is_active=True).count()
        return len(self.ids())

    def others(self) -> list[int] | None:
        """The ids of the scope without the user's own (下属/团队), ``None`` for ``all``."""
        ids = self.ids()
        return None if ids is None else [pk for pk in ids if pk != self.user.pk]


def owner_scope(user: User) -> OwnerScope:
    """The data scope of ``user`` (:class:`OwnerScope`), kept on the user object for the
    request."""
    scope = getattr(user, "_owner_scope", None)
    if scope is None:
        scope = user._owner_scope = OwnerScope(user)
    return scope


def subordinate_ids(user: User) -> list[int]:
    """Direct and indirect reports of ``user`` (one query over the tenant's reporting lines)."""
    edges = User.tenant_objects.filter(tenant_id=user.tenant_id, manager__isnull=False)
    children: dict[int, list[int]] = {}
    for uid, manager_id in edges.values_list("id", "manager_id"):
        children.setdefault(manager_id, []).append(uid)
    found: list[int] = []
    seen = {user.pk}
    stack = list(children.get(user.pk, []))
    while stack:
        uid = stack.pop()
        if uid in seen:
            continue
        seen.add(uid)
        found.append(uid)
        stack.extend(children.get(uid, []))
    return found


def participants_relation(model: type[models.Model]) -> tuple[type[models.Model], str] | None:
    """(through model, name of its foreign key to ``model``) when the model has participants."""
    try:
        field = model._meta.get_field("participants")
    except FieldDoesNotExist:
        return None
    return field.remote_field.through, field.m2m_field_name()


def participated_q(user: User, model: type[models.Model]) -> Q:
    relation = participants_relation(model)
    if relation is None:
        return Q(pk__in=[])
    through, fk_name = relation
    return Q(pk__in=through.objects.filter(user_id=user.pk).values(fk_name))


def visible_to(
    user: User, queryset: QuerySet, *, include_public: bool = True, include_pool: bool = True
) -> QuerySet:
    """The rows of ``queryset`` (any owned model) that ``user`` may see.

    A model may add rows every member sees with a ``visible_to_all_q()`` classmethod
    (public customers); personal lists leave those out with ``include_public=False``. A model
    with a pool adds the pooled rows a user may see with ``visible_in_pool_q(user)`` (members
    of the pool group); lists of owned records leave them out with ``include_pool=False``."""
    if not user.is_authenticated or not user.is_active or user.tenant_id is None:
        return queryset.none()
    # The scope already filters by tenant; the explicit filter is the belt to its braces.
    queryset = queryset.filter(tenant_id=user.tenant_id)
    conditions = visibility_conditions(
        user, queryset.model, include_public=include_public, include_pool=include_pool
    )
    if conditions is None:
        return queryset
    return queryset.filter(functools.reduce(operator.or_, conditions.values()))


def visibility_conditions(
    user: User, model: type[models.Model], *, include_public: bool = True, include_pool: bool = True
) -> dict[str, Q] | None:
    """The conditions visible_to joins with OR, by name (``owned`` inside the data scope,
    ``participated``, ``public``, ``pool``), for an active user of a tenant; ``None`` when the
    data scope is ``all`` (every row of the tenant). visible_parts splits the same ones."""
    scope = owner_scope(user)
    if scope.is_all:
        return None
    conditions = {"owned": scope.q("owner_id"), "participated": participated_q(user, model)}
    public = getattr(model, "visible_to_all_q", None)
    if public is not None and include_public:
        conditions["public"] = public()
    # Records lying in a pool (customers, leads) are seen by the pool's members.
    pooled = getattr(model, "visible_in_pool_q", None)
    if pooled is not None and include_pool:
        conditions["pool"] = pooled(user)
    return conditions


def visible_parts(
    user: User, queryset: QuerySet, *, include_public: bool = True, include_pool: bool = True
) -> dict[str, QuerySet] | None:
    """``visible_to(user, queryset, …)`` as disjoint querysets whose union is the same rows,
    named as visibility_conditions names them: each holds the rows of its condition that no
    condition before it holds.

    PERF: each part is a plain AND that one tenant-leading index answers, where PostgreSQL
    can only run visible_to's OR as a filter over a walk of the whole tenant's index: a rep's
    capped count of 10,000 visible customers walked ~100,000 index entries (15 ms on a
    200k-customer tenant). A UNION ALL of the parts reads visible rows only
    (customers.selectors: capped counts and list pages). ``None`` when visible_to has no OR
    to split (scope ``all``, or nothing visible).
    """
    if not user.is_authenticated or not user.is_active or user.tenant_id is None:
        return None
    queryset = queryset.filter(tenant_id=user.tenant_id)
    conditions = visibility_conditions(
        user, queryset.model, include_public=include_public, include_pool=include_pool
    )
    if conditions is None:
        return None
    parts, earlier = {}, []
    for name, condition in conditions.items():
        part = queryset.filter(condition)
        for before in earlier:
            # exclude() keeps the rows whose owner is NULL (NOT IN alone would drop them).
            part = part.exclude(before)
        parts[name] = part
        earlier.append(condition)
    return parts


def can_see(user: User, obj: models.Model) -> bool:
    return visible_to(user, type(obj).objects.filter(pk=obj.pk)).exists()


def edit_permission(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.change_{model._meta.model_name}"


def can_edit(user: User, obj: models.Model) -> bool:
    """Owner, users whose data scope covers the owner, or participants holding the
    django-guardian object grant ``<app>.change_<model>`` on this row (participants without
    it, and members who see a public record, only read)."""
    if not can_see(user, obj):
        return False
    if owner_scope(user).covers(obj.owner_id):
        return True
    return user.has_perm(edit_permission(type(obj)), obj)


def get_visible_or_404(user: User, queryset: QuerySet, **lookup) -> models.Model:
    """One visible row, or 404 for rows that are missing, in another tenant or invisible."""
    try:
        return visible_to(user, queryset).get(**lookup)
    except queryset.model.DoesNotExist as exc:
        raise Http404 from exc
