"""Broker accounts: one per street, per department and per service, and the operator's, confined.

`make provision` (python -m services.common.provision apply) makes the broker match this module's
accounts for the reference data, in the vhost of AMQP_URI (or --vhost) and under BUS_NAMESPACE:

- `dept-<code>` publishes on `checkins` only `<action>.<code>` (its reports, and its team members'
  `member_checkin` / `member_decline`); binds and reads `callouts`: `callout.<code>.*`, `checkins`:
  `outcome.<code>.*`, `assignments`: `*.<code>.#`, and its queues `department.<code>.callouts`,
  `.outcomes` and `.assignments`;
- `street-<code>` publishes on `whistles` only `raise.<code>`; binds and reads `whistles`:
  `outcome.<code>.*` and its queue `street.<code>.outcomes`;
- `svc-<service>` publishes, binds and reads anything in the namespace;
- `ops-duty` publishes on the public and internal exchanges (replays) and reads the `deadletters` queue.

Outside parties may declare only server-named queues (`amq.gen-*`, their private reply queues) and
nothing else: no exchange, no durable queue, no deletion. Topic permissions confine routing keys
(RabbitMQ checks a publish's routing key against `write` and a binding key against `read`).
The broker itself refuses a message whose `user_id` is not the publishing account's own name.

How: one `rabbitmqctl export_definitions` to see the broker's state, a plan of what differs
(pure: plan()), one `rabbitmqctl import_definitions` with only that, and a
`clear_topic_permissions` for each stale one. Running it twice changes nothing the second time.
Passwords come from CHUISHAO_BROKER_PASSWORD_<USER> (e.g. CHUISHAO_BROKER_PASSWORD_DEPT_CHENGGUAN),
else from the credentials file ($CHUISHAO_CREDENTIALS_DIR/broker.json, default var/credentials,
mode 0600), else are generated there. Nothing printed or logged carries a password or a hash;
`uri USER` prints the one AMQP URI you hand over to that party."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import quote, unquote, urlparse

from services.common.auth.principals import SERVICES, Kind, broker_user
from services.common.events import (ASSIGNMENTS, CALLOUTS, CHECKINS, DEADLETTERS, EVENTS, HOTLINE, MEMBER_COMMANDS,
                                    WHISTLES)
from services.common.reference import ReferenceData
from services.common.settings import DEFAULT_AMQP_URI, ROOT

HASHING = "rabbit_password_hashing_sha256"
REPORT_ACTIONS = ("checkin", "arrival", "completion", "return", *MEMBER_COMMANDS)
OPERATORS = ("duty",)
PRIVATE_QUEUES = r"amq\.gen-.*"          # server-named queues: a party's own exclusive reply queue
NOTHING = "^$"


class ProvisionError(Exception):
    pass


@dataclass(frozen=True)
class TopicGrant:
    exchange: str           # the exchange's name itself (not a pattern)
    write: str
    read: str


@dataclass(frozen=True)
class Account:
    user: str
    kind: Kind
    code: str
    configure: str
    write: str
    read: str
    topics: tuple[TopicGrant, ...] = ()


def _any_of(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def accounts(reference: ReferenceData, namespace: str = "", user_prefix: str = "",
             operators: Iterable[str] = OPERATORS) -> list[Account]:
    """The accounts a deployment needs, with their vhost and topic permissions (regexes)."""
    ns = re.escape(namespace)
    name = lambda bus_name: ns + re.escape(bus_name)  # noqa: E731
    found = []
    for department in reference.departments:
        code = re.escape(department.code)
        queues = [name(f"department.{department.code}.{kind}") for kind in ("callouts", "outcomes", "assignments")]
        found.append(Account(
            broker_user(Kind.DEPARTMENT, department.code, user_prefix), Kind.DEPARTMENT, department.code,
            configure=_any_of(PRIVATE_QUEUES),
            write=_any_of(name(CHECKINS), *queues, PRIVATE_QUEUES),            # queue.bind needs write on the queue
            read=_any_of(name(CALLOUTS), name(CHECKINS), name(ASSIGNMENTS), *queues, PRIVATE_QUEUES),
            topics=(TopicGrant(namespace + CALLOUTS, NOTHING, rf"^callout\.{code}\.[^.#]+$"),
                    TopicGrant(namespace + CHECKINS, rf"^({'|'.join(REPORT_ACTIONS)})\.{code}$",
                               rf"^outcome\.{code}\.[^.#]+$"),
                    TopicGrant(namespace + ASSIGNMENTS, NOTHING,
                               rf"^(\*\.{code}\.#|assignment\.{code}\.[^.#]+|(replaced|released)\.{code})$"))))
    for street in reference.streets:
        code = re.escape(street.code)
        found.append(Account(
            broker_user(Kind.STREET, street.code, user_prefix), Kind.STREET, street.code,
            configure=_any_of(PRIVATE_QUEUES),
            write=_any_of(name(WHISTLES), PRIVATE_QUEUES),
            read=_any_of(name(WHISTLES), name(f"street.{street.code}.outcomes"), PRIVATE_QUEUES),
            topics=(TopicGrant(namespace + WHISTLES, rf"^raise\.{code}$", rf"^outcome\.{code}\.[^.#]+$"),)))
    everything = _any_of(ns + ".*", r"rpc\.reply-.*", PRIVATE_QUEUES)   # nameko's RPC reply queues are not namespaced
    for service in SERVICES:
        found.append(Account(broker_user(Kind.SERVICE, service, user_prefix), Kind.SERVICE, service,
                             configure=everything, write=everything, read=everything))
    for operator in operators:
        found.append(Account(broker_user(Kind.OPERATOR, operator, user_prefix), Kind.OPERATOR, operator,
                             configure=NOTHING,
                             write=_any_of(*(name(e) for e in (WHISTLES, CALLOUTS, CHECKINS, ASSIGNMENTS, EVENTS,
                                                               HOTLINE))),
                             read=_any_of(name(DEADLETTERS))))
    return found


# ---------------------------------------------------------------- passwords

def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's stored form (rabbit_password_hashing_sha256): base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode("ascii")


def password_matches(password: str, stored: str) -> bool:
    try:
        raw = base64.b64decode(stored, validate=True)
    except ValueError:
        return False
    return len(raw) == 36 and hmac.compare_digest(password_hash(password, raw[:4]), stored)


def env_password_variable(user: str) -> str:
    return "CHUISHAO_BROKER_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", user.upper())


class Credentials:
    """The credentials file: {"users": {user: password}}, 0600 in a 0700 directory outside git."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def default(cls, env=os.environ) -> "Credentials":
        return cls(Path(env.get("CHUISHAO_CREDENTIALS_DIR") or ROOT / "var" / "credentials") / "broker.json")

    def load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8"))["users"])
        except FileNotFoundError:
            return {}

    def save(self, passwords: Mapping[str, str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"users": dict(sorted(passwords.items()))}, handle, indent=1)
        os.replace(tmp, self.path)


