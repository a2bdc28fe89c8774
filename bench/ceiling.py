"""The raw ceiling: what the broker on this machine does with no service in the way.

Persistent 1 KiB messages, published with publisher confirms and `mandatory`, to durable queues of
the type the services use (quorum), through a temporary exchange in a temporary namespace:

- confirmed xN: N publisher processes, each waiting for every confirm before the next publish, as
  the services' outbox relay does (one at a time);
- windowed xN:  N publisher processes keeping up to WINDOW confirms in flight (batched confirms);
- consume xN:   N consumer processes, prefetch PREFETCH, one manual ack per message.

Every loop runs for a fixed time; the namespace is deleted afterwards whatever happens.
"""
from __future__ import annotations

import multiprocessing
import time
import uuid
from dataclasses import dataclass, field

import pika

WINDOW = 256
PREFETCH = 100
BODY_BYTES = 1024


@dataclass
class Ceiling:
    seconds: float
    body_bytes: int
    queue_type: str
    rates: dict[str, float] = field(default_factory=dict)     # label -> messages per second

    @property
    def confirmed(self) -> float:
        """The best one-at-a-time confirmed publish rate: the services' own way of publishing."""
        return max((v for k, v in self.rates.items() if k.startswith("confirmed")), default=0.0)

    @property
    def windowed(self) -> float:
        return max((v for k, v in self.rates.items() if k.startswith("windowed")), default=0.0)

    @property
    def consume(self) -> float:
        return max((v for k, v in self.rates.items() if k.startswith("consume")), default=0.0)

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "body_bytes": self.body_bytes, "queue_type": self.queue_type,
                "rates": self.rates, "confirmed": self.confirmed, "windowed": self.windowed,
                "consume": self.consume}


def _body(size: int) -> bytes:
    text = '{"bench": "ceiling", "pad": "'
    return (text + "x" * max(0, size - len(text) - 2) + '"}').encode()


def _props() -> pika.BasicProperties:
    return pika.BasicProperties(content_type="application/json", delivery_mode=2)


def _wait_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


def confirmed_publisher(uri: str, exchange: str, key: str, start_at: float, seconds: float,
                        size: int, out) -> None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(uri))
        channel = connection.channel()
        channel.confirm_delivery()
        body, props = _body(size), _props()
        _wait_until(start_at)
        end = start_at + seconds
        sent = 0
        while time.time() < end:
            channel.basic_publish(exchange, key, body, props, mandatory=True)   # returns once confirmed
            sent += 1
        out.put(("ok", sent, time.time() - start_at))
        connection.close()
    except Exception as exc:  # noqa: BLE001
        out.put(("error", repr(exc), 0.0))


def windowed_publisher(uri: str, exchange: str, key: str, start_at: float, seconds: float,
                       size: int, out, window: int = WINDOW) -> None:
    state = {"published": 0, "confirmed": 0, "end": start_at + seconds, "finished": None}
    body, props = _body(size), _props()

    def fill(channel):
        while state["published"] - state["confirmed"] < window and time.time() < state["end"]:
            channel.basic_publish(exchange, key, body, props, mandatory=True)
            state["published"] += 1

    def on_confirm(frame):
        method = frame.method
        if method.multiple:
            state["confirmed"] = max(state["confirmed"], method.delivery_tag)
        else:
            state["confirmed"] += 1
        if time.time() < state["end"]:
            fill(frame_channel["ch"])
        elif state["confirmed"] >= state["published"] and state["finished"] is None:
            state["finished"] = time.time()
            connection.close()

    frame_channel = {}

    def on_channel(channel):
        frame_channel["ch"] = channel
        channel.confirm_delivery(on_confirm, callback=lambda _f: connection.ioloop.call_later(
            max(0.0, start_at - time.time()), lambda: fill(channel)))

    def watchdog():   # bounded: give up on missing confirms 10 s after the end
        if time.time() > state["end"] + 10:
            connection.close()
        else:
            connection.ioloop.call_later(0.5, watchdog)

    try:
        connection = pika.SelectConnection(
            pika.URLParameters(uri),
            on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
            on_open_error_callback=lambda c, e: c.ioloop.stop(),
            on_close_callback=lambda c, r: c.ioloop.stop())
        connection.ioloop.call_later(0.5, watchdog)
        connection.ioloop.start()
        finished = state["finished"] or time.time()
        out.put(("ok", state["confirmed"], finished - start_at))
    except Exception as exc:  # noqa: BLE001
        out.put(("error", repr(exc), 0.0))


