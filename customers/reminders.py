"""The customers' reminder kinds (crm.reminders), registered from ``CustomersConfig.ready()``.

* ``customer_followup``: the owner's chosen minutes (ReminderPreference.minutes_before,
  default 15) before a customer's next follow-up time, to its owner;
* ``customer_followup_overdue``: a next follow-up overdue by the tenant's
  ``followup_overdue_escalation_days`` (default 3) without a follow-up written since, to the
  owner and the owner's manager (the direct manager, else the head of the owner's department);
* ``contact_birthday_soon`` / ``contact_birthday``: a contact's birthday 7 days ahead and on the
  day (00:00 server time), to the customer's owner. A 29 February birthday falls on 28 February
  in other years.

``followup_kinds`` also gives the module's :class:`crm.reminders.AgendaSource`: the follow-ups
planned before the end of today and not yet written (overdue ones included), which the 08:30
morning digest counts per owner (one GROUP BY) and lists (each owner's earliest: one window
query).

Only customers that are alive, outside the public pool and owned are reminded. The follow-up
kinds are built by :func:`followup_kinds`, which the leads (and later modules with a next
follow-up time) use with their own queryset.

``due_at`` (the reminder's identity with the record and the recipient) is the follow-up time
for both follow-up kinds (moving the time reminds again; changing the tenant's days does not
escalate the same follow-up twice) and the birthday's date for the birthday kinds.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.db.models import Count, F, Q, TextField, Value, Window
from django.db.models.functions import Concat, RowNumber, Trim
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm import reminders
from crm.models import Tenant
from crm.reminders import AgendaItem, AgendaSource, Due, ReminderKind, sql_format, sql_link

BIRTHDAY_DAYS_AHEAD = 7


def sql_name(fields: tuple[str, ...]):
    """The record's name in SQL: ``fields`` joined by a space (an empty one leaves no gap)."""
    if len(fields) == 1:
        return F(fields[0])
    parts = [F(fields[0])]
    for name in fields[1:]:
        parts += [Value(" "), F(name)]
    return Trim(Concat(*parts, output_field=TextField()))


def followup_kinds(
    *,
    prefix: str,
    labels: tuple,
    queryset: Callable,
    name_fields: tuple[str, ...],
    url_name: str,
) -> tuple[ReminderKind, ReminderKind, AgendaSource]:
    """The two follow-up kinds of a model with ``owner`` and ``next_followup_at`` (and
    ``last_followup_at``): ``queryset(tenant_id)`` gives the records that may be reminded (not
    done, closed, deleted or pooled); their name is ``name_fields`` joined by a space."""

    def name(values: tuple) -> str:
        return " ".join(v for v in values if v)

    def rows(tenant_id: int, now: datetime.datetime, since: datetime.datetime):
        """Set-based (one ``INSERT … SELECT``): the follow-ups whose reminder moment, each
        owner's lead time before the follow-up, lies in ``(since, now]``."""
        default, chosen = reminders.minutes_before(tenant_id)
        by_minutes: dict[int, list[int]] = {}
        for owner_id, minutes in chosen.items():
            by_minutes.setdefault(minutes, []).append(owner_id)

        def window(minutes: int) -> Q:
            lead = datetime.timedelta(minutes=minutes)
            return Q(next_followup_at__gt=since + lead, next_followup_at__lte=now + lead)

        due = window(default) & ~Q(owner_id__in=list(chosen)) if chosen else window(default)
        for minutes, owners in by_minutes.items():
            due |= window(minutes) & Q(owner_id__in=owners)
        leads = {default, *chosen.values()}
        span = (
            since + datetime.timedelta(minutes=min(leads)),
            now + datetime.timedelta(minutes=max(leads)),
        )
        title = sql_format(
            gettext("Follow-up due: %(name)s · %(time)s"),
            name=sql_name(name_fields),
            time=reminders.sql_when("next_followup_at", now, span),
        )
        return (
            queryset(tenant_id)
            .filter(due, owner__isnull=False)
            .order_by()
            .values(
                r_object=F("pk"),
                r_recipient=F("owner_id"),
                r_due=F("next_followup_at"),
                r_title=title,
                r_body=Value(""),
                r_link=sql_link(url_name),
            )
        )

    def overdue(tenant_id: int, now: datetime.datetime, since: datetime.datetime):
        days = (
            Tenant.objects.filter(pk=tenant_id)
            .values_list("followup_overdue_escalation_days", flat=True)
            .first()
        )
        if not days:
            return
        late = datetime.timedelta(days=days)
        rows = (
            queryset(tenant_id)
            .filter(
                Q(last_followup_at__isnull=True) | Q(last_followup_at__lt=F("next_followup_at")),
                owner__isnull=False,
                next_followup_at__gt=since - late,
                next_followup_at__lte=now - late,
            )
            .values_list(
                "pk",
                "owner_id",
                "owner__name",
                "owner__username",
                "owner__manager_id",
                "owner__department__leader_id",
                "next_followup_at",
                *name_fields,
            )
        )
        for pk, owner_id, owner_name, username, manager_id, leader_id, at, *names in rows:
            title = ngettext(
                "Follow-up overdue by %(days)d day: %(name)s (owner %(owner)s)",
                "Follow-up overdue by %(days)d days: %(name)s (owner %(owner)s)",
                days,
            ) % {"days": days, "name": name(names), "owner": owner_name or username}
            body = gettext("The follow-up was planned for %(time)s.") % {
                "time": reminders.when(at, now)
            }
            link = reverse(url_name, args=[pk])
            boss = manager_id or (leader_id if leader_id != owner_id else None)
            for recipient in {owner_id, boss} - {None}:
                yield Due(pk, recipient, at, title, body, link)

    def planned(tenant_id: int, until: datetime.datetime):
        return queryset(tenant_id).filter(
            Q(last_followup_at__isnull=True) | Q(last_followup_at__lt=F("next_followup_at")),
            owner__isnull=False,
            next_followup_at__lt=until,
        )

    def agenda_counts(tenant_id: int, start: datetime.datetime, until: datetime.datetime):
        rows = (
            planned(tenant_id, until)
            .order_by()
            .values("owner_id")
            .annotate(
                overdue=Count("pk", filter=Q(next_followup_at__lt=start)),
                today=Count("pk", filter=Q(next_followup_at__gte=start)),
            )
            .values_list("owner_id", "overdue", "today")
        )
        return {owner_id: (overdue, today) for owner_id, overdue, today in rows}

    def agenda_items(tenant_id: int, until: datetime.datetime, limit: int):
        rows = (
            planned(tenant_id, until)
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=[F("owner_id")],
                    order_by=[F("next_followup_at").asc(), F("pk").asc()],
                )
            )
            .filter(rank__lte=limit)
            .order_by()
            .values_list("pk", "owner_id", "next_followup_at", *name_fields)
        )
        for pk, owner_id, at, *names in rows:
            yield AgendaItem(owner_id, at, name(names), reverse(url_name, args=[pk]))

    return (
        ReminderKind(f"{prefix}_followup", labels[0], rows=rows),
        ReminderKind(f"{prefix}_followup_overdue", labels[1], due=overdue),
        AgendaSource(prefix, labels[2], counts=agenda_counts, items=agenda_items),
    )


