"""Where keys, revocations and the register of issued tokens live: one directory outside git.

    $CHUISHAO_AUTH_DIR (default <repo>/var/auth, which git ignores)
      jwks.json       public keys (JWKS) every service accepts          -- no secret, 0644
      revoked.json    revoked token ids, each until its token expires  -- no secret, 0644
      private/        signing keys (PEM), only where tokens are issued -- 0700, files 0600
        signing       the key id new tokens are signed with
      issued.json     the register of issued tokens (ids, holders, expiry; never a token)

The services need only jwks.json and revoked.json (ship the directory without private/ to them);
each service looks at both files' modification stamps on every authentication and reloads what
changed, so a revocation or a rotation takes effect on the next request after the file arrives."""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                          load_pem_private_key)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.auth.principals import Principal
from services.common.auth.tokens import (LEEWAY, Issued, KeySet, SigningKey, TokenError, keyset_from_jwks,
                                         new_key, public_jwk, verify)
from services.common.settings import ROOT

log = logging.getLogger(__name__)
DEFAULT_DIR = ROOT / "var" / "auth"


def auth_dir(env=os.environ) -> Path:
    return Path(env.get("CHUISHAO_AUTH_DIR") or DEFAULT_DIR)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class AuthFiles:
    """The auth directory, for the issuing side (the CLI): keys, rotation, the register, revocation."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.jwks = self.root / "jwks.json"
        self.revoked = self.root / "revoked.json"
        self.register = self.root / "issued.json"
        self.private = self.root / "private"

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time (two operators issuing at once must not lose a register entry)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _read(path: Path, default):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return default

    @staticmethod
    def _write(path: Path, value, mode: int = 0o644) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)        # readers see the old file or the new one, never half of one

    # ------------------------------------------------------------------ keys
    def signing_key(self) -> SigningKey | None:
        try:
            kid = (self.private / "signing").read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        private = load_pem_private_key((self.private / f"{kid}.pem").read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{self.private / (kid + '.pem')} is not an Ed25519 key")
        return SigningKey(kid, private)

    def rotate(self, now: datetime) -> SigningKey:
        """A new signing key; the old ones stay in jwks.json, so tokens they signed stay valid."""
        with self.locked():
            key = new_key(f"{now.astimezone(timezone.utc):%Y%m%d}-{secrets.token_hex(3)}")
            self.private.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.private, 0o700)
            pem = key.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            path = self.private / f"{key.kid}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            jwks = self._read(self.jwks, {"keys": []})
            jwk = {**public_jwk(key), "created_at": _iso(now)}
            self._write(self.jwks, {"keys": [*jwks["keys"], jwk]})
            pointer = self.private / ".signing.tmp"
            pointer.write_text(key.kid + "\n", encoding="ascii")
            os.replace(pointer, self.private / "signing")
            return key

    def retire(self, kid: str) -> None:
        """Stops accepting a key: every token it signed is refused from now on. KeyError if unknown."""
        with self.locked():
            jwks = self._read(self.jwks, {"keys": []})
            kept = [k for k in jwks["keys"] if k.get("kid") != kid]
            if len(kept) == len(jwks["keys"]):
                raise KeyError(f"no key {kid!r} in {self.jwks}")
            current = self.signing_key()
            if current is not None and current.kid == kid:
                raise ValueError(f"{kid} is the signing key: rotate first, then retire it")
            self._write(self.jwks, {"keys": kept})
            with contextlib.suppress(FileNotFoundError):
                (self.private / f"{kid}.pem").unlink()

    def keys(self) -> list[dict]:
        signing = self.signing_key()
        return [{"kid": k["kid"], "created_at": k.get("created_at"),
                 "signing": signing is not None and signing.kid == k["kid"]}
                for k in self._read(self.jwks, {"keys": []})["keys"]]

    # ------------------------------------------------------------------ the register and revocation
    def record(self, issued: Issued, holder: str | None) -> None:
        with self.locked():
            register = self._read(self.register, {"tokens": []})
            register["tokens"].append({"token_id": issued.token_id, "kind": issued.kind.value,
                                       "code": issued.code, "kid": issued.kid, "holder": holder,
                                       "issued_at": _iso(issued.issued_at),
                                       "expires_at": _iso(issued.expires_at)})
            self._write(self.register, register, 0o600)

    def issued(self) -> list[dict]:
        return self._read(self.register, {"tokens": []})["tokens"]

    def revocations(self) -> dict[str, dict]:
        return self._read(self.revoked, {"revoked": {}})["revoked"]

    def revoke(self, token_id: str, now: datetime) -> dict:
        """Adds a token id to revoked.json until its token would have expired; KeyError if never issued here."""
        with self.locked():
            entry = next((t for t in self.issued() if t["token_id"] == token_id), None)
            if entry is None:
                raise KeyError(f"no token {token_id!r} in the register {self.register}")
            revoked = {jti: r for jti, r in self.revocations().items()       # drop the long expired
                       if _instant(r["expires_at"]) + LEEWAY > now}
            revoked[token_id] = {"expires_at": entry["expires_at"], "revoked_at": _iso(now),
                                 "principal": f"{entry['kind']}:{entry['code']}"}
            self._write(self.revoked, {"revoked": revoked})
            return revoked[token_id]


@dataclass(frozen=True)
class _Stamp:
    mtime_ns: int
    size: int
    inode: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return _Stamp(st.st_mtime_ns, st.st_size, st.st_ino)


class Verifier:
    """The services' side: verifies tokens against jwks.json and revoked.json, reloaded when they change.

    A file that cannot be read or parsed is logged and the last good copy kept (a broken revocation
    file must not un-revoke anything); with no jwks.json at all, every token is refused."""

    def __init__(self, root: Path):
        self.files = AuthFiles(root)
        self._stamps: dict[str, _Stamp | None] = {"jwks": None, "revoked": None}
        self._keys = KeySet({})
        self._revoked: frozenset[str] = frozenset()
        self._loaded = False

    def refresh(self) -> None:
        jwks_stamp, revoked_stamp = _stamp(self.files.jwks), _stamp(self.files.revoked)
        if not self._loaded or jwks_stamp != self._stamps["jwks"]:
            try:
                self._keys = keyset_from_jwks(AuthFiles._read(self.files.jwks, {"keys": []}))
                self._stamps["jwks"] = jwks_stamp
            except (OSError, ValueError) as exc:
                log.error("cannot read the token keys in %s, keeping the last good ones: %s", self.files.jwks, exc)
        if not self._loaded or revoked_stamp != self._stamps["revoked"]:
            try:
                self._revoked = frozenset(AuthFiles._read(self.files.revoked, {"revoked": {}})["revoked"])
                self._stamps["revoked"] = revoked_stamp
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("cannot read the revocation list %s, keeping the last good one: %s",
                          self.files.revoked, exc)
        self._loaded = True

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys.public)

    def verify(self, token: str, now: datetime) -> Principal:
        self.refresh()
        if not self._keys.public:
            raise TokenError("no token can be verified: this service has no keys (jwks.json)",
                             "本服务未配置验证密钥，无法验证令牌")
        return verify(token, self._keys, self._revoked, now)
