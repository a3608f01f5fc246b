"""The contact columns of the customer import (issue 17 point 2): mobile and landline in
columns of their own (手机 + 电话, the usual pair of other CRMs' exports), e-mail and title,
a second contact (联系人2 …), the old single 联系电话 column still read as either kind, the
duplicate check by phone over every number of both contacts, and plans written before the
columns were split still applied."""

from __future__ import annotations

import orjson
import pytest
from django.core.files.base import ContentFile
from django_scopes import scopes_disabled

from crm import importing
from crm.importing import match_headers
from crm.models import ImportJob
from crm.spreadsheets import Sheet
from customers.importing import CustomerImporter
from customers.models import Contact, Customer
from tests.customers.factories import make_contact, make_customer
from tests.customers.test_import import confirm, customers, sheet, start


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _scope(world):
    from django.utils import translation

    from crm.tenancy import tenant_scope

    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        yield


def contacts_of(customer) -> list[tuple]:
    with scopes_disabled():
        return list(
            Contact.objects.filter(customer=customer)
            .order_by("pk")
            .values_list("name", "mobile", "phone", "email", "title")
        )


def test_mobile_and_landline_columns_are_the_contacts_mobile_and_landline(world):
    headers = ["客户名称", "联系人", "手机", "电话", "邮箱", "职务"]
    rows = [
        ["甲公司", "王经理", "138 0013 8000", "021-58881234", "wang@example.com", "采购经理"],
        ["乙公司", "", "", "0571-88886666", "", ""],
    ]
    job = start(world.admin_a, sheet(rows, headers=headers))
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert job.summary["create"] == 2 and job.summary["reject"] == 0
    confirm(world.admin_a, job)
    first, second = customers(world.tenant_a)
    assert contacts_of(first) == [
        ("王经理", "13800138000", "021-58881234", "wang@example.com", "采购经理")
    ]
    # A number without a name still makes a contact.
    assert contacts_of(second) == [("Contact", "", "0571-88886666", "", "")]


def test_the_header_pair_is_recognised_not_refused_as_a_repeated_column():
    columns = CustomerImporter().columns(0)
    mapping, unknown = match_headers(
        ["客户名称", "手机", "电话", "联系人2", "手机2", "电话2", "邮箱2", "职务2", "负责人"],
        columns,
    )
    assert mapping == {
        "name": 0,
        "contact_mobile": 1,
        "contact_phone": 2,
        "contact2_name": 3,
        "contact2_mobile": 4,
        "contact2_phone": 5,
        "contact2_email": 6,
        "contact2_title": 7,
        "owner": 8,
    }
    assert unknown == []
    mapping, _unknown = match_headers(["客户名称", "移动电话", "固定电话", "Email"], columns)
    assert mapping == {"name": 0, "contact_mobile": 1, "contact_phone": 2, "contact_email": 3}


def test_a_second_contact_is_created_beside_the_first(world):
    headers = ["客户名称", "联系人", "手机", "联系人2", "手机2", "电话2", "职务2"]
    rows = [
        ["甲公司", "王经理", "13800138000", "李工", "13900139000", "010-66668888", "技术总监"],
        ["乙公司", "赵总", "13700137000", "", "", "", ""],
    ]
    confirm(world.admin_a, start(world.admin_a, sheet(rows, headers=headers)))
    first, second = customers(world.tenant_a)
    assert contacts_of(first) == [
        ("王经理", "13800138000", "", "", ""),
        ("李工", "13900139000", "010-66668888", "", "技术总监"),
    ]
    assert contacts_of(second) == [("赵总", "13700137000", "", "", "")]


def test_the_old_single_phone_column_holds_either_kind_of_number(world):
    headers = ["客户名称", "联系人", "联系电话"]
    rows = [["甲公司", "王经理", "13800138000"], ["乙公司", "李工", "021-5888 1234"]]
    confirm(world.admin_a, start(world.admin_a, sheet(rows, headers=headers)))
    first, second = customers(world.tenant_a)
    assert contacts_of(first) == [("王经理", "13800138000", "", "", "")]
    assert contacts_of(second) == [("李工", "", "021-58881234", "", "")]


def test_bad_cells_of_the_contact_columns_reject_their_row_with_the_reason(world):
    headers = ["客户名称", "手机", "邮箱", "电话2"]
    rows = [
        ["甲公司", "021-58881234", "", ""],  # a landline is not a mobile number
        ["乙公司", "", "not-an-email", ""],
        ["丙公司", "", "", "12345"],
        ["丁公司", "13800138000", "ding@example.com", "010-66668888"],
    ]
    job = start(world.admin_a, sheet(rows, headers=headers))
    assert (job.summary["create"], job.summary["reject"]) == (1, 3)
    reasons = dict(job.summary["rejected_preview"])
    assert "not a mobile number" in reasons[2]
    assert "not an email address" in reasons[3]
    assert "not a phone number" in reasons[4]


