"""The activity log reads as Chinese sentences (issue 16 §6, crm.activity_words): every
registered action rendered with a representative payload shows no raw key or English value;
a new value reads "设为 …" (no struck-out dash), import and export counters and an export's
filters read as words, and masked values stay masked."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.template.loader import render_to_string
from django.utils import translation

from crm import activity, activity_words, masking
from crm.models import (
    ActivityLog,
    Delivery,
    Department,
    ExportJob,
    ImportJob,
    Option,
    ReminderPreference,
    Role,
    Tenant,
    User,
    Webhook,
)
from crm.services import USER_FIELDS
from customers.models import Contact, Customer
from customers.services import CONTACT_FIELDS, CUSTOMER_FIELDS
from leads.assignment import RULE_FIELDS
from leads.campaigns import CAMPAIGN_FIELDS
from leads.models import AssignmentRule, Campaign, Lead
from leads.services import LEAD_FIELDS
from opportunities.models import (
    Opportunity,
    OpportunitySettings,
    OpportunityStage,
    Product,
    ProductCategory,
)
from opportunities.services.products import PRODUCT_FIELDS
from pools.models import PoolGroup
from pools.services import GROUP_FIELDS_BY_KIND

pytestmark = pytest.mark.django_db


def _sample_value(model: type[models.Model], name: str) -> str:
    """A value as a snapshot stores it, the awkward way: raw choice keys, English booleans,
    ISO dates and times."""
    try:
        field = model._meta.get_field(name)
    except Exception:
        return "示例值"
    if getattr(field, "choices", None):
        return str(field.choices[-1][0])
    if isinstance(field, models.BooleanField):
        return "Yes"
    if isinstance(field, models.DateTimeField):
        return "2026-11-24 02:30:00+00:00"
    if isinstance(field, models.DateField):
        return "2026-11-24"
    if isinstance(field, models.IntegerField | models.DecimalField):
        return "3"
    return "示例值"


def _diff(model, names) -> dict[str, list[str]]:
    return {name: ["旧值", _sample_value(model, name)] for name in names}


def _new(model, names) -> dict[str, list[str]]:
    return {name: ["", _sample_value(model, name)] for name in names}


EXPORT_QUERY = "view=all&q=华东&status=999999&lifecycle=x&is_locked=true&created_after=2026-01-01&page=2&sort=-created&unknown_key=1"  # noqa: E501

# Every registered action with a representative payload, as its service records it.
SAMPLES: dict[str, tuple[type[models.Model], dict]] = {
    "department.created": (Department, {"parent": ["", "华东大区"]}),
    "department.renamed": (Department, _diff(Department, ["name", "leader"])),
    "department.moved": (Department, {"parent": ["华东大区", "华南大区"]}),
    "department.disabled": (Department, {}),
    "department.enabled": (Department, {}),
    "user.created": (User, _new(User, USER_FIELDS)),
    "user.updated": (User, _diff(User, USER_FIELDS)),
    "user.deactivated": (User, {}),
    "user.activated": (User, {}),
    "user.password_reset": (User, {}),
    "user.password_changed": (User, {}),
    "role.created": (Role, {}),
    "role.updated": (Role, _diff(Role, ["name", "permissions", "data_scope", "description"])),
    "role.deleted": (Role, {}),
    "option.created": (Option, {}),
    "option.updated": (Option, {"label": ["甲", "乙"], "is_active": ["Yes", "No"]}),
    "import.applied": (
        ImportJob,
        {k: ["", "2"] for k in ("created", "updated", "skipped", "failed")},
    ),
    "import.undone": (ImportJob, {k: ["", "1"] for k in ("removed", "restored", "kept")}),
    "export.created": (
        ExportJob,
        {
            "kind": ["", "customers"],
            "row_count": ["", 12],
            "selected": ["", 3],
            "query": ["", EXPORT_QUERY],
        },
    ),
    "customer.created": (Customer, {}),
    "customer.updated": (Customer, {**_diff(Customer, CUSTOMER_FIELDS), "tags": ["甲", "乙"]}),
    "customer.transferred": (Customer, {"owner": ["张三", "李四"]}),
    "customer.locked": (Customer, {}),
    "customer.unlocked": (Customer, {}),
    "customer.tagged": (Customer, {"tags": ["甲", "甲、乙"]}),
    "customer.participants": (Customer, {"participants": ["", "张三、李四"]}),
    "customer.trashed": (Customer, {}),
    "customer.restored": (Customer, {}),
    "customer.purged": (Customer, {}),
    "customer.merged": (Customer, {"merged": ["", "甲公司、乙公司"]}),
    "customer.signed": (Customer, {}),
    "customer.back_to_development": (Customer, {}),
    "contact.created": (Customer, {"contact": ["", "王五"]}),
    "contact.updated": (Customer, _diff(Contact, CONTACT_FIELDS)),
    "contact.deleted": (Customer, {"contact": ["王五", ""]}),
    "followup.created": (Customer, {}),
    "followup.commented": (Customer, {}),
    "attachment.added": (Customer, {"file": ["", "报价单"]}),
    "attachment.deleted": (Customer, {"file": ["报价单", ""]}),
    "lead.created": (Lead, {}),
    "lead.updated": (Lead, {**_diff(Lead, LEAD_FIELDS), "status": ["新建", "已联系"]}),
    "lead.transferred": (Lead, {"owner": ["张三", "李四"]}),
    "lead.status": (Lead, {"status": ["新建", "已联系"]}),
    "lead.closed": (Lead, {"close_reason": ["", "无购买意向"]}),
    "lead.reopened": (Lead, {}),
    "lead.auto_assigned": (Lead, {"owner": ["", "张三"]}),
    "lead.converted": (Lead, {"customer": ["", "武汉宏图"]}),
    "campaign.saved": (Campaign, _diff(Campaign, CAMPAIGN_FIELDS)),
    "campaign.deleted": (Campaign, {}),
    "assignment_rule.saved": (
        AssignmentRule,
        {**_diff(AssignmentRule, RULE_FIELDS), "users": ["张三", "张三、李四"]},
    ),
    "assignment_rule.deleted": (AssignmentRule, {}),
    "customer.from_lead": (Customer, {"lead": ["", "李经理"]}),
    "customer.lead_merged": (Customer, {"lead": ["", "李经理"]}),
    "pool.claimed": (Customer, {}),
    "pool.assigned": (Lead, {"owner": ["", "张三"]}),
    "pool.returned": (Customer, {"owner": ["张三", ""]}),
    "pool.recycled": (Lead, {"owner": ["张三", ""]}),
    "pool.moved": (Customer, {"pool_group": ["华东公海", "华南公海"]}),
    "pool.initialized": (Customer, {}),
    "pool_group.created": (PoolGroup, {}),
    "pool_group.updated": (
        PoolGroup,
        _diff(
            PoolGroup, sorted({*GROUP_FIELDS_BY_KIND["customer"], *GROUP_FIELDS_BY_KIND["lead"]})
        ),
    ),
    "pool_group.deleted": (PoolGroup, {}),
    "reminder_preference.updated": (
        ReminderPreference,
        {
            **_diff(ReminderPreference, ["minutes_before"]),
            "quiet_start": ["22:00", "21:30"],
            "quiet_end": ["08:00", ""],
            "off": ["", "客户跟进提醒 · 群机器人、联系人生日 · 每日邮件摘要"],
        },
    ),
    "tenant.reminders_updated": (
        Tenant,
        _diff(Tenant, ["followup_overdue_escalation_days", "time_zone"]),
    ),
    "webhook.saved": (
        Webhook,
        {
            **_diff(Webhook, ["provider", "is_active"]),
            "url": ["", "示例值"],
            "department": ["", "华东组"],
            "secret": ["***", "***"],
        },
    ),
    "webhook.deleted": (Webhook, {"user": ["", "张三"]}),
    "delivery.retried": (Delivery, {}),
    "opportunity.created": (Opportunity, {}),
    "opportunity.updated": (
        Opportunity,
        {
            **_diff(
                Opportunity,
                [
                    "name",
                    "budget",
                    "amount",
                    "expected_close_date",
                    "probability",
                    "commit",
                    "next_followup_at",
                    "remark",
                    "primary_contact",
                ],
            ),
            "customer": ["甲客户", "乙客户"],
        },
    ),
    "opportunity.stage": (Opportunity, {"stage": ["初步接洽", "需求确定"]}),
    "opportunity.won": (Opportunity, {"stage": ["谈判/合同", "赢单"]}),
    "opportunity.lost": (
        Opportunity,
        {"stage": ["谈判/合同", "输单"], "lost_reason": ["", "价格太高"]},
    ),
    "opportunity.reopened": (Opportunity, {"stage": ["输单", "方案/报价"]}),
    "opportunity.transferred": (Opportunity, {"owner": ["张三", "李四"]}),
    "opportunity.lines": (Opportunity, {"lines": ["", "电动叉车 × 2 @ 85000.00"]}),
    "opportunity.contacts": (
        Opportunity,
        {"contact": ["", "王总（决策人）"], "primary": ["", "王总"]},
    ),
    "opportunity.participants": (Opportunity, {"participants": ["", "张三"]}),
    "opportunity.deleted": (Customer, {"opportunity": ["", "三台叉车"]}),
    "opportunity_stage.created": (OpportunityStage, {}),
    "opportunity_stage.updated": (
        OpportunityStage,
        {
            **_diff(
                OpportunityStage,
                ["name", "probability", "allow_rollback_open", "allow_reopen", "is_active"],
            ),
            "sort": ["10", "20"],
        },
    ),
    "opportunity_stage.deleted": (OpportunityStage, {"name": ["试用", ""]}),
    "opportunity_settings.updated": (
        OpportunitySettings,
        _diff(OpportunitySettings, ["stage_mode", "probability_override"]),
    ),
    "product_category.created": (ProductCategory, {"parent": ["", "叉车"]}),
    "product_category.renamed": (ProductCategory, _diff(ProductCategory, ["name", "sort"])),
    "product_category.moved": (ProductCategory, {"parent": ["叉车", "仓储设备"]}),
    "product_category.deleted": (ProductCategory, {}),
    "product.created": (Product, {}),
    "product.updated": (Product, _diff(Product, PRODUCT_FIELDS)),
    "product.status": (Product, {"status": ["上架", "下架"]}),
    "product.stock": (Product, {"stock": ["5", "3"], "note": ["", "盘点"]}),
    "product.deleted": (Product, {}),
    "product.image_added": (Product, {"file": ["", "照片"]}),
    "product.image_deleted": (Product, {"file": ["照片", ""]}),
    "product.imported": (Product, {"row": ["", "2"], "file": ["", "产品表"]}),
}


def _entry(world, action: str, model, changes: dict) -> ActivityLog:
    return ActivityLog(
        tenant_id=world.tenant_a.pk,
        actor=None,
        content_type=ContentType.objects.get_for_model(model),
        object_id=1,
        object_repr="示例记录",
        action=action,
        changes=changes,
        note="",
    )


def _text(entries, **context) -> str:
    with translation.override("zh-hans"):
        out = render_to_string("components/activity_timeline.html", {"entries": entries, **context})
    return html.unescape(re.sub(r"<[^>]+>", " ", out))


def test_every_registered_action_has_a_sample():
    assert set(activity.registered_actions()) - set(SAMPLES) == set(), (
        "add a representative payload for each new action to SAMPLES"
    )


@pytest.mark.parametrize("action", sorted(activity.registered_actions()))
def test_every_action_reads_without_raw_keys(world, action):
    model, changes = SAMPLES[action]
    text = _text([_entry(world, action, model, changes)], show_object=True)
    raw = re.findall(r"[A-Za-z_][A-Za-z0-9_=.\-]*", text)
    assert raw == [], f"{action}: raw text {raw} in {text!r}"
    for key in changes:
        assert key not in text


def test_a_new_value_reads_as_set_to_not_a_struck_out_dash(world):
    entry = _entry(world, "user.updated", User, {"title": ["", "销售经理"], "email": ["a", ""]})
    with translation.override("zh-hans"):
        out = render_to_string("components/activity_timeline.html", {"entries": [entry]})
    text = html.unescape(re.sub(r"<[^>]+>", "", out))
    assert "<del>" not in out
    assert "—" not in text
    assert "设为 销售经理" in text
    assert "清空" in text and "原为 a" in text


def test_a_change_shows_old_struck_and_new(world):
    entry = _entry(world, "department.renamed", Department, {"name": ["华东", "华东组"]})
    with translation.override("zh-hans"):
        out = render_to_string("components/activity_timeline.html", {"entries": [entry]})
    assert "<del>华东</del>" in out and "<ins>华东组</ins>" in out


def test_import_counters(world):
    model, changes = SAMPLES["import.applied"]
    changes = {
        "created": ["", "5"],
        "updated": ["", "1"],
        "skipped": ["", "0"],
        "failed": ["", "2"],
    }
    text = _text([_entry(world, "import.applied", model, changes)])
    assert "新增 5 条 · 更新 1 条 · 跳过 0 条 · 失败 2 条" in text


def test_export_reads_kind_rows_and_filters(world, as_user):
    with translation.override("zh-hans"):
        status = Option.objects.create(
            tenant_id=world.tenant_a.pk, kind="customer_status", label="测试状态甲"
        )
    query = f"view=all&q=华东&status={status.pk}&is_locked=true&created_after=2026-01-05&page=3"
    entry = _entry(
        world,
        "export.created",
        ExportJob,
        {"kind": ["", "customers"], "row_count": ["", 12], "query": ["", query]},
    )
    text = _text([entry], show_object=True)
    assert "客户导出" in text
    assert "共 12 行" in text
    assert "视图：全部" in text
    assert "关键词：华东" in text
    assert "状态：测试状态甲" in text
    assert "是" in text
    assert "2026-01-05" in text
    assert "page" not in text and "view=" not in text


def test_another_tenants_row_is_not_named_by_a_filter(world):
    other = Option.objects.create(
        tenant_id=world.tenant_b.pk, kind="customer_status", label="乙方状态"
    )
    lines = activity_words.query_conditions("customers", world.tenant_a.pk, f"status={other.pk}")
    assert "乙方状态" not in str(lines)


def test_choice_values_read_as_labels(world):
    field = Lead._meta.get_field("status")
    raw, label = field.choices[0]
    with translation.override("zh-hans"):
        assert activity_words.value_text(raw, field) == str(label)
        with translation.override("en"):
            english = str(label)
        assert activity_words.value_text(english, field) == str(label)


def test_lead_conversion_reads_as_source_lead(world):
    entry = _entry(world, "customer.from_lead", Customer, {"lead": ["", "李经理"]})
    assert "来源线索：李经理" in _text([entry])


def test_masked_values_stay_masked(world, monkeypatch):
    """The timeline masks first (crm.masking.mask_activity); the words show the mask."""
    entry = _entry(world, "customer.updated", Customer, {"address": ["旧地址甲", "新地址乙"]})
    monkeypatch.setattr(masking, "hidden_paths", lambda user, obj: frozenset({"address"}))
    monkeypatch.setattr(masking, "rules_for", lambda model: ())
    [masked] = masking.mask_activity(world.rep_east, Customer(pk=1), [entry])
    text = _text([masked])
    assert "旧地址甲" not in text and "新地址乙" not in text
    assert "***" in text


# ---------------------------------------------------------------- the pages


def _zh(client):
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


@pytest.fixture
def east_pool(world):
    from tests.pools.factories import make_group

    return make_group(
        world.tenant_a,
        "华东公海",
        departments=[world.east],
        admins=[world.manager_sales],
        hidden_fields=["address", "contact_phones"],
    )


def _log(actor, target, action, changes):
    from django_scopes import scopes_disabled

    with scopes_disabled():
        return activity.activity_record(actor=actor, target=target, action=action, changes=changes)


def test_my_recent_activity_reads_in_chinese_and_stays_masked(world, east_pool, as_user):
    from tests.pools.factories import pooled

    customer = pooled(east_pool, "池中客户")
    _log(world.rep_east, customer, "customer.updated", {"address": ["", "掩码旧地址丙"]})
    _log(world.rep_east, customer, "contact.updated", {"mobile": ["", "13987651234"]})
    _log(world.rep_east, customer, "contact.created", {"contact": ["", "赵六"]})
    page = _zh(as_user(world.rep_east)).get("/").content.decode()
    assert "掩码旧地址丙" not in page and "13987651234" not in page
    assert "***" in page
    assert "联系人：赵六" in page
    assert "customer.updated" not in page and "contact:" not in page


def test_audit_log_reads_counters_and_masks_for_its_viewer(world, east_pool, as_user):
    from crm import selectors
    from tests.pools.factories import pooled

    customer = pooled(east_pool, "池中客户")
    _log(world.admin_a, customer, "customer.updated", {"address": ["", "掩码旧地址丁"]})
    page = _zh(as_user(world.admin_a)).get("/settings/audit/").content.decode()
    assert "掩码旧地址丁" in page  # the tenant admin manages the pools: nothing hidden
    assert "地址：设为 掩码旧地址丁" in html.unescape(re.sub(r"<[^>]+>", "", page))
    from crm.tenancy import tenant_scope

    with tenant_scope(world.tenant_a.pk):
        entries = selectors.activity_masked(
            actor=world.rep_east, entries=selectors.activity_list(actor=world.admin_a)
        )
    [entry] = [e for e in entries if e.action == "customer.updated"]
    assert entry.changes == {"address": ["***", "***"]}


def test_an_action_no_module_registers_reads_without_its_code(world):
    text = _text([_entry(world, "gone.action", Customer, {})])
    assert "gone" not in text and "修改了记录" in text


def test_masking_a_page_of_entries_costs_no_query_per_record(world, east_pool):
    """The audit log and 我的最近操作 mask their entries per record in bulk (masking.prepare):
    the queries do not grow with the number of pooled records on the page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm import selectors
    from crm.tenancy import tenant_scope
    from tests.pools.factories import pooled

    def queries_for(count: int) -> int:
        for i in range(count):
            customer = pooled(east_pool, f"池中客户{count}-{i}")
            _log(world.admin_a, customer, "customer.updated", {"address": ["", f"地址{i}"]})
        with tenant_scope(world.tenant_a.pk):
            entries = list(selectors.activity_list(actor=world.admin_a))
            with CaptureQueriesContext(connection) as queries:
                masked = selectors.activity_masked(actor=world.rep_east, entries=entries)
        assert all(e.changes == {"address": ["***", "***"]} for e in masked)
        return len(queries)

    few = queries_for(2)
    assert queries_for(10) <= few


def test_a_follow_up_export_names_its_people_in_one_query_and_marks_the_gone(
    world, django_assert_num_queries
):
    ids = [world.rep_east.pk, world.rep_west.pk, world.rep_east2.pk, world.rep_b.pk, 999999]
    query = "&".join(f"person={pk}" for pk in ids)
    with translation.override("zh-hans"), django_assert_num_queries(1):
        lines = activity_words.query_conditions("followups", world.tenant_a.pk, query)
    [(label, text)] = lines
    assert label == "跟进人"
    assert "rep_east" in text and "rep_west" in text and "rep_east2" in text
    # Another tenant's user reads as gone, like a deleted one (never named).
    assert "rep_b" not in text
    assert text.count("（已删除）") == 2, text
