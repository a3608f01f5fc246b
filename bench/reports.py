#!/usr/bin/env python
"""Report pages (issue 19): each report for this year and one department, on a tenant of 500
reps, 1,000,000 customers, 2,000,000 follow-ups and the ownership and status events of 12
months; the summary-backed 客户增量统计 against the same figures computed live from the base
tables in the same run.

    createdb -h 127.0.0.1 -U postgres tidepool_bench_rpt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tidepool_bench_rpt \\
        .venv/bin/python bench/reports.py [--runs 5] [--explain 200]

Without DATABASE_URL the data goes to ``$TIDEPOOL_VAR_DIR/db.sqlite3`` (a new temporary
folder unless set); smaller sizes there, e.g. ``--reps 100 --customers 200000 --followups
400000 --events 120000 --status-events 120000``. The database must be a dedicated one: the
script migrates it, creates the tenant ``bench-rpt`` and refuses to run where tenants other
than ``bench-*`` exist. A second run on the same database reuses the tenant when its sizes
match (the data is dated around the moment it was filled).

The data, filled with set-based SQL (``INSERT … SELECT`` over ``generate_series`` on
PostgreSQL, a recursive CTE on SQLite; on PostgreSQL with the secondary indexes built once
afterwards):

* an admin; 销售部 with ``--departments`` departments (25) below it, each with a manager
  (its leader, data scope "department and below") and ``--reps`` / departments reps;
* ``--customers`` customers: 8 % in the default pool, 15 % signed, 1 % deleted, status and
  level from the tenant's options, the others spread over the reps;
* ``--followups`` follow-ups over the last 365 days, about two per customer, by the
  customer's rep, types from the tenant's follow-up options (the first ones most often);
* ``--events`` ownership events over the last 365 days: created 20 %, imported 10 % (a
  quarter into the pool), claimed 15 %, assigned 5 %, converted 5 %, transferred 15 %,
  returned 10 %, recycled 9 %, became_signed 5 %, signed_back 1 %, deleted 2 %, restored
  1 %, moved between pools 2 %; a seventh outside the lifecycle changes are signed customers';
* ``--status-events`` CustomerAttrEvent rows (field ``status``) over the last 365 days.

Then, each run: ``summary.refresh`` of the last 365 days (the nightly rebuild's cost), of
today alone (the beat's five-minute job) and ``summary.reconcile`` of the last
``RECONCILE_DAYS`` days (the nightly reconciliation).

Pages: every URL of ``reports/urls.py`` that is a report (names ending in ``-events``,
``-rows``, ``-detail`` or ``-list`` and URLs with parameters are drill-downs, skipped),
requested with ``?preset=this_year&department=<the first department>`` by the admin and by that
department's manager, and by the admin without a department (``admin·all``: every rep's
row, the widest page). One warm-up GET (query count, status 200 required), then the median
of ``--runs`` GETs through the Django test client (middleware, view, template; DEBUG off).
Then one more GET with every statement timed; ``--explain MS`` (PostgreSQL) prints ``EXPLAIN
ANALYZE`` of the slowest statement of each page slower than MS.

客户增量统计 reads the summary; its live reference is the same figures from the base table
in the same run: ``reports.sources.ownership_rows`` (the GROUP BY a summary day is computed
with: local day, kind, lifecycle, users) over the whole year, summed per user and metric in
the scope (``live``), and the tighter GROUP BY without the day, restricted to the scope's
users (``live_min``); both are checked equal to the page's figures. Goals (issue 19): page ≤
0.1 × live, and every report page ≤ 200 ms server time. Reports without a summary compute
live from the base tables: only the 200 ms goal applies to them. The last line is
``key=value`` figures.
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from customer_list import bulk_load, setup_django  # noqa: E402  (the benches' shared helpers)
from sqlfill import at, other_columns, series, vendor  # noqa: E402

SLUG = "bench-rpt"
DAY = 86400
YEAR = 365 * DAY
GOAL_RATIO = 0.1
GOAL_MS = 200
SKIP_SUFFIXES = ("-events", "-rows", "-detail", "-list")
# Ownership event kinds by j % 100 (upper bound of each band), see the docstring.
KINDS = [
    (20, "created"),
    (30, "imported"),
    (45, "claimed"),
    (50, "assigned"),
    (55, "converted"),
    (70, "transferred"),
    (80, "returned"),
    (89, "recycled"),
    (94, "became_signed"),
    (95, "signed_back"),
    (97, "deleted"),
    (98, "restored"),
    (100, "moved"),
]
GAINS = {"created", "imported", "claimed", "assigned", "converted", "transferred", "restored"}
LOSSES = {"returned", "recycled", "transferred", "deleted"}
POOL_KINDS = {"claimed", "assigned", "returned", "recycled", "moved"}
OWNER_KINDS = {"became_signed", "signed_back"}  # the owner keeps the customer


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=500)
    p.add_argument("--departments", type=int, default=25)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--followups", type=int, default=2_000_000)
    p.add_argument("--events", type=int, default=600_000, help="ownership events")
    p.add_argument("--status-events", type=int, default=600_000)
    p.add_argument("--runs", type=int, default=5, help="timed GETs per page (median)")
    p.add_argument(
        "--explain",
        type=float,
        default=GOAL_MS,
        metavar="MS",
        help="EXPLAIN ANALYZE the slowest statement of pages slower than MS (PostgreSQL)",
    )
    p.add_argument("--no-rebuild", action="store_true", help="skip the summary refresh timing")
    p.add_argument("--keep-debug", action="store_true", help="keep settings.DEBUG on")
    p.add_argument(
        "--allow-shared",
        action="store_true",
        help="run even if the database holds tenants other than the bench ones",
    )
    args = p.parse_args()
    if args.reps < args.departments or args.departments < 1:
        p.error("--reps must be at least --departments (≥ 1)")
    return args


# ---------------------------------------------------------------------------- SQL helpers


def pick(expr: str, ids: list[int]) -> str:
    """SQL choosing ``ids[expr % len(ids)]``."""
    if not ids:
        return "NULL"
    whens = " ".join(f"WHEN {k} THEN {v}" for k, v in enumerate(ids))
    return f"(CASE ({expr}) % {len(ids)} {whens} END)"


def insert_select(model, n: int, values: dict[str, str], inner: str = "") -> float:
    """One ``INSERT INTO model (…) SELECT <values> FROM (SELECT i[, inner] FROM 1..n)``; the
    model's other columns get their defaults (parameters). Returns its seconds."""
    from django.db import connection

    tail, params = other_columns(model, set(values))
    prefix, source = series(n)
    body = (
        f"{prefix}INSERT INTO {model._meta.db_table} ({', '.join([*values, *tail])}) "
        f"SELECT {', '.join(values.values())}{', MARKS' if tail else ''} "
        f"FROM (SELECT i{', ' + inner if inner else ''} FROM {source}) AS s"
    )
    # The modulos are SQL, not placeholders; the defaults are parameters.
    sql = body.replace("%", "%%").replace("MARKS", ", ".join(["%s"] * len(params)))
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute(sql, params)
    return time.perf_counter() - t


