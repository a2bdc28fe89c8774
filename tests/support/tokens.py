"""Bearer tokens for tests: a fresh key directory, and a token per principal on demand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue


class Tokens:
    """Keys in `root` (give the services CHUISHAO_AUTH_DIR=root); `bearer(kind, code)` the header to send."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files = AuthFiles(self.root)
        self.key = self.files.rotate(datetime.now(timezone.utc))
        self._issued: dict[tuple[Kind, str], str] = {}

    def token(self, kind: Kind, code: str) -> str:
        if (kind, code) not in self._issued:
            issued = issue(kind, code, self.key, datetime.now(timezone.utc), timedelta(hours=2))
            self.files.record(issued, None)
            self._issued[(kind, code)] = issued.token
        return self._issued[(kind, code)]

    def bearer(self, kind: Kind, code: str) -> dict:
        return {"Authorization": f"Bearer {self.token(kind, code)}"}
