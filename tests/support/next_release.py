"""`python -m tests.support.next_release <service>`: a service as the release that prepares a breaking change.

The change: whistle.raised version 2 names its reporter as an object, `reporter: {name, role}`, where
version 1 has the string `reported_by`. This release still writes version 1 and reads version 2
through the upcaster below: the step that must run everywhere before any producer writes version 2
(README, "Production": how the contract evolves). Otherwise the service's own runner, unchanged."""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - before anything else, as services.common.runner does

import sys  # noqa: E402

from services.common.events import upcaster  # noqa: E402


@upcaster("whistle.raised", 2)
def reporter_became_an_object(payload: dict) -> dict:
    reporter = payload.pop("reporter")
    return {**payload, "reported_by": reporter["name"]}


if __name__ == "__main__":
    from services.common.runner import main
    sys.exit(main(sys.argv[1:]))
