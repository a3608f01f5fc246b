"""List filters (django-filter). Choice querysets are callables of the request, so nothing
queries a scoped model when the class is built."""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm import masking
from crm.filters import ListFilterSet
from crm.models import OptionKind, User
from crm.regions import RegionFilterMixin
from customers.models import Contact, Customer, Tag, normalize_name


def _options(kind):
    def queryset(request):
        from crm.selectors import options_for

        if request is None:
            return Customer.objects.none()
        return options_for(tenant_id=request.user.tenant_id, kind=kind)

    return queryset


def _users(request):
    if request is None:
        return User.objects.none()
    return User.tenant_objects.filter(tenant_id=request.user.tenant_id).order_by("name", "id")


def _tags(request):
    if request is None:
        return Tag.objects.none()
    return Tag.objects.filter(tenant_id=request.user.tenant_id)


DUE_CHOICES = [("today", _("Due today")), ("overdue", _("Overdue"))]


def due_filter(queryset, value: str):
    """The rows of ``queryset`` whose next follow-up is due today (``today``, still to
    come or already passed today) or has passed (``overdue``: before now)."""
    from django.utils import timezone

    if value == "today":
        start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(days=1)
        return queryset.filter(next_followup_at__gte=start, next_followup_at__lt=end)
    if value == "overdue":
        return queryset.filter(next_followup_at__lt=timezone.now())
    return queryset


class CustomerFilter(RegionFilterMixin, ListFilterSet):
    q = django_filters.CharFilter(label=_("Name, contact or phone"), method="search")
    owner = django_filters.ModelChoiceFilter(label=_("Owner"), queryset=_users)
    level = django_filters.ModelChoiceFilter(
        label=_("Level"), queryset=_options(OptionKind.CUSTOMER_LEVEL)
    )
    status = django_filters.ModelChoiceFilter(
        label=_("Status"), queryset=_options(OptionKind.CUSTOMER_STATUS)
    )
    source = django_filters.ModelChoiceFilter(
        label=_("Source"), queryset=_options(OptionKind.CUSTOMER_SOURCE)
    )
    industry = django_filters.ModelChoiceFilter(
        label=_("Industry"), queryset=_options(OptionKind.INDUSTRY)
    )
    tag = django_filters.ModelChoiceFilter(label=_("Tag"), queryset=_tags, field_name="tags")
    lifecycle = django_filters.ChoiceFilter(
        label=_("Lifecycle"), choices=Customer.Lifecycle.choices
    )
    deal_status = django_filters.ChoiceFilter(
        label=_("Deal status"), choices=Customer.DealStatus.choices
    )
    province = django_filters.CharFilter(label=_("Province"), lookup_expr="startswith")
    city = django_filters.CharFilter(label=_("City"), lookup_expr="startswith")
    is_locked = django_filters.BooleanFilter(label=_("Locked"))
    created = django_filters.DateFromToRangeFilter(label=_("Created"), field_name="created_at")
    last_followup = django_filters.DateFromToRangeFilter(
        label=_("Last follow-up"), field_name="last_followup_at"
    )
    next_followup = django_filters.DateFromToRangeFilter(
        label=_("Next follow-up"), field_name="next_followup_at"
    )
    # The customers one import created (the import's result page links here).
    import_job = django_filters.NumberFilter(
        label=_("Import"), field_name="import_job", widget=forms.HiddenInput
    )
    # 即将掉公海: owned customers the pool rules recycle within this many days (the
    # workbench's number links here; customers.selectors.recycle_soon_q).
    recycle_within = django_filters.NumberFilter(
        label=_("Recycled into the pool within (days)"),
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
        model = Customer
        fields = []

    def due_filter(self, queryset, name, value):
        return due_filter(queryset, value)

    def recycle_soon(self, queryset, name, value):
        if value is None:
            return queryset
        from customers.selectors import recycle_soon_q

        condition = recycle_soon_q(tenant_id=self.request.user.tenant_id, days=int(value))
        return queryset.none() if condition is None else queryset.filter(condition)

    def search(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        normalized = normalize_name(value)
        actor = self.request.user
        contacts = Contact.objects.filter(tenant_id=actor.tenant_id)
        by_name = contacts.filter(name__contains=value).values("customer_id")
        by_phone = contacts.filter(Q(mobile__startswith=value) | Q(phone__contains=value))
        # SECURITY: a phone the searcher may not see (a pooled customer's hidden contact
        # phones, crm.masking) never matches: its digits would be read from the results.
        phone_match = masking.search_q(
            actor,
            Customer,
            ("contacts__mobile", "contacts__phone"),
            Q(pk__in=by_phone.values("customer_id")),
        )
        return queryset.filter(
            Q(name_normalized__contains=normalized) | Q(pk__in=by_name) | phone_match
        )


class PoolCustomerFilter(CustomerFilter):
    """The public pool's filters: the customer list's, with the time a customer came into the
    pool, and without what only an owned customer has (owner, next follow-up, recycling)."""

    pooled = django_filters.DateFromToRangeFilter(label=_("Into the pool"), field_name="pooled_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("owner", "due", "recycle_within", "next_followup"):
            self.filters.pop(name, None)


class ContactFilter(ListFilterSet):
    q = django_filters.CharFilter(label=_("Name, phone or customer"), method="search")
    is_decision_maker = django_filters.BooleanFilter(label=_("Decision maker"))

    class Meta:
        model = Contact
        fields = []

    def search(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__contains=value)
            | Q(mobile__startswith=value)
            | Q(phone__contains=value)
            | Q(customer__name__contains=value)
        )
