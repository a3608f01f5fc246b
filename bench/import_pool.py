#!/usr/bin/env python
"""Customer import into a pool (issue 5): the project's import end to end against a
PostgreSQL COPY of the same rows and against django-import-export's default import.

    createdb -h 127.0.0.1 -U postgres tidepool_bench_import   # or let the script create it
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tidepool_bench_import \\
        .venv/bin/python bench/import_pool.py [--rows 100000] [--existing 100000] [--profile]

Without DATABASE_URL the data goes to a temporary SQLite file (COPY is then skipped:
``copy=n/a``). The database must be a dedicated one: the script migrates it, creates the
tenant ``bench-import`` (``--existing`` customers with contacts and follow-ups, loaded as
``bench/customer_list.py`` loads its tenants, and reused by the next run) and refuses to run
where tenants other than ``bench-*`` ones exist.

The sheet (not timed): ``--rows`` realistic rows (客户名称, 联系人, 联系电话, 省份, 城市,
详细地址, 备注; phones as Excel numbers or text, some landlines), of which about 1 % repeat a
customer of the tenant or an earlier row by name or phone (name variants with spaces or
brackets, which the duplicate check folds) and about 0.5 % have a bad phone.

What is measured:

1. ``import``: ``crm.importing.import_start`` (read, validate, dedupe, plan, error file) then
   ``import_confirm`` (insert customers, contacts, ownership events, in batches: on
   PostgreSQL ``IMPORT_APPLY_CONNECTIONS`` of them at once, 2 unless the environment says
   otherwise; ``IMPORT_APPLY_CONNECTIONS=1`` measures one connection) of the whole
   file into the tenant's default pool group, duplicates skipped, checked on name or phone
   ("either"), both stages in the calling thread (``IMPORT_SYNC_BYTES``/``IMPORT_SYNC_ROWS``
   raised), inside ``tenant_scope``. It runs in a child process so that the peak RSS
   (``VmHWM``: ``ru_maxrss`` would not do, Linux carries it over fork and exec from the
   parent) is the import's alone; the child's baseline after Django setup is shown.
   Median of ``--import-runs`` (3) runs, the highest peak; between runs the imported rows
   are removed and the three tables reindexed (``vacuum``), so that each run meets the
   tenant's tables as they were, not indexes bloated by the previous runs' deletes. The
   imported rows are removed afterwards (``--keep`` keeps them till the next run).
2. ``copy``: COPY of the same rows' customer columns (the raw text as read, no cleaning) into
   ``bench_import_copy``, created ``LIKE customers_customer INCLUDING ALL`` (same columns,
   indexes and checks) and holding the tenant's existing customers, median of 3 runs.
3. ``die``: django-import-export's default path on the first ``--die-rows`` rows: a plain
   ``ModelResource`` (per-row ``save()``, savepoints, diff), ``import_data(dry_run=False)``
   on a tablib ``Dataset().load(…, format="xlsx")`` of the same rows, headers renamed to the
   field names. ``die_rows_s`` counts ``import_data`` alone (the stricter comparison);
   ``die_e2e_rows_s`` includes loading the sheet.

Goal (issue 5): import ≥ 0.3 × COPY, ≥ 25 × django-import-export, peak < 400 MiB per 100,000
rows. The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import customer_list as cl  # noqa: E402

SLUG = "bench-import"
SCRATCH = "bench_import_copy"
HEADERS = ["客户名称", "联系人", "联系电话", "省份", "城市", "详细地址", "备注"]
# Fields of the plain django-import-export resource, by the header they come from. "id" is
# declared too: with the default import_id_fields = ["id"] and no "id" field every row
# fails with KeyError('id') (research/perf.md); without an id column each row is new.
DIE_FIELDS = {"客户名称": "name", "省份": "province", "城市": "city", "详细地址": "address"}
DIE_FIELDS["备注"] = "remark"

_CITIES = """
浙江省 杭州市 西湖区/拱墅区/滨江区/余杭区/萧山区 文三路/天目山路/江南大道
浙江省 宁波市 鄞州区/海曙区/北仑区/镇海区 中山东路/天童南路/长江路
浙江省 温州市 鹿城区/瓯海区/龙湾区 车站大道/温州大道/学院中路
江苏省 南京市 玄武区/秦淮区/建邺区/江宁区 中山路/汉中路/江东中路
江苏省 苏州市 姑苏区/吴中区/相城区/工业园区 人民路/星湖街/干将路
江苏省 无锡市 梁溪区/滨湖区/新吴区 中山路/太湖大道/长江路
广东省 广州市 天河区/越秀区/海珠区/番禺区/白云区 天河路/环市东路/江南大道
广东省 深圳市 南山区/福田区/宝安区/龙岗区 深南大道/科技园路/福华路
广东省 东莞市 南城街道/东城街道/长安镇/虎门镇 鸿福路/东莞大道/莞太路
广东省 佛山市 禅城区/南海区/顺德区 季华路/佛山大道/桂澜路
山东省 济南市 历下区/市中区/槐荫区 经十路/泉城路/二环东路
山东省 青岛市 市南区/市北区/黄岛区/崂山区 香港中路/长江路/辽阳西路
河南省 郑州市 金水区/中原区/二七区/管城区 花园路/中州大道/建设路
湖北省 武汉市 江汉区/武昌区/洪山区/东西湖区 解放大道/中南路/光谷大道
四川省 成都市 锦江区/武侯区/高新区/成华区 天府大道/人民南路/蜀都大道
福建省 厦门市 思明区/湖里区/集美区 湖滨南路/仙岳路/嘉禾路
福建省 泉州市 丰泽区/鲤城区/晋江市 刺桐路/泉秀路/丰泽街
河北省 石家庄市 长安区/桥西区/裕华区 中山路/建设大街/槐安路
安徽省 合肥市 蜀山区/包河区/庐阳区 长江西路/金寨路/徽州大道
上海市 上海市 浦东新区/闵行区/嘉定区/松江区 张江路/莘庄路/曹安公路
北京市 北京市 朝阳区/海淀区/丰台区/大兴区 建国路/中关村大街/南四环西路
天津市 天津市 滨海新区/南开区/西青区 黄海路/卫津路/津港公路
"""
CITIES = [
    (p, c, d.split("/"), r.split("/"))
    for p, c, d, r in (line.split() for line in _CITIES.strip().splitlines())
]
ZIHAO = "华鑫鼎盛隆昌泰丰瑞祥宏达顺通聚源恒信金诚永嘉骏腾"
ZIHAO += "佳禾优创博远卓越凯旋晟德润安康富汇益福宝天佑昊铭硕锦"
TRADES = [
    "机械设备", "五金制品", "电子科技", "建材", "化工", "纺织", "食品", "物流", "塑胶制品",
    "包装材料", "汽车配件", "环保科技", "医疗器械", "家具", "服饰", "新能源", "信息技术",
    "建筑工程", "农业科技", "印刷", "精密模具", "照明电器", "智能装备", "办公用品",
]  # fmt: skip
SUFFIXES = ["有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司", "贸易有限公司"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁"
SURNAMES += "谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈姚卢"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明"]
GIVEN += ["超", "秀兰", "霞", "平", "刚", "建华", "志强", "海燕", "晓东"]
TITLES = ["经理", "总", "工", "主任", "会计", "老板"]
MOBILE_PREFIXES = ["135", "136", "137", "139", "150", "151", "152", "157", "158", "159", "177"]
MOBILE_PREFIXES += ["180", "181", "182", "183", "187", "188", "189", "199"]
AREA_CODES = ["0571", "0574", "025", "0512", "020", "0755", "0769", "0531", "0532", "027"]
REMARKS = [
    "展会获取，意向较强", "老客户介绍", "需要报价，下周回访", "已电话沟通，待拜访",
    "官网留言咨询", "对价格敏感", "年底有采购计划", "联系人常出差，上午联系",
    "竞品合作中，保持跟进", "样品已寄出",
]  # fmt: skip
BAD_PHONES = ["1380013", "abc", "138001380001", "电话待补", "12345678901", "0571", "无"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows in the sheet")
    p.add_argument("--existing", type=int, default=100_000, help="customers the tenant holds")
    p.add_argument("--die-rows", type=int, default=10_000, help="rows for django-import-export")
    p.add_argument("--copy-runs", type=int, default=3, help="COPY runs (median)")
    p.add_argument("--import-runs", type=int, default=3, help="import runs (median)")
    p.add_argument("--keep", action="store_true", help="keep the imported rows (till next run)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, import once more under cProfile (top 25 cumulative)",
    )
    p.add_argument("--skip-die", action="store_true", help="skip django-import-export")
    p.add_argument(
        "--allow-shared",
        action="store_true",
        help="run even if the database holds tenants other than the bench ones",
    )
    p.add_argument("--seed", type=int, default=5)
    # Internal: the child process that runs one import.
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args()


def prepare_environment() -> bool:
    """Environment for Django (and the child, which inherits it). Returns whether the
    temporary folder is ours to delete."""
    ours = "TIDEPOOL_VAR_DIR" not in os.environ
    if ours:
        os.environ["TIDEPOOL_VAR_DIR"] = tempfile.mkdtemp(prefix="tidepool-bench-import-")
    # Both stages in the calling thread, never handed to a worker.
    os.environ["IMPORT_SYNC_BYTES"] = str(10**12)
    os.environ["IMPORT_SYNC_ROWS"] = str(10**9)
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    return ours


def setup_django() -> None:
    """As customer_list.setup_django, without its temporary folder (the environment has one:
    ``prepare_environment``, inherited by the child)."""
    os.environ.setdefault("DEBUG", "1")  # development settings: no SSL redirect, no manifest
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    import django

    django.setup()
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    settings.DEBUG = False  # measure as in production: no query log


def ensure_database(url: str) -> None:
    from urllib.parse import unquote, urlparse

    import psycopg

    parts = urlparse(url)
    name = unquote(parts.path.lstrip("/"))
    if not name or name.startswith("test") or name in ("postgres", "template0", "template1"):
        sys.exit(f"refusing database {name!r}: use a dedicated one (tidepool_bench_import)")
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        print(f"created database {name}")


def peak_mib() -> float:
    """The process's peak RSS so far. VmHWM belongs to the address space, which exec
    replaces; ``ru_maxrss`` keeps the parent's high-water mark across fork and exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------- the sheet


