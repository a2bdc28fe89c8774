"""A small nameko service guarded like the real ones, run as its own process by the auth tests.

    python -m tests.support.guarded_service   (AMQP_URI, BUS_NAMESPACE, GUARDED_WEB_ADDRESS, CHUISHAO_AUTH_DIR)"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402

import os  # noqa: E402

from nameko.rpc import RpcProxy, rpc  # noqa: E402
from nameko.web.handlers import http  # noqa: E402

from services.common.errors import AUTH_ERRORS  # noqa: E402
from services.common.guard import Auth, guarded, guarded_rpc  # noqa: E402
from services.common.web import json_api, json_response  # noqa: E402


class GuardedService:
    name = "guarded"
    auth = Auth()
    itself = RpcProxy("guarded")

    @http("GET", "/health")
    def health(self, request):
        return json_response(200, {"status": "ok"})

    @http("GET", "/api/v1/streets/<string:street_code>/whistle")
    @guarded("whistle.read", obj="whistle")
    @json_api
    def http_whistle(self, request, street_code):
        self.auth.require({"street_code": street_code})
        return 200, {"by": self.auth.record()}

    @rpc(expected_exceptions=AUTH_ERRORS)
    @guarded_rpc("whistle.read", obj="whistle")
    def whistle(self, street_code):
        self.auth.require({"street_code": street_code})
        return {"by": self.auth.record()}

    @rpc(expected_exceptions=AUTH_ERRORS)
    @guarded_rpc("whistle.read", obj="whistle")
    def relay(self, street_code):
        """Calls `whistle` in turn: nameko passes the caller's token on."""
        return self.itself.whistle(street_code)


def main() -> None:
    import nameko.rpc
    from nameko.cli.run import run
    namespace = os.environ.get("BUS_NAMESPACE", "")
    nameko.rpc.RPC_QUEUE_TEMPLATE = f"{namespace}rpc-{{}}"
    run([GuardedService], {"AMQP_URI": os.environ["AMQP_URI"], "rpc_exchange": f"{namespace}nameko-rpc",
                           "WEB_SERVER_ADDRESS": os.environ["GUARDED_WEB_ADDRESS"]})


if __name__ == "__main__":
    main()
