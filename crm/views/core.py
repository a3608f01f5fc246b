"""Workbench, notifications and the user's own account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors, services
from crm.exceptions import ServiceError
from crm.forms import LoginForm, PasswordChangeForm
from crm.views.base import paginate, render_form_error, tenant_view
from crm.workbench import panels_for as workbench_panels


class TenantLoginView(LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@tenant_view()
def workbench(request):
    user = request.user
    context = {
        "panels": workbench_panels(request),
        "unread": selectors.notification_list(actor=user).unread()[:5],
        "recent_activity": selectors.activity_recent(actor=user, limit=10),
    }
    return render(request, "crm/workbench.html", context)


@tenant_view()
def notification_list(request):
    only_unread = request.GET.get("unread") == "1"
    qs = selectors.notification_list(actor=request.user)
    if only_unread:
        qs = qs.unread()
    page = paginate(request, qs, per_page=20)
    return render(request, "crm/notification_list.html", {"page": page, "only_unread": only_unread})


@tenant_view()
@require_POST
def notification_read(request, pk: int):
    notification = selectors.notification_get_for_actor(actor=request.user, pk=pk)
    services.notification_mark_read(actor=request.user, ids=[notification.pk])
    if request.htmx:
        notification.refresh_from_db()
        return render(
            request,
            "crm/notification_list.html#notification-item",
            {"n": notification, "oob_bell": True},
        )
    # SECURITY: only local paths; "//host" and "/\\host" would leave the site.
    link = notification.local_link
    if link and url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()}):
        return redirect(link)
    return redirect("crm:notification-list")


@tenant_view()
@require_POST
def notification_read_all(request):
    count = services.notification_mark_read(actor=request.user)
    messages.success(request, _("%(count)d notifications marked as read.") % {"count": count})
    return redirect("crm:notification-list")


@tenant_view()
def notification_bell(request) -> HttpResponse:
    """The bell alone, for htmx polling."""
    return render(request, "layouts/app.html#bell", {})


# The bell's dropdown shows this many of the latest notifications.
BELL_MENU_SIZE = 5


@tenant_view()
def notification_menu(request) -> HttpResponse:
    """The bell's dropdown: the latest notifications, read or not, newest first (loaded by
    tidepool.js when the bell is clicked; without JavaScript the bell links to the list).
    PERF: one query, whatever the number of notifications."""
    latest = list(selectors.notification_list(actor=request.user)[:BELL_MENU_SIZE])
    return render(request, "crm/notification_menu.html", {"latest": latest})


@tenant_view()
def password_change(request):
    """The user's own password; the only page open to a user who must change it
    (``crm.middleware.PasswordChangeRequiredMiddleware``)."""
    form = PasswordChangeForm(request.POST or None)
    context = {"form": form, "required": request.user.must_change_password}
    if request.method == "POST" and form.is_valid():
        try:
            services.user_change_own_password(
                actor=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ServiceError as exc:
            return render_form_error(request, "crm/password_change.html", context, form, exc)
        update_session_auth_hash(request, request.user)
        messages.success(request, _("Your password has been changed."))
        return redirect("crm:workbench")
    status = 422 if request.method == "POST" else 200
    return render(request, "crm/password_change.html", context, status=status)
