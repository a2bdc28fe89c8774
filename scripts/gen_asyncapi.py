"""Regenerates the parts of deploy/asyncapi.yaml and deploy/openapi.yaml that follow from services/common/events.py.

    python scripts/gen_asyncapi.py           # rewrite the generated blocks in place
    python scripts/gen_asyncapi.py --check   # exit 1 (and say which) if a document is out of step with the models

Each document is written by hand except for blocks fenced by `# >>> generated: <block>` and
`# <<< generated: <block>` comment lines, which this script owns:

  deploy/asyncapi.yaml  channels   one channel per department report (`<action>.{department_code}` on
                                   `checkins`, from events.REPORTS) and per internal event (routing key
                                   = its type on `events`, from events.EVENT_TYPES and route_of)
                        messages   one message per contract model (commands and every event type)
                        schemas    one JSON Schema per contract model
  deploy/openapi.yaml   schemas    the JSON Schemas of the contract models the HTTP APIs use, and of the
                                   roster's request bodies (officers, rotations, overrides, swaps, leave)

Schemas are pydantic's own (validation mode), nested models hoisted beside them and referenced as
#/components/schemas/<Model>: exactly what the services validate. The public channels (raise, outcomes,
call-outs, the provisioned queues, dead letters) stay hand-written. tests/unit/test_contract_docs.py
fails when the documents and the models drift apart.
"""
from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.common import events  # noqa: E402

ASYNCAPI = ROOT / "deploy" / "asyncapi.yaml"
OPENAPI = ROOT / "deploy" / "openapi.yaml"
REF_TEMPLATE = "#/components/schemas/{model}"
AMQP_BINDING = "0.2.0"
PLACEHOLDERS = ("street_code", "department_code", "urgency", "outcome", "action")

# Examples shown with the messages; tests/unit/test_contract_docs.py checks that each one parses.
EXAMPLES = {
    "RaiseWhistle": {
        "request_id": "daxigou-2025-0001", "street_code": "daxigou", "grid_code": "daxigou-c1-g1",
        "category": "illegal_construction", "urgency": "urgent", "source": "grid_patrol",
        "description": "楼顶正在加盖彩钢房", "reported_by": "网格员 王芳",
        "place": {"address": "大溪沟街道人和街12号", "lon": 106.5516, "lat": 29.563},
    },
    "WhistleOutcome": {
        "type": "whistle.outcome", "event_id": "ce80455b-1b66-4ea3-9ae0-5526352b6473",
        "occurred_at": "2025-03-14T01:30:00Z", "schema_version": 1, "request_id": "bad-1",
        "street_code": "nanxiashu", "outcome": "rejected", "whistle_id": None, "repeated": False,
        "errors": [{"field": "street_code", "message": "'daxigou' does not match routing key 'raise.nanxiashu'"}],
    },
    "HotlineTicket": {
        "ticket_id": "BJ12345-20250314-0007", "street_code": "daxigou", "category": "garbage_dumping",
        "description": "小区门口垃圾三天没人清运", "received_at": "2025-03-14T01:00:00Z",
        "place": {"address": "大溪沟街道文化宫路3号", "lon": 106.548, "lat": 29.561},
        "complainant": {"name": "刘女士", "phone": "13800138000"},
    },
    "CheckIn": {
        "request_id": "chengguan-0b0d7f44", "callout_id": "0b0d7f44-7642-4c05-9054-dee32c532e5c",
        "department_code": "chengguan", "officer": "执法队员 王建国", "note": "两人十分钟内到场",
    },
}


# ---------------------------------------------------------------- what the contract holds

def report_models() -> dict[str, type]:
    """Department reports by action (checkin, arrival...), each published as `<action>.<department>`."""
    reports = getattr(events, "REPORTS", None)
    return dict(reports) if reports else {"checkin": events.CheckIn}


def member_models() -> dict[str, type]:
    """A joint team's members' commands by action, each published as `<action>.<department>`."""
    return dict(getattr(events, "MEMBER_COMMANDS", {}))


