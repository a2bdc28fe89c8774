"""A TCP proxy between the services and the broker that the fault suite can cut and heal.

Runs as its own process: `python -m tests.chaos.proxy LISTEN_PORT TARGET_PORT CONTROL_PORT`, all on
127.0.0.1. The control port takes one command per connection, answered with one JSON line:

    cut SECONDS   abort every proxied connection (RST) and refuse new ones for SECONDS, then heal
    heal          accept connections again now
    stats         {"open": n, "accepted": n, "cuts": n, "listening": bool}

`ProxyProcess` starts it and speaks that protocol.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


class Proxy:
    def __init__(self, listen_port: int, target_port: int):
        self.listen_port = listen_port
        self.target_port = target_port
        self.server: asyncio.AbstractServer | None = None
        self.connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.connecting: set[asyncio.StreamWriter] = set()     # accepted, upstream not yet open
        self.accepted = 0
        self.cuts = 0
        self._heal_task: asyncio.Task | None = None

    async def listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._client, HOST, self.listen_port, reuse_address=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.connecting.add(writer)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, self.target_port), timeout=5)
        except (OSError, asyncio.TimeoutError):
            _abort(writer)
            return
        finally:
            self.connecting.discard(writer)
        if writer.transport.is_closing():        # cut while the upstream connection was being opened
            _abort(up_writer)
            return
        pair = (writer, up_writer)
        self.connections.add(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.connections.discard(pair)
            _abort(writer)
            _abort(up_writer)

    async def cut(self, seconds: float) -> None:
        self.cuts += 1
        if self.server is not None:
            self.server.close()
            self.server = None
        for client, upstream in list(self.connections):
            _abort(client)
            _abort(upstream)
        self.connections.clear()
        for client in list(self.connecting):
            _abort(client)
        if self._heal_task is not None:
            self._heal_task.cancel()
        self._heal_task = asyncio.get_running_loop().create_task(self._heal_after(seconds))

    async def _heal_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.heal()

    async def heal(self) -> None:
        for _ in range(50):
            try:
                await self.listen()
                return
            except OSError:            # the port may linger a moment
                await asyncio.sleep(0.1)
        await self.listen()

    def stats(self) -> dict:
        return {"open": len(self.connections), "accepted": self.accepted, "cuts": self.cuts,
                "listening": self.server is not None}

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), timeout=5)).decode().split()
            if line[:1] == ["cut"] and len(line) == 2:
                await self.cut(float(line[1]))
                answer = {"ok": True, **self.stats()}
            elif line == ["heal"]:
                if self._heal_task is not None:
                    self._heal_task.cancel()
                await self.heal()
                answer = {"ok": True, **self.stats()}
            elif line == ["stats"]:
                answer = {"ok": True, **self.stats()}
            else:
                answer = {"ok": False, "error": f"unknown command {line!r}"}
        except Exception as exc:  # noqa: BLE001 - the answer says what went wrong
            answer = {"ok": False, "error": repr(exc)}
        writer.write((json.dumps(answer) + "\n").encode())
        try:
            await writer.drain()
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    try:
        writer.transport.abort()       # an RST, like a broken network, not a polite FIN
    except Exception:  # noqa: BLE001 - already gone
        pass


async def stop_when_orphaned() -> None:
    """The suite that started us died without its teardown: go too."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1)
    os._exit(1)


async def main(listen_port: int, target_port: int, control_port: int) -> None:
    asyncio.get_running_loop().create_task(stop_when_orphaned())
    proxy = Proxy(listen_port, target_port)
    await proxy.listen()
    control = await asyncio.start_server(proxy.control, HOST, control_port, reuse_address=True)
    print(f"proxy 127.0.0.1:{listen_port} -> 127.0.0.1:{target_port}, control on {control_port}", flush=True)
    async with control:
        await control.serve_forever()


class ProxyProcess:
    """The proxy as a child process of the suite."""

    def __init__(self, listen_port: int, target_port: int, control_port: int, log_path: Path):
        self.listen_port, self.target_port, self.control_port = listen_port, target_port, control_port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> "ProxyProcess":
        from tests.support.processes import ROOT     # not at the top: the proxy process needs none of it
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.chaos.proxy", str(self.listen_port), str(self.target_port),
                 str(self.control_port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                if self.command("stats").get("listening"):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the proxy did not come up in {timeout}s")

    def command(self, text: str) -> dict:
        with socket.create_connection((HOST, self.control_port), timeout=5) as sock:
            sock.sendall((text + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        return json.loads(data or b"{}")

    def cut(self, seconds: float) -> dict:
        return self.command(f"cut {seconds}")

    def heal(self) -> dict:
        return self.command("heal")

    def stats(self) -> dict:
        return self.command("stats")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
