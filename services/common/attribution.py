"""Who took an action, for the timeline: the HTTP or RPC caller's principal, or a bus command's verified sender.

HTTP and RPC callers prove themselves with a bearer token (services.common.guard; `self.auth.record()`
gives `{kind, code, token_id}`). A street's or a department's command over the bus proves its sender
only with SENDER_CHECK=user_id: the broker refuses a `user_id` that is not the publishing account's
own, and the consumer refuses one that is not the routing key's party (`street-<code>`,
`dept-<code>`) or a SENDER_SUPERUSERS account. Without that check nobody vouches for the sender,
and the timeline records no principal (`null`) rather than a guess."""
from __future__ import annotations

from typing import Callable

from nameko.extensions import DependencyProvider

from services.common.auth.principals import Kind, Principal, broker_user, principal_of_broker_user
from services.common.events import Actor, Message


def stamp_sender(message: Message, user_id: str | None) -> None:
    """Records on a command from outside the broker user the bus verified as its sender.

    For the bus entrypoint, once its sender check has passed; a message type that carries no sender
    (an event) is left alone."""
    if "_sent_by" in getattr(type(message), "__private_attributes__", {}):
        message._sent_by = user_id  # type: ignore[attr-defined]  # a private attribute of the command models


def sender_record(settings, kind: Kind, code: str, message: Message) -> dict | None:
    """The principal record of whoever sent a bus command for street/department `code`, or None when
    the bus did not verify it.

    The verified broker user when the consumer stamped one (stamp_sender); otherwise, with
    SENDER_CHECK=user_id and no SENDER_SUPERUSERS, the one account the check lets send on that key."""
    user = getattr(message, "_sent_by", None)
    if user:
        principal = principal_of_broker_user(user)
        return principal.record() if principal is not None else None
    if settings.sender_check == "user_id" and not settings.sender_superusers:
        account = broker_user(kind, code)
        return Principal(kind, code, f"amqp:{account}").record()
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
