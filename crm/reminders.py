"""The reminder engine (issue 18): one registry every module declares its reminders in, one job
that fires what is due, once.

A module registers a :class:`ReminderKind` from its ``AppConfig.ready()`` (crm imports neither
customers nor leads):

    reminders.register(ReminderKind("customer_followup", _("Follow-up due"), rows=followup_rows))

A kind answers, **set-based** (one or a few queries whatever the number of records, never one
per record), the reminders whose moment to fire lies in ``(since, now]``: either as
:class:`Due` items (``due(tenant_id, now, since)``: small kinds, birthdays, escalations) or as a
queryset the engine inserts in one ``INSERT … SELECT`` (``rows(tenant_id, now, since)``: the
kinds that may be due by the hundred thousand, the follow-ups; titles and links built in SQL
with :func:`sql_format`, :func:`sql_when`, :func:`sql_link`). ``due_at`` is the moment the
reminder is *about*, and it is part of the reminder's identity: the follow-up time itself (the
reminder fires N minutes before it), the birthday at 00:00, the moment a follow-up became
overdue by M days. So a record whose time changes is due again for the new time, and a
reminder already sent for the old time is never sent again. Records done, closed, deleted or
lying in a pool are left out by the kind's own queryset; a kind names its recipients (owner,
the owner's manager…) at the time of the run, so a record transferred to another owner
reminds the new owner.

:func:`run` fires one tenant's reminders, one transaction per kind:

1. one :class:`crm.models.Reminder` row per (tenant, kind, object, recipient, due_at), for
   recipients who are active users of the tenant only (SECURITY: a kind cannot address anyone
   else), inserted with ``ON CONFLICT DO NOTHING RETURNING id`` against the unique constraint
   on those columns: the ids returned are exactly the rows this run created. The database row
   is the memory of what was sent (never a cache): a run twice at once, a late run, a run
   after a worker restart inserts nothing that exists; on PostgreSQL a concurrent insert of the
   same row waits for the other transaction and then counts as a conflict;
2. the bell: the notifications copied from those rows by one ``INSERT … SELECT`` (but for the
   users who turned the kind off on the bell);
3. the group bots: a :class:`crm.models.Delivery` per reminder and bot
   (:func:`crm.deliveries.queue_webhooks`), sent after the commit outside the job.

A crash leaves either nothing or a reminder with its bell and its queued pushes. After the
kinds, the e-mail digests of the day (:func:`crm.deliveries.email_digests`, from 08:30 tenant
time).

**Window.** A kind answers for moments in ``(now - kind.lookback, now]``; the default lookback
is one day: a run that is late (a worker down for hours) still sends what fell due meanwhile,
while a first run on old data (or after a long outage) does not flood the bell with reminders
about moments long past. Anything older than the lookback is simply never reminded (an overdue
follow-up has its own escalation kind).

PERF: per kind and tenant, the kind's query (or few), the insert, one insert of the bell, the
preferences and one query for the group bots: the count does not grow with the number of due
records (tests/crm/test_reminders.py). ``bench/reminders.py``: 200,000 follow-ups due among
1,000,000 customers, the whole job against one bare ``INSERT … SELECT`` of the same rows.

The next modules (payment plans, maintenance, inspections, approvals) register their kinds the
same way, and their planned work for the morning digest as an :class:`AgendaSource`.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, F, Func, Value, When
from django.db.models.functions import (
    Cast,
    Concat,
    ExtractDay,
    ExtractHour,
    ExtractMinute,
    ExtractMonth,
    LPad,
)
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from crm import deliveries
from crm.models import Notification, Reminder, ReminderChannel, ReminderPreference, Tenant, User
from crm.tenancy import tenant_scope

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK = datetime.timedelta(days=1)
BATCH = 1000  # rows per INSERT … VALUES (9 parameters each: within SQLite's 32766)
ID_CHUNK = 10000


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
    """A kind answers its due reminders either as :class:`Due` items (``due``) or, for the
    kinds that may be due by the hundred thousand, as a queryset (``rows``) the engine inserts
    with one ``INSERT … SELECT``: ``rows(tenant_id, now, since)`` returns ``.values()`` named
    ``r_object``, ``r_recipient``, ``r_due``, ``r_title``, ``r_body``, ``r_link`` (titles
    built in SQL: :func:`sql_format`, :func:`sql_link`)."""

    key: str  # stored in each row: at most 40 characters, never renamed
    label: object  # a lazy translation (跟进提醒, 客户生日…)
    due: Callable[..., Iterable[Due]] | None = None  # due(tenant_id, now, since)
    lookback: datetime.timedelta = field(default=DEFAULT_LOOKBACK)
    rows: Callable[..., models.QuerySet] | None = None  # rows(tenant_id, now, since)

    def __post_init__(self):
        if (self.due is None) == (self.rows is None):
            raise ValueError(f"reminder kind {self.key!r} needs exactly one of due or rows")


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def sql_format(text: str, **parts) -> Func:
    """A translated ``%(name)s`` format as an SQL expression: the literal pieces as values,
    each placeholder replaced by its expression (``parts``)."""
    pieces: list = []
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > pos:
            pieces.append(Value(text[pos : match.start()]))
        pieces.append(parts[match.group(1)])
        pos = match.end()
    if pos < len(text):
        pieces.append(Value(text[pos:]))
    if len(pieces) == 1:
        pieces.append(Value(""))
    return Concat(*pieces, output_field=models.TextField())


def sql_link(url_name: str, pk: str = "pk") -> Func:
    """``reverse(url_name, args=[pk])`` built in SQL from one reverse of a marker id."""
    marker = 918273645
    url = reverse(url_name, args=[marker])
    head, tail = url.split(str(marker), 1)
    return Concat(
        Value(head), Cast(pk, models.CharField()), Value(tail), output_field=models.TextField()
    )


def sql_two_digits(expression) -> Func:
    return LPad(Cast(expression, models.CharField()), 2, Value("0"))


def sql_when(
    field_name: str,
    now: datetime.datetime,
    span: tuple[datetime.datetime, datetime.datetime] | None = None,
) -> Func:
    """:func:`when` in SQL: ``14:30`` for a moment today, ``12-08 14:30`` another day (server
    time). ``span``: the range the moments lie in, when the query bounds them.

    PERF: on SQLite, Django extracts local hours with a Python function per row (2.4 s for
    200,000 rows); when the time zone's offset is the same over the whole ``span`` (no change
    to or from summer time inside it: always in China), SQLite's own ``strftime`` with that
    offset gives the same text at native speed."""
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(timezone.localdate(now), datetime.time.min, tzinfo=tz)
    today = {
        f"{field_name}__gte": start,
        f"{field_name}__lt": start + datetime.timedelta(days=1),
    }
    if connection.vendor == "sqlite" and span:
        low, high = (m.astimezone(tz).utcoffset() for m in span)
        if low == high:
            shift = Value(f"{int(low.total_seconds()):+d} seconds")

            def local(fmt: str) -> Func:
                return Func(
                    Value(fmt),
                    F(field_name),
                    shift,
                    function="strftime",
                    output_field=models.TextField(),
                )

            return Case(
                When(**today, then=local("%H:%M")),
                default=local("%m-%d %H:%M"),
                output_field=models.TextField(),
            )
    hour_minute = [
        sql_two_digits(ExtractHour(field_name, tzinfo=tz)),
        Value(":"),
        sql_two_digits(ExtractMinute(field_name, tzinfo=tz)),
    ]
    return Case(
        When(**today, then=Concat(*hour_minute, output_field=models.TextField())),
        default=Concat(
            sql_two_digits(ExtractMonth(field_name, tzinfo=tz)),
            Value("-"),
            sql_two_digits(ExtractDay(field_name, tzinfo=tz)),
            Value(" "),
            *hour_minute,
            output_field=models.TextField(),
        ),
        output_field=models.TextField(),
    )


def when(moment: datetime.datetime, now: datetime.datetime) -> str:
    """14:30 today, 12-08 14:30 another day (server time)."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate(now):
        return f"{local:%H:%M}"
    return f"{local:%m-%d %H:%M}"


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
    payment plans, maintenance…), set-based: ``counts(tenant_id, start, until)`` answers, per
    owner, how many open items are overdue (planned before ``start``) and due today (before
    ``until``); ``items(tenant_id, until, limit)`` the earliest ``limit`` of them per owner."""

    key: str
    label: object  # 客户 / 线索: shown before each item
    counts: Callable[[int, datetime.datetime, datetime.datetime], dict[int, tuple[int, int]]]
    items: Callable[[int, datetime.datetime, int], Iterable[AgendaItem]]


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
    totals: dict[int, list[int]] = {}
    entries: dict[int, list[tuple[datetime.datetime, str]]] = {}
    for source in _AGENDA.values():
        for owner_id, (overdue, today) in source.counts(tenant_id, start, until).items():
            total = totals.setdefault(owner_id, [0, 0])
            total[0] += overdue
            total[1] += today
        for item in source.items(tenant_id, until, DIGEST_LIST_MAX):
            entries.setdefault(item.owner_id, []).append((item.at, f"{source.label} {item.name}"))
    link = reverse("crm:workbench")
    for owner_id, (overdue, today) in totals.items():
        if not overdue + today:
            continue
        title = gettext("Today's follow-ups: %(today)d, overdue: %(overdue)d") % {
            "today": today,
            "overdue": overdue,
        }
        shown = sorted(entries.get(owner_id, []))[:DIGEST_LIST_MAX]
        lines = []
        for at, line in shown:
            local = at.astimezone(tz)
            if at < start:
                lines.append(
                    gettext("[overdue %(date)s] %(item)s")
                    % {"date": f"{local:%m-%d}", "item": line}
                )
            else:
                lines.append(f"{local:%H:%M} {line}")
        more = overdue + today - len(shown)
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
    since = now - kind.lookback
    with transaction.atomic():
        if kind.rows is not None:
            ids = _insert_select(kind, tenant.pk, now, since)
        else:
            ids = _insert_values(kind, tenant.pk, list(kind.due(tenant.pk, now, since)), now)
        if not ids:
            return 0
        # The bell: one notification per reminder its recipient keeps on the bell.
        _ring(kind, tenant.pk, ids, now)
        # Group bots: queued, sent after the commit by the deliveries task (crm.deliveries).
        if deliveries.queue_webhooks(tenant, kind.key, ids, now):
            deliveries.schedule_send(tenant.pk)
    return len(ids)


# ---------------------------------------------------------------- SQL
# Both ways of inserting answer the ids of the rows they created: ``ON CONFLICT DO NOTHING
# RETURNING id`` (PostgreSQL, SQLite >= 3.35) returns the inserted rows only, so a reminder
# that exists (sent by an earlier or a concurrent run) is neither inserted nor delivered.

_COLUMNS = ("object_id", "recipient_id", "due_at", "title", "body", "link")


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _insert_select(kind: ReminderKind, tenant_id: int, now, since) -> list[int]:
    """One ``INSERT … SELECT`` of the kind's queryset (:attr:`ReminderKind.rows`)."""
    sql, params = kind.rows(tenant_id, now, since).query.sql_with_params()
    qn = connection.ops.quote_name
    user = _table(User)
    # SECURITY: only quoted names are interpolated; every value is a parameter. Recipients
    # are active users of this tenant, whatever the kind's query answered.
    statement = (
        f"INSERT INTO {_table(Reminder)} (tenant_id, kind, {', '.join(map(qn, _COLUMNS))}, "  # noqa: S608
        "created_at) "
        f"SELECT %s, %s, d.r_object, d.r_recipient, d.r_due, SUBSTR(d.r_title, 1, 200), "
        "d.r_body, SUBSTR(d.r_link, 1, 300), %s "
        f"FROM ({sql}) d "
        f"WHERE d.r_recipient IN (SELECT u.id FROM {user} u WHERE u.tenant_id = %s "
        "AND u.is_active) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    values = [tenant_id, kind.key, *params, tenant_id]
    values.insert(2, _datetime(now))
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        return [row[0] for row in cursor.fetchall()]


def _insert_values(kind: ReminderKind, tenant_id: int, items: list[Due], now) -> list[int]:
    """``INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING id`` of a kind's :class:`Due`
    items, in batches."""
    if not items:
        return []
    # SECURITY: recipients are active users of this tenant, whatever the kind answered.
    active = set(
        User.tenant_objects.filter(
            tenant_id=tenant_id, is_active=True, pk__in={d.recipient_id for d in items}
        ).values_list("pk", flat=True)
    )
    rows = {}
    for d in items:
        if d.recipient_id in active:
            rows.setdefault((d.object_id, d.recipient_id, d.due_at), d)
    created_at = _datetime(now)
    columns = ", ".join(map(connection.ops.quote_name, _COLUMNS))
    ids: list[int] = []
    batch = list(rows.values())
    for start in range(0, len(batch), BATCH):
        part = batch[start : start + BATCH]
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(part))
        values: list = []
        for d in part:
            values += [
                tenant_id,
                kind.key,
                d.object_id,
                d.recipient_id,
                _datetime(d.due_at),
                str(d.title)[:200],
                str(d.body),
                str(d.link)[:300],
                created_at,
            ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_table(Reminder)} (tenant_id, kind, {columns}, created_at) "  # noqa: S608
                f"VALUES {placeholders} ON CONFLICT DO NOTHING RETURNING id",
                values,
            )
            ids += [row[0] for row in cursor.fetchall()]
    return ids


