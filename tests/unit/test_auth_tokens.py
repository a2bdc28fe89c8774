"""Bearer tokens: issued, verified, expired, malformed, wrongly signed, unknown key, revoked, rotated."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from typer.testing import CliRunner

from services.common.auth.cli import app
from services.common.auth.keystore import AuthFiles, Verifier
from services.common.auth.principals import Kind
from services.common.auth.tokens import (LEEWAY, KeySet, TokenError, issue, new_key, parse_lifetime,
                                         verify)

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
KEY = new_key("k1")
KEYS = KeySet({"k1": KEY.private.public_key()})


def token_for(kind=Kind.STREET, code="daxigou", key=KEY, now=NOW, lifetime=timedelta(days=30)):
    return issue(kind, code, key, now, lifetime)


def refused(token, keys=KEYS, revoked=(), now=NOW) -> str:
    with pytest.raises(TokenError) as caught:
        verify(token, keys, revoked, now)
    assert (not token or token not in caught.value.reason) and caught.value.reason_zh
    return caught.value.reason


def test_a_token_proves_its_principal_until_it_expires():
    issued = token_for()
    principal = verify(issued.token, KEYS, (), NOW + timedelta(days=29))
    assert (principal.kind, principal.code, principal.token_id) == (Kind.STREET, "daxigou", issued.token_id)
    assert issued.expires_at == NOW + timedelta(days=30)
    assert verify(issued.token, KEYS, (), issued.expires_at + LEEWAY - timedelta(seconds=1))   # clock skew
    assert "expired at 2025-04-03T09:30:00Z" in refused(issued.token, now=issued.expires_at + LEEWAY)


def test_malformed_tokens_are_refused():
    assert refused("") == "no token"
    assert refused("not-a-jwt") == "malformed token"
    assert refused(token_for().token[:-20]).startswith(("token signature", "malformed"))
    assert "too long" in refused("a" * 5000)
    header, payload, signature = token_for().token.split(".")
    assert refused(f"{header}.e30.{signature}") in ("token signature does not verify", "malformed token")


def test_a_token_signed_by_another_key_under_the_same_id_is_refused():
    impostor = new_key("k1")
    assert refused(token_for(key=impostor).token) == "token signature does not verify"


def test_an_unknown_key_id_is_refused():
    assert refused(token_for(key=new_key("k9")).token) == "token signed with an unknown key id 'k9'"


def test_other_algorithms_are_refused_even_with_the_public_key_as_hmac_secret():
    claims = {"iss": "chuishao", "aud": "chuishao", "sub": "district:x", "kind": "district", "code": "x",
              "jti": "j", "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 60}
    forged = jwt.encode(claims, "k1-public-bytes-as-secret-0123456789abcdef", algorithm="HS256", headers={"kid": "k1"})
    assert "algorithm 'HS256' is not accepted" in refused(forged)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    assert "algorithm 'none' is not accepted" in refused(unsigned)


def test_claims_must_be_for_chuishao_complete_and_consistent():
    base = {"iss": "chuishao", "aud": "chuishao", "sub": "street:daxigou", "kind": "street", "code": "daxigou",
            "jti": "j1", "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 600}
    sign = lambda claims: jwt.encode(claims, KEY.private, algorithm="EdDSA", headers={"kid": "k1"})  # noqa: E731
    assert verify(sign(base), KEYS, (), NOW).code == "daxigou"
    assert refused(sign({**base, "aud": "other"})) == "token was not issued for chuishao"
    assert refused(sign({k: v for k, v in base.items() if k != "jti"})) == "token lacks the 'jti' claim"
    assert "kind or code" in refused(sign({**base, "kind": "mayor"}))
    assert "kind or code" in refused(sign({**base, "kind": "service", "code": "billing", "sub": "service:billing"}))
    assert "sub does not match" in refused(sign({**base, "sub": "street:nanxiashu"}))
    assert "future" in refused(sign({**base, "iat": int(NOW.timestamp()) + 3600}))


def test_a_revoked_token_is_refused():
    issued = token_for()
    assert refused(issued.token, revoked={issued.token_id}) == f"token {issued.token_id} has been revoked"


def test_lifetimes_are_spelled_in_minutes_hours_days_or_weeks_up_to_a_year():
    assert parse_lifetime("30d") == timedelta(days=30)
    assert parse_lifetime("90m") == timedelta(minutes=90)
    for bad in ("", "30", "1y", "0d", "400d", "-1d"):
        with pytest.raises(ValueError, match="expires"):
            parse_lifetime(bad)
    with pytest.raises(ValueError, match="code"):
        issue(Kind.STREET, "Bad Code", KEY, NOW, timedelta(days=1))


# ---------------------------------------------------------------- the files and the services' verifier

def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired(tmp_path):
    files = AuthFiles(tmp_path)
    first = files.rotate(NOW)
    old = issue(Kind.DEPARTMENT, "chengguan", first, NOW, timedelta(days=1))
    verifier = Verifier(tmp_path)
    assert verifier.verify(old.token, NOW).code == "chengguan"
    second = files.rotate(NOW)
    assert files.signing_key().kid == second.kid != first.kid
    new = issue(Kind.DEPARTMENT, "chengguan", files.signing_key(), NOW, timedelta(days=1))
    assert verifier.verify(old.token, NOW) and verifier.verify(new.token, NOW)     # both accepted
    with pytest.raises(ValueError, match="signing key"):
        files.retire(second.kid)
    files.retire(first.kid)
    with pytest.raises(TokenError, match="unknown key id"):
        verifier.verify(old.token, NOW)
    assert verifier.verify(new.token, NOW)
    assert not (tmp_path / "private" / f"{first.kid}.pem").exists()
    assert oct((tmp_path / "private").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "private" / f"{second.kid}.pem").stat().st_mode & 0o777) == "0o600"


def test_the_services_see_a_revocation_on_the_next_request(tmp_path):
    files = AuthFiles(tmp_path)
    issued = issue(Kind.STREET, "daxigou", files.rotate(NOW), NOW, timedelta(days=1))
    files.record(issued, "大溪沟 指挥中心")
    verifier = Verifier(tmp_path)
    assert verifier.verify(issued.token, NOW)
    files.revoke(issued.token_id, NOW)
    with pytest.raises(TokenError, match="revoked"):
        verifier.verify(issued.token, NOW)
    with pytest.raises(KeyError, match="no token"):
        files.revoke("never-issued", NOW)


def test_a_broken_revocation_file_keeps_the_last_good_list(tmp_path):
    files = AuthFiles(tmp_path)
    issued = issue(Kind.STREET, "daxigou", files.rotate(NOW), NOW, timedelta(days=1))
    files.record(issued, None)
    files.revoke(issued.token_id, NOW)
    verifier = Verifier(tmp_path)
    with pytest.raises(TokenError, match="revoked"):
        verifier.verify(issued.token, NOW)
    files.revoked.write_text("{not json")
    os.utime(files.revoked, ns=(1, 1))
    with pytest.raises(TokenError, match="revoked"):
        verifier.verify(issued.token, NOW)


def test_revocations_are_kept_only_until_their_token_expires(tmp_path):
    files = AuthFiles(tmp_path)
    key = files.rotate(NOW)
    short, long = (issue(Kind.STREET, "daxigou", key, NOW, span) for span in (timedelta(hours=1), timedelta(days=9)))
    files.record(short, None)
    files.record(long, None)
    files.revoke(short.token_id, NOW)
    files.revoke(long.token_id, NOW + timedelta(days=1))
    assert list(files.revocations()) == [long.token_id]


def test_no_keys_refuses_every_token(tmp_path):
    with pytest.raises(TokenError, match="no keys"):
        Verifier(tmp_path).verify(token_for().token, NOW)


# ---------------------------------------------------------------- the command line

@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUISHAO_AUTH_DIR", str(tmp_path))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_cli_issues_lists_revokes_and_rotates(cli, tmp_path):
    issued = cli("issue", "--street", "daxigou", "--expires", "2d", "--holder", "大溪沟街道")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert "\n" not in token and "created" in issued.stderr and "street:daxigou" in issued.stderr
    principal = Verifier(tmp_path).verify(token, datetime.now(timezone.utc))
    assert (principal.kind, principal.code) == (Kind.STREET, "daxigou")
    assert token not in (tmp_path / "issued.json").read_text()          # the register keeps no token
    listed = cli("list")
    assert principal.token_id in listed.stdout and "active" in listed.stdout and "大溪沟街道" in listed.stdout
    assert cli("revoke", principal.token_id).exit_code == 0
    assert principal.token_id not in cli("list").stdout
    assert "revoked" in cli("list", "--all").stdout
    with pytest.raises(TokenError, match="revoked"):
        Verifier(tmp_path).verify(token, datetime.now(timezone.utc))
    assert cli("revoke", "nosuch").exit_code == 1
    first_kid = json.loads((tmp_path / "jwks.json").read_text())["keys"][0]["kid"]
    assert cli("keys", "rotate").exit_code == 0
    keys = cli("keys", "list").stdout.splitlines()
    assert len(keys) == 2 and "(signing)" in keys[1] and keys[0].startswith(first_kid)
    assert cli("keys", "retire", first_kid).exit_code == 0
    assert cli("keys", "retire", first_kid).exit_code == 1


def test_the_cli_issues_for_every_kind_and_names_bad_input(cli, tmp_path):
    for args, sub in ((("--department", "chengguan"), "department:chengguan"), (("--district",), "district:district"),
                      (("--district", "--as", "zhangwei"), "district:zhangwei"), (("--assessment",), "assessment:"),
                      (("--operator",), "operator:operator"), (("--service", "dispatch"), "service:dispatch")):
        result = cli("issue", *args)
        assert result.exit_code == 0 and sub in result.stderr, (args, result.output)
    for args, named in ((("--street", "nosuch"), "nosuch"), (("--department", "nosuch"), "nosuch"),
                        (("--street", "daxigou", "--district"), "exactly one"), ((), "exactly one"),
                        (("--service", "billing"), "billing"), (("--street", "daxigou", "--expires", "1y"), "1y"),
                        (("--district", "--as", "Bad Name"), "code")):
        result = cli("issue", *args)
        assert result.exit_code == 2 and named in result.output, (args, result.output)


def test_keys_init_makes_the_first_key_once_and_never_one_beside_a_services_public_copy(cli, tmp_path):
    first = cli("keys", "init")
    assert first.exit_code == 0 and "created signing key" in first.stderr
    again = cli("keys", "init")
    assert again.exit_code == 0 and "nothing to do" in again.stderr
    assert len(json.loads((tmp_path / "jwks.json").read_text())["keys"]) == 1
    for secret in (tmp_path / "private").iterdir():            # a service's copy: the public keys alone
        secret.unlink()
    public = cli("keys", "init")
    assert public.exit_code == 0 and "public keys only" in public.stderr
    assert not any((tmp_path / "private").iterdir())