@dataclass
class Sheet:
    rows: list[list]
    planted: dict[str, int] = field(default_factory=dict)


def existing_keys(tenant_id: int) -> tuple[list[str], list[str], set[str]]:
    """Live customers' names, their contacts' mobiles, and every normalised name."""
    from customers.models import Contact, Customer

    live = Customer.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True)
    names = sorted(set(live.values_list("name", flat=True)))
    normalized = set(Customer.objects.filter(tenant_id=tenant_id).values_list(
        "name_normalized", flat=True))  # fmt: skip
    mobiles = sorted(
        set(
            Contact.objects.filter(tenant_id=tenant_id, customer__deleted_at__isnull=True)
            .exclude(mobile="")
            .values_list("mobile", flat=True)
        )
    )
    return names, mobiles, normalized


def make_sheet(n: int, seed: int, tenant_id: int) -> Sheet:
    """``n`` rows; ~1 % duplicates (of the tenant's customers or of earlier clean rows, by
    name or phone), ~0.5 % bad phones; every other row is new (name and phone unused)."""
    from customers.models import normalize_name

    rng = random.Random(seed)
    names, mobiles, taken_names = existing_keys(tenant_id)
    taken_phones = set(mobiles)
    indexes = list(range(1, n))
    rng.shuffle(indexes)
    n_dup, n_bad = round(n * 0.01), round(n * 0.005)
    dup_rows = set(indexes[:n_dup])
    bad_rows = set(indexes[n_dup : n_dup + n_bad])

    def new_name(city: str) -> str:
        while True:
            a, b = rng.sample(ZIHAO, 2)
            name = f"{city[:-1] if city.endswith('市') else city}{a}{b}"
            name += rng.choice(TRADES) + rng.choice(SUFFIXES)
            key = normalize_name(name)
            if key not in taken_names:
                taken_names.add(key)
                return name

    def new_phone():
        while True:
            if rng.random() < 0.06:
                phone = f"{rng.choice(AREA_CODES)}-{rng.randrange(2, 9)}{rng.randrange(10**6):06d}"
                value = phone
            else:
                phone = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
                # Excel keeps typed numbers as numbers; some sheets have them as text.
                value = int(phone) if rng.random() < 0.6 else phone
            if phone not in taken_phones:
                taken_phones.add(phone)
                return value

    def variant(name: str) -> str:
        """The same name as the duplicate check sees it, typed differently."""
        k = rng.randrange(3)
        if k == 0:
            return name
        if k == 1:
            return f"{name[:2]} {name[2:]}"
        return name.replace("有限公司", "（有限公司）") if "有限公司" in name else f" {name} "

    rows: list[list] = []
    clean: list[int] = []  # indexes of rows that are new and valid (in-file duplicate sources)
    planted = dict.fromkeys(
        ["dup_tenant_name", "dup_tenant_phone", "dup_file_name", "dup_file_phone", "bad_phone"], 0
    )
    for i in range(n):
        province, city, districts, roads = CITIES[rng.randrange(len(CITIES))]
        surname = SURNAMES[rng.randrange(len(SURNAMES))]
        r = rng.random()
        contact = (
            ""
            if r < 0.05
            else surname + rng.choice(TITLES)
            if r < 0.35
            else surname + rng.choice(GIVEN)
        )
        address = f"{city}{rng.choice(districts)}{rng.choice(roads)}{rng.randrange(1, 2000)}号"
        if rng.random() < 0.4:
            address += f"{rng.randrange(1, 30)}栋{rng.randrange(1, 30)}0{rng.randrange(1, 9)}室"
        remark = rng.choice(REMARKS) if rng.random() < 0.6 else ""
        name, phone = None, None
        if i in dup_rows:
            k = rng.random()
            if k < 0.4 or not clean:
                name = variant(names.pop(rng.randrange(len(names))))
                planted["dup_tenant_name"] += 1
            elif k < 0.6:
                phone = mobiles.pop(rng.randrange(len(mobiles)))
                phone = int(phone) if rng.random() < 0.6 else phone
                planted["dup_tenant_phone"] += 1
            elif k < 0.85:
                name = variant(rows[rng.choice(clean)][0])
                planted["dup_file_name"] += 1
            else:
                phone = rows[rng.choice(clean)][2]
                planted["dup_file_phone"] += 1
        elif i in bad_rows:
            phone = rng.choice(BAD_PHONES)
            planted["bad_phone"] += 1
        if name is None:
            name = new_name(city)
        if phone is None:
            phone = new_phone()
        if i not in dup_rows and i not in bad_rows:
            clean.append(i)
        rows.append([name, contact, phone, province, city, address, remark])
    return Sheet(rows, planted)


