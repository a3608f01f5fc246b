"""Reads of the core for an actor, already filtered by tenant (and data scope)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from crm import masking
from crm.models import ActivityLog, Department, Notification, Option, Role, User
from crm.visibility import owner_scope


def notification_list(*, actor: User) -> QuerySet:
    return Notification.objects.filter(tenant_id=actor.tenant_id, recipient=actor)


def notification_get_for_actor(*, actor: User, pk: int) -> Notification:
    try:
        return notification_list(actor=actor).get(pk=pk)
    except Notification.DoesNotExist as exc:
        raise Http404 from exc


def activity_by_actor(*, actor: User) -> QuerySet:
    return ActivityLog.objects.filter(tenant_id=actor.tenant_id, actor=actor).select_related(
        "content_type"
    )


def activity_for_object(*, obj) -> QuerySet:
    """Every activity-log entry about ``obj``, newest first, as stored (unmasked: pages
    showing a record's history to a user read :func:`activity_timeline`)."""
    return (
        ActivityLog.objects.for_object(obj)
        .filter(tenant_id=obj.tenant_id)
        .select_related("actor", "content_type")
    )


def activity_timeline(*, actor: User, obj, limit: int = 200) -> list[ActivityLog]:
    """The activity tab of a record as ``actor`` may read it: its latest ``limit`` entries,
    with the old and new values of the fields ``actor`` may not see on it now (crm.masking:
    a pooled row's hidden fields, its contacts' too) shown as ``***``."""
    return masking.mask_activity(actor, obj, activity_for_object(obj=obj)[:limit])


def activity_list(*, actor: User, q: str = "") -> QuerySet:
    qs = ActivityLog.objects.filter(tenant_id=actor.tenant_id).select_related(
        "actor", "content_type"
    )
    if q:
        qs = qs.filter(
            Q(object_repr__icontains=q)
            | Q(actor__name__icontains=q)
            | Q(actor__username__icontains=q)
        )
    return qs


def visible_user_count(*, actor: User) -> int:
    """How many people's records the actor sees through their data scope (themselves too)."""
    return owner_scope(actor).count()


def department_tree(*, actor: User) -> list[Department]:
    """Every department of the tenant in tree order, with member counts and heads."""
    return list(
        Department.objects.filter(tenant_id=actor.tenant_id)
        .select_related("leader", "parent")
        .annotate(member_count=Count("members", filter=Q(members__is_active=True)))
        .order_by("path")
    )


def user_list(
    *, actor: User, q: str = "", department: Department | None = None, status: str = ""
) -> QuerySet:
    qs = User.tenant_objects.filter(tenant_id=actor.tenant_id).select_related(
        "department", "role", "manager"
    )
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(name__icontains=q) | Q(mobile__icontains=q))
    if department is not None:
        qs = qs.filter(department__path__startswith=department.path)
    if status == "active":
        qs = qs.filter(is_active=True)
    elif status == "inactive":
        qs = qs.filter(is_active=False)
    return qs.order_by("-is_active", "department__path", "name", "id")


def role_list(*, actor: User) -> QuerySet:
    return (
        Role.objects.filter(tenant_id=actor.tenant_id)
        .annotate(user_count=Count("users", filter=Q(users__is_active=True)))
        .order_by("id")
    )


def option_list(*, actor: User, kind: str) -> QuerySet:
    return Option.objects.filter(tenant_id=actor.tenant_id, kind=kind).order_by("sort_order", "id")


def options_for(*, tenant_id: int, kind: str, include: Option | None = None) -> QuerySet:
    """Active options of a list for a choice field (plus the record's current one)."""
    q = Q(is_active=True)
    if include is not None:
        q |= Q(pk=include.pk)
    return Option.objects.filter(Q(tenant_id=tenant_id, kind=kind) & q).order_by("sort_order", "id")