def first_free_id(model, count: int) -> int:
    """The first of ``count`` consecutive free ids of ``model`` (the sequence moved past)."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            seq = c.fetchone()[0]
            c.execute("SELECT nextval(%s)", [seq])
            start = c.fetchone()[0]
            c.execute("SELECT setval(%s, %s)", [seq, start + max(count, 1) - 1])
            return start
        c.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
        return c.fetchone()[0] + 1


class _Named:
    def __init__(self, model):
        self.name = model._meta.db_table


# ---------------------------------------------------------------------------- loading


def make_people(tenant, reps: int, departments: int) -> dict:
    """admin; 销售部 → 销售01…NN, each led by its manager; the reps spread evenly."""
    from crm import services
    from crm.models import Role, User

    def role(builtin):
        return Role.objects.get(tenant=tenant, builtin=builtin)

    def user(username, name, r, dept=None, manager=None):
        u = User(tenant=tenant, username=f"{SLUG}-{username}", name=name, role=r)
        u.department, u.manager = dept, manager
        u.set_unusable_password()
        u.save()
        return u

    admin = user("admin", "管理员", role(Role.Builtin.ADMIN))
    sales = services.department_create(actor=admin, name="销售部")
    manager_role = role(Role.Builtin.SALES_MANAGER)
    depts, managers = [], []
    for d in range(departments):
        dept = services.department_create(actor=admin, name=f"销售{d + 1:02d}部", parent=sales)
        manager = user(f"mgr{d + 1:02d}", f"经理{d + 1:02d}", manager_role, dept, admin)
        services.department_update(actor=admin, department=dept, name=dept.name, leader=manager)
        depts.append(dept)
        managers.append(manager)
    rep_role = role(Role.Builtin.SALES_REP)
    rows = []
    for k in range(reps):
        d = k * departments // reps
        u = User(tenant=tenant, username=f"{SLUG}-rep{k + 1:03d}", name=f"代表{k + 1:03d}")
        u.role, u.department, u.manager = rep_role, depts[d], managers[d]
        u.set_unusable_password()
        rows.append(u)
    User.objects.bulk_create(rows)
    ids = sorted(User.objects.filter(tenant=tenant, role=rep_role).values_list("pk", flat=True))
    if ids != list(range(ids[0], ids[0] + reps)):
        sys.exit(f"the reps' ids are not consecutive ({ids[:3]}…): use a fresh database")
    return {"admin": admin.pk, "rep0": ids[0], "sales": sales.pk}


def fill(tenant, args, anchor: datetime.datetime) -> dict[str, float]:
    """Everything but the tenant: people, customers, follow-ups, events. Seconds per table."""
    from django.contrib.contenttypes.models import ContentType

    from crm.models import Option
    from customers.models import Customer, CustomerAttrEvent, FollowUp, OwnershipEvent
    from pools.services import default_group_for

    people = make_people(tenant, args.reps, args.departments)
    rep0, admin, r, n = people["rep0"], people["admin"], args.reps, args.customers
    group = default_group_for(tenant.pk, "customer").pk

    def options(kind):
        return list(
            Option.objects.filter(tenant=tenant, kind=kind, is_active=True)
            .order_by("sort_order", "id")
            .values_list("pk", flat=True)
        )

    statuses, levels, types = (
        options("customer_status"),
        options("customer_level"),
        options("followup_type"),
    )
    # The first follow-up types (电话, 拜访 …) most often: 4, 3, 1, 1, 1 in ten.
    weighted = [types[k % len(types)] for k in (0, 0, 0, 0, 1, 1, 1, 2, 3, 4)]
    c0 = first_free_id(Customer, n)
    owner = f"{rep0} + i % {r}"
    seconds = {}
    customer = {
        "id": f"{c0 - 1} + i",
        "tenant_id": str(tenant.pk),
        "name": "'报表客户' || i",
        "name_normalized": "'报表客户' || i",
        "owner_id": f"CASE WHEN i % 100 < 8 THEN NULL ELSE {owner} END",
        "pool_group_id": str(group),
        "pooled_at": f"CASE WHEN i % 100 < 8 THEN {at(anchor, f'-{DAY} * (i % 300)')} END",
        "lifecycle": "CASE WHEN i % 100 >= 85 THEN 'signed' ELSE 'development' END",
        "deal_status": "CASE WHEN i % 100 >= 85 THEN 'deal' ELSE 'none' END",
        "signed_at": f"CASE WHEN i % 100 >= 85 THEN {at(anchor, f'-{DAY} * (i % 400)')} END",
        "status_id": pick("i / 7", statuses),
        "level_id": pick("i / 3", levels),
        "deleted_at": f"CASE WHEN i % 100 = 99 THEN {at(anchor, f'-{DAY} * (1 + i % 30)')} END",
        "created_by_id": f"CASE WHEN i % 100 < 8 THEN {admin} ELSE {owner} END",
        "created_at": at(anchor, f"-(i * 7919) % ({2 * YEAR})"),
        "updated_at": at(anchor, f"-{DAY}"),
    }
    customer_type = ContentType.objects.get_for_model(Customer).pk
    # Follow-up j is on customer ((j - 1) % n) + 1, by that customer's rep.
    followup = {
        "tenant_id": str(tenant.pk),
        "customer_id": f"{c0 - 1} + ci",
        "record_type_id": str(customer_type),
        "record_id": f"{c0 - 1} + ci",
        "kind_id": pick("i / 11", weighted),
        "content": "'电话沟通，约下周拜访'",
        "followed_at": at(anchor, f"-1 - (i * 104729) % {YEAR}"),
        "created_by_id": f"{rep0} + ci % {r}",
        "created_at": at(anchor, f"-1 - (i * 104729) % {YEAR}"),
        # What followup_create writes: customer ci's lifecycle, "" in the recycle bin.
        "counts_as": (
            "CASE WHEN ci % 100 = 99 THEN '' WHEN ci % 100 >= 85 THEN 'signed' "
            "ELSE 'development' END"
        ),
    }
    kind = "CASE " + " ".join(f"WHEN i % 100 < {b} THEN '{k}'" for b, k in KINDS) + " END"

    def when(kinds):
        return "(" + " OR ".join(f"k = '{k}'" for k in sorted(kinds)) + ")"

    gainer = f"{rep0} + (i * 31) % {r}"
    loser = f"{rep0} + (i * 17) % {r}"
    receiver = f"{rep0} + ((i * 17) % {r} + 1 + i % {max(r - 1, 1)}) % {r}"
    to_user = (
        f"CASE WHEN k = 'transferred' THEN {receiver} "
        f"WHEN k = 'imported' AND i % 4 = 0 THEN NULL "
        f"WHEN {when(GAINS | OWNER_KINDS)} THEN {gainer} END"
    )
    from_user = f"CASE WHEN {when(OWNER_KINDS)} THEN {gainer} WHEN {when(LOSSES)} THEN {loser} END"
    event = {
        "tenant_id": str(tenant.pk),
        "customer_id": f"{c0} + (i * 7919) % {n}",
        "kind": "k",
        "to_user_id": to_user,
        "from_user_id": from_user,
        "actor_id": f"CASE WHEN k = 'recycled' THEN NULL ELSE COALESCE({to_user}, {from_user}) END",
        "pool_group_id": (
            f"CASE WHEN {when(POOL_KINDS)} OR (k = 'imported' AND i % 4 = 0) THEN {group} END"
        ),
        "lifecycle": (
            f"CASE WHEN {when(OWNER_KINDS)} THEN 'development' "
            "WHEN i % 7 = 0 THEN 'signed' ELSE 'development' END"
        ),
        "created_at": at(anchor, f"-1 - (i * 48271) % {YEAR}"),
    }
    status_event = {
        "tenant_id": str(tenant.pk),
        "customer_id": f"{c0} + (i * 6151) % {n}",
        "field": "'status'",
        "old_value": f"CAST({pick('i', statuses)} AS TEXT)",
        "new_value": f"CAST({pick('i + 1', statuses)} AS TEXT)",
        "owner_id": f"CASE WHEN i % 20 = 0 THEN NULL ELSE {rep0} + (i * 23) % {r} END",
        "lifecycle": "CASE WHEN i % 7 = 0 THEN 'signed' ELSE 'development' END",
        "at": at(anchor, f"-1 - (i * 69621) % {YEAR}"),
    }
    models = [Customer, FollowUp, OwnershipEvent, CustomerAttrEvent]
    with bulk_load([_Named(m) for m in models], big=n >= 20_000):
        seconds["customers"] = insert_select(Customer, n, customer)
        seconds["followups"] = insert_select(
            FollowUp, args.followups, followup, inner=f"(i - 1) % {n} + 1 AS ci"
        )
        seconds["events"] = insert_select(OwnershipEvent, args.events, event, inner=f"{kind} AS k")
        seconds["status_events"] = insert_select(
            CustomerAttrEvent, args.status_events, status_event
        )
    return seconds


def analyze() -> float:
    """Statistics for every filled table, the small ones included: without them PostgreSQL
    estimates one user and one department and nests loops over both (a manager's scope
    query took 0.9 s instead of 1 ms in the first run)."""
    from django.db import connection

    from crm.models import Department, Role, User
    from customers.models import Customer, CustomerAttrEvent, FollowUp, OwnershipEvent

    t = time.perf_counter()
    with connection.cursor() as c:
        if vendor() == "postgresql":
            for m in (
                User,
                Department,
                Role,
                Customer,
                FollowUp,
                OwnershipEvent,
                CustomerAttrEvent,
            ):
                c.execute(f'VACUUM ANALYZE "{m._meta.db_table}"')
        else:
            c.execute("ANALYZE")
    return time.perf_counter() - t


def sizes(tenant_id: int) -> dict[str, int]:
    from crm.models import Department, Role, User
    from customers.models import Customer, CustomerAttrEvent, FollowUp, OwnershipEvent

    return {
        "reps": User.objects.filter(tenant_id=tenant_id, role__builtin=Role.Builtin.SALES_REP)
        .values("pk")
        .count(),
        "departments": Department.objects.filter(tenant_id=tenant_id, parent__isnull=False).count(),
        "customers": Customer.objects.filter(tenant_id=tenant_id).count(),
        "followups": FollowUp.objects.filter(tenant_id=tenant_id).count(),
        "events": OwnershipEvent.objects.filter(tenant_id=tenant_id).count(),
        "status_events": CustomerAttrEvent.objects.filter(tenant_id=tenant_id).count(),
    }


def ensure_tenant(args) -> tuple[int, str]:
    from django.db import transaction
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from crm import services
    from crm.models import Tenant
    from crm.tenancy import tenant_scope

    wanted = {
        "reps": args.reps,
        "departments": args.departments,
        "customers": args.customers,
        "followups": args.followups,
        "events": args.events,
        "status_events": args.status_events,
    }
    with scopes_disabled():
        tenant = Tenant.objects.filter(slug=SLUG).first()
        if tenant is not None:
            have = sizes(tenant.pk)
            if have != wanted:
                options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in have.items())
                sys.exit(f"{SLUG} exists with other sizes: use a fresh database or {options}")
            analyze_s = analyze()
            return tenant.pk, (
                f"reused (filled {tenant.created_at:%Y-%m-%d %H:%M}), analyze {analyze_s:.1f} s"
            )
    anchor = timezone.now().replace(microsecond=0)
    t0 = time.perf_counter()
    with transaction.atomic():
        tenant = services.tenant_create(name="压测报表", slug=SLUG)
        with tenant_scope(tenant.pk):
            seconds = fill(tenant, args, anchor)
    t1 = time.perf_counter()
    analyze_s = analyze()
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    return tenant.pk, f"filled in {t1 - t0:.1f} s ({parts}), analyze {analyze_s:.1f} s"


# ---------------------------------------------------------------------------- summary


def rebuild(tenant_id: int) -> dict[str, float]:
    """The summary's jobs, timed: 365 days (nightly rebuild), today (the beat's job), the
    nightly reconciliation of the last days."""
    from crm.models import Tenant
    from crm.tenancy import tenant_scope
    from reports import summary
    from reports.models import DailyCount

    tenant = Tenant.objects.get(pk=tenant_id)
    today = tenant.today()
    out = {}
    with tenant_scope(tenant_id):
        t = time.perf_counter()
        out["rows"] = summary.refresh(tenant_id, today - datetime.timedelta(days=365), today)
        out["year_s"] = time.perf_counter() - t
        if vendor() == "postgresql":
            from django.db import connection

            with connection.cursor() as c:
                c.execute(f'VACUUM ANALYZE "{DailyCount._meta.db_table}"')
        days = []
        for _ in range(3):
            t = time.perf_counter()
            summary.refresh(tenant_id, today, today)
            days.append(time.perf_counter() - t)
        out["day_ms"] = statistics.median(days) * 1000
        t = time.perf_counter()
        drift = summary.reconcile(
            tenant_id, today - datetime.timedelta(days=summary.RECONCILE_DAYS), today
        )
        out["reconcile_s"] = time.perf_counter() - t
        if drift:
            sys.exit(f"the reconciliation found {drift} drifted figures right after a refresh")
    return out


# ---------------------------------------------------------------------------- pages


def report_names() -> tuple[list[str], list[str]]:
    """(reports, skipped) among the named URLs of reports/urls.py."""
    from django.urls import URLPattern, URLResolver

    from reports import urls

    found, skipped = [], []

    def walk(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name:
                params = getattr(p.pattern, "converters", None) or p.pattern.regex.groups
                if p.name.endswith(SKIP_SUFFIXES) or params:
                    skipped.append(p.name)
                else:
                    found.append(p.name)

    walk(urls.urlpatterns)
    return found, skipped


class Timer:
    """``connection.execute_wrapper``: each statement's client time, SQL and parameters."""

    def __init__(self):
        self.statements: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((time.perf_counter() - t, sql, params))


