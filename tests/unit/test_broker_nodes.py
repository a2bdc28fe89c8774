"""Several broker nodes in the settings: how AMQP_URI / AMQP_URIS are read, and what nameko is given."""
from __future__ import annotations

import pytest

from services.common.settings import DEFAULT_AMQP_URI, broker_nodes, load_settings

A, B, C = "amqp://u:p@rabbit-0:5672/v", "amqp://u:p@rabbit-1:5672/v", "amqp://u:p@rabbit-2:5672/v"


@pytest.mark.parametrize("env, nodes", [
    ({}, (DEFAULT_AMQP_URI,)),
    ({"AMQP_URI": ""}, (DEFAULT_AMQP_URI,)),
    ({"AMQP_URI": A}, (A,)),
    ({"AMQP_URI": f"{A};{B}; {C};"}, (A, B, C)),
    ({"AMQP_URIS": f"{A}, {B}\n{C}", "AMQP_URI": "amqp://ignored/"}, (A, B, C)),
    ({"AMQP_URIS": f"{A};{B}"}, (A, B)),
])
def test_the_nodes_come_from_amqp_uris_or_amqp_uri_in_the_order_given(env, nodes):
    settings = load_settings("whistle", env)
    assert settings.amqp_nodes == nodes
    # nameko (kombu) takes the same list in its own failover form
    assert settings.nameko_config["AMQP_URI"] == ";".join(nodes) == settings.amqp_uri


def test_a_list_with_no_node_in_it_is_refused():
    with pytest.raises(ValueError, match="no broker node"):
        broker_nodes(" ; ;")


def test_a_log_line_naming_several_nodes_shows_no_password():
    import logging

    from services.common.broker import RedactCredentials
    record = logging.LogRecord("nameko.messaging", logging.WARNING, __file__, 1,
                               "Error connecting to broker at %s (%s)", (f"amqp://u:********@h0:5672/v;{B};{C}",
                                                                        "refused"), None)
    assert RedactCredentials().filter(record)
    assert record.getMessage() == ("Error connecting to broker at amqp://u:***@h0:5672/v;amqp://u:***@rabbit-1:5672/v;"
                                   "amqp://u:***@rabbit-2:5672/v (refused)")
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "no URI here: %d", (3,), None)
    assert RedactCredentials().filter(plain) and plain.getMessage() == "no URI here: 3"


def test_a_service_starting_before_the_broker_answers_tries_its_topology_again_then_fails_with_its_error(caplog):
    import socket

    from services.common.broker import declare_topology
    from services.common.reference import load_reference
    with socket.socket() as closed:                  # a port nothing listens on: every connect is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = load_settings("whistle", {"AMQP_URI": f"amqp://guest:guest@127.0.0.1:{port}//",
                                         "RECONNECT_MAX_SECONDS": "0.1"})
    with caplog.at_level("WARNING", logger="services.common.broker"), pytest.raises(ConnectionRefusedError):
        declare_topology(settings, load_reference(), patience=0.6)
    tries = [r for r in caplog.records if "declaring the bus topology failed" in r.getMessage()]
    assert len(tries) >= 3