def write_xlsx(path: Path, rows: list[list]) -> None:
    from crm.xlsx import write_xlsx as write

    with path.open("wb") as handle:
        write(handle, HEADERS, rows, title="客户")


# ---------------------------------------------------------------------------- cleaning up


def purge(tenant_id: int) -> int:
    """Remove what a run added to the tenant: the customers an import created (they carry
    ``import_job``) and those django-import-export created (no ``created_by``: the loaded
    customers all have one), with the rows pointing at them. Raw SQL: 100,000 ORM deletes
    with their cascades take minutes."""
    from django.db import connection, models, transaction

    from customers.models import Customer

    table = Customer._meta.db_table
    where = "tenant_id = %s AND (import_job_id IS NOT NULL OR created_by_id IS NULL)"
    ids = f'SELECT id FROM "{table}" WHERE {where}'
    with transaction.atomic(), connection.cursor() as c:
        c.execute(f'SELECT COUNT(*) FROM "{table}" WHERE {where}', [tenant_id])
        count = c.fetchone()[0]
        if not count:
            return 0
        for rel in Customer._meta.related_objects:
            if rel.many_to_many:
                continue
            other = rel.related_model._meta.db_table
            column = rel.field.column
            if rel.on_delete is models.CASCADE:
                c.execute(f'DELETE FROM "{other}" WHERE "{column}" IN ({ids})', [tenant_id])
            elif rel.on_delete is models.SET_NULL:
                c.execute(
                    f'UPDATE "{other}" SET "{column}" = NULL WHERE "{column}" IN ({ids})',
                    [tenant_id],
                )
        c.execute(f'DELETE FROM "{table}" WHERE {where}', [tenant_id])
    return count


