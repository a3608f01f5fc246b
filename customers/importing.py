"""The customer import (导入客户, DESIGN §8): columns, targets, duplicate handling, and how a
checked row is written. The job's life (upload, preview, confirm, progress, undo) is
``crm.importing``; this module is what is specific to customers.

Targets: a pool group (the customers lie in its pool, contact details hidden by its
rules), one or more employees, or a department's active members (sub-departments
included), with even (平均, round-robin in file order) or random (随机) distribution. The
owner of every new row is decided when the file is checked and stored in the plan, so a
resumed or repeated apply gives the same result.

Duplicates are found by the normalised name and/or any contact phone, within the file
(a later row repeating an earlier one is rejected) and against the whole tenant, pool
included (a few ``IN`` queries per 1,000 rows, never one per row). Modes, as the sales
teams know them (seed 003 §3.2.2):

* ``skip`` (不导入): a duplicate is skipped, new rows are created;
* ``overwrite`` (覆盖导入): a duplicate is overwritten by the columns in the file (an empty
  cell clears the field), new rows are created; owner and pool group are never changed;
* ``update_only`` (仅覆盖重复数据): duplicates are overwritten, nothing new is created.

Whatever the mode, a duplicate the importer may not edit (its owner outside their data
scope and no edit grant; a pooled customer of a group they do not administer, unless their
scope is ``all``) is skipped as 已存在，归属他人 without its name, and never written: the
check decides it set-based (``crm.importing.records_in_reach``), and each batch decides it
again when it is written, for the creator of the job as they are then.
"""

from __future__ import annotations

import datetime
import random
import re
import unicodedata
from collections import defaultdict
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import importing
from crm.bulk import Prepared, insert_prepared, insert_rows, last_id, prepare_rows
from crm.exceptions import ServiceError
from crm.importing import Column, Importer, Plan, owner_column, records_in_reach
from crm.models import Department, ImportJob, Option, OptionKind, User
from crm.phones import MOBILE_RE, mobile_digits, phone_digits
from customers import events as attr_log
from customers.models import (
    Contact,
    Customer,
    CustomerAttrEvent,
    CustomerImportChange,
    CustomerTag,
    OwnershipEvent,
    PoolReason,
    Tag,
    normalize_name,
    normalize_names,
)

TARGET_POOL = "pool"
TARGET_USERS = "users"
TARGET_DEPARTMENT = "department"
# Each row's owner from the file's owner column (负责人).
TARGET_OWNER = "owner"
MODES = ("skip", "overwrite", "update_only")
KEYS = ("name", "phone", "either")
# A next follow-up given as a date only is due at this hour.
DATE_ONLY_HOUR = 9

_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

COLUMNS = [
    Column(
        "name",
        gettext_lazy("Customer name"),
        required=True,
        max_length=200,
        aliases=("客户", "公司名称", "企业名称", "单位名称", "Company", "Customer"),
        sample="上海示例机械有限公司",
    ),
    Column(
        "contact_name",
        gettext_lazy("Contact name"),
        max_length=50,
        aliases=("联系人", "联系人姓名", "姓名", "Contact", "Contact person"),
        sample="王经理",
    ),
    Column(
        "contact_mobile",
        gettext_lazy("Contact mobile"),
        kind="mobile",
        aliases=("手机", "手机号", "手机号码", "移动电话", "联系人手机", "Mobile"),
        sample="13800138000",
    ),
    # The landline; an old sheet's single 联系电话 / 联系方式 column holds either kind of
    # number: a mobile number in it goes to the contact's mobile (when that is empty).
    Column(
        "contact_phone",
        gettext_lazy("Contact phone"),
        kind="phone",
        aliases=(
            "电话",
            "座机",
            "固话",
            "固定电话",
            "办公电话",
            "联系电话",
            "联系方式",
            "联系人电话",
            "总机",
            "Telephone",
            "Phone",
        ),
        sample="021-58881234",
    ),
    Column(
        "contact_email",
        gettext_lazy("Contact email"),
        kind="email",
        aliases=("邮箱", "电子邮箱", "邮件", "联系人邮箱", "Email", "E-mail"),
    ),
    Column(
        "contact_title",
        gettext_lazy("Contact job title"),
        max_length=50,
        aliases=("职务", "职位", "联系人职务", "联系人职位", "Title"),
        sample="采购经理",
    ),
    Column(
        "contact2_name",
        gettext_lazy("Second contact name"),
        max_length=50,
        aliases=("联系人2", "联系人2姓名", "第二联系人", "联系人（二）", "联系人(2)", "Contact 2"),
    ),
    Column(
        "contact2_mobile",
        gettext_lazy("Second contact mobile"),
        kind="mobile",
        aliases=(
            "手机2",
            "联系人2手机",
            "第二联系人手机",
            "手机（二）",
            "联系人（二）手机",
            "Mobile 2",
        ),
    ),
    Column(
        "contact2_phone",
        gettext_lazy("Second contact phone"),
        kind="phone",
        aliases=(
            "电话2",
            "座机2",
            "联系电话2",
            "联系人2电话",
            "第二联系人电话",
            "电话（二）",
            "联系人（二）电话",
            "Phone 2",
        ),
    ),
    Column(
        "contact2_email",
        gettext_lazy("Second contact email"),
        kind="email",
        aliases=("邮箱2", "联系人2邮箱", "第二联系人邮箱", "邮箱（二）", "联系人（二）邮箱"),
    ),
    Column(
        "contact2_title",
        gettext_lazy("Second contact job title"),
        max_length=50,
        aliases=("职务2", "职位2", "联系人2职务", "联系人2职位", "职务（二）", "联系人（二）职务"),
    ),
    owner_column(
        "客户负责人", "客户所有人", help=gettext_lazy("The owner's full name, username or mobile.")
    ),
    Column(
        "legal_representative",
        gettext_lazy("Legal representative"),
        max_length=50,
        aliases=("法人", "法定代表人", "法人代表", "经营者"),
    ),
    Column(
        "credit_code",
        gettext_lazy("Unified social credit code"),
        kind="credit_code",
        aliases=("信用代码", "税号"),
    ),
    Column("industry", gettext_lazy("Industry"), kind="choice", aliases=("所属行业", "行业")),
    Column("level", gettext_lazy("Customer level"), kind="choice", aliases=("级别", "客户等级")),
    Column("source", gettext_lazy("Customer source"), kind="choice", aliases=("来源",)),
    Column("status", gettext_lazy("Customer status"), kind="choice", aliases=("状态",)),
    Column("province", gettext_lazy("Province"), max_length=20, aliases=("省", "省份")),
    Column("city", gettext_lazy("City"), max_length=20, aliases=("市", "城市")),
    Column("district", gettext_lazy("District"), max_length=20, aliases=("区", "区县", "县区")),
    Column(
        "address",
        gettext_lazy("Address"),
        max_length=200,
        aliases=("地址", "详细地址", "公司地址"),
        sample="上海市浦东新区张江路 100 号",
    ),
    Column("products", gettext_lazy("Products"), max_length=200, aliases=("产品", "主营产品")),
    Column("raw_materials", gettext_lazy("Raw materials"), max_length=200, aliases=("原材料",)),
    Column("bank_name", gettext_lazy("Bank"), max_length=100, aliases=("开户行", "开户银行")),
    Column("bank_account", gettext_lazy("Bank account"), max_length=40, aliases=("银行账号",)),
    Column(
        "next_followup_at",
        gettext_lazy("Next follow-up"),
        kind="datetime",
        aliases=("下次跟进时间", "下次联系时间"),
        sample="2026-12-01",
    ),
    Column("tags", gettext_lazy("Tags"), kind="tags", aliases=("标签",)),
    Column("remark", gettext_lazy("Remark"), kind="text", aliases=("备注", "说明")),
]
CHOICE_KINDS = {
    "industry": OptionKind.INDUSTRY,
    "level": OptionKind.CUSTOMER_LEVEL,
    "source": OptionKind.CUSTOMER_SOURCE,
    "status": OptionKind.CUSTOMER_STATUS,
}
# The columns of a row's contacts (the first, then the second), by Contact field.
CONTACT_COLUMNS = (
    {
        "name": "contact_name",
        "mobile": "contact_mobile",
        "phone": "contact_phone",
        "email": "contact_email",
        "title": "contact_title",
    },
    {
        "name": "contact2_name",
        "mobile": "contact2_mobile",
        "phone": "contact2_phone",
        "email": "contact2_email",
        "title": "contact2_title",
    },
)
# The number columns, which the duplicate check by phone looks at.
PHONE_KEYS = ("contact_mobile", "contact_phone", "contact2_mobile", "contact2_phone")
# Customer fields an overwrite writes (the columns of the file among them).
CUSTOMER_KEYS = [
    c.key
    for c in COLUMNS
    if c.key not in {"tags", "owner", *CONTACT_COLUMNS[0].values(), *CONTACT_COLUMNS[1].values()}
]


