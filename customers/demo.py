"""Demo customers (registered with :func:`crm.demo.register`).

Tenant ``demo`` gets about 2,000 customers spread over rep1, rep2, rep3 and manager1 (about
180 without an owner, which the demo pool below puts into the pool), tenant ``other`` a few
hundred; each with 1–3 contacts, up to eight follow-ups over the last twelve months, tags,
stars, participants and an ownership event.
Everything is deterministic (``random.Random`` with a fixed seed, times relative to now) and
written with ``bulk_create``, so loading takes a second or two even on SQLite.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import F
from django.utils import timezone

from crm.demo import register
from crm.models import Department, Option, OptionKind, Tenant, User
from customers import owned as owned_records
from customers.models import (
    Contact,
    Customer,
    CustomerAttrEvent,
    CustomerParticipant,
    CustomerStar,
    CustomerTag,
    CustomerUserObjectPermission,
    FollowUp,
    OwnershipEvent,
    Tag,
    normalize_name,
)
from pools.models import PoolGroup, PoolGroupDepartment, PoolGroupUser, PoolLevelRule, PoolReason
from pools.services import default_group_for

SEED = 20240601
BATCH = 500
DEMO_CUSTOMERS = 2_000  # in tenant demo, unless settings.DEMO_CUSTOMERS says otherwise

# (username, how many customers they own); None is "no owner".
PLANS: dict[str, list[tuple[str | None, int]]] = {
    "demo": [("rep1", 600), ("rep2", 540), ("rep3", 510), ("manager1", 170), (None, 180)],
    "other": [("other_rep", 220), ("other_admin", 60), (None, 20)],
}

TAGS = [
    ("重点客户", "#c0392b"),
    ("老客户", "#0e7c86"),
    ("展会", "#8e44ad"),
    ("价格敏感", "#d35400"),
    ("转介绍", "#27ae60"),
    ("已报价", "#2c3e50"),
    ("有置换需求", "#b7950b"),
    ("政府项目", "#1f618d"),
]

# city: (province, area code, longitude, latitude, districts, roads)
CITIES: dict[str, tuple[str, str, float, float, list[str], list[str]]] = {
    "长沙": (
        "湖南省",
        "0731",
        112.94,
        28.23,
        ["岳麓区", "雨花区", "开福区", "天心区", "望城区", "长沙县"],
        ["麓谷大道", "万家丽路", "芙蓉中路", "韶山南路", "黄兴大道", "金星北路"],
    ),
    "株洲": (
        "湖南省",
        "0731",
        113.13,
        27.83,
        ["天元区", "芦淞区", "石峰区", "荷塘区"],
        ["株洲大道", "长江南路", "新华西路", "泰山路"],
    ),
    "郑州": (
        "河南省",
        "0371",
        113.63,
        34.75,
        ["金水区", "二七区", "中原区", "管城回族区", "惠济区"],
        ["中州大道", "花园路", "航海路", "嵩山南路", "科学大道"],
    ),
    "武汉": (
        "湖北省",
        "027",
        114.31,
        30.59,
        ["江夏区", "洪山区", "东西湖区", "汉阳区", "黄陂区"],
        ["光谷大道", "珞喻路", "金银湖路", "汉阳大道", "三环线"],
    ),
    "成都": (
        "四川省",
        "028",
        104.07,
        30.57,
        ["武侯区", "双流区", "新都区", "龙泉驿区", "郫都区"],
        ["天府大道", "蜀都大道", "成龙大道", "双华路", "新都大道"],
    ),
    "重庆": (
        "重庆市",
        "023",
        106.55,
        29.56,
        ["渝北区", "九龙坡区", "沙坪坝区", "江北区", "巴南区"],
        ["金开大道", "渝州路", "石杨路", "建新北路", "龙洲大道"],
    ),
    "西安": (
        "陕西省",
        "029",
        108.94,
        34.34,
        ["雁塔区", "未央区", "长安区", "灞桥区"],
        ["科技路", "未央路", "长安南路", "纺织城正街"],
    ),
    "南昌": (
        "江西省",
        "0791",
        115.86,
        28.68,
        ["青山湖区", "红谷滩区", "新建区", "南昌县"],
        ["昌东大道", "红谷中大道", "北京西路", "迎宾大道"],
    ),
    "合肥": (
        "安徽省",
        "0551",
        117.23,
        31.82,
        ["蜀山区", "包河区", "庐阳区", "肥西县"],
        ["长江西路", "繁华大道", "金寨路", "翡翠路"],
    ),
    "贵阳": (
        "贵州省",
        "0851",
        106.63,
        26.65,
        ["观山湖区", "南明区", "花溪区", "白云区"],
        ["金阳南路", "花溪大道", "解放路", "白云大道"],
    ),
    "南宁": (
        "广西壮族自治区",
        "0771",
        108.37,
        22.82,
        ["青秀区", "西乡塘区", "江南区", "良庆区"],
        ["民族大道", "大学东路", "星光大道", "五象大道"],
    ),
    "佛山": (
        "广东省",
        "0757",
        113.12,
        23.02,
        ["顺德区", "南海区", "禅城区", "三水区"],
        ["佛山大道", "桂澜路", "季华路", "广隆路"],
    ),
}

BRANDS = [
    "恒远", "宏达", "鑫源", "顺达", "华盛", "中联", "永兴", "金鼎", "天润", "众诚", "瑞丰", "泰和",
    "长丰", "新宇", "汇通", "盛世", "鼎力", "凯达", "信诚", "兴旺", "博远", "力拓", "远航", "昌盛",
    "宏图", "嘉禾", "隆基", "腾飞", "弘毅", "安泰", "福源", "巨力", "华建", "宇航", "正大", "金石",
    "通利", "广厦", "锦程", "东方", "联创", "旭日", "蓝天", "振华", "德润", "聚力",
]  # fmt: skip
# Administrative division codes (the 3rd–8th characters of a credit code).
REGION_CODES = {
    "长沙": "430100",
    "株洲": "430200",
    "郑州": "410100",
    "武汉": "420100",
    "成都": "510100",
    "重庆": "500000",
    "西安": "610100",
    "南昌": "360100",
    "合肥": "340100",
    "贵阳": "520100",
    "南宁": "450100",
    "佛山": "440600",
}

# Industry label (crm.services.DEFAULT_OPTIONS) → (business words, products).
TRADES: dict[str, tuple[list[str], list[str]]] = {
    "工程机械": (
        ["工程机械", "机械设备", "机械租赁", "工程机械租赁"],
        ["挖掘机租赁", "装载机销售", "工程机械维修", "二手设备买卖"],
    ),
    "交通运输": (["运输", "物流", "渣土运输", "货运"], ["渣土清运", "砂石运输", "大件运输"]),
    "建筑施工": (
        ["建筑工程", "建设工程", "土石方工程", "建工集团"],
        ["房建施工", "市政道路", "土方开挖", "地基基础"],
    ),
    "矿山开采": (["矿业", "石材", "砂石", "采石场"], ["石灰石开采", "机制砂", "碎石加工"]),
    "市政环卫": (["市政工程", "环境工程", "园林绿化", "环卫服务"], ["道路养护", "管网施工"]),
    "农业": (["农业开发", "农机专业合作社", "生态农业", "水利工程"], ["土地平整", "农田水利"]),
    "制造业": (["重工", "钢构", "建材", "混凝土"], ["钢结构加工", "商品混凝土", "预制构件"]),
    "其他": (["实业", "贸易", "投资", "商贸"], ["设备贸易", "项目投资"]),
}
CITY_NAMES = list(CITIES)
SUFFIXES = ["有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司", "集团有限公司"]
SOLE = ["经营部", "工程队", "机械租赁部", "土石方工程队"]

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
)
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国红文斌辉鹏宇浩凯亮志海波")
TITLES = [
    ("总经理", True),
    ("老板", True),
    ("董事长", True),
    ("采购经理", False),
    ("设备主管", False),
    ("项目经理", False),
    ("财务", False),
    ("机手队长", False),
    ("办公室主任", False),
]
ROLES = ["决策人", "使用人", "影响人", "财务审批", ""]
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
]  # fmt: skip
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "中国银行", "招商银行", "交通银行"]

MODELS = ["TD60", "TD75", "TD135", "TD215", "TD245", "TD365", "TL50 装载机", "TL30 装载机"]
CATEGORIES = ["挖掘机", "装载机", "压路机", "小挖", "中挖", "大挖"]
NEXT_STEPS = [
    "约下周到店看车",
    "约月底再联系",
    "等老板回来再定",
    "下周发正式报价",
    "约周末去工地看现场",
    "等项目中标后再谈",
    "客户要对比其他品牌",
    "月初跟进首付方案",
]
CONTENT: dict[str, list[str]] = {
    "电话": [
        "电话沟通，客户对{model}型号感兴趣，{step}",
        "电话回访{contact}，项目还在招标阶段，{step}",
        "电话联系{contact}，询问{model}的首付和月供方案，已口头报价，{step}",
        "电话沟通，客户现有{n}台老设备，考虑置换{category}，{step}",
        "打电话过去没人接，稍后再联系",
        "电话确认{model}到货时间，客户比较着急，{step}",
    ],
    "拜访": [
        "上门拜访{contact}，参观了工地，现有{n}台设备，计划年内新增{k}台{category}，{step}",
        "到客户公司拜访，{contact}带我们看了老设备，有置换意向，{step}",
        "陪同客户到店看车，试驾了{model}，对油耗比较满意，{step}",
        "拜访工地，了解到项目还有半年工期，设备缺口{k}台，{step}",
    ],
    "微信": [
        "微信发送{model}配置单和报价，客户说要和老板商量，{step}",
        "微信沟通分期方案，客户关注利率和首付比例，{step}",
        "给{contact}发了新品视频和现场施工照片，{step}",
    ],
    "QQ": [
        "QQ 发送产品资料和保养手册，{step}",
        "QQ 上沟通配件价格，客户要了一份清单",
    ],
    "邮件": [
        "邮件发送正式报价单和合同草稿，{step}",
        "邮件回复客户的技术问题，附{model}参数表",
    ],
    "其他": [
        "展会上交流，留了名片，客户对{model}感兴趣，{step}",
        "老客户介绍，{contact}想了解{category}的价格，{step}",
    ],
}
REMARKS = [
    "",
    "",
    "",
    "老板比较务实，看重售后服务",
    "有两个在建项目，设备需求较大",
    "之前用过竞品，对价格敏感",
    "付款及时，信誉良好",
    "决策流程长，需要多次拜访",
]


def _credit_code(rng: random.Random, region: str) -> str:
    """A well-formed 统一社会信用代码 (GB 32100-2015), both check characters correct."""
    digits = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    value = lambda c: int(c) if c.isdigit() else ord(c) - 55  # noqa: E731 (GB 11714)
    s = sum(w * value(c) for w, c in zip([3, 7, 9, 10, 5, 8, 4, 2], org, strict=True))
    check = 11 - s % 11
    org += "X" if check == 10 else ("0" if check == 11 else str(check))
    body = "91" + region + org
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    s = sum(w * digits.index(c) for w, c in zip(weights, body, strict=True))
    return body + digits[(31 - s % 31) % 31]


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


class _Maker:
    """Everything random about one tenant's customers, from one seeded generator."""

    def __init__(self, tenant: Tenant, seed: str):
        self.rng = random.Random(seed)  # noqa: S311 (demo data, reproducible on purpose)
        self.tenant = tenant
        self.names: set[str] = set()
        self.mobiles: set[str] = set()
        self.options = {
            kind: list(Option.objects.filter(tenant=tenant, kind=kind, is_active=True))
            for kind in OptionKind.values
        }

    def pick(self, items: list, weights: list[int]):
        """One of ``items``, weighted in list order (items beyond the weights get weight 1:
        a tenant may have added options)."""
        if not items:
            return None
        weights = (weights + [1] * len(items))[: len(items)]
        return self.rng.choices(items, weights=weights)[0]

    def option(self, kind: str, weights: list[int]) -> Option | None:
        return self.pick(self.options[kind], weights)

    def company(self, city: str, industry: str) -> str:
        rng = self.rng
        words, _products = TRADES.get(industry, TRADES["其他"])
        for _attempt in range(50):
            brand = rng.choice(BRANDS)
            if rng.random() < 0.08:
                name = f"{city}市{rng.choice(CITIES[city][4])[:-1]}{brand}{rng.choice(SOLE)}"
            elif rng.random() < 0.5:
                name = f"{city}{brand}{rng.choice(words)}{rng.choice(SUFFIXES)}"
            else:
                name = f"{CITIES[city][0][:2]}{brand}{rng.choice(words)}{rng.choice(SUFFIXES)}"
            if normalize_name(name) not in self.names:
                self.names.add(normalize_name(name))
                return name
        name = f"{city}{brand}{rng.randint(2, 99)}号{rng.choice(words)}有限公司"
        self.names.add(normalize_name(name))
        return name

    def mobile(self) -> str:
        while True:
            mobile = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if mobile not in self.mobiles and not mobile.startswith(("1380000", "1390000")):
                self.mobiles.add(mobile)
                return mobile


