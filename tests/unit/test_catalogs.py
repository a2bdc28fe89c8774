"""The message catalogs: every message extracted from the code is translated in every language, and compiles."""
from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import click
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from services.cli import click_words
from services.common.i18n import LANGUAGES, LOCALE_DIR, catalog_path

ROOT = Path(__file__).resolve().parents[2]


def extracted() -> set[tuple[str | None, str]]:
    """(context, msgid) of every message `make catalogs` extracts, as babel.cfg says."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def keys(catalog) -> set[tuple[str | None, str]]:
    return {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog if m.id}


def read(lang: str):
    with catalog_path(lang).open("rb") as source:
        return read_po(source, locale=lang)


EXTRACTED = extracted()


def test_extraction_finds_the_messages_of_every_part():
    ids = {msgid for _, msgid in EXTRACTED}
    assert "%(street)s raised a whistle: %(category)s (%(urgency)s, %(source)s)" in ids   # the timeline
    assert "unknown street '%(street)s'" in ids                                         # the rules' refusals
    assert "is required" in ids                                                         # pydantic's, said again
    assert "whistle raised: %(whistle)s" in ids and "Usage:" in ids                     # the CLI, click's words
    assert ("role", "lead") in EXTRACTED                                                # names of enumerations


def test_the_template_is_up_to_date():
    with (LOCALE_DIR / "chuishao.pot").open("rb") as source:
        template = keys(read_po(source))
    assert EXTRACTED - template == set(), "run `make catalogs`, then translate what is new"
    assert template - EXTRACTED == set(), "run `make catalogs`: the template keeps messages no longer in the code"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_extracted_message_is_translated(lang):
    catalog = read(lang)
    by_key = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalog if m.id}
    missing = sorted(EXTRACTED - set(by_key), key=str)
    assert not missing, f"{lang} lacks {len(missing)} message(s); run `make catalogs` and translate: {missing[:5]}"
    untranslated = [key for key, m in by_key.items()
                    if key in EXTRACTED and (not all(m.string) if isinstance(m.id, tuple) else not m.string)]
    assert not untranslated, f"{lang} has empty translations: {untranslated[:5]}"
    fuzzy = [key for key, m in by_key.items() if m.fuzzy]
    assert not fuzzy, f"{lang} has fuzzy (unchecked) translations: {fuzzy[:5]}"
    assert set(by_key) - EXTRACTED == set(), f"{lang} keeps messages the code no longer has"


@pytest.mark.parametrize("lang, plurals", [("zh_CN", 1), ("en", 2)])
def test_catalogs_compile_and_their_placeholders_match(lang, plurals):
    catalog = read(lang)
    assert catalog.num_plurals == plurals
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, problems                       # Babel's checks: %(name)s placeholders kept, plural forms
    for message in catalog:                             # click's words use {name} placeholders: kept too
        if not message.id:
            continue
        wanted = set(re.findall(r"\{(\w+)", " ".join(message.id if isinstance(message.id, tuple) else [message.id])))
        strings = message.string if isinstance(message.string, (tuple, list)) else [message.string]
        for string in strings:
            assert set(re.findall(r"\{(\w+)", string)) <= wanted, (message.id, string)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    compiled = gettext.GNUTranslations(buffer)
    assert compiled.gettext("is required") == {"zh_CN": "必填", "en": "is required"}[lang]
    assert compiled.ngettext("%(count)s dead letter", "%(count)s dead letters", 2) % {"count": 2} == \
        {"zh_CN": "2 封死信", "en": "2 dead letters"}[lang]


def test_click_still_says_the_words_we_translate_for_it():
    source = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in click_words.MODULES)
    said = [w for w in click_words.WORDS if repr(w)[1:-1] not in source and w not in source]
    said += [s for pair in click_words.PLURAL_WORDS for s in pair if s not in source]
    assert not said, f"click {click.__version__} no longer uses: {said}"
