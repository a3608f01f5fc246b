"""Demo products and opportunities (registered with :func:`crm.demo.register`; runs after the
customers' loaders, before the leads' and the reports' figures).

Tenant ``demo``: a forklift dealer's catalogue of about 200 products in a tree of up to four
levels (叉车 › 电动叉车 / 内燃叉车 › … , 配件, 服务) with codes, specifications, brands (杭叉,
合力, 龙工, 林德, 丰田…), units and prices; about 600 opportunities created over the last
12 months by rep1, rep2, rep3 and manager1 on customers they own, each with product lines,
contacts with roles and a stage history walked at plausible times (so the funnel, the dwell
times and the stage advancement have something to show): the older ones mostly won or lost
(with a reason), the recent ones open, some overdue. Tenant ``other``: a small catalogue and
20 opportunities.

Deterministic (a seeded ``random.Random``, times relative to now) and written with
``bulk_create``, keeping the services' invariants: status from the stage's kind,
probability from the stage, ``closed_date`` on won / lost ones, ``stage_entered_at`` = the
last stage change, amount = Σ line subtotals, ``owner_department`` = the owner's.

:func:`make_opportunities` is also what the reports' demo uses for the opportunities of
converted leads (leads sit above this app, so the link is written from there).
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from crm.demo import register
from crm.models import Option, OptionKind, Tenant, User
from customers.models import Contact, Customer
from opportunities.models import (
    Opportunity,
    OpportunityContact,
    OpportunityLine,
    OpportunityStage,
    OpportunityStageChange,
    Product,
    ProductCategory,
    StageKind,
)

SEED = 20261220
CENT = Decimal("0.01")

# username → opportunities they own.
PLANS: dict[str, list[tuple[str, int]]] = {
    "demo": [("rep1", 190), ("rep2", 160), ("rep3", 150), ("manager1", 80)],
    "other": [("other_rep", 20)],
}

ELECTRIC = ["杭叉", "合力", "林德", "丰田", "永恒力"]
DIESEL = ["杭叉", "合力", "龙工", "柳工", "丰田", "林德"]
PREMIUM = {"林德": Decimal("1.45"), "丰田": Decimal("1.35"), "永恒力": Decimal("1.4")}
BRAND_CODES = {
    "杭叉": "HC",
    "合力": "HL",
    "龙工": "LG",
    "柳工": "LY",
    "林德": "LD",
    "丰田": "TY",
    "永恒力": "JH",
    "诺力": "NL",
}


@dataclass
class _Item:
    path: tuple[str, ...]
    code: str
    name: str
    spec: str
    brand: str
    unit: str
    price: Decimal
    kind: str  # vehicle / part / service / rental


@dataclass
class _Catalogue:
    items: list[_Item] = field(default_factory=list)

    def add(self, path, prefix, name, spec, brand, unit, price, kind):
        code = f"{prefix}-{len(self.items) + 1:04d}"
        value = Decimal(price).quantize(Decimal("1"), ROUND_HALF_UP)
        self.items.append(_Item(path, code, name, spec, brand, unit, value, kind))


def catalogue(small: bool = False) -> list[_Item]:
    """The dealer's products (about 200; ``small``: the first of each kind)."""
    c = _Catalogue()
    e3 = ("叉车", "电动叉车", "三支点电动叉车")
    for brand in ELECTRIC:
        for tons in ("1.5", "1.8", "2.0"):
            price = (52000 + float(tons) * 12000) * float(PREMIUM.get(brand, 1))
            c.add(
                e3,
                "CPD",
                f"{brand}{tons}吨三支点电动叉车",
                f"{tons}t 48V 门架3m",
                brand,
                "台",
                price,
                "vehicle",
            )
    e4 = ("叉车", "电动叉车", "四支点电动叉车")
    for brand in ELECTRIC:
        for tons in ("2.0", "2.5", "3.0", "3.5"):
            price = (60000 + float(tons) * 15000) * float(PREMIUM.get(brand, 1))
            c.add(
                e4,
                "CPD",
                f"{brand}{tons}吨四支点电动叉车",
                f"{tons}t 80V 锂电 门架3m",
                brand,
                "台",
                price,
                "vehicle",
            )
    for level4, model, base in (
        ("前移式叉车", "CQD", 88000),
        ("电动堆高车", "CDD", 32000),
        ("托盘搬运车", "CBD", 9000),
    ):
        path = ("叉车", "电动叉车", "电动仓储叉车", level4)
        for brand in ("杭叉", "合力", "林德", "诺力"):
            for tons in ("1.5", "2.0"):
                price = base * (1 + (float(tons) - 1.5) * 0.3) * float(PREMIUM.get(brand, 1))
                c.add(
                    path,
                    model,
                    f"{brand}{tons}吨{level4}",
                    f"{tons}t 提升{'6m' if model == 'CQD' else '3m'}",
                    brand,
                    "台",
                    price,
                    "vehicle",
                )
    for level4, tonnages, base, step in (
        ("1-3吨柴油叉车", ("2.0", "2.5", "3.0"), 56000, 9000),
        ("3.5-5吨柴油叉车", ("3.5", "4.0", "5.0"), 82000, 14000),
    ):
        path = ("叉车", "内燃叉车", "柴油叉车", level4)
        for brand in DIESEL:
            for tons in tonnages:
                price = (base + (float(tons) - float(tonnages[0])) * step) * float(
                    PREMIUM.get(brand, 1)
                )
                c.add(
                    path,
                    "CPCD",
                    f"{brand}{tons}吨柴油叉车",
                    f"{tons}t 国四 门架3m",
                    brand,
                    "台",
                    price,
                    "vehicle",
                )
    path = ("叉车", "内燃叉车", "柴油叉车", "5吨以上柴油叉车")
    for brand in ("杭叉", "合力", "龙工", "柳工"):
        for tons in ("7", "10"):
            c.add(
                path,
                "CPCD",
                f"{brand}{tons}吨重型柴油叉车",
                f"{tons}t 国四 门架4m",
                brand,
                "台",
                130000 + int(tons) * 16000,
                "vehicle",
            )
    path = ("叉车", "内燃叉车", "液化石油气叉车")
    for brand in ("杭叉", "合力", "丰田"):
        for tons in ("2.0", "2.5", "3.0"):
            price = (62000 + float(tons) * 9000) * float(PREMIUM.get(brand, 1))
            c.add(
                path,
                "CPQD",
                f"{brand}{tons}吨液化气叉车",
                f"{tons}t LPG 门架3m",
                brand,
                "台",
                price,
                "vehicle",
            )
    for size, price in (
        ("6.50-10", 620),
        ("7.00-12", 780),
        ("8.15-15", 980),
        ("28x9-15", 860),
        ("5.00-8", 420),
        ("18x7-8", 450),
    ):
        for brand, factor in (("正新", 1.0), ("朝阳", 0.9), ("玲珑", 0.85), ("普利司通", 1.6)):
            c.add(
                ("配件", "轮胎"),
                "TY",
                f"{brand}实心轮胎 {size}",
                size,
                brand,
                "条",
                price * factor,
                "part",
            )
    for volts, ah, price in (
        ("48V", "400Ah", 16800),
        ("48V", "500Ah", 19800),
        ("80V", "500Ah", 31000),
        ("80V", "600Ah", 36500),
        ("48V", "280Ah 锂电", 26800),
        ("80V", "404Ah 锂电", 52000),
    ):
        c.add(
            ("配件", "电池与充电机"),
            "BT",
            f"叉车蓄电池 {volts}{ah}",
            f"{volts} {ah}",
            "天能",
            "组",
            price,
            "part",
        )
    for volts, amps, price in (
        ("48V", "80A", 3800),
        ("48V", "100A", 4600),
        ("80V", "100A", 6900),
        ("80V", "150A", 9800),
    ):
        c.add(
            ("配件", "电池与充电机"),
            "CG",
            f"智能充电机 {volts}{amps}",
            f"{volts} {amps}",
            "杭叉",
            "台",
            price,
            "part",
        )
    for name, spec, price in (
        ("起升油缸总成", "3t 门架", 2600),
        ("倾斜油缸总成", "2-3.5t", 1450),
        ("多路阀", "三联", 3200),
        ("齿轮泵", "CBHZ-F32", 1280),
        ("转向油缸", "2-3t", 980),
        ("高压油管", "1m", 85),
        ("液压油箱滤网", "通用", 120),
        ("密封件修理包", "起升油缸", 260),
    ):
        c.add(("配件", "液压件"), "HY", name, spec, "合力", "个", price, "part")
    for name, spec, unit, price in (
        ("机油滤芯", "新柴 490", "个", 45),
        ("柴油滤芯", "新柴 490", "个", 55),
        ("空气滤芯", "K1530", "个", 95),
        ("液压油滤芯", "通用", "个", 120),
        ("抗磨液压油", "46号 18L", "桶", 420),
        ("柴机油", "CF-4 15W-40 18L", "桶", 560),
        ("齿轮油", "85W-90 4L", "桶", 160),
        ("刹车油", "DOT4 1L", "瓶", 48),
        ("防冻液", "-35℃ 4kg", "桶", 95),
        ("黄油", "锂基脂 15kg", "桶", 380),
        ("电瓶补充液", "5L", "桶", 35),
        ("变速箱油", "6号 4L", "桶", 210),
    ):
        c.add(("配件", "滤芯与油品"), "OL", name, spec, "", unit, price, "part")
    for name, spec, price in (
        ("货叉", "1070mm 3t", 1450),
        ("加长货叉", "1800mm 3t", 2600),
        ("侧移器", "3t 挂装", 8600),
        ("调距叉", "3t", 16500),
        ("纸卷夹", "2t", 38000),
        ("软包夹", "2.5t", 32000),
        ("推拉器", "2t", 26000),
        ("旋转器", "3t 360°", 29000),
        ("桶夹", "双桶", 9800),
        ("门架护网", "3m", 680),
    ):
        c.add(
            ("配件", "货叉与属具"),
            "AT",
            name,
            spec,
            "凯斯卡特" if price > 20000 else "杭叉",
            "套",
            price,
            "part",
        )
    for name, spec, unit, price in (
        ("A级保养", "250小时", "次", 380),
        ("B级保养", "500小时", "次", 880),
        ("C级保养", "2000小时", "次", 2600),
        ("上门维修", "市区", "次", 300),
        ("整机大修", "内燃叉车", "次", 12000),
        ("年度保养合同", "单台", "年", 4800),
        ("电池维护", "铅酸", "次", 260),
        ("门架链条更换", "3t", "次", 1200),
    ):
        c.add(("服务", "维修保养"), "SV", name, spec, "", unit, price, "service")
    for tons, price in (
        ("1.5", 2200),
        ("2.0", 2500),
        ("2.5", 2800),
        ("3.0", 3100),
        ("3.5", 3500),
        ("5.0", 4800),
        ("7.0", 7500),
        ("10", 10500),
    ):
        c.add(
            ("服务", "租赁"),
            "RT",
            f"{tons}吨叉车月租",
            f"{tons}t 含保养",
            "",
            "月",
            price,
            "rental",
        )
    for name, spec, price in (
        ("叉车司机培训", "N1 取证", 1500),
        ("安全操作培训", "企业内训", 3000),
        ("维修技师培训", "3天", 4500),
    ):
        c.add(("服务", "培训"), "TR", name, spec, "", "人", price, "service")
    if small:
        seen, out = set(), []
        for item in c.items:
            if item.path[:2] not in seen:
                seen.add(item.path[:2])
                out.append(item)
        return out
    return c.items


