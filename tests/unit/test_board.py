"""The command-centre page's server side, pure: its files, its texts from the catalogs, the wording of
field errors, and where the relays go. (The page itself is tested in Chromium: tests/browser.)"""
from __future__ import annotations

import re

import pytest

from services.common.auth.routes import BOARD_FILES, unruled
from services.common.reference import load_reference
from services.whistle.board import ASSETS, BOARD_DIR, TYPES, explained, map_of, part, peer_url
from services.whistle.board_texts import KINDS, SERVICES, UI, page_texts

REFERENCE = load_reference()
SCRIPTS = {path.name: path.read_text(encoding="utf-8") for path in BOARD_DIR.glob("*.js")}
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def test_the_page_loads_only_files_it_ships():
    page = (BOARD_DIR / "index.html").read_text(encoding="utf-8")
    linked = re.findall(r'(?:src|href)="/board/assets/([^"]+)"', page)
    assert set(linked) == {"app.js", "board.css", "icon.svg"}
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)           # nothing from another origin
    for name, script in SCRIPTS.items():
        imported = re.findall(r'from "\./([^"]+)"', script)
        assert set(imported) <= set(ASSETS), (name, set(imported) - set(ASSETS))
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg\b)", script), name   # (SVG's namespace)
    assert set(linked) <= set(ASSETS) and "index.html" not in ASSETS
    assert all(path.suffix in TYPES and path.parent == BOARD_DIR for path in ASSETS.values())


def test_every_text_the_scripts_ask_for_is_in_the_catalog_and_every_one_is_used():
    asked = set()
    for script in SCRIPTS.values():
        asked |= set(re.findall(r'\b(?:t|row)\("([a-z_]+\.[a-z_]+)"', script))     # t("key"), a fact's row("key")
        asked |= set(re.findall(r'"(district\.[a-z_]+)"', script))                 # a table's headings
    assert asked - set(UI) == set(), "texts the scripts ask for but the catalog lacks"
    assert set(UI) - asked == set(), "texts in the catalog no script uses"


def test_the_scripts_carry_no_text_for_people_of_their_own():
    for name, script in SCRIPTS.items():
        lines = [line for line in script.splitlines()
                 if CJK.search(line) and not line.lstrip().startswith(("//", "/*", "*"))]
        if name == "app.js":     # shown only when the texts themselves cannot be loaded
            assert len(lines) == 1 and "cannot reach the whistle service" in lines[0], lines
        else:
            assert lines == [], (name, lines)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_page_texts_come_in_both_languages_with_their_placeholders(lang):
    texts = page_texts(lang, REFERENCE)
    for key, message in UI.items():
        shown = texts["ui"][key]
        assert shown, key
        assert sorted(re.findall(r"%\((\w+)\)s", shown)) == sorted(re.findall(r"%\((\w+)\)s", message)), key
    assert set(texts["names"]["service"]) == set(SERVICES) and set(texts["names"]["kind"]) == set(KINDS)
    assert set(texts["names"]["department"]) == {d.code for d in REFERENCE.departments}
    grids = {g.code for s in REFERENCE.streets for c in s.communities for g in c.grids}
    assert grids <= set(texts["names"]["grid"])
    assert [s["code"] for s in texts["streets"]] == [s.code for s in REFERENCE.streets]
    assert texts["labels"]["callout_status"]["checked_in"]
    assert texts["tiers"] == ["street", "district", "city"]


def test_chinese_is_chinese_and_english_is_english():
    zh, en = page_texts("zh_CN", REFERENCE), page_texts("en", REFERENCE)
    assert zh["ui"]["street.raise"] == "吹哨" and en["ui"]["street.raise"] == "Blow the whistle"
    assert zh["ui"]["lang.switch"] == "English" and en["ui"]["lang.switch"] == "中文"
    assert zh["names"]["street"]["daxigou"] == "大溪沟街道"
    assert en["names"]["street"]["daxigou"] == "Daxigou Subdistrict"
    untranslated = [k for k, v in zh["ui"].items() if not CJK.search(v) and "%(" not in v and k != "lang.switch"]
    assert untranslated == []
    assert not any(CJK.search(v) for k, v in en["ui"].items() if k != "lang.switch" and "(" not in v)


def test_field_errors_are_said_for_people_with_the_fields_name():
    errors = [{"field": "place.address", "message": "Field required"},
              {"field": "evidence.checklist.1", "message": "String should have at least 1 character"},
              {"field": "reason", "message": "String should have at least 4 characters"},
              {"field": "street_code", "message": "unknown street 'nowhere'"},
              {"field": "x", "message": "something the catalog does not know"}]
    assert explained(errors, "zh_CN", REFERENCE) == [
        {"field": "place.address", "label": "地址", "message": "必填"},
        {"field": "evidence.checklist.1", "label": "问题清单 #2", "message": "不能为空"},
        {"field": "reason", "label": "理由", "message": "请写明理由，至少 4 个字"},
        {"field": "street_code", "label": "街道", "message": "未知的街道 'nowhere'"},
        {"field": "x", "label": "x", "message": "something the catalog does not know"}]
    assert explained(errors[:1], "en", REFERENCE) == [{"field": "place.address", "label": "address",
                                                       "message": "is required"}]
    odd = [{"field": "checklist.²", "message": "Field required"}, {"field": "x", "message": "a" * 10_000}]
    assert explained(odd, "zh_CN", REFERENCE) == [{"field": "checklist.²", "label": "checklist.²",
                                                   "message": "Field required"},
                                                  {"field": "x", "label": "x", "message": "a" * 10_000}]


def test_the_map_is_the_reference_datas():
    shown = map_of(REFERENCE)
    assert shown["type"] == "FeatureCollection" and len(shown["features"]) == 24
    assert {f["properties"]["street_code"] for f in shown["features"]} == {s.code for s in REFERENCE.streets}


def test_relays_find_their_service_and_keep_a_path_parameter_one_segment():
    assert peer_url("dispatch", {}) == "http://127.0.0.1:8001"
    assert peer_url("dispatch", {"DISPATCH_WEB_ADDRESS": "10.0.0.5:9001"}) == "http://10.0.0.5:9001"
    assert peer_url("roster", {"ROSTER_URL": "https://roster.internal/", "ROSTER_WEB_ADDRESS": "x:1"}) == \
        "https://roster.internal"
    assert part("a/../b?c=d#e") == "a%2F..%2Fb%3Fc%3Dd%23e"


def test_only_the_pages_own_files_are_open_and_every_board_route_has_a_rule():
    from services.whistle.service import WhistleService
    board_routes = [line for line in unruled(WhistleService) if " /board" in line]
    assert board_routes == []
    assert ("GET", "/board/api/session") not in BOARD_FILES
    assert all(path.startswith("/board") and "/api/" not in path for _, path in BOARD_FILES)