def personas(tenant_id: int) -> list[tuple[str, int, int | None]]:
    """(label, user id, department id): the admin and the first department's manager for
    that department; the admin for every department."""
    from crm.models import Department, User

    dept = (
        Department.objects.filter(tenant_id=tenant_id, parent__isnull=False)
        .order_by("path")
        .first()
    )
    admin = User.objects.get(username=f"{SLUG}-admin")
    return [
        ("admin", admin.pk, dept.pk),
        ("manager", dept.leader_id, dept.pk),
        ("admin·all", admin.pk, None),
    ]


def measure_page(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    try:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
    except Exception as exc:  # a page another engineer is still writing
        return {"status": f"{type(exc).__name__}: {str(exc)[:60]}", "queries": 0}
    out = {"status": response.status_code, "queries": len(ctx.captured_queries)}
    if response.status_code != 200:
        return out
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - t)
    out["ms"] = statistics.median(times) * 1000
    out["runs"] = [x * 1000 for x in times]
    timer = Timer()
    with connection.execute_wrapper(timer):
        client.get(url)
    out["db_ms"] = sum(s for s, _q, _p in timer.statements) * 1000
    slowest = max(timer.statements, key=lambda s: s[0], default=(0.0, "", None))
    out["maxq_ms"] = slowest[0] * 1000
    out["slowest"] = slowest
    return out