def vacuum(tables: list[str]) -> None:
    """After a purge: the tables as a tenant's tables are, not as 100,000 inserts and deletes
    per run leave them. VACUUM does not shrink indexes: without REINDEX every run would
    insert into emptier, larger indexes (the customers' grew from 30 to 141 MB in a dozen
    runs and the import slowed by a fifth), while the COPY reference gets a table built
    afresh each time."""
    from django.db import connection

    with connection.cursor() as c:
        for t in tables:
            if connection.vendor == "postgresql":
                c.execute(f'REINDEX TABLE "{t}"')
                c.execute(f'VACUUM ANALYZE "{t}"')
            else:
                c.execute("ANALYZE")
    checkpoint()


def checkpoint() -> None:
    """Before a measured run (import or COPY alike): write out what the set-up dirtied, so
    that no checkpoint it caused lands in the run (max_wal_size is 1 GB here; an import
    writes several hundred MB of WAL). Needs a superuser or pg_checkpoint; skipped without."""
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(), connection.cursor() as c:
            c.execute("CHECKPOINT")
    except DatabaseError:
        pass


def touched_tables() -> list[str]:
    from customers.models import Contact, Customer, OwnershipEvent

    return [m._meta.db_table for m in (Customer, Contact, OwnershipEvent)]


