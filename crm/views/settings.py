"""The tenant admin's settings pages: departments, users, roles, option lists, audit log."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import rights, selectors, services
from crm.exceptions import ServiceError
from crm.forms import (
    DepartmentForm,
    DepartmentMoveForm,
    OptionForm,
    RoleForm,
    UserFilterForm,
    UserForm,
)
from crm.idempotency import once
from crm.models import Department, Option, OptionKind, Role, User
from crm.views.base import paginate, render_form_error, service_message, tenant_view


def _get(request, model, pk):
    """SECURITY: another tenant's id is a 404, exactly like a missing one."""
    manager = User.tenant_objects if model is User else model.objects
    return get_object_or_404(manager.filter(tenant_id=request.user.tenant_id), pk=pk)


# ---------------------------------------------------------------- departments


@tenant_view("settings.manage")
@once
def department_list(request):
    tid = request.user.tenant_id
    form = DepartmentForm(request.POST or None, tenant_id=tid)
    if request.method == "POST" and form.is_valid():
        try:
            dept = services.department_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("Department %(name)s was added.") % {"name": dept})
            return redirect("crm:department-list")
    context = {"departments": selectors.department_tree(actor=request.user), "form": form}
    status = 422 if form.errors else 200
    return render(request, "crm/department_list.html", context, status=status)


@tenant_view("settings.manage")
def department_edit(request, pk: int):
    dept = _get(request, Department, pk)
    tid = request.user.tenant_id
    form = DepartmentForm(
        request.POST or None,
        tenant_id=tid,
        with_parent=False,
        initial={"name": dept.name, "leader": dept.leader_id},
    )
    move_form = DepartmentMoveForm(
        tenant_id=tid, department=dept, initial={"parent": dept.parent_id}
    )
    context = {
        "department": dept,
        "form": form,
        "move_form": move_form,
        "activity": selectors.activity_for_object(obj=dept)[:50],
    }
    if request.method == "POST":
        if form.is_valid():
            try:
                services.department_update(actor=request.user, department=dept, **form.cleaned_data)
            except ServiceError as exc:
                return render_form_error(request, "crm/department_edit.html", context, form, exc)
            messages.success(request, _("Department saved."))
            return redirect("crm:department-list")
        return render(request, "crm/department_edit.html", context, status=422)
    return render(request, "crm/department_edit.html", context)


@tenant_view("settings.manage")
@require_POST
def department_move(request, pk: int):
    dept = _get(request, Department, pk)
    form = DepartmentMoveForm(request.POST, tenant_id=request.user.tenant_id, department=dept)
    if form.is_valid():
        try:
            services.department_move(
                actor=request.user, department=dept, parent=form.cleaned_data["parent"]
            )
        except ServiceError as exc:
            service_message(request, exc)
            return redirect("crm:department-edit", pk=dept.pk)
        messages.success(request, _("Department moved."))
        return redirect("crm:department-list")
    messages.error(request, _("Choose a valid parent department."))
    return redirect("crm:department-edit", pk=dept.pk)


@tenant_view("settings.manage")
@require_POST
def department_toggle(request, pk: int):
    dept = _get(request, Department, pk)
    try:
        services.department_set_active(
            actor=request.user, department=dept, active=not dept.is_active
        )
    except ServiceError as exc:
        service_message(request, exc)
    else:
        messages.success(
            request, _("Department enabled.") if dept.is_active else _("Department disabled.")
        )
    return redirect("crm:department-list")


# ---------------------------------------------------------------- users


@tenant_view("users.manage")
def user_list(request):
    filters = UserFilterForm(request.GET or None, tenant_id=request.user.tenant_id)
    data = filters.cleaned_data if filters.is_valid() else {}
    qs = selectors.user_list(
        actor=request.user,
        q=data.get("q") or "",
        department=data.get("department"),
        status=data.get("status") or "",
    )
    return render(
        request, "crm/user_list.html", {"page": paginate(request, qs), "filters": filters}
    )


