#!/usr/bin/env python
"""Customer list page: server time per role × list view × page, on a big tenant, against the
same page on a 1,000-customer tenant and against a bare ``SELECT … LIMIT`` of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tidepool_bench \\
        .venv/bin/python bench/customer_list.py [--customers 200000] [--runs 5]

Without DATABASE_URL the data goes to a temporary SQLite file. The database must be a
dedicated one (never the test suite's or a real one): the script migrates it, creates the
tenants ``bench-big`` and ``bench-small`` and refuses to run where other tenants exist
(``--allow-shared`` overrides). A second run on the same database reuses the tenants when
their sizes match. Loading uses COPY on PostgreSQL and ``executemany`` on SQLite, with ids
reserved up front, so contacts and follow-ups can point at their customers.

What one measurement is (``measure_*``; ``--mode`` picks one):

* ``client``: ``Client.get(reverse("customers:customer-list") + "?view=…&after=…")`` after
  ``force_login``: the whole request (middleware, session, view, template).
* ``selectors``: what the page needs from the selectors: the user as the auth middleware
  loads it, ``selectors.customer_list_after(customer_list(actor, view), key)[:per_page]``
  evaluated (with its prefetch) and ``selectors.view_counts(actor)``.

A page past page 1 is requested as a user reaches it: through the next link of the page
before it, i.e. the cursor of that page's last row (computed in the setup, not timed); only
a page past the end of a list, which no link leads to, is requested as a typed
``?page=N``. See ``plan`` for the small tenant's reference of a deep page.

``auto`` (the default) uses ``client`` when the URL resolves and answers 200, else
``selectors``; ``both`` runs the two (keys prefixed ``client_`` / ``selectors_``). The median
of ``--runs`` runs (default 3, after one warm-up) is reported, with the database time seen by
the client (sum and slowest query, via ``connection.execute_wrapper``); ``--explain MS``
prints the plan of the slowest query of each big-tenant page slower than MS.

Runtime on the 2-core box (PostgreSQL, one mode): ``--customers 20000`` about 1.5 minutes,
200,000 about 4 minutes (load ~60 s: COPY with foreign-key triggers off and the secondary
indexes built once afterwards).

The last line of the output is ``key=value`` pairs: ``<role>_<view>_p<page>_ms`` (big
tenant), ``…_ratio_small`` (÷ the same page on the small tenant), ``…_ratio_bare`` (÷ the bare
SELECT of that page), ``…_db_ms`` and ``…_maxq_ms`` (slowest query), and ``bare_p<page>_ms``.
Goal (issue): every ratio_small ≤ 1.5, and every maxq_ms < 5 on PostgreSQL (the ``<`` marks;
on SQLite only the ratio is judged). The 1,000-customer tenant has no page 500 (40 pages of
25 at most): its reference for a deep page is its own deepest page of as many rows, reached
by cursor (the ``small`` column: the page number, ``»`` when by cursor; ``rows b/s``: rows on
the big and the small page).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROLES = ["rep", "manager", "admin"]
VIEWS = ["mine", "participated", "team", "all", "today", "starred", "unassigned", "stale"]
PAGES = [1, 500]
SMALL = 1_000
REPS_PER_DEPT = 5
DEPTS = ["销售一部", "销售二部", "销售三部", "销售四部"]  # 20 reps; the manager heads the first


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=200_000, help="big tenant size")
    p.add_argument("--small", type=int, default=SMALL, help="small tenant size")
    p.add_argument("--runs", type=int, default=3, help="timed runs per page (median)")
    p.add_argument("--per-page", type=int, default=0, help="default: the view's (client), 50")
    p.add_argument("--mode", choices=["auto", "client", "selectors", "both"], default="auto")
    p.add_argument("--views", default=",".join(VIEWS))
    p.add_argument("--roles", default=",".join(ROLES))
    p.add_argument("--pages", default=",".join(map(str, PAGES)))
    p.add_argument(
        "--explain",
        type=float,
        default=0.0,
        metavar="MS",
        help="print EXPLAIN ANALYZE of big-tenant queries slower than MS (PostgreSQL)",
    )
    p.add_argument(
        "--allow-shared",
        action="store_true",
        help="run even if the database holds tenants other than the bench ones",
    )
    p.add_argument(
        "--keep-debug",
        action="store_true",
        help="keep settings.DEBUG on while measuring (query log, template debug)",
    )
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()  # fmt: skip


def setup_django(args: argparse.Namespace) -> None:
    # Embedded files (SQLite when no DATABASE_URL, file cache, media) in a temporary folder.
    os.environ.setdefault("TIDEPOOL_VAR_DIR", tempfile.mkdtemp(prefix="tidepool-bench-"))
    # Development settings unless configured: no SSL redirect, no static manifest needed.
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    import django

    django.setup()
    from django.conf import settings

    # WhiteNoise warns at every start when the static folder is missing.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    if not args.keep_debug:
        # Measure as in production: no query log, no template debug information. (Set after
        # import, so the development storages and hosts chosen above stay.)
        settings.DEBUG = False


# ---------------------------------------------------------------------------- loading


@dataclass
class Table:
    """Rows for one model in column order: the explicit columns, then every other column at
    its model default (so raw COPY/INSERT fills NOT NULL columns as the ORM would)."""

    model: type
    explicit: list[str]
    columns: list[str] = field(init=False)
    tail: tuple = field(init=False)
    datetime_idx: list[int] = field(init=False)

    def __post_init__(self):
        from django.db import models
        from django.utils import timezone

        now = timezone.now()
        fields = {f.attname: f for f in self.model._meta.concrete_fields}
        tail_names, tail = [], []
        for attname, f in fields.items():
            if attname in self.explicit:
                continue
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value = now
            else:
                value = f.get_default()
            if value is None and not f.null:
                raise ValueError(f"{self.model.__name__}.{attname} needs a value")
            tail_names.append(attname)
            tail.append(value)
        self.columns = [fields[a].column for a in [*self.explicit, *tail_names]]
        self.tail = tuple(tail)
        self.datetime_idx = [
            i
            for i, a in enumerate([*self.explicit, *tail_names])
            if isinstance(fields[a], models.DateTimeField)
        ]

    @property
    def name(self) -> str:
        return self.model._meta.db_table


def reserve_ids(table: Table, count: int) -> int:
    """The first of ``count`` consecutive free ids (the sequence is moved past them)."""
    from django.db import connection

    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.name])
            seq = c.fetchone()[0]
            c.execute("SELECT nextval(%s)", [seq])
            start = c.fetchone()[0]
            c.execute("SELECT setval(%s, %s)", [seq, start + max(count, 1) - 1])
            return start
        c.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table.name}"')
        return c.fetchone()[0] + 1


def write_rows(table: Table, rows: Iterable[tuple]) -> int:
    """COPY (PostgreSQL) or executemany (SQLite) of ``explicit + tail`` rows."""
    from django.db import connection

    connection.ensure_connection()
    tail, n = table.tail, 0
    if connection.vendor == "postgresql":
        from psycopg import sql

        stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns))
        )
        with connection.connection.cursor() as cur, cur.copy(stmt) as copy:
            for row in rows:
                copy.write_row(row + tail)
                n += 1
        return n
    utc = datetime.UTC
    idx = table.datetime_idx

    def naive(row):  # Django keeps SQLite datetimes as naive UTC text
        row = list(row + tail)
        for i in idx:
            if row[i] is not None:
                row[i] = row[i].astimezone(utc).replace(tzinfo=None).isoformat(" ")
        n_rows[0] += 1
        return row

    n_rows = [0]
    cols = ", ".join(f'"{c}"' for c in table.columns)
    marks = ", ".join("?" * len(table.columns))
    connection.connection.executemany(
        f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})', map(naive, rows)
    )
    return n_rows[0]


@contextlib.contextmanager
def bulk_load(tables: list[Table], big: bool):
    """PostgreSQL, inside the loading transaction: skip foreign-key triggers when allowed
    (``session_replication_role``; the generated rows are consistent) and, for big loads,
    drop the secondary indexes and build them once afterwards (as a restore does)."""
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as c:
        try:
            with transaction.atomic():
                c.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            print("  (no permission for session_replication_role: foreign keys checked)")
        rebuild = []
        if big:
            for table in tables:
                c.execute(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                    "FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
                    "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                    [table.name],
                )
                rebuild += c.fetchall()
            for name, _definition in rebuild:
                c.execute(f"DROP INDEX {name}")
        yield
        for _name, definition in rebuild:
            c.execute(definition)
        if rebuild:
            c.execute("SET LOCAL session_replication_role = DEFAULT")


@dataclass
class BenchTenant:
    slug: str
    tenant_id: int
    size: int
    users: dict[str, int]  # role → user id (rep, manager, admin)


def make_users(tenant) -> tuple[dict, list, list]:
    """admin; 销售部 → 销售一部…四部 with five reps each; the manager heads 销售一部
    (data scope department_and_below: himself and five reps)."""
    from crm import services
    from crm.models import Role, User

    def role(builtin):
        return Role.objects.get(tenant=tenant, builtin=builtin)

    def user(username, name, r, dept=None, manager=None):
        u = User(tenant=tenant, username=f"{tenant.slug}-{username}", name=name, role=r)
        u.department, u.manager = dept, manager
        u.set_unusable_password()
        u.save()
        return u

    admin = user("admin", "管理员", role(Role.Builtin.ADMIN))
    sales = services.department_create(actor=admin, name="销售部")
    depts = [services.department_create(actor=admin, name=n, parent=sales) for n in DEPTS]
    manager = user("manager", "经理", role(Role.Builtin.SALES_MANAGER), depts[0], admin)
    services.department_update(actor=admin, department=depts[0], name=DEPTS[0], leader=manager)
    rep_role = role(Role.Builtin.SALES_REP)
    reps = [
        user(f"rep{d * REPS_PER_DEPT + i + 1:02d}", f"代表{d}{i}", rep_role, dept, manager)
        for d, dept in enumerate(depts)
        for i in range(REPS_PER_DEPT)
    ]
    return {"rep": reps[0], "manager": manager, "admin": admin}, reps, [manager, *reps]


def fill(tenant, people: dict, reps: list, n: int, seed: int) -> dict[str, int]:
    """``n`` customers shaped like the demo data (customers/demo.py): 8 % pool, 2 % the
    manager's, the rest spread over 20 reps; 5 % public, 1 % in the recycle bin; 1–3
    contacts, 0–8 follow-ups over the last year, 0–3 tags, 2 % with a participant, stars."""
    import random

    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from crm.models import Option, OptionKind
    from customers import demo
    from customers.models import (
        Contact,
        Customer,
        CustomerParticipant,
        CustomerStar,
        CustomerTag,
        FollowUp,
        Tag,
        normalize_name,
    )

    rng = random.Random(seed)
    tid = tenant.pk
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    day, year_ago = datetime.timedelta(days=1), now - datetime.timedelta(days=365)
    opts = {
        k: list(Option.objects.filter(tenant=tenant, kind=k).values_list("id", flat=True))
        for k in OptionKind.values
    }
    tags = [Tag.objects.create(tenant=tenant, name=name, color=c).pk for name, c in demo.TAGS]
    admin, manager = people["admin"], people["manager"]
    rep_ids = [r.pk for r in reps]
    cities = [(c, v[0], v[4]) for c, v in demo.CITIES.items()]
    trades = list(demo.TRADES.values())
    contents = [
        t.format(model=m, step=s, contact="王总", n=4, k=2, category="挖掘机")
        for ts in demo.CONTENT.values()
        for t in ts
        for m, s in zip(demo.MODELS, demo.NEXT_STEPS, strict=False)
    ]
    followup_counts = [k for k, w in enumerate((8, 14, 16, 16, 14, 11, 9, 7, 5)) for _ in range(w)]

    customers_t = Table(
        Customer,
        [
            "id", "tenant_id", "name", "name_normalized", "legal_representative",
            "credit_code", "industry_id", "products", "province", "city", "district", "address",
            "level_id", "source_id", "status_id", "visibility", "is_locked", "lifecycle",
            "deal_status", "signed_at", "last_followup_at", "next_followup_at", "owner_id",
            "created_by_id", "updated_by_id", "created_at", "updated_at", "deleted_at",
            "deleted_by_id",
        ],
    )  # fmt: skip
    contacts_t = Table(
        Contact,
        ["id", "tenant_id", "customer_id", "name", "mobile", "title", "is_decision_maker",
         "created_by_id", "created_at", "updated_at"],
    )  # fmt: skip
    # A customer's own follow-ups: its record is the customer (customers.owned).
    followups_t = Table(
        FollowUp,
        ["id", "tenant_id", "customer_id", "record_type_id", "record_id", "contact_id",
         "kind_id", "content", "followed_at", "next_followup_at", "created_by_id", "created_at"],
    )  # fmt: skip
    customer_type = ContentType.objects.get_for_model(Customer).pk
    tags_t = Table(CustomerTag, ["id", "tenant_id", "customer_id", "tag_id"])
    parts_t = Table(
        CustomerParticipant, ["id", "tenant_id", "customer_id", "user_id", "added_by_id"]
    )
    stars_t = Table(CustomerStar, ["id", "tenant_id", "customer_id", "user_id"])

    customer0 = reserve_ids(customers_t, n)
    created = sorted(now - datetime.timedelta(seconds=rng.random() * 730 * 86400) for _ in range(n))
    customers, contacts, followups, ctags, parts, owners = [], [], [], [], [], []
    contact_id = reserve_ids(contacts_t, 3 * n)  # at most three each
    followup_id = reserve_ids(followups_t, 8 * n)
    for i in range(n):
        cid = customer0 + i
        at = created[i]
        r = rng.random()
        owner = None if r < 0.08 else manager.pk if r < 0.10 else rep_ids[rng.randrange(20)]
        author = owner or admin.pk
        owners.append(owner)
        city, province, districts = cities[rng.randrange(len(cities))]
        words, products = trades[rng.randrange(len(trades))]
        name = f"{city}{rng.choice(demo.BRANDS)}{rng.choice(words)}{rng.choice(demo.SUFFIXES)}"
        # Contacts
        first_contact = contact_id
        for k in range(rng.choice((1, 1, 1, 2, 2, 3))):
            contacts.append(
                (contact_id, tid, cid, "王" + "伟芳娜敏静"[k], f"13{rng.randrange(10**9):09d}",
                 "总经理" if k == 0 else "采购经理", k == 0, author, at, at)
            )  # fmt: skip
            contact_id += 1
        # Follow-ups over the last year; the customer's last/next follow-up follow them
        start = max(at, year_ago)
        span = (now - start).total_seconds()
        times = sorted(
            start + datetime.timedelta(seconds=rng.random() * span)
            for _ in range(followup_counts[rng.randrange(100)])
        )
        for t in times:
            followups.append(
                (followup_id, tid, cid, customer_type, cid,
                 rng.randrange(first_contact, contact_id),
                 rng.choice(opts["followup_type"]), contents[rng.randrange(len(contents))],
                 t, t + 7 * day, owner or rep_ids[rng.randrange(20)], t)
            )  # fmt: skip
            followup_id += 1
        last = times[-1] if times else None
        due = None
        if owner is not None:
            p = rng.random()
            if p < 0.05:
                due = today + datetime.timedelta(hours=9 + rng.randrange(9))
            elif p < 0.17:
                due = today - rng.randrange(1, 21) * day + datetime.timedelta(hours=10)
            elif p < 0.87:
                due = today + rng.randrange(1, 31) * day + datetime.timedelta(hours=10)
        deleted = rng.random() < 0.01
        status = rng.choice(opts["customer_status"])
        signed = status == opts["customer_status"][4]
        customers.append(
            (cid, tid, name, normalize_name(name), "张三", "", rng.choice(opts["industry"]),
             "、".join(products[:2]), province, f"{city}市", rng.choice(districts),
             f"建设路{rng.randrange(1, 999)}号", rng.choice(opts["customer_level"]),
             rng.choice(opts["customer_source"]), status,
             "public" if rng.random() < 0.05 else "private", rng.random() < 0.01,
             "signed" if signed else "development", "deal" if signed else "none",
             at + 10 * day if signed else None, last, due, owner, author, author, at, at,
             now - rng.randrange(1, 30) * day if deleted else None,
             author if deleted else None)
        )  # fmt: skip
        for tag in rng.sample(tags, rng.choice((0, 0, 0, 0, 1, 1, 1, 2, 2, 3))):
            ctags.append((tid, cid, tag))
        if owner is not None and rng.random() < 0.02:
            other = rng.choice([u for u in [manager.pk, *rep_ids] if u != owner])
            parts.append((tid, cid, other, owner))
    with bulk_load([customers_t, contacts_t, followups_t, tags_t], big=n >= 20_000):
        counts = {"customers": write_rows(customers_t, customers)}
        counts["contacts"] = write_rows(contacts_t, contacts)
        counts["followups"] = write_rows(followups_t, followups)
        tag0 = reserve_ids(tags_t, len(ctags))
        counts["tags"] = write_rows(tags_t, ((tag0 + i, *row) for i, row in enumerate(ctags)))
    part0 = reserve_ids(parts_t, len(parts))
    counts["participants"] = write_rows(parts_t, ((part0 + i, *row) for i, row in enumerate(parts)))
    # Stars: 100 each for the three measured users (their own or their team's customers).
    stars = []
    team = {manager.pk, *rep_ids[:REPS_PER_DEPT]}
    for user, pool in (
        (people["rep"].pk, [i for i, o in enumerate(owners) if o == people["rep"].pk]),
        (manager.pk, [i for i, o in enumerate(owners) if o in team]),
        (admin.pk, range(n)),
    ):
        for i in rng.sample(list(pool), min(100, len(pool))):
            stars.append((tid, customer0 + i, user))
    star0 = reserve_ids(stars_t, len(stars))
    counts["stars"] = write_rows(stars_t, ((star0 + i, *row) for i, row in enumerate(stars)))
    return counts


def vacuum_analyze() -> None:
    from django.db import connection

    from customers import models

    loaded = (
        models.Customer,
        models.Contact,
        models.FollowUp,
        models.CustomerTag,
        models.CustomerParticipant,
        models.CustomerStar,
    )
    tables = [m._meta.db_table for m in loaded]
    with connection.cursor() as c:
        if connection.vendor != "postgresql":
            c.execute("ANALYZE")
            return
        for t in tables:
            # VACUUM sets the visibility map, so index-only scans work as in a settled database.
            c.execute(f'VACUUM ANALYZE "{t}"')


def top_up_reference(tenant: BenchTenant, minimum: int = 30) -> None:
    """Give the measured rep and manager of the small tenant a full first page of 我参与的
    and 今日待跟进 (idempotent; each run tops up what is missing).

    The small tenant is a scaled copy of the big one, so there a rep of 45 customers
    participates in about one and has about two follow-ups due today, while the big tenant's
    same pages are full: their ratio compared 25 rendered rows with an empty page (the cost
    of rendering rows, not of the tenant's size). With a page of rows on both sides the
    ratio measures what the goal asks: the same page on a small and a big tenant."""
    from django.db.models import Q
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from crm.models import User
    from customers.models import Customer, CustomerParticipant

    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with scopes_disabled():
        listed = Customer.objects.filter(
            tenant_id=tenant.tenant_id, deleted_at__isnull=True, pooled_at__isnull=True
        )
        for role in ("rep", "manager"):
            user = User.objects.get(pk=tenant.users[role])
            mine = CustomerParticipant.objects.filter(tenant_id=tenant.tenant_id, user=user)
            missing = minimum - mine.filter(customer__in=listed).count()
            if missing > 0:
                spare = (
                    listed.exclude(owner=user)
                    .exclude(owner__isnull=True)
                    .exclude(pk__in=mine.values("customer_id"))
                    .order_by("pk")[:missing]
                )
                CustomerParticipant.objects.bulk_create(
                    CustomerParticipant(
                        tenant_id=tenant.tenant_id, customer=c, user=user, added_by_id=c.owner_id
                    )
                    for c in spare
                )
            due = listed.filter(owner=user, next_followup_at__gte=today)
            due = due.filter(next_followup_at__lt=today + datetime.timedelta(days=1))
            missing = minimum - due.count()
            if missing > 0:
                ids = list(
                    listed.filter(owner=user)
                    .filter(
                        Q(next_followup_at__isnull=True)
                        | Q(next_followup_at__lt=today)
                        | Q(next_followup_at__gte=today + datetime.timedelta(days=1))
                    )
                    .order_by("pk")
                    .values_list("pk", flat=True)[:missing]
                )
                listed.filter(pk__in=ids).update(
                    next_followup_at=today + datetime.timedelta(hours=18)
                )


def ensure_tenant(slug: str, name: str, n: int, seed: int) -> BenchTenant:
    from django.db import transaction
    from django_scopes import scopes_disabled

    from crm import services
    from crm.models import Tenant, User
    from crm.tenancy import tenant_scope
    from customers.models import Customer

    with scopes_disabled():
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is not None:
            have = Customer.objects.filter(tenant=tenant).count()
            if have != n:
                sys.exit(
                    f"{slug} exists with {have} customers, not {n}: use a fresh database "
                    f"(e.g. dropdb/createdb) or --customers {have}"
                )
            users = {
                role: User.objects.get(username=f"{slug}-{role}").pk
                for role in ("manager", "admin")
            }
            users["rep"] = User.objects.get(username=f"{slug}-rep01").pk
            print(f"  {slug}: reusing {n:,} customers (loaded {tenant.created_at:%Y-%m-%d %H:%M})")
            return BenchTenant(slug, tenant.pk, n, users)
    t0 = time.perf_counter()
    with transaction.atomic():
        tenant = services.tenant_create(name=name, slug=slug)
        with tenant_scope(tenant.pk):
            people, reps, _members = make_users(tenant)
            counts = fill(tenant, people, reps, n, seed)
    t1 = time.perf_counter()
    vacuum_analyze()
    t2 = time.perf_counter()
    rows = sum(counts.values())
    print(
        f"  {slug}: loaded {rows:,} rows in {t1 - t0:.1f} s ({rows / (t1 - t0):,.0f} rows/s), "
        f"vacuum/analyze {t2 - t1:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )
    return BenchTenant(slug, tenant.pk, n, {k: v.pk for k, v in people.items()})


# ---------------------------------------------------------------------------- measuring


class QueryTimer:
    """``connection.execute_wrapper``: wall time of every query as the client sees it."""

    def __init__(self):
        self.queries: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - t, sql, params))


@dataclass
class Who:
    role: str
    user_id: int
    tenant: BenchTenant
    client: object = None


@dataclass
class Target:
    """One measured page and how it is reached: page 1 plainly; a deeper page through the
    cursor of the row before it (the next link of the page before it, which is how a user
    reaches it); a page past the end of the list as ``?page=N`` (typed: there is no link)."""

    number: int  # the page number the list shows
    start: int  # offset of its first row in the list
    key: list | None  # sort key of the row before it, None for ?page=N
    rows: int  # rows on the page

    def params(self, view: str) -> dict:
        if self.key is None:
            return {"view": view, "page": self.number}
        from crm.views.lists import cursor_for

        return {"view": view, "after": cursor_for("created", self.number, self.key)}

    @property
    def label(self) -> str:
        return f"p{self.number}" + ("" if self.key is None else "»")


def plan(who: Who, view: str, page: int, per_page: int, big: Target | None = None) -> Target:
    """The page ``page`` of ``view`` (default order) for ``who``; with ``big`` (the big
    tenant's page), the small tenant's reference for it: the same page when it exists or
    when the big one is empty too (page 1, or ``?page=N`` past both ends), else the small
    list's deepest page of as many rows as the big page (its last ``big.rows`` rows) reached
    by cursor the same way, or its whole list when shorter. The 1,000-customer tenant has no
    page 500: this compares 25 rows read at the end of a short list with 25 read deep in a
    long one, where ``?page=500`` compared them with an empty page."""
    from crm.models import User
    from crm.tenancy import tenant_scope
    from customers import selectors

    user = User.objects.get(pk=who.user_id)
    with tenant_scope(user.tenant_id):
        rows = selectors.customer_list(actor=user, view=view)
        start = (page - 1) * per_page
        if big is not None and start and big.rows:
            start = min(start, max(0, rows.count() - big.rows))
        if not start:
            return Target(1, 0, None, len(rows[:per_page]))
        got = list(rows[start - 1 : start + per_page])
        if not got:
            return Target(page, start, None, 0)
        key = selectors.sort_key("created", got[0])
        return Target(start // per_page + 1, start, key, len(got) - 1)


def measure_client(who: Who, view: str, target: Target, per_page: int) -> None:
    """The real page: one GET through the whole stack."""
    from django.urls import reverse

    url = reverse("customers:customer-list")
    response = who.client.get(url, target.params(view))
    if response.status_code != 200:
        raise RuntimeError(f"{url} {target} as {who.role}: HTTP {response.status_code}")


def measure_selectors(who: Who, view: str, target: Target, per_page: int) -> None:
    """What the page asks of the selectors, without the view and the template."""
    from crm.models import User
    from crm.tenancy import tenant_scope
    from customers import selectors

    user = User.objects.get(pk=who.user_id)  # as AuthenticationMiddleware loads it
    with tenant_scope(user.tenant_id):
        rows = selectors.customer_list(actor=user, view=view)
        if target.key is None:
            offset = (target.number - 1) * per_page
            list(rows[offset : offset + per_page])
        else:
            list(selectors.customer_list_after(rows, sort="created", key=target.key)[:per_page])
        selectors.view_counts(actor=user)


MEASURES: dict[str, Callable[[Who, str, Target, int], None]] = {
    "client": measure_client,
    "selectors": measure_selectors,
}


@dataclass
class Sample:
    ms: float
    db_ms: float
    maxq_ms: float
    queries: int
    slowest: tuple = ()


def timed(fn: Callable[[], object], runs: int) -> Sample:
    from django.db import connection

    fn()  # warm-up (template loading, plan cache, buffers)
    totals, dbs, maxes, counts, slowest = [], [], [], [], ()
    for _ in range(runs):
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            t = time.perf_counter()
            fn()
            totals.append((time.perf_counter() - t) * 1000)
        times = [q[0] * 1000 for q in timer.queries]
        dbs.append(sum(times))
        maxes.append(max(times, default=0.0))
        counts.append(len(times))
        worst = max(timer.queries, default=None)
        if worst and (not slowest or worst[0] > slowest[0]):
            slowest = worst
    return Sample(
        statistics.median(totals),
        statistics.median(dbs),
        statistics.median(maxes),
        max(counts),
        slowest,
    )


def bare_select(tenant: BenchTenant, page: int, per_page: int) -> Callable[[], object]:
    """The reference: the same tenant's rows in the list's order, nothing else; a deeper
    page after the key of the row before it, as the list reads it (the small tenant's page
    past its end: its last page)."""
    from django.db import connection

    # The rows the lists show (alive, outside the pool: what the list indexes hold).
    rows = (
        "FROM customers_customer WHERE tenant_id = %s AND deleted_at IS NULL AND pooled_at IS NULL "
    )
    columns = (
        "SELECT id, name, owner_id, level_id, status_id, source_id, industry_id, "
        "last_followup_at, next_followup_at, created_at "
    )
    order = "ORDER BY created_at DESC, id DESC LIMIT %s"
    params = [tenant.tenant_id]
    start = (page - 1) * per_page
    with connection.cursor() as c:
        c.execute("SELECT COUNT(*) " + rows, params)
        start = min(start, max(0, c.fetchone()[0] - per_page))
        if start:
            c.execute(f"SELECT created_at, id {rows}{order} OFFSET %s", [*params, 1, start - 1])
            params += c.fetchone()
    sql = columns + rows + ("AND (created_at, id) < (%s, %s) " if start else "") + order
    params.append(per_page)

    def run():
        with connection.cursor() as c:
            c.execute(sql, params)
            return c.fetchall()

    return run


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as c:
        c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join("      " + r[0] for r in c.fetchall())


def pick_mode(args, big: BenchTenant) -> list[str]:
    if args.mode == "both":
        return ["client", "selectors"]
    if args.mode != "auto":
        return [args.mode]
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("customers:customer-list")
        who = make_who("admin", big, "client")
        measure_client(who, "all", Target(1, 0, None, 0), 0)
        return ["client"]
    except (NoReverseMatch, Exception) as exc:  # the view is not there (yet)
        print(f"  client mode unavailable ({type(exc).__name__}: {exc}); measuring selectors")
        return ["selectors"]


def make_who(role: str, tenant: BenchTenant, mode: str) -> Who:
    who = Who(role, tenant.users[role], tenant)
    if mode == "client":
        from django.test import Client

        from crm.models import User

        who.client = Client(SERVER_NAME="127.0.0.1")
        who.client.force_login(
            User.objects.get(pk=who.user_id), backend="crm.auth.UsernameOrMobileBackend"
        )
    return who


def per_page_for(args, mode: str) -> int:
    if args.per_page:
        return args.per_page
    if mode == "client":
        try:
            from crm.views.lists import PER_PAGE

            return PER_PAGE
        except ImportError:
            pass
    return 50


def run_mode(args, mode: str, big: BenchTenant, small: BenchTenant, prefix: str) -> list[str]:
    from django.db import connection

    measure = MEASURES[mode]
    per_page = per_page_for(args, mode)
    roles = args.roles.split(",")
    views = args.views.split(",")
    pages = [int(p) for p in args.pages.split(",")]
    pairs: list[str] = []

    bare = {}
    for tenant, tag in ((big, "bare"), (small, "small_bare")):
        for page in pages:
            s = timed(bare_select(tenant, page, per_page), args.runs)
            bare[tag, page] = s
            pairs.append(f"{prefix}{tag}_p{page}_ms={s.ms:.2f}")

    print(
        f"\n== mode {mode}: {per_page} rows per page, median of {args.runs} runs, "
        f"{connection.vendor}, big tenant {big.size:,} customers, small {small.size:,}"
    )
    print(
        "   bare SELECT … ORDER BY created_at DESC, id DESC LIMIT (deep: after a key): "
        + ", ".join(
            f"p{p} {bare['bare', p].ms:.2f} ms (small {bare['small_bare', p].ms:.2f})"
            for p in pages
        )
    )
    head = (
        f"{'role':8} {'view':12} {'page':>4} {'big ms':>8} {'small ms':>8} {'×small':>6} "
        f"{'×bare':>6} {'db ms':>7} {'max q':>6} {'q':>3} {'rows b/s':>9} {'small':>6}"
    )
    print(head)
    print("-" * len(head))
    flagged = []
    # The goal (issue 3): every page within 1.5× the small tenant's; on PostgreSQL also every
    # query under 5 ms (SQLite's maxq_ms is reported, not judged).
    judge_queries = connection.vendor == "postgresql"
    for role in roles:
        whos = {t.slug: make_who(role, t, mode) for t in (big, small)}
        for view in views:
            for page in pages:
                tb = plan(whos[big.slug], view, page, per_page)
                ts = plan(whos[small.slug], view, page, per_page, big=tb)
                b, s = (
                    timed(lambda w=w, v=view, t=t: measure(w, v, t, per_page), args.runs)
                    for w, t in ((whos[big.slug], tb), (whos[small.slug], ts))
                )
                rb, rs = tb.rows, ts.rows
                ratio = b.ms / s.ms if s.ms else float("inf")
                ratio_bare = b.ms / bare["bare", page].ms
                mark = " <" if ratio > 1.5 or (judge_queries and b.maxq_ms >= 5) else ""
                print(
                    f"{role:8} {view:12} {page:>4} {b.ms:8.2f} {s.ms:8.2f} {ratio:6.2f} "
                    f"{ratio_bare:6.1f} {b.db_ms:7.2f} {b.maxq_ms:6.2f} {b.queries:>3} "
                    f"{rb:>4}/{rs:<4} {ts.label:>6}{mark}"
                )
                key = f"{prefix}{role}_{view}_p{page}"
                pairs += [
                    f"{key}_ms={b.ms:.2f}",
                    f"{key}_ratio_small={ratio:.2f}",
                    f"{key}_ratio_bare={ratio_bare:.1f}",
                    f"{key}_db_ms={b.db_ms:.2f}",
                    f"{key}_maxq_ms={b.maxq_ms:.2f}",
                ]
                if mark:
                    flagged.append(key)
                if args.explain and b.slowest and b.slowest[0] * 1000 >= args.explain:
                    ms, sql, params = b.slowest
                    print(f"    slowest query {ms * 1000:.2f} ms: {sql[:300]}")
                    if connection.vendor == "postgresql":
                        print(explain(sql, params))
    print(
        f"   {len(flagged)} of {len(roles) * len(views) * len(pages)} pages over 1.5× small"
        + (" or with a query ≥ 5 ms" if judge_queries else "")
        + " (marked <)"
    )
    return pairs


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
        others = list(Tenant.objects.exclude(slug__startswith="bench-").values_list("slug"))
    if others and not args.allow_shared:
        sys.exit(f"this database has other tenants ({others[:5]}…): use a dedicated database")
    big = ensure_tenant("bench-big", f"压测大租户 {args.customers}", args.customers, args.seed)
    small = ensure_tenant("bench-small", f"压测小租户 {args.small}", args.small, args.seed + 1)
    top_up_reference(small)
    t_loaded = time.perf_counter()
    pairs = [f"customers={args.customers}", f"small={args.small}"]
    for mode in pick_mode(args, big):
        prefix = f"{mode}_" if args.mode == "both" else ""
        pairs += run_mode(args, mode, big, small, prefix)
    t_end = time.perf_counter()
    print(f"\nsetup+load {t_loaded - t_start:.0f} s, measuring {t_end - t_loaded:.0f} s")
    pairs += [f"load_s={t_loaded - t_start:.1f}", f"measure_s={t_end - t_loaded:.1f}"]
    print(" ".join(pairs))


if __name__ == "__main__":
    main()
