"""What the tests below the whistle share when they run the services: a token per principal, drill tier rules
(deadlines in seconds), and the hotline system's side of the bus."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue
from services.common.broker import HOTLINE_ANSWERS
from services.common.tiers import DEFAULT_PATH as TIERS_PATH
from tests.support.bus import Bus, Listener

PRINCIPALS = {"daxigou": (Kind.STREET, "daxigou"), "nanxiashu": (Kind.STREET, "nanxiashu"),
              "district": (Kind.DISTRICT, "zhangwei"), "hotline": (Kind.HOTLINE, "beijing12345"),
              "follow_up": (Kind.FOLLOW_UP, "huifang"), "open311": (Kind.OPEN311, "fixmystreet"),
              "chengguan": (Kind.DEPARTMENT, "chengguan")}


def tokens(auth_dir: Path) -> dict[str, str]:
    """A signing key in auth_dir (what the services read, CHUISHAO_AUTH_DIR) and a token for each principal."""
    files = AuthFiles(auth_dir)
    now = datetime.now(timezone.utc)
    key = files.rotate(now)
    out = {}
    for name, (kind, code) in PRINCIPALS.items():
        issued = issue(kind, code, key, now, timedelta(hours=2))
        files.record(issued, None)
        out[name] = issued.token
    return out


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def drill_tiers(directory: Path, accept: str = "2s", handle: str = "3s") -> Path:
    """The shipped tier rules with every tier's deadlines in seconds, so the sweep acts within a test."""
    data = yaml.safe_load(TIERS_PATH.read_text(encoding="utf-8"))
    for tier in data["tiers"].values():
        tier.update(accept=accept, handle=handle)
    path = directory / "tiers.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def hotline_answers(bus: Bus) -> Listener:
    """The hotline system's durable queue (receipts and answers), as a Listener over it."""
    return Listener(bus, bus.name(HOTLINE_ANSWERS))
