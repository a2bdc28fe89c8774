"""An entrypoint that runs its method every few seconds, one run at a time, in every replica.

nameko's @timer runs in every replica too; this one takes its interval from Settings (read once at
the edge), waits for a run to finish before the next, and on shutdown lets the run in progress end."""
from __future__ import annotations

import logging

import eventlet
from nameko.extensions import Entrypoint

log = logging.getLogger(__name__)


class Every(Entrypoint):
    """`@every("escalation_sweep_seconds")`: the method runs at start and then every that many seconds."""

    def __init__(self, interval_setting: str, **kwargs):
        self.interval_setting = interval_setting
        super().__init__(**kwargs)

    def setup(self):
        self.interval = float(getattr(self.container.config["SETTINGS"], self.interval_setting))
        self._stopping = False
        self._wake = eventlet.Event()

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._loop, identifier=self.method_name)

    def stop(self):
        self._stopping = True
        if not self._wake.ready():
            self._wake.send(True)
        self._thread.wait()

    def kill(self):
        self._stopping = True
        self._thread.kill()

    def _loop(self):
        while not self._stopping:
            finished = eventlet.Event()

            def handle_result(worker_ctx, result, exc_info, finished=finished):
                if exc_info is not None:
                    log.warning("%s failed, will run again in %ss: %s", self.method_name, self.interval,
                                exc_info[1])
                finished.send(True)
                return result, None

            self.container.spawn_worker(self, (), {}, context_data={}, handle_result=handle_result)
            finished.wait()
            with eventlet.Timeout(self.interval, False):
                self._wake.wait()


every = Every.decorator