def consumer(uri: str, queue: str, start_at: float, seconds: float, out, prefetch: int = PREFETCH) -> None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(uri))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=prefetch)
        state = {"n": 0, "first": None, "last": None}

        def on_message(ch, method, _props, _body):
            now = time.time()
            state["first"] = state["first"] or now
            state["last"] = now
            state["n"] += 1
            ch.basic_ack(method.delivery_tag)

        _wait_until(start_at)
        channel.basic_consume(queue, on_message)
        end = start_at + seconds
        while time.time() < end:
            connection.process_data_events(time_limit=0.1)
            if state["last"] and time.time() - state["last"] > 1.0:
                break       # the queue is empty
        elapsed = (state["last"] - state["first"]) if state["n"] > 1 else 0.0
        out.put(("ok", state["n"], elapsed))
        connection.close()
    except Exception as exc:  # noqa: BLE001
        out.put(("error", repr(exc), 0.0))


def _parallel(target, args_list: list[tuple]) -> float:
    """Runs one process per argument tuple; returns the summed rate (messages per second)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, out), daemon=True) for args in args_list]
    for p in procs:
        p.start()
    total = 0.0
    errors = []
    for _ in procs:
        status, count, elapsed = out.get(timeout=120)
        if status != "ok":
            errors.append(count)
        elif elapsed > 0:
            total += count / elapsed
    for p in procs:
        p.join(timeout=15)
        if p.is_alive():
            p.kill()
    if errors:
        raise RuntimeError(f"ceiling measurement failed: {errors}")
    return total


def measure(uri: str, seconds: float = 5.0, publishers: tuple[int, ...] = (1, 2, 4),
            size: int = BODY_BYTES, queue_type: str = "quorum", log=print) -> Ceiling:
    ns = f"benchceil{uuid.uuid4().hex[:8]}."
    exchange = f"{ns}ceiling"
    width = max(publishers)
    queues = [f"{ns}ceiling.q{i}" for i in range(width)]
    result = Ceiling(seconds=seconds, body_bytes=size, queue_type=queue_type)
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    try:
        channel.exchange_declare(exchange, "direct", durable=True)
        for i, queue in enumerate(queues):
            channel.queue_declare(queue, durable=True, arguments={"x-queue-type": queue_type})
            channel.queue_bind(queue, exchange, f"q{i}")

        def purge():
            for queue in queues:
                channel.queue_purge(queue)

        def start():
            return time.time() + 1.5      # lets every process connect before the clock starts

        for n in publishers:
            t0 = start()
            rate = _parallel(confirmed_publisher,
                             [(uri, exchange, f"q{i}", t0, seconds, size) for i in range(n)])
            result.rates[f"confirmed x{n}"] = rate
            log(f"  ceiling: persistent, confirmed one at a time, {n} publisher(s): {rate:,.0f} msg/s")
            purge()
        for n in sorted({1, width}):
            t0 = start()
            rate = _parallel(windowed_publisher,
                             [(uri, exchange, f"q{i}", t0, seconds, size) for i in range(n)])
            result.rates[f"windowed x{n}"] = rate
            log(f"  ceiling: persistent, {WINDOW} confirms in flight, {n} publisher(s): {rate:,.0f} msg/s")
            # consume what that run left in the queues
            t0 = start()
            rate = _parallel(consumer, [(uri, queues[i], t0, seconds) for i in range(n)])
            result.rates[f"consume x{n}"] = rate
            log(f"  ceiling: consume, prefetch {PREFETCH}, ack each, {n} consumer(s): {rate:,.0f} msg/s")
            purge()
    finally:
        for queue in queues:
            channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()
    return result