def _customer(maker: _Maker, owner: User | None, admin: User, now: datetime.datetime) -> Customer:
    rng = maker.rng
    city = rng.choice(CITY_NAMES)
    province, _area, lon, lat, districts, roads = CITIES[city]
    industry = maker.option(OptionKind.INDUSTRY, [30, 12, 22, 10, 6, 5, 10, 5])
    trade = industry.label if industry and industry.label in TRADES else "其他"
    status = maker.option(OptionKind.CUSTOMER_STATUS, [25, 30, 15, 18, 12])
    signed = status is not None and status.label == "成交"
    created_at = now - datetime.timedelta(
        days=rng.randint(20, 700), hours=rng.randint(0, 10), minutes=rng.randint(0, 59)
    )
    has_bank = rng.random() < 0.4
    name = maker.company(city, trade)
    author = owner or admin
    return Customer(
        tenant_id=maker.tenant.pk,
        name=name,
        name_normalized=normalize_name(name),  # bulk_create skips Customer.save()
        legal_representative=_person(rng),
        credit_code=_credit_code(rng, REGION_CODES[city]) if rng.random() < 0.85 else "",
        bank_name=f"{rng.choice(BANKS)}{city}{rng.choice(districts)[:-1]}支行" if has_bank else "",
        bank_account="".join(str(rng.randrange(10)) for _ in range(19)) if has_bank else "",
        industry=industry,
        products="、".join(rng.sample(TRADES[trade][1], 2)),
        province=province,
        city=f"{city}市",
        district=rng.choice(districts),
        address=f"{rng.choice(roads)}{rng.randint(1, 999)}号",
        longitude=Decimal(f"{lon + rng.uniform(-0.25, 0.25):.6f}"),
        latitude=Decimal(f"{lat + rng.uniform(-0.2, 0.2):.6f}"),
        level=maker.option(OptionKind.CUSTOMER_LEVEL, [15, 40, 30, 15]),
        source=maker.option(OptionKind.CUSTOMER_SOURCE, [25, 25, 15, 15, 10, 5, 5]),
        status=status,
        remark=rng.choice(REMARKS),
        visibility=Customer.Visibility.PUBLIC
        if rng.random() < 0.06
        else Customer.Visibility.PRIVATE,
        is_locked=owner is not None and rng.random() < 0.015,
        lifecycle=Customer.Lifecycle.SIGNED if signed else Customer.Lifecycle.DEVELOPMENT,
        deal_status=Customer.DealStatus.DEAL if signed else Customer.DealStatus.NONE,
        signed_at=created_at + datetime.timedelta(days=rng.randint(5, 15)) if signed else None,
        owner_id=owner.pk if owner else None,
        created_by_id=author.pk,
        updated_by_id=author.pk,
        created_at=created_at,
    )


