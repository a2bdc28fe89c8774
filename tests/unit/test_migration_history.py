"""Each service's revisions form one line, and the revision command writes the next one after it."""
from __future__ import annotations

import shutil

import pytest

from services.common import migrate
from services.common.migrate import SERVICES, main, make_revision, script_directory, versions_dir


def test_every_service_has_revisions():
    assert SERVICES == ("dispatch", "metrics", "roster", "whistle")


@pytest.mark.parametrize("service", SERVICES)
def test_revisions_form_one_line_numbered_in_order(service):
    script = script_directory(service)
    files = sorted(p.name for p in versions_dir(service).glob("*.py"))
    line = [s.revision for s in reversed(list(script.walk_revisions()))]
    assert len(script.get_heads()) == 1, (
        f"{service} has heads {script.get_heads()}: two revisions were written after the same one; "
        "point one's down_revision at the other and renumber it")
    assert len(files) == len(line), f"{service}: revision ids used twice among {files}"
    assert line == [f"{n:04d}" for n in range(1, len(line) + 1)]
    assert [f[:4] for f in files] == line


@pytest.fixture
def scratch_versions(tmp_path, monkeypatch):
    """A copy of whistle's revisions to write into, so the test leaves the real ones alone."""
    copy = tmp_path / "versions"
    shutil.copytree(versions_dir("whistle"), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "versions_dir", lambda service: copy)
    return copy


def test_autogenerate_writes_nothing_when_orm_py_and_the_revisions_agree(scratch_versions):
    before = sorted(scratch_versions.iterdir())
    assert make_revision("whistle", "nothing new", autogenerate=True) is None
    assert sorted(scratch_versions.iterdir()) == before


def test_a_new_revision_is_numbered_after_the_head_and_follows_it(scratch_versions):
    head = script_directory("whistle").get_current_head()
    written = make_revision("whistle", "add postings", autogenerate=False)
    assert written.parent == scratch_versions
    assert written.name == f"{int(head) + 1:04d}_add_postings.py"
    assert f"down_revision = {head!r}" in written.read_text()
    assert script_directory("whistle").get_current_head() == f"{int(head) + 1:04d}"


def test_an_unknown_service_is_named_in_the_error(capsys):
    assert main(["current", "firebrigade"]) == 2
    assert "unknown service 'firebrigade'" in capsys.readouterr().err
