"""Reads of the core for an actor, already filtered by tenant (and data scope)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from crm import masking
from crm.models import (
    ActivityLog,
    Delivery,
    Department,
    Notification,
    Option,
    ReminderPreference,
    Role,
    Tenant,
    User,
    Webhook,
)


def notification_list(*, actor: User) -> QuerySet:
    return Notification.objects.filter(tenant_id=actor.tenant_id, recipient=actor)


def notification_get_for_actor(*, actor: User, pk: int) -> Notification:
    try:
        return notification_list(actor=actor).get(pk=pk)
    except Notification.DoesNotExist as exc:
        raise Http404 from exc


def activity_by_actor(*, actor: User) -> QuerySet:
    return ActivityLog.objects.filter(tenant_id=actor.tenant_id, actor=actor).select_related(
        "actor", "content_type"
    )


def activity_recent(*, actor: User, limit: int = 10) -> list[ActivityLog]:
    """我的最近操作: the actor's latest ``limit`` entries, masked for them as the records'
    timelines are (:func:`activity_masked`)."""
    return activity_masked(actor=actor, entries=activity_by_actor(actor=actor)[:limit])


def activity_masked(*, actor: User, entries) -> list[ActivityLog]:
    """Entries about any records (the audit log, 我的最近操作) with the values ``actor`` may
    not see on their records now replaced by ``***`` (crm.masking.mask_activity, per record).
    SECURITY: an entry whose record is gone has every maskable field of its model masked.
    PERF: one query per model with masking rules on the page, none for the others."""
    entries = list(entries)
    by_model: dict[type, dict[int, list[ActivityLog]]] = {}
    for entry in entries:
        model = entry.content_type.model_class()
        if model is None or not masking.rules_for(model):
            continue
        by_model.setdefault(model, {}).setdefault(entry.object_id, []).append(entry)
    for model, by_id in by_model.items():
        rows = list(model._base_manager.filter(tenant_id=actor.tenant_id, pk__in=list(by_id)))
        masking.prepare(actor, rows)  # what each row hides, computed for all of them at once
        found = {row.pk: row for row in rows}
        maskable = masking.maskable_paths(model)
        relations: dict[str, str] = {}
        for rule in masking.rules_for(model):
            relations.update(rule.activity_relations(model))
        for object_id, group in by_id.items():
            row = found.get(object_id)
            if row is not None:
                masking.mask_activity(actor, row, group, paths=masking.prepared_paths(row))
                continue
            for entry in group:
                relation = next((r for a, r in relations.items() if entry.action.startswith(a)), "")
                prefix = f"{relation}__" if relation else ""
                names = {
                    p[len(prefix) :]
                    for p in maskable
                    if p.startswith(prefix) and "__" not in p[len(prefix) :]
                }
                if isinstance(entry.changes, dict) and names & set(entry.changes):
                    entry.changes = {
                        k: ([masking.MASK, masking.MASK] if k in names else v)
                        for k, v in entry.changes.items()
                    }
    return entries


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


# ---------------------------------------------------------------- reminders (issue 18)


def tenant_of(*, actor: User) -> Tenant:
    """The actor's tenant (its settings: time zone, escalation days)."""
    return Tenant.objects.get(pk=actor.tenant_id)


def reminder_preference_for(*, actor: User) -> ReminderPreference:
    """The actor's preference row, or an unsaved one holding the defaults (no row yet)."""
    pref = ReminderPreference.objects.filter(tenant_id=actor.tenant_id, user=actor).first()
    return pref or ReminderPreference(tenant_id=actor.tenant_id, user=actor)


def webhook_own(*, actor: User) -> Webhook | None:
    """The actor's own group bot."""
    return Webhook.objects.filter(tenant_id=actor.tenant_id, user=actor).first()


def webhook_of_department(*, actor: User) -> Webhook | None:
    """The group bot of the actor's department (read-only on their page)."""
    if not actor.department_id:
        return None
    return (
        Webhook.objects.filter(tenant_id=actor.tenant_id, department_id=actor.department_id)
        .select_related("department")
        .first()
    )


def department_webhook_list(*, actor: User) -> QuerySet:
    return (
        Webhook.objects.filter(tenant_id=actor.tenant_id, department__isnull=False)
        .select_related("department")
        .order_by("department__path")
    )


def department_webhook_get_for_actor(*, actor: User, pk: int) -> Webhook:
    """SECURITY: another tenant's id, or a user's own webhook, is a 404 like a missing one."""
    try:
        return department_webhook_list(actor=actor).get(pk=pk)
    except Webhook.DoesNotExist as exc:
        raise Http404 from exc


def delivery_list(*, actor: User, status: str = "", channel: str = "", q: str = "") -> QuerySet:
    """The delivery log, newest first. PERF: recipient and webhook come in the same query."""
    qs = Delivery.objects.filter(tenant_id=actor.tenant_id).select_related("recipient", "webhook")
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel=channel)
    if q:
        qs = qs.filter(
            Q(recipient__name__icontains=q)
            | Q(recipient__username__icontains=q)
            | Q(target__icontains=q)
        )
    return qs.order_by("-created_at", "-id")
