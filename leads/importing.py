"""The lead import (导入线索, issue 6): columns, targets, duplicate handling, and how a
checked row is written. The job's life (upload, preview, confirm, progress, error file,
undo, one import per tenant shared with the customer import) is ``crm.importing``; this
module is what is specific to leads.

Targets, as for customers (``customers.importing``, whose owner distribution is reused): a
lead pool group (the leads lie in its pool with pool reason 导入; its hidden fields keep the
contact details hidden until claimed), one or more employees, or a department's active
members (sub-departments included), evenly (round-robin in file order) or at random. The
owner of every new row is decided at the check and stored in the plan. Leads that land in a
pool are offered to the automatic assignment rules (``leads.assignment.auto_assign``,
trigger ``import``) right after their batch is written.

Duplicates are found by the normalised mobile and/or the normalised company name, within the
file (a later row repeating an earlier one is rejected) and against every lead of the tenant,
pools and converted leads included (a few ``IN`` queries per batch of keys, never one per
row). Modes: ``skip`` (不导入), ``overwrite`` (覆盖导入: the file's columns overwrite the
lead, an empty cell clears the field; owner and pool are never changed; new rows are
created) and ``update_only`` (仅覆盖重复数据: nothing new is created). A converted lead is
read-only and is never overwritten. Whatever the mode, a lead the importer may not edit (its
owner outside their data scope; a pooled lead of a lead pool they do not administer, unless
their scope is ``all``) is skipped as 已存在，归属他人 without its name, at the check and
again when its batch is written (``customers.importing.editable_ids``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from crm import importing
from crm.bulk import insert_rows
from crm.exceptions import ServiceError
from crm.importing import OUT_OF_REACH, Column, Importer, Plan, owner_column, records_in_reach
from crm.models import ImportJob, Option, OptionKind, User
from crm.phones import MOBILE_RE, mobile_digits, phone_digits
from customers.importing import (
    TARGET_OWNER,
    TARGET_POOL,
    OptionMatcher,
    OwnerMatcher,
    SeenRows,
    as_uploaded,
    aware_text,
    clean_target_options,
    create_new_options,
    editable_ids,
    id_chunks,
    notify_owners,
    owner_column_missing,
    plan_matched_rows,
    plan_new_options,
    pool_admin_groups,
    remove_unused_options,
)
from customers.models import PoolReason, normalize_name
from leads.models import Campaign, Lead, LeadEvent, LeadImportChange

# Same lead means: the same mobile, the same company, or either.
KEYS = ("either", "mobile", "company")


COLUMNS = [
    Column(
        "name",
        pgettext_lazy("lead import column", "Name"),
        required=True,
        max_length=50,
        aliases=("姓名", "联系人", "联系人姓名", "客户姓名", "Contact", "Contact person"),
        sample="王经理",
    ),
    Column(
        "company",
        pgettext_lazy("lead import column", "Company name"),
        max_length=200,
        aliases=("公司名称", "公司", "企业名称", "单位名称", "Company"),
        sample="上海示例机械有限公司",
    ),
    Column(
        "mobile",
        pgettext_lazy("lead import column", "Mobile"),
        kind="mobile",
        aliases=("手机", "手机号", "手机号码", "移动电话", "联系人手机", "Mobile"),
        sample="13800138000",
    ),
    Column(
        "phone",
        pgettext_lazy("lead import column", "Telephone"),
        kind="phone",
        # An old sheet's single 联系电话 / 联系方式 column holds either kind of number: a
        # mobile number in it goes to the mobile (when that is empty).
        aliases=(
            "电话",
            "固话",
            "座机",
            "固定电话",
            "办公电话",
            "联系电话",
            "联系方式",
            "Telephone",
            "Phone",
        ),
        sample="021-58881234",
    ),
    Column(
        "email",
        pgettext_lazy("lead import column", "Email"),
        kind="email",
        aliases=("邮箱", "电子邮箱", "邮件", "Email", "E-mail"),
    ),
    Column(
        "title",
        pgettext_lazy("lead import column", "Job title"),
        max_length=50,
        aliases=("职务", "职位", "Title"),
        sample="采购经理",
    ),
    Column(
        "source",
        pgettext_lazy("lead import column", "Source"),
        kind="choice",
        aliases=("来源", "线索来源", "客户来源"),
    ),
    Column(
        "campaign",
        pgettext_lazy("lead import column", "Campaign"),
        kind="choice",
        aliases=("市场活动", "活动"),
    ),
    Column(
        "province",
        pgettext_lazy("lead import column", "Province"),
        max_length=20,
        aliases=("省份", "省"),
    ),
    Column(
        "city", pgettext_lazy("lead import column", "City"), max_length=20, aliases=("城市", "市")
    ),
    Column(
        "district",
        pgettext_lazy("lead import column", "District"),
        max_length=20,
        aliases=("区县", "区", "县区"),
    ),
    Column(
        "address",
        pgettext_lazy("lead import column", "Address"),
        max_length=200,
        aliases=("地址", "详细地址", "公司地址"),
        sample="上海市浦东新区张江路 100 号",
    ),
    Column(
        "remark",
        pgettext_lazy("lead import column", "Remark"),
        kind="multiline",
        aliases=("备注", "说明"),
    ),
    Column(
        "next_followup_at",
        pgettext_lazy("lead import column", "Next follow-up"),
        kind="datetime",
        aliases=("下次跟进时间", "下次联系时间"),
        sample="2026-12-01",
    ),
    owner_column("线索负责人", "线索所有人"),
]
FOREIGN_KEYS = ("source", "campaign")
# The option lists of the columns whose values an import may add (add_options).
OPTION_KINDS = {"source": OptionKind.CUSTOMER_SOURCE}
# Lead fields an overwrite writes (those among the file's columns).
LEAD_KEYS = [c.key for c in COLUMNS if c.key != "owner"]


class LeadImporter(Importer):
    kind = ImportJob.Kind.LEADS
    model = Lead
    permission = "lead.import"
    label = gettext_lazy("Leads")
    # Rows per transaction: the progress bar moves and a restart resumes per batch.
    batch_size = 2000

    def columns(self, tenant_id: int) -> list[Column]:
        return COLUMNS

    def required_keys(self, job: ImportJob) -> set[str]:
        """The columns the job's options require besides the always required ones: the
        owner column when importing by owner (the mapping step may ask for it)."""
        return {"owner"} if job.options.get("target") == TARGET_OWNER else set()

    def _choice_values(self, tenant_id: int) -> dict[str, list[tuple[int, str, bool]]]:
        """(pk, label, active) of the values: the lead sources (the customer source list,
        deactivated ones too: a value naming one is refused) and the tenant's campaigns."""
        sources = Option.objects.filter(
            tenant_id=tenant_id, kind=OptionKind.CUSTOMER_SOURCE
        ).values_list("pk", "label", "is_active")
        campaigns = [
            (pk, name, True)
            for pk, name in Campaign.objects.filter(tenant_id=tenant_id).values_list("pk", "name")
        ]
        return {"source": list(sources), "campaign": campaigns}

    def choices(self, tenant_id: int) -> dict[str, list[str]]:
        return {
            key: [label for _pk, label, active in values if active]
            for key, values in self._choice_values(tenant_id).items()
        }

    def prepare_apply(self, job: ImportJob) -> None:
        """Lead sources the check found new (添加到选项列表) are added before the batches."""
        create_new_options(job, OPTION_KINDS)

    # ------------------------------------------------------------ options

    def clean_options(self, actor: User, data: dict) -> dict:
        from pools.models import PoolGroup

        return clean_target_options(
            actor,
            data,
            keys=KEYS,
            pool_kind=PoolGroup.Kind.LEAD,
            no_pool=_("Choose the lead pool to import into."),
            no_target=_("Choose where the leads go: a lead pool, employees or a department."),
        )

    # ------------------------------------------------------------ check

    def check(
        self, job: ImportJob, sheet, mapping: dict[str, int], progress, prefetched=None
    ) -> Plan:
        from django.db.models import Max

        from crm.spreadsheets import cell_date, cell_multiline_text, cell_text

        tenant_id = job.tenant_id
        options = job.options
        by_owner = options["target"] == TARGET_OWNER
        if by_owner and "owner" not in mapping:
            raise ServiceError(owner_column_missing(), code="missing_columns")
        plan = Plan()
        # What exists now is what the duplicate check below sees; applying looks only above
        # this id for leads that appear in between.
        plan.state["watermark"] = (
            Lead.objects.filter(tenant_id=tenant_id).aggregate(m=Max("pk"))["m"] or 0
        )
        # PERF: the option lists and the owners are read once and looked up in dicts.
        add = bool(options.get("add_options"))
        lookups = {
            key: OptionMatcher(values, add=add and key in OPTION_KINDS)
            for key, values in self._choice_values(tenant_id).items()
        }
        if by_owner:
            lookups["owner"] = OwnerMatcher(job.created_by)
        labels = {c.key: str(c.label) for c in COLUMNS}
        columns = [
            (c, mapping[c.key])
            for c in COLUMNS
            if c.key in mapping and (c.key != "owner" or by_owner)
        ]
        by_mobile = options["duplicate_keys"] in ("mobile", "either")
        by_company = options["duplicate_keys"] in ("company", "either")
        seen = SeenRows()
        good: list[tuple[int, dict, str, str, list]] = []
        for index, (row_no, cells) in enumerate(sheet.rows):
            if index % 5000 == 0 and index:
                progress(index)
            values: dict = {}
            errors: list[str] = []
            for column, position in columns:
                raw = cells[position]
                try:
                    if column.kind == "datetime":
                        moment = cell_date(raw)
                        values[column.key] = aware_text(moment) if moment is not None else None
                    elif column.kind == "multiline":
                        values[column.key] = cell_multiline_text(raw)
                    else:
                        values[column.key] = _clean_cell(column, cell_text(raw), lookups)
                except ValueError as exc:
                    errors.append(f"{labels[column.key]}: {exc}")
            if not values.get("mobile") and MOBILE_RE.match(values.get("phone") or ""):
                # A mobile number in the phone column (联系电话) is the lead's mobile.
                values["mobile"], values["phone"] = values["phone"], ""
            if not values.get("name") and not any(labels["name"] in e for e in errors):
                errors.insert(0, _("%(column)s is required.") % {"column": labels["name"]})
            if errors:
                plan.rejected.append((row_no, as_uploaded(cells), "；".join(errors)))
                continue
            mobile_key = values.get("mobile", "") if by_mobile else ""
            company_key = normalize_name(values.get("company", "")) if by_company else ""
            earlier = seen.repeats(row_no, mobile_key, company_key)
            if earlier is not None:
                plan.rejected.append(
                    (
                        row_no,
                        as_uploaded(cells),
                        _("The same lead as row %(row)d of this file.") % {"row": earlier},
                    )
                )
                continue
            good.append((row_no, values, mobile_key, company_key, cells))
        progress(len(sheet.rows))
        mobile_hits = _matches(tenant_id, "mobile", {g[2] for g in good if g[2]})
        company_hits = _matches(tenant_id, "company_normalized", {g[3] for g in good if g[3]})
        plan_matched_rows(
            plan,
            job,
            good,
            (mobile_hits, company_hits),
            _existing(job, set().union(*mobile_hits.values(), *company_hits.values())),
            refused="converted",
            no_match=_("No existing lead matches it."),
            several=_("It matches several leads (%(names)s); fix the row."),
            refusal=_("The lead %(name)s was converted into a customer; it is read-only."),
        )
        plan_new_options(plan, lookups, OPTION_KINDS)
        return plan

    # ------------------------------------------------------------ apply

    def apply(self, job: ImportJob, rows: list[list]) -> dict:
        now = timezone.now()
        creates = [r for r in rows if r[1] == "create"]
        updates = [r for r in rows if r[1] == "update"]
        result = {"created": 0, "updated": 0, "skipped": 0, "failed": 0, "errors": []}
        creates = self._drop_late_duplicates(job, creates, result)
        creates = self._within_holding_limit(job, creates, result)
        if creates:
            ids = self._create(job, creates, now)
            result["created"] = len(creates)
            # The next batch need not read this batch's own rows again.
            result["state"]["watermark"] = max(result["state"]["watermark"], max(ids))
            if job.options["target"] == TARGET_POOL:
                self._auto_assign(job, ids, result)
        if updates:
            self._update(job, updates, now, result)
        if creates and job.options["target"] != TARGET_POOL:
            notify_owners(
                job,
                {r[2] for r in creates},
                result,
                _("%(name)s imported leads for you from “%(file)s”"),
                self.result_link(job),
            )
        return result

    def _drop_late_duplicates(self, job: ImportJob, creates: list, result: dict) -> list:
        """Rows checked as new whose lead someone created since the check are skipped."""
        keys = job.options["duplicate_keys"]
        mobiles = (
            {r[3]["mobile"] for r in creates if r[3].get("mobile")}
            if keys in ("mobile", "either")
            else set()
        )
        companies = (
            {normalize_name(r[3].get("company") or "") for r in creates} - {""}
            if keys in ("company", "either")
            else set()
        )
        # Only leads above the watermark (the highest id seen so far, moved past each
        # batch's own rows) can be new since the check: one short index range read.
        last = job.summary.get("watermark") or 0
        taken_mobiles: set[str] = set()
        taken_companies: set[str] = set()
        for pk, mobile, company, source in Lead.objects.filter(
            tenant_id=job.tenant_id, pk__gt=last
        ).values_list("pk", "mobile", "company_normalized", "import_job_id"):
            last = max(last, pk)
            if source == job.pk:
                continue
            if mobile in mobiles:
                taken_mobiles.add(mobile)
            if company in companies:
                taken_companies.add(company)
        result["state"] = {"watermark": last}
        if not taken_mobiles and not taken_companies:
            return creates
        kept = []
        for row in creates:
            values = row[3]
            if values.get("mobile") in taken_mobiles or (
                normalize_name(values.get("company") or "") in taken_companies
            ):
                result["skipped"] += 1
                result["errors"].append(
                    [row[0], _("Skipped: the lead was created by someone else meanwhile.")]
                )
            else:
                kept.append(row)
        return kept

    def _within_holding_limit(self, job: ImportJob, creates: list, result: dict) -> list:
        """New rows for an owner who has no room under the holding limit of the default lead
        pool fail with a message naming the owner; the rest is written, as in the customer
        import (``pools.services.holding_room_for_import``)."""
        from pools.services import holding_room_for_import
        from pools.subjects import subject_for

        if not creates or job.options["target"] == TARGET_POOL:
            return creates
        kept, refused = holding_room_for_import(
            subject=subject_for("lead"),
            group=_default_lead_group(job.tenant_id),
            tenant_id=job.tenant_id,
            rows=creates,
            owner_of=lambda row: row[2],
        )
        result["failed"] += len(refused)
        result["errors"].extend([row[0], message] for row, message in refused)
        return kept

    def _create(self, job: ImportJob, rows: list, now: datetime.datetime) -> list[int]:
        """Leads and their IMPORTED events of a batch, written with ``crm.bulk.insert_rows``
        (COPY on PostgreSQL): no model instance per row."""

        options = job.options
        tenant_id = job.tenant_id
        actor_id = job.created_by_id
        pooled = options["target"] == TARGET_POOL
        if pooled:
            group_id = options["pool_group"]
        else:
            # An owned lead belongs to the default lead pool (where it is recycled to), if
            # the tenant has one.
            default = _default_lead_group(tenant_id)
            group_id = default.pk if default is not None else None
        base = {
            "tenant_id": tenant_id,
            "created_by_id": actor_id,
            "updated_by_id": actor_id,
            "created_at": now,
            "updated_at": now,
            "status": Lead.Status.NEW,
            "pool_group_id": group_id,
            "pooled_at": now if pooled else None,
            "pool_reason": PoolReason.IMPORTED if pooled else "",
            "owned_since": None if pooled else now,
            "import_job_id": job.pk,
        }
        leads = []
        new_ids = job.summary.get("new_option_ids") or {}
        for _row_no, _action, owner_id, values in rows:
            fields = dict(base)
            for key in LEAD_KEYS:
                if key in values:
                    fields[f"{key}_id" if key in FOREIGN_KEYS else key] = _from_json(
                        key, _option_id(key, values[key], new_ids)
                    )
            fields["company_normalized"] = normalize_name(fields.get("company") or "")
            fields["owner_id"] = None if pooled else owner_id
            leads.append(fields)
        ids = insert_rows(Lead, leads)
        insert_rows(
            LeadEvent,
            [
                {
                    "tenant_id": tenant_id,
                    "lead_id": pk,
                    "kind": LeadEvent.Kind.IMPORTED,
                    "to_user_id": fields["owner_id"],
                    "actor_id": actor_id,
                    "pool_group_id": group_id if pooled else None,
                    "note": job.original_name[:500],
                    "created_at": now,
                }
                for pk, fields in zip(ids, leads, strict=True)
            ],
            ids=False,
            fresh={"lead_id": ids},
        )
        return ids

    def _auto_assign(self, job: ImportJob, ids: list[int], result: dict) -> None:
        """Offer the batch's pooled leads to the assignment rules (trigger ``import``), in
        the batch's transaction: a resumed import never offers a lead twice."""
        from leads.assignment import auto_assign

        leads = []
        for chunk in id_chunks(ids):
            leads.extend(Lead.objects.filter(tenant_id=job.tenant_id, pk__in=chunk).order_by("pk"))
        assigned = auto_assign(leads=leads, trigger="import", actor=job.created_by)
        result["state"]["auto_assigned"] = job.summary.get("auto_assigned", 0) + len(assigned)

    def _update(self, job: ImportJob, rows: list, now: datetime.datetime, result: dict) -> None:
        tenant_id = job.tenant_id
        by_pk = {r[2]: r for r in rows}
        leads = {
            lead.pk: lead
            for lead in Lead.objects.select_for_update()
            .filter(tenant_id=tenant_id, pk__in=list(by_pk))
            .order_by("pk")
        }
        # SECURITY: the check planned updates of leads the importer could edit then; the
        # rows locked above are checked again, as they are now.
        editable = editable_ids(job, Lead.objects.filter(tenant_id=tenant_id), list(leads), "lead")
        changed, changes = [], []
        written: set[str] = set()
        new_ids = job.summary.get("new_option_ids") or {}
        for pk, (row_no, _action, _pk, values) in sorted(by_pk.items()):
            lead = leads.get(pk)
            if lead is None:
                result["failed"] += 1
                result["errors"].append([row_no, _("The lead was deleted meanwhile.")])
                continue
            if pk not in editable:
                result["skipped"] += 1
                result["errors"].append([row_no, str(OUT_OF_REACH)])
                continue
            if lead.is_read_only:
                result["failed"] += 1
                result["errors"].append(
                    [row_no, _("The lead was converted into a customer meanwhile.")]
                )
                continue
            before = {}
            for key in LEAD_KEYS:
                if key not in values:
                    continue
                attr = f"{key}_id" if key in FOREIGN_KEYS else key
                before[attr] = _jsonable_value(getattr(lead, attr))
                setattr(lead, attr, _from_json(key, _option_id(key, values[key], new_ids)))
                written.add(attr)
            lead.company_normalized = normalize_name(lead.company)
            lead.updated_at = now
            lead.updated_by_id = job.created_by_id
            changed.append(lead)
            changes.append(
                LeadImportChange(
                    tenant_id=tenant_id,
                    job_id=job.pk,
                    lead_id=pk,
                    row=row_no,
                    before=before,
                    written_at=now,
                )
            )
        if changed:
            Lead.objects.bulk_update(
                changed,
                sorted(written | {"company_normalized", "updated_at", "updated_by_id"}),
                batch_size=500,
            )
        LeadImportChange.objects.bulk_create(changes, batch_size=500)
        result["updated"] += len(changed)

    # ------------------------------------------------------------ undo

    def undo(self, job: ImportJob, actor: User) -> dict:
        """Remove the leads the import created that nobody touched since (followed up,
        given attachments, claimed / assigned / moved / returned, converted or edited) and
        restore the leads it overwrote where nobody changed them since; the others are
        kept and named with the reason."""
        from customers import owned
        from customers.models import Attachment, FollowUp

        tenant_id = job.tenant_id
        since = job.finished_at
        created = list(
            Lead.objects.select_for_update()
            .filter(tenant_id=tenant_id, import_job=job)
            .order_by("pk")
            .values("pk", "name", "company", "updated_at", "status", "last_followup_at")
        )
        ids = [c["pk"] for c in created]
        touched: dict[int, str] = {}
        for row in created:
            if row["status"] == Lead.Status.CONVERTED:
                touched[row["pk"]] = _("it was converted into a customer")
        # The import's own events (IMPORTED, and the rules' assignment during the import)
        # do not count; any later change of owner does.
        owner_changes = LeadEvent.objects.exclude(kind=LeadEvent.Kind.IMPORTED).exclude(
            kind=LeadEvent.Kind.AUTO_ASSIGNED, created_at__lte=since
        )
        # Follow-ups and files on these leads (customers.owned), then other changes of owner.
        checks = [
            (FollowUp.objects.filter(owned.of_kind(Lead)), "record_id", _("it has follow-ups")),
            (Attachment.objects.filter(owned.of_kind(Lead)), "record_id", _("it has attachments")),
            (
                owner_changes,
                "lead_id",
                _("its owner changed since (claimed, assigned, returned or moved)"),
            ),
        ]
        for queryset, column, reason in checks:
            for pk in _leads_in(queryset.filter(tenant_id=tenant_id), ids, column):
                touched.setdefault(pk, str(reason))
        for row in created:
            if row["last_followup_at"] is not None:
                touched.setdefault(row["pk"], _("it has follow-ups"))
            elif row["updated_at"] > since:
                touched.setdefault(row["pk"], _("it was edited since"))
        removable = [pk for pk in ids if pk not in touched]
        names = {c["pk"]: _lead_label(c["company"], c["name"]) for c in created}
        kept = [
            {"id": pk, "name": names[pk], "reason": str(reason)} for pk, reason in touched.items()
        ]
        for chunk in id_chunks(removable):
            Lead.objects.filter(tenant_id=tenant_id, pk__in=chunk).delete()
        restored = 0
        changes = list(
            LeadImportChange.objects.filter(tenant_id=tenant_id, job=job).order_by("row")
        )
        current = {
            lead.pk: lead
            for lead in Lead.objects.select_for_update().filter(
                tenant_id=tenant_id, pk__in=[ch.lead_id for ch in changes]
            )
        }
        for change in changes:
            lead = current.get(change.lead_id)
            if lead is None:
                continue
            if lead.updated_at > change.written_at or lead.is_read_only:
                kept.append(
                    {
                        "id": lead.pk,
                        "name": str(lead),
                        "reason": _("it was changed after the import; its values were kept"),
                    }
                )
                continue
            for attr, value in change.before.items():
                setattr(lead, attr, _from_json(attr.removesuffix("_id"), value))
            lead.save()
            restored += 1
        kept.sort(key=lambda k: k["id"])
        report = {"removed": len(removable), "restored": restored, "kept": kept[:500]}
        removed_options = remove_unused_options(job)
        if removed_options:
            report["options_removed"] = removed_options
        return report

    def result_link(self, job: ImportJob) -> str:
        """The imported leads: the lead pool they went to, or the lead list filtered by the
        import."""
        try:
            if job.options.get("target") == TARGET_POOL:
                return f"{reverse('leads:pool-list')}?group={job.options['pool_group']}"
            return f"{reverse('leads:lead-list')}?view=all&import_job={job.pk}"
        except NoReverseMatch:  # the list pages are not installed yet
            return ""


