"""``{% activity_words entry as words %}``: an activity-log entry as people read it
(crm.activity_words)."""

from __future__ import annotations

from django import template

from crm import activity_words as words_module

register = template.Library()


@register.simple_tag
def activity_words(entry) -> words_module.Words:
    return words_module.words(entry)