def choose_passwords(wanted: Iterable[str], stored: Mapping[str, str], env: Mapping[str, str]) -> tuple[dict, set]:
    """A password for every account: the environment's, else the stored one, else a new one.

    Returns (passwords, the users whose password is new and must be stored)."""
    passwords, new = {}, set()
    for user in wanted:
        given = env.get(env_password_variable(user))
        if given:
            passwords[user] = given
        elif user in stored:
            passwords[user] = stored[user]
        else:
            passwords[user] = secrets.token_urlsafe(24)
            new.add(user)
    return passwords, new


# ---------------------------------------------------------------- the plan

@dataclass
class Plan:
    """What to change so the broker matches the accounts: definitions to import, topic grants to clear."""

    vhosts: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    permissions: list[dict] = field(default_factory=list)
    topic_permissions: list[dict] = field(default_factory=list)
    stale_topic_permissions: list[tuple[str, str]] = field(default_factory=list)   # (user, exchange)
    notes: list[str] = field(default_factory=list)     # what changes, for people (no secret)

    @property
    def empty(self) -> bool:
        return not (self.vhosts or self.users or self.permissions or self.topic_permissions
                    or self.stale_topic_permissions)

    def definitions(self) -> dict:
        return {"vhosts": self.vhosts, "users": self.users, "permissions": self.permissions,
                "topic_permissions": self.topic_permissions}