# ---------------------------------------------------------------- helpers


def _default_lead_group(tenant_id: int):
    """The tenant's default lead pool, or None (an import does not create it)."""
    from pools.models import PoolGroup

    return PoolGroup.objects.filter(
        tenant_id=tenant_id, kind=PoolGroup.Kind.LEAD, is_default=True
    ).first()


def _option_id(key: str, value, new_ids: dict):
    """A plan row's choice value: an option id, or the label of an option this import added
    (its id from ``prepare_apply``)."""
    if type(value) is str and key in OPTION_KINDS:
        return new_ids.get(key, {}).get(value)
    return value


def _clean_cell(column: Column, text: str, lookups: dict) -> str | int | None:
    """One cell's value (text already cleaned), or ValueError with the reason. ``lookups``:
    the matchers of the choice columns and of the owner column, by column key."""
    if column.kind == "mobile":
        if not text:
            return ""
        mobile = mobile_digits(text)
        if mobile is None:
            raise ValueError(
                _("“%(value)s” is not a mobile number (11 digits starting with 1).")
                % {"value": text}
            )
        return mobile
    if column.kind == "phone":
        if not text:
            return ""
        phone = phone_digits(text)
        if phone is None:
            raise ValueError(_("“%(value)s” is not a phone number.") % {"value": text})
        return phone
    if column.kind == "email":
        if not text:
            return ""
        try:
            validate_email(text)
        except ValidationError as exc:
            raise ValueError(_("“%(value)s” is not an email address.") % {"value": text}) from exc
        return text
    if column.kind == "owner":
        return lookups["owner"](text)
    if column.kind == "choice":
        if not text:
            return None
        return lookups[column.key](text)
    if column.max_length and len(text) > column.max_length:
        raise ValueError(_("longer than %(max)d characters.") % {"max": column.max_length})
    return text


