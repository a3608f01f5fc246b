"""Settings pages of the pool groups (pool.manage): list, create, edit, delete, initialise."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.exceptions import ServiceError
from crm.views.base import service_message, tenant_view
from customers.models import Customer
from pools import services
from pools.forms import GroupForm, InitializeForm, LevelRuleFormSet
from pools.models import PoolGroup, PoolGroupUser, PoolLevelRule


def _get(request, pk: int) -> PoolGroup:
    """SECURITY: another tenant's id is a 404, exactly like a missing one."""
    return get_object_or_404(PoolGroup.objects.filter(tenant_id=request.user.tenant_id), pk=pk)


def _group_rows(tenant_id: int):
    """The tenant's groups with what the list shows, in a fixed number of queries.

    PERF: one query for the groups (with their member department count), one for the level
    rules with their levels, one for the member users with their users, one for the
    customer counts of every group.
    """
    counts = {
        row["pool_group"]: row
        for row in Customer.objects.filter(
            tenant_id=tenant_id, pool_group__isnull=False, deleted_at__isnull=True
        )
        .values("pool_group")
        .annotate(total=Count("id"), pooled=Count("id", filter=Q(pooled_at__isnull=False)))
    }
    groups = list(
        PoolGroup.objects.filter(tenant_id=tenant_id)
        .annotate(department_count=Count("member_departments", distinct=True))
        .prefetch_related(
            Prefetch(
                "level_rules",
                queryset=PoolLevelRule.objects.select_related("level").order_by(
                    "level__sort_order", "level_id"
                ),
            ),
            Prefetch(
                "member_users",
                queryset=PoolGroupUser.objects.select_related("user").order_by(
                    "-is_admin", "user__name", "user_id"
                ),
            ),
        )
    )
    for group in groups:
        members = group.member_users.all()
        group.admins = [m.user for m in members if m.is_admin]
        group.user_count = len(members)
        row = counts.get(group.pk, {})
        group.customer_count = row.get("total", 0)
        group.pooled_count = row.get("pooled", 0)
    return groups


@tenant_view("pool.manage")
def group_list(request):
    tid = request.user.tenant_id
    context = {
        "groups": _group_rows(tid),
        "initialize_form": InitializeForm(tenant_id=tid),
        "active_nav": "pool-groups",
    }
    return render(request, "pools/settings/group_list.html", context)


def _group_form_view(request, group: PoolGroup | None):
    tid = request.user.tenant_id
    data = request.POST if request.method == "POST" else None
    form = GroupForm(data, tenant_id=tid, group=group)
    levels = LevelRuleFormSet(data, tenant_id=tid, group=group)
    context = {"form": form, "levels": levels, "group": group, "active_nav": "pool-groups"}
    template = "pools/settings/group_form.html"
    if request.method != "POST":
        return render(request, template, context)
    if not (form.is_valid() and levels.is_valid()):
        return render(request, template, context, status=422)
    cleaned = form.cleaned_data
    try:
        saved = services.pool_group_save(
            actor=request.user,
            data=form.rule_data(),
            group=group,
            departments=list(cleaned["departments"]),
            users=list(cleaned["users"]),
            admins=list(cleaned["admins"]),
            level_rules=levels.level_rules(),
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, template, context, status=422)
    messages.success(request, _("Pool group %(name)s was saved.") % {"name": saved.name})
    return redirect("pools:group-list")


@tenant_view("pool.manage")
def group_create(request):
    return _group_form_view(request, None)


@tenant_view("pool.manage")
def group_edit(request, pk: int):
    return _group_form_view(request, _get(request, pk))


@tenant_view("pool.manage")
@require_POST
def group_delete(request, pk: int):
    group = _get(request, pk)
    name = group.name
    try:
        services.pool_group_delete(actor=request.user, group=group)
    except ServiceError as exc:
        service_message(request, exc)
    else:
        messages.success(request, _("Pool group %(name)s was deleted.") % {"name": name})
    return redirect("pools:group-list")


@tenant_view("pool.manage")
@require_POST
def group_initialize(request):
    form = InitializeForm(request.POST, tenant_id=request.user.tenant_id)
    if not form.is_valid():
        messages.error(request, _("Choose a valid pool group."))
        return redirect("pools:group-list")
    group = form.cleaned_data["group"]
    try:
        owned, pooled = services.pool_initialize(actor=request.user, group=group)
    except ServiceError as exc:
        service_message(request, exc)
    else:
        messages.success(
            request,
            _(
                "Pool groups initialised into %(group)s: %(owned)d owned customers got the "
                "group, %(pooled)d ownerless customers went into its pool."
            )
            % {"group": group.name, "owned": owned, "pooled": pooled},
        )
    return redirect("pools:group-list")
