"""Bearer tokens for tests, signed with a key of the test's own auth directory (give the services
CHUISHAO_AUTH_DIR=root): a token per principal on demand, and revocation by token."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue


class Tokens:
    """Keys in `root`; `issue` a fresh token, `token` the same one per principal, `bearer` its header."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files = AuthFiles(self.root)
        self.key = self.files.rotate(datetime.now(timezone.utc))
        self.ids: dict[str, str] = {}
        self._issued: dict[tuple[Kind, str], str] = {}

    def issue(self, kind: Kind, code: str) -> str:
        issued = issue(kind, code, self.key, datetime.now(timezone.utc), timedelta(hours=2))
        self.files.record(issued, None)
        self.ids[issued.token] = issued.token_id
        return issued.token

    def token(self, kind: Kind, code: str) -> str:
        if (kind, code) not in self._issued:
            self._issued[(kind, code)] = self.issue(kind, code)
        return self._issued[(kind, code)]

    def bearer(self, kind: Kind, code: str) -> dict:
        return {"Authorization": f"Bearer {self.token(kind, code)}"}

    def revoke(self, token: str) -> None:
        self.files.revoke(self.ids[token], datetime.now(timezone.utc))
