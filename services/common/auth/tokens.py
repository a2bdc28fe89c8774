"""Bearer tokens: EdDSA (Ed25519) signed JWTs, issued and verified with the clock passed in.

Pure: keys, the revocation list and `now` are arguments; the files they live in are keystore.py's.
An error never carries the token itself, only what is wrong with it."""
from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Container, Mapping

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.common.auth.principals import Kind, Principal

ALGORITHM = "EdDSA"              # the only one accepted: no `none`, no HS256 made with a public key
ISSUER = AUDIENCE = "chuishao"
LEEWAY = timedelta(seconds=30)   # clock skew between the issuing machine and the services
MAX_LIFETIME = timedelta(days=366)
MAX_TOKEN_CHARS = 4096
KID = r"^[A-Za-z0-9_-]{1,64}$"


class TokenError(Exception):
    """A token that is not accepted; `reason` (English) and `reason_zh` say why, without echoing it."""

    def __init__(self, reason: str, reason_zh: str):
        super().__init__(reason)
        self.reason = reason
        self.reason_zh = reason_zh


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey


@dataclass(frozen=True)
class KeySet:
    """The public keys a service accepts, by key id (several during a rotation)."""

    public: Mapping[str, Ed25519PublicKey]


@dataclass(frozen=True)
class Issued:
    token: str
    token_id: str
    kind: Kind
    code: str
    kid: str
    issued_at: datetime
    expires_at: datetime


def new_key(kid: str) -> SigningKey:
    if not re.fullmatch(KID, kid):
        raise ValueError(f"kid: {kid!r} must match {KID}")
    return SigningKey(kid, Ed25519PrivateKey.generate())


def public_jwk(key: SigningKey) -> dict:
    """The public half as a JWK (RFC 8037, OKP/Ed25519), for a JWKS file the services read."""
    raw = key.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "alg": ALGORITHM, "use": "sig", "kid": key.kid,
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")}


def keyset_from_jwks(jwks: Mapping) -> KeySet:
    """A KeySet from a JWKS document; ValueError names a key that is not an Ed25519 signing key."""
    public = {}
    for index, jwk in enumerate(jwks.get("keys", ())):
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        if not isinstance(kid, str) or not re.fullmatch(KID, kid):
            raise ValueError(f"keys[{index}].kid: missing or not a key id")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError(f"keys[{index}] ({kid}): only OKP/Ed25519 keys are accepted")
        try:
            x = jwk["x"]
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            public[kid] = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"keys[{index}] ({kid}).x: not a 32-byte Ed25519 public key") from None
    return KeySet(public)


def parse_lifetime(text: str) -> timedelta:
    """`90m`, `12h`, `30d` or `8w`; at most a year. ValueError names what is wrong."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([mhdw])\s*", text or "")
    if not match:
        raise ValueError(f"expires: {text!r} must look like 90m, 12h, 30d or 8w")
    amount = int(match.group(1))
    span = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount),
            "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[match.group(2)]
    if span <= timedelta(0) or span > MAX_LIFETIME:
        raise ValueError(f"expires: {text!r} must be more than nothing and at most {MAX_LIFETIME.days} days")
    return span


def issue(kind: Kind, code: str, key: SigningKey, now: datetime, lifetime: timedelta,
          token_id: str | None = None) -> Issued:
    """A signed token for one principal, valid from `now` for `lifetime`."""
    principal = Principal(kind, code, token_id or uuid.uuid4().hex)      # validates kind and code
    if lifetime <= timedelta(0) or lifetime > MAX_LIFETIME:
        raise ValueError(f"expires: a lifetime must be more than nothing and at most {MAX_LIFETIME.days} days")
    issued_at = now.astimezone(timezone.utc).replace(microsecond=0)
    expires_at = issued_at + lifetime
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(principal), "kind": kind.value, "code": code,
              "jti": principal.token_id, "iat": int(issued_at.timestamp()), "exp": int(expires_at.timestamp())}
    token = jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return Issued(token, principal.token_id, kind, code, key.kid, issued_at, expires_at)


def verify(token: str, keys: KeySet, revoked: Container[str], now: datetime) -> Principal:
    """The principal a token proves, or TokenError saying why it is not accepted."""
    if not isinstance(token, str) or not token:
        raise TokenError("no token", "缺少令牌")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError("malformed token (too long)", "令牌格式错误（过长）")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("malformed token", "令牌格式错误") from None
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"token algorithm {str(header.get('alg'))[:20]!r} is not accepted (only {ALGORITHM})",
                         f"不接受此签名算法（仅 {ALGORITHM}）")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys.public:
        shown = kid[:64] if isinstance(kid, str) else kid
        raise TokenError(f"token signed with an unknown key id {shown!r}", "令牌的签名密钥未知或已停用")
    try:
        claims = jwt.decode(token, keys.public[kid], algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                     "require": ["iss", "aud", "sub", "jti", "iat", "exp"]})
    except jwt.InvalidSignatureError:
        raise TokenError("token signature does not verify", "令牌签名无效") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
        raise TokenError("token was not issued for chuishao", "令牌不是为本系统签发的") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"token lacks the {exc.claim!r} claim", f"令牌缺少 {exc.claim} 声明") from None
    except jwt.PyJWTError:
        raise TokenError("malformed token", "令牌格式错误") from None
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int) or isinstance(exp, bool) or isinstance(iat, bool):
        raise TokenError("malformed token (exp and iat must be whole seconds)", "令牌格式错误（时间字段）")
    moment = now.timestamp()
    if moment >= exp + LEEWAY.total_seconds():
        expired = datetime.fromtimestamp(exp, timezone.utc).isoformat().replace("+00:00", "Z")
        raise TokenError(f"token expired at {expired}", f"令牌已于 {expired} 过期")
    if iat > moment + LEEWAY.total_seconds():
        raise TokenError("token issued in the future (check the clocks)", "令牌签发时间在未来（请检查时钟）")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenError("malformed token (jti)", "令牌格式错误（jti）")
    if jti in revoked:
        raise TokenError(f"token {jti} has been revoked", f"令牌 {jti} 已被吊销")
    code = claims.get("code")
    try:
        if not isinstance(code, str):
            raise ValueError("code")
        kind = Kind(claims.get("kind"))
        principal = Principal(kind, code, jti)
    except ValueError:
        raise TokenError("malformed token (kind or code)", "令牌格式错误（主体类型或代码）") from None
    if claims.get("sub") != str(principal):
        raise TokenError("malformed token (sub does not match kind and code)", "令牌格式错误（sub 不一致）")
    return principal
