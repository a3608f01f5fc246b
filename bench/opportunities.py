#!/usr/bin/env python
"""Opportunity pages (issue 20): the kanban and the list for a rep, a manager and an admin on
a tenant of 200,000 opportunities against the same pages on a 1,000-opportunity tenant in the
same run (goal: ≤ 1.5× and, on PostgreSQL, every query ≤ 5 ms), and 销售漏斗 against its live
computation.

    createdb -h 127.0.0.1 -U postgres tidepool_bench_opp
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tidepool_bench_opp \\
        .venv/bin/python bench/opportunities.py [--opportunities 200000] [--runs 3] [--explain 5]

Without DATABASE_URL the data goes to ``$TIDEPOOL_VAR_DIR/db.sqlite3`` (a new temporary
folder unless set), e.g. ``--opportunities 20000`` for a quick run. The database must be a
dedicated one: the script migrates it, creates the tenants ``bench-opp`` and
``bench-opp-small`` and refuses to run where tenants other than ``bench-*`` exist. A second
run on the same database reuses both tenants when their sizes match.

Both tenants have the people of bench/customer_list.py (an admin; 销售部 → four departments
of five reps; the manager leads the first: himself and five reps) and are filled with
set-based SQL (bench/sqlfill.py, bench/reports.py's ``insert_select``; on PostgreSQL the
secondary indexes are built once afterwards): a customer per four opportunities, spread over
the reps; opportunities created over the last 365 days on those customers, owned by the
customer's rep, 45 % open over the four open stages (expected close from 30 days ago to 120
days ahead: some overdue), 20 % won and 35 % lost (closed over the last year, lost ones with
a reason); each with a stage history of one or two rows (created, moved to its stage).

Pages (Django test client, DEBUG off; a warm-up GET, then the median of ``--runs`` GETs,
then one GET with every statement timed): ``opportunities:opportunity-list`` for the views
mine, team, all, stale (7天未跟进) and closing (本月预计成交), and
``opportunities:opportunity-kanban`` for mine, team and all, for each persona; the big
tenant's page against the small tenant's same page (``ratio``); the slowest statement of
each page with its time (``--explain MS``: PostgreSQL ``EXPLAIN ANALYZE`` of the slowest
statements over MS). 销售漏斗 (``reports:funnel?preset=this_year``, admin and manager of the
big tenant): the page against ``reports.funnel.funnel_report`` alone (the live computation,
its figures checked equal to the page's) and against ``bare``: one GROUP BY of the population
by status and stage (the least any funnel reads). The last line is ``key=value`` figures.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from customer_list import bulk_load, make_users, setup_django  # noqa: E402
from sqlfill import at, other_columns, series, vendor  # noqa: E402


def _bench_reports():
    # bench/reports.py's SQL helpers, loaded under another name: "reports" is the Django app.
    spec = importlib.util.spec_from_file_location("bench_reports", HERE / "reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SLUG, SMALL_SLUG = "bench-opp", "bench-opp-small"
SMALL = 1_000
DAY = 86400
YEAR = 365 * DAY
GOAL_RATIO = 1.5
GOAL_QUERY_MS = 5.0
LIST_VIEWS = ["mine", "team", "all", "stale", "closing"]
KANBAN_VIEWS = ["mine", "team", "all"]
ROLES = ["rep", "manager", "admin"]
# The stage band of opportunity i (fill); the tenants' names carry LAYOUT: a tenant filled
# with another layout is not reused.
BAND = "((i / 20) % 20)"
LAYOUT = "2"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--opportunities", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3, help="timed GETs per page (median)")
    p.add_argument(
        "--explain",
        type=float,
        default=0,
        metavar="MS",
        help="EXPLAIN ANALYZE the slowest statement of pages whose slowest is over MS (PG)",
    )
    p.add_argument("--keep-debug", action="store_true", help="keep settings.DEBUG on")
    p.add_argument(
        "--allow-shared",
        action="store_true",
        help="run even if the database holds tenants other than the bench ones",
    )
    return p.parse_args()


# ---------------------------------------------------------------------------- loading


def insert_quoted(model, n: int, values: dict[str, str]) -> float:
    """bench/reports.py's ``insert_select`` with quoted column names (the opportunity has a
    column named ``commit``, a reserved word)."""
    from django.db import connection

    tail, params = other_columns(model, set(values))
    prefix, source = series(n)
    columns = ", ".join(connection.ops.quote_name(c) for c in [*values, *tail])
    body = (
        f"{prefix}INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
        f"SELECT {', '.join(values.values())}{', MARKS' if tail else ''} "
        f"FROM (SELECT i FROM {source}) AS s"
    )
    sql = body.replace("%", "%%").replace("MARKS", ", ".join(["%s"] * len(params)))
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute(sql, params)
    return time.perf_counter() - t


def day_sql(anchor: datetime.date, days: str) -> str:
    """SQL for the date ``anchor`` + ``days`` (an SQL integer expression)."""
    if vendor() == "postgresql":
        return f"(DATE '{anchor.isoformat()}' + CAST(({days}) AS INTEGER))"
    return f"date('{anchor.isoformat()}', ({days}) || ' days')"


def fill(tenant, n: int, anchor: datetime.datetime) -> dict[str, float]:
    """Customers, opportunities and their stage history (see the module's docstring)."""
    from django.db import connection

    from crm.models import Option
    from customers.models import Customer
    from opportunities.models import Opportunity, OpportunityStage, OpportunityStageChange
    from pools.services import default_group_for

    br = _bench_reports()
    _people, reps, _members = make_users(tenant)
    rep_ids = [r.pk for r in reps]
    depts = [r.department_id for r in reps]
    tid = tenant.pk
    group = default_group_for(tid, "customer").pk
    stages = list(OpportunityStage.objects.filter(tenant_id=tid).order_by("sort", "id"))
    opened = [s for s in stages if s.kind == "open"]
    won = next(s for s in stages if s.kind == "won")
    lost = next(s for s in stages if s.kind == "lost")
    reasons = list(
        Option.objects.filter(tenant_id=tid, kind="lost_reason").values_list("pk", flat=True)
    )
    # Stage by BAND = (i / 20) % 20: 0-8 open (3, 2, 2, 2 of the four stages), 9-12 won,
    # 13-19 lost. Not i % 20: the owner is the customer's rep, (i % nc) % 20 = i % 20, and
    # each rep had one stage (rep01: 10,000 open ones in the first stage; layout of 12-07).
    bands = [opened[0]] * 3 + [opened[1]] * 2 + [opened[2]] * 2 + [opened[3]] * 2
    bands += [won] * 4 + [lost] * 7
    stage_of = br.pick(BAND, [s.pk for s in bands])
    probability_of = br.pick(BAND, [s.probability for s in bands])
    kind = f"CASE WHEN {BAND} < 9 THEN 'open' WHEN {BAND} < 13 THEN 'won' ELSE 'lost' END"
    nc = max(1, n // 4)
    c0 = br.first_free_id(Customer, nc)
    today = anchor.astimezone(tenant.tzinfo).date()
    customer = {
        "id": f"{c0 - 1} + i",
        "tenant_id": str(tid),
        "name": "'商机客户' || i",
        "name_normalized": "'商机客户' || i",
        "owner_id": br.pick("i", rep_ids),
        "pool_group_id": str(group),
        "created_by_id": br.pick("i", rep_ids),
        "created_at": at(anchor, f"-{2 * YEAR} + i"),
        "updated_at": at(anchor, f"-{DAY}"),
    }
    created = f"-((i * 7919) % {YEAR}) - 3600"
    closed_day = day_sql(today, "-((i * 104729) % 360)")
    opportunity = {
        "tenant_id": str(tid),
        "name": "'商机' || i",
        "customer_id": f"{c0} + (i % {nc})",
        "owner_id": br.pick(f"i % {nc}", rep_ids),
        "created_by_id": br.pick(f"i % {nc}", rep_ids),
        "owner_department_id": br.pick(f"i % {nc}", depts),
        "amount": "10000 + (i * 37) % 300 * 1000",
        "expected_close_date": (
            f"CASE WHEN {BAND} < 9 THEN {day_sql(today, '(i * 31) % 150 - 30')} "
            f"ELSE {closed_day} END"
        ),
        "stage_id": stage_of,
        "probability": probability_of,
        "commit": "(i % 3 = 0)",
        "status": kind,
        "stage_entered_at": at(anchor, f"({created}) / 2"),
        "closed_date": f"CASE WHEN {BAND} >= 9 THEN {closed_day} END",
        "lost_reason_id": f"CASE WHEN {BAND} >= 13 THEN {br.pick('i', reasons)} END",
        "created_at": at(anchor, created),
        "updated_at": at(anchor, f"({created}) / 2"),
    }
    table = Opportunity._meta.db_table
    change_table = OpportunityStageChange._meta.db_table
    seconds = {}
    models = [Customer, Opportunity, OpportunityStageChange]
    with bulk_load([br._Named(m) for m in models], big=n >= 20_000):
        seconds["customers"] = br.insert_select(Customer, nc, customer)
        seconds["opportunities"] = insert_quoted(Opportunity, n, opportunity)
        first = opened[0]
        explicit = {
            "tenant_id",
            "opportunity_id",
            "from_stage_id",
            "to_stage_id",
            "changed_by_id",
            "changed_at",
            "amount",
            "probability",
        }
        tail, params = other_columns(OpportunityStageChange, explicit)
        marks = ", ".join(["%s"] * len(params))
        extra = (", " + ", ".join(tail)) if tail else ""
        extra_values = (", " + marks) if tail else ""
        t = time.perf_counter()
        with connection.cursor() as c:
            c.execute(
                f"INSERT INTO {change_table} (tenant_id, opportunity_id, from_stage_id, "
                f"to_stage_id, changed_by_id, changed_at, amount, probability{extra}) "
                f"SELECT tenant_id, id, NULL, {first.pk}, owner_id, created_at, amount, "
                f"{first.probability}{extra_values} FROM {table} WHERE tenant_id = %s",
                [*params, tid],
            )
            c.execute(
                f"INSERT INTO {change_table} (tenant_id, opportunity_id, from_stage_id, "
                f"to_stage_id, changed_by_id, changed_at, amount, probability{extra}) "
                f"SELECT tenant_id, id, {first.pk}, stage_id, owner_id, stage_entered_at, "
                f"amount, probability{extra_values} FROM {table} "
                f"WHERE tenant_id = %s AND stage_id <> {first.pk}",
                [*params, tid],
            )
        seconds["stage_changes"] = time.perf_counter() - t
    return seconds


def analyze() -> float:
    from django.db import connection

    from crm.models import Department, Role, User
    from customers.models import Customer
    from opportunities.models import Opportunity, OpportunityStage, OpportunityStageChange

    t = time.perf_counter()
    with connection.cursor() as c:
        if vendor() == "postgresql":
            for m in (
                User,
                Department,
                Role,
                Customer,
                Opportunity,
                OpportunityStage,
                OpportunityStageChange,
            ):
                c.execute(f'VACUUM ANALYZE "{m._meta.db_table}"')
        else:
            c.execute("ANALYZE")
    return time.perf_counter() - t


def ensure_tenant(slug: str, name: str, n: int) -> tuple[int, dict[str, int], str]:
    """(tenant id, {role: user id}, what was done)."""
    from django.db import transaction
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from crm import services
    from crm.models import Tenant, User
    from crm.tenancy import tenant_scope
    from opportunities.models import Opportunity

    with scopes_disabled():
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is not None:
            have = Opportunity.objects.filter(tenant=tenant).count()
            if have != n or tenant.name != name:
                sys.exit(
                    f"{slug} has {have} opportunities ({tenant.name}), not {n} ({name}): "
                    "use a fresh database"
                )
            done = f"reused (filled {tenant.created_at:%Y-%m-%d %H:%M})"
        else:
            anchor = timezone.now().replace(microsecond=0)
            t0 = time.perf_counter()
            with transaction.atomic():
                tenant = services.tenant_create(name=name, slug=slug)
                with tenant_scope(tenant.pk):
                    seconds = fill(tenant, n, anchor)
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
            done = f"filled in {time.perf_counter() - t0:.1f} s ({parts})"
        users = {
            "rep": User.objects.get(username=f"{slug}-rep01").pk,
            "manager": User.objects.get(username=f"{slug}-manager").pk,
            "admin": User.objects.get(username=f"{slug}-admin").pk,
        }
    return tenant.pk, users, done


# ---------------------------------------------------------------------------- funnel


def funnel_live(user_id: int, runs: int) -> dict:
    """reports.funnel.funnel_report for this year, as the page calls it, timed; and the bare
    GROUP BY of its population."""
    from django.db.models import Count, Sum

    from crm.models import User
    from crm.tenancy import tenant_scope
    from reports import funnel, periods
    from reports.scope import ReportScope

    actor = User.objects.select_related("tenant", "role").get(pk=user_id)
    tenant = actor.tenant
    out = {}
    with tenant_scope(tenant.pk):
        today = periods.tenant_today(tenant)
        period = periods.resolve("this_year", today)

        def live():
            scope = ReportScope(actor)
            return funnel.funnel_report(
                period=period,
                tz=tenant.tzinfo,
                scope=scope,
                basis=funnel.CLOSE,
                today=today,
                link=lambda *a: "",
            )

        def bare():
            scope = ReportScope(actor)
            rows = funnel.population(period=period, tz=tenant.tzinfo, scope=scope, basis="close")
            return list(
                rows.order_by()
                .values("status", "stage_id")
                .annotate(n=Count("pk"), s=Sum("amount"))
            )

        for key, fn in (("live", live), ("bare", bare)):
            times, got = [], None
            for _ in range(runs):
                t = time.perf_counter()
                got = fn()
                times.append(time.perf_counter() - t)
            out[key] = statistics.median(times) * 1000
            out[f"{key}_result"] = got
    return out


def figures_of(table) -> dict:
    return {row.key: dict(row.values) for row in table.rows}


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

    br = _bench_reports()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0, interactive=False)
    with scopes_disabled():
        others = list(
            Tenant.objects.exclude(slug__startswith="bench-").values_list("slug", flat=True)
        )
        if others and not args.allow_shared:
            sys.exit(f"this database has other tenants ({others[:5]}…): use a dedicated database")
        _big, big_users, done = ensure_tenant(SLUG, f"压测商机 v{LAYOUT}", args.opportunities)
        print(f"  {SLUG}: {done}")
        _small, small_users, done = ensure_tenant(SMALL_SLUG, f"压测商机(小) v{LAYOUT}", SMALL)
        print(f"  {SMALL_SLUG}: {done}")
        print(f"  analyze {analyze():.1f} s")
    t_loaded = time.perf_counter()

    clients = {}
    for users in (big_users, small_users):
        for user_id in users.values():
            client = Client(SERVER_NAME="127.0.0.1")
            client.force_login(
                User.objects.get(pk=user_id), backend="crm.auth.UsernameOrMobileBackend"
            )
            clients[user_id] = client

    pages = [("list", "opportunities:opportunity-list", v) for v in LIST_VIEWS]
    pages += [("kanban", "opportunities:opportunity-kanban", v) for v in KANBAN_VIEWS]
    rows = []
    for kind, name, view in pages:
        url = f"{reverse(name)}?view={view}"
        for role in ROLES:
            big = br.measure_page(clients[big_users[role]], url, args.runs)
            small = br.measure_page(clients[small_users[role]], url, args.runs)
            rows.append((kind, view, role, big, small))
            ms = f"{big['ms']:.0f} / {small['ms']:.0f} ms" if "ms" in big else big["status"]
            print(f"    {kind} {view} {role}: {ms}", flush=True)

    funnel_rows = []
    for role in ("admin", "manager"):
        url = f"{reverse('reports:funnel')}?preset=this_year"
        client = clients[big_users[role]]
        page = br.measure_page(client, url, args.runs)
        live = funnel_live(big_users[role], args.runs)
        # The page's own tables (the test environment records the template contexts; only
        # for this one GET, the timed ones ran without it).
        from django.test.utils import setup_test_environment, teardown_test_environment

        setup_test_environment()
        try:
            response = client.get(url)
        finally:
            teardown_test_environment()
        shown = figures_of(response.context["funnel"]["table"])
        computed = figures_of(live["live_result"].table)
        if shown != computed:
            sys.exit(f"funnel {role}: the page's figures differ from the live computation")
        shown_forecast = figures_of(response.context["forecast"]["table"])
        if shown_forecast != figures_of(live["live_result"].forecast):
            sys.exit(f"funnel {role}: the page's forecast differs from the live computation")
        counted = sum(v["count"] for v in shown.values())
        funnel_rows.append((role, page, live, counted))
        print(f"    funnel {role}: {page.get('ms', 0):.0f} ms, live {live['live']:.0f} ms")

    pg = connection.vendor == "postgresql"
    print(
        f"\n== {connection.vendor}: {args.opportunities:,} vs {SMALL:,} opportunities, median of "
        f"{args.runs} GETs (goal: ≤ {GOAL_RATIO}× the small tenant"
        + (f", every query ≤ {GOAL_QUERY_MS:.0f} ms" if pg else "")
        + ")"
    )
    head = (
        f"{'page':8} {'view':8} {'persona':8} {'big ms':>7} {'small ms':>8} {'ratio':>6} "
        f"{'queries':>7} {'db ms':>6} {'maxq ms':>7}  slowest query"
    )
    print(head)
    print("-" * len(head))
    flagged, failed, ratios, maxqs = [], [], [], []
    for kind, view, role, big, small in rows:
        if big.get("status") != 200 or small.get("status") != 200:
            print(f"{kind:8} {view:8} {role:8} status {big.get('status')} / {small.get('status')}")
            failed.append((kind, view, role))
            continue
        ratio = big["ms"] / small["ms"]
        ratios.append(ratio)
        maxqs.append(big["maxq_ms"])
        over = ratio > GOAL_RATIO or (pg and big["maxq_ms"] > GOAL_QUERY_MS)
        if over:
            flagged.append((kind, view, role, big))
        sql = " ".join(big["slowest"][1].split())[:90]
        print(
            f"{kind:8} {view:8} {role:8} {big['ms']:7.1f} {small['ms']:8.1f} {ratio:6.2f} "
            f"{big['queries']:7} {big['db_ms']:6.1f} {big['maxq_ms']:7.2f}{' <' if over else '  '}"
            f" {sql}"
        )
    print(
        "\n== 销售漏斗 (this year, by close date): the page against its live computation "
        "(reports.funnel.funnel_report) and the bare GROUP BY of its population"
    )
    head = (
        f"{'persona':8} {'page ms':>8} {'queries':>7} {'maxq ms':>7} {'live ms':>8} "
        f"{'page/live':>9} {'bare ms':>8} {'counted':>8}"
    )
    print(head)
    print("-" * len(head))
    figures = {}
    for role, page, live, counted in funnel_rows:
        ratio = page["ms"] / live["live"] if live["live"] else 0
        print(
            f"{role:8} {page['ms']:8.1f} {page['queries']:7} {page['maxq_ms']:7.2f} "
            f"{live['live']:8.1f} {ratio:9.2f} {live['bare']:8.1f} {counted:8,}"
        )
        figures[f"funnel_{role}_ms"] = f"{page['ms']:.1f}"
        figures[f"funnel_{role}_live_ms"] = f"{live['live']:.1f}"
        figures[f"funnel_{role}_bare_ms"] = f"{live['bare']:.1f}"
        figures[f"funnel_{role}_maxq_ms"] = f"{page['maxq_ms']:.2f}"
        print("  slowest: " + " ".join(page["slowest"][1].split())[:160])
    if args.explain and pg:
        for kind, view, role, big, _small in rows:
            if big.get("status") == 200 and big["maxq_ms"] > args.explain:
                print(f"\n-- {kind} {view} {role}: slowest statement {big['maxq_ms']:.2f} ms")
                print("   " + big["slowest"][1][:600])
                print(br.explain(big["slowest"]))
    t_end = time.perf_counter()
    print(f"\nsetup+load {t_loaded - t_start:.0f} s, measuring {t_end - t_loaded:.0f} s")
    line = {
        "opportunities": args.opportunities,
        "small": SMALL,
        "pages": len(rows),
        "pages_flagged": len(flagged),
        "pages_failed": len(failed),
        "worst_ratio": f"{max(ratios, default=0):.2f}",
        "median_ratio": f"{statistics.median(ratios) if ratios else 0:.2f}",
        "worst_query_ms": f"{max(maxqs, default=0):.2f}",
        **figures,
        "runs": args.runs,
        "db": connection.vendor,
    }
    print(" ".join(f"{k}={v}" for k, v in line.items()))


if __name__ == "__main__":
    main()
