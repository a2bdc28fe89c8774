"""Who can act on chuishao: the principals, named in one place for HTTP, RPC and the bus."""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from services.common.reference import CODE

SERVICES = ("whistle", "dispatch", "roster", "metrics")


class Kind(str, Enum):
    STREET = "street"            # 街道办事处 / 乡镇: acts for its own street
    DEPARTMENT = "department"    # a department's duty desk (值班室): acts for its own department
    DISTRICT = "district"        # district staff (督办): read everything, decide arbitrations, add departments
    ASSESSMENT = "assessment"    # the assessment office (考核办): reads assessment data
    OPERATOR = "operator"        # operations: dead letters and replays
    SERVICE = "service"          # one of the four services, calling another
    HOTLINE = "hotline"          # the 12345 hotline system (接诉即办): sends tickets to the streets, reads them back
    FOLLOW_UP = "follow_up"      # the follow-up desk (回访): calls complainants back, so may read their contacts
    OPEN311 = "open311"          # a civic-reporting client (Open311 GeoReport v2, e.g. FixMyStreet), by its api_key

    def __str__(self) -> str:
        return self.value


# A street's, department's or service's code is whom it acts for; for the other kinds the code only
# names the holder (e.g. district staff `zhangwei`), for attribution.
# The body field a street's or department's code fills and must match:
OWN_FIELD = {Kind.STREET: "street_code", Kind.DEPARTMENT: "department_code"}
KIND_ZH = {Kind.STREET: "街道", Kind.DEPARTMENT: "部门", Kind.DISTRICT: "区督办",
           Kind.ASSESSMENT: "考核办", Kind.OPERATOR: "运维", Kind.SERVICE: "服务",
           Kind.HOTLINE: "12345热线", Kind.FOLLOW_UP: "回访中心", Kind.OPEN311: "Open311客户端"}
# Machines whose writes are not rate-limited per principal: a service, and the hotline sending every ticket.
UNMETERED = frozenset({Kind.SERVICE, Kind.HOTLINE})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its kind, its code, and the id of the credential it proved itself with.

    `token_id` is a bearer token's id (jti), or `amqp:<broker user>` for a sender the broker vouched for."""

    kind: Kind
    code: str
    token_id: str

    def __post_init__(self):
        if not isinstance(self.kind, Kind):
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(k.value for k in Kind)}")
        if not isinstance(self.code, str) or not re.fullmatch(CODE, self.code):
            raise ValueError(f"code: {self.code!r} is not a code ({CODE})")
        if self.kind is Kind.SERVICE and self.code not in SERVICES:
            raise ValueError(f"code: {self.code!r} is not a service ({', '.join(SERVICES)})")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.code}"

    def record(self) -> dict:
        """What a timeline entry stores to say who acted (never the credential itself)."""
        return {"kind": self.kind.value, "code": self.code, "token_id": self.token_id}


# ---------------------------------------------------------------- broker accounts

# A broker user's name says whom it speaks for: `street-daxigou`, `dept-chengguan`, `svc-dispatch`,
# `ops-duty`. The consumer's sender check (SENDER_CHECK=user_id) expects exactly these names.
BROKER_PREFIX = {Kind.STREET: "street", Kind.DEPARTMENT: "dept", Kind.SERVICE: "svc", Kind.OPERATOR: "ops"}


def broker_user(kind: Kind, code: str, prefix: str = "") -> str:
    """The broker account of a principal; `prefix` keeps test runs apart (broker users are broker-wide)."""
    if kind not in BROKER_PREFIX:
        raise ValueError(f"kind: {kind} has no broker account (it uses HTTP)")
    return f"{prefix}{BROKER_PREFIX[kind]}-{code}"


def principal_of_broker_user(user: str, prefix: str = "") -> Principal | None:
    """The principal a broker-validated AMQP `user_id` speaks for, or None for any other account."""
    if not user or not user.startswith(prefix):
        return None
    head, _, code = user[len(prefix):].partition("-")
    for kind, name in BROKER_PREFIX.items():
        if head == name:
            try:
                return Principal(kind, code, f"amqp:{user}")
            except ValueError:
                return None
    return None