def _password_once(request, target: User, password: str, *, created: bool):
    """SECURITY: a generated password travels in this one response only: never in the
    session, the messages or a URL, and the response may not be stored (no back button,
    no proxy cache). The user must replace it at the next sign-in."""
    context = {"target": target, "password": password, "created": created}
    response = render(request, "crm/user_password.html", context)
    add_never_cache_headers(response)  # Cache-Control: no-store, no-cache, …, private
    return response


# No @once here (nor on the reset): it would keep the answer, the password in clear, in the
# cache and show it again; a second submission is refused as "username taken" instead.
@tenant_view("users.manage")
def user_create(request):
    form = UserForm(request.POST or None, actor=request.user)
    context = {"form": form}
    if request.method == "POST":
        if form.is_valid():
            try:
                user, password = services.user_create(actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                return render_form_error(request, "crm/user_form.html", context, form, exc)
            if not form.cleaned_data.get("password"):
                return _password_once(request, user, password, created=True)
            messages.success(request, _("User %(name)s was created.") % {"name": user})
            return redirect("crm:user-edit", pk=user.pk)
        return render(request, "crm/user_form.html", context, status=422)
    return render(request, "crm/user_form.html", context)


@tenant_view("users.manage")
def user_edit(request, pk: int):
    target = _get(request, User, pk)
    initial = {
        "username": target.username,
        "name": target.name,
        "mobile": target.mobile,
        "email": target.email,
        "title": target.title,
        "department": target.department_id,
        "role": target.role_id,
        "manager": target.manager_id,
    }
    form = UserForm(request.POST or None, actor=request.user, editing=target, initial=initial)
    context = {
        "form": form,
        "target": target,
        # A user with more rights than the actor is shown, not managed (the services refuse).
        "outranks": rights.user_outranks(request.user, target),
        "activity": selectors.activity_for_object(obj=target)[:50],
    }
    if request.method == "POST":
        if form.is_valid():
            try:
                services.user_update(actor=request.user, user=target, **form.cleaned_data)
            except ServiceError as exc:
                return render_form_error(request, "crm/user_form.html", context, form, exc)
            messages.success(request, _("User saved."))
            return redirect("crm:user-edit", pk=target.pk)
        return render(request, "crm/user_form.html", context, status=422)
    return render(request, "crm/user_form.html", context)


@tenant_view("users.manage")
@require_POST
def user_toggle(request, pk: int):
    target = _get(request, User, pk)
    try:
        services.user_set_active(actor=request.user, user=target, active=not target.is_active)
    except ServiceError as exc:
        service_message(request, exc)
    else:
        messages.success(
            request,
            _("User reactivated.")
            if target.is_active
            else _("User deactivated: they can no longer sign in."),
        )
    return redirect("crm:user-edit", pk=target.pk)


# No @once: its answer shows the new password; a second reset just resets again.
@tenant_view("users.manage")
@require_POST
def user_reset_password(request, pk: int):
    target = _get(request, User, pk)
    try:
        password = services.user_reset_password(actor=request.user, user=target)
    except ServiceError as exc:
        service_message(request, exc)
        return redirect("crm:user-edit", pk=target.pk)
    return _password_once(request, target, password, created=False)


# ---------------------------------------------------------------- roles


@tenant_view("users.manage")
def role_list(request):
    return render(request, "crm/role_list.html", {"roles": selectors.role_list(actor=request.user)})


def _role_form_view(request, role: Role | None):
    initial = {}
    if role is not None:
        initial = {
            "name": role.name,
            "description": role.description,
            "data_scope": role.data_scope,
            "permissions": role.permissions,
        }
    form = RoleForm(request.POST or None, actor=request.user, initial=initial)
    context = {
        "form": form,
        "role": role,
        # A role holding more than the actor's rights is shown, not changed (the services
        # refuse).
        "outranks": role is not None and rights.role_exceeds(request.user, role),
    }
    if role is not None:
        context["activity"] = selectors.activity_for_object(obj=role)[:50]
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "crm/role_form.html", context, status=422)
        data = form.cleaned_data
        kwargs = {
            "name": data["name"],
            "permission_codes": data["permissions"],
            "data_scope": data["data_scope"],
            "description": data["description"],
        }
        try:
            if role is None:
                role = services.role_create(actor=request.user, **kwargs)
            else:
                services.role_update(actor=request.user, role=role, **kwargs)
        except ServiceError as exc:
            return render_form_error(request, "crm/role_form.html", context, form, exc)
        messages.success(request, _("Role saved."))
        return redirect("crm:role-list")
    return render(request, "crm/role_form.html", context)