def fold_name(value: str) -> str:
    """A name as duplicates are compared in a file (case and spaces ignored); the lead
    importer folds its companies the same way."""
    return value.casefold().replace(" ", "")


class CustomerImporter(Importer):
    kind = ImportJob.Kind.CUSTOMERS
    model = Customer
    permission = "customer.import"
    label = gettext_lazy("Customers")

    @property
    def batch_size(self) -> int:
        """Rows per transaction: the progress bar moves and a restart resumes per batch.
        PERF: on PostgreSQL each batch costs a few round trips and a commit whatever its
        size, and COPY streams it: 10,000 rows (about a second) per batch."""
        return 10_000 if connection.vendor == "postgresql" else 2000

    def columns(self, tenant_id: int) -> list[Column]:
        return distinct_names(COLUMNS)

    def required_keys(self, job: ImportJob) -> set[str]:
        """The columns the job's options require besides the always required ones: the
        owner column when importing by owner (the mapping step may ask for it)."""
        return {"owner"} if job.options.get("target") == TARGET_OWNER else set()

    def parallel_apply(self, rows: list[list]) -> bool:
        """Batches are independent unless two rows update the same customer (by name one,
        by phone the other): the later row must then be written last, as it is one batch
        after the other."""
        updated = [r[2] for r in rows if r[1] == "update"]
        return len(updated) == len(set(updated))

    def merge_state(self, summary: dict, state: dict) -> None:
        """The watermarks of batches written at once: the higher of each."""
        if "watermark" in state:
            old = summary.get("watermark") or (0, 0)
            new = state["watermark"]
            summary["watermark"] = [max(old[0], new[0]), max(old[1], new[1])]
        merge_notified(summary, state)

    def _options(self, tenant_id: int) -> dict[str, list[Option]]:
        """The options of the choice columns, the deactivated ones too (a value naming one is
        refused, never added again)."""
        found: dict[str, list[Option]] = defaultdict(list)
        kinds = {kind: key for key, kind in CHOICE_KINDS.items()}
        for option in Option.objects.filter(tenant_id=tenant_id, kind__in=list(kinds)):
            found[kinds[option.kind]].append(option)
        return found

    def choices(self, tenant_id: int) -> dict[str, list[str]]:
        return {
            key: [o.label for o in opts if o.is_active]
            for key, opts in self._options(tenant_id).items()
        }

    def prepare_apply(self, job: ImportJob) -> None:
        """The option values the check found new (with 添加到选项列表 ticked) are added to
        the tenant's lists before the first batch."""
        create_new_options(job, CHOICE_KINDS)

    # ------------------------------------------------------------ options

    def clean_options(self, actor: User, data: dict) -> dict:
        from pools.models import PoolGroup

        return clean_target_options(
            actor,
            data,
            keys=KEYS,
            pool_kind=PoolGroup.Kind.CUSTOMER,
            no_pool=_("Choose the pool group to import into."),
            no_target=_("Choose where the customers go: a pool, employees or a department."),
        )

    # ------------------------------------------------------------ check

    def prefetch(self, job: ImportJob, size: int) -> dict:
        """The highest customer and contact ids, then, for a file large enough to have
        more than WHOLE_TENANT_KEYS rows, every name and phone of the tenant (read while the
        file is parsed). What exists now is what the duplicate check sees; applying looks
        only above these ids for customers and contacts that appear in between."""
        from django.db.models import Max

        tenant_id = job.tenant_id
        found: dict = {
            "watermark": [
                Customer.objects.filter(tenant_id=tenant_id).aggregate(m=Max("pk"))["m"] or 0,
                Contact.objects.filter(tenant_id=tenant_id).aggregate(m=Max("pk"))["m"] or 0,
            ]
        }
        if size > WHOLE_TENANT_BYTES:
            keys = job.options["duplicate_keys"]
            if keys in ("name", "either"):
                found["names"] = _tenant_names(tenant_id)
            if keys in ("phone", "either"):
                found["phones"] = _tenant_phones(tenant_id)
        return found

    def check(
        self, job: ImportJob, sheet, mapping: dict[str, int], progress, prefetched=None
    ) -> Plan:
        from crm.spreadsheets import (
            FormulaWithoutValueError,
            cell_date,
            cell_texts,
            formula_positions,
        )

        tenant_id = job.tenant_id
        options = job.options
        by_owner = options["target"] == TARGET_OWNER
        if by_owner and "owner" not in mapping:
            raise ServiceError(owner_column_missing(), code="missing_columns")
        plan = Plan()
        prefetched = prefetched or self.prefetch(job, size=0)
        plan.state["watermark"] = prefetched["watermark"]
        # PERF: the option lists and the owners are read once and looked up in dicts; each
        # distinct cell text is matched once (the matchers remember it).
        found = self._options(tenant_id)
        add = bool(options.get("add_options"))
        lookups = {
            key: OptionMatcher([(o.pk, o.label, o.is_active) for o in found.get(key, ())], add=add)
            for key in CHOICE_KINDS
        }
        if by_owner:
            lookups["owner"] = OwnerMatcher(job.created_by)
        labels = {c.key: str(c.label) for c in COLUMNS}
        by_name = options["duplicate_keys"] in ("name", "either")
        by_phone = options["duplicate_keys"] in ("phone", "either")
        rows = sheet.rows
        # PERF: cleaned column by column (crm.spreadsheets.cell_texts checks a clean column
        # as one string), then planned row by row. Messages keep the columns' order.
        cleaned: dict[str, list] = {}
        errors: dict[int, list[str]] = defaultdict(list)
        for column in COLUMNS:
            if column.key not in mapping or (column.key == "owner" and not by_owner):
                continue
            position = mapping[column.key]
            label = labels[column.key]
            texts = cell_texts([cells[position] for _row_no, cells in rows])
            for index in formula_positions(texts):
                errors[index].append(f"{label}: {FormulaWithoutValueError()}")
            if column.kind == "text":
                if column.max_length is not None and max(map(len, texts)) > column.max_length:
                    too_long = _("longer than %(max)d characters.") % {"max": column.max_length}
                    for index, text in enumerate(texts):
                        if len(text) > column.max_length:
                            errors[index].append(f"{label}: {too_long}")
                cleaned[column.key] = texts
                continue
            values = texts[:]
            numbers = column.kind in ("phone", "mobile")
            for index, text in enumerate(texts):
                if numbers and (
                    not text or (len(text) == 11 and text.isascii() and MOBILE_RE.match(text))
                ):
                    continue  # PERF: empty, or a mobile number in its normal form already
                try:
                    values[index] = self._clean_cell(column, text, lookups)
                except ValueError as exc:
                    errors[index].append(f"{label}: {exc}")
                    values[index] = None
            cleaned[column.key] = values
        names = cleaned["name"]
        name_keys = normalize_names(names)
        if "next_followup_at" in cleaned:
            position = mapping["next_followup_at"]
            moments = cleaned["next_followup_at"]
            for index, text in enumerate(moments):
                if not text:
                    moments[index] = None
                    continue
                try:
                    moments[index] = aware_text(cell_date(rows[index][1][position]))
                except ValueError as exc:
                    errors[index].append(f"{labels['next_followup_at']}: {exc}")
        required = _("%(column)s is required.") % {"column": labels["name"]}
        # Every number of the row's contacts counts for the duplicate check by phone: one
        # column gives the key as it is, several a tuple of the row's numbers.
        phone_lists = [cleaned[k] for k in PHONE_KEYS if k in cleaned] if by_phone else []
        single_phone = phone_lists[0] if len(phone_lists) == 1 else None
        keys = list(cleaned)
        seen = SeenRows()
        good: list[tuple[int, dict, str, str | tuple, list]] = []
        for index, row in enumerate(zip(*cleaned.values(), strict=True)):
            if index % 5000 == 0 and index:
                progress(index)
            row_no, cells = rows[index]
            if index in errors or not names[index]:
                reason = "；".join(errors[index]) if index in errors else required
                plan.rejected.append((row_no, as_uploaded(cells), reason))
                continue
            values = dict(zip(keys, row, strict=True))
            name_key = name_keys[index] if by_name else ""
            if single_phone is not None:
                phone_key = single_phone[index] or ""
            elif phone_lists:
                numbers = tuple(dict.fromkeys(p for p in (c[index] for c in phone_lists) if p))
                phone_key = numbers[0] if len(numbers) == 1 else numbers
            else:
                phone_key = ""
            earlier = seen.repeats(row_no, name_key, phone_key)
            if earlier is not None:
                plan.rejected.append(
                    (
                        row_no,
                        as_uploaded(cells),
                        _("The same customer as row %(row)d of this file.") % {"row": earlier},
                    )
                )
                continue
            good.append((row_no, values, name_key, phone_key, cells))
        progress(len(sheet.rows))
        name_hits = _name_matches(
            tenant_id, {g[2] for g in good if g[2]}, prefetched.pop("names", None)
        )
        phone_keys = {g[3] for g in good if g[3]}
        several = {k for k in phone_keys if type(k) is tuple}
        phone_hits = _phone_matches(
            tenant_id,
            (phone_keys - several).union(*several),
            prefetched.pop("phones", None),
        )
        for numbers in several:
            ids = set().union(*(phone_hits.get(p, ()) for p in numbers))
            if ids:
                phone_hits[numbers] = sorted(ids)
        matched_ids = set().union(*name_hits.values(), *phone_hits.values())
        plan_matched_rows(
            plan,
            job,
            good,
            (name_hits, phone_hits),
            _existing(job, matched_ids),
            refused="locked",
            no_match=_("No existing customer matches it."),
            several=_("It matches several customers (%(names)s); fix the row or merge them."),
            refusal=_("The customer %(name)s is locked."),
        )
        plan_new_options(plan, lookups, CHOICE_KINDS)
        return plan

    def _clean_cell(self, column: Column, text: str, lookups):
        """A cell of a column other than plain text, from its cleaned text (the datetime
        columns are parsed from the raw cell afterwards). ``lookups``: the matchers of the
        choice columns and of the owner column, by column key."""
        if column.kind == "datetime":
            return text
        if column.kind in ("phone", "mobile"):
            return clean_number(column.kind, text)
        if column.kind == "email":
            return clean_email(text)
        if column.kind == "owner":
            return lookups["owner"](text)
        if column.kind == "choice":
            if not text:
                return None
            return lookups[column.key](text)
        if column.kind == "tags":
            names = (t.strip()[:30] for t in re.split(r"[,，、;；/]+", text))
            return list(dict.fromkeys(n for n in names if n))[:10]
        if column.kind == "credit_code":
            if text and not _CREDIT_CODE.match(text.upper()):
                raise ValueError(
                    _("“%(value)s” is not an 18-character credit code.") % {"value": text}
                )
            return text.upper()
        raise ValueError(f"unknown column kind {column.kind!r}")

    # ------------------------------------------------------------ apply

    def apply(self, job: ImportJob, rows: list[list]) -> dict:
        now = timezone.now()
        creates = [r for r in rows if r[1] == "create"]
        updates = [r for r in rows if r[1] == "update"]
        result = {"created": 0, "updated": 0, "skipped": 0, "failed": 0, "errors": []}
        # The plan holds the names as typed; folded here, a batch at once (normalize_names).
        for row, key in zip(creates, normalize_names([r[3]["name"] for r in creates]), strict=True):
            row[3]["name_normalized"] = key
        creates = self._drop_late_duplicates(job, creates, result)
        creates = self._within_holding_limit(job, creates, result)
        tags = self._tags(job, [r for r in creates + updates if r[3].get("tags")])
        if creates:
            top_customer, top_contact = self._create(job, creates, tags, now)
            result["created"] = len(creates)
            # The next batch need not read this batch's own rows again.
            watermark = result["state"]["watermark"]
            result["state"]["watermark"] = [
                max(watermark[0], top_customer),
                max(watermark[1], top_contact),
            ]
        if updates:
            self._update(job, updates, tags, now, result)
        if creates and job.options["target"] != TARGET_POOL:
            notify_owners(
                job,
                {r[2] for r in creates},
                result,
                _("%(name)s imported customers for you from “%(file)s”"),
                self.result_link(job),
            )
        return result

    def _drop_late_duplicates(self, job, creates, result):
        """Rows checked as new whose customer someone created since the check are skipped."""
        options = job.options
        names = (
            {_name_key(r[3]) for r in creates}
            if options["duplicate_keys"] in ("name", "either")
            else set()
        )
        phones = (
            {p for r in creates for p in _row_phones(r[3])}
            if options["duplicate_keys"] in ("phone", "either")
            else set()
        )
        # Only what appeared since the check can collide now (the preview saw the rest):
        # rows above the watermark (the highest customer and contact ids seen so far, kept
        # in the job's summary and moved past each batch's own rows), created by anyone but
        # this import. Two short index range reads per batch.
        last_customer, last_contact = job.summary.get("watermark") or (0, 0)
        taken_names: set[str] = set()
        for pk, name, source, deleted in Customer.objects.filter(
            tenant_id=job.tenant_id, pk__gt=last_customer
        ).values_list("pk", "name_normalized", "import_job_id", "deleted_at"):
            last_customer = max(last_customer, pk)
            if source != job.pk and deleted is None and name in names:
                taken_names.add(name)
        taken_phones: set[str] = set()
        for pk, mobile, phone, source in Contact.objects.filter(
            tenant_id=job.tenant_id, pk__gt=last_contact
        ).values_list("pk", "mobile", "phone", "customer__import_job_id"):
            last_contact = max(last_contact, pk)
            if source != job.pk:
                taken_phones.update(p for p in (mobile, phone) if p and p in phones)
        result["state"] = {"watermark": [last_customer, last_contact]}
        if not taken_names and not taken_phones:
            return creates
        kept = []
        for row in creates:
            if _name_key(row[3]) in taken_names or not taken_phones.isdisjoint(_row_phones(row[3])):
                result["skipped"] += 1
                result["errors"].append(
                    [row[0], _("Skipped: the customer was created by someone else meanwhile.")]
                )
            else:
                kept.append(row)
        return kept

    def _within_holding_limit(self, job, creates, result):
        """New rows for an owner the holding limit of the default public pool has no room
        for fail with a message naming the owner; the rest is written
        (``pools.services.holding_room_for_import``)."""
        from pools.services import default_group_for, holding_room_for_import
        from pools.subjects import subject_for

        if not creates or job.options["target"] == TARGET_POOL:
            return creates
        kept, refused = holding_room_for_import(
            subject=subject_for("customer"),
            group=default_group_for(job.tenant_id, "customer"),
            tenant_id=job.tenant_id,
            rows=creates,
            owner_of=lambda row: row[2],
        )
        result["failed"] += len(refused)
        result["errors"].extend([row[0], message] for row, message in refused)
        return kept

    def _tags(self, job, rows) -> dict[str, int]:
        names = {name for r in rows for name in r[3].get("tags") or []}
        if not names:
            return {}
        found = dict(
            Tag.objects.filter(tenant_id=job.tenant_id, name__in=names).values_list("name", "pk")
        )
        # Sorted: batches written at once insert shared new tags in the same order (each
        # waits for the other's instead of deadlocking).
        missing = [
            Tag(tenant_id=job.tenant_id, name=n[:30]) for n in sorted(names) if n not in found
        ]
        if missing:
            Tag.objects.bulk_create(missing, ignore_conflicts=True)
            found = dict(
                Tag.objects.filter(tenant_id=job.tenant_id, name__in=names).values_list(
                    "name", "pk"
                )
            )
        return found

    def _create(self, job, rows, tags, now) -> tuple[int, int]:
        """Customers, contacts, tag links and ownership events of a batch, as rows written
        with ``crm.bulk.insert_rows`` (COPY on PostgreSQL): no model instance per row.
        Returns the highest customer and contact ids written."""
        from pools.services import default_group_for

        options = job.options
        tenant_id = job.tenant_id
        actor_id = job.created_by_id
        pooled = options["target"] == TARGET_POOL
        group_id = options["pool_group"] if pooled else default_group_for(tenant_id, "customer").pk
        # PERF: what every row shares is given once (``common``), formatted once.
        base = {
            "tenant_id": tenant_id,
            "created_by_id": actor_id,
            "updated_by_id": actor_id,
            "created_at": now,
            "updated_at": now,
            "pool_group_id": group_id,
            "pooled_at": now if pooled else None,
            "pool_reason": PoolReason.IMPORTED if pooled else "",
            "owned_since": None if pooled else now,
            "import_job_id": job.pk,
            "visibility": Customer.Visibility.PRIVATE,
            "lifecycle": Customer.Lifecycle.DEVELOPMENT,
            "deal_status": Customer.DealStatus.NONE,
        }
        # PERF: the plan's values are the customer rows (insert_rows takes the model's
        # columns among their keys and leaves the contact's and the tags): the checked text
        # is final, choices are ids or None, the next follow-up an ISO time or None; only
        # the choices' keys are renamed to their columns, and the owner is added.
        customers = []
        choices = [(key, f"{key}_id") for key in CHOICE_KINDS if key in rows[0][3]] if rows else []
        # Option values added by this import (prepare_apply): their ids by label.
        new_ids = job.summary.get("new_option_ids") or {}
        for _row_no, _action, owner_id, values in rows:
            for key, column in choices:
                value = values.pop(key, None)
                values[column] = new_ids.get(key, {}).get(value) if type(value) is str else value
            if not pooled:
                values["owner_id"] = owner_id
            customers.append(values)
        children: dict[str, Prepared] = {}
        fixed_values = [
            ("deal_status", base["deal_status"]),
            ("lifecycle", base["lifecycle"]),
        ]

        def prepare_children(ids: list[int]) -> None:
            """Contacts, tag links and ownership events of the batch, made ready while the
            server still indexes the customers (no database use here). Their ids are not
            needed: the database numbers them."""
            contacts, links, events, changes = [], [], [], []
            for pk, (_row, _a, owner_id, values) in zip(ids, rows, strict=True):
                contacts.extend(_contact_fields(pk, values))
                owner = None if pooled else owner_id
                # The report's 增量 (wave2 §14.2 R3): a new customer's values count as
                # changes from empty, as customer_create writes them.
                for field, value in (
                    ("status", values.get("status_id")),
                    ("level", values.get("level_id")),
                ):
                    if value is not None:
                        changes.append(
                            {
                                "customer_id": pk,
                                "owner_id": owner,
                                "field": field,
                                "new_value": str(value),
                            }
                        )
                for field, value in fixed_values:
                    changes.append(
                        {"customer_id": pk, "owner_id": owner, "field": field, "new_value": value}
                    )
                for tag in dict.fromkeys(values.get("tags") or []):
                    if tag in tags:
                        links.append({"customer_id": pk, "tag_id": tags[tag]})
                        changes.append(
                            {
                                "customer_id": pk,
                                "owner_id": owner,
                                "field": CustomerAttrEvent.TAG,
                                "new_value": str(tags[tag]),
                            }
                        )
                events.append(
                    {"customer_id": pk} if pooled else {"customer_id": pk, "to_user_id": owner_id}
                )
            contact_common = {
                "tenant_id": tenant_id,
                "created_by_id": actor_id,
                "created_at": now,
                "updated_at": now,
            }
            event_common = {
                "tenant_id": tenant_id,
                "kind": OwnershipEvent.Kind.IMPORTED,
                "to_user_id": None,
                "actor_id": actor_id,
                "pool_group_id": group_id if pooled else None,
                "note": job.original_name[:500],
                "created_at": now,
            }
            children["contacts"] = prepare_rows(Contact, contacts, common=contact_common, ids=False)
            children["links"] = prepare_rows(
                CustomerTag, links, common={"tenant_id": tenant_id}, ids=False
            )
            children["events"] = prepare_rows(
                OwnershipEvent, events, common=event_common, ids=False
            )
            children["changes"] = prepare_rows(
                CustomerAttrEvent,
                changes,
                common={
                    "tenant_id": tenant_id,
                    "lifecycle": Customer.Lifecycle.DEVELOPMENT,
                    "old_value": "",
                    "at": now,
                },
                ids=False,
            )

        ids = insert_rows(Customer, customers, common=base, meanwhile=prepare_children)
        fresh = {"customer_id": ids}
        insert_prepared(children["contacts"], fresh=fresh)
        top_contact = last_id(Contact) if children["contacts"].rows else 0
        insert_prepared(children["links"], fresh=fresh)
        insert_prepared(children["events"], fresh=fresh)
        insert_prepared(children["changes"], fresh=fresh)
        return max(ids, default=0), top_contact

    def _update(self, job, rows, tags, now, result) -> None:
        tenant_id = job.tenant_id
        by_pk = {r[2]: r for r in rows}
        customers = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(tenant_id=tenant_id, pk__in=list(by_pk))
            .order_by("pk")
        }
        phones_of = _contact_phones(tenant_id, list(customers))
        # SECURITY: the check planned updates of customers the importer could edit then;
        # the rows locked above are checked again, as they are now.
        editable = editable_ids(
            job, Customer.objects.filter(tenant_id=tenant_id), list(customers), "customer"
        )
        changed, changes, contacts, links, attr_events = [], [], [], [], []
        written: set[str] = set()
        # Tags each customer has already: a link the file repeats is no change (no event).
        linked = set(
            CustomerTag.objects.filter(
                tenant_id=tenant_id, customer_id__in=list(customers)
            ).values_list("customer_id", "tag_id")
        )
        new_ids = job.summary.get("new_option_ids") or {}
        for pk, (row_no, _action, _pk, values) in sorted(by_pk.items()):
            customer = customers.get(pk)
            if customer is None or customer.deleted_at is not None:
                result["failed"] += 1
                result["errors"].append([row_no, _("The customer was deleted meanwhile.")])
                continue
            if pk not in editable:
                result["skipped"] += 1
                result["errors"].append([row_no, str(importing.OUT_OF_REACH)])
                continue
            if customer.is_locked:
                result["failed"] += 1
                result["errors"].append([row_no, _("The customer was locked meanwhile.")])
                continue
            fields = {k: _from_json(k, values[k]) for k in CUSTOMER_KEYS if k in values}
            for key in CHOICE_KINDS:
                if type(fields.get(key)) is str:  # a value added by this import
                    fields[key] = new_ids.get(key, {}).get(fields[key])
            before = {}
            values_before = attr_log.attr_values(customer)
            for key, value in fields.items():
                attr = f"{key}_id" if key in CHOICE_KINDS else key
                before[attr] = _jsonable_value(getattr(customer, attr))
                setattr(customer, attr, value)
                written.add(attr)
            customer.name_normalized = normalize_name(customer.name)
            customer.updated_at = now
            customer.updated_by_id = job.created_by_id
            changed.append(customer)
            added = []
            known = phones_of.get(pk, set())
            for contact in _contacts_for(tenant_id, pk, job.created_by_id, values, now):
                # A contact whose number the customer has already is not added again.
                numbers = {contact["mobile"], contact["phone"]} - {""}
                if numbers & known:
                    continue
                known |= numbers
                added.append(len(contacts))
                contacts.append(contact)
            added_tags = []
            for tag in values.get("tags") or []:
                if tag in tags and (pk, tags[tag]) not in linked:
                    linked.add((pk, tags[tag]))
                    added_tags.append(tags[tag])
                    links.append(CustomerTag(tenant_id=tenant_id, customer_id=pk, tag_id=tags[tag]))
            attr_events += attr_log.attr_events(
                customer, values_before, added_tags=added_tags, at=now
            )
            changes.append(
                (
                    added,
                    CustomerImportChange(
                        tenant_id=tenant_id,
                        job_id=job.pk,
                        customer_id=pk,
                        row=row_no,
                        before=before,
                        written_at=now,
                    ),
                )
            )
        if changed:
            Customer.objects.bulk_update(
                changed,
                sorted(written | {"name_normalized", "updated_at", "updated_by_id"}),
                batch_size=500,
            )
        contact_ids = insert_rows(Contact, contacts)
        for added, change in changes:
            change.added_contact_ids = [contact_ids[i] for i in added]
        CustomerImportChange.objects.bulk_create([c for _a, c in changes], batch_size=500)
        CustomerTag.objects.bulk_create(links, batch_size=500, ignore_conflicts=True)
        attr_log.attr_events_write(attr_events)
        result["updated"] += len(changed)

    # ------------------------------------------------------------ undo

    def undo(self, job: ImportJob, actor: User) -> dict:
        from customers.models import Attachment, CustomerParticipant, FollowUp

        tenant_id = job.tenant_id
        since = job.finished_at
        kept: list[dict] = []
        created = list(
            Customer.objects.select_for_update()
            .filter(tenant_id=tenant_id, import_job=job)
            .order_by("pk")
            .values("pk", "name", "updated_at", "deleted_at")
        )
        ids = [c["pk"] for c in created]
        touched: dict[int, str] = {}
        checks = [
            (FollowUp.objects.all(), _("it has follow-ups")),
            (Attachment.objects.all(), _("it has attachments")),
            (CustomerParticipant.objects.all(), _("it has participants")),
            (
                OwnershipEvent.objects.exclude(kind=OwnershipEvent.Kind.IMPORTED),
                _("its owner changed since (claimed, assigned or moved)"),
            ),
        ]
        for queryset, reason in checks:
            for pk in _customers_in(queryset.filter(tenant_id=tenant_id), ids):
                touched.setdefault(pk, reason)
        for row in created:
            if row["deleted_at"] is not None:
                touched.setdefault(row["pk"], _("it was deleted or moved to the recycle bin"))
            elif row["updated_at"] > since:
                touched.setdefault(row["pk"], _("it was edited since"))
        removable = [pk for pk in ids if pk not in touched]
        names = {c["pk"]: c["name"] for c in created}
        for pk, reason in touched.items():
            kept.append({"id": pk, "name": names[pk], "reason": str(reason)})
        for start in range(0, len(removable), 500):
            Customer.objects.filter(
                tenant_id=tenant_id, pk__in=removable[start : start + 500]
            ).delete()
        restored = 0
        undone_events: list[CustomerAttrEvent] = []
        changes = list(
            CustomerImportChange.objects.filter(tenant_id=tenant_id, job=job).order_by("row")
        )
        current = {
            c.pk: c
            for c in Customer.objects.select_for_update().filter(
                tenant_id=tenant_id, pk__in=[ch.customer_id for ch in changes]
            )
        }
        for change in changes:
            customer = current.get(change.customer_id)
            if customer is None:
                continue
            if customer.updated_at > change.written_at or customer.deleted_at is not None:
                kept.append(
                    {
                        "id": customer.pk,
                        "name": customer.name,
                        "reason": _("it was changed after the import; its values were kept"),
                    }
                )
                continue
            values_before = attr_log.attr_values(customer)
            for attr, value in change.before.items():
                setattr(customer, attr, _from_json(attr.removesuffix("_id"), value))
            customer.name_normalized = normalize_name(customer.name)
            customer.save()
            undone_events += attr_log.attr_events(customer, values_before)
            if change.added_contact_ids:
                Contact.objects.filter(
                    tenant_id=tenant_id, pk__in=change.added_contact_ids, followups__isnull=True
                ).delete()
            restored += 1
        attr_log.attr_events_write(undone_events)
        kept.sort(key=lambda k: k["id"])
        report = {"removed": len(removable), "restored": restored, "kept": kept[:500]}
        removed_options = remove_unused_options(job)
        if removed_options:
            report["options_removed"] = removed_options
        return report

    def result_link(self, job: ImportJob) -> str:
        return f"/customers/?view=all&import_job={job.pk}"


