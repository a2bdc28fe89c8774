"""`python -m tests.chaos.runner <service>`: the service's own runner, plus a stack dump on SIGUSR1.

When the fault suite finds a service that stopped making progress, it sends SIGUSR1 and the service
writes the stack of every greenthread to its log: where it is stuck is then evidence, not a guess."""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - before anything else, as services.common.runner does

import gc  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import greenlet  # noqa: E402


def dump_stacks(*_args) -> None:
    out = [f"==== chaos stack dump {time.strftime('%H:%M:%S')}: every greenthread ===="]
    for obj in gc.get_objects():
        if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
            out.append("---- greenthread\n" + "".join(traceback.format_stack(obj.gr_frame)))
    out.append("==== end of stack dump ====")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, dump_stacks)
    from services.common.runner import main
    sys.exit(main(sys.argv[1:]))