def _categories(tenant_id: int, items: list[_Item]) -> dict[tuple[str, ...], ProductCategory]:
    """The category tree of the items' paths (a few dozen rows: one by one, to get paths)."""
    found: dict[tuple[str, ...], ProductCategory] = {}
    for item in items:
        for depth in range(1, len(item.path) + 1):
            key = item.path[:depth]
            if key in found:
                continue
            parent = found.get(key[:-1])
            node = ProductCategory.objects.create(
                tenant_id=tenant_id,
                name=key[-1],
                parent=parent,
                level=depth,
                sort=len([k for k in found if len(k) == depth]),
            )
            node.path = f"{parent.path if parent else '/'}{node.pk}/"
            ProductCategory.objects.filter(pk=node.pk).update(path=node.path)
            found[key] = node
    return found


def load_catalogue(tenant: Tenant, admin: User | None, rng: random.Random, small=False):
    items = catalogue(small)
    tid = tenant.pk
    categories = _categories(tid, items)
    order_types = {
        o.label: o for o in Option.objects.filter(tenant_id=tid, kind=OptionKind.ORDER_TYPE)
    }
    type_of = {"vehicle": "整车", "part": "配件", "rental": "租赁"}
    products = []
    for item in items:
        products.append(
            Product(
                tenant_id=tid,
                code=item.code,
                name=item.name,
                category=categories[item.path],
                spec=item.spec,
                brand=item.brand,
                unit=item.unit,
                price=item.price,
                stock=Decimal(
                    rng.randint(0, 12) if item.kind == "vehicle" else rng.randint(0, 200)
                ),
                order_type=order_types.get(type_of.get(item.kind, "")),
                is_vehicle=item.kind == "vehicle",
                maintenance_interval_days=90 if item.kind == "vehicle" else None,
                status=Product.Status.OFF_SALE if rng.random() < 0.04 else Product.Status.ON_SALE,
                description=f"{item.brand}{item.name}，{item.spec}。" if item.brand else "",
                created_by=admin,
                created_at=timezone.now() - datetime.timedelta(days=380),
            )
        )
    Product.objects.bulk_create(products, batch_size=500)
    return list(Product.objects.filter(tenant_id=tid).order_by("pk"))


