"""Filters of the lead list (django-filter). Choice querysets are callables of the request,
so nothing queries a scoped model when the class is built."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm import masking
from crm.filters import ListFilterSet
from crm.models import OptionKind, User
from crm.regions import RegionFilterMixin
from crm.visibility import owner_scope
from customers.filters import DUE_CHOICES, _options, due_filter
from customers.models import normalize_name
from leads.models import Campaign, Lead


def _campaigns(request):
    if request is None:
        return Campaign.objects.none()
    return Campaign.objects.filter(tenant_id=request.user.tenant_id)


def _owners(request):
    """The owners one may filter by: the people inside the actor's data scope."""
    if request is None:
        return User.objects.none()
    users = User.tenant_objects.filter(tenant_id=request.user.tenant_id).order_by("name", "id")
    return users.filter(owner_scope(request.user).q("pk"))


class LeadFilter(RegionFilterMixin, ListFilterSet):
    q = django_filters.CharFilter(label=_("Name, company or mobile"), method="search")
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Lead.Status.choices)
    source = django_filters.ModelChoiceFilter(
        label=_("Source"), queryset=_options(OptionKind.CUSTOMER_SOURCE)
    )
    campaign = django_filters.ModelChoiceFilter(label=_("Campaign"), queryset=_campaigns)
    owner = django_filters.ModelChoiceFilter(label=_("Owner"), queryset=_owners)
    province = django_filters.CharFilter(label=_("Province"), lookup_expr="startswith")
    city = django_filters.CharFilter(label=_("City"), lookup_expr="startswith")
    created = django_filters.DateFromToRangeFilter(label=_("Created"), field_name="created_at")
    next_followup = django_filters.DateFromToRangeFilter(
        label=_("Next follow-up"), field_name="next_followup_at"
    )
    # Open leads the lead pool's rules recycle within this many days (the workbench's list
    # links here; customers.selectors.recycle_soon_q).
    recycle_within = django_filters.NumberFilter(
        label=_("Recycled into the lead pool within (days)"),
        method="recycle_soon",
        widget=forms.HiddenInput,
        min_value=0,
        max_value=365,
    )
    # 今日待跟进 / 已逾期: the next follow-up falls today / has passed (the list's chips).
    due = django_filters.ChoiceFilter(
        label=_("Next follow-up"),
        choices=DUE_CHOICES,
        method="due_filter",
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Lead
        fields = []

    def due_filter(self, queryset, name, value):
        return due_filter(queryset, value)

    def recycle_soon(self, queryset, name, value):
        if value is None:
            return queryset
        from customers.selectors import recycle_soon_q
        from leads.pooling import KIND

        condition = recycle_soon_q(
            tenant_id=self.request.user.tenant_id, days=int(value), kind=KIND
        )
        return queryset.none() if condition is None else queryset.filter(condition)

    def search(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        # SECURITY: a mobile the searcher may not see (a pooled lead's hidden phones,
        # crm.masking) never matches: its digits would be read from the results.
        condition = Q(name__contains=value) | masking.search_q(
            self.request.user, Lead, ("mobile",), Q(mobile__startswith=value)
        )
        normalized = normalize_name(value)
        if normalized:
            condition |= Q(company_normalized__contains=normalized)
        return queryset.filter(condition)


class LeadPoolFilter(LeadFilter):
    """The lead pool's filters: the lead list's, less what a pooled lead does not have (an
    owner, its former owner's next follow-up, the recycling countdown), plus when it came
    into the pool and whether anybody ever followed it up (the pool's chips)."""

    pooled = django_filters.DateFromToRangeFilter(
        label=_("Time in the pool"), field_name="pooled_at"
    )
    followed = django_filters.BooleanFilter(
        label=_("Ever followed up"),
        field_name="last_followup_at",
        lookup_expr="isnull",
        exclude=True,
    )

    # Nobody owns a pooled lead, its next follow-up was its former owner's, and the pool
    # recycles nothing that already lies in it.
    NOT_IN_POOL = ("owner", "next_followup", "due", "recycle_within")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.NOT_IN_POOL:
            self.filters.pop(name, None)
