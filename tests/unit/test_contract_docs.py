"""deploy/asyncapi.yaml (and the contract schemas in deploy/openapi.yaml) stay in step with services/common/events.py.

When a model changes, regenerate with `python scripts/gen_asyncapi.py`; when a message gets a new public
route (a new branch in route_of, a new exchange), describe it by hand in deploy/asyncapi.yaml as well."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from services.common import events
from services.common.events import (CHECKINS, EVENT_TYPES, HOTLINE, WHISTLES, CheckIn, HotlineTicket, RaiseWhistle,
                                    decode_event, parse, route_of)

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = ROOT / "deploy" / "asyncapi.yaml"
OPENAPI = ROOT / "deploy" / "openapi.yaml"
REF = "#/components/schemas/{model}"
REPORTS = dict(getattr(events, "REPORTS", None) or {"checkin": CheckIn})   # department reports by action
REPORTS.update(getattr(events, "MEMBER_COMMANDS", {}))                      # and its team members' commands
COMMANDS = (RaiseWhistle, HotlineTicket, *REPORTS.values())
MODELS = (*COMMANDS, *EVENT_TYPES.values())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def doc() -> dict:
    return load(ASYNCAPI)


def generated_now(models=MODELS) -> dict:
    """What the models generate today, nested models hoisted beside them."""
    out = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        for name, nested in schema.pop("$defs", {}).items():
            assert out.setdefault(name, nested) == nested, f"two different schemas named {name}"
        out[model.__name__] = schema
    return out


def generator():
    spec = importlib.util.spec_from_file_location("gen_asyncapi", ROOT / "scripts" / "gen_asyncapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HINT = "out of step with services/common/events.py: run python scripts/gen_asyncapi.py"


def test_component_schemas_are_what_the_models_generate(doc):
    documented = doc["components"]["schemas"]
    expected = generated_now()
    assert sorted(documented) == sorted(expected), f"deploy/asyncapi.yaml is {HINT}"
    for name, schema in expected.items():
        assert documented[name] == schema, f"schema {name} in deploy/asyncapi.yaml is {HINT}"


def test_openapi_contract_schemas_are_what_the_models_generate():
    documented = load(OPENAPI)["components"]["schemas"]
    for name, schema in generated_now(generator().http_models()).items():
        assert documented.get(name) == schema, f"schema {name} in deploy/openapi.yaml is {HINT}"


def test_generated_blocks_are_current():
    gen = generator()
    for path in (ASYNCAPI, OPENAPI):
        text = path.read_text(encoding="utf-8")
        assert gen.regenerate(path, text) == text, f"{path.relative_to(ROOT)} is {HINT}"


def test_raise_whistle_check_in_and_every_event_type_are_documented(doc):
    names = {m.__name__ for m in MODELS}
    assert {"RaiseWhistle", "CheckIn", "HotlineTicket"} <= names
    assert set(EVENT_TYPES.values()) <= set(MODELS)
    for name in names:
        assert name in doc["components"]["schemas"], name
        assert doc["components"]["messages"][name]["payload"] == {"$ref": REF.format(model=name)}


def _expected_route(model) -> tuple[str, str, str]:
    """(exchange, channel name, operation) of a contract model."""
    if model is RaiseWhistle:
        return WHISTLES, "raise.{street_code}", "publish"      # outside systems send commands to chuishao
    if model is HotlineTicket:
        return HOTLINE, "ticket.{street_code}", "publish"
    for action, report in REPORTS.items():
        if model is report:
            return CHECKINS, f"{action}.{{department_code}}", "publish"
    placeholders = {f: "{%s}" % f for f in ("street_code", "department_code", "urgency", "outcome")}
    route = route_of(model.model_construct(**placeholders))
    return route.exchange, route.routing_key, "subscribe"       # chuishao publishes events


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_message_has_a_channel_on_its_route(doc, model):
    exchange, key, operation = _expected_route(model)
    assert key in doc["channels"], f"no channel {key} for {model.__name__}"
    channel = doc["channels"][key]
    binding = channel["bindings"]["amqp"]
    assert binding["is"] == "routingKey"
    assert binding["exchange"] == {"name": exchange, "type": "topic", "durable": True, "autoDelete": False,
                                   "vhost": "/"}
    ref = {"$ref": f"#/components/messages/{model.__name__}"}
    message_of = channel[operation]["message"]      # one message, or several on one key (`oneOf`)
    assert message_of == ref or ref in message_of.get("oneOf", ())
    assert channel[operation]["bindings"]["amqp"]["deliveryMode"] == 2
    message = doc["components"]["messages"][model.__name__]
    assert message["contentType"] == "application/json"
    if model in EVENT_TYPES.values():
        assert message["bindings"]["amqp"]["messageType"] == model.event_type


@pytest.mark.parametrize("path", (ASYNCAPI, OPENAPI), ids=lambda p: p.name)
def test_every_local_ref_resolves(path):
    document = load(path)

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target = document
                for part in ref[2:].split("/"):
                    assert isinstance(target, dict) and part in target, f"{where}: {ref} does not resolve"
                    target = target[part]
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(document, "")


def test_examples_are_valid_messages(doc):
    by_name = {m.__name__: m for m in MODELS}
    checked = 0
    for name, message in doc["components"]["messages"].items():
        for example in message.get("examples", []):
            model = by_name[name]
            value = decode_event(example["payload"]) if model in EVENT_TYPES.values() \
                else parse(model, example["payload"])
            assert isinstance(value, model)
            checked += 1
    assert checked >= 2
