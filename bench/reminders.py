#!/usr/bin/env python
"""Reminder job (issue 18): ``crm.reminders.run(tenant, now)`` on a tenant with 1,000,000
customers and 200,000 follow-ups due in the ``customer_followup`` window, against one plain
``INSERT … SELECT`` of the same reminder rows, measured in the same run.

    createdb -h 127.0.0.1 -U postgres tidepool_bench_rem
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tidepool_bench_rem \\
        .venv/bin/python bench/reminders.py [--customers 1000000] [--due 200000] [--runs 3]

Without DATABASE_URL the data goes to ``$TIDEPOOL_VAR_DIR/db.sqlite3`` (a new temporary
folder unless set). The database must be a dedicated one: the script migrates it, creates the
tenant ``bench-rem`` and refuses to run where tenants other than ``bench-*`` exist. A second
run on the same database reuses the tenant when its sizes match.

The data, filled with set-based SQL (``INSERT … SELECT`` over ``generate_series`` on
PostgreSQL, a recursive CTE on SQLite): ``--customers`` customers owned by 50 reps, for a fixed
``now`` (:data:`NOW`, 14:00 in Shanghai). Exactly ``--due`` of them, spread evenly, are alive,
outside the pool, owned, with ``next_followup_at`` in the kind's window ``(now - lookback +
15 min, now + 15 min]``. Of the others: 4/10 have a follow-up in the next 60 days, 2/10 one 5 to
65 days ago (before the overdue escalation's window, so ``customer_followup_overdue`` stays
quiet), 1/10 none, and the rest have one inside the window but are left out by the kind's
conditions (deleted, in the pool, or without an owner). No contacts (birthday kinds quiet), no
leads (the leads' kinds quiet); ``now`` is outside the morning digest's hours.

Each of ``--runs`` runs (median reported), from a clean state (the tenant's Delivery,
Notification and Reminder rows deleted, then ``VACUUM ANALYZE`` and ``CHECKPOINT`` on
PostgreSQL, outside the timing):

* ``job``: ``crm.reminders.run(tenant_id, NOW)``: every registered kind, with the bell (one
  Notification per reminder) and whatever other channels are registered; asserts it created
  ``--due`` ``customer_followup`` rows;
* ``reference``: one ``INSERT INTO crm_reminder (…) SELECT … FROM customers_customer WHERE
  <the kind's conditions> ON CONFLICT DO NOTHING`` with the title and link built in SQL
  (``'跟进提醒：' || name || ' · ' || time``); asserts it inserted ``--due`` rows. The first run
  also checks that both produce the same rows (object, recipient, due_at, title, link).

Then one more job run split by phase (``connection.execute_wrapper``: the client's time of
each statement by kind and table; Python = the rest), and with ``--profile`` one under cProfile
(top functions). Goal (issue 18): job ≤ 3× reference. The last line is ``key=value`` figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import io
import pstats
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from customer_list import setup_django  # noqa: E402  (the benches' shared Django setup)
from sqlfill import at, other_columns, series, vendor  # noqa: E402

SLUG = "bench-rem"
REPS = 50
KIND = "customer_followup"
# A fixed moment (14:00 in Shanghai): the data is built around it, so a reused tenant stays
# due. Not between 08:30 and 10:30, when the morning digest (followup_digest) would also read
# every follow-up planned today or overdue (see bench/README.md for what it adds).
NOW = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=datetime.UTC)
DAY = 86400
GOAL = 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--due", type=int, default=200_000, help="customers due in the window")
    p.add_argument("--runs", type=int, default=3, help="timed runs of each (median)")
    p.add_argument("--profile", action="store_true", help="one more job run under cProfile")
    p.add_argument("--keep-debug", action="store_true", help="keep settings.DEBUG on")
    p.add_argument(
        "--allow-shared",
        action="store_true",
        help="run even if the database holds tenants other than the bench ones",
    )
    args = p.parse_args()
    if not 0 < args.due <= args.customers:
        p.error("--due must be between 1 and --customers")
    return args


# ---------------------------------------------------------------------------- SQL helpers


def lookback() -> datetime.timedelta:
    from crm import reminders

    kind = {k.key: k for k in reminders.kinds()}[KIND]
    return kind.lookback


def minutes_before() -> int:
    from customers import reminders

    return getattr(reminders, "FOLLOWUP_MINUTES_BEFORE", 15)


# ---------------------------------------------------------------------------- loading


def fill(tenant, n: int, due: int) -> float:
    """The tenant's users and ``n`` customers in one INSERT … SELECT; returns its seconds."""
    from django.db import connection, transaction

    from crm.models import Role, User
    from customers.models import Customer

    rep_role = Role.objects.filter(tenant=tenant, builtin=Role.Builtin.SALES_REP).first()
    users = []
    for k in range(REPS):
        u = User(tenant=tenant, username=f"{SLUG}-rep{k + 1:02d}", name=f"代表{k + 1:02d}")
        u.role = rep_role
        u.set_unusable_password()
        users.append(u)
    User.objects.bulk_create(users)
    ids = sorted(User.objects.filter(tenant=tenant).values_list("pk", flat=True))
    if ids != list(range(ids[0], ids[0] + REPS)):
        sys.exit(f"the reps' ids are not consecutive ({ids[:3]}…): use a fresh database")
    rep0 = ids[0]
    group = None
    try:
        from pools.models import PoolGroup

        group = PoolGroup.objects.filter(tenant=tenant).values_list("pk", flat=True).first()
    except ImportError:
        pass

    span = int(lookback().total_seconds())
    before = minutes_before() * 60
    # c: d due; f future; p past (before the overdue window); n none; in the window but left
    # out: x deleted, q in the pool (no owner), u no owner.
    category = (
        f"CASE WHEN (i * {due}) / {n} <> ((i - 1) * {due}) / {n} THEN 'd' "
        "WHEN i % 10 IN (1, 2, 3, 4) THEN 'f' WHEN i % 10 IN (6, 7) THEN 'p' "
        "WHEN i % 10 = 8 THEN 'n' "
        "ELSE CASE (i / 10) % 3 WHEN 0 THEN 'x' WHEN 1 THEN 'q' ELSE 'u' END END"
    )
    in_window = at(NOW, f"{before} - i % {span}")
    values = {
        "tenant_id": str(tenant.pk),
        "name": "'压测客户' || i",
        "name_normalized": "'压测客户' || i",
        # i / 5: the due customers (every fifth at the default sizes) spread over all reps.
        "owner_id": f"CASE WHEN c IN ('q', 'u') THEN NULL ELSE {rep0} + (i / 5) % {REPS} END",
        "next_followup_at": (
            f"CASE c WHEN 'f' THEN {at(NOW, f'{DAY} * (1 + i % 60) + i % 3600')} "
            f"WHEN 'p' THEN {at(NOW, f'-{DAY} * (5 + i % 60) - i % 3600')} "
            f"WHEN 'n' THEN NULL ELSE {in_window} END"
        ),
        "deleted_at": f"CASE WHEN c = 'x' THEN {at(NOW, f'-{DAY}')} END",
        "pooled_at": f"CASE WHEN c = 'q' THEN {at(NOW, f'-{DAY}')} END",
        "pool_group_id": "NULL" if group is None else str(group),
        "created_at": at(NOW, f"-{DAY} * 400 - i % ({DAY} * 700)"),
        "updated_at": at(NOW, f"-{DAY} * 10"),
    }
    tail, params = other_columns(Customer, set(values))
    prefix, source = series(n)
    body = (
        f"{prefix}INSERT INTO {Customer._meta.db_table} ({', '.join([*values, *tail])}) "
        f"SELECT {', '.join(values.values())}, MARKS "
        f"FROM (SELECT i, {category} AS c FROM {source}) AS s"
    )
    # The modulos are SQL, not placeholders; the defaults are parameters.
    sql = body.replace("%", "%%").replace("MARKS", ", ".join(["%s"] * len(params)))
    t = time.perf_counter()
    with transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)
    return time.perf_counter() - t


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as c:
        if vendor() == "postgresql":
            c.execute("VACUUM ANALYZE customers_customer")
        else:
            c.execute("ANALYZE")