def command_models() -> tuple[type, ...]:
    """Commands outside systems publish on the bus: a street's RaiseWhistle, the 12345 hotline's tickets, a
    department's reports and its team members' check-ins and declines."""
    return (events.RaiseWhistle, events.HotlineTicket, *report_models().values(), *member_models().values())


def event_models() -> tuple[type, ...]:
    return tuple(events.EVENT_TYPES.values())


def contract_models() -> tuple[type, ...]:
    return (*command_models(), *event_models())


def http_models() -> tuple[type, ...]:
    """The contract models the HTTP APIs take or return, and the roster's request bodies."""
    from services.roster.officers import Officer
    from services.roster.schedule import Leave, Override, RotationSet, Swap
    return tuple(getattr(events, name) for name in (
        "RaiseWhistle", "CheckIn", "Arrive", "Complete", "Return", "CloseWhistle", "SendBack", "FollowUp",
        "AddDepartment", "DecideArbitration", "RecordDecision", "ReportOutcome", "CheckInOutcome", "CheckInAsMember",
        "DeclineAssignment", "MemberOutcome",
        "OpenGridEvent", "AcceptGridEvent", "HandleGridEvent", "CloseGridEvent", "PassUpGridEvent",
        "VerifyGridEvent", "WhistleGridEvent", "HotlineTicket", "TicketReceipt") if hasattr(events, name)) + (
        Officer, RotationSet, Override, Swap, Leave)


def route_template(model: type) -> events.Route:
    """Where an event type is published, with {placeholders} for the parts that vary."""
    sample = model.model_construct(**{name: "{%s}" % name for name in PLACEHOLDERS})
    return events.route_of(sample)


def internal_events() -> tuple[type, ...]:
    """Event types published on the `events` exchange (the rest are on public exchanges)."""
    return tuple(m for m in event_models() if route_template(m).exchange == events.EVENTS)


def paragraphs(*texts: str) -> str:
    """Block text: each paragraph wrapped at 100 columns, a blank line between them."""
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 100) for p in texts if p) + "\n"


def summary_of(model: type) -> str:
    doc = model.__doc__ or ""
    first = " ".join(doc.strip().split("\n\n")[0].split()) if doc.strip() else ""
    return first or getattr(model, "event_type", model.__name__)


# ---------------------------------------------------------------- the generated blocks

def component_schemas(models=None) -> dict:
    """Each model's schema, nested models ($defs) hoisted beside it, sorted by name."""
    out: dict[str, dict] = {}
    for model in models or contract_models():
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        for name, nested in schema.pop("$defs", {}).items():
            if out.setdefault(name, nested) != nested:
                raise ValueError(f"two different schemas are both named {name!r}")
        if out.setdefault(model.__name__, schema) != schema:
            raise ValueError(f"two different schemas are both named {model.__name__!r}")
    return dict(sorted(out.items()))


def _exchange(name: str) -> dict:
    return {"name": name, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}