# ---------------------------------------------------------------------------- 1. the import


def run_child(spec: dict) -> None:
    """In a fresh interpreter: one import of the file, then a JSON line with the figures."""
    setup_django()
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm.importing import import_confirm, import_start
    from crm.models import User
    from crm.tenancy import tenant_scope

    actor = User.objects.get(username=f"{SLUG}-admin")
    data = Path(spec["path"]).read_bytes()
    upload = SimpleUploadedFile("客户导入.xlsx", data, content_type="application/octet-stream")
    del data
    options = {
        "target": "pool",
        "pool_group": spec["pool_group"],
        "duplicate_mode": "skip",
        "duplicate_keys": "either",
    }
    profiles = None
    if spec.get("profile"):
        import cProfile

        profiles = {"check (import_start)": cProfile.Profile(), "apply": cProfile.Profile()}

    def stage(title, fn, **kwargs):
        if profiles is None:
            return fn(**kwargs)
        return profiles[title].runcall(fn, **kwargs)

    base = peak_mib()
    with tenant_scope(actor.tenant_id):
        t0 = time.perf_counter()
        job = stage(
            "check (import_start)",
            import_start,
            actor=actor,
            kind="customers",
            upload=upload,
            options=options,
        )
        t1 = time.perf_counter()
        check_peak = peak_mib()
        if job.status != job.Status.PREVIEWED:
            print(json.dumps({"error": f"check ended {job.status}: {job.message}"}))
            return
        job = stage("apply", import_confirm, actor=actor, job=job)
        t2 = time.perf_counter()
    peak = peak_mib()
    if profiles:
        import pstats

        for title, prof in profiles.items():
            print(f"\n---- cProfile: {title}, top 25 cumulative")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
            print(f"---- cProfile: {title}, top 15 tottime")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    job.refresh_from_db()
    summary = job.summary
    print(
        json.dumps(
            {
                "status": job.status,
                "message": job.message,
                "check_s": t1 - t0,
                "apply_s": t2 - t1,
                "total_s": t2 - t0,
                "base_mib": base,
                "check_peak_mib": check_peak,
                "peak_mib": peak,
                "error_file_bytes": job.error_file.size if job.error_file else 0,
                "summary": {
                    k: summary.get(k)
                    for k in ("total", "create", "skip", "reject", "created", "skipped", "failed")
                },
                "late_errors": summary.get("late_errors", [])[:5],
                "rejected_preview": summary.get("rejected_preview", [])[:3],
            }
        )
    )


def run_import(path: Path, pool_group: int, profile: bool = False) -> dict:
    from django.db import connection

    connection.close()  # SQLite: no lock held by the parent while the child writes
    spec = json.dumps({"path": str(path), "pool_group": pool_group, "profile": profile})
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.rstrip("\n").split("\n")
    if profile:
        print("\n".join(lines[:-1]))
    try:
        result = json.loads(lines[-1])
    except (json.JSONDecodeError, IndexError):
        result = None
    if proc.returncode or result is None or "error" in result:
        sys.stderr.write(proc.stderr[-5000:])
        sys.exit(f"the import failed (exit {proc.returncode}): {lines[-1][:500]}")
    return result


