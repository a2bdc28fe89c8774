"""Fixtures shared by the suite: a real broker namespace, real databases, real service processes."""
from __future__ import annotations

import pytest

from tests.support.bus import Bus, delete_namespace
from tests.support.processes import Stack, drop_databases


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Services of this module's choosing (start them with stack.start(...)) in a fresh namespace."""
    created = Stack(tmp_path_factory.mktemp("stack"))
    yield created
    created.stop()
    delete_namespace(created.amqp_uri, created.namespace)
    drop_databases(created.database_url, ("whistle", "dispatch", "roster", "metrics"))


@pytest.fixture
def bus(stack):
    client = Bus(stack.amqp_uri, stack.namespace)
    yield client
    client.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, show the tail of each service's log: the evidence is there."""
    outcome = yield
    report = outcome.get_result()
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.failed and stack is not None and stack.processes:
        report.sections.append(("service logs", stack.logs()))