def _contacts(maker: _Maker, customer: Customer, area: str) -> list[dict]:
    """1–3 people; the first one is the boss."""
    rng = maker.rng
    people = []
    for n in range(rng.choices((1, 2, 3), weights=(45, 35, 20))[0]):
        title, boss = rng.choice(TITLES[:3]) if n == 0 else rng.choice(TITLES)
        mobile = maker.mobile()
        birthday = None
        if rng.random() < 0.4:
            birthday = datetime.date(rng.randint(1962, 1995), 1, 1) + datetime.timedelta(
                days=rng.randint(0, 364)
            )
        email = ""
        if rng.random() < 0.3:
            email = rng.choice([f"{mobile}@163.com", f"{rng.randint(10**7, 10**10)}@qq.com"])
        people.append(
            {
                "name": _person(rng),
                "mobile": mobile,
                "phone": f"{area}-{rng.randint(2, 8)}{rng.randrange(10**6, 10**7)}"
                if rng.random() < 0.25
                else "",
                "email": email,
                "title": title,
                "gender": rng.choice(["male", "male", "male", "female", ""]),
                "is_decision_maker": boss or rng.random() < 0.1,
                "birthday": birthday,
                "role": rng.choice(ROLES[:1] if boss else ROLES),
                "created_at": customer.created_at + datetime.timedelta(minutes=n),
            }
        )
    return people


