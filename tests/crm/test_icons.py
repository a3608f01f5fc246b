"""Icons (issue 16 point 7): SVG icons from a package (heroicons), never Unicode symbols or
emoji, which show as empty boxes where the font lacks them.

* no character of the Unicode symbol categories (So, Sm, Sk; emoji are So) in a template, in a
  stylesheet's ``content:`` or in a navigation entry; CJK text and punctuation (· — …) are not
  symbols, and the few symbols that are text (× in "3 × 5", ¥ before an amount) are allowed;
* every navigation entry names an existing heroicon;
* the pages draw their icons as inline <svg> hidden from screen readers, and the controls
  that only show an icon (the menu, the bell) carry a label.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import heroicons
import pytest
from django.conf import settings
from django.urls import reverse

from crm import navigation

ROOT = Path(settings.BASE_DIR)
# Symbols that are text, not icons.
TEXT_SYMBOLS = {"×", "¥"}
SYMBOL_CATEGORIES = {"So", "Sm", "Sk"}


def symbol_icons(text: str) -> list[str]:
    """The symbol / emoji characters of ``text`` (CJK, letters, punctuation are fine)."""
    # The emoji variation selector and the zero-width joiner only ever come with emoji.
    return [
        ch
        for ch in text
        if ch in "\ufe0f\u200d"
        or (
            ord(ch) > 127
            and unicodedata.category(ch) in SYMBOL_CATEGORIES
            and ch not in TEXT_SYMBOLS
        )
    ]


def test_the_check_sees_symbols_and_emoji_but_not_chinese_text():
    assert symbol_icons("🔔 ☰ ≋ ⌂ ✧ ☏ ★ ☆ ✓ ✗ ⚠ ▾ → 🌐") == list("🔔☰≋⌂✧☏★☆✓✗⚠▾→🌐")
    assert symbol_icons("⚠️") == ["⚠", "\ufe0f"]
    assert symbol_icons("已选 3 项 · 转移 — 2 × 5，¥1,200（公海）…「线索」") == []


def _templates() -> list[Path]:
    return sorted((ROOT / "templates").rglob("*.html"))


def test_no_template_uses_a_symbol_or_emoji_as_an_icon():
    found = []
    for path in _templates():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if chars := symbol_icons(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {''.join(chars)}")
    assert len(_templates()) > 50  # the scan saw the templates
    assert found == [], "use a heroicon ({% heroicon_micro … %}) instead:\n" + "\n".join(found)


def test_no_stylesheet_draws_a_symbol_icon():
    found = []
    for path in sorted((ROOT / "static").rglob("*.css")):
        for value in re.findall(r"content:\s*([^;}]*)", path.read_text(encoding="utf-8")):
            if chars := symbol_icons(value):
                found.append(f"{path.relative_to(ROOT)}: {''.join(chars)}")
    assert found == []


def _nav_items():
    items = list(navigation._ITEMS)
    assert len(items) >= 15  # every app's entries are registered
    return items


def test_navigation_icons_are_heroicon_names_not_symbols():
    bad = [(i.key, i.icon) for i in _nav_items() if symbol_icons(i.icon) or not i.icon.isascii()]
    assert bad == []


@pytest.mark.parametrize("item", _nav_items(), ids=lambda i: i.key)
def test_every_navigation_icon_exists_in_heroicons(item):
    # The layout draws them with {% heroicon_outline item.icon %}.
    try:
        heroicons._load_icon("outline", item.icon)
    except heroicons.IconDoesNotExist:
        pytest.fail(f"navigation entry {item.key!r}: no heroicon named {item.icon!r}")


def test_the_default_navigation_icon_exists():
    heroicons._load_icon("outline", navigation.NavItem("x", "x", "crm:workbench").icon)


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b[^>]*>", html)


def test_pages_draw_their_icons_as_hidden_inline_svg(world, login):
    html = login(world.admin_a).get(reverse("crm:workbench")).content.decode()
    # One icon per navigation entry, inside its link, next to the link's text.
    links = re.findall(r'<a href="[^"]*" class="[^"]*" data-nav="([^"]+)">(.*?)</a>', html, re.S)
    assert len(links) >= 10
    for key, inner in links:
        assert inner.lstrip().startswith("<svg"), key
        assert re.sub(r"<svg.*?</svg>", "", inner, flags=re.S).strip(), f"{key} has no text"
    svgs = _svgs(html)
    assert len(svgs) > len(links)  # and the menu, the bell, the language
    for tag in svgs:
        assert 'aria-hidden="true"' in tag, tag
        assert "style=" not in tag, tag
    assert symbol_icons(html) == []


def test_icon_only_controls_carry_a_label(world, login):
    html = login(world.rep_east).get(reverse("customers:customer-list")).content.decode()
    hamburger = re.search(r'<label for="nav-toggle" class="hamburger"[^>]*>', html).group(0)
    assert 'aria-label="' in hamburger
    bell = re.search(r'<a id="bell"[^>]*>', html).group(0)
    assert re.search(r'aria-label="[^"]+"', bell)
    assert symbol_icons(html) == []


def test_the_sign_in_page_has_no_symbol_icon(client, db):
    html = client.get(reverse("login")).content.decode()
    assert 'class="brand-mark"' in html
    assert symbol_icons(html) == []