# ---------------------------------------------------------------- helpers


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _chunk_size() -> int:
    # SQLite's limit on bound parameters is lower than PostgreSQL's.
    return 900 if connection.vendor == "sqlite" else 5000


def id_chunks(values):
    """``values`` in chunks a query's IN list takes on this database (the importers' lookups)."""
    values = list(values)
    size = _chunk_size()
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Above this many keys the whole tenant's names / phones are read in one pass: cheaper than
# dozens of long IN lists (bench/import_pool.py).
WHOLE_TENANT_KEYS = 2000
# Files larger than this (about 2,000 rows of xlsx) have the tenant's names and phones read
# while they are parsed (CustomerImporter.prefetch).
WHOLE_TENANT_BYTES = 128 * 1024


def _name_matches(
    tenant_id: int, names: set[str], existing: set[int] | None = None
) -> dict[str, list[int]]:
    """Normalised name -> ids of the tenant's live customers (pool included). ``existing``:
    the hashes of every live name of the tenant, read before (``CustomerImporter.prefetch``)."""
    hits: dict[str, list[int]] = defaultdict(list)
    if existing is None and len(names) > WHOLE_TENANT_KEYS:
        existing = _tenant_names(tenant_id)
    if existing is not None:
        # Which of the names may exist, from one read of the tenant's names; their ids below.
        names = {name for name in names if hash(name) in existing}
    live = Customer.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True)
    for chunk in id_chunks(names):
        for pk, name in live.filter(name_normalized__in=chunk).values_list("pk", "name_normalized"):
            hits[name].append(pk)
    return hits


