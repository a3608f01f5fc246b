"""Demo leads (registered with :func:`crm.demo.register`; runs after the customers' and the
pool's loaders).

Tenant ``demo``: two campaigns (a spring trade show and an online campaign), about 300 leads
over rep1, rep2, rep3 and manager1 with follow-ups over the last three months, some closed
with a reason and some converted into the owner's customers, about 60 in the default lead
pool (recycling after 15 days without a follow-up), and one assignment rule that hands new
leads from 网络推广 to rep1 and rep2 in turn (10 a day each). Tenant ``other``: 30 leads.
Deterministic (a seeded ``random.Random``, times relative to now), written in bulk.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from crm.demo import register
from crm.models import Option, OptionKind, Tenant, User
from customers import owned as owned_records
from customers.models import Customer, FollowUp, PoolReason, normalize_name
from leads.models import AssignmentRule, AssignmentRuleUser, Campaign, Lead, LeadEvent
from pools.services import default_group_for

SEED = 20261204

# (username, how many leads they own); None: in the default lead pool.
PLANS: dict[str, list[tuple[str | None, int]]] = {
    "demo": [("rep1", 90), ("rep2", 70), ("rep3", 60), ("manager1", 20), (None, 60)],
    "other": [("other_rep", 20), (None, 10)],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明", "超"]
COMPANY_HEADS = ["湘江", "岳麓", "星城", "洞庭", "麓谷", "芙蓉", "天心", "雨花", "开福", "望城"]
COMPANY_TRADES = ["建设工程", "路桥工程", "物流", "矿业", "环卫服务", "机械租赁", "土石方", "农机"]
TITLES = ["总经理", "采购经理", "设备部长", "项目经理", "老板", "副总"]
PLACES = [
    ("湖南省", "长沙市", "岳麓区"),
    ("湖南省", "株洲市", "天元区"),
    ("湖南省", "湘潭市", "雨湖区"),
    ("湖北省", "武汉市", "洪山区"),
    ("江西省", "南昌市", "青山湖区"),
]
FOLLOWUPS = [
    "电话沟通，客户近期有采购计划，约下周上门拜访。",
    "加了微信，发送了产品资料和报价区间。",
    "客户在比较几家品牌，关注售后网点和配件价格。",
    "上门拜访，见到采购负责人，需求是两台中型挖掘机。",
    "展会上留的名片，回访确认了联系人和用车场景。",
]


@register
def load_leads(tenant: Tenant, users: dict[str, User]) -> None:
    if tenant.slug not in PLANS:
        return
    rng = random.Random(f"{SEED}:{tenant.slug}")  # noqa: S311 (demo data, not secrets)
    now = timezone.now()
    tid = tenant.pk
    pool = default_group_for(tid, kind="lead")
    pool.recycle_no_followup_days = 15
    pool.warn_days = 3
    pool.daily_claim_limit = 20
    pool.save()
    sources = list(Option.objects.filter(tenant_id=tid, kind=OptionKind.CUSTOMER_SOURCE))
    online = next((o for o in sources if o.label == "网络推广"), None)
    close_reasons = list(Option.objects.filter(tenant_id=tid, kind=OptionKind.LEAD_CLOSE_REASON))
    kinds = list(Option.objects.filter(tenant_id=tid, kind=OptionKind.FOLLOWUP_TYPE))
    today = timezone.localdate()
    campaigns = [
        Campaign.objects.create(
            tenant_id=tid,
            name="2026春季工程机械展",
            cost=Decimal("85000.00"),
            starts_on=today - datetime.timedelta(days=80),
            ends_on=today - datetime.timedelta(days=77),
            remark="长沙国际会展中心 E3 馆",
        ),
        Campaign.objects.create(
            tenant_id=tid,
            name="抖音线上推广",
            cost=Decimal("30000.00"),
            starts_on=today - datetime.timedelta(days=60),
            ends_on=today + datetime.timedelta(days=30),
        ),
    ]
    leads: list[Lead] = []
    for username, count in PLANS[tenant.slug]:
        owner = users.get(username) if username else None
        for _i in range(count):
            province, city, district = rng.choice(PLACES)
            created = now - datetime.timedelta(days=rng.randint(0, 90), minutes=rng.randint(0, 600))
            company = f"{city[:-1]}{rng.choice(COMPANY_HEADS)}{rng.choice(COMPANY_TRADES)}有限公司"
            lead = Lead(
                tenant_id=tid,
                owner=owner,
                created_by=owner or users.get("admin") or users.get("other_admin"),
                created_at=created,
                name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN]),
                company=company,
                company_normalized=normalize_name(company),
                mobile=f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}",
                title=rng.choice(TITLES),
                source=rng.choice(sources) if sources else None,
                campaign=rng.choice([None, *campaigns]),
                province=province,
                city=city,
                district=district,
            )
            if owner is None:
                lead.pool_group = pool
                lead.pooled_at = created + datetime.timedelta(days=rng.randint(0, 5))
                lead.pool_reason = PoolReason.CREATED
            else:
                lead.owned_since = created
                # Owned recently enough that nothing recycles the moment the demo starts.
                if (now - created).days > 12:
                    lead.owned_since = now - datetime.timedelta(days=rng.randint(1, 12))
                if rng.random() < 0.4:
                    lead.next_followup_at = now + datetime.timedelta(
                        days=rng.randint(-3, 10), hours=rng.randint(0, 8)
                    )
            leads.append(lead)
    Lead.objects.bulk_create(leads, batch_size=500)
    leads = list(Lead.objects.filter(tenant_id=tid).order_by("id"))
    followups, events = [], []
    for lead in leads:
        events.append(
            LeadEvent(
                tenant_id=tid,
                lead=lead,
                kind=LeadEvent.Kind.CREATED,
                to_user_id=lead.owner_id,
                actor_id=lead.created_by_id,
                pool_group=lead.pool_group,
                created_at=lead.created_at,
            )
        )
        if lead.owner_id is None or rng.random() < 0.3:
            continue
        last = None
        for _n in range(rng.randint(1, 3)):
            at = lead.created_at + datetime.timedelta(hours=rng.randint(2, 24 * 20))
            at = min(at, now)
            followups.append(
                FollowUp(
                    tenant_id=tid,
                    record=lead,
                    counts_as=FollowUp.LEAD,
                    kind=rng.choice(kinds) if kinds else None,
                    content=rng.choice(FOLLOWUPS),
                    followed_at=at,
                    created_by_id=lead.owner_id,
                    created_at=at,
                )
            )
            last = max(last or at, at)
        lead.last_followup_at = last
        lead.status = Lead.Status.CONTACTED
    FollowUp.objects.bulk_create(followups, batch_size=500)
    LeadEvent.objects.bulk_create(events, batch_size=500)
    # Some worked leads end closed (with a reason) or converted into the owner's customers.
    owned = [lead for lead in leads if lead.owner_id and lead.status == Lead.Status.CONTACTED]
    rng.shuffle(owned)
    closing, converting = len(owned) // 10, len(owned) // 10 + len(owned) // 7
    for lead in owned[:closing]:
        lead.status = Lead.Status.CLOSED
        lead.close_reason = rng.choice(close_reasons) if close_reasons else None
        lead.closed_at = now - datetime.timedelta(days=rng.randint(0, 20))
    customers_by_owner: dict[int, list[int]] = {}
    for cid, oid in Customer.objects.filter(tenant_id=tid, owner__isnull=False).values_list(
        "id", "owner_id"
    ):
        customers_by_owner.setdefault(oid, []).append(cid)
    converted = []
    for lead in owned[closing:converting]:
        choices = customers_by_owner.get(lead.owner_id)
        if not choices:
            continue
        lead.status = Lead.Status.CONVERTED
        lead.customer_id = rng.choice(choices)
        lead.converted_at = min(now, (lead.last_followup_at or now) + datetime.timedelta(days=2))
        lead.converted_by_id = lead.owner_id
        converted.append(lead)
    Lead.objects.bulk_update(
        leads,
        [
            "status",
            "last_followup_at",
            "close_reason",
            "closed_at",
            "customer",
            "converted_at",
            "converted_by",
        ],
        batch_size=500,
    )
    # A converted lead's follow-ups belong to its customer too (as lead_convert leaves them).
    FollowUp.objects.filter(owned_records.on_ids(Lead, [lead.pk for lead in converted])).update(
        customer_id=Subquery(
            Lead.objects.filter(pk=OuterRef("record_id")).values("customer_id")[:1]
        )
    )
    rep1, rep2 = users.get("rep1"), users.get("rep2")
    if online is not None and rep1 is not None and rep2 is not None:
        rule = AssignmentRule.objects.create(
            tenant_id=tid,
            name="网络推广线索轮流分配",
            source=online,
            daily_limit=10,
            holding_limit=150,
        )
        for position, user in enumerate([rep1, rep2]):
            AssignmentRuleUser.objects.create(
                tenant_id=tid, rule=rule, user=user, position=position
            )


# Reminders within minutes of a fresh `make run` (leads/reminders.py): each rep's first two
# open leads outside the pool are to be followed up in 8 and 25 minutes.
LEAD_REMINDER_MINUTES = (8, 25)


@register
def load_lead_reminders(tenant: Tenant, users: dict[str, User]) -> None:
    now = timezone.now()
    for name, rep in sorted(users.items()):
        if not name.startswith(("rep", "other_rep")):
            continue
        ids = (
            Lead.objects.filter(tenant_id=tenant.pk, owner=rep)
            .open()
            .outside_pool()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        minutes = LEAD_REMINDER_MINUTES
        for pk, later in zip(ids[: len(minutes)], minutes, strict=False):
            Lead.objects.filter(pk=pk).update(
                next_followup_at=now + datetime.timedelta(minutes=later)
            )
