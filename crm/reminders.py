"""The reminder engine (issue 18): one registry every module declares its reminders in, one job
that fires what is due, once.

A module registers a :class:`ReminderKind` from its ``AppConfig.ready()`` (crm imports neither
customers nor leads):

    reminders.register(ReminderKind("customer_followup", _("Follow-up due"), due_followups))

``due(tenant_id, now, since)`` answers, **set-based** (one or a few queries whatever the number
of records, never one per record), the reminders whose moment to fire lies in ``(since, now]``
as :class:`Due` items. ``due_at`` is the moment the reminder is *about*, and it is part of the
reminder's identity: the follow-up time itself (the reminder fires N minutes before it), the
birthday at 00:00, the moment a follow-up became overdue by M days. So a record whose time
changes is due again for the new time, and a reminder already sent for the old time is never
sent again. Records done, closed, deleted or lying in a pool are left out by the kind's own
queryset; a kind names its recipients (owner, the owner's manager…) at the time of the run, so
a record transferred to another owner reminds the new owner.

:func:`run` fires one tenant's reminders:

1. for each kind, its ``Due`` items, kept only for recipients who are active users of the tenant
   (SECURITY: a kind cannot address anyone else);
2. one :class:`crm.models.Reminder` row per (tenant, kind, object, recipient, due_at), inserted
   with ``bulk_create(ignore_conflicts=True)`` against the unique constraint on those columns and
   marked with this run's token. The database row is the memory of what was sent (never a
   cache): a run twice at once, a late run, a run after a worker restart inserts nothing that
   exists; on PostgreSQL a concurrent insert of the same row waits for the other transaction and
   then counts as a conflict;
3. the rows carrying this run's token (exactly those this run created) go to every channel
   (:func:`register_channel`; today the in-app bell only) and are marked notified; steps 2 and 3
   are one transaction per kind, so a crash leaves either nothing or a sent reminder.

**Window.** A kind answers for moments in ``(now - kind.lookback, now]``; the default lookback
is one day: a run that is late (a worker down for hours) still sends what fell due meanwhile,
while a first run on old data (or after a long outage) does not flood the bell with reminders
about moments long past. Anything older than the lookback is simply never reminded (an overdue
follow-up has its own escalation kind).

PERF: per kind and tenant, the kind's query (or few), one query for the recipients, the insert
(batches of :data:`BATCH`), one read-back, one insert per channel and one update: the count
does not grow with the number of due records (tests/crm/test_reminders.py).

The next modules (payment plans, maintenance, inspections, approvals) register their kinds the
same way; e-mail digests, webhooks and preferences plug in as channels.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm import deliveries
from crm.models import Reminder, ReminderChannel, ReminderPreference, Tenant, User, new_token
from crm.services import notification_send_each
from crm.tenancy import tenant_scope

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK = datetime.timedelta(days=1)
BATCH = 2000


@dataclass(frozen=True)
class Due:
    """One reminder a kind wants sent: about ``object_id`` (of the kind's model), to
    ``recipient_id``, for the moment ``due_at``; its text and a link on this site."""

    object_id: int
    recipient_id: int
    due_at: datetime.datetime
    title: str
    body: str = ""
    link: str = ""


@dataclass(frozen=True)
class ReminderKind:
    key: str  # stored in each row: at most 40 characters, never renamed
    label: object  # a lazy translation (跟进提醒, 客户生日…)
    due: Callable[..., Iterable[Due]]  # due(tenant_id, now, since)
    lookback: datetime.timedelta = field(default=DEFAULT_LOOKBACK)


_KINDS: dict[str, ReminderKind] = {}


@dataclass(frozen=True)
class AgendaItem:
    """One entry of a user's day (the morning digest): a follow-up planned at ``at``."""

    owner_id: int
    at: datetime.datetime
    name: str
    link: str


@dataclass(frozen=True)
class AgendaSource:
    """A module's planned work for the morning digest (customers' and leads' follow-ups; later
    payment plans, maintenance…): ``items(tenant_id, until)`` answers, set-based, every open
    item planned before ``until`` and not yet done (overdue ones included)."""

    key: str
    label: object  # 客户 / 线索: shown before each item
    items: Callable[[int, datetime.datetime], Iterable[AgendaItem]]


_KINDS: dict[str, ReminderKind] = {}
_AGENDA: dict[str, AgendaSource] = {}


def register(kind: ReminderKind) -> ReminderKind:
    if len(kind.key) > 40:
        raise ValueError(f"reminder kind {kind.key!r} is longer than 40 characters")
    if kind.key in _KINDS and _KINDS[kind.key] is not kind:
        raise ValueError(f"reminder kind {kind.key!r} is registered twice")
    _KINDS[kind.key] = kind
    return kind


def kinds() -> list[ReminderKind]:
    return list(_KINDS.values())


def register_agenda(source: AgendaSource) -> AgendaSource:
    if source.key in _AGENDA and _AGENDA[source.key] is not source:
        raise ValueError(f"agenda source {source.key!r} is registered twice")
    _AGENDA[source.key] = source
    return source


def minutes_before(tenant_id: int) -> tuple[int, dict[int, int]]:
    """The follow-up lead time: the default and each user who chose another (one query)."""
    default = ReminderPreference._meta.get_field("minutes_before").default
    chosen = dict(
        ReminderPreference.objects.filter(tenant_id=tenant_id)
        .exclude(minutes_before=default)
        .values_list("user_id", "minutes_before")
    )
    return default, chosen


# ---------------------------------------------------------------- the morning digest

DIGEST_TIME = datetime.time(8, 30)
DIGEST_LIST_MAX = 30


def _digest_due(tenant_id: int, now: datetime.datetime, since: datetime.datetime):
    """At 08:30 tenant time, one reminder per user with follow-ups planned today or overdue:
    how many, and the list (overdue first). ``object_id`` is the user's id."""
    tenant = Tenant.objects.get(pk=tenant_id)
    tz = tenant.tzinfo
    day = now.astimezone(tz).date()
    moment = datetime.datetime.combine(day, DIGEST_TIME, tzinfo=tz)
    if not since < moment <= now:
        return
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
    until = start + datetime.timedelta(days=1)
    per_user: dict[int, list[tuple[bool, datetime.datetime, str]]] = {}
    for source in _AGENDA.values():
        for item in source.items(tenant_id, until):
            line = f"{source.label} {item.name}"
            per_user.setdefault(item.owner_id, []).append((item.at < start, item.at, line))
    link = reverse("crm:workbench")
    for owner_id, entries in per_user.items():
        entries.sort(key=lambda e: (not e[0], e[1]))
        overdue = sum(1 for e in entries if e[0])
        today = len(entries) - overdue
        title = gettext("Today's follow-ups: %(today)d, overdue: %(overdue)d") % {
            "today": today,
            "overdue": overdue,
        }
        lines = []
        for late, at, line in entries[:DIGEST_LIST_MAX]:
            local = at.astimezone(tz)
            if late:
                lines.append(
                    gettext("[overdue %(date)s] %(item)s")
                    % {"date": f"{local:%m-%d}", "item": line}
                )
            else:
                lines.append(f"{local:%H:%M} {line}")
        more = len(entries) - DIGEST_LIST_MAX
        if more > 0:
            lines.append(
                ngettext("…and %(count)d more", "…and %(count)d more", more) % {"count": more}
            )
        yield Due(owner_id, owner_id, moment, title, "\n".join(lines), link)


register(
    ReminderKind(
        "followup_digest",
        _("Morning digest of today's follow-ups"),
        _digest_due,
        lookback=datetime.timedelta(hours=2),  # a digest later than 10:30 is not news
    )
)


def run(tenant_id: int, now: datetime.datetime | None = None) -> int:
    """Fire the tenant's due reminders of every kind; returns how many were created now.

    A kind that fails is logged and skipped (its transaction rolled back: it is due again at
    the next run); the other kinds still run."""
    now = now or timezone.now()
    sent = 0
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant_id), translation.override(settings.LANGUAGE_CODE):
        for kind in kinds():
            try:
                sent += _run_kind(kind, tenant, now)
            except Exception:
                logger.exception("reminders: kind %s failed for tenant %s", kind.key, tenant_id)
        try:
            deliveries.email_digests(tenant_id, now)
        except Exception:
            logger.exception("reminders: e-mail digests failed for tenant %s", tenant_id)
    return sent