def _tenant_names(tenant_id: int) -> set[int]:
    return _column_values(
        f'SELECT "name_normalized" FROM "{Customer._meta.db_table}"'  # noqa: S608
        ' WHERE "tenant_id" = %s AND "deleted_at" IS NULL',
        tenant_id,
    )


def _tenant_phones(tenant_id: int) -> set[int]:
    """Every mobile and phone of the tenant's contacts (those of binned customers too: the
    look-up of the matching ones leaves those out)."""
    return _column_values(
        f'SELECT "mobile", "phone" FROM "{Contact._meta.db_table}"'  # noqa: S608
        ' WHERE "tenant_id" = %s',
        tenant_id,
    )


def _column_values(sql: str, tenant_id: int) -> set:
    """The hashes of the values of a query of one tenant's rows (every column). A key whose
    hash is not among them does not exist; one whose hash is may (the exact look-up
    follows). PERF: the driver's rows, not the ORM's, and ints instead of the strings (a
    third of the memory for the 100,000s of keys of a large tenant)."""
    hashes: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(sql, [tenant_id])
        while rows := cursor.fetchmany(20_000):
            hashes.update(hash(value) for row in rows for value in row)
    return hashes


def _phone_matches(
    tenant_id: int, phones: set[str], existing: set[int] | None = None
) -> dict[str, list[int]]:
    """Phone -> ids of the tenant's live customers with a contact of that mobile or phone.
    ``existing``: the hashes of every phone of the tenant's contacts, read before."""
    hits: dict[str, set[int]] = defaultdict(set)
    if existing is None and len(phones) > WHOLE_TENANT_KEYS:
        existing = _tenant_phones(tenant_id)
    if existing is not None:
        # Which of the phones may exist, from one read of the tenant's contacts; their
        # customers below.
        phones = {phone for phone in phones if hash(phone) in existing}
    contacts = Contact.objects.filter(tenant_id=tenant_id)
    batches = (
        contacts.filter(Q(mobile__in=chunk) | Q(phone__in=chunk)).values_list(
            "customer_id", "mobile", "phone"
        )
        for chunk in id_chunks(phones)
    )
    for rows in batches:
        for customer_id, mobile, phone in rows:
            if mobile in phones:
                hits[mobile].add(customer_id)
            if phone in phones:
                hits[phone].add(customer_id)
    if hits:
        # Contacts of customers in the recycle bin do not count.
        ids = set().union(*hits.values())
        binned = set()
        for chunk in id_chunks(ids):
            binned.update(
                Customer.objects.filter(
                    tenant_id=tenant_id, pk__in=chunk, deleted_at__isnull=False
                ).values_list("pk", flat=True)
            )
        if binned:
            hits = {k: v - binned for k, v in hits.items() if v - binned}
    return {k: sorted(v) for k, v in hits.items()}


