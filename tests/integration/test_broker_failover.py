"""connect() over several broker nodes, against the real broker and a port nothing listens on."""
from __future__ import annotations

import logging

import pytest

from services.common.broker import CONNECTION_ERRORS, connect, discard
from services.common.settings import load_settings
from tests.support.processes import amqp_uri, free_port

pytestmark = pytest.mark.integration


def settings_for(*nodes: str):
    return load_settings("whistle", {"AMQP_URI": ";".join(nodes)})


def test_a_node_that_is_down_is_passed_over_whichever_node_a_connection_starts_at():
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    settings = settings_for(dead, amqp_uri(), dead)
    reached = set()
    for _ in range(6):                       # each call starts one node further along: every start is tried
        conn = connect(settings)
        try:
            assert conn.connected
            reached.add(conn.as_uri())
        finally:
            discard(conn)
    assert len(reached) == 1 and str(reached.pop()).startswith("amqp://guest:**@")


def test_successive_connections_start_at_successive_nodes(caplog):
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    settings = settings_for(amqp_uri(), dead)
    caplog.set_level(logging.WARNING, logger="services.common.broker")
    for _ in range(4):
        discard(connect(settings))
    tried_dead = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(tried_dead) == 2                   # every other call starts at the dead node, then moves on


def test_no_node_answering_raises_the_connection_error():
    settings = settings_for(*(f"amqp://guest:guest@127.0.0.1:{free_port()}/" for _ in range(2)))
    with pytest.raises(CONNECTION_ERRORS):
        connect(settings)