def explain(statement) -> str:
    from django.db import connection

    _s, sql, params = statement
    with connection.cursor() as c:
        c.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in c.fetchall())


# ---------------------------------------------------------------------------- live reference


def live_increment(tenant, first, last, user_ids, *, by_day: bool) -> dict[tuple[int, str], int]:
    """The 客户增量统计 figures of ``user_ids`` from the ownership events: ``by_day`` with the
    summary source's own GROUP BY (local day, kind, lifecycle, users) over the whole range,
    else one GROUP BY without the day, restricted to the users."""
    from django.db.models import Count, Q

    from customers.models import OwnershipEvent
    from reports import summary
    from reports.sources import GAINED, LOST, ownership_rows

    start, end = summary.local_bounds(first, last, tenant.tzinfo)
    out: dict[tuple[int, str], int] = defaultdict(int)
    users = set(user_ids)
    if by_day:
        for _day, user_id, metric, n in ownership_rows(tenant.pk, start, end, tenant.tzinfo):
            if user_id in users:
                out[(user_id, metric)] += n
        return dict(out)
    ids = sorted(users)
    groups = (
        OwnershipEvent.objects.filter(
            tenant_id=tenant.pk, created_at__gte=start, created_at__lt=end
        )
        .filter(Q(to_user_id__in=ids) | Q(from_user_id__in=ids))
        .values("kind", "lifecycle", "to_user_id", "from_user_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for g in groups:
        gained, lost = GAINED.get(g["kind"]), LOST.get(g["kind"])
        if gained and g["to_user_id"] in users:
            out[(g["to_user_id"], f"own:in:{gained}:{g['lifecycle']}")] += g["n"]
        if lost and g["from_user_id"] in users:
            out[(g["from_user_id"], f"own:out:{lost}:{g['lifecycle']}")] += g["n"]
    return dict(out)


def measure_live(user_id: int, department: int | None, runs: int) -> dict:
    """The increment figures as the page would show them (summary) and live, timed."""
    from crm.models import Department, User
    from crm.tenancy import tenant_scope
    from reports import periods, summary
    from reports.scope import ReportScope

    actor = User.objects.select_related("tenant", "role").get(pk=user_id)
    tenant = actor.tenant
    with tenant_scope(tenant.pk):
        dept = Department.objects.get(pk=department) if department else None
        scope = ReportScope(actor, department=dept)
        period = periods.resolve("this_year", periods.tenant_today(tenant))
        users = scope.user_ids
        stored = summary.figures(tenant, "own", period.first, period.last, users)
        out = {"users": len(users)}
        for key, by_day in (("live", True), ("live_min", False)):
            times, got = [], None
            for _ in range(runs):
                t = time.perf_counter()
                got = live_increment(tenant, period.first, period.last, users, by_day=by_day)
                times.append(time.perf_counter() - t)
            if got != stored:
                diff = len(set(got.items()) ^ set(stored.items()))
                sys.exit(f"{key}: the live figures differ from the summary's ({diff} figures)")
            out[key] = statistics.median(times) * 1000
        out["figures"] = sum(stored.values())
    return out


# ---------------------------------------------------------------------------- main


def key_of(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_")


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()
    setup_django(args)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django_scopes import scopes_disabled

    from crm.models import Tenant, User

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0, interactive=False)
    with scopes_disabled():
        others = list(
            Tenant.objects.exclude(slug__startswith="bench-").values_list("slug", flat=True)
        )
        if others and not args.allow_shared:
            sys.exit(f"this database has other tenants ({others[:5]}…): use a dedicated database")
        tenant_id, loaded = ensure_tenant(args)
        print(f"  {SLUG}: {loaded}")
        print("  " + ", ".join(f"{k} {v:,}" for k, v in sizes(tenant_id).items()))
        who = personas(tenant_id)
    t_loaded = time.perf_counter()

    built = {}
    if not args.no_rebuild:
        built = rebuild(tenant_id)
        print(
            f"  summary: 365 days {built['year_s']:.1f} s ({built['rows']:,} rows), today "
            f"{built['day_ms']:.0f} ms (median of 3), reconcile {built['reconcile_s']:.1f} s"
        )

    names, skipped = report_names()
    print(f"  report pages: {', '.join(names)} (drill-downs skipped: {', '.join(skipped)})")
    clients = {}
    for _label, user_id, _dept in who:
        if user_id not in clients:
            client = Client(SERVER_NAME="127.0.0.1")
            client.force_login(
                User.objects.get(pk=user_id), backend="crm.auth.UsernameOrMobileBackend"
            )
            clients[user_id] = client

    rows = []  # (name, persona, result, live)
    for name in names:
        for label, user_id, dept in who:
            query = "preset=this_year" + (f"&department={dept}" if dept else "")
            url = f"{reverse(f'reports:{name}')}?{query}"
            result = measure_page(clients[user_id], url, args.runs)
            live = measure_live(user_id, dept, args.runs) if name == "increment" else None
            rows.append((name, label, result, live))
            ms = f"{result['ms']:.0f} ms" if "ms" in result else result["status"]
            print(f"    {name} {label}: {ms}", flush=True)

    print(
        f"\n== {connection.vendor}: reports for this year, median of {args.runs} GETs "
        f"(goal: page ≤ {GOAL_MS} ms; summary-backed page ≤ {GOAL_RATIO} × live)"
    )
    head = (
        f"{'report':22} {'persona':10} {'page ms':>8} {'queries':>7} {'db ms':>7} "
        f"{'maxq ms':>7} {'live ms':>8} {'ratio':>6} {'live_min':>8} {'ratio':>6}  goal"
    )
    print(head)
    print("-" * len(head))
    figures: dict[str, float] = {}
    over, failed = [], []
    for name, label, r, live in rows:
        if r["status"] != 200:
            print(f"{name:22} {label:10} status {r['status']} ({r['queries']} queries)")
            failed.append((name, label))
            continue
        met = r["ms"] <= GOAL_MS
        live_cols = f"{'—':>8} {'—':>6} {'—':>8} {'—':>6}"
        if live:
            ratio, ratio_min = r["ms"] / live["live"], r["ms"] / live["live_min"]
            met = met and ratio <= GOAL_RATIO
            live_cols = f"{live['live']:8.0f} {ratio:6.3f} {live['live_min']:8.0f} {ratio_min:6.3f}"
            k = key_of(name)
            figures[f"{k}_live_ms"] = max(figures.get(f"{k}_live_ms", 0), live["live"])
            figures[f"{k}_live_min_ms"] = max(figures.get(f"{k}_live_min_ms", 0), live["live_min"])
            figures[f"{k}_ratio"] = max(figures.get(f"{k}_ratio", 0), ratio)
            figures[f"{k}_ratio_min"] = max(figures.get(f"{k}_ratio_min", 0), ratio_min)
        if r["ms"] > GOAL_MS:
            over.append((name, label, r))
        print(
            f"{name:22} {label:10} {r['ms']:8.1f} {r['queries']:7} {r['db_ms']:7.1f} "
            f"{r['maxq_ms']:7.1f} {live_cols}  {'yes' if met else 'MISSED'}"
        )
        k = key_of(name)
        figures[f"{k}_ms"] = max(figures.get(f"{k}_ms", 0), r["ms"])
        figures[f"{k}_queries"] = max(figures.get(f"{k}_queries", 0), r["queries"])
    measured = [r["ms"] for _n, _l, r, _v in rows if r["status"] == 200]
    for name, label, _r, live in rows:
        if live:
            print(
                f"  {name} {label}: {live['users']} users, {live['figures']:,} events counted "
                "(summary = live, checked)"
            )

    if args.explain and connection.vendor == "postgresql":
        for name, label, r, _live in rows:
            if r["status"] == 200 and r["ms"] > args.explain and r["slowest"][1]:
                print(
                    f"\n-- {name} {label}: slowest statement {r['maxq_ms']:.1f} ms of {r['ms']:.0f}"
                )
                print("   " + r["slowest"][1][:600])
                print(explain(r["slowest"]))

    t_end = time.perf_counter()
    print(f"\nsetup+load {t_loaded - t_start:.0f} s, measuring {t_end - t_loaded:.0f} s")
    sizes_now = {"reps": args.reps, "customers": args.customers, "followups": args.followups}
    summary_figures = {}
    if built:
        summary_figures = {
            "refresh_year_s": f"{built['year_s']:.1f}",
            "refresh_day_ms": f"{built['day_ms']:.0f}",
            "reconcile_s": f"{built['reconcile_s']:.1f}",
            "summary_rows": built["rows"],
        }
    line = {
        **sizes_now,
        "events": args.events,
        "status_events": args.status_events,
        **summary_figures,
        **{
            k: (
                f"{v:.3f}" if "ratio" in k else f"{v:.0f}" if k.endswith("_queries") else f"{v:.1f}"
            )
            for k, v in figures.items()
        },
        "worst_ms": f"{max(measured, default=0):.1f}",
        "pages_over_200ms": len(over),
        "pages_failed": len(failed),
        "pages": len(rows),
        "runs": args.runs,
        "db": connection.vendor,
    }
    print(" ".join(f"{k}={v}" for k, v in line.items()))


if __name__ == "__main__":
    main()