def _existing(job: ImportJob, ids: set[int]) -> dict[int, dict]:
    """The matched customers the importer may see, by id: how the preview names them (name
    and owner), whether they are locked, and whether the importer may overwrite them
    (``editable``: crm.importing.records_in_reach). SECURITY: the customers the importer
    may not see are left out, so that no message names them (plan_matched_rows)."""
    found = {}
    reach = records_in_reach(
        job.created_by,
        Customer.objects.filter(tenant_id=job.tenant_id),
        ids,
        ("name", "owner__name", "owner__username", "is_locked"),
        pool_admin_groups=pool_admin_groups(job.created_by, "customer"),
    )
    for pk, row in reach.items():
        owner = row["owner__name"] or row["owner__username"]
        holder = _("in the pool") if row["pooled_at"] else (owner or _("no owner"))
        found[pk] = {
            "label": f"{row['name']}（{holder}）",
            "locked": row["is_locked"],
            "editable": row["editable"],
        }
    return found


def pool_admin_groups(user: User, kind: str) -> list[int] | None:
    """The pool groups of ``kind`` whose pooled records ``user`` may overwrite by import:
    those they administer (``None``: all of them)."""
    from pools.selectors import admin_group_ids

    return admin_group_ids(user, kind)


def editable_ids(job: ImportJob, queryset, ids, kind: str) -> set[int]:
    """Which of ``ids`` the job's creator may overwrite now (applying re-checks what the
    check decided: ownership, scopes and grants may have changed in between)."""
    reach = records_in_reach(
        job.created_by, queryset, ids, pool_admin_groups=pool_admin_groups(job.created_by, kind)
    )
    return {pk for pk, row in reach.items() if row["editable"]}


