"""The lead import gets what the customer import got in issue 17: the phone columns as other
systems name them (手机 + 电话, an old single 联系电话 holding either kind), the owner column
as a target, and the source matched by its spellings or added on request."""

from __future__ import annotations

import pytest
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing
from crm.models import DataScope, ImportJob, Notification, Option, OptionKind
from crm.tenancy import tenant_scope
from tests.factories import make_role
from tests.leads.factories import make_campaign
from tests.leads.test_import import confirm, leads, sheet, start


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _scope(world):
    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        yield


def to_users(actor, data, **options):
    options.setdefault("target", "users")
    if options["target"] == "users":
        options.setdefault("users", [actor.pk])
    return start(actor, data, **options)


def test_mobile_and_landline_columns_and_the_old_single_column(world):
    rows = [["王经理", "13800138000", "021-58881234"], ["李工", "", "0571-88886666"]]
    job = to_users(world.admin_a, sheet(rows, headers=["姓名", "手机", "电话"]))
    assert (job.summary["create"], job.summary["reject"]) == (2, 0), job.summary
    confirm(world.admin_a, job)
    assert [(lead.mobile, lead.phone) for lead in leads(world.tenant_a)] == [
        ("13800138000", "021-58881234"),
        ("", "0571-88886666"),
    ]


def test_a_mobile_number_in_the_phone_column_is_the_mobile_and_counts_as_a_duplicate(world):
    first = to_users(
        world.admin_a, sheet([["王经理", "138 0013 8000"]], headers=["姓名", "联系电话"])
    )
    confirm(world.admin_a, first)
    (lead,) = leads(world.tenant_a)
    assert (lead.mobile, lead.phone) == ("13800138000", "")
    # The same number again, now in a 手机 column: the same lead.
    again = to_users(world.admin_a, sheet([["王", "13800138000"]], headers=["姓名", "手机"]))
    assert again.summary["skip"] == 1 and again.summary["create"] == 0
    importing.import_cancel(actor=world.admin_a, job=again)


def test_leads_imported_by_owner_column(world):
    role = make_role(world.tenant_a, "线索导入", DataScope.DEPARTMENT_AND_BELOW, ["lead.import"])
    with scopes_disabled():
        world.manager_sales.role = role
        world.manager_sales.save(update_fields=["role"])
    rows = [
        ["王经理", "甲公司", "rep_east"],
        ["李工", "乙公司", "13700000003"],  # rep_east's mobile
        ["赵总", "丙公司", "service_a"],  # outside the manager's scope
        ["钱总", "丁公司", "rep_west"],
    ]
    job = start(
        world.manager_sales, sheet(rows, headers=["姓名", "公司名称", "负责人"]), target="owner"
    )
    assert (job.summary["create"], job.summary["reject"]) == (3, 1)
    assert "outside your data scope" in job.summary["rejected_preview"][0][1]
    job = confirm(world.manager_sales, job)
    assert {lead.name: lead.owner_id for lead in leads(world.tenant_a)} == {
        "王经理": world.rep_east.pk,
        "李工": world.rep_east.pk,
        "钱总": world.rep_west.pk,
    }
    assert all(lead.pooled_at is None for lead in leads(world.tenant_a))
    with scopes_disabled():
        told = Notification.objects.filter(recipient__in=[world.rep_east, world.rep_west])
        assert sorted(n.recipient_id for n in told) == sorted(
            [world.rep_east.pk, world.rep_west.pk]
        )
    report = importing.import_undo(actor=world.manager_sales, job=job)
    assert report["removed"] == 3


def test_the_owner_target_needs_an_owner_column(world):
    job = start(
        world.admin_a, sheet([["王经理", "甲公司"]], headers=["姓名", "公司"]), target="owner"
    )
    assert "Owner" in job.message and not job.plan
    assert leads(world.tenant_a) == []


def test_the_source_is_matched_folded_and_added_on_request(world):
    make_campaign(world.tenant_a, "2026 春季展")
    headers = ["姓名", "来源", "市场活动"]
    rows = [["王经理", " 展 会 ", "2026春季展"], ["李工", "抖音", ""], ["赵总", "", "秋季展"]]
    job = to_users(world.admin_a, sheet(rows, headers=headers))
    assert (job.summary["create"], job.summary["reject"]) == (1, 2)
    with scopes_disabled():
        assert not Option.objects.filter(tenant=world.tenant_a, label="抖音").exists()
    importing.import_cancel(actor=world.admin_a, job=job)

    # Added on request: the source, never a campaign (not an option list).
    job = to_users(world.admin_a, sheet(rows, headers=headers), add_options=True)
    assert (job.summary["create"], job.summary["reject"]) == (2, 1)
    assert job.summary["new_options"] == {"source": ["抖音"]}
    with scopes_disabled():
        assert not Option.objects.filter(tenant=world.tenant_a, label="抖音").exists()
    job = confirm(world.admin_a, job)
    with scopes_disabled():
        douyin = Option.objects.get(
            tenant=world.tenant_a, kind=OptionKind.CUSTOMER_SOURCE, label="抖音"
        )
    by_name = {lead.name: lead for lead in leads(world.tenant_a)}
    assert by_name["李工"].source_id == douyin.pk
    assert by_name["王经理"].campaign.name == "2026 春季展"
    importing.import_undo(actor=world.admin_a, job=job)
    with scopes_disabled():
        assert not Option.objects.filter(pk=douyin.pk).exists()
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.UNDONE
