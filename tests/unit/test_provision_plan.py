"""The provisioning plan: pure, from the broker's exported definitions to what must change."""
from __future__ import annotations

import re

from services.common.auth.principals import Kind
from services.common.provision import (Credentials, accounts, choose_passwords, env_password_variable,
                                       password_hash, password_matches, plan, uri_for, vhost_of)
from services.common.reference import load_reference

REFERENCE = load_reference()


def applied(current: dict, result) -> dict:
    """What the broker holds after importing a plan's definitions (upserts) and clearing stale grants."""
    merged = {key: list(current.get(key, [])) for key in ("vhosts", "users", "permissions", "topic_permissions")}
    identity = {"vhosts": ("name",), "users": ("name",), "permissions": ("user", "vhost"),
                "topic_permissions": ("user", "vhost", "exchange")}
    for key, new in result.definitions().items():
        for item in new:
            ident = tuple(item[k] for k in identity[key])
            merged[key] = [i for i in merged[key] if tuple(i[k] for k in identity[key]) != ident] + [item]
    merged["topic_permissions"] = [t for t in merged["topic_permissions"]
                                   if (t["user"], t["exchange"]) not in result.stale_topic_permissions]
    return merged


def account(user):
    return next(a for a in accounts(REFERENCE, "test.") if a.user == user)


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None       # RabbitMQ: an unanchored regex match


def test_one_account_per_street_department_and_service_plus_the_operator():
    users = [a.user for a in accounts(REFERENCE)]
    assert len(users) == len(set(users)) == len(REFERENCE.streets) + len(REFERENCE.departments) + 4 + 1
    assert {"dept-chengguan", "street-daxigou", "svc-dispatch", "ops-duty"} <= set(users)
    assert accounts(REFERENCE, user_prefix="t1-")[0].user.startswith("t1-")


def test_a_department_binds_and_publishes_only_its_own_routing_keys():
    dept = account("dept-chengguan")
    topics = {t.exchange: t for t in dept.topics}
    read_callouts, checkins = topics["test.callouts"].read, topics["test.checkins"]
    for key in ("callout.chengguan.*", "callout.chengguan.urgent"):
        assert matches(read_callouts, key)
    for key in ("callout.gongan.*", "callout.#", "#", "callout.chengguan.#", "callout.*.*", "*.chengguan.*",
                "callout.chengguanx.*", "xcallout.chengguan.*"):
        assert not matches(read_callouts, key), key
    assert matches(checkins.read, "outcome.chengguan.*") and not matches(checkins.read, "outcome.gongan.*")
    for action in ("checkin", "arrival", "completion", "return"):
        assert matches(checkins.write, f"{action}.chengguan")
        assert not matches(checkins.write, f"{action}.gongan")
    assert not matches(checkins.write, "outcome.chengguan.accepted")
    assert not matches(topics["test.callouts"].write, "callout.chengguan.urgent")
    # vhost permissions: its own queues and its exchanges, in its namespace, and server-named queues
    assert matches(dept.read, "test.department.chengguan.callouts")
    assert not matches(dept.read, "test.department.gongan.callouts")
    assert not matches(dept.read, "department.chengguan.callouts")          # another namespace
    assert not matches(dept.write, "test.deadletters") and not matches(dept.write, "test.events")
    assert matches(dept.configure, "amq.gen-abc") and not matches(dept.configure, "test.checkins")


def test_a_department_hears_and_answers_for_its_own_team_members_only():
    dept = account("dept-chengguan")
    topics = {t.exchange: t for t in dept.topics}
    assignments, checkins = topics["test.assignments"], topics["test.checkins"]
    for key in ("*.chengguan.#", "assignment.chengguan.urgent", "replaced.chengguan", "released.chengguan"):
        assert matches(assignments.read, key), key
    for key in ("*.gongan.#", "#", "*.*.#", "assignment.#", "assignment.gongan.urgent", "released.*",
                "*.chengguanx.#"):
        assert not matches(assignments.read, key), key
    assert not matches(assignments.write, "assignment.chengguan.urgent")
    for action in ("member_checkin", "member_decline"):
        assert matches(checkins.write, f"{action}.chengguan") and not matches(checkins.write, f"{action}.gongan")
    assert matches(dept.read, "test.department.chengguan.assignments")
    assert not matches(dept.read, "test.department.gongan.assignments")


