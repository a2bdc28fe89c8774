"""A short py-spy recording of one service process, summarised: where its wall time goes.

Only active samples (the thread running or runnable, not sleeping in the eventlet hub or a blocking
call), with --nonblocking (the service is not paused while sampled): the shares say where the CPU
goes. py-spy is optional: `pip install py-spy`.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 100
# leaf frames that mean "this process has nothing to run": the eventlet hub waiting on its sockets
IDLE_LEAVES = ("hubs/epolls.py", "hubs/poll.py", "hubs/hub.py", "hubs/selects.py")
# inclusive buckets worth naming in a report: (label, substring of a frame)
BUCKETS = (
    ("outbox relay (Relay.relay_once)", "relay_once (services/common/outbox.py"),
    ("  of which publish + wait for confirm", "basic_publish_confirm"),
    ("bus consumer: decode + validate (BusConsumer.decode)", "decode (services/common/consumer.py"),
    ("pydantic validation / serialisation", "pydantic"),
    ("SQLAlchemy (all database work)", "sqlalchemy/"),
    ("  of which waiting for the pooled connection", "pool/impl.py"),
    ("sqlite3 / psycopg2 driver calls", "sqlalchemy/engine/default.py"),
    ("settling messages (ack/requeue)", "_settle (services/common/consumer.py"),
    ("json", "json/"),
)


def pyspy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else None


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen | None:
    exe = pyspy()
    if exe is None:
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                             "--rate", str(RATE), "--nonblocking", "--format", "raw",
                             "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarise(raw: Path, seconds: float, top: int = 10) -> dict:
    """{'samples', 'active_pct', 'buckets': [(label, pct of active)], 'self': [...], 'inclusive': [...]}."""
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    idle = sum(n for frames, n in stacks if any(mark in frames[-1] for mark in IDLE_LEAVES))
    leaf, inclusive = Counter(), Counter()
    buckets = Counter()
    for frames, n in stacks:
        if any(mark in frames[-1] for mark in IDLE_LEAVES):
            continue
        leaf[_short(frames[-1])] += n
        for name in {_short(f) for f in frames if "services/" in f}:
            inclusive[name] += n
        joined = ";".join(frames)
        for label, mark in BUCKETS:
            if mark in joined:
                buckets[label] += n

    def pct(n):
        return round(100.0 * n / total, 1)

    return {"samples": total, "active_pct": round(100.0 * (total - idle) / max(1.0, seconds * RATE), 1),
            "buckets": [(label, pct(buckets[label])) for label, _ in BUCKETS],
            "self": [(f, pct(n)) for f, n in leaf.most_common(top)],
            "inclusive": [(f, pct(n)) for f, n in inclusive.most_common(top)]}


def _short(frame: str) -> str:
    """'func (path/to/file.py:123)' -> 'func (file.py)' with a little of the path for our own code."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "services/" in path:
        path = "services/" + path.split("services/", 1)[1]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    else:
        path = Path(path).name
    return f"{name} ({path})"