def count_due(tenant_id: int) -> int:
    """The customers the kind should remind (its conditions, in plain SQL)."""
    from django.db import connection

    where, params = reference_where(tenant_id)
    with connection.cursor() as c:
        c.execute(f"SELECT COUNT(*) FROM customers_customer c WHERE {where}", params)
        return c.fetchone()[0]


def ensure_tenant(n: int, due: int) -> tuple[int, str]:
    from django.db import transaction
    from django_scopes import scopes_disabled

    from crm import services
    from crm.models import Tenant
    from crm.tenancy import tenant_scope
    from customers.models import Customer

    with scopes_disabled():
        tenant = Tenant.objects.filter(slug=SLUG).first()
        if tenant is not None:
            have = Customer.objects.filter(tenant=tenant).count()
            have_due = count_due(tenant.pk)
            if (have, have_due) != (n, due):
                sys.exit(
                    f"{SLUG} exists with {have} customers ({have_due} due), not {n} ({due}): "
                    f"use a fresh database or --customers {have} --due {have_due}"
                )
            return tenant.pk, f"reused {n:,} customers (loaded {tenant.created_at:%Y-%m-%d %H:%M})"
    t0 = time.perf_counter()
    with transaction.atomic():
        tenant = services.tenant_create(name=f"压测提醒 {n}", slug=SLUG)
        with tenant_scope(tenant.pk):
            insert_s = fill(tenant, n, due)
    t1 = time.perf_counter()
    analyze()
    t2 = time.perf_counter()
    got = count_due(tenant.pk)
    if got != due:
        sys.exit(f"filled {got} due customers, not {due}")
    return tenant.pk, (
        f"filled {n:,} customers in {t1 - t0:.1f} s (the INSERT … SELECT {insert_s:.1f} s, "
        f"{n / insert_s:,.0f} rows/s), analyze {t2 - t1:.1f} s"
    )