@tenant_view("users.manage")
@once
def role_create(request):
    return _role_form_view(request, None)


@tenant_view("users.manage")
def role_edit(request, pk: int):
    return _role_form_view(request, _get(request, Role, pk))


@tenant_view("users.manage")
@require_POST
def role_delete(request, pk: int):
    role = _get(request, Role, pk)
    try:
        services.role_delete(actor=request.user, role=role)
    except ServiceError as exc:
        service_message(request, exc)
        return redirect("crm:role-edit", pk=role.pk)
    messages.success(request, _("Role deleted."))
    return redirect("crm:role-list")


# ---------------------------------------------------------------- option lists


def _kind(request) -> str:
    """The option list asked for; an unknown one is a 404 (never another list)."""
    kind = request.POST.get("kind") or request.GET.get("kind") or OptionKind.CUSTOMER_SOURCE
    if kind not in OptionKind.values:
        raise Http404
    return kind


def _options_context(request, kind, form=None, edit_error=None):
    return {
        "kinds": OptionKind.choices,
        "kind": kind,
        "kind_label": OptionKind(kind).label,
        "options": selectors.option_list(actor=request.user, kind=kind),
        "form": form or OptionForm(),
        "edit_error": edit_error,
    }


@tenant_view("settings.manage")
@once
def option_list(request):
    kind = _kind(request)
    form = OptionForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.option_create(
                    actor=request.user, kind=kind, label=form.cleaned_data["label"]
                )
            except ServiceError as exc:
                form.add_error("label", str(exc.message))
            else:
                return _options_done(request, kind)
        context = _options_context(request, kind, form)
        template = "crm/option_list.html#options" if request.htmx else "crm/option_list.html"
        return render(request, template, context, status=422)
    return render(request, "crm/option_list.html", _options_context(request, kind))


def _options_done(request, kind):
    if request.htmx:
        return render(request, "crm/option_list.html#options", _options_context(request, kind))
    return redirect(f"{reverse('crm:option-list')}?kind={kind}")


@tenant_view("settings.manage")
@require_POST
def option_edit(request, pk: int):
    option = _get(request, Option, pk)
    form = OptionForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.option_update(actor=request.user, option=option, **form.cleaned_data)
        except ServiceError as exc:
            error = str(exc.message)
    else:
        error = _("Enter a label.")
    if error is None:
        return _options_done(request, option.kind)
    if request.htmx:
        context = _options_context(request, option.kind, edit_error=error)
        return render(request, "crm/option_list.html#options", context, status=422)
    messages.error(request, error)
    return redirect(f"{reverse('crm:option-list')}?kind={option.kind}")


@tenant_view("settings.manage")
@require_POST
def option_move(request, pk: int):
    option = _get(request, Option, pk)
    services.option_move(
        actor=request.user, option=option, offset=-1 if request.POST.get("direction") == "up" else 1
    )
    return _options_done(request, option.kind)


# ---------------------------------------------------------------- audit log


@tenant_view("audit.view")
def audit_log(request):
    q = request.GET.get("q", "").strip()
    page = paginate(request, selectors.activity_list(actor=request.user, q=q), per_page=50)
    page.object_list = selectors.activity_masked(actor=request.user, entries=page.object_list)
    return render(request, "crm/audit_log.html", {"page": page, "q": q})