def plan(current: Mapping, vhost: str, wanted: Iterable[Account], passwords: Mapping[str, str]) -> Plan:
    """Pure: the broker's exported definitions and the wanted accounts -> what differs."""
    result = Plan()
    if not any(v.get("name") == vhost for v in current.get("vhosts", ())):
        result.vhosts.append({"name": vhost})
        result.notes.append(f"create vhost {vhost!r}")
    users = {u["name"]: u for u in current.get("users", ())}
    perms = {p["user"]: p for p in current.get("permissions", ()) if p.get("vhost") == vhost}
    topics: dict[tuple[str, str], dict] = {(t["user"], t["exchange"]): t for t in current.get("topic_permissions", ())
                                           if t.get("vhost") == vhost}
    for account in wanted:
        existing = users.get(account.user)
        password = passwords[account.user]
        if existing is None or existing.get("hashing_algorithm", HASHING) != HASHING \
                or not password_matches(password, existing.get("password_hash", "")):
            tags = existing.get("tags", []) if existing else []
            result.users.append({"name": account.user, "password_hash": password_hash(password),
                                 "hashing_algorithm": HASHING, "tags": tags})
            result.notes.append(f"{'set the password of' if existing else 'create user'} {account.user}")
        want = {"configure": account.configure, "write": account.write, "read": account.read}
        have = perms.get(account.user)
        if have is None or any(have.get(k) != v for k, v in want.items()):
            result.permissions.append({"user": account.user, "vhost": vhost, **want})
            result.notes.append(f"set permissions of {account.user} in {vhost!r}")
        granted = set()
        for grant in account.topics:
            granted.add(grant.exchange)
            have_topic = topics.get((account.user, grant.exchange))
            if have_topic is None or have_topic.get("write") != grant.write or have_topic.get("read") != grant.read:
                result.topic_permissions.append({"user": account.user, "vhost": vhost, "exchange": grant.exchange,
                                                 "write": grant.write, "read": grant.read})
                result.notes.append(f"set topic permissions of {account.user} on {grant.exchange}")
        for user, exchange in topics:
            if user == account.user and exchange not in granted:
                result.stale_topic_permissions.append((user, exchange))
                result.notes.append(f"clear stale topic permissions of {user} on {exchange}")
    return result


# ---------------------------------------------------------------- the broker, through rabbitmqctl