def _contact_phones(tenant_id: int, customer_ids: list[int]) -> dict[int, set[str]]:
    phones: dict[int, set[str]] = defaultdict(set)
    for customer_id, mobile, phone in Contact.objects.filter(
        tenant_id=tenant_id, customer_id__in=customer_ids
    ).values_list("customer_id", "mobile", "phone"):
        phones[customer_id].update(p for p in (mobile, phone) if p)
    return phones


def _row_phones(values: dict) -> list[str]:
    """Every number of a plan row's contacts (old plans: ``contact_phone`` alone)."""
    return [values[k] for k in PHONE_KEYS if values.get(k)]


def _contact_fields(customer_id, values) -> list[dict]:
    """The fields of the contacts of an imported row that depend on the row: the first and
    the second contact, each made by a name or a number. A mobile number in the phone
    column goes to the mobile when that is empty (an old sheet's single 联系电话 column;
    the plans of imports checked before the columns were split hold it under
    ``contact_phone``)."""
    found = []
    for columns in CONTACT_COLUMNS:
        name = values.get(columns["name"]) or ""
        mobile = values.get(columns["mobile"]) or ""
        phone = values.get(columns["phone"]) or ""
        email = values.get(columns["email"]) or ""
        if not (name or mobile or phone or email):
            continue
        if not mobile and MOBILE_RE.match(phone):
            mobile, phone = phone, ""
        found.append(
            {
                "customer_id": customer_id,
                # A number without a name still makes a contact: the number is what matters.
                "name": name or _("Contact"),
                "mobile": mobile,
                "phone": phone,
                "email": email,
                "title": values.get(columns["title"]) or "",
            }
        )
    return found


def _contacts_for(tenant_id, customer_id, actor_id, values, now) -> list[dict]:
    """The contact rows of an imported row, for insert_rows."""
    return [
        {
            **fields,
            "tenant_id": tenant_id,
            "created_by_id": actor_id,
            "created_at": now,
            "updated_at": now,
        }
        for fields in _contact_fields(customer_id, values)
    ]


def _owner_picker(job: ImportJob):
    """Who gets the next new row (given its values): nobody (pool), round-robin (平均),
    random (随机), or the owner its owner column names (按负责人)."""
    options = job.options
    if options["target"] == TARGET_POOL:
        return lambda values: None
    if options["target"] == TARGET_OWNER:
        # The owner the check found for the row (OwnerMatcher), taken out of its values.
        return lambda values: values.pop("owner", None)
    users = list(options["users"])
    if options["distribution"] == "random":
        rng = random.Random(job.pk)  # noqa: S311 - fair spreading, not security
        return lambda values: rng.choice(users)
    counter = iter(range(10**9))
    return lambda values: users[next(counter) % len(users)]


