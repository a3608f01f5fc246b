"""Filters of the opportunity list and the kanban (django-filter). Choice querysets are
callables of the request, so nothing queries a scoped model when the class is built."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.filters import ListFilterSet
from crm.models import User
from crm.visibility import owner_scope
from customers.models import normalize_name
from opportunities.models import Opportunity, OpportunityStage


def _stages(request):
    if request is None:
        return OpportunityStage.objects.none()
    return OpportunityStage.objects.filter(tenant_id=request.user.tenant_id).order_by("sort", "id")


def _owners(request):
    """The owners one may filter by: the people inside the actor's data scope."""
    if request is None:
        return User.objects.none()
    users = User.tenant_objects.filter(tenant_id=request.user.tenant_id).order_by("name", "id")
    return users.filter(owner_scope(request.user).q("pk"))


class AmountRangeWidget(django_filters.widgets.RangeWidget):
    """From – to as two number boxes (``amount_min`` / ``amount_max``)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.widgets = [
            forms.NumberInput(attrs={"step": "0.01", "min": "0", "aria-label": _("From")}),
            forms.NumberInput(attrs={"step": "0.01", "min": "0", "aria-label": _("To")}),
        ]


class OpportunityFilter(ListFilterSet):
    q = django_filters.CharFilter(label=_("Opportunity or customer name"), method="search")
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Opportunity.Status.choices)
    stage = django_filters.ModelChoiceFilter(label=_("Sales stage"), queryset=_stages)
    owner = django_filters.ModelChoiceFilter(label=_("Owner"), queryset=_owners)
    # The customer page's 商机 tab links to the list of one customer's opportunities.
    customer = django_filters.NumberFilter(
        label=_("Customer"), field_name="customer_id", widget=forms.HiddenInput
    )
    expected_close = django_filters.DateFromToRangeFilter(
        label=_("Expected close date"), field_name="expected_close_date"
    )
    amount = django_filters.RangeFilter(label=_("Amount"), widget=AmountRangeWidget)
    created = django_filters.DateFromToRangeFilter(label=_("Created"), field_name="created_at")

    class Meta:
        model = Opportunity
        fields = []

    def search(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        condition = Q(name__contains=value)
        normalized = normalize_name(value)
        if normalized:
            condition |= Q(customer__name_normalized__contains=normalized)
        return queryset.filter(condition)


class KanbanFilter(OpportunityFilter):
    """The kanban's filters: the list's, less the status and the stage (the columns are)."""

    NOT_ON_KANBAN = ("status", "stage")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.NOT_ON_KANBAN:
            self.filters.pop(name, None)