class Rabbitmqctl:
    """rabbitmqctl on this machine (the management plugin is not needed)."""

    def __init__(self, executable: str = "rabbitmqctl", timeout: float = 120):
        self.executable = executable
        self.timeout = timeout

    def run(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run([self.executable, "-q", *args], input=stdin, capture_output=True, text=True,
                                  timeout=self.timeout)
        except FileNotFoundError:
            raise ProvisionError(f"{self.executable} not found: run this on the broker's machine (as root), "
                                 "or install rabbitmq-server's CLI") from None
        if done.returncode != 0:
            raise ProvisionError(f"rabbitmqctl {args[0]} failed ({done.returncode}): "
                                 f"{(done.stderr or done.stdout).strip()[:500]}")
        return done.stdout

    def export(self) -> dict:
        return json.loads(self.run("export_definitions", "-", "--format", "json"))

    def import_(self, definitions: dict) -> None:
        self.run("import_definitions", "--format", "json", stdin=json.dumps(definitions))

    def clear_topic_permissions(self, vhost: str, user: str, exchange: str) -> None:
        self.run("clear_topic_permissions", "-p", vhost, user, exchange)

    def delete_user(self, user: str) -> None:
        self.run("delete_user", user)

    def delete_vhost(self, vhost: str) -> None:
        self.run("delete_vhost", vhost)


def apply(ctl: Rabbitmqctl, vhost: str, wanted: list[Account], credentials: Credentials,
          env: Mapping[str, str] = os.environ, dry_run: bool = False) -> Plan:
    """Makes the broker match `wanted`; new passwords are stored before the broker learns them."""
    stored = credentials.load()
    passwords, new = choose_passwords([a.user for a in wanted], stored, env)
    result = plan(ctl.export(), vhost, wanted, passwords)
    if dry_run or result.empty:
        return result
    if new:
        credentials.save({**stored, **{u: passwords[u] for u in new}})
    if result.vhosts or result.users or result.permissions or result.topic_permissions:
        ctl.import_(result.definitions())
    for user, exchange in result.stale_topic_permissions:
        ctl.clear_topic_permissions(vhost, user, exchange)
    return result


def vhost_of(amqp_uri: str) -> str:
    """The vhost an AMQP URI names (`amqp://h:5672/` and `amqp://h:5672/%2F` are both `/`)."""
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def uri_for(amqp_uri: str, user: str, password: str, vhost: str | None = None) -> str:
    """AMQP_URI's host and port with another account (and optionally another vhost)."""
    parts = urlparse(amqp_uri)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'amqp'}://{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}/" \
           f"{quote(vhost if vhost is not None else vhost_of(amqp_uri), safe='')}"


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    import argparse

    from services.common.reference import load_reference
    parser = argparse.ArgumentParser(prog="python -m services.common.provision", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("apply", help="create or correct every account (idempotent)")
    run.add_argument("--vhost", help="default: AMQP_URI's vhost")
    run.add_argument("--namespace", default=os.environ.get("BUS_NAMESPACE", ""),
                     help="prefix of exchange and queue names (default: $BUS_NAMESPACE)")
    run.add_argument("--user-prefix", default="", help="prefix of the account names (test runs)")
    run.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    show = sub.add_parser("uri", help="print the AMQP URI (with its password) to hand over to one account")
    show.add_argument("user")
    show.add_argument("--vhost", help="default: AMQP_URI's vhost")
    args = parser.parse_args(argv)
    amqp_uri = os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    credentials = Credentials.default()
    if args.command == "uri":
        password = os.environ.get(env_password_variable(args.user)) or credentials.load().get(args.user)
        if password is None:
            print(f"no password for {args.user} in {credentials.path} or ${env_password_variable(args.user)}",
                  file=sys.stderr)
            return 1
        print(uri_for(amqp_uri, args.user, password, args.vhost))
        return 0
    vhost = args.vhost or vhost_of(amqp_uri)
    wanted = accounts(load_reference(), args.namespace, args.user_prefix)
    try:
        result = apply(Rabbitmqctl(), vhost, wanted, credentials, dry_run=args.dry_run)
    except ProvisionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for note in result.notes:
        print(("would " if args.dry_run else "") + note)
    print(f"{len(wanted)} accounts in vhost {vhost!r}, namespace {args.namespace!r}: "
          + ("nothing to change" if result.empty else f"{len(result.notes)} change(s)"
             + (" (dry run)" if args.dry_run else f"; passwords in {credentials.path}")))
    operator = broker_user(Kind.OPERATOR, OPERATORS[0], args.user_prefix)
    print(f"run each service with its own account (AMQP_URI=$(python -m services.common.provision uri "
          f"{broker_user(Kind.SERVICE, '<service>', args.user_prefix)})), SENDER_CHECK=user_id and "
          f"SENDER_SUPERUSERS={operator} (its replays); the operator replays with "
          f"AMQP_URI=$(python -m services.common.provision uri {operator})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
