"""`python -m tests.chaos.runner <service>`: the service's own runner, plus a stack dump on SIGUSR1.

When the fault suite finds a service that stopped making progress, it sends SIGUSR1 and the service
writes the stack of every greenthread to its log: where it is stuck is then evidence, not a guess.
A service whose test process died without teardown stops by itself."""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - before anything else, as services.common.runner does

import gc  # noqa: E402
import os  # noqa: E402
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


def stop_when_orphaned() -> None:
    """A real OS thread (not a greenthread): if the test process that started us dies without its
    teardown, stop gracefully (SIGTERM), and for good after 30 s."""
    threading = eventlet.patcher.original("threading")
    real_time = eventlet.patcher.original("time")
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            real_time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)
        real_time.sleep(30)
        os._exit(1)
    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, dump_stacks)
    stop_when_orphaned()
    from services.common.runner import main
    sys.exit(main(sys.argv[1:]))