# ---------------------------------------------------------------------------- 2. COPY


def run_copy(sheet: Sheet, tenant, group_id: int, runs: int) -> list[float]:
    """Seconds per COPY of the sheet's rows into the scratch table (it holds the tenant's
    existing customers first, as the real table does)."""
    from django.db import connection
    from django.utils import timezone
    from psycopg import sql

    from customers.models import Customer, PoolReason, normalize_name

    table = Customer._meta.db_table
    explicit = [
        "id", "tenant_id", "name", "name_normalized", "province", "city", "address", "remark",
        "pool_group_id", "pooled_at", "pool_reason", "created_by_id", "updated_by_id",
        "created_at", "updated_at",
    ]  # fmt: skip
    t = cl.Table(Customer, explicit)
    now = timezone.now()
    with connection.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        c.execute(f'CREATE TABLE {SCRATCH} (LIKE "{table}" INCLUDING ALL)')
        c.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
        first = c.fetchone()[0] + 1
    actor = tenant.users["admin"]
    rows = [
        (first + i, tenant.tenant_id, r[0], normalize_name(r[0]), r[3], r[4], r[5], r[6],
         group_id, now, PoolReason.IMPORTED, actor, actor, now, now, *t.tail)
        for i, r in enumerate(sheet.rows)
    ]  # fmt: skip
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(SCRATCH), sql.SQL(", ").join(map(sql.Identifier, t.columns))
    )
    times = []
    for _ in range(runs):
        with connection.cursor() as c:
            c.execute(f"TRUNCATE {SCRATCH}")
            c.execute(
                f'INSERT INTO {SCRATCH} SELECT * FROM "{table}" WHERE tenant_id = %s',
                [tenant.tenant_id],
            )
            c.execute(f"VACUUM ANALYZE {SCRATCH}")
        checkpoint()
        connection.ensure_connection()
        raw = connection.connection
        t0 = time.perf_counter()
        with raw.transaction(), raw.cursor() as cur, cur.copy(stmt) as copy:
            for row in rows:
                copy.write_row(row)
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------- 3. django-import-export


def run_die(path: Path, tenant_id: int) -> dict:
    import tablib
    from import_export import resources

    from crm.tenancy import tenant_scope
    from customers.models import Customer

    class CustomerResource(resources.ModelResource):
        class Meta:
            model = Customer
            fields = ("id", *DIE_FIELDS.values(), "tenant")

    data = path.read_bytes()
    with tenant_scope(tenant_id):
        t0 = time.perf_counter()
        dataset = tablib.Dataset().load(data, format="xlsx")
        dataset.headers = [DIE_FIELDS.get(h, h) for h in dataset.headers]
        dataset.append_col([tenant_id] * dataset.height, header="tenant")
        t1 = time.perf_counter()
        result = CustomerResource().import_data(dataset, dry_run=False)
        t2 = time.perf_counter()
    errors = [e for row in result.row_errors() for e in row[1]]
    return {
        "rows": dataset.height,
        "load_s": t1 - t0,
        "import_s": t2 - t1,
        "new": result.totals.get("new", 0),
        "errors": len(errors) + len(result.base_errors),
        "first_error": repr((errors or result.base_errors or [None])[0])[:300],
    }


