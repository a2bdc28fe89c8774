"""Issue and revoke bearer tokens, rotate keys: `make token ARGS='issue --street daxigou'`.

    python -m services.common.auth issue --street daxigou [--expires 30d] [--holder "大溪沟街道 指挥中心"]
    python -m services.common.auth issue --department chengguan
    python -m services.common.auth issue --district [--as zhangwei] | --assessment | --operator
    python -m services.common.auth issue --service dispatch
    python -m services.common.auth issue --hotline [--as beijing12345] | --follow-up | --open311 --as fixmystreet
    python -m services.common.auth revoke TOKEN_ID
    python -m services.common.auth list [--all]
    python -m services.common.auth keys init | keys rotate | keys list | keys retire KID

The token goes to standard output alone (T=$(python -m services.common.auth issue ...)); what it is
goes to standard error. Files: $CHUISHAO_AUTH_DIR (default var/auth), see keystore.py."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import typer

from services.common.auth.keystore import AuthFiles, auth_dir
from services.common.auth.principals import SERVICES, Kind
from services.common.auth.tokens import issue as issue_token
from services.common.auth.tokens import parse_lifetime

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Bearer tokens for chuishao: issue, revoke, list; signing keys: rotate, list, retire.")
keys_app = typer.Typer(no_args_is_help=True, help="Signing keys (kept in $CHUISHAO_AUTH_DIR/private).")
app.add_typer(keys_app, name="keys")


def now() -> datetime:
    return datetime.now(timezone.utc)


def files() -> AuthFiles:
    return AuthFiles(auth_dir())


def say(text: str) -> None:
    typer.echo(text, err=True)


def _principal(street, department, district, assessment, operator, service, holder_code, hotline=False,
               follow_up=False, open311=False) -> tuple[Kind, str]:
    chosen = [(kind, value) for kind, value in ((Kind.STREET, street), (Kind.DEPARTMENT, department),
                                                (Kind.DISTRICT, district), (Kind.ASSESSMENT, assessment),
                                                (Kind.OPERATOR, operator), (Kind.SERVICE, service),
                                                (Kind.HOTLINE, hotline), (Kind.FOLLOW_UP, follow_up),
                                                (Kind.OPEN311, open311))
              if value]
    if len(chosen) != 1:
        raise typer.BadParameter("name exactly one of --street CODE, --department CODE, --district, "
                                 "--assessment, --operator, --service NAME, --hotline, --follow-up, --open311",
                                 param_hint="principal")
    kind, value = chosen[0]
    if kind in (Kind.STREET, Kind.DEPARTMENT):
        from services.common.reference import load_reference
        reference = load_reference()
        known = [s.code for s in reference.streets] if kind is Kind.STREET else [d.code for d in reference.departments]
        if value not in known:
            raise typer.BadParameter(f"{value!r} is not a {kind} in the reference data ({', '.join(known)})",
                                     param_hint=f"--{kind.value}")
        return kind, value
    if kind is Kind.SERVICE:
        if value not in SERVICES:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(SERVICES)}", param_hint="--service")
        return kind, value
    return kind, holder_code or kind.value


@app.command()
def issue(street: Optional[str] = typer.Option(None, help="a street office's token (its street code)"),
          department: Optional[str] = typer.Option(None, help="a department duty desk's token (its code)"),
          district: bool = typer.Option(False, "--district", help="district staff (督办)"),
          assessment: bool = typer.Option(False, "--assessment", help="the assessment office (考核办)"),
          operator: bool = typer.Option(False, "--operator", help="an operator (dead letters, replays)"),
          service: Optional[str] = typer.Option(None, help="a service calling another (whistle, dispatch...)"),
          hotline: bool = typer.Option(False, "--hotline", help="the 12345 hotline system (接诉即办)"),
          follow_up: bool = typer.Option(False, "--follow-up", help="the follow-up desk (回访): reads "
                                         "complainants' contacts"),
          open311: bool = typer.Option(False, "--open311", help="an Open311 client; it sends the token as api_key"),
          holder_code: Optional[str] = typer.Option(None, "--as", help="code naming the holder of a "
                                                    "district/assessment/operator/hotline/follow-up/open311 "
                                                    "token, e.g. zhangwei"),
          holder: Optional[str] = typer.Option(None, help="who holds it, for the register (free text)"),
          expires: str = typer.Option("30d", help="lifetime: 90m, 12h, 30d, 8w (at most a year)")) -> None:
    """Issue a token; prints it alone on standard output."""
    kind, code = _principal(street, department, district, assessment, operator, service, holder_code, hotline,
                            follow_up, open311)
    try:
        lifetime = parse_lifetime(expires)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires") from None
    store = files()
    key = store.signing_key()
    if key is None:
        key = store.rotate(now())
        say(f"no signing key yet: created {key.kid} in {store.private} (public half in {store.jwks})")
    try:
        issued = issue_token(kind, code, key, now(), lifetime)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as") from None
    store.record(issued, holder)
    say(f"token {issued.token_id} for {kind.value}:{code}, expires {issued.expires_at.isoformat()}, key {key.kid}")
    typer.echo(issued.token)


@app.command()
def revoke(token_id: str = typer.Argument(..., help="the token's id (from `list`), never the token")) -> None:
    """Revoke a token: every service refuses it from its next request after revoked.json reaches it."""
    store = files()
    try:
        entry = store.revoke(token_id, now())
    except KeyError as exc:
        say(str(exc.args[0]))
        raise typer.Exit(1) from None
    say(f"revoked {token_id} ({entry['principal']}) in {store.revoked}")


@app.command("list")
def list_tokens(all_: bool = typer.Option(False, "--all", help="include expired and revoked tokens")) -> None:
    """The register of issued tokens (ids and holders, never the tokens)."""
    store = files()
    revoked, moment = store.revocations(), now()
    shown = 0
    for entry in store.issued():
        expires = datetime.fromisoformat(entry["expires_at"].replace("Z", "+00:00"))
        status = "revoked" if entry["token_id"] in revoked else "expired" if expires <= moment else "active"
        if status != "active" and not all_:
            continue
        shown += 1
        who = f"{entry['kind']}:{entry['code']}"
        typer.echo(f"{entry['token_id']}  {status:7}  {who:24}  "
                   f"expires {entry['expires_at']}  key {entry['kid']}  {entry.get('holder') or ''}".rstrip())
    say(f"{shown} token(s)" + ("" if all_ else " active (--all for the others)"))


@keys_app.command("init")
def keys_init() -> None:
    """The first signing key, if this directory has no key at all (`make run` calls this); else nothing."""
    store = files()
    key = store.signing_key()
    if key is not None:
        say(f"signing with {key.kid} ({store.private}): nothing to do")
        return
    if store.keys():
        say(f"{store.jwks} holds public keys only (a service's copy): issue tokens where the private keys are")
        return
    key = store.rotate(now())
    say(f"created signing key {key.kid} in {store.private} (public half in {store.jwks}); "
        "issue a token: make token ARGS='issue --street daxigou'")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """New signing key; tokens signed by the old ones stay valid until you retire those."""
    store = files()
    key = store.rotate(now())
    say(f"signing with {key.kid} from now on; accepted: {', '.join(k['kid'] for k in store.keys())}")
    say("reissue the tokens of the old key(s), then `keys retire KID` each")


@keys_app.command("list")
def keys_list() -> None:
    """Accepted keys (jwks.json), the signing one marked."""
    for key in files().keys():
        typer.echo(f"{key['kid']}  created {key['created_at']}" + ("  (signing)" if key["signing"] else ""))


@keys_app.command("retire")
def keys_retire(kid: str) -> None:
    """Stop accepting a key: every token it signed is refused from then on."""
    try:
        files().retire(kid)
    except KeyError as exc:
        say(str(exc.args[0]))
        raise typer.Exit(1) from None
    except ValueError as exc:
        say(str(exc))
        raise typer.Exit(2) from None
    say(f"retired {kid}")