def _run_kind(kind: ReminderKind, tenant: Tenant, now: datetime.datetime) -> int:
    tenant_id = tenant.pk
    items = list(kind.due(tenant_id, now, now - kind.lookback))
    if not items:
        return 0
    # SECURITY: recipients are active users of this tenant, whatever the kind answered.
    users = {
        u.pk: u
        for u in User.tenant_objects.filter(
            tenant_id=tenant_id, is_active=True, pk__in={d.recipient_id for d in items}
        )
    }
    token = new_token()
    rows = {}
    for d in items:
        if d.recipient_id not in users:
            continue
        key = (d.object_id, d.recipient_id, d.due_at)
        rows.setdefault(
            key,
            Reminder(
                tenant_id=tenant_id,
                kind=kind.key,
                object_id=d.object_id,
                recipient_id=d.recipient_id,
                due_at=d.due_at,
                title=str(d.title)[:200],
                body=str(d.body),
                link=d.link,
                run_token=token,
                created_at=now,
            ),
        )
    if not rows:
        return 0
    with transaction.atomic():
        Reminder.objects.bulk_create(rows.values(), batch_size=BATCH, ignore_conflicts=True)
        created = list(
            Reminder.objects.filter(tenant_id=tenant_id, run_token=token, notified_at__isnull=True)
        )
        if not created:
            return 0
        prefs = deliveries.preferences(tenant_id, {r.recipient_id for r in created})
        # The bell: one notification per reminder its recipient keeps on the bell.
        notification_send_each(
            tenant_id=tenant_id,
            messages=[
                (users[r.recipient_id], r.title, r.body, r.link)
                for r in created
                if prefs[r.recipient_id].wants(kind.key, ReminderChannel.BELL)
            ],
        )
        # Group bots: queued, sent after the commit by the deliveries task (crm.deliveries).
        if deliveries.webhook_deliveries(tenant, created, users, prefs, now):
            deliveries.schedule_send(tenant_id)
        Reminder.objects.filter(
            tenant_id=tenant_id, run_token=token, notified_at__isnull=True
        ).update(notified_at=timezone.now())
    return len(created)
