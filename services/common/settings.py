"""Settings read from the environment once, at the edge; the domain only ever receives values."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / '{service}.db'}"
DEFAULT_WEB = {"whistle": "127.0.0.1:8000", "dispatch": "127.0.0.1:8001",
               "roster": "127.0.0.1:8002", "metrics": "127.0.0.1:9102"}


@dataclass(frozen=True)
class Settings:
    service: str
    amqp_uri: str               # one broker node, or several separated by ';' (nodes of one cluster)
    database_url: str
    web_address: str
    namespace: str              # prefixed to every exchange and queue name (tests use their own)
    max_attempts: int           # deliveries of one message before it is dead-lettered
    confirm_timeout: float      # seconds to wait for the broker's publisher confirm
    outbox_sweep_seconds: float
    prefetch: int               # unacked messages per bus consumer: the most one batch can take
    sender_check: str           # "off", or "user_id": outside senders must prove who they are
    sender_superusers: tuple[str, ...]   # broker users allowed to send for any street/department
    reconnect_max_seconds: float = 2.0  # longest wait between attempts to reach a broker or database that is away
    batch_max: int = 100        # messages a bus consumer handles in one transaction
    batch_linger_ms: float = 5.0    # how long a consumer waits after a first message for more to join it
    workers: int = 10           # nameko's worker pool: batches, RPC calls and HTTP requests at once
    escalation_sweep_seconds: float = 5.0   # how often dispatch looks for missed deadlines
    grid_sweep_seconds: float = 60.0        # how often whistle looks for grid events past a tier's deadline
    deadline_sweep_seconds: float = 5.0     # how often metrics decides missed deadlines and sets its gauges
    deadline_grace_seconds: float = 30.0    # how long metrics waits past a deadline for a report in flight
    queue_probe_seconds: float = 15.0       # how often metrics probes department queues and dead letters
    outbox_age_seconds: float = 10.0        # how often a service measures its oldest unsent outbox event
    roster_sweep_seconds: float = 5.0       # how often the roster replaces no-shows, retries gaps, plans operations

    @property
    def nameko_config(self) -> dict:
        """nameko's own config, carrying these settings for our extensions under SETTINGS."""
        return {"AMQP_URI": self.amqp_uri, "WEB_SERVER_ADDRESS": self.web_address,
                "max_workers": self.workers, "parent_calls_tracked": 10,
                "rpc_exchange": self.name("nameko-rpc"), "SETTINGS": self}

    def name(self, bus_name: str) -> str:
        """An exchange or queue name inside this deployment's namespace."""
        return f"{self.namespace}{bus_name}"

    @property
    def amqp_nodes(self) -> tuple[str, ...]:
        """The broker nodes to try, in the order given."""
        return broker_nodes(self.amqp_uri)


def broker_nodes(value: str, separators: str = ";") -> tuple[str, ...]:
    """The AMQP URIs in `value`: one, or several separated by any of `separators` (empty ones dropped)."""
    nodes = tuple(part.strip() for part in re.split(f"[{re.escape(separators)}]", value) if part.strip())
    if not nodes:
        raise ValueError("AMQP_URI: no broker node given")
    return nodes


def amqp_uri(env=os.environ) -> str:
    """The broker nodes as one `;`-separated AMQP_URI (kombu's failover form): AMQP_URIS if set (URIs
    separated by `;`, `,` or whitespace), else AMQP_URI (one URI, or several separated by `;`)."""
    listed = env.get("AMQP_URIS", "").strip()
    if listed:
        return ";".join(broker_nodes(listed, "; ,\t\n"))
    return ";".join(broker_nodes(env.get("AMQP_URI") or DEFAULT_AMQP_URI))


def database_url(service: str, env=os.environ) -> str:
    explicit = env.get(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    return env.get("DATABASE_URL", DEFAULT_DATABASE_URL).replace("{service}", service)


def load_settings(service: str, env=os.environ) -> Settings:
    return Settings(
        service=service,
        amqp_uri=amqp_uri(env),
        database_url=database_url(service, env),
        web_address=env.get(f"{service.upper()}_WEB_ADDRESS", DEFAULT_WEB[service]),
        namespace=env.get("BUS_NAMESPACE", ""),
        max_attempts=int(env.get("MAX_DELIVERY_ATTEMPTS", "5")),
        confirm_timeout=float(env.get("CONFIRM_TIMEOUT_SECONDS", "5")),
        outbox_sweep_seconds=float(env.get("OUTBOX_SWEEP_SECONDS", "2")),
        prefetch=int(env.get("PREFETCH", "200")),
        sender_check=env.get("SENDER_CHECK", "off"),
        sender_superusers=tuple(u for u in env.get("SENDER_SUPERUSERS", "").split(",") if u),
        reconnect_max_seconds=float(env.get("RECONNECT_MAX_SECONDS", "2")),
        batch_max=int(env.get("BATCH_MAX", "100")),
        batch_linger_ms=float(env.get("BATCH_LINGER_MS", "5")),
        workers=int(env.get("WORKERS", "10")),
        escalation_sweep_seconds=float(env.get("ESCALATION_SWEEP_SECONDS", "5")),
        grid_sweep_seconds=float(env.get("GRID_SWEEP_SECONDS", "60")),
        deadline_sweep_seconds=float(env.get("DEADLINE_SWEEP_SECONDS", "5")),
        deadline_grace_seconds=float(env.get("DEADLINE_GRACE_SECONDS", "30")),
        queue_probe_seconds=float(env.get("QUEUE_PROBE_SECONDS", "15")),
        outbox_age_seconds=float(env.get("OUTBOX_AGE_SECONDS", "10")),
        roster_sweep_seconds=float(env.get("ROSTER_SWEEP_SECONDS", "5")),
    )
