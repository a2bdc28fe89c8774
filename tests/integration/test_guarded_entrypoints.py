"""The guard inside a real nameko process: bearer tokens over HTTP, tokens in RPC context data."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import pika
import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.auth.keystore import AuthFiles
from services.common.auth.principals import Kind
from services.common.auth.tokens import issue
from services.common.guard import rpc_context
from tests.support.processes import ServiceProcess, free_port

pytestmark = pytest.mark.integration


class GuardedProcess(ServiceProcess):
    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.support.guarded_service"]


@pytest.fixture(scope="module")
def guarded(stack, tmp_path_factory):
    auth = tmp_path_factory.mktemp("auth")
    files = AuthFiles(auth)
    key = files.rotate(datetime.now(timezone.utc))
    tokens = {}
    for kind, code in ((Kind.STREET, "daxigou"), (Kind.DEPARTMENT, "chengguan"), (Kind.DISTRICT, "zhangwei")):
        issued = issue(kind, code, key, datetime.now(timezone.utc), timedelta(hours=1))
        files.record(issued, None)
        tokens[kind] = issued
    port = free_port()
    env = {**stack.env(), "CHUISHAO_AUTH_DIR": str(auth), "GUARDED_WEB_ADDRESS": f"127.0.0.1:{port}"}
    process = GuardedProcess("guarded", env, stack.tmp / "guarded.log", port).start()
    yield process, files, tokens
    process.stop()
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    connection.channel().queue_delete(f"{stack.namespace}rpc-guarded")
    connection.close()


def test_http_answers_401_403_or_200_by_the_token(guarded):
    process, files, tokens = guarded
    url = f"{process.url}/api/v1/streets/daxigou/whistle"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.json()["error"].startswith("missing bearer token")
    bearer = lambda kind: {"Authorization": f"Bearer {tokens[kind].token}"}  # noqa: E731
    assert requests.get(url, headers=bearer(Kind.STREET), timeout=5).json()["by"]["code"] == "daxigou"
    other = requests.get(f"{process.url}/api/v1/streets/nanxiashu/whistle", headers=bearer(Kind.STREET), timeout=5)
    assert other.status_code == 403 and other.json()["errors"][0]["field"] == "street_code"
    assert requests.get(url, headers=bearer(Kind.DEPARTMENT), timeout=5).status_code == 403
    files.revoke(tokens[Kind.DISTRICT].token_id, datetime.now(timezone.utc))
    revoked = requests.get(url, headers=bearer(Kind.DISTRICT), timeout=5)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    assert tokens[Kind.DISTRICT].token not in revoked.text


def test_rpc_callers_send_their_token_in_the_context_data_and_it_follows_nested_calls(stack, guarded):
    _, _, tokens = guarded
    with ClusterRpcProxy(stack.rpc_config()) as rpc:
        with pytest.raises(RemoteError) as anonymous:
            rpc.guarded.whistle("daxigou")
    assert anonymous.value.exc_type == "Unauthenticated" and "missing bearer token" in anonymous.value.value
    with ClusterRpcProxy(stack.rpc_config(), context_data=rpc_context(tokens[Kind.STREET].token)) as rpc:
        assert rpc.guarded.whistle("daxigou")["by"] == {"kind": "street", "code": "daxigou",
                                                       "token_id": tokens[Kind.STREET].token_id}
        with pytest.raises(RemoteError) as other:
            rpc.guarded.whistle("nanxiashu")
        assert other.value.exc_type == "Forbidden" and "'nanxiashu'" in other.value.value
        assert rpc.guarded.relay("daxigou")["by"]["code"] == "daxigou"       # the token went along
        with pytest.raises(RemoteError) as nested:
            rpc.guarded.relay("nanxiashu")
        assert "Forbidden" in nested.value.value       # the inner refusal, wrapped by the relaying call
    with ClusterRpcProxy(stack.rpc_config(), context_data=rpc_context("garbage")) as rpc:
        with pytest.raises(RemoteError) as bad:
            rpc.guarded.whistle("daxigou")
    assert bad.value.exc_type == "Unauthenticated" and "garbage" not in bad.value.value
