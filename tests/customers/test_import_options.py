"""Option values by what people write (issue 17 point 4): level, source, industry and status
matched by the tenant's labels and their common spellings (A / A级 / A类 / 重点客户 /
A（重点客户）, full-width and half-width, case and spaces folded); an unknown value rejected
row by row with the allowed values, or, with 添加到选项列表 (``add_options``), added to the
tenant's list when the import is applied (never by the check), and removed again by the
undo if nothing uses it."""

from __future__ import annotations

import pytest
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing
from crm.models import ImportJob, Option, OptionKind
from crm.tenancy import tenant_scope
from customers.importing import OptionMatcher
from customers.models import Customer
from tests.customers.factories import make_customer
from tests.customers.test_import import confirm, customers, sheet, start

HEADERS = ["客户名称", "客户级别", "客户来源", "所属行业", "客户状态"]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _scope(world):
    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        yield


def option_id(world, kind, label) -> int:
    with scopes_disabled():
        return Option.objects.get(tenant=world.tenant_a, kind=kind, label=label).pk


def labels(world, kind) -> list[str]:
    with scopes_disabled():
        return list(
            Option.objects.filter(tenant=world.tenant_a, kind=kind)
            .order_by("sort_order", "pk")
            .values_list("label", flat=True)
        )


@pytest.mark.parametrize(
    "written",
    ["A", "A级", "A类", "a级客户", "A（重点客户）", "A(重点客户)", "重点客户", "Ａ", " a "],
)
def test_the_spellings_of_a_level_name_the_same_option(world, written):
    job = start(world.admin_a, sheet([["甲公司", written, "", "", ""]], headers=HEADERS))
    assert (job.summary["create"], job.summary["reject"]) == (1, 0), job.summary
    confirm(world.admin_a, job)
    (made,) = customers(world.tenant_a)
    assert made.level_id == option_id(world, OptionKind.CUSTOMER_LEVEL, "A（重点客户）")


def test_every_choice_column_is_matched_folded(world):
    rows = [["甲公司", "b级", "展会", "制造业", " 意向 "]]
    confirm(world.admin_a, start(world.admin_a, sheet(rows, headers=HEADERS)))
    (made,) = customers(world.tenant_a)
    assert made.level_id == option_id(world, OptionKind.CUSTOMER_LEVEL, "B（普通客户）")
    assert made.source_id == option_id(world, OptionKind.CUSTOMER_SOURCE, "展会")
    assert made.industry_id == option_id(world, OptionKind.INDUSTRY, "制造业")
    assert made.status_id == option_id(world, OptionKind.CUSTOMER_STATUS, "意向")


def test_a_short_spelling_two_options_share_names_neither():
    matcher = OptionMatcher(
        [(1, "A（重点客户）", True), (2, "A（老客户）", True), (3, "VIP", True)]
    )
    assert matcher("A（老客户）") == 2
    assert matcher("重点客户") == 1
    assert matcher("vip") == 3
    with pytest.raises(ValueError, match="not one of the allowed values"):
        matcher("A")


def test_unknown_values_are_rejected_row_by_row_with_the_allowed_labels(world):
    rows = [["甲公司", "S级", "", "", ""], ["乙公司", "A", "", "", ""]]
    job = start(world.admin_a, sheet(rows, headers=HEADERS))
    assert (job.summary["create"], job.summary["reject"]) == (1, 1)
    ((row, reason),) = job.summary["rejected_preview"]
    assert row == 2 and "“S级”" in reason and "A（重点客户）" in reason
    assert "new_options" not in job.summary


def test_a_deactivated_option_is_refused_even_when_adding(world):
    with scopes_disabled():
        Option.objects.filter(
            tenant=world.tenant_a, kind=OptionKind.CUSTOMER_SOURCE, label="广告"
        ).update(is_active=False)
    rows = [["甲公司", "", "广告", "", ""]]
    job = start(world.admin_a, sheet(rows, headers=HEADERS), add_options=True)
    assert job.summary["reject"] == 1
    assert "no longer in use" in job.summary["rejected_preview"][0][1]


def test_added_options_are_created_on_apply_only_and_undone_if_unused(world):
    before = labels(world, OptionKind.CUSTOMER_SOURCE)
    rows = [
        ["甲公司", "S级", "抖音", "", ""],
        ["乙公司", "", "抖音 ", "", ""],
        ["丙公司", "", "ＷＥＣＨＡＴ", "", ""],
        ["丁公司", "", "wechat", "", ""],
        ["戊公司", "A", "展会", "", ""],
    ]
    job = start(world.admin_a, sheet(rows, headers=HEADERS), add_options=True)
    assert (job.summary["create"], job.summary["reject"]) == (5, 0)
    assert job.summary["new_options"] == {"level": ["S级"], "source": ["抖音", "WECHAT"]}
    # The check writes nothing.
    assert labels(world, OptionKind.CUSTOMER_SOURCE) == before
    assert "S级" not in labels(world, OptionKind.CUSTOMER_LEVEL)

    job = confirm(world.admin_a, job)
    assert job.status == ImportJob.Status.DONE, job.message
    assert labels(world, OptionKind.CUSTOMER_SOURCE) == [*before, "抖音", "WECHAT"]
    douyin = option_id(world, OptionKind.CUSTOMER_SOURCE, "抖音")
    by_name = {c.name: c for c in customers(world.tenant_a)}
    assert by_name["甲公司"].source_id == by_name["乙公司"].source_id == douyin
    assert by_name["丙公司"].source_id == by_name["丁公司"].source_id
    assert by_name["甲公司"].level_id == option_id(world, OptionKind.CUSTOMER_LEVEL, "S级")
    assert len(job.summary["created_options"]) == 3

    # Someone else uses 抖音 meanwhile: the undo keeps it, removes the others.
    other = make_customer(world.tenant_a, world.rep_east, "别人的客户")
    with scopes_disabled():
        Customer.objects.filter(pk=other.pk).update(source_id=douyin)
    report = importing.import_undo(actor=world.admin_a, job=job)
    assert report["removed"] == 5 and report["options_removed"] == 2
    assert labels(world, OptionKind.CUSTOMER_SOURCE) == [*before, "抖音"]
    assert "S级" not in labels(world, OptionKind.CUSTOMER_LEVEL)


def test_a_refused_file_adds_no_option(world):
    # Every row rejected (no name): nothing to add, nothing written.
    rows = [["", "S级", "抖音", "", ""]]
    job = start(world.admin_a, sheet(rows, headers=HEADERS), add_options=True)
    assert job.summary["create"] == 0 and "new_options" not in job.summary
    importing.import_cancel(actor=world.admin_a, job=job)
    assert "抖音" not in labels(world, OptionKind.CUSTOMER_SOURCE)


def test_adding_is_not_repeated_when_the_apply_resumes(world):
    rows = [["甲公司", "", "抖音", "", ""]]
    job = start(world.admin_a, sheet(rows, headers=HEADERS), add_options=True)
    importer = importing.importer_for("customers")
    importer.prepare_apply(job)
    importer.prepare_apply(job)  # a resumed apply runs it again
    with scopes_disabled():
        job.refresh_from_db()
        assert Option.objects.filter(tenant=world.tenant_a, label="抖音").count() == 1
    assert len(job.summary["created_options"]) == 1
    assert job.summary["new_option_ids"]["source"]["抖音"] == job.summary["created_options"][0]
