"""The import corpus (tests/import_corpus, issue 17): sheets shaped like other systems' exports
and hand-made lists. (a) The reader finds each one's sheet, header row, cleaned headers and
rows, merged cells filled; the headers map to the expected columns. (b) The customer import
check gives each one's counts, and writes nothing on any refusal."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing
from crm.exceptions import ServiceError
from crm.models import ImportJob
from crm.spreadsheets import FormulaWithoutValueError, SpreadsheetError, clean_header, read_sheet
from customers.importing import CustomerImporter
from customers.models import Contact, Customer
from pools.services import default_group_for
from tests.import_corpus import BY_ID, CORPUS

READABLE = [entry for entry in CORPUS if entry.header_row]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def customer_columns():
    return CustomerImporter().columns(0)


def read(entry):
    columns = customer_columns()
    return read_sheet(
        entry.data,
        entry.file_name,
        known_headers=importing._known_headers(columns),
        max_rows=1000,
    )


# --- (a) the reader ---------------------------------------------------------------------


@pytest.mark.parametrize("entry", READABLE, ids=[e.id for e in READABLE])
def test_reader_finds_the_sheet_the_header_and_the_rows(entry):
    sheet = read(entry)
    assert sheet.sheet_name == entry.sheet_name
    assert sheet.header_row == entry.header_row
    assert sheet.headers == entry.headers
    assert len(sheet.rows) == entry.rows
    if entry.first_column is not None:
        assert [cells[0] for _number, cells in sheet.rows] == entry.first_column


@pytest.mark.parametrize("entry", READABLE, ids=[e.id for e in READABLE])
def test_headers_map_to_the_expected_columns(entry):
    sheet = read(entry)
    mapping, unknown = importing.match_headers(sheet.headers, customer_columns())
    assert set(mapping) == entry.keys
    assert len(mapping) + len(unknown) == len([h for h in sheet.headers if h])


WANTED = [entry for entry in READABLE if entry.wanted]


@pytest.mark.parametrize("entry", WANTED, ids=[e.id for e in WANTED])
def test_other_systems_names_map_too(entry):
    sheet = read(entry)
    mapping, _unknown = importing.match_headers(sheet.headers, customer_columns())
    assert entry.wanted <= set(mapping)


def test_damaged_file_is_refused_by_the_reader():
    with pytest.raises(SpreadsheetError) as caught:
        read(BY_ID["damaged"])
    assert caught.value.code == "damaged"


def test_merged_owner_fills_the_contact_rows_too():
    sheet = read(BY_ID["merged_cells"])
    assert [cells[3] for _number, cells in sheet.rows] == ["rep_east"] * 4


def test_no_two_columns_answer_to_the_same_cleaned_header():
    # clean_header strips notes: two names of different columns must not become one.
    from leads.importing import LeadImporter

    for importer in (CustomerImporter(), LeadImporter()):
        owners: dict[str, str] = {}
        for column in importer.columns(0):
            names = {str(column.label), *column.aliases}
            for language in ("en", "zh-hans"):
                with translation.override(language):
                    names.add(str(column.label))
            for name in names:
                key = clean_header(name).casefold()
                assert owners.setdefault(key, column.key) == column.key, (name, column.key)


# --- (b) the customer import check, end to end --------------------------------------------


@pytest.fixture
def scoped(world, settings, tmp_path):
    from crm.tenancy import tenant_scope

    settings.MEDIA_ROOT = tmp_path / "media"
    with tenant_scope(world.tenant_a.pk):
        yield world


def start(actor, entry) -> ImportJob:
    options = {"target": "pool", **entry.options}
    if options["target"] == "pool":
        options["pool_group"] = default_group_for(actor.tenant_id, "customer").pk
    upload = SimpleUploadedFile(entry.file_name, entry.data)
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = importing.import_start(
            actor=actor, kind=ImportJob.Kind.CUSTOMERS, upload=upload, options=options
        )
    job.refresh_from_db()
    return job


def written(tenant) -> tuple[int, int]:
    with scopes_disabled():
        return (
            Customer.objects.filter(tenant=tenant).count(),
            Contact.objects.filter(tenant=tenant).count(),
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "entry",
    list(CORPUS),
    ids=[e.id for e in CORPUS],
)
def test_customer_import_check_gives_the_counts_and_writes_nothing_before_confirm(scoped, entry):
    before = written(scoped.tenant_a)
    job = start(scoped.admin_a, entry)
    assert written(scoped.tenant_a) == before  # the check writes no customer, no contact
    if entry.refusal:
        assert entry.refusal in job.message
        if job.status != ImportJob.Status.FAILED:
            # Held at the mapping step: confirming is refused until a column is chosen.
            assert job.status == ImportJob.Status.PREVIEWED
            assert job.summary["mapping_errors"] == [job.message]
            with pytest.raises(ServiceError):
                importing.import_confirm(actor=scoped.admin_a, job=job)
        assert written(scoped.tenant_a) == before
        return
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    summary = job.summary
    assert {key: summary[key] for key in entry.counts} == entry.counts, summary.get(
        "rejected_preview"
    )
    assert summary["header_row"] == entry.header_row


@pytest.mark.django_db
def test_formula_without_value_is_the_rows_reason(scoped):
    job = start(scoped.admin_a, BY_ID["formula_without_value"])
    reasons = dict(job.summary["rejected_preview"])
    assert str(FormulaWithoutValueError()) in reasons[3]


@pytest.mark.django_db
def test_the_sheet_read_is_named_in_the_summary(scoped):
    job = start(scoped.admin_a, BY_ID["instruction_sheet_first"])
    assert job.summary["sheet"] == "客户信息"


@pytest.mark.django_db
def test_both_phone_columns_reach_the_contact(scoped):
    job = start(scoped.admin_a, BY_ID["both_phones"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        importing.import_confirm(actor=scoped.admin_a, job=job)
    with scopes_disabled():
        contact = Contact.objects.get(tenant=scoped.tenant_a, customer__name="成都双号示例有限公司")
    assert (contact.name, contact.mobile, contact.phone) == (
        "陈经理",
        "13800138021",
        "028-85556666",
    )
    assert (contact.email, contact.title) == ("chen@example.com", "采购经理")