# ---------------------------------------------------------------------------- measuring


def reminder_models() -> list:
    """Delivery (when it exists), Notification, Reminder: children first."""
    from django.apps import apps

    crm = apps.get_app_config("crm")
    return [m for name in ("Delivery", "Notification", "Reminder") if (m := _model(crm, name))]


def _model(app, name):
    try:
        return app.get_model(name)
    except LookupError:
        return None


def clean(tenant_id: int) -> None:
    """Delete the tenant's reminders and what they produced; settle the tables."""
    from django.db import DatabaseError, connection

    tables = [m._meta.db_table for m in reminder_models()]
    with connection.cursor() as c:
        for t in tables:
            c.execute(f"DELETE FROM {t} WHERE tenant_id = %s", [tenant_id])
        if vendor() != "postgresql":
            return
        for t in tables:
            c.execute(f"VACUUM ANALYZE {t}")
        with contextlib.suppress(DatabaseError):  # not a superuser: no checkpoint
            c.execute("CHECKPOINT")


def reference_where(tenant_id: int) -> tuple[str, list]:
    before = datetime.timedelta(minutes=minutes_before())
    since = NOW - lookback()
    return (
        "c.tenant_id = %s AND c.deleted_at IS NULL AND c.pooled_at IS NULL "
        "AND c.owner_id IS NOT NULL AND c.next_followup_at > %s AND c.next_followup_at <= %s",
        [tenant_id, since + before, NOW + before],
    )


def reference_sql(tenant_id: int) -> tuple[str, list]:
    """One INSERT … SELECT of the kind's rows: title '跟进提醒：<name> · <time>' (the time as
    ``customers.reminders.when`` writes it: HH:MM today, MM-DD HH:MM another day)."""
    from django.conf import settings
    from django.urls import reverse
    from django.utils import timezone

    from crm.models import Reminder

    link = reverse("customers:customer-detail", args=[999999999]).split("999999999")
    local = timezone.localtime(NOW)
    if vendor() == "postgresql":
        moment = f"(c.next_followup_at AT TIME ZONE '{settings.TIME_ZONE}')"
        time_sql = (
            f"CASE WHEN {moment}::date = %s::date THEN to_char({moment}, 'HH24:MI') "
            f"ELSE to_char({moment}, 'MM-DD HH24:MI') END"
        )
    else:
        shift = f"'{int(local.utcoffset().total_seconds())} seconds'"
        time_sql = (
            f"CASE WHEN date(c.next_followup_at, {shift}) = %s "
            f"THEN strftime('%%H:%%M', c.next_followup_at, {shift}) "
            f"ELSE strftime('%%m-%%d %%H:%%M', c.next_followup_at, {shift}) END"
        )
    where, params = reference_where(tenant_id)
    sql = (
        f"INSERT INTO {Reminder._meta.db_table} (tenant_id, kind, object_id, recipient_id, "
        "due_at, title, body, link, created_at) "
        f"SELECT c.tenant_id, '{KIND}', c.id, c.owner_id, c.next_followup_at, "
        f"'跟进提醒：' || c.name || ' · ' || {time_sql}, '', "
        f"'{link[0]}' || c.id || '{link[1]}', %s "
        f"FROM customers_customer c WHERE {where} ON CONFLICT DO NOTHING"
    )
    return sql, [local.date().isoformat(), NOW, *params]


