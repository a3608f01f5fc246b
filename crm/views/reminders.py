"""Reminder pages (issue 18): a user's own reminder settings and group bot (``/me/reminders/``),
the tenant's reminder settings with the departments' group bots, and the delivery log
(settings.manage)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors, services, throttling
from crm.exceptions import ServiceError
from crm.forms import (
    DeliveryFilterForm,
    ReminderPreferenceForm,
    TenantReminderSettingsForm,
    WebhookForm,
)
from crm.idempotency import once
from crm.models import Delivery, ReminderChannel, Webhook
from crm.views.base import tenant_view
from crm.views.lists import back_url, chips, offset_page

# A test message waits this long for the group bot's answer (the page waits with it).
TEST_TIMEOUT = 5.0
# Test messages a user may send a minute (each one is a request to the provider).
TESTS_PER_MINUTE = 5


# ---------------------------------------------------------------- reads (crm.selectors)


def _delivery_target(delivery: Delivery) -> str:
    """Where it went, as the log may show it: a group bot's address without its key."""
    from crm.models import mask_url

    if delivery.webhook_id:
        return delivery.webhook.masked_url
    if delivery.channel == ReminderChannel.WEBHOOK and delivery.target:
        return mask_url(delivery.target)
    return delivery.target


# ---------------------------------------------------------------- my reminders


def _preferences_context(request, *, form=None, webhook_form=None) -> dict:
    user = request.user
    webhook = selectors.webhook_own(actor=user)
    pref = selectors.reminder_preference_for(actor=user)
    if form is None:
        form = ReminderPreferenceForm(initial=ReminderPreferenceForm.initial_for(pref))
    if webhook_form is None:
        initial = {"provider": webhook.provider, "url": webhook.url} if webhook else {}
        webhook_form = WebhookForm(initial=initial, has_secret=bool(webhook and webhook.secret))
    return {
        "form": form,
        "webhook_form": webhook_form,
        "webhook": webhook,
        "department_webhook": selectors.webhook_of_department(actor=user),
        "time_zone": selectors.tenant_of(actor=user).time_zone,
    }


@tenant_view()
def reminder_preferences(request):
    """The user's own reminder settings: minutes before a follow-up, quiet hours, which
    reminder reaches them by which channel, and their group bot."""
    if request.method != "POST":
        return render(request, "crm/reminder_preferences.html", _preferences_context(request))
    form = ReminderPreferenceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.reminder_preference_save(
                actor=request.user,
                minutes_before=data["minutes_before"],
                quiet_start=data["quiet_start"],
                quiet_end=data["quiet_end"],
                off=form.off,
            )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("Your reminder settings were saved."))
            return redirect("crm:reminder-preferences")
    messages.error(request, _("Nothing was saved: correct the marked fields."))
    context = _preferences_context(request, form=form)
    return render(request, "crm/reminder_preferences.html", context, status=422)


def _webhook_save_error(form: WebhookForm, exc: ServiceError) -> None:
    field = exc.code if exc.code in form.fields else None
    form.add_error(field, str(exc.message))


@tenant_view()
@require_POST
def reminder_webhook_save(request):
    """Save the user's own group bot (a blank secret keeps the saved one)."""
    webhook = selectors.webhook_own(actor=request.user)
    form = WebhookForm(request.POST, has_secret=bool(webhook and webhook.secret))
    if form.is_valid():
        try:
            services.webhook_save(actor=request.user, owner_user=request.user, **form.cleaned_data)
        except ServiceError as exc:
            _webhook_save_error(form, exc)
        else:
            messages.success(request, _("Your group bot was saved."))
            return redirect(reverse("crm:reminder-preferences") + "#group-bot")
    messages.error(request, _("The group bot was not saved: correct the marked fields."))
    context = _preferences_context(request, webhook_form=form)
    return render(request, "crm/reminder_preferences.html", context, status=422)


@tenant_view()
@require_POST
def reminder_webhook_delete(request):
    webhook = selectors.webhook_own(actor=request.user)
    if webhook is None:
        messages.info(request, _("You have no group bot."))
    else:
        services.webhook_delete(actor=request.user, webhook=webhook)
        messages.success(request, _("Your group bot was removed."))
    return redirect("crm:reminder-preferences")


def _send_test(request, webhook: Webhook | None) -> None:
    """Send a test message to ``webhook`` now and say how it went (a message)."""
    from crm import webhooks

    if webhook is None:
        messages.error(request, _("Save a group bot first."))
        return
    if not throttling.hit("webhook_test", request.user.pk, TESTS_PER_MINUTE):
        messages.error(request, _("Too many test messages in a minute. Wait a moment."))
        return
    try:
        webhooks.send(
            webhook,
            title=_("Tidepool test message"),
            text=_("%(name)s sent this test: reminders will reach this group.")
            % {"name": request.user.get_full_name()},
            link=request.build_absolute_uri(reverse("crm:reminder-preferences")),
            timeout=TEST_TIMEOUT,
        )
    except webhooks.WebhookError as exc:
        messages.error(request, _("The test message failed: %(error)s") % {"error": exc})
    else:
        messages.success(request, _("The test message was sent: look in the group."))