def test_a_street_raises_only_on_its_own_key_and_reads_its_own_outcomes():
    street = account("street-daxigou")
    [whistles] = street.topics
    assert matches(whistles.write, "raise.daxigou") and not matches(whistles.write, "raise.nanxiashu")
    assert not matches(whistles.write, "outcome.daxigou.raised")
    assert matches(whistles.read, "outcome.daxigou.*") and not matches(whistles.read, "outcome.nanxiashu.*")
    assert matches(street.read, "test.street.daxigou.outcomes")
    assert not matches(street.read, "test.street.nanxiashu.outcomes")


def test_services_are_broad_within_the_namespace_and_the_operator_reads_dead_letters():
    service = account("svc-whistle")
    assert service.kind is Kind.SERVICE and not service.topics
    assert matches(service.write, "test.events") and matches(service.configure, "rpc.reply-x-1")
    assert not matches(service.configure, "other.events")
    operator = account("ops-duty")
    assert matches(operator.read, "test.deadletters") and not matches(operator.read, "test.department.x.callouts")
    assert matches(operator.write, "test.whistles") and not matches(operator.write, "test.deadletters")
    assert matches(operator.write, "test.hotline")          # a dead-lettered 12345 ticket can be replayed


def test_an_empty_broker_gets_everything_and_a_second_run_changes_nothing():
    wanted = accounts(REFERENCE, "test.")
    passwords, new = choose_passwords([a.user for a in wanted], {}, {})
    assert new == set(passwords)
    first = plan({"vhosts": [{"name": "/"}]}, "chuishao", wanted, passwords)
    assert first.vhosts == [{"name": "chuishao"}]
    assert len(first.users) == len(first.permissions) == len(wanted)
    assert len(first.topic_permissions) == 3 * len(REFERENCE.departments) + len(REFERENCE.streets)
    assert not any(p in str(first.notes) for p in passwords.values())
    second = plan(applied({"vhosts": [{"name": "/"}]}, first), "chuishao", wanted, passwords)
    assert second.empty and second.notes == []


def test_only_what_differs_is_changed():
    wanted = accounts(REFERENCE, "test.")
    passwords, _ = choose_passwords([a.user for a in wanted], {}, {})
    broker = applied({}, plan({}, "/", wanted, passwords))
    broker["topic_permissions"].append({"user": "dept-chengguan", "vhost": "/", "exchange": "old.callouts",
                                        "write": ".*", "read": ".*"})
    for p in broker["permissions"]:
        if p["user"] == "street-daxigou":
            p["read"] = ".*"
    changed = {**passwords, "dept-gongan": "a new one"}
    result = plan(broker, "/", wanted, changed)
    assert [u["name"] for u in result.users] == ["dept-gongan"]
    assert password_matches("a new one", result.users[0]["password_hash"])
    assert [p["user"] for p in result.permissions] == ["street-daxigou"]
    assert result.topic_permissions == []
    assert result.stale_topic_permissions == [("dept-chengguan", "old.callouts")]
    assert plan(applied(broker, result), "/", wanted, changed).empty


def test_passwords_come_from_the_environment_then_the_file_then_are_generated(tmp_path):
    assert env_password_variable("dept-chengguan") == "CHUISHAO_BROKER_PASSWORD_DEPT_CHENGGUAN"
    passwords, new = choose_passwords(["dept-a", "dept-b", "dept-c"], {"dept-b": "stored"},
                                      {"CHUISHAO_BROKER_PASSWORD_DEPT_A": "from-env"})
    assert passwords["dept-a"] == "from-env" and passwords["dept-b"] == "stored" and new == {"dept-c"}
    assert len(passwords["dept-c"]) >= 24
    credentials = Credentials(tmp_path / "credentials" / "broker.json")
    credentials.save(passwords)
    assert credentials.load() == passwords
    assert oct(credentials.path.stat().st_mode & 0o777) == "0o600"
    assert oct(credentials.path.parent.stat().st_mode & 0o777) == "0o700"


def test_rabbitmq_password_hashes_and_uris():
    assert password_matches("guest", "jFxdmNrj9TdXX0I5jPkeczBYv607d66GfaL6apP5l2K9D7zB")   # a real broker's
    assert not password_matches("guest", password_hash("other"))
    assert not password_matches("guest", "not base64!")
    assert vhost_of("amqp://guest:guest@127.0.0.1:5672/") == "/"
    assert vhost_of("amqp://guest:guest@127.0.0.1:5672/%2F") == "/"
    assert vhost_of("amqp://h/chuishao") == "chuishao"
    assert uri_for("amqp://guest:guest@10.0.0.1:5672/", "dept-x", "p@ss/w", "v1") == \
        "amqp://dept-x:p%40ss%2Fw@10.0.0.1:5672/v1"
    assert uri_for("amqp://guest:guest@h:5672/", "u", "p") == "amqp://u:p@h:5672/%2F"