def reminder_rows(tenant_id: int) -> set[tuple]:
    from django_scopes import scopes_disabled

    from crm.models import Reminder

    with scopes_disabled():
        return set(
            Reminder.objects.filter(tenant_id=tenant_id, kind=KIND).values_list(
                "object_id", "recipient_id", "due_at", "title", "link"
            )
        )


def kind_counts(tenant_id: int) -> dict[str, int]:
    from django.db.models import Count
    from django_scopes import scopes_disabled

    from crm.models import Reminder

    with scopes_disabled():
        rows = (
            Reminder.objects.filter(tenant_id=tenant_id).values_list("kind").annotate(Count("id"))
        )
        return dict(rows.order_by())


def run_job(tenant_id: int, due: int) -> tuple[float, int]:
    from crm import reminders

    clean(tenant_id)
    t = time.perf_counter()
    sent = reminders.run(tenant_id, NOW)
    elapsed = time.perf_counter() - t
    counts = kind_counts(tenant_id)
    if counts.get(KIND, 0) != due:
        sys.exit(f"the job created {counts.get(KIND, 0)} {KIND} reminders, not {due} ({counts})")
    return elapsed, sent


def run_reference(tenant_id: int, due: int) -> float:
    from django.db import connection

    sql, params = reference_sql(tenant_id)
    clean(tenant_id)
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute(sql, params)
        inserted = c.rowcount
    elapsed = time.perf_counter() - t
    if inserted != due or kind_counts(tenant_id).get(KIND, 0) != due:
        sys.exit(f"the reference inserted {inserted} rows, not {due}")
    return elapsed


class Phases:
    """``connection.execute_wrapper``: the client's time per statement kind and table."""

    def __init__(self):
        self.times: dict[str, list[float]] = defaultdict(list)

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.times[label(sql)].append(time.perf_counter() - t)


def label(sql: str) -> str:
    words = sql.replace('"', "").split()
    verb = words[0].upper() if words else "?"
    upper = [w.upper() for w in words]
    table = "?"
    for key in ("INTO", "FROM", "UPDATE"):
        if key in upper:
            i = upper.index(key)
            if i + 1 < len(words):
                table = words[i + 1].split("(")[0]
                break
    return f"{verb} {table}"


def breakdown(tenant_id: int, due: int) -> tuple[float, list, list]:
    """One job run with each statement timed; also each kind's due() alone."""
    from django.conf import settings
    from django.db import connection
    from django.utils import translation

    from crm import reminders
    from crm.tenancy import tenant_scope

    clean(tenant_id)
    phases = Phases()
    with connection.execute_wrapper(phases):
        t = time.perf_counter()
        reminders.run(tenant_id, NOW)
        total = time.perf_counter() - t
    rows = sorted(
        ((k, len(v), sum(v)) for k, v in phases.times.items()), key=lambda r: r[2], reverse=True
    )
    # Each kind's query alone, as run() calls it: the Due items of a ``due`` kind, the rows of
    # a set-based ``rows`` kind (its SELECT, read whole).
    kinds = []
    with tenant_scope(tenant_id), translation.override(settings.LANGUAGE_CODE):
        for kind in reminders.kinds():
            t = time.perf_counter()
            if kind.rows is not None:
                items = list(kind.rows(tenant_id, NOW, NOW - kind.lookback).values_list("r_object"))
            else:
                items = list(kind.due(tenant_id, NOW, NOW - kind.lookback))
            kinds.append((kind.key, len(items), time.perf_counter() - t))
    got = next(n for key, n, _s in kinds if key == KIND)
    if got != due:
        sys.exit(f"{KIND}.due() answered {got} items, not {due}")
    return total, rows, kinds


def morning_digest(tenant_id: int) -> tuple[float, int, int]:
    """The 08:30 digest kind alone on the same tenant (every rep's follow-ups of the day and
    overdue ones, counted and listed in SQL): seconds, digests, follow-ups counted."""
    from django.conf import settings
    from django.utils import translation

    from crm import reminders
    from crm.tenancy import tenant_scope

    tenant = _tenant(tenant_id)
    moment = datetime.datetime.combine(
        NOW.astimezone(tenant.tzinfo).date(), reminders.DIGEST_TIME, tzinfo=tenant.tzinfo
    )
    kind = next(k for k in reminders.kinds() if k.key == "followup_digest")
    with tenant_scope(tenant_id), translation.override(settings.LANGUAGE_CODE):
        t = time.perf_counter()
        items = list(kind.due(tenant_id, moment, moment - datetime.timedelta(minutes=1)))
        seconds = time.perf_counter() - t
    counted = sum(int(n) for d in items for n in re.findall(r"\d+", d.title)[:2])
    return seconds, len(items), counted


