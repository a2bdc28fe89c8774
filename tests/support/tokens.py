"""Bearer tokens for tests, signed with a key of the test's own auth directory (CHUISHAO_AUTH_DIR)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue


class Tokens:
    """Tokens of a fresh auth directory: a new signing key, a register, revocation by token."""

    def __init__(self, root: Path):
        self.root = root
        self.files = AuthFiles(root)
        self.key = self.files.rotate(datetime.now(timezone.utc))
        self.ids: dict[str, str] = {}

    def issue(self, kind: Kind, code: str) -> str:
        issued = issue(kind, code, self.key, datetime.now(timezone.utc), timedelta(hours=1))
        self.files.record(issued, None)
        self.ids[issued.token] = issued.token_id
        return issued.token

    def revoke(self, token: str) -> None:
        self.files.revoke(self.ids[token], datetime.now(timezone.utc))