def generated_channels() -> dict:
    channels: dict[str, dict] = {}
    for action, model in report_models().items():
        channels[f"{action}.{{department_code}}"] = {
            "description": paragraphs(
                summary_of(model),
                f"Published by a department to exchange `{events.CHECKINS}` (topic, durable) with routing key "
                f"`{action}.<department_code>`, its own code; the `department_code` in the body must be that one "
                f"and the "
                f"one the call-out was issued to. Consumed by the dispatch service. Answered on "
                f"`outcome.<department_code>.<accepted|rejected>`. Give it a `request_id`: a resend with the "
                f"same one is answered `accepted` again with `repeated: true`."),
            "parameters": {"department_code": {"$ref": "#/components/parameters/department_code"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": _exchange(events.CHECKINS),
                                  "bindingVersion": AMQP_BINDING}},
            "publish": {
                "operationId": f"report_{action}",
                "summary": f"A department reports: {action}.",
                "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING}},
                "message": {"$ref": f"#/components/messages/{model.__name__}"},
            },
        }
    for action, model in member_models().items():
        channels[f"{action}.{{department_code}}"] = {
            "description": paragraphs(
                summary_of(model),
                f"Published by a department (for its officer on a joint team) to exchange `{events.CHECKINS}` "
                f"(topic, durable) with routing key `{action}.<department_code>`, its own code; the "
                f"`department_code` in the body must be that one and the officer's. Consumed by the roster "
                f"service. Answered with a `MemberOutcome` on `outcome.<department_code>.<accepted|rejected>`. "
                f"Sending it again is harmless: it is answered `accepted` with `repeated: true`."),
            "parameters": {"department_code": {"$ref": "#/components/parameters/department_code"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": _exchange(events.CHECKINS),
                                  "bindingVersion": AMQP_BINDING}},
            "publish": {
                "operationId": action,
                "summary": f"A team member's department sends {action}.",
                "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING}},
                "message": {"$ref": f"#/components/messages/{model.__name__}"},
            },
        }
    for model in internal_events():
        doc = summary_of(model)
        channels[model.event_type] = {
            "description": paragraphs(
                "" if doc == model.event_type else doc,
                f"Informational: published by chuishao on exchange `{events.EVENTS}` (topic, durable) with "
                f"routing key `{model.event_type}`. Bind a queue of your own."),
            "bindings": {"amqp": {"is": "routingKey", "exchange": _exchange(events.EVENTS),
                                  "bindingVersion": AMQP_BINDING}},
            "subscribe": {
                "operationId": "on_" + model.event_type.replace(".", "_"),
                "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "ack": True,
                                      "bindingVersion": AMQP_BINDING}},
                "message": {"$ref": f"#/components/messages/{model.__name__}"},
            },
        }
    return channels


def generated_messages() -> dict:
    messages: dict[str, dict] = {}
    for model in contract_models():
        name = model.__name__
        event_type = getattr(model, "event_type", None)
        message = {"name": name, "title": event_type or name, "summary": summary_of(model),
                   "contentType": "application/json"}
        if event_type:
            message["bindings"] = {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING}}
        message["payload"] = {"$ref": REF_TEMPLATE.format(model=name)}
        if name in EXAMPLES:
            message["examples"] = [{"name": name, "payload": EXAMPLES[name]}]
        messages[name] = message
    return messages


# ---------------------------------------------------------------- writing them into the documents

class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(mapping: dict, indent: str) -> str:
    text = yaml.dump(mapping, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    return textwrap.indent(text, indent)


def blocks_for(path: Path) -> dict:
    if path == ASYNCAPI:
        return {"channels": generated_channels, "messages": generated_messages,
                "schemas": lambda: component_schemas(contract_models())}
    return {"schemas": lambda: component_schemas(http_models())}


def regenerate(path: Path, text: str) -> str:
    """The document with each generated block replaced by fresh output."""
    for block, make in blocks_for(path).items():
        pattern = re.compile(rf"^(?P<indent> *)# >>> generated: {block}\b.*\n(?:.*\n)*?"
                             rf"(?P=indent)# <<< generated: {block}.*\n", re.M)
        match = pattern.search(text)
        if not match:
            raise SystemExit(f"{path}: no '# >>> generated: {block}' ... '# <<< generated: {block}' block")
        indent = match.group("indent")
        fresh = (f"{indent}# >>> generated: {block} (scripts/gen_asyncapi.py from services/common/events.py;"
                 f" do not edit by hand)\n" + dump(make(), indent) + f"{indent}# <<< generated: {block}\n")
        text = text[:match.start()] + fresh + text[match.end():]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a file would change")
    args = parser.parse_args(argv)
    stale = 0
    for path in (ASYNCAPI, OPENAPI):
        name = path.relative_to(ROOT)
        current = path.read_text(encoding="utf-8")
        fresh = regenerate(path, current)
        if fresh == current:
            print(f"{name}: up to date")
        elif args.check:
            print(f"{name}: out of step with services/common/events.py; run python scripts/gen_asyncapi.py",
                  file=sys.stderr)
            stale += 1
        else:
            path.write_text(fresh, encoding="utf-8")
            print(f"{name}: regenerated {', '.join(blocks_for(path))}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