def _customers(tenant_id: int):
    from customers.models import Customer

    return Customer.objects.filter(tenant_id=tenant_id).alive().outside_pool()


# ---------------------------------------------------------------- birthdays


def _days_starting_in(since: datetime.datetime, now: datetime.datetime) -> list[datetime.date]:
    """The dates whose 00:00 (server time) lies in ``(since, now]``."""
    day, last = timezone.localdate(since), timezone.localdate(now)
    days = []
    while day <= last:
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        if since < start <= now:
            days.append(day)
        day += datetime.timedelta(days=1)
    return days


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _birthday_kind(key: str, label, ahead: int) -> ReminderKind:
    def due(tenant_id: int, now: datetime.datetime, since: datetime.datetime):
        from customers.models import Contact

        # The birthday (this year's or next year's occurrence) each (month, day) falls on.
        occurrence: dict[tuple[int, int], datetime.date] = {}
        for day in _days_starting_in(since, now):
            target = day + datetime.timedelta(days=ahead)
            occurrence[(target.month, target.day)] = target
            if (target.month, target.day) == (2, 28) and not _is_leap(target.year):
                occurrence[(2, 29)] = target
        if not occurrence:
            return
        match = Q()
        for month, dom in occurrence:
            match |= Q(birthday__month=month, birthday__day=dom)
        rows = (
            Contact.objects.filter(
                match,
                tenant_id=tenant_id,
                customer__deleted_at__isnull=True,
                customer__pooled_at__isnull=True,
                customer__owner__isnull=False,
            )
            .values_list(
                "pk", "name", "birthday", "customer_id", "customer__name", "customer__owner_id"
            )
            .order_by()
        )
        for pk, name, birthday, customer_id, customer, owner_id in rows:
            target = occurrence[(birthday.month, birthday.day)]
            names = {"contact": name, "customer": customer}
            if ahead:
                names["date"] = formats.date_format(target, "MONTH_DAY_FORMAT")
                title = gettext("Birthday: %(contact)s (%(customer)s) on %(date)s") % names
            else:
                title = gettext("Birthday: %(contact)s (%(customer)s) is today") % names
            yield Due(
                object_id=pk,
                recipient_id=owner_id,
                due_at=timezone.make_aware(datetime.datetime.combine(target, datetime.time.min)),
                title=title,
                link=reverse("customers:customer-detail", args=[customer_id]),
            )

    return ReminderKind(key, label, due=due)


_due, _overdue, _agenda = followup_kinds(
    prefix="customer",
    labels=(_("Customer follow-up due"), _("Customer follow-up overdue"), _("Customer")),
    queryset=_customers,
    name_fields=("name",),
    url_name="customers:customer-detail",
)
for kind in (
    _due,
    _overdue,
    _birthday_kind("contact_birthday_soon", _("Contact birthday next week"), BIRTHDAY_DAYS_AHEAD),
    _birthday_kind("contact_birthday", _("Contact birthday"), 0),
):
    reminders.register(kind)
reminders.register_agenda(_agenda)