def _tenant(tenant_id: int):
    from crm.models import Tenant

    return Tenant.objects.get(pk=tenant_id)


def profile(tenant_id: int) -> str:
    from crm import reminders

    clean(tenant_id)
    prof = cProfile.Profile()
    prof.enable()
    reminders.run(tenant_id, NOW)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()
    setup_django(args)
    from django.core.management import call_command
    from django.db import connection
    from django_scopes import scopes_disabled

    from crm.models import Tenant

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0, interactive=False)
    with scopes_disabled():
        others = list(
            Tenant.objects.exclude(slug__startswith="bench-").values_list("slug", flat=True)
        )
    if others and not args.allow_shared:
        sys.exit(f"this database has other tenants ({others[:5]}…): use a dedicated database")
    tenant_id, loaded = ensure_tenant(args.customers, args.due)
    print(f"  {SLUG}: {loaded}")
    t_loaded = time.perf_counter()

    jobs, refs, sent = [], [], 0
    for i in range(args.runs):
        job_s, sent = run_job(tenant_id, args.due)
        if i == 0:
            job_rows = reminder_rows(tenant_id)
            others = {k: v for k, v in kind_counts(tenant_id).items() if k != KIND}
        ref_s = run_reference(tenant_id, args.due)
        if i == 0 and reminder_rows(tenant_id) != job_rows:
            diff = len(job_rows ^ reminder_rows(tenant_id))
            sys.exit(f"the reference's rows differ from the job's ({diff} rows in one only)")
        jobs.append(job_s)
        refs.append(ref_s)
        print(f"  run {i + 1}: job {job_s:.2f} s ({sent:,} reminders), reference {ref_s:.2f} s")
    job_s, ref_s = statistics.median(jobs), statistics.median(refs)
    ratio = job_s / ref_s

    total, phases, kinds = breakdown(tenant_id, args.due)
    digest_s, digests, counted = morning_digest(tenant_id)
    due_s = next(s for key, _n, s in kinds if key == KIND)
    db_s = sum(r[2] for r in phases)
    print(
        f"\n== {connection.vendor}, {args.customers:,} customers, {args.due:,} due, "
        f"median of {args.runs} runs"
    )
    print(f"{'':28} {'median s':>9} {'runs':>24}")
    print(f"{'job crm.reminders.run':28} {job_s:9.2f} {' '.join(f'{x:.2f}' for x in jobs):>24}")
    print(f"{'reference INSERT … SELECT':28} {ref_s:9.2f} {' '.join(f'{x:.2f}' for x in refs):>24}")
    missed = "" if ratio <= GOAL else ": MISSED"
    print(f"{'job / reference':28} {ratio:9.2f}   (goal ≤ {GOAL}{missed})")
    if others:
        print(f"  other kinds also fired: {others}")
    print(f"\n-- one more job run by statement ({total:.2f} s; client-side time of each statement)")
    for name, count, seconds in phases:
        print(f"  {name:36} {count:>5} × {seconds:8.2f} s")
    print(f"  {'Python (the rest)':36} {'':>5}   {total - db_s:8.2f} s")
    if connection.vendor == "sqlite":
        print("  (SQLite computes a SELECT's rows as they are fetched: counted as Python here)")
    print("-- each kind's query alone (due(): its Due items; rows: its SELECT read whole)")
    for key, n, seconds in kinds:
        print(f"  {key:36} {n:>7,} items {seconds:8.2f} s")
    print(
        f"-- the 08:30 morning digest kind alone: {digest_s:.2f} s, {digests} digests "
        f"counting {counted:,} follow-ups (today's and overdue)"
    )
    if args.profile:
        print("\n-- cProfile of one job run")
        print(profile(tenant_id))
    clean(tenant_id)
    t_end = time.perf_counter()
    print(f"setup+load {t_loaded - t_start:.0f} s, measuring {t_end - t_loaded:.0f} s")
    print(
        f"customers={args.customers} due={args.due} job_s={job_s:.2f} reference_s={ref_s:.2f} "
        f"ratio={ratio:.2f} goal={GOAL} due_query_s={due_s:.2f} python_s={total - db_s:.2f} "
        f"digest_s={digest_s:.2f} runs={args.runs} db={connection.vendor}"
    )


if __name__ == "__main__":
    main()