# ---------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    t_start = time.perf_counter()
    own_dir = prepare_environment()
    setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django_scopes import scopes_disabled

    from crm.models import Tenant
    from crm.tenancy import tenant_scope
    from pools.services import default_group_for

    vendor = connection.vendor
    print(f"database: {vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0, interactive=False)
    with scopes_disabled():
        others = list(Tenant.objects.exclude(slug__startswith="bench-").values_list("slug"))
        tenant_row = Tenant.objects.filter(slug=SLUG).first()
    if others and not args.allow_shared:
        sys.exit(f"this database has other tenants ({others[:5]}…): use a dedicated database")
    if tenant_row is not None:
        left = purge(tenant_row.pk)
        if left:
            print(f"  removed {left:,} customers left by an earlier run")
            vacuum(touched_tables())
    tenant = cl.ensure_tenant(
        SLUG, f"压测导入租户 {args.existing}", args.existing, args.seed
    )  # fmt: skip
    # The sheet (not timed).
    t0 = time.perf_counter()
    with tenant_scope(tenant.tenant_id):
        group_id = default_group_for(tenant.tenant_id, "customer").pk
        sheet = make_sheet(args.rows, args.seed, tenant.tenant_id)
    folder = Path(os.environ["TIDEPOOL_VAR_DIR"]) / "bench-import"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"customers-{args.rows}.xlsx"
    write_xlsx(path, sheet.rows)
    die_rows = min(args.die_rows, args.rows)
    die_path = folder / f"customers-first-{die_rows}.xlsx"
    write_xlsx(die_path, sheet.rows[:die_rows])
    p = sheet.planted
    dups = p["dup_tenant_name"] + p["dup_tenant_phone"] + p["dup_file_name"] + p["dup_file_phone"]
    size, took = path.stat().st_size / 2**20, time.perf_counter() - t0
    print(
        f"  sheet: {args.rows:,} rows × {len(HEADERS)} columns, {size:.1f} MiB xlsx, "
        f"written in {took:.1f} s; planted {dups:,} duplicates "
        f"({p['dup_tenant_name']} tenant name, {p['dup_tenant_phone']} tenant phone, "
        f"{p['dup_file_name']} earlier-row name, {p['dup_file_phone']} earlier-row phone) and "
        f"{p['bad_phone']} bad phones"
    )

    # 1. The project's import, in a child process.
    t_load = time.perf_counter()
    runs = []
    for run in range(args.import_runs):
        if run:
            # The previous run's rows go; the next run starts from the same tenant.
            purge(tenant.tenant_id)
            vacuum(touched_tables())
        else:
            checkpoint()
        runs.append(run_import(path, group_id))
    # The median run by total time (its check and apply shown with it); the highest peak.
    imp = sorted(runs, key=lambda r: r["total_s"])[len(runs) // 2]
    imp["peak_mib"] = max(r["peak_mib"] for r in runs)
    imp["check_peak_mib"] = max(r["check_peak_mib"] for r in runs)
    s = imp["summary"]
    expect_skip = p["dup_tenant_name"] + p["dup_tenant_phone"]
    expect_reject = p["dup_file_name"] + p["dup_file_phone"] + p["bad_phone"]
    if (s.get("skip"), s.get("reject")) != (expect_skip, expect_reject):
        print(
            f"  NOTE: the import skipped {s.get('skip')} / rejected {s.get('reject')}, the sheet "
            f"planted {expect_skip} tenant duplicates / {expect_reject} bad or in-file duplicates"
        )
    if not args.keep:
        t = time.perf_counter()
        removed = purge(tenant.tenant_id)
        vacuum(touched_tables())
        print(f"  removed the {removed:,} imported customers in {time.perf_counter() - t:.1f} s")
    if args.profile:
        print("\n== profile run (cProfile; not the measured run)")
        prof = run_import(path, group_id, profile=True)
        print(f"   profiled: check {prof['check_s']:.2f} s, apply {prof['apply_s']:.2f} s")
        purge(tenant.tenant_id)
        vacuum(touched_tables())

    # 2. COPY.
    copy_times = []
    if vendor == "postgresql":
        copy_times = run_copy(sheet, tenant, group_id, args.copy_runs)
        if not args.keep:
            with connection.cursor() as c:
                c.execute(f"DROP TABLE IF EXISTS {SCRATCH}")

    # 3. django-import-export.
    die = None
    if not args.skip_die:
        die = run_die(die_path, tenant.tenant_id)
        if not args.keep:
            purge(tenant.tenant_id)

    # Report.
    import_rows_s = args.rows / imp["total_s"]
    copy_s = statistics.median(copy_times) if copy_times else None
    copy_rows_s = args.rows / copy_s if copy_s else None
    die_rows_s = die["rows"] / die["import_s"] if die else None
    die_e2e = die["rows"] / (die["load_s"] + die["import_s"]) if die else None
    ratio_copy = import_rows_s / copy_rows_s if copy_rows_s else None
    ratio_die = import_rows_s / die_rows_s if die_rows_s else None
    ratio_die_e2e = import_rows_s / die_e2e if die_e2e else None

    def f(value, fmt=",.0f", na="n/a"):
        return na if value is None else format(value, fmt)

    print(
        f"\n== {args.rows:,} rows into the pool of {SLUG} ({args.existing:,} customers), {vendor}"
    )
    head = f"{'path':52} {'rows':>8} {'s':>7} {'rows/s':>8} {'×COPY':>6}"
    print(head)
    print("-" * len(head))

    def line(label, rows, secs):
        rate = rows / secs if secs else None
        vs = f(rate / copy_rows_s, ".2f") if rate and copy_rows_s else "n/a"
        print(f"{label:52} {rows:>8,} {secs:7.2f} {f(rate):>8} {vs:>6}")

    line("project import, end to end (import_start+confirm)", args.rows, imp["total_s"])
    if len(runs) > 1:
        times = ", ".join(f"{r['total_s']:.2f}" for r in runs)
        print(f"  (median of {len(runs)} runs: {times} s)")
    line("  check: read, validate, dedupe, plan, error file", args.rows, imp["check_s"])
    from django.conf import settings

    links = settings.IMPORT_APPLY_CONNECTIONS if vendor == "postgresql" else 1
    label = f"  apply: customers, contacts, events ({links} conn.)"
    line(label, s.get("created") or 0, imp["apply_s"])
    if copy_s:
        print(
            f"{'COPY into ' + SCRATCH + ' (median of ' + str(len(copy_times)) + ')':52} "
            f"{args.rows:>8,} {copy_s:7.2f} {f(copy_rows_s):>8} {'1.00':>6}   "
            f"runs: {', '.join(f'{x:.2f}' for x in copy_times)} s"
        )
    else:
        print(f"{'COPY':52} {'n/a (SQLite: no COPY)':>32}")
    if die:
        line("django-import-export default: import_data", die["rows"], die["import_s"])
        line("  same + Dataset().load(xlsx)", die["rows"], die["load_s"] + die["import_s"])
        print(f"  django-import-export created {die['new']:,} customers")
        if die["errors"]:
            print(f"  NOTE: {die['errors']} django-import-export errors: {die['first_error']}")
    print(
        f"\n  result: {s.get('created'):,} created, {s.get('skipped'):,} skipped (duplicates of "
        f"the tenant's customers), {s.get('failed'):,} failed (bad or repeated rows; error file "
        f"{imp['error_file_bytes'] / 1024:.0f} KiB)"
    )
    if imp.get("late_errors"):
        print(f"  late errors: {imp['late_errors']}")
    print(
        f"  peak RSS of the import process {imp['peak_mib']:.0f} MiB (after Django setup "
        f"{imp['base_mib']:.0f} MiB; at the end of the check {imp['check_peak_mib']:.0f} MiB); "
        "goal < 400 MiB for 100,000 rows"
    )
    print(
        f"  import / COPY = {f(ratio_copy, '.3f')} (goal ≥ 0.3); import / django-import-export "
        f"= {f(ratio_die, '.1f')} (goal ≥ 25; with its xlsx loading {f(ratio_die_e2e, '.1f')})"
    )
    t_end = time.perf_counter()
    print(f"  setup+load {t_load - t_start:.0f} s, measuring {t_end - t_load:.0f} s")
    pairs = {
        "rows": args.rows,
        "existing": args.existing,
        "import_rows_s": f(import_rows_s, ".0f"),
        "import_s": f"{imp['total_s']:.2f}",
        "check_s": f"{imp['check_s']:.2f}",
        "apply_s": f"{imp['apply_s']:.2f}",
        "peak_mib": f"{imp['peak_mib']:.0f}",
        "base_mib": f"{imp['base_mib']:.0f}",
        "created": s.get("created"),
        "skipped": s.get("skipped"),
        "failed": s.get("failed"),
        "copy_rows_s": f(copy_rows_s, ".0f"),
        "die_rows_s": f(die_rows_s, ".0f"),
        "die_e2e_rows_s": f(die_e2e, ".0f"),
        "ratio_copy": f(ratio_copy, ".3f"),
        "ratio_die": f(ratio_die, ".1f"),
        "ratio_die_e2e": f(ratio_die_e2e, ".1f"),
    }
    if own_dir and not args.keep:
        shutil.rmtree(os.environ["TIDEPOOL_VAR_DIR"], ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))


if __name__ == "__main__":
    main()
