"""Sheets shaped like the lists companies bring to the customer import (issue 17): other
CRMs' exports (悟空, 销售易, 纷享销客), an ERP's customer master, hand-made lists with title
and note rows, starred and annotated headers, an instruction sheet first, merged cells, both
phone columns, an owner column, .ods / WPS .et / .xls, CSV in GB18030, UTF-16 and with old
Mac line endings. Every file is built in memory (tests/crm/spreadsheet_files.py).

Each ``Entry`` declares what the reader must find (sheet, header row, cleaned headers, data
rows) and what the customer import check must give (the column keys the headers map to, the
preview's counts, or the refusal). Owners are the usernames of tests/conftest.py's world.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.crm import spreadsheet_files as files

INSTRUCTIONS = (
    "填写说明",
    [
        ["客户导入模板 填写说明"],
        ["1. 带 * 的列为必填项"],
        ["2. 手机号请填写 11 位数字，座机请带区号"],
        ["3. 日期格式：2026-01-01"],
    ],
)


@dataclass(frozen=True)
class Entry:
    id: str
    file_name: str
    build: Callable[[], bytes]
    header_row: int
    sheet_name: str
    headers: list[str]  # as clean_header() gives them, "" for a blank header cell
    rows: int  # non-blank data rows read
    keys: set[str] = field(default_factory=set)  # the column keys the headers map to
    counts: dict[str, int] = field(default_factory=dict)  # the preview's create/skip/reject
    options: dict = field(default_factory=dict)  # import options beyond target=pool
    # The refusal (English, part of the job's message) when the check refuses the file: a
    # FAILED job, or a job held at the mapping step (``mapping_errors``) that cannot be
    # confirmed; nothing is written either way.
    refusal: str = ""
    # Keys the headers should also map to once the column aliases know these other systems'
    # names (客户所有人, 业务员, 行业): asserted apart, expected to fail until then.
    wanted: set[str] = field(default_factory=set)
    # The first column of the data rows, when the reader fills or cleans it in some way.
    first_column: list | None = None
    # Keys whose support is another helper's work (the contract of issue 17).
    needs: tuple[str, ...] = ()

    @functools.cached_property
    def data(self) -> bytes:
        return self.build()


def _wukong() -> bytes:
    # 悟空CRM「导出客户」: a title row merged over the columns, 电话 and 手机 side by side.
    headers = [
        "客户名称",
        "客户级别",
        "客户来源",
        "客户行业",
        "负责人",
        "电话",
        "手机",
        "网址",
        "下次联系时间",
        "备注",
        "创建时间",
        "详细地址",
    ]
    rows = [
        [
            "杭州悟空示例科技有限公司",
            "A（重点客户）",
            "促销",
            "IT",
            "rep_east",
            "0571-88886666",
            "13800138001",
            "www.example.com",
            "2026-12-20",
            "老客户",
            "2026-01-05 10:00:00",
            "杭州市西湖区文三路 1 号",
        ],
        [
            "宁波悟空示例贸易有限公司",
            "B",
            "广告",
            "贸易",
            "rep_east",
            "",
            "13800138002",
            "",
            "",
            "",
            "2026-02-01 09:30:00",
            "",
        ],
    ]
    return files.xlsx_bytes(headers, rows, title_rows=["客户"], merged_title=True)


def _xiaoshouyi() -> bytes:
    # 销售易 export: "客户所有人", 总机, a creation date.
    headers = ["客户名称", "客户所有人", "总机", "客户级别", "行业", "地址", "创建人", "创建日期"]
    rows = [
        [
            "上海销售易示例有限公司",
            "王经理",
            "021-58881234",
            "",
            "",
            "上海市浦东新区",
            "管理员",
            "2026-03-01",
        ],
        ["苏州销售易示例有限公司", "王经理", "0512-66668888", "", "", "", "管理员", "2026-03-02"],
        ["无锡销售易示例有限公司", "李经理", "", "", "", "", "管理员", "2026-03-03"],
    ]
    return files.xlsx_bytes(headers, rows, sheet_title="客户")


def _fxiaoke() -> bytes:
    # 纷享销客 export: a count row above the header, 所属部门, 最后跟进时间.
    headers = ["客户名称", "负责人", "电话", "地址", "最后跟进时间", "所属部门", "创建时间"]
    rows = [
        [
            "广州纷享示例有限公司",
            "rep_east",
            "020-38889999",
            "广州市天河区",
            "2026-11-01",
            "华南",
            "",
        ],
        ["深圳纷享示例有限公司", "rep_east", "13800138003", "", "", "华南", ""],
    ]
    return files.xlsx_bytes(headers, rows, title_rows=["客户（共 2 条）"], sheet_title="客户")


def _erp_master() -> bytes:
    # An ERP's customer master saved as CSV by Chinese Excel (GB18030).
    headers = [
        "客户编码",
        "客户名称",
        "客户简称",
        "税号",
        "开户银行",
        "银行账号",
        "联系人",
        "联系电话",
        "地址",
        "业务员",
    ]
    rows = [
        [
            "C0001",
            "北京示例机械有限公司",
            "示例机械",
            "",
            "工商银行北京分行",
            "6222000011112222",
            "赵工",
            "010-66667777",
            "北京市海淀区",
            "张三",
        ],
        [
            "C0002",
            "天津示例化工有限公司",
            "示例化工",
            "",
            "",
            "",
            "钱工",
            "13800138004",
            "",
            "张三",
        ],
        ["C0003", "河北示例钢铁有限公司", "示例钢铁", "", "", "", "", "", "", "李四"],
    ]
    return files.csv_bytes(headers, rows, encoding="gb18030")


def _hand_made() -> bytes:
    # A list typed by hand: a title, a note row, starred and annotated headers.
    headers = [
        "*客户名称",
        "联系人",
        "手机号（11位）",
        "座机",
        "下次跟进时间（格式：2026-01-01）",
        "备注（选填）",
    ]
    rows = [
        ["温州手工示例鞋业有限公司", "孙总", "13800138005", "0577-88881111", "2026-12-31", ""],
        ["台州手工示例阀门有限公司", "", "13800138006", "", "", "展会认识"],
        ["", "", "", "", "", "（以下空白）"],
    ]
    return files.xlsx_bytes(
        headers, rows, title_rows=["2026 年意向客户名单", "说明：带 * 为必填，手机与座机至少填一个"]
    )


def _instruction_sheet_first() -> bytes:
    headers = ["客户名称（必填）", "联系人", "手机", "下次跟进时间（格式：2026-01-01）"]
    rows = [
        ["合肥说明页示例有限公司", "周经理", "13800138007", "2026-12-15"],
        ["芜湖说明页示例有限公司", "吴经理", "13800138008", ""],
    ]
    return files.workbook_xlsx([INSTRUCTIONS, ("客户信息", [headers, *rows])])


def _merged_cells() -> bytes:
    # One company over its contact rows, the owner merged the same way (a sheet built for
    # people): each row must carry the company and the owner.
    headers = ["公司名称", "联系人", "手机", "负责人"]
    rows = [
        ["南京合并示例有限公司", "郑一", "13800138011", "rep_east"],
        [None, "郑二", "13800138012", None],
        [None, "郑三", "13800138013", None],
        ["扬州合并示例有限公司", "冯一", "13800138014", "rep_east"],
    ]
    return files.workbook_xlsx([("客户", [headers, *rows])], merges={"客户": ["A2:A4", "D2:D4"]})


def _both_phones() -> bytes:
    headers = ["客户名称", "联系人", "手机", "电话", "邮箱", "职务"]
    rows = [
        [
            "成都双号示例有限公司",
            "陈经理",
            "13800138021",
            "028-85556666",
            "chen@example.com",
            "采购经理",
        ],
        ["重庆双号示例有限公司", "褚经理", "13800138022", "", "", ""],
    ]
    return files.xlsx_bytes(headers, rows)


def _second_contact() -> bytes:
    headers = ["客户名称", "联系人", "手机", "联系人2", "手机2"]
    rows = [["西安双联系人示例有限公司", "卫经理", "13800138031", "蒋助理", "13800138032"]]
    return files.xlsx_bytes(headers, rows)


def _owner_column() -> bytes:
    headers = ["客户名称", "联系人", "手机", "业务负责人"]
    rows = [
        ["长沙负责人示例有限公司", "沈经理", "13800138041", "rep_east"],
        ["株洲负责人示例有限公司", "韩经理", "13800138042", "不存在的人"],
    ]
    return files.xlsx_bytes(headers, rows)


def _ods() -> bytes:
    headers = ["*客户名称", "联系人", "手机（11位）"]
    rows = [
        ["昆明开放格式示例有限公司", "杨经理", 13800138051],
        ["大理开放格式示例有限公司", "朱经理", "13800138052"],
    ]
    return files.ods_workbook([INSTRUCTIONS, ("客户", [headers, *rows])])


def _et() -> bytes:
    # WPS 表格's own .et: the same compound-file format as .xls.
    headers = ["客户名称", "联系人", "手机"]
    rows = [
        ["贵阳金山示例有限公司", "秦一", "13800138061"],
        [None, "秦二", "13800138062"],
    ]
    return files.xls_bytes(headers, rows, sheet="客户", merges=[(1, 2, 0, 0)])


def _xls() -> bytes:
    headers = ["客户名称*", "联系人", "联系电话"]
    rows = [["兰州旧格式示例有限公司", "尤经理", "13800138071"]]
    return files.xls_bytes(headers, rows, sheet="Sheet1")


def _csv_utf16() -> bytes:
    # Excel's "Unicode 文本": UTF-16 with a BOM, tab-delimited.
    headers = ["客户名称", "联系人", "手机"]
    rows = [["太原统一码示例有限公司", "许经理", "13800138081"]]
    return files.csv_bytes(headers, rows, encoding="utf-16", delimiter="\t")


def _csv_cr() -> bytes:
    headers = ["客户名称", "联系人", "手机"]
    rows = [
        ["福州回车示例有限公司", "何经理", "13800138091"],
        ["厦门回车示例有限公司", "吕经理", "13800138092"],
    ]
    return files.csv_bytes(headers, rows).replace(b"\r\n", b"\r")


def _formula_without_value() -> bytes:
    # Written by a script (openpyxl): the name of row 3 is a formula nobody computed.
    rows = [
        ["客户名称", "联系人", "手机"],
        ["沈阳公式示例有限公司", "施经理", "13800138101"],
        ['=CONCATENATE("大连","公式示例有限公司")', "张经理", "13800138102"],
    ]
    return files.workbook_xlsx([("客户", rows)])


def _no_name_column() -> bytes:
    headers = ["联系人", "手机", "备注"]
    rows = [["孔经理", "13800138111", ""]]
    return files.xlsx_bytes(headers, rows)


def _damaged() -> bytes:
    return files.truncated_xlsx()


CORPUS: list[Entry] = [
    Entry(
        "wukong",
        "悟空CRM_客户_20261201.xlsx",
        _wukong,
        header_row=2,
        sheet_name="客户",
        headers=[
            "客户名称",
            "客户级别",
            "客户来源",
            "客户行业",
            "负责人",
            "电话",
            "手机",
            "网址",
            "下次联系时间",
            "备注",
            "创建时间",
            "详细地址",
        ],
        rows=2,
        keys={
            "name",
            "level",
            "source",
            "owner",
            "contact_phone",
            "contact_mobile",
            "next_followup_at",
            "remark",
            "address",
            "industry",
        },
        options={"add_options": True},
        counts={"create": 2, "reject": 0},
        needs=("contact_mobile", "contact_phone", "owner"),
    ),
    Entry(
        "xiaoshouyi",
        "销售易-客户导出.xlsx",
        _xiaoshouyi,
        header_row=1,
        sheet_name="客户",
        headers=[
            "客户名称",
            "客户所有人",
            "总机",
            "客户级别",
            "行业",
            "地址",
            "创建人",
            "创建日期",
        ],
        rows=3,
        # 客户所有人 / 行业 / 总机: aliases of the owner, industry and landline columns.
        keys={"name", "level", "address", "owner", "industry", "contact_phone"},
        wanted={"owner", "industry"},
        counts={"create": 3, "reject": 0},
    ),
    Entry(
        "fxiaoke",
        "纷享销客_客户.xlsx",
        _fxiaoke,
        header_row=2,
        sheet_name="客户",
        headers=["客户名称", "负责人", "电话", "地址", "最后跟进时间", "所属部门", "创建时间"],
        rows=2,
        keys={"name", "owner", "contact_phone", "address"},
        counts={"create": 2, "reject": 0},
        needs=("contact_phone", "owner"),
    ),
    Entry(
        "erp_master",
        "ERP客户档案.csv",
        _erp_master,
        header_row=1,
        sheet_name="",
        headers=[
            "客户编码",
            "客户名称",
            "客户简称",
            "税号",
            "开户银行",
            "银行账号",
            "联系人",
            "联系电话",
            "地址",
            "业务员",
        ],
        rows=3,
        keys={
            "name",
            "credit_code",
            "bank_name",
            "bank_account",
            "contact_name",
            "contact_phone",
            "address",
            "owner",  # 业务员
        },
        wanted={"owner"},
        counts={"create": 3, "reject": 0},
        needs=("contact_name", "contact_phone"),
    ),
    Entry(
        "hand_made",
        "意向客户.xlsx",
        _hand_made,
        header_row=3,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机号", "座机", "下次跟进时间", "备注"],
        rows=3,
        keys={
            "name",
            "contact_name",
            "contact_mobile",
            "contact_phone",
            "next_followup_at",
            "remark",
        },
        # The "（以下空白）" row has no customer name.
        counts={"create": 2, "reject": 1},
        needs=("contact_name", "contact_mobile", "contact_phone"),
    ),
    Entry(
        "instruction_sheet_first",
        "客户导入模板（已填）.xlsx",
        _instruction_sheet_first,
        header_row=1,
        sheet_name="客户信息",
        headers=["客户名称", "联系人", "手机", "下次跟进时间"],
        rows=2,
        keys={"name", "contact_name", "contact_mobile", "next_followup_at"},
        counts={"create": 2, "reject": 0},
        needs=("contact_name", "contact_mobile"),
    ),
    Entry(
        "merged_cells",
        "合并单元格.xlsx",
        _merged_cells,
        header_row=1,
        sheet_name="客户",
        headers=["公司名称", "联系人", "手机", "负责人"],
        rows=4,
        keys={"name", "contact_name", "contact_mobile", "owner"},
        first_column=["南京合并示例有限公司"] * 3 + ["扬州合并示例有限公司"],
        # Rows 3 and 4 repeat row 2's customer: one customer per company.
        counts={"create": 2},
        needs=("contact_name", "contact_mobile", "owner"),
    ),
    Entry(
        "both_phones",
        "手机和电话.xlsx",
        _both_phones,
        header_row=1,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机", "电话", "邮箱", "职务"],
        rows=2,
        keys={
            "name",
            "contact_name",
            "contact_mobile",
            "contact_phone",
            "contact_email",
            "contact_title",
        },
        counts={"create": 2, "reject": 0},
        needs=("contact_mobile", "contact_phone", "contact_email", "contact_title"),
    ),
    Entry(
        "second_contact",
        "两个联系人.xlsx",
        _second_contact,
        header_row=1,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机", "联系人2", "手机2"],
        rows=1,
        keys={"name", "contact_name", "contact_mobile", "contact2_name", "contact2_mobile"},
        counts={"create": 1, "reject": 0},
        needs=("contact2_name", "contact2_mobile"),
    ),
    Entry(
        "owner_column",
        "按负责人导入.xlsx",
        _owner_column,
        header_row=1,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机", "业务负责人"],
        rows=2,
        keys={"name", "contact_name", "contact_mobile", "owner"},
        options={"target": "owner"},
        # The second row's owner is nobody in the tenant.
        counts={"create": 1, "reject": 1},
        needs=("owner",),
    ),
    Entry(
        "ods",
        "客户.ods",
        _ods,
        header_row=1,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机"],
        rows=2,
        keys={"name", "contact_name", "contact_mobile"},
        counts={"create": 2, "reject": 0},
    ),
    Entry(
        "wps_et",
        "客户.et",
        _et,
        header_row=1,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机"],
        rows=2,
        keys={"name", "contact_name", "contact_mobile"},
        first_column=["贵阳金山示例有限公司"] * 2,
        counts={"create": 1},
    ),
    Entry(
        "xls",
        "客户.xls",
        _xls,
        header_row=1,
        sheet_name="Sheet1",
        headers=["客户名称", "联系人", "联系电话"],
        rows=1,
        keys={"name", "contact_name", "contact_phone"},
        counts={"create": 1, "reject": 0},
    ),
    Entry(
        "csv_utf16",
        "客户.txt.csv",
        _csv_utf16,
        header_row=1,
        sheet_name="",
        headers=["客户名称", "联系人", "手机"],
        rows=1,
        keys={"name", "contact_name", "contact_mobile"},
        counts={"create": 1, "reject": 0},
    ),
    Entry(
        "csv_cr",
        "mac客户.csv",
        _csv_cr,
        header_row=1,
        sheet_name="",
        headers=["客户名称", "联系人", "手机"],
        rows=2,
        keys={"name", "contact_name", "contact_mobile"},
        counts={"create": 2, "reject": 0},
    ),
    Entry(
        "formula_without_value",
        "脚本生成.xlsx",
        _formula_without_value,
        header_row=1,
        sheet_name="客户",
        headers=["客户名称", "联系人", "手机"],
        rows=2,
        keys={"name", "contact_name", "contact_mobile"},
        counts={"create": 1, "reject": 1},
    ),
    Entry(
        "no_name_column",
        "缺少客户名称.xlsx",
        _no_name_column,
        header_row=1,
        sheet_name="客户",
        headers=["联系人", "手机", "备注"],
        rows=1,
        keys={"contact_name", "contact_mobile", "remark"},
        refusal="Customer name",
    ),
    Entry(
        "damaged",
        "传输中断.xlsx",
        _damaged,
        header_row=0,
        sheet_name="",
        headers=[],
        rows=0,
        refusal="The file is damaged or incomplete",
    ),
]

BY_ID = {entry.id: entry for entry in CORPUS}
