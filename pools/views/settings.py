"""Settings pages of the pool groups (pool.manage): list, create, edit, delete, initialise.

The same pages serve the lead pools (lead.manage, ``leads.views.pool``): the helpers take
the ``kind`` of group they handle and never show or open a group of the other kind."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.views.base import form_page, service_message, tenant_view
from pools import services
from pools.forms.groups import GroupForm, InitializeForm, LevelRuleFormSet
from pools.models import PoolGroup, PoolGroupUser, PoolLevelRule
from pools.subjects import subject_for

# The public pool's groups: the pages of this module without a kind in their URL.
CUSTOMER = PoolGroup.Kind.CUSTOMER


def _pages(kind: str) -> dict:
    """The URL names and menu entry of the settings pages of ``kind`` (its subject's)."""
    return subject_for(kind).settings_pages


def _get(request, pk: int, kind: str) -> PoolGroup:
    """SECURITY: another tenant's id is a 404, exactly like a missing one; so is a group of
    the other kind (a lead pool is not edited on the public pool's pages, nor the reverse)."""
    return get_object_or_404(
        PoolGroup.objects.filter(tenant_id=request.user.tenant_id, kind=kind), pk=pk
    )


def _group_rows(tenant_id: int, kind: str):
    """The tenant's groups with what the list shows, in a fixed number of queries.

    PERF: one query for the groups (with their member department count), one for the level
    rules with their levels, one for the member users with their users, one for the
    customer (or lead) counts of every group.
    """
    counts = {
        row["pool_group"]: row
        for row in subject_for(kind)
        .live(tenant_id)
        .filter(pool_group__isnull=False)
        .values("pool_group")
        .annotate(total=Count("id"), pooled=Count("id", filter=Q(pooled_at__isnull=False)))
    }
    groups = list(
        PoolGroup.objects.filter(tenant_id=tenant_id, kind=kind)
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


def group_list_page(request, kind: str):
    tid = request.user.tenant_id
    context = {
        "kind": kind,
        "urls": _pages(kind),
        "groups": _group_rows(tid, kind),
        "initialize_form": InitializeForm(tenant_id=tid) if kind == CUSTOMER else None,
        "active_nav": _pages(kind)["nav"],
    }
    return render(request, "pools/settings/group_list.html", context)


@tenant_view("pool.manage")
def group_list(request):
    return group_list_page(request, CUSTOMER)


def group_form_page(request, group: PoolGroup | None, kind: str):
    """Create (``group`` None) or edit a group of ``kind``; lead pools have no level rules."""
    tid = request.user.tenant_id
    data = request.POST if request.method == "POST" else None
    form = GroupForm(data, tenant_id=tid, group=group, kind=kind)
    levels = (
        LevelRuleFormSet(data, tenant_id=tid, group=group)
        if subject_for(kind).level_rules
        else None
    )
    context = {
        "form": form,
        "levels": levels,
        "group": group,
        "kind": kind,
        "urls": _pages(kind),
        "active_nav": _pages(kind)["nav"],
    }

    def save():
        cleaned = form.cleaned_data
        return services.pool_group_save(
            actor=request.user,
            data=form.rule_data(),
            group=group,
            kind=kind,
            departments=list(cleaned["departments"]),
            users=list(cleaned["users"]),
            admins=list(cleaned["admins"]),
            level_rules=levels.level_rules() if levels is not None else None,
        )

    return form_page(
        request,
        "pools/settings/group_form.html",
        context,
        save=save,
        saved_message=lambda saved: _("Pool group %(name)s was saved.") % {"name": saved.name},
        success_url=_pages(kind)["list"],
        is_valid=lambda: form.is_valid() and (levels is None or levels.is_valid()),
    )


@tenant_view("pool.manage")
@once
def group_create(request):
    return group_form_page(request, None, CUSTOMER)


@tenant_view("pool.manage")
def group_edit(request, pk: int):
    return group_form_page(request, _get(request, pk, CUSTOMER), CUSTOMER)


def group_delete_action(request, pk: int, kind: str):
    group = _get(request, pk, kind)
    name = group.name
    try:
        services.pool_group_delete(actor=request.user, group=group)
    except ServiceError as exc:
        service_message(request, exc)
    else:
        messages.success(request, _("Pool group %(name)s was deleted.") % {"name": name})
    return redirect(_pages(kind)["list"])


@tenant_view("pool.manage")
@require_POST
def group_delete(request, pk: int):
    return group_delete_action(request, pk, CUSTOMER)


@tenant_view("pool.manage")
@require_POST
def group_initialize(request):
    form = InitializeForm(request.POST, tenant_id=request.user.tenant_id)
    if not form.is_valid():
        messages.error(request, _("Choose a valid pool group."))
        return redirect("pools:group-list")
    group = form.cleaned_data["group"]
    try:
        owned, pooled = services.pool_subject_initialize(
            actor=request.user, subject=subject_for(group.kind), group=group
        )
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
