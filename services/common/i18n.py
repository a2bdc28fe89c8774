"""Text for people, in their language: gettext catalogs (Babel), zh-CN by default, English available.

Codes and the wire contract stay ASCII; what a person reads comes from a catalog:

    services/locale/chuishao.pot                      the extracted messages (`make catalogs`)
    services/locale/<lang>/LC_MESSAGES/chuishao.po    one catalog per language: zh_CN, en

A catalog is compiled in memory the first time a language is used (Babel reads the .po and writes
the .mo into a buffer), so there is no compiled file to build or to keep in step with its source.
Message ids are English with named `%(name)s` placeholders; names of enumerations (a role, a step,
a status...) are looked up with a context, `pgettext(kind, text)`.

How the language is chosen: an explicit choice first (`?lang=en` over HTTP, `--lang` or
`CHUISHAO_LANG` on the command line), then the client's `Accept-Language`, then zh-CN:
`choose_language(query_lang, accept_language(header))`.
"""
from __future__ import annotations

import gettext as _gettext
import io
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

from babel.dates import format_datetime
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "chuishao"
LANGUAGES = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
# China keeps one clock (UTC+8, no daylight saving): people read their deadlines on it.
CHINA_TIME = timezone(timedelta(hours=8), "CST")


def N_(message: str) -> str:
    """Marks a message id for extraction (`make catalogs`); it is translated where it is shown."""
    return message


def normalize(tag: str | None) -> str | None:
    """The supported language a tag names (`zh`, `zh-CN`, `zh_Hans_CN`, `en-GB`...), or None."""
    if not isinstance(tag, str):
        return None
    parts = [p.lower() for p in re.split(r"[-_]", tag.strip()) if p]
    if not parts:
        return None
    if parts[0] == "zh" and not {"tw", "hk", "mo", "hant"} & set(parts[1:]):
        return "zh_CN"
    if parts[0] == "en":
        return "en"
    return None


def accept_language(header: str | None) -> str | None:
    """The supported language an HTTP Accept-Language header prefers most, or None."""
    ranked = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        match = re.search(r"q\s*=\s*([^;\s]*)", params)
        if match:
            try:
                weight = float(match.group(1))
            except ValueError:
                continue
        if weight > 0 and normalize(tag):
            ranked.append((-weight, position, normalize(tag)))
    return min(ranked)[2] if ranked else None


def choose_language(*preferences: str | None) -> str:
    """The first preference that names a supported language, else zh-CN."""
    for preference in preferences:
        chosen = normalize(preference)
        if chosen:
            return chosen
    return DEFAULT_LANGUAGE


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> _gettext.GNUTranslations:
    """The compiled catalog of a supported language (ValueError for another)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}")
    with catalog_path(lang).open("rb") as source:
        catalog = read_po(source, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


class Text:
    """One language's catalog and formats: what every renderer of text for people is handed."""

    def __init__(self, lang: str):
        self.lang = lang
        self._t = translations(lang)

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._t.pgettext(context, message)

    def time(self, value: datetime | str | None) -> str:
        """An instant on China's clock, e.g. 2025-06-01 14:30 (seconds dropped); '' for None."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_datetime(value, "yyyy-MM-dd HH:mm", tzinfo=CHINA_TIME, locale=self.lang)

    def join(self, items: Iterable[str], style: Literal["standard", "or"] = "standard") -> str:
        """A list for people: 甲、乙和丙 / A, B, and C (style "or": 甲或乙 / A or B)."""
        items = list(items)
        return format_list(items, style=style, locale=self.lang) if items else ""