# ---------------------------------------------------------------- opportunities


@dataclass
class Plan:
    """One opportunity to write: its owner, customer, creation moment and how it ends
    (``outcome``: "won", "lost", "open" or None for a random walk by its age)."""

    owner: User
    customer_id: int
    created: datetime.datetime
    outcome: str | None = None
    name: str = ""


def _stage_lists(tenant_id: int):
    stages = list(OpportunityStage.objects.filter(tenant_id=tenant_id).order_by("sort", "id"))
    opened = [s for s in stages if s.kind == StageKind.OPEN and s.is_active]
    won = next(s for s in stages if s.kind == StageKind.WON)
    lost = next(s for s in stages if s.kind == StageKind.LOST)
    return opened, won, lost


def _walk(rng, opened, won, lost, created, now, outcome):
    """[(stage, moment)…] from the creation: mostly forward one stage at a time, sometimes a
    skip or a step back; closed at the end when the outcome says so and time allows."""
    index = 0 if rng.random() < 0.75 else 1
    moment = created
    path = [(opened[index], moment)]
    age = (now - created).days
    if outcome is None:
        closing = rng.random() < min(0.9, age / 160)
        outcome = ("won" if rng.random() < 0.42 else "lost") if closing else "open"
    target = len(opened) - 1 if outcome == "won" else rng.randint(0, len(opened) - 1)
    while index < target:
        step = datetime.timedelta(days=rng.uniform(2, 26), hours=rng.uniform(0, 8))
        if moment + step >= now:
            return path, "open"
        moment += step
        roll = rng.random()
        if roll < 0.06 and index > 0:
            index -= 1  # back a stage (the customer re-opened the requirements)
        elif roll < 0.16 and index + 2 <= target:
            index += 2  # a skip (free stage mode)
        else:
            index += 1
        path.append((opened[index], moment))
    if outcome in ("won", "lost"):
        step = datetime.timedelta(days=rng.uniform(3, 30), hours=rng.uniform(0, 8))
        if moment + step >= now:
            return path, "open"
        path.append((won if outcome == "won" else lost, moment + step))
    return path, outcome


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def make_opportunities(tenant: Tenant, plans: list[Plan], rng: random.Random) -> list[Opportunity]:
    """Write one opportunity per plan with its lines, contacts with roles and stage history
    (bulk inserts; a fixed number of queries per call)."""
    if not plans:
        return []
    tid = tenant.pk
    now = timezone.now()
    tz = tenant.tzinfo
    today = now.astimezone(tz).date()
    opened, won, lost = _stage_lists(tid)
    products = list(Product.objects.filter(tenant_id=tid, status=Product.Status.ON_SALE))
    vehicles = [p for p in products if p.is_vehicle]
    extras = [p for p in products if not p.is_vehicle]
    reasons = list(Option.objects.filter(tenant_id=tid, kind=OptionKind.LOST_REASON))
    roles = list(Option.objects.filter(tenant_id=tid, kind=OptionKind.CONTACT_ROLE))
    contacts: dict[int, list[int]] = {}
    for pk, customer_id in Contact.objects.filter(
        tenant_id=tid, customer_id__in={p.customer_id for p in plans}
    ).values_list("pk", "customer_id"):
        contacts.setdefault(customer_id, []).append(pk)
    names = dict(
        Customer.objects.filter(pk__in={p.customer_id for p in plans}).values_list("pk", "name")
    )
    rows, lines, paths, roles_of = [], [], [], []
    for plan in plans:
        path, outcome = _walk(rng, opened, won, lost, plan.created, now, plan.outcome)
        stage, entered = path[-1]
        chosen = []
        if vehicles:
            chosen.append((rng.choice(vehicles), Decimal(rng.choice([1, 1, 1, 2, 2, 3, 5]))))
        for extra in rng.sample(extras, k=min(len(extras), rng.choice([0, 1, 1, 2]))):
            chosen.append((extra, Decimal(rng.choice([1, 2, 4, 6, 10]))))
        opp_lines = []
        for sort, (product, qty) in enumerate(chosen):
            unit = _money(product.price * Decimal(str(rng.choice([1, 1, 0.98, 0.95, 0.92, 0.9]))))
            discount = (
                _money((1 - unit / product.price) * 100) if product.price else Decimal("0.00")
            )
            opp_lines.append(
                OpportunityLine(
                    tenant_id=tid,
                    product=product,
                    name=product.name,
                    spec=product.spec,
                    qty=qty,
                    list_price=product.price,
                    unit_price=unit,
                    discount_pct=discount,
                    subtotal=_money(qty * unit),
                    sort=sort,
                )
            )
        amount = sum((line.subtotal for line in opp_lines), Decimal("0.00"))
        closed = entered.astimezone(tz).date() if outcome in ("won", "lost") else None
        if closed is not None:
            expected = closed + datetime.timedelta(days=rng.randint(-20, 20))
        else:
            # Open: mostly ahead, some overdue (the funnel's 已逾期未关单).
            ahead = rng.randint(-20, -1) if rng.random() < 0.12 else rng.randint(0, 110)
            expected = today + datetime.timedelta(days=ahead)
        customer_contacts = contacts.get(plan.customer_id, [])
        head = chosen[0][0].name if chosen else "叉车采购"
        opp = Opportunity(
            tenant_id=tid,
            owner=plan.owner,
            created_by=plan.owner,
            updated_by=plan.owner,
            name=plan.name or f"{names.get(plan.customer_id, '')[:20]} {head}"[:128],
            customer_id=plan.customer_id,
            primary_contact_id=customer_contacts[0] if customer_contacts else None,
            budget=_money(amount * Decimal(str(rng.choice([0.9, 1, 1.1])))) if amount else None,
            amount=amount,
            expected_close_date=expected,
            stage=stage,
            probability=stage.probability,
            commit=outcome == "open" and stage.probability >= 50 and rng.random() < 0.5,
            status=stage.kind,
            stage_entered_at=entered,
            closed_date=closed,
            lost_reason=rng.choice(reasons) if outcome == "lost" and reasons else None,
            lost_note="客户最终选择了其他品牌" if outcome == "lost" and rng.random() < 0.3 else "",
            next_followup_at=(
                now + datetime.timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 8))
                if outcome == "open" and rng.random() < 0.6
                else None
            ),
            owner_department_id=plan.owner.department_id,
            remark="",
            created_at=plan.created,
        )
        rows.append(opp)
        lines.append(opp_lines)
        paths.append(path)
        picked = rng.sample(customer_contacts, k=min(len(customer_contacts), rng.randint(1, 2)))
        roles_of.append([(pk, rng.choice(roles) if roles else None) for pk in picked])
    Opportunity.objects.bulk_create(rows, batch_size=500)
    all_lines, changes, links = [], [], []
    for opp, opp_lines, path, picked in zip(rows, lines, paths, roles_of, strict=True):
        for line in opp_lines:
            line.opportunity_id = opp.pk
            all_lines.append(line)
        previous = None
        for stage, moment in path:
            changes.append(
                OpportunityStageChange(
                    tenant_id=tid,
                    opportunity_id=opp.pk,
                    from_stage=previous,
                    to_stage=stage,
                    changed_by_id=opp.owner_id,
                    changed_at=moment,
                    amount=opp.amount,
                    probability=stage.probability,
                    note=(opp.lost_note if stage.kind == StageKind.LOST else ""),
                )
            )
            previous = stage
        for position, (contact_id, role) in enumerate(picked):
            links.append(
                OpportunityContact(
                    tenant_id=tid,
                    opportunity_id=opp.pk,
                    contact_id=contact_id,
                    role=role,
                    is_primary=contact_id == opp.primary_contact_id and position == 0,
                )
            )
    OpportunityLine.objects.bulk_create(all_lines, batch_size=1000)
    OpportunityStageChange.objects.bulk_create(changes, batch_size=1000)
    OpportunityContact.objects.bulk_create(links, batch_size=1000)
    return rows


@register
def load_opportunities(tenant: Tenant, users: dict[str, User]) -> None:
    if tenant.slug not in PLANS:
        return
    rng = random.Random(f"{SEED}:{tenant.slug}")  # noqa: S311 (demo data, not secrets)
    admin = next((u for name, u in users.items() if name.endswith("admin")), None)
    load_catalogue(tenant, admin, rng, small=tenant.slug != "demo")
    now = timezone.now()
    plans = []
    for username, count in PLANS[tenant.slug]:
        owner = users.get(username)
        if owner is None:
            continue
        customers = list(
            Customer.objects.filter(tenant_id=tenant.pk, owner=owner)
            .order_by("pk")
            .values_list("pk", "created_at")
        )
        if not customers:
            continue
        for _ in range(count):
            customer_id, since = rng.choice(customers)
            created = now - datetime.timedelta(days=rng.uniform(0, 364), hours=rng.uniform(0, 10))
            # Not before the customer existed (nor after now).
            created = min(max(created, since + datetime.timedelta(hours=rng.uniform(2, 72))), now)
            plans.append(Plan(owner, customer_id, created))
    plans.sort(key=lambda p: p.created)
    make_opportunities(tenant, plans, rng)
