"""Who took an action, for the timeline: the HTTP or RPC caller's principal, or a bus command's verified sender.

HTTP and RPC callers prove themselves with a bearer token (services.common.guard; `self.auth.record()`
gives `{kind, code, token_id}`). A street's or a department's command over the bus names its sender
by the AMQP `user_id`, which the broker refuses unless it is the publishing account's own; the bus
entrypoint stamps it on the command (with SENDER_CHECK=user_id it must moreover be the routing key's
party, `street-<code>` / `dept-<code>`, or a SENDER_SUPERUSERS account). A command sent without one
is vouched for by nobody, and the timeline records no principal (`null`) rather than a guess."""
from __future__ import annotations

from typing import Callable

from nameko.extensions import DependencyProvider

from services.common.auth.principals import Kind, principal_of_broker_user
from services.common.events import Actor, Message


def stamp_sender(message: Message, user_id: str | None) -> None:
    """Records on a command from outside the broker user the bus verified as its sender.

    For the bus entrypoint, once its sender check has passed; a message type that carries no sender
    (an event) is left alone."""
    if "_sent_by" in getattr(type(message), "__private_attributes__", {}):
        message._sent_by = user_id  # type: ignore[attr-defined]  # a private attribute of the command models


def sender_record(settings, kind: Kind, code: str, message: Message) -> dict | None:
    """The principal record of whoever sent a bus command for street/department `code`: the broker
    user the consumer stamped on it (stamp_sender; the broker vouches for a message's user_id), or
    None when it came without one."""
    user = getattr(message, "_sent_by", None)
    if user:
        principal = principal_of_broker_user(user)
        return principal.record() if principal is not None else None
    return None


def actor(record: dict | None) -> Actor | None:
    """A principal record as the `by` of an event."""
    return None if record is None else Actor(**record)


class BusSenders(DependencyProvider):
    """`self.senders(kind, code, message)`: sender_record() with this process's settings."""

    def setup(self):
        self.settings = self.container.config["SETTINGS"]

    def get_dependency(self, worker_ctx) -> Callable[[Kind, str, Message], dict | None]:
        settings = self.settings
        return lambda kind, code, message: sender_record(settings, kind, code, message)