@pytest.mark.parametrize("keys", ["phone", "either"])
def test_duplicates_by_phone_look_at_every_number_of_both_contacts(world, keys):
    existing = make_customer(world.tenant_a, world.rep_east, "老客户")
    make_contact(existing, "张三", mobile="13600136000", phone="0755-12345678")
    headers = ["客户名称", "手机", "电话", "手机2", "电话2"]
    rows = [
        ["新名字一", "", "", "", "0755-12345678"],  # the landline of the second contact
        ["新名字二", "", "", "13600136000", ""],  # the mobile of the second contact
        ["新名字三", "13500135000", "", "", ""],  # new
        ["新名字四", "", "", "", "13500135000"],  # repeats row 4's number
    ]
    job = start(world.admin_a, sheet(rows, headers=headers), duplicate_keys=keys)
    assert job.summary["create"] == 1
    assert job.summary["skip"] == 2
    assert job.summary["reject"] == 1
    assert "row 4" in job.summary["rejected_preview"][0][1]
    confirm(world.admin_a, job)
    assert [c.name for c in customers(world.tenant_a, import_job=job)] == ["新名字三"]


def test_an_overwrite_adds_only_contacts_whose_numbers_are_new(world):
    existing = make_customer(world.tenant_a, world.admin_a, "老客户")
    make_contact(existing, "张三", mobile="13600136000")
    headers = ["客户名称", "联系人", "手机", "联系人2", "电话2"]
    rows = [["老客户", "张三", "13600136000", "李四", "0755-12345678"]]
    job = start(world.admin_a, sheet(rows, headers=headers), duplicate_mode="overwrite")
    assert job.summary["update"] == 1
    confirm(world.admin_a, job)
    assert contacts_of(existing) == [
        ("张三", "13600136000", "", "", ""),
        ("李四", "", "0755-12345678", "", ""),
    ]
    # Undo removes the contact the import added.
    importing.import_undo(actor=world.admin_a, job=job)
    assert contacts_of(existing) == [("张三", "13600136000", "", "", "")]


def test_columns_mapped_by_hand_work_as_recognised_ones(world):
    """The mapping step (job.options["mapping"]) may send any column to any key."""
    importer = CustomerImporter()
    with scopes_disabled():
        job = ImportJob.objects.create(
            tenant=world.tenant_a,
            kind="customers",
            created_by=world.admin_a,
            original_name="x.xlsx",
            options={
                "target": "users",
                "users": [world.rep_east.pk],
                "distribution": "even",
                "duplicate_mode": "skip",
                "duplicate_keys": "either",
            },
        )
    data = Sheet(
        headers=["公司", "第二个人", "他的手机", "他的邮箱", "他的座机"],
        header_row=1,
        rows=[(2, ["甲公司", "李工", "13900139000", "li@example.com", "010-66668888"])],
        raw_headers=["公司", "第二个人", "他的手机", "他的邮箱", "他的座机"],
    )
    mapping = {
        "name": 0,
        "contact2_name": 1,
        "contact2_mobile": 2,
        "contact2_email": 3,
        "contact2_phone": 4,
    }
    plan = importer.check(job, data, mapping, lambda *a: None)
    assert plan.rejected == []
    ((row_no, action, owner, values),) = plan.rows
    assert (row_no, action, owner) == (2, "create", world.rep_east.pk)
    assert values["contact2_mobile"] == "13900139000"
    assert values["contact2_phone"] == "010-66668888"
    assert values["contact2_email"] == "li@example.com"


def test_a_plan_checked_before_the_split_still_applies_and_undoes(world):
    """A job previewed before this release holds plan rows with the old keys: its
    contact_phone may be a mobile number or a landline."""
    job = start(world.admin_a, sheet([["占位", "", "", "", "", ""]]))
    old_rows = [
        [2, "create", None, {"name": "旧甲", "contact_name": "王", "contact_phone": "13800138000"}],
        [
            3,
            "create",
            None,
            {"name": "旧乙", "contact_phone": "021-58881234", "contact_title": "经理"},
        ],
    ]
    with scopes_disabled():
        job.plan.save("plan.json", ContentFile(orjson.dumps(old_rows)), save=False)
        job.summary = {**job.summary, "create": 2}
        job.save()
    job = confirm(world.admin_a, job)
    assert job.status == ImportJob.Status.DONE, job.message
    first, second = customers(world.tenant_a, import_job=job)
    assert contacts_of(first) == [("王", "13800138000", "", "", "")]
    assert contacts_of(second) == [("Contact", "", "021-58881234", "", "经理")]
    report = importing.import_undo(actor=world.admin_a, job=job)
    assert report["removed"] == 2
    with scopes_disabled():
        assert not Customer.objects.filter(import_job=job).exists()
        assert not Contact.objects.filter(customer__name__in=["旧甲", "旧乙"]).exists()