def _followups(
    maker: _Maker,
    customer: Customer,
    people: list[dict],
    kinds: list[Option],
    now: datetime.datetime,
    today: datetime.datetime,
) -> list[dict]:
    """0–8 follow-ups over the last 12 months; sets the customer's last and next follow-up
    (some due today, some overdue, most in the coming weeks, a few without a plan)."""
    rng = maker.rng
    count = rng.choices(range(9), weights=(8, 14, 16, 16, 14, 11, 9, 7, 5))[0]
    start = max(customer.created_at, now - datetime.timedelta(days=365))
    span = (now - start).total_seconds()
    times = []
    for _n in range(count):
        at = start + datetime.timedelta(seconds=rng.uniform(0, span))
        at = timezone.localtime(at).replace(hour=rng.randint(8, 19), second=0, microsecond=0)
        times.append(max(min(at, now - datetime.timedelta(minutes=5)), customer.created_at))
    visits = []
    for at in sorted(times):
        kind = maker.pick(kinds, [40, 20, 25, 3, 5, 7])
        contact = rng.randrange(len(people))
        who = people[contact]
        content = rng.choice(CONTENT.get(kind.label if kind else "", CONTENT["电话"])).format(
            model=rng.choice(MODELS),
            step=rng.choice(NEXT_STEPS),
            contact=who["name"][0] + ("总" if who["is_decision_maker"] else "工"),
            n=rng.randint(2, 12),
            k=rng.randint(1, 4),
            category=rng.choice(CATEGORIES),
        )
        visits.append(
            {
                "contact": contact,
                "kind_id": kind.pk if kind else None,
                "content": content,
                "followed_at": at,
                "next_followup_at": at + datetime.timedelta(days=rng.randint(3, 21)),
            }
        )
    last = visits[-1] if visits else None
    customer.last_followup_at = last["followed_at"] if last else None
    due = None
    if customer.owner_id is not None:
        pick = rng.random()
        at_hour = datetime.timedelta(hours=rng.randint(9, 18), minutes=rng.choice((0, 30)))
        latest = customer.last_followup_at or customer.created_at
        overdue_days = (today - latest).days - 1  # whole days between the last contact and today
        if pick < 0.05:
            due = today + at_hour
        elif pick < 0.17 and overdue_days >= 1:
            due = today - datetime.timedelta(days=rng.randint(1, min(overdue_days, 20))) + at_hour
        elif pick < 0.87:
            due = today + datetime.timedelta(days=rng.randint(1, 30)) + at_hour
    if last is not None:
        last["next_followup_at"] = due
    customer.next_followup_at = due
    return visits