def _datetime(value: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def id_chunks(ids: list[int]):
    """``(sql, params)`` conditions on ``id`` covering ``ids``: one array parameter on
    PostgreSQL, chunks within SQLite's limit of parameters elsewhere."""
    if connection.vendor == "postgresql":
        yield "id = ANY(%s)", [list(ids)]
        return
    for start in range(0, len(ids), ID_CHUNK):
        part = ids[start : start + ID_CHUNK]
        yield f"id IN ({', '.join(['%s'] * len(part))})", list(part)


def _ring(kind: ReminderKind, tenant_id: int, ids: list[int], now) -> None:
    """The bell: the notifications copied from the new reminder rows in SQL, but for the
    recipients who turned the kind off on the bell."""
    off = deliveries.turned_off(tenant_id, kind.key, ReminderChannel.BELL)
    skip = ""
    if off:
        skip = f" AND recipient_id NOT IN ({', '.join(['%s'] * len(off))})"
    for condition, params in id_chunks(ids):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_table(Notification)} "  # noqa: S608
                "(tenant_id, recipient_id, title, body, link, created_at) "
                f"SELECT tenant_id, recipient_id, title, body, link, %s "
                f"FROM {_table(Reminder)} WHERE {condition}{skip}",
                [_datetime(now), *params, *sorted(off)],
            )
