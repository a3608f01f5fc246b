"""Settings pages of leads (lead.manage): campaigns (市场活动) and assignment rules
(线索自动分配): list, create, edit, delete, and the rules' order."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.views.base import form_page, service_message, tenant_view
from leads import assignment, campaigns
from leads.forms.settings import CampaignForm, RuleForm
from leads.models import AssignmentRule, Campaign


def _get(request, model, pk: int):
    """SECURITY: another tenant's id is a 404, exactly like a missing one."""
    return get_object_or_404(model.objects.filter(tenant_id=request.user.tenant_id), pk=pk)


# ---------------------------------------------------------------- campaigns


@tenant_view("lead.manage")
def campaign_list(request):
    context = {"campaigns": campaigns.campaign_list(actor=request.user), "active_nav": "campaigns"}
    return render(request, "leads/settings/campaign_list.html", context)


def _campaign_form_view(request, campaign: Campaign | None):
    form = CampaignForm(request.POST if request.method == "POST" else None, campaign=campaign)
    return form_page(
        request,
        "leads/settings/campaign_form.html",
        {"form": form, "campaign": campaign, "active_nav": "campaigns"},
        save=lambda: campaigns.campaign_save(
            actor=request.user, data=form.campaign_data(), campaign=campaign
        ),
        saved_message=lambda saved: _("Campaign %(name)s was saved.") % {"name": saved.name},
        success_url="leads:campaign-list",
    )


@tenant_view("lead.manage")
@once
def campaign_create(request):
    return _campaign_form_view(request, None)


@tenant_view("lead.manage")
def campaign_edit(request, pk: int):
    return _campaign_form_view(request, _get(request, Campaign, pk))


@tenant_view("lead.manage")
@require_POST
def campaign_delete(request, pk: int):
    campaign = _get(request, Campaign, pk)
    name = campaign.name
    try:
        campaigns.campaign_delete(actor=request.user, campaign=campaign)
    except ServiceError as exc:
        service_message(request, exc)
        return redirect("leads:campaign-edit", pk=campaign.pk)
    messages.success(request, _("Campaign %(name)s was deleted.") % {"name": name})
    return redirect("leads:campaign-list")


# ---------------------------------------------------------------- assignment rules


@tenant_view("lead.manage")
def rule_list(request):
    context = {"rules": assignment.rule_list(actor=request.user), "active_nav": "assignment-rules"}
    if request.htmx:
        return render(request, "leads/settings/rule_list.html#rules", context)
    return render(request, "leads/settings/rule_list.html", context)


def _rule_form_view(request, rule: AssignmentRule | None):
    tid = request.user.tenant_id
    form = RuleForm(request.POST if request.method == "POST" else None, tenant_id=tid, rule=rule)
    return form_page(
        request,
        "leads/settings/rule_form.html",
        {"form": form, "rule": rule, "active_nav": "assignment-rules"},
        save=lambda: assignment.rule_save(
            actor=request.user,
            data=form.rule_data(),
            rule=rule,
            users=form.cleaned_data["users"],
        ),
        saved_message=lambda saved: _("Assignment rule %(name)s was saved.") % {"name": saved.name},
        success_url="leads:rule-list",
    )


@tenant_view("lead.manage")
@once
def rule_create(request):
    return _rule_form_view(request, None)


@tenant_view("lead.manage")
def rule_edit(request, pk: int):
    return _rule_form_view(request, _get(request, AssignmentRule, pk))


@tenant_view("lead.manage")
@require_POST
def rule_delete(request, pk: int):
    rule = _get(request, AssignmentRule, pk)
    name = rule.name
    try:
        assignment.rule_delete(actor=request.user, rule=rule)
    except ServiceError as exc:
        service_message(request, exc)
    else:
        messages.success(request, _("Assignment rule %(name)s was deleted.") % {"name": name})
    return redirect("leads:rule-list")


@tenant_view("lead.manage")
@require_POST
def rule_move(request, pk: int):
    rule = _get(request, AssignmentRule, pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    assignment.rule_move(actor=request.user, rule=rule, offset=offset)
    if request.htmx:
        context = {"rules": assignment.rule_list(actor=request.user)}
        return render(request, "leads/settings/rule_list.html#rules", context)
    return redirect("leads:rule-list")
