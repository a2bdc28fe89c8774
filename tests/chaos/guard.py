"""`python guard.py CMD...`: runs CMD and stops it if the process that started the guard goes away.

A test run killed hard (SIGKILL, a CI timeout) runs no fixture teardown; without this, its private
RabbitMQ node would live on. The guard forwards SIGTERM/SIGINT to CMD, exits with CMD's status, and
when its parent disappears sends CMD SIGTERM (rabbitmq-server then stops the node cleanly) and, if
that takes too long, SIGKILL to its whole process group. Standard library only, so it runs anywhere.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    parent = os.getppid()
    child = subprocess.Popen(argv)               # stays in the guard's process group

    def forward(signum, _frame):
        child.send_signal(signum)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            return child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:               # orphaned: whoever started us is gone
            child.terminate()
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(0, signal.SIGKILL)
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
