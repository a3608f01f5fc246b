"""Deliveries (issue 18 §2): reminders pushed to group bots, and the daily e-mail digest.

The bell is written inside the reminder engine's transaction (crm.reminders). Everything that
leaves the machine goes through a :class:`crm.models.Delivery` row instead, sent later by
:func:`send_pending` in the ``deliveries_send_task`` (enqueued after the engine's commit, and
swept every minute by the beat): a slow or failing group bot or mail server never blocks, slows
or fails the reminder job, and every push is in the delivery log an admin reads.

* **Group bots** (:func:`queue_webhooks`): one row per reminder and webhook, for each
  recipient who keeps the kind on the group-bot channel: their own webhook and their
  department's (crm.webhooks formats and signs the message). During the recipient's quiet
  hours (tenant time) the row waits until they end: nothing is pushed at night, the bell still
  records the reminder at once.
* **E-mail digest** (:func:`email_digests`): once a day, at :data:`DIGEST_TIME` tenant time,
  one e-mail per user with an address listing the reminders of the past day whose kinds they
  keep on the e-mail channel (the morning's follow-up digest among them), each reminder in one
  digest only. The tenant's day is claimed with one conditional UPDATE, and a unique row per
  user and day backs it up, so two jobs running at once send one digest.

**Sending** claims due rows (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL) by pushing
their next attempt :data:`LEASE` ahead and counting the attempt, commits, then sends outside
any transaction. A success marks the row sent; a failure keeps the error and waits
:data:`BACKOFF` (1, 5, 15, 60, 240 minutes) before the next attempt, and after the last one
marks the row failed (an admin can retry it from the log). A worker lost mid-send leaves the
row claimed until the lease ends, then it is sent again (at least once).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from crm.models import (
    Delivery,
    Reminder,
    ReminderChannel,
    ReminderPreference,
    Tenant,
    User,
    Webhook,
)

logger = logging.getLogger(__name__)

BACKOFF = tuple(datetime.timedelta(minutes=m) for m in (1, 5, 15, 60, 240))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = datetime.timedelta(minutes=2)
DIGEST_TIME = datetime.time(8, 30)
SEND_BATCH = 200
WEBHOOK_TIMEOUT = 5.0
DIGEST_MAX_ITEMS = 200
# Failures no retry can mend (crm.webhooks.WebhookError.code): given up at once.
HOPELESS = {"removed", "address"}


def absolute(link: str) -> str:
    if link.startswith("/") and settings.SITE_URL:
        return settings.SITE_URL + link
    return link


def preferences(tenant_id: int, user_ids: Iterable[int]) -> dict[int, ReminderPreference]:
    """Each user's preference; a user without a row gets an unsaved one with the defaults."""
    ids = set(user_ids)
    found = {
        p.user_id: p
        for p in ReminderPreference.objects.filter(tenant_id=tenant_id, user_id__in=ids)
    }
    return {
        uid: found.get(uid) or ReminderPreference(tenant_id=tenant_id, user_id=uid) for uid in ids
    }


def schedule_send(tenant_id: int) -> None:
    """Send the tenant's pending deliveries soon: enqueued after the current transaction
    commits. A broker that cannot be reached is logged, not raised: the beat's sweep sends
    them within the minute."""

    def enqueue() -> None:
        from crm.tasks import deliveries_send_task

        try:
            deliveries_send_task.delay(tenant_id)
        except Exception:
            logger.warning("deliveries: could not enqueue the sender for tenant %s", tenant_id)

    transaction.on_commit(enqueue)


# ---------------------------------------------------------------- group bots


def turned_off(tenant_id: int, kind: str, channel: str) -> set[int]:
    """The users of the tenant who turned ``kind`` off on ``channel`` (one query)."""
    pair = f"{kind}:{channel}"
    return {
        uid
        for uid, off in ReminderPreference.objects.filter(tenant_id=tenant_id).values_list(
            "user_id", "off"
        )
        if pair in (off or ())
    }