def clean_target_options(
    actor: User, data: dict, *, keys: tuple[str, ...], pool_kind: str, no_pool: str, no_target: str
) -> dict:
    """The options of an import (customers or leads), validated: the duplicate mode and
    ``keys``, the distribution, and the target (an enabled pool group of ``pool_kind``, active
    employees, a department with active members, who are stored as the users, or the file's
    owner column, checked with the file). A
    ServiceError otherwise, ``no_pool`` / ``no_target`` naming the kind's pool and target."""
    from pools.models import PoolGroup

    target = data.get("target")
    mode = data.get("duplicate_mode", "skip")
    duplicate_keys = data.get("duplicate_keys", "either")
    distribution = data.get("distribution", "even")
    if mode not in MODES or duplicate_keys not in keys or distribution not in ("even", "random"):
        raise ServiceError(_("Choose how duplicates and distribution are handled."))
    clean = {
        "target": target,
        "duplicate_mode": mode,
        "duplicate_keys": duplicate_keys,
        "distribution": distribution,
    }
    if data.get("add_options"):
        # 添加到选项列表 (the mapping step): unknown option values are added on apply.
        clean["add_options"] = True
    if target == TARGET_OWNER:
        # Each row's owner comes from the file (checked with the file: OwnerMatcher).
        return clean
    if target == TARGET_POOL:
        group = PoolGroup.objects.filter(
            tenant_id=actor.tenant_id,
            kind=pool_kind,
            pk=_int(data.get("pool_group")),
            is_enabled=True,
        ).first()
        if group is None:
            raise ServiceError(no_pool, code="target")
        clean["pool_group"] = group.pk
    elif target == TARGET_USERS:
        ids = sorted({_int(i) for i in data.get("users") or []} - {None})
        users = list(
            User.tenant_objects.filter(tenant_id=actor.tenant_id, pk__in=ids, is_active=True)
        )
        if not ids or len(users) != len(ids):
            raise ServiceError(_("Choose one or more active employees."), code="target")
        clean["users"] = ids
    elif target == TARGET_DEPARTMENT:
        department = Department.objects.filter(
            tenant_id=actor.tenant_id, pk=_int(data.get("department"))
        ).first()
        if department is None:
            raise ServiceError(_("Choose the department to import into."), code="target")
        members = list(
            User.tenant_objects.filter(
                tenant_id=actor.tenant_id,
                is_active=True,
                department__path__startswith=department.path,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not members:
            raise ServiceError(
                _("The department “%(name)s” has no active members.") % {"name": department},
                code="target",
            )
        clean["department"] = department.pk
        clean["users"] = members
    else:
        raise ServiceError(no_target, code="target")
    return clean


_DISTINCT: dict[int, list[Column]] = {}


def distinct_names(columns: list[Column]) -> list[Column]:
    """``columns`` without the aliases the header reader would fold into another column's
    name (crm.spreadsheets.clean_header drops a trailing bracketed note: "联系人（二）"
    may read as "联系人"), so that no alias takes a name from the column it belongs to.
    Worked out once per list."""
    found = _DISTINCT.get(id(columns))
    if found is not None:
        return found
    from dataclasses import replace

    from crm.spreadsheets import clean_header

    owners: dict[str, str] = {}
    for column in columns:
        for name in (str(column.label), *column.aliases):
            owners.setdefault(clean_header(name).casefold(), column.key)
    found = [
        replace(
            column,
            aliases=tuple(
                a for a in column.aliases if owners[clean_header(a).casefold()] == column.key
            ),
        )
        for column in columns
    ]
    _DISTINCT[id(columns)] = found
    return found


def owner_column_missing() -> str:
    return _("Importing by owner needs an “Owner” (负责人) column.")


def clean_number(kind: str, text: str) -> str:
    """A cell of a number column, normalised: ``mobile`` takes a mainland mobile number,
    ``phone`` a landline or a mobile (an old sheet's single 联系电话 column). ValueError
    with the reason otherwise."""
    if not text:
        return ""
    # PERF: a plain mobile number (most cells) is already in its normal form.
    if len(text) == 11 and text.isascii() and MOBILE_RE.match(text):
        return text
    if kind == "mobile":
        mobile = mobile_digits(text)
        if mobile is None:
            raise ValueError(
                _("“%(value)s” is not a mobile number (11 digits starting with 1).")
                % {"value": text}
            )
        return mobile
    phone = phone_digits(text)
    if phone is None:
        raise ValueError(_("“%(value)s” is not a phone number.") % {"value": text})
    return phone


def clean_email(text: str) -> str:
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError as exc:
        raise ValueError(_("“%(value)s” is not an email address.") % {"value": text}) from exc
    return text


def option_key(text: str) -> str:
    """An option value as compared: NFKC (full-width letters and brackets folded), case
    and whitespace ignored."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


_BRACKETED = re.compile(r"^(.*?)\((.+)\)$")
_OPTION_SUFFIXES = ("级客户", "类客户", "级", "类")


def _option_variants(key: str) -> list[str]:
    """The shorter spellings of a folded option value: the parts of "a(重点客户)" ("a",
    "重点客户"), and each without a 级 / 类 suffix ("a级" → "a")."""
    found = [key]
    match = _BRACKETED.match(key)
    if match:
        found += [match.group(1), match.group(2)]
    for variant in list(found):
        for suffix in _OPTION_SUFFIXES:
            if variant.endswith(suffix) and len(variant) > len(suffix):
                found.append(variant[: -len(suffix)])
                break
    return [v for v in dict.fromkeys(found) if v]


class OptionMatcher:
    """The values of one choice column as people write them, matched to the tenant's
    options: the label itself (full-width/half-width, case and spaces folded), or a shorter
    spelling of it that no other option shares: "A", "A级", "A类", "重点客户" and
    "A（重点客户）" all name the option "A（重点客户）". Options have no code besides their
    label (crm.models.Option).

    An unknown value is refused with the allowed values, or, with ``add`` (添加到选项列表),
    kept as the label of a new option (:attr:`new`; the check writes nothing, the apply
    creates them: :func:`create_new_options`). A value naming a deactivated option is
    refused. PERF: each distinct text is matched once."""

    MAX_LABEL = 50  # crm.models.Option.label

    def __init__(self, options: list[tuple[int, str, bool]], *, add: bool = False) -> None:
        self.exact: dict[str, int] = {}
        self.inactive: set[str] = set()
        self.labels: list[str] = []
        for pk, label, active in options:
            if active:
                self.exact.setdefault(option_key(label), pk)
                self.labels.append(label)
            else:
                self.inactive.add(option_key(label))
        shared: dict[str, int | None] = {}
        for pk, label, active in options:
            if not active:
                continue
            for variant in _option_variants(option_key(label))[1:]:
                if variant not in self.exact:
                    shared[variant] = pk if shared.get(variant, pk) == pk else None
        self.short = {k: v for k, v in shared.items() if v is not None}
        self.add = add
        self.new: dict[str, str] = {}  # folded value -> label of the option to add
        self._memo: dict[str, int | str | ValueError] = {}

    def __call__(self, text: str) -> int | str:
        """The option id, or the label of a new option (``add``); ValueError otherwise."""
        found = self._memo.get(text)
        if found is None:
            try:
                found = self._match(text)
            except ValueError as exc:
                found = exc
            self._memo[text] = found
        if isinstance(found, ValueError):
            raise ValueError(str(found))
        return found

    def _match(self, text: str) -> int | str:
        key = option_key(text)
        pk = self.exact.get(key)
        if pk is not None:
            return pk
        for variant in _option_variants(key):
            pk = self.exact.get(variant) or self.short.get(variant)
            if pk is not None:
                return pk
        if key in self.inactive:
            raise ValueError(
                _("“%(value)s” is no longer in use in the option list.") % {"value": text}
            )
        if self.add and len(text.strip()) <= self.MAX_LABEL:
            return self.new.setdefault(key, text.strip())
        raise ValueError(
            _("“%(value)s” is not one of the allowed values (%(allowed)s).")
            % {"value": text, "allowed": "、".join(self.labels[:8]) or "—"}
        )


class OwnerMatcher:
    """The owner column (负责人) of an import by owner: each text names a user of the
    importer's tenant by username, mobile or full name. Refused with the reason: nobody
    by that name, two users of that name (their usernames are suggested), a deactivated
    user, a user outside the importer's data scope (crm.visibility.owner_scope).
    PERF: the tenant's users are read in one query; each distinct text is matched once."""

    def __init__(self, actor: User) -> None:
        from crm.visibility import owner_scope

        self.scope = owner_scope(actor)
        self.by_username: dict[str, tuple] = {}
        self.by_mobile: dict[str, tuple] = {}
        self.by_name: dict[str, list[tuple]] = defaultdict(list)
        users = User.tenant_objects.filter(tenant_id=actor.tenant_id).order_by("pk")
        for pk, name, username, mobile, active in users.values_list(
            "pk", "name", "username", "mobile", "is_active"
        ):
            user = (pk, name or username, username, active)
            self.by_username[username.casefold()] = user
            if mobile:
                self.by_mobile[mobile] = user
            if name:
                self.by_name[option_key(name)].append(user)
        self._memo: dict[str, int | ValueError] = {}

    def __call__(self, text: str) -> int:
        found = self._memo.get(text)
        if found is None:
            try:
                found = self._match(text)
            except ValueError as exc:
                found = exc
            self._memo[text] = found
        if isinstance(found, ValueError):
            raise ValueError(str(found))
        return found

    def _match(self, text: str) -> int:
        text = text.strip()
        if not text:
            raise ValueError(_("missing: write the owner's full name, username or mobile."))
        user = self.by_username.get(text.casefold())
        if user is None:
            mobile = mobile_digits(text)
            user = self.by_mobile.get(mobile) if mobile else None
        if user is None:
            named = self.by_name.get(option_key(text), [])
            if len(named) > 1:
                raise ValueError(
                    _(
                        "several users are called “%(value)s”: write the username instead "
                        "(%(usernames)s)."
                    )
                    % {"value": text, "usernames": "、".join(u[2] for u in named[:5])}
                )
            user = named[0] if named else None
        if user is None:
            raise ValueError(_("“%(value)s” is not a user of the company.") % {"value": text})
        pk, label, _username, active = user
        if not active:
            raise ValueError(_("%(name)s is deactivated.") % {"name": label})
        if not self.scope.covers(pk):
            raise ValueError(_("%(name)s is outside your data scope.") % {"name": label})
        return pk


def plan_new_options(plan: Plan, lookups: dict, keys) -> None:
    """The option values to add on apply (``add_options``): those of the rows the plan
    writes, by column key, in ``plan.state["new_options"]`` (the job's summary)."""
    wanted = {key for key in keys if key in lookups and lookups[key].new}
    if not wanted:
        return
    found: dict[str, dict[str, None]] = {key: {} for key in wanted}
    for row in plan.rows:
        values = row[3]
        for key in wanted:
            if type(values.get(key)) is str:
                found[key][values[key]] = None
    new = {key: list(labels) for key, labels in found.items() if labels}
    if new:
        plan.state["new_options"] = new


def create_new_options(job: ImportJob, kinds: dict[str, str]) -> None:
    """Add the option values the check found new (``summary["new_options"]``, by column key;
    ``kinds``: the option list of each column) to the tenant's lists: their ids by label
    go to ``summary["new_option_ids"]``, those this import created to
    ``summary["created_options"]`` (an undo removes them if unused). Run once before the
    batches (``Importer.prepare_apply``); a rerun adds only what is still missing."""
    from django.db import transaction
    from django.db.models import Max

    if not job.summary.get("new_options"):
        return
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        summary = dict(locked.summary)
        ids: dict[str, dict[str, int]] = summary.get("new_option_ids") or {}
        created = set(summary.get("created_options") or [])
        for key, labels in sorted(summary["new_options"].items()):
            kind = kinds[key]
            known = ids.setdefault(key, {})
            missing = [label for label in labels if label not in known]
            if not missing:
                continue
            options = Option.objects.filter(tenant_id=job.tenant_id, kind=kind)
            existing = dict(options.filter(label__in=missing).values_list("label", "pk"))
            top = options.aggregate(m=Max("sort_order"))["m"] or 0
            fresh = [label for label in missing if label not in existing]
            Option.objects.bulk_create(
                [
                    Option(tenant_id=job.tenant_id, kind=kind, label=label, sort_order=top + n)
                    for n, label in enumerate(fresh, start=1)
                ],
                ignore_conflicts=True,
            )
            now = dict(options.filter(label__in=missing).values_list("label", "pk"))
            created.update(now[label] for label in fresh if label in now)
            known.update(now)
        summary["new_option_ids"] = ids
        summary["created_options"] = sorted(created)
        ImportJob.objects.filter(pk=job.pk).update(summary=summary)
    job.summary = summary


def remove_unused_options(job: ImportJob) -> int:
    """Undo: delete the options this import added (``summary["created_options"]``) that
    no record uses (any relation to crm.models.Option). Returns how many."""
    ids = list(job.summary.get("created_options") or [])
    if not ids:
        return 0
    used: set[int] = set()
    # Every foreign key to Option, those without a reverse accessor (related_name="+") too.
    for relation in Option._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and relation.is_relation) or relation.concrete:
            continue
        if relation.many_to_many:
            continue
        model = relation.related_model
        column = relation.field.attname
        used.update(
            model._base_manager.filter(**{f"{column}__in": ids}).values_list(column, flat=True)
        )
    unused = [pk for pk in ids if pk not in used]
    if unused:
        Option.objects.filter(tenant_id=job.tenant_id, pk__in=unused).delete()
    return len(unused)


def notify_owners(job: ImportJob, owner_ids, result: dict, title: str, link: str) -> None:
    """One notification per owner and import (not per row, nor per batch): the owners of
    this batch's new rows not told yet, the importer left out (the finished import tells
    them). The job's row is locked here (the batch's transaction locks it next anyway) and
    re-read, so that batches written at once never tell one owner twice; the owners told
    go to the summary (``notified_owners``, ``merge_notified``)."""
    from crm.services import notification_send

    owners = {pk for pk in owner_ids if pk and pk != job.created_by_id}
    if not owners:
        return
    locked = ImportJob.objects.select_for_update(no_key=True).only("summary").get(pk=job.pk)
    told = set(locked.summary.get("notified_owners") or [])
    new = owners - told
    if not new:
        return
    creator = job.created_by
    notification_send(
        tenant_id=job.tenant_id,
        recipients=User.tenant_objects.filter(tenant_id=job.tenant_id, pk__in=sorted(new)),
        title=title % {"name": str(creator), "file": job.original_name},
        link=link,
    )
    result.setdefault("state", {})["notified_owners"] = sorted(told | new)


def merge_notified(summary: dict, state: dict) -> None:
    if "notified_owners" in state:
        summary["notified_owners"] = sorted(
            {*(summary.get("notified_owners") or []), *state["notified_owners"]}
        )


class SeenRows:
    """The rows of a file checked so far, by their two duplicate keys (customers: name and
    phone; leads: mobile and company), to reject a later row that repeats one."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.second: dict[str, int] = {}

    def repeats(self, row_no: int, first_key: str, second_key: str) -> int | None:
        """The earlier row with either key (empty keys never match; ``second_key`` may be
        a tuple of keys, any of which matches); else None, and this row is remembered under
        its keys."""
        earlier = self.first.get(first_key) if first_key else None
        several = type(second_key) is tuple
        if earlier is None and second_key:
            if several:
                earlier = next((self.second[k] for k in second_key if k in self.second), None)
            else:
                earlier = self.second.get(second_key)
        if earlier is not None:
            return earlier
        if first_key:
            self.first[first_key] = row_no
        if several:
            for key in second_key:
                self.second[key] = row_no
        elif second_key:
            self.second[second_key] = row_no
        return None


def plan_matched_rows(
    plan: Plan,
    job: ImportJob,
    good: list[tuple[int, dict, str, str, list]],
    hits: tuple[dict[str, list[int]], dict[str, list[int]]],
    existing: dict[int, dict],
    *,
    refused: str,
    no_match: str,
    several: str,
    refusal: str,
) -> None:
    """Plan the checked rows of a file (customers or leads) by what they match, and sort the
    plan. ``good`` holds (row, values, first key, second key, cells), ``hits`` the existing
    ids by first and by second key, ``existing`` a ``label``, the flags ``editable`` and
    ``refused`` (locked, converted) by id, for the records the importer may see only. A row
    matching nothing is created for the next owner (skipped with ``no_match`` under
    ``update_only``). A row matching a record the importer may not edit (or not even see) is
    skipped as OUT_OF_REACH, whatever the mode, without naming it. Any other matched row is
    skipped under ``skip``, else rejected when it matches ``several`` or a refused record
    (``refusal``), else updates its match.
    PERF: one call per file, the loop stays inline (bench/import_pool.py)."""
    first_hits, second_hits = hits
    owners = _owner_picker(job)
    mode = job.options["duplicate_mode"]
    creates = plan.rows.append
    out_of_reach = str(importing.OUT_OF_REACH)
    unseen = {"editable": False}
    for row_no, values, first_key, second_key, cells in good:
        if first_key not in first_hits and second_key not in second_hits:
            if mode == "update_only":
                plan.skipped.append((row_no, no_match))
            else:
                creates([row_no, "create", owners(values), values])
            continue
        matches = set(first_hits.get(first_key, ())) | set(second_hits.get(second_key, ()))
        if not all(existing.get(pk, unseen)["editable"] for pk in matches):
            # SECURITY: neither overwritten nor named (issue 14).
            plan.skipped.append((row_no, out_of_reach))
            continue
        described = "、".join(existing[pk]["label"] for pk in sorted(matches)[:3])
        if mode == "skip":
            plan.skipped.append((row_no, _("Already exists: %(names)s") % {"names": described}))
            continue
        if len(matches) > 1:
            plan.rejected.append((row_no, as_uploaded(cells), several % {"names": described}))
            continue
        (pk,) = matches
        if existing[pk][refused]:
            plan.rejected.append(
                (row_no, as_uploaded(cells), refusal % {"name": existing[pk]["label"]})
            )
            continue
        plan.rows.append([row_no, "update", pk, values])
    plan.rejected.sort(key=lambda r: r[0])
    plan.skipped.sort(key=lambda r: r[0])
    plan.rows.sort(key=lambda r: r[0])


def aware_text(value) -> str | None:
    """A date or datetime cell as the plan stores it: aware ISO text (a date alone at
    ``DATE_ONLY_HOUR`` o'clock, a naive time in the current time zone)."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        moment = datetime.datetime.combine(value, datetime.time(DATE_ONLY_HOUR))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.isoformat()


def _jsonable_value(value):
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _name_key(values: dict) -> str:
    """The normalised name of a plan row (``apply`` folds a batch's names at once)."""
    return values.get("name_normalized") or normalize_name(values["name"])


def _from_json(key: str, value):
    if key == "next_followup_at" and value:
        return datetime.datetime.fromisoformat(value)
    if key in ("longitude", "latitude") and value not in (None, ""):
        return Decimal(value)
    if value is None and key not in CHOICE_KINDS and key != "next_followup_at":
        return ""
    return value


def as_uploaded(cells: list) -> list:
    """A rejected row's cells as the error file writes them back (empty for None)."""
    return ["" if c is None else c for c in cells]


def _customers_in(queryset, customer_ids: list[int]) -> set[int]:
    """The ``customer_id`` values of ``queryset`` among ``customer_ids`` (in chunks)."""
    found: set[int] = set()
    for chunk in id_chunks(customer_ids):
        found.update(queryset.filter(customer_id__in=chunk).values_list("customer_id", flat=True))
    return found


importing.register(CustomerImporter())