def _matches(tenant_id: int, field: str, keys: set[str]) -> dict[str, list[int]]:
    """Key -> ids of the tenant's leads (pools and converted leads included) whose
    ``field`` equals it: one ``IN`` query per chunk of keys."""
    hits: dict[str, list[int]] = defaultdict(list)
    leads = Lead.objects.filter(tenant_id=tenant_id)
    for chunk in id_chunks(keys):
        for pk, value in leads.filter(**{f"{field}__in": chunk}).values_list("pk", field):
            hits[value].append(pk)
    return hits


def _existing(job: ImportJob, ids: set[int]) -> dict[int, dict]:
    """The matched leads the importer may see, by id: how the preview names them (company,
    name and owner), whether they were converted, and whether the importer may overwrite
    them (``editable``: crm.importing.records_in_reach). SECURITY: the leads the importer may
    not see are left out, so that no message names them (plan_matched_rows)."""
    found = {}
    reach = records_in_reach(
        job.created_by,
        Lead.objects.filter(tenant_id=job.tenant_id),
        ids,
        ("name", "company", "owner__name", "owner__username", "status"),
        pool_admin_groups=pool_admin_groups(job.created_by, "lead"),
    )
    for pk, row in reach.items():
        owner = row["owner__name"] or row["owner__username"]
        holder = _("in the pool") if row["pooled_at"] else (owner or _("no owner"))
        found[pk] = {
            "label": f"{_lead_label(row['company'], row['name'])}（{holder}）",
            "converted": row["status"] == Lead.Status.CONVERTED,
            "editable": row["editable"],
        }
    return found


def _lead_label(company: str, name: str) -> str:
    return f"{company} {name}".strip() if company else name


def _jsonable_value(value):
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def _from_json(key: str, value):
    if key == "next_followup_at":
        return datetime.datetime.fromisoformat(value) if value else None
    if key in FOREIGN_KEYS:
        return value or None
    return "" if value is None else value


def _leads_in(queryset, lead_ids: list[int], column: str = "lead_id") -> set[int]:
    """The ``column`` values (lead ids) of ``queryset`` among ``lead_ids`` (in chunks)."""
    found: set[int] = set()
    for chunk in id_chunks(lead_ids):
        found.update(queryset.filter(**{f"{column}__in": chunk}).values_list(column, flat=True))
    return found


importing.register(LeadImporter())