def queue_webhooks(tenant: Tenant, kind: str, ids: list[int], now: datetime.datetime) -> int:
    """The group-bot pushes of the reminders just created (``ids``, inside the engine's
    transaction): one query when the tenant has no group bot; otherwise the reminders of the
    users a bot reaches are read (a few queries whatever their number) and one row per
    reminder and bot is inserted, due at once or when the recipient's quiet hours end."""
    by_user: dict[int, Webhook] = {}
    by_department: dict[int, Webhook] = {}
    for hook in Webhook.objects.filter(tenant_id=tenant.pk, is_active=True):
        if hook.user_id:
            by_user[hook.user_id] = hook
        else:
            by_department[hook.department_id] = hook
    if not by_user and not by_department:
        return 0
    users = {
        u.pk: u
        for u in User.tenant_objects.filter(tenant_id=tenant.pk, is_active=True).filter(
            Q(pk__in=by_user) | Q(department_id__in=by_department)
        )
    }
    for uid in turned_off(tenant.pk, kind, ReminderChannel.WEBHOOK):
        users.pop(uid, None)
    if not users:
        return 0
    prefs = preferences(tenant.pk, users)
    tz = tenant.tzinfo
    out = []
    for start in range(0, len(ids), 10000):
        rows = Reminder.objects.filter(
            tenant_id=tenant.pk, pk__in=ids[start : start + 10000], recipient_id__in=users
        ).only("pk", "recipient_id", "title", "body")
        for row in rows:
            user = users[row.recipient_id]
            hooks = {by_user.get(user.pk), by_department.get(user.department_id)} - {None}
            at = prefs[user.pk].quiet_until(now, tz) or now
            for hook in sorted(hooks, key=lambda h: h.pk):
                out.append(
                    Delivery(
                        tenant_id=tenant.pk,
                        channel=ReminderChannel.WEBHOOK,
                        reminder_id=row.pk,
                        webhook=hook,
                        recipient_id=user.pk,
                        target=hook.masked_url,
                        subject=row.title,
                        body=row.body,
                        next_attempt_at=at,
                        created_at=now,
                    )
                )
    Delivery.objects.bulk_create(out, batch_size=1000)
    return len(out)


# ---------------------------------------------------------------- the e-mail digest


def digest_moment(tenant: Tenant, day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, DIGEST_TIME, tzinfo=tenant.tzinfo)