@tenant_view()
@require_POST
def reminder_webhook_test(request):
    _send_test(request, selectors.webhook_own(actor=request.user))
    return redirect(reverse("crm:reminder-preferences") + "#group-bot")


# ---------------------------------------------------------------- tenant settings


def _settings_context(request, *, form=None, add_form=None) -> dict:
    tid = request.user.tenant_id
    if form is None:
        tenant = selectors.tenant_of(actor=request.user)
        form = TenantReminderSettingsForm(
            initial={
                "escalation_days": tenant.followup_overdue_escalation_days,
                "time_zone": tenant.time_zone,
            }
        )
    if add_form is None:
        add_form = WebhookForm(tenant_id=tid, with_department=True)
    return {
        "form": form,
        "add_form": add_form,
        "webhooks": list(selectors.department_webhook_list(actor=request.user)),
    }


@tenant_view("settings.manage")
def reminder_settings(request):
    """The tenant's reminder settings and the departments' group bots."""
    if request.method != "POST":
        return render(request, "crm/reminder_settings.html", _settings_context(request))
    form = TenantReminderSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.tenant_reminder_settings_save(
                actor=request.user,
                escalation_days=form.cleaned_data["escalation_days"],
                time_zone=form.cleaned_data["time_zone"],
            )
        except ServiceError as exc:
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("Reminder settings saved."))
            return redirect("crm:reminder-settings")
    context = _settings_context(request, form=form)
    return render(request, "crm/reminder_settings.html", context, status=422)


@tenant_view("settings.manage")
@require_POST
@once
def department_webhook_create(request):
    form = WebhookForm(request.POST, tenant_id=request.user.tenant_id, with_department=True)
    if form.is_valid():
        try:
            services.webhook_save(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            _webhook_save_error(form, exc)
        else:
            messages.success(
                request,
                _("The group bot of %(department)s was saved.")
                % {"department": form.cleaned_data["department"]},
            )
            return redirect("crm:reminder-settings")
    messages.error(request, _("The group bot was not saved: correct the marked fields."))
    context = _settings_context(request, add_form=form)
    return render(request, "crm/reminder_settings.html", context, status=422)


@tenant_view("settings.manage")
def department_webhook_edit(request, pk: int):
    webhook = selectors.department_webhook_get_for_actor(actor=request.user, pk=pk)
    form = WebhookForm(
        request.POST or None,
        with_active=True,
        has_secret=bool(webhook.secret),
        initial={"provider": webhook.provider, "url": webhook.url, "is_active": webhook.is_active},
    )
    context = {"webhook": webhook, "form": form}
    if request.method == "POST":
        if form.is_valid():
            try:
                services.webhook_save(
                    actor=request.user, department=webhook.department, **form.cleaned_data
                )
            except ServiceError as exc:
                _webhook_save_error(form, exc)
            else:
                messages.success(
                    request,
                    _("The group bot of %(department)s was saved.")
                    % {"department": webhook.department},
                )
                return redirect("crm:reminder-settings")
        return render(request, "crm/reminder_webhook_edit.html", context, status=422)
    return render(request, "crm/reminder_webhook_edit.html", context)


@tenant_view("settings.manage")
@require_POST
def department_webhook_delete(request, pk: int):
    webhook = selectors.department_webhook_get_for_actor(actor=request.user, pk=pk)
    services.webhook_delete(actor=request.user, webhook=webhook)
    messages.success(
        request,
        _("The group bot of %(department)s was removed.") % {"department": webhook.department},
    )
    return redirect("crm:reminder-settings")


@tenant_view("settings.manage")
@require_POST
def department_webhook_test(request, pk: int):
    _send_test(request, selectors.department_webhook_get_for_actor(actor=request.user, pk=pk))
    return redirect("crm:department-webhook-edit", pk=pk)


# ---------------------------------------------------------------- delivery log


@tenant_view("settings.manage")
def delivery_list(request):
    filters = DeliveryFilterForm(request.GET or None)
    data = filters.cleaned_data if filters.is_valid() else {}
    qs = selectors.delivery_list(
        actor=request.user,
        status=data.get("status") or "",
        channel=data.get("channel") or "",
        q=(data.get("q") or "").strip(),
    )
    page = offset_page(request, qs)
    for delivery in page.items:
        delivery.shown_target = _delivery_target(delivery)
    context = {
        "page": page,
        "filters": filters,
        "filtered": bool(data and any(data.values())),
        "chips": chips(
            request,
            [
                ("failed", Delivery.Status.FAILED.label, {"status": Delivery.Status.FAILED}),
                ("pending", Delivery.Status.PENDING.label, {"status": Delivery.Status.PENDING}),
            ],
        ),
    }
    return render(request, "crm/reminder_deliveries.html", context)


@tenant_view("settings.manage")
@require_POST
def delivery_retry(request, pk: int):
    # SECURITY: another tenant's id is a 404, exactly like a missing one.
    delivery = get_object_or_404(Delivery.objects.filter(tenant_id=request.user.tenant_id), pk=pk)
    try:
        services.delivery_retry(actor=request.user, delivery=delivery)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The delivery will be sent again in a moment."))
    return redirect(back_url(request, reverse("crm:delivery-list")))