def _load(tenant: Tenant, users: dict[str, User], plan: list[tuple[str | None, int]]) -> None:
    maker = _Maker(tenant, f"{SEED}:{tenant.slug}")
    rng = maker.rng
    tid = tenant.pk
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    admin = next(u for u in users.values() if u.role and u.role.builtin == "admin")
    reps = [users[name] for name, _n in plan if name is not None]
    kinds = maker.options[OptionKind.FOLLOWUP_TYPE]

    # Everything is drawn in memory first, so each row is written once (no bulk_update).
    rows = []
    for username, count in plan:
        owner = users[username] if username else None
        for _i in range(count):
            customer = _customer(maker, owner, admin, now)
            area = CITIES[customer.city[:-1]][1]
            people = _contacts(maker, customer, area)
            visits = _followups(maker, customer, people, kinds, now, today)
            rows.append((customer, people, visits))
    # Ids grow with created_at, as if the customers had been entered one by one.
    rows.sort(key=lambda row: row[0].created_at)
    customers = Customer.objects.bulk_create([row[0] for row in rows], batch_size=BATCH)

    contacts = Contact.objects.bulk_create(
        [
            Contact(
                tenant_id=tid,
                customer_id=customer.pk,
                created_by_id=customer.owner_id or admin.pk,
                **person,
            )
            for customer, people, _v in rows
            for person in people
        ],
        batch_size=BATCH,
    )
    contact_ids = iter(c.pk for c in contacts)
    followups = []
    for customer, people, visits in rows:
        ids = [next(contact_ids) for _p in people]
        author = customer.owner_id or rng.choice(reps).pk  # the pool's former owner
        for visit in visits:
            followups.append(
                FollowUp(
                    tenant_id=tid,
                    **owned_records.link(customer),
                    contact_id=ids[visit.pop("contact")],
                    counts_as="" if customer.deleted_at else customer.lifecycle,
                    created_by_id=author,
                    created_at=visit["followed_at"],
                    **visit,
                )
            )
    FollowUp.objects.bulk_create(followups, batch_size=BATCH)

    # Tags, stars, participants (half with edit rights), ownership events -----------------
    tags = Tag.objects.bulk_create(Tag(tenant_id=tid, name=n, color=c) for n, c in TAGS)
    links = CustomerTag.objects.bulk_create(
        [
            CustomerTag(tenant_id=tid, customer_id=customer.pk, tag_id=tag.pk)
            for customer in customers
            for tag in rng.sample(tags, rng.choices((0, 1, 2, 3), weights=(45, 35, 15, 5))[0])
        ],
        batch_size=BATCH,
    )
    stars = []
    for user in dict.fromkeys([*reps, admin]):
        own = [c for c in customers if c.owner_id == user.pk] or customers
        for customer in rng.sample(own, min(len(own), rng.randint(5, 12))):
            stars.append(CustomerStar(tenant_id=tid, customer_id=customer.pk, user_id=user.pk))
    CustomerStar.objects.bulk_create(stars, batch_size=BATCH)

    change = Permission.objects.get(content_type__app_label="customers", codename="change_customer")
    members = [
        u for u in users.values() if u.role and u.role.builtin in ("sales_rep", "sales_manager")
    ]
    owned = [c for c in customers if c.owner_id is not None]
    participants, grants = [], []
    for customer in rng.sample(owned, min(len(owned), len(customers) // 25)):
        others = [u for u in members if u.pk != customer.owner_id]
        for user in rng.sample(others, min(len(others), rng.choice((1, 1, 2)))):
            participants.append(
                CustomerParticipant(
                    tenant_id=tid,
                    customer_id=customer.pk,
                    user_id=user.pk,
                    added_by_id=customer.owner_id,
                    created_at=customer.created_at + datetime.timedelta(days=rng.randint(1, 30)),
                )
            )
            if rng.random() < 0.5:
                grants.append(
                    CustomerUserObjectPermission(
                        tenant_id=tid,
                        user_id=user.pk,
                        permission=change,
                        content_object_id=customer.pk,
                    )
                )
    CustomerParticipant.objects.bulk_create(participants, batch_size=BATCH)
    CustomerUserObjectPermission.objects.bulk_create(grants, batch_size=BATCH)

    OwnershipEvent.objects.bulk_create(
        (
            OwnershipEvent(
                tenant_id=tid,
                customer_id=customer.pk,
                kind=OwnershipEvent.Kind.CREATED,
                to_user_id=customer.owner_id,
                actor_id=customer.created_by_id,
                created_at=customer.created_at,
            )
            for customer in customers
        ),
        batch_size=BATCH,
    )
    _attr_history(tenant, maker.options[OptionKind.CUSTOMER_STATUS], customers, links, now)


def _attr_history(
    tenant: Tenant,
    statuses: list[Option],
    customers: list[Customer],
    links: list[CustomerTag],
    now: datetime.datetime,
) -> None:
    """The field-change events (R3, 增量/存量对比) and the became-signed ownership events
    that lead to each customer's data: its first values at creation (status 新建, its level,
    development, no deal, its tags), then its way through the statuses in order up to the
    one it has, mostly within the last 12 months; a signed customer reaches 成交 when it
    was signed. Its own random stream: the rest of the demo stays as it was."""
    rng = random.Random(f"{SEED}:{tenant.slug}:events")  # noqa: S311 (demo data)
    tid = tenant.pk
    order = {option.pk: index for index, option in enumerate(statuses)}
    tags_of: dict[int, list[int]] = {}
    for link in links:
        tags_of.setdefault(link.customer_id, []).append(link.tag_id)
    year_ago = now - datetime.timedelta(days=365)
    events, signings = [], []
    for customer in customers:
        created = customer.created_at
        common = {"tenant_id": tid, "customer_id": customer.pk, "owner_id": customer.owner_id}
        development = Customer.Lifecycle.DEVELOPMENT
        first = {
            "status": str(statuses[0].pk) if customer.status_id and statuses else "",
            "level": str(customer.level_id or ""),
            "deal_status": Customer.DealStatus.NONE,
            "lifecycle": development,
        }
        for field, value in first.items():
            if value:
                events.append(
                    CustomerAttrEvent(
                        field=field, new_value=value, lifecycle=development, at=created, **common
                    )
                )
        for tag_id in tags_of.get(customer.pk, []):
            at = created + datetime.timedelta(minutes=rng.randint(0, 60 * 24 * 30))
            events.append(
                CustomerAttrEvent(
                    field=CustomerAttrEvent.TAG,
                    new_value=str(tag_id),
                    lifecycle=development,
                    at=min(at, now),
                    **common,
                )
            )
        target = order.get(customer.status_id, 0)
        if target > 0:
            steps = [*sorted(rng.sample(range(1, target), rng.randint(0, target - 1))), target]
            start = max(created, year_ago)
            end = customer.signed_at or now
            if end <= start:  # signed more than a year ago: the way there was short
                start = created
            last = end if customer.signed_at else start + (end - start) * rng.uniform(0.5, 1)
            times = sorted(
                [*(start + (end - start) * rng.uniform(0.05, 0.95) for _s in steps[:-1]), last]
            )
            previous = 0
            for step, at in zip(steps, times, strict=True):
                events.append(
                    CustomerAttrEvent(
                        field="status",
                        old_value=str(statuses[previous].pk),
                        new_value=str(statuses[step].pk),
                        lifecycle=development,
                        at=at,
                        **common,
                    )
                )
                previous = step
        if customer.signed_at:
            signed = Customer.Lifecycle.SIGNED
            for field, old, new in (
                ("lifecycle", development, signed),
                ("deal_status", Customer.DealStatus.NONE, Customer.DealStatus.DEAL),
            ):
                events.append(
                    CustomerAttrEvent(
                        field=field,
                        old_value=old,
                        new_value=new,
                        lifecycle=signed,
                        at=customer.signed_at,
                        **common,
                    )
                )
            signings.append(
                OwnershipEvent(
                    tenant_id=tid,
                    customer_id=customer.pk,
                    kind=OwnershipEvent.Kind.BECAME_SIGNED,
                    from_user_id=customer.owner_id,
                    to_user_id=customer.owner_id,
                    lifecycle=development,
                    created_at=customer.signed_at,
                )
            )
    CustomerAttrEvent.objects.bulk_create(events, batch_size=BATCH)
    OwnershipEvent.objects.bulk_create(signings, batch_size=BATCH)


@register
def load_customers(tenant: Tenant, users: dict[str, User]) -> None:
    """``settings.DEMO_CUSTOMERS`` (default 2,000) sizes tenant ``demo``; ``other`` keeps
    the same proportions (a test may set it low to load faster)."""
    plan = PLANS.get(tenant.slug)
    if plan is None:
        return
    scale = getattr(settings, "DEMO_CUSTOMERS", DEMO_CUSTOMERS) / DEMO_CUSTOMERS
    plan = [(name, max(1, round(n * scale))) for name, n in plan if name is None or name in users]
    _load(tenant, users, plan)


# ---------------------------------------------------------------- the demo pool
# The demo pool (registered with :func:`crm.demo.register`; runs after the customers').
#
# Tenant ``demo``: the default pool (every member; recycle after 30 days without a follow-up or
# 180 without a deal, 60 days for level A customers; warning 5 days ahead; 20 claims a day)
# and 销售二部公海 (members: 销售二部; admin: manager1; only admins assign). The customers
# without an owner lie in the two pools with a return reason and a former owner; owned
# customers were taken over in the last 25 days, so a few are always about to be recycled
# (the workbench shows them) and none falls into the pool the moment the demo starts.


POOL_SEED = 20241111


@register
def load_pool(tenant: Tenant, users: dict[str, User]) -> None:
    if tenant.slug not in ("demo", "other"):
        return
    rng = random.Random(f"{POOL_SEED}:{tenant.slug}")  # noqa: S311 (demo data, not secrets)
    now = timezone.now()
    tid = tenant.pk
    default = default_group_for(tid, PoolGroup.Kind.CUSTOMER)
    default.recycle_no_followup_days = 30
    default.recycle_no_deal_days = 180
    default.warn_days = 5
    default.daily_claim_limit = 20
    default.cooldown_days = 7
    default.save()
    groups = [default]
    level_a = Option.objects.filter(tenant_id=tid, kind=OptionKind.CUSTOMER_LEVEL).first()
    if level_a is not None:
        PoolLevelRule.objects.get_or_create(
            tenant_id=tid,
            group=default,
            level=level_a,
            defaults={"no_followup_days": 60, "no_deal_days": 365},
        )
    dept = Department.objects.filter(tenant_id=tid, name="销售二部").first()
    if dept is not None:
        second, _created = PoolGroup.objects.get_or_create(
            tenant_id=tid,
            name="销售二部公海",
            defaults={
                "claim_mode": PoolGroup.ClaimMode.ADMIN,
                "recycle_no_followup_days": 45,
                "warn_days": 3,
                "hidden_fields": ["address", "contact_emails", "contact_phones"],
                "sort_order": 1,
            },
        )
        PoolGroupDepartment.objects.get_or_create(tenant_id=tid, group=second, department=dept)
        if "manager1" in users:
            PoolGroupUser.objects.get_or_create(
                tenant_id=tid, group=second, user=users["manager1"], defaults={"is_admin": True}
            )
        groups.append(second)

    fresh = Customer.objects.filter(tenant_id=tid, pool_group__isnull=True)
    owned = list(fresh.filter(owner__isnull=False).only("pk", "created_at"))
    for customer in owned:
        taken = now - datetime.timedelta(days=rng.randint(0, 25), hours=rng.randint(0, 23))
        customer.owned_since = max(customer.created_at, taken)
        customer.pool_group = default
    Customer.objects.bulk_update(owned, ["owned_since", "pool_group"], batch_size=500)

    reps = [u for name, u in users.items() if name.startswith(("rep", "other_rep"))] or list(
        users.values()
    )
    reasons = list(
        Option.objects.filter(tenant_id=tid, kind=OptionKind.POOL_RETURN_REASON).order_by(
            "sort_order"
        )
    )
    ownerless = list(fresh.filter(owner__isnull=True).order_by("pk"))
    events = []
    for i, customer in enumerate(ownerless):
        group = groups[i % len(groups)]
        customer.pool_group = group
        customer.previous_owner = rng.choice(reps)
        span = max(1, (now - customer.created_at).days)
        customer.pooled_at = now - datetime.timedelta(days=rng.randint(0, min(span, 90)))
        if rng.random() < 0.6 and reasons:
            reason = rng.choice(reasons)
            customer.pool_reason = PoolReason.RETURNED
            customer.pool_note = reason.label
            kind, actor, note = OwnershipEvent.Kind.RETURNED, customer.previous_owner, reason.label
        else:
            customer.pool_reason = PoolReason.RECYCLED_FOLLOWUP
            customer.pool_reason_days = group.recycle_no_followup_days or 30
            kind, actor, note = OwnershipEvent.Kind.RECYCLED, None, ""
        events.append(
            OwnershipEvent(
                tenant_id=tid,
                customer=customer,
                kind=kind,
                from_user=customer.previous_owner,
                actor=actor,
                note=note,
                pool_group=group,
                lifecycle=customer.lifecycle,
                created_at=customer.pooled_at,
            )
        )
    Customer.objects.bulk_update(
        ownerless,
        [
            "pool_group",
            "previous_owner",
            "pooled_at",
            "pool_reason",
            "pool_note",
            "pool_reason_days",
        ],
        batch_size=500,
    )
    OwnershipEvent.objects.bulk_create(events, batch_size=500)
    # Anything else without a group (none in a fresh demo) gets the default one.
    Customer.objects.filter(tenant_id=tid, pool_group__isnull=True).update(
        pool_group=default, owned_since=F("created_at")
    )


# ---------------------------------------------------------------- reminders
# Reminders within minutes of a fresh `make run` (customers/reminders.py; the beat job runs
# every minute): every rep has customers to follow up in 5, 10 and 20 minutes (reminded 15
# minutes before, so the first at once); the first rep has a contact whose birthday is today
# and one whose birthday is in 7 days (the week-ahead reminder, also at once). Runs after the
# pool's loader (which decides which customers stay owned).

REMINDER_MINUTES = (5, 10, 20)
BIRTHDAY_IN_DAYS = (0, 7)


@register
def load_reminders(tenant: Tenant, users: dict[str, User]) -> None:
    now = timezone.now()
    tid = tenant.pk
    reps = [u for name, u in sorted(users.items()) if name.startswith(("rep", "other_rep"))]
    owned_customers = Customer.objects.filter(tenant_id=tid).alive().outside_pool()
    for rep in reps:
        ids = owned_customers.filter(owner=rep).order_by("pk").values_list("pk", flat=True)
        for pk, minutes in zip(ids[: len(REMINDER_MINUTES)], REMINDER_MINUTES, strict=False):
            Customer.objects.filter(pk=pk).update(
                next_followup_at=now + datetime.timedelta(minutes=minutes)
            )
    if not reps:
        return
    today = timezone.localdate(now)
    contacts = Contact.objects.filter(
        tenant_id=tid, customer__in=owned_customers.filter(owner=reps[0])
    ).order_by("pk")[: len(BIRTHDAY_IN_DAYS)]
    for contact, days in zip(contacts, BIRTHDAY_IN_DAYS, strict=False):
        day = today + datetime.timedelta(days=days)
        contact.birthday = day.replace(year=1988)  # a leap year: 29 February exists
        contact.save(update_fields=["birthday"])