def email_digests(tenant_id: int, now: datetime.datetime | None = None) -> int:
    """The day's e-mail digests of one tenant, once a day from 08:30 tenant time: returns how
    many were queued. A day is claimed once (the tenant's ``reminder_digest_at``); a digest
    lists the reminders created since the previous one (at most a day back for the first)."""
    now = now or timezone.now()
    tenant = Tenant.objects.get(pk=tenant_id)
    day = now.astimezone(tenant.tzinfo).date()
    moment = digest_moment(tenant, day)
    last = tenant.reminder_digest_at
    if now < moment or (last is not None and last >= moment):
        return 0
    since = last or now - datetime.timedelta(days=1)
    with transaction.atomic():
        # Claimed by whoever moves the mark from the value read: a concurrent run waits for
        # the row lock, then matches nothing.
        claimed = (
            Tenant.objects.filter(pk=tenant_id, reminder_digest_at=last)
            if last is not None
            else Tenant.objects.filter(pk=tenant_id, reminder_digest_at__isnull=True)
        ).update(reminder_digest_at=now)
        if not claimed:
            return 0
        users = {
            u.pk: u
            for u in User.tenant_objects.filter(tenant_id=tenant_id, is_active=True).exclude(
                email=""
            )
        }
        reminders: dict[int, list[Reminder]] = {}
        rows = Reminder.objects.filter(
            tenant_id=tenant_id,
            recipient_id__in=users,
            created_at__gt=since,
            created_at__lte=now,
        ).order_by("created_at", "id")
        for row in rows:
            reminders.setdefault(row.recipient_id, []).append(row)
        prefs = preferences(tenant_id, reminders)
        out = []
        for uid, items in reminders.items():
            items = [r for r in items if prefs[uid].wants(r.kind, ReminderChannel.EMAIL)]
            if not items:
                continue
            user = users[uid]
            with translation.override(settings.LANGUAGE_CODE):
                subject = ngettext(
                    "Tidepool reminders of %(date)s: %(count)d item",
                    "Tidepool reminders of %(date)s: %(count)d items",
                    len(items),
                ) % {"date": day.isoformat(), "count": len(items)}
                body = render_to_string(
                    "crm/email/reminder_digest.txt",
                    {
                        "user": user,
                        "day": day,
                        "items": [
                            {"title": r.title, "body": _indent(r.body), "link": absolute(r.link)}
                            for r in items[:DIGEST_MAX_ITEMS]
                        ],
                        "more": max(0, len(items) - DIGEST_MAX_ITEMS),
                        "preferences": absolute(_preferences_path()),
                    },
                )
            out.append(
                Delivery(
                    tenant_id=tenant_id,
                    channel=ReminderChannel.EMAIL,
                    recipient=user,
                    target=user.email,
                    digest_on=day,
                    subject=subject[:200],
                    body=body,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        Delivery.objects.bulk_create(out, ignore_conflicts=True)
        if out:
            schedule_send(tenant_id)
    return len(out)


def _indent(text: str) -> str:
    return "\n  ".join(line for line in text.splitlines() if line.strip())


def _preferences_path() -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("crm:reminder-preferences")
    except NoReverseMatch:  # pragma: no cover - the page ships with this module
        return "/"


# ---------------------------------------------------------------- sending


def _claim(tenant_id: int, now: datetime.datetime, limit: int) -> list[Delivery]:
    with transaction.atomic():
        batch = list(
            Delivery.objects.filter(
                tenant_id=tenant_id,
                status=Delivery.Status.PENDING,
                next_attempt_at__lte=now,
            )
            .select_related("webhook", "recipient")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "id")[:limit]
        )
        if batch:
            for d in batch:
                d.attempts += 1
            Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(
                next_attempt_at=now + LEASE
            )
            # The attempt counts even if the worker dies while sending.
            Delivery.objects.bulk_update(batch, ["attempts"])
    return batch


def _send_one(delivery: Delivery) -> None:
    """Raises with a readable message when the delivery did not go out."""
    from crm import webhooks

    if delivery.channel == ReminderChannel.EMAIL:
        send_mail(
            delivery.subject,
            delivery.body,
            settings.DEFAULT_FROM_EMAIL,
            [delivery.target],
            fail_silently=False,
        )
        return
    hook = delivery.webhook
    if hook is None or not hook.is_active:
        raise webhooks.WebhookError(
            gettext("The group bot was removed or turned off."), code="removed"
        )
    link = delivery.reminder.link if delivery.reminder_id else ""
    webhooks.send(
        hook, title=delivery.subject, text=delivery.body, link=link, timeout=WEBHOOK_TIMEOUT
    )


def send_pending(tenant_id: int, now: datetime.datetime | None = None) -> dict[str, int]:
    """Send what is pending and due, batch after batch; returns how many were sent, put back
    for a retry, or given up."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    while True:
        moment = now or timezone.now()
        batch = _claim(tenant_id, moment, SEND_BATCH)
        if not batch:
            return counts
        for delivery in batch:
            try:
                _send_one(delivery)
            except Exception as exc:
                error = str(exc) or exc.__class__.__name__
                logger.info("deliveries: %s %s failed: %s", delivery.channel, delivery.pk, error)
                if delivery.attempts >= MAX_ATTEMPTS or getattr(exc, "code", "") in HOPELESS:
                    status, at = Delivery.Status.FAILED, None
                    counts["failed"] += 1
                else:
                    status = Delivery.Status.PENDING
                    at = timezone.now() if now is None else now
                    at += BACKOFF[delivery.attempts - 1]
                    counts["retry"] += 1
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=status, next_attempt_at=at, last_error=error[:1000]
                )
            else:
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=Delivery.Status.SENT,
                    sent_at=timezone.now(),
                    next_attempt_at=None,
                    last_error="",
                )
                counts["sent"] += 1
        if now is not None:
            # A fixed clock (tests, the command) sends one pass: retries wait for a later one.
            return counts


# ---------------------------------------------------------------- housekeeping

REMINDER_RETENTION = datetime.timedelta(days=180)
DELIVERY_RETENTION = datetime.timedelta(days=90)


def purge(tenant_id: int, now: datetime.datetime | None = None) -> dict[str, int]:
    """Delete reminders whose moment is older than :data:`REMINDER_RETENTION` (far beyond any
    kind's lookback, so none of them can be due again) and deliveries older than
    :data:`DELIVERY_RETENTION` that are no longer pending."""
    now = now or timezone.now()
    deliveries, _ = (
        Delivery.objects.filter(tenant_id=tenant_id, created_at__lt=now - DELIVERY_RETENTION)
        .exclude(status=Delivery.Status.PENDING)
        .delete()
    )
    reminders, _ = Reminder.objects.filter(
        tenant_id=tenant_id, due_at__lt=now - REMINDER_RETENTION
    ).delete()
    return {"reminders": reminders, "deliveries": deliveries}
