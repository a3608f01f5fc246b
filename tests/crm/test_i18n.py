"""The Simplified Chinese catalogue (locale/zh_Hans) is complete, compiled and current.

zh-hans is the default language, so an untranslated string shows up as English in front of
every user. These tests fail when a msgid has no translation (or is fuzzy), when the committed
.mo no longer matches the .po, when a placeholder was lost in translation, and when the source
has strings that the committed catalogue does not (or no longer) contain.

How to refresh the catalogue after changing or adding UI strings (needs GNU gettext:
``apt-get install gettext``), from the project root::

    DEBUG=1 TIDEPOOL_VAR_DIR=/tmp/tpvar .venv/bin/python manage.py makemessages -l zh_Hans \\
        --ignore=.venv --ignore=tests --ignore=var --ignore=bench --no-obsolete --add-location=file
    # translate every new entry in locale/zh_Hans/LC_MESSAGES/django.po (empty msgstr, or
    # flagged "#, fuzzy": fix the translation, then delete the flag), then:
    DEBUG=1 TIDEPOOL_VAR_DIR=/tmp/tpvar .venv/bin/python manage.py compilemessages -l zh_Hans \\
        --ignore=.venv
    .venv/bin/pytest -q tests/crm/test_i18n.py

Commit both django.po and django.mo: users run the compiled .mo and need no gettext tools.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "locale"
PO_PATH = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# The same --ignore list as the refresh command in the docstring.
SOURCE_IGNORES = [".venv", "tests", "var", "bench"]
# makemessages' default extensions for the "django" domain.
SOURCE_EXTENSIONS = {".py", ".html", ".txt"}

PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc%]")


def _key(entry: polib.POEntry | polib.MOEntry) -> tuple[str | None, str, str | None]:
    return (entry.msgctxt or None, entry.msgid, entry.msgid_plural or None)


def _show(key: tuple[str | None, str, str | None]) -> str:
    ctxt, msgid, plural = key
    text = repr(msgid)
    if plural:
        text += f" / plural {plural!r}"
    if ctxt:
        text += f" (context {ctxt!r})"
    return text


def _entries(po: polib.POFile) -> list[polib.POEntry]:
    return [e for e in po if not e.obsolete and e.msgid != ""]


def _translation(entry: polib.POEntry | polib.MOEntry) -> str | tuple[str, ...]:
    if entry.msgid_plural:
        return tuple(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
    return entry.msgstr


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    assert PO_PATH.is_file(), f"{PO_PATH} is missing: run makemessages (see the docstring)"
    return polib.pofile(str(PO_PATH))


def test_header_declares_simplified_chinese(po):
    assert po.metadata.get("Language") == "zh_Hans"
    assert po.metadata.get("Plural-Forms", "").replace(" ", "") == "nplurals=1;plural=0;"
    assert "charset=UTF-8" in po.metadata.get("Content-Type", "")
    assert not po.metadata_is_fuzzy, "the header is marked fuzzy: remove the '#, fuzzy' flag"


def test_every_entry_is_translated_and_not_fuzzy(po):
    entries = _entries(po)
    assert entries, "the catalogue is empty"
    missing = []
    fuzzy = []
    for entry in entries:
        if "fuzzy" in entry.flags:
            fuzzy.append(_show(_key(entry)))
        if entry.msgid_plural:
            # zh has one plural form: msgstr[0] must exist and every form must be filled.
            forms = entry.msgstr_plural
            if not forms or 0 not in forms or not all(v.strip() for v in forms.values()):
                missing.append(_show(_key(entry)))
        elif not entry.msgstr.strip():
            missing.append(_show(_key(entry)))
    report = []
    if missing:
        report.append(f"{len(missing)} untranslated msgid(s) in {PO_PATH}:")
        report += [f"  {m}" for m in missing]
    if fuzzy:
        report.append(
            f"{len(fuzzy)} fuzzy entry(ies): check each translation, then remove the flag:"
        )
        report += [f"  {f}" for f in fuzzy]
    assert not report, "\n".join(report)


def test_translations_keep_their_placeholders(po):
    wrong = []
    for entry in _entries(po):
        if entry.msgid_plural:
            expected = Counter(PLACEHOLDER.findall(entry.msgid_plural))
            # A lone form may drop a %(count)d that the English singular does not have either.
            singular = Counter(PLACEHOLDER.findall(entry.msgid))
            for text in entry.msgstr_plural.values():
                got = Counter(PLACEHOLDER.findall(text))
                if text and got not in (expected, singular):
                    wrong.append(f"{_show(_key(entry))} -> {text!r}")
        elif entry.msgstr and Counter(PLACEHOLDER.findall(entry.msgid)) != Counter(
            PLACEHOLDER.findall(entry.msgstr)
        ):
            wrong.append(f"{_show(_key(entry))} -> {entry.msgstr!r}")
    assert not wrong, "placeholders differ between msgid and msgstr:\n" + "\n".join(wrong)


def test_compiled_mo_matches_the_po(po):
    assert MO_PATH.is_file(), f"{MO_PATH} is missing: run compilemessages (see the docstring)"
    expected = {
        _key(e): _translation(e) for e in _entries(po) if e.translated() and "fuzzy" not in e.flags
    }
    compiled = {_key(e): _translation(e) for e in polib.mofile(str(MO_PATH)) if e.msgid != ""}
    differences = []
    for key in sorted(expected.keys() | compiled.keys(), key=repr):
        if key not in compiled:
            differences.append(f"not compiled: {_show(key)}")
        elif key not in expected:
            differences.append(f"in the .mo only (stale): {_show(key)}")
        elif expected[key] != compiled[key]:
            differences.append(f"{_show(key)}: .po {expected[key]!r} != .mo {compiled[key]!r}")
    assert not differences, (
        f"{MO_PATH.name} is out of date, run compilemessages (see the docstring):\n"
        + "\n".join(differences)
    )


def _copy_sources(destination: Path) -> None:
    """Copy what makemessages reads (project files with its extensions, minus the ignores).

    makemessages cannot run in the project itself without touching the committed catalogue:
    it always adds ``./locale`` (found in the working directory) to its locale paths and writes
    there, whatever LOCALE_PATHS says. So it runs in a copy, next to a copy of the catalogue.
    """

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        skipped = set()
        for name in names:
            path = here / name
            if path.is_dir():
                if (
                    name.startswith(".")
                    or name == "__pycache__"
                    or (here == ROOT and name in {*SOURCE_IGNORES, "locale"})
                ):
                    skipped.add(name)
            elif path.suffix not in SOURCE_EXTENSIONS:
                skipped.add(name)
        return skipped

    shutil.copytree(ROOT, destination, ignore=ignore)
    shutil.copytree(LOCALE_DIR, destination / "locale")


def test_catalogue_covers_the_current_source(po, settings, tmp_path):
    missing_tools = [t for t in ("xgettext", "msgmerge", "msguniq") if not shutil.which(t)]
    if missing_tools:
        pytest.skip(
            "install gettext to check the catalogue against the source "
            f"(not on PATH: {', '.join(missing_tools)})"
        )
    work = tmp_path / "project"
    _copy_sources(work)
    settings.LOCALE_PATHS = [str(work / "locale")]
    cwd = os.getcwd()
    os.chdir(work)
    try:
        call_command(
            "makemessages",
            locale=["zh_Hans"],
            ignore_patterns=SOURCE_IGNORES,
            no_obsolete=True,
            add_location="file",
            verbosity=0,
        )
    finally:
        os.chdir(cwd)
    regenerated = polib.pofile(str(work / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))

    in_source = {_key(e) for e in _entries(regenerated)}
    committed = {_key(e) for e in _entries(po)}
    new = sorted(in_source - committed, key=repr)
    gone = sorted(committed - in_source, key=repr)
    report = []
    if new:
        report.append(f"{len(new)} msgid(s) in the source but not in the committed catalogue:")
        report += [f"  {_show(k)}" for k in new]
    if gone:
        report.append(f"{len(gone)} msgid(s) in the catalogue but no longer in the source:")
        report += [f"  {_show(k)}" for k in gone]
    assert not report, "\n".join(
        [*report, "Refresh the catalogue and translate it (see the docstring of this file)."]
    )


def test_translations_are_used_at_runtime():
    with translation.override("zh-hans"):
        assert translation.gettext("Workbench") == "工作台"
        assert translation.gettext("Sign out") == "退出登录"
        rendered = Template(
            "{% load i18n %}{% translate 'Sign in' %}|"
            "{% blocktranslate with name=who %}Hello, {{ name }}{% endblocktranslate %}|"
            "{% blocktranslate with number=2 total=5 %}Page {{ number }} of {{ total }}"
            "{% endblocktranslate %}"
        ).render(Context({"who": "张三"}))
        assert rendered == "登录|您好，张三|第 2 页，共 5 页"
    with translation.override("en"):
        assert translation.gettext("Workbench") == "Workbench"
        assert translation.gettext("Sign out") == "Sign out"
