"""The alert dispatcher: non-blocking emit, dedup, throttling, history, retries, isolation."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.alerts import (
    AlertDelivery,
    AlertDispatcher,
    AlertEvent,
    AlertHistory,
    AlertLevel,
    LiveAlertsConfig,
    TokenBucket,
    active_dispatcher,
    build_alert_sink_from_config,
    raise_alert,
)
from peaktrade_core.config import structure_config
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.plugins import get_plugin_manager
from peaktrade_core.state import StateStore
from peaktrade_core.testing import registered_plugin


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A sink plugin recording what it got; ``fail`` makes it report failures."""

    def __init__(self, name="rec", fail=False):
        self.name = name
        self.fail = fail
        self.got: list[AlertEvent] = []
        self.lock = threading.Lock()

    @hookimpl
    def emit_alert(self, event, sinks):
        if self.name not in sinks:
            return None
        if self.fail:
            return [AlertDelivery(self.name, False, "down")]
        with self.lock:
            self.got.append(event)
        return [AlertDelivery(self.name, True)]


class Exploding:
    @hookimpl
    def emit_alert(self, event, sinks):
        if "boom" in sinks:
            raise RuntimeError("sink exploded")


def config(**kw) -> LiveAlertsConfig:
    base = {"sinks": ("rec",), "min_level": "info", "throttle_per_second": 1000.0, "throttle_burst": 1000,
            "retry_backoff_seconds": 0.01, "max_backoff_seconds": 0.05}
    return LiveAlertsConfig(**{**base, **kw})


def event(code="c", level=AlertLevel.WARNING, **kw) -> AlertEvent:
    return AlertEvent(level, "test", code, f"message {code}", **kw)


@pytest.fixture
def rec():
    recorder = Recorder()
    with registered_plugin(recorder, "recorder"):
        yield recorder


def started(cfg, store=None, clock=time.monotonic) -> AlertDispatcher:
    d = AlertDispatcher(cfg, store, clock=clock)
    d.start()
    return d


def statuses(d: AlertDispatcher) -> list[dict[str, str]]:
    return [{x["sink"]: x["status"] for x in row["deliveries"]} for row in d.history.query()]


def test_emit_delivers_and_records_before_delivery(rec):
    seen_in_history = []
    d = started(config())

    class Peek:
        @hookimpl
        def emit_alert(self, event, sinks):
            seen_in_history.append([r["id"] for r in d.history.query()])

    with registered_plugin(Peek(), "peek"):
        e = event()
        d.emit(e)
        assert d.flush(5)
    d.close(1)
    assert [x.id for x in rec.got] == [e.id]
    assert seen_in_history[0] == [e.id]  # stored before any sink was called
    assert statuses(d) == [{"rec": "delivered"}]


def test_below_min_level_is_neither_delivered_nor_recorded(rec):
    d = started(config(min_level="critical"))
    d.emit(event(level=AlertLevel.WARNING))
    d.emit(event("crit", level=AlertLevel.CRITICAL))
    assert d.flush(5)
    d.close(1)
    assert [e.code for e in rec.got] == ["crit"]
    assert [r["code"] for r in d.history.query()] == ["crit"]


def test_thousand_identical_alerts_give_one_delivery_saying_1000(rec):
    clock = FakeClock()
    d = started(config(dedup_window_seconds=60), clock=clock)
    for _ in range(1000):
        d.emit(event("risk.max_order_notional"))
    assert d.flush(5)
    assert [e.repeat for e in rec.got] == [1]  # the first goes out at once
    clock.now += 61  # the window ends: one summary for the whole window
    assert d.flush(5)
    d.close(1)
    assert [e.repeat for e in rec.got] == [1, 1000]
    assert [e.repeat for e in rec.got if e.repeat == 1000] == [1000]
    assert rec.got[1].id != rec.got[0].id and rec.got[1].dedup_key == rec.got[0].dedup_key
    assert sorted(r["repeat"] for r in d.history.query()) == [1, 1000]


def test_close_sends_the_summary_of_an_open_window(rec):
    d = started(config(dedup_window_seconds=60))
    for _ in range(5):
        d.emit(event())
    d.close(5)
    assert [e.repeat for e in rec.got] == [1, 5]


def test_different_keys_are_not_merged(rec):
    d = started(config())
    for i in range(3):
        d.emit(event(f"c{i}"))
    assert d.flush(5)
    d.close(1)
    assert sorted(e.code for e in rec.got) == ["c0", "c1", "c2"]


def test_throttle_holds_back_beyond_the_burst_and_never_drops(rec):
    clock = FakeClock()
    d = started(config(throttle_per_second=1.0, throttle_burst=2), clock=clock)
    for i in range(5):
        d.emit(event(f"c{i}"))
    assert not d.flush(0.3)  # three wait for tokens
    assert [e.code for e in rec.got] == ["c0", "c1"]
    clock.now += 1.0
    d.flush(0.3)
    assert [e.code for e in rec.got] == ["c0", "c1", "c2"]
    clock.now += 10
    assert d.flush(5)
    d.close(1)
    assert [e.code for e in rec.got] == ["c0", "c1", "c2", "c3", "c4"]  # in order


def test_local_sinks_are_not_throttled():
    d = started(config(sinks=("log",), throttle_per_second=0.001, throttle_burst=1))
    for i in range(5):
        d.emit(event(f"c{i}"))
    assert d.flush(5)
    d.close(1)
    assert statuses(d) == [{"log": "delivered"}] * 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60),
       st.floats(min_value=0.1, max_value=20), st.integers(min_value=1, max_value=10))
def test_token_bucket_never_exceeds_rate_times_time_plus_burst(gaps, rate, burst):
    bucket = TokenBucket(rate, burst, burst, 0.0)
    now, taken = 0.0, 0
    for gap in gaps:
        now += gap
        while bucket.wait_time(now) == 0:
            taken += 1
    assert taken <= burst + rate * now + 1e-6


def test_sink_plugin_that_raises_is_a_failed_delivery_and_others_still_deliver(rec):
    d = started(config(sinks=("boom", "rec", "log"), max_retries=0))
    with registered_plugin(Exploding(), "exploding"):
        d.emit(event())
        d.flush(1)
        d.close(0.5)
    assert len(rec.got) == 1
    [row] = d.history.query()
    by_sink = {x["sink"]: x for x in row["deliveries"]}
    assert by_sink["rec"]["status"] == by_sink["log"]["status"] == "delivered"
    assert by_sink["boom"]["status"] == "failed"
    assert "plugin exploding failed: RuntimeError: sink exploded" in by_sink["boom"]["error"]


def test_unknown_sink_is_reported_not_ignored():
    d = started(config(sinks=("nosuch",), max_retries=0))
    d.emit(event())
    d.flush(0.5)
    d.close(0.2)
    [row] = d.history.query()
    assert row["deliveries"][0]["status"] == "failed"
    assert "no plugin delivers to this sink" in row["deliveries"][0]["error"]


def test_failed_deliveries_are_retried_with_backoff_and_delivered_once(rec):
    rec.fail = True
    d = started(config())
    e = event()
    d.emit(e)
    deadline = time.monotonic() + 5
    while statuses(d) != [{"rec": "failed"}] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert statuses(d) == [{"rec": "failed"}]
    rec.fail = False
    assert d.flush(5)
    d.close(1)
    assert [x.id for x in rec.got] == [e.id]
    [row] = d.history.query()
    assert row["deliveries"][0]["status"] == "delivered" and row["deliveries"][0]["attempts"] >= 2


def test_undelivered_alerts_are_resent_once_after_a_restart(rec, tmp_path):
    store = StateStore.in_dir(tmp_path)
    rec.fail = True
    first = started(config(max_retries=1), store)
    events = [event(f"c{i}") for i in range(3)]
    for e in events:
        first.emit(e)
    first.flush(0.3)
    first.close(0.2)
    assert rec.got == []
    rec.fail = False
    second = started(config(), StateStore.in_dir(tmp_path))  # a new process on the same data dir
    assert second.flush(5)
    second.close(1)
    third = started(config(), StateStore.in_dir(tmp_path))
    assert third.flush(5)
    third.close(1)
    assert [x.id for x in rec.got] == [e.id for e in events]  # once each, in order
    assert all(s == {"rec": "delivered"} for s in statuses(third))


def test_alerts_still_queued_at_close_are_kept_for_the_next_start(rec, tmp_path):
    store = StateStore.in_dir(tmp_path)
    d = AlertDispatcher(config(), store)  # never started: nothing is delivered
    e = event()
    d.emit(e)
    d.close(0.1)
    assert rec.got == []
    nxt = started(config(), StateStore.in_dir(tmp_path))
    assert nxt.flush(5)
    nxt.close(1)
    assert [x.id for x in rec.got] == [e.id]


def test_full_queue_never_blocks_and_the_overflow_is_itself_alerted(rec):
    d = AlertDispatcher(config(queue_size=10))
    for i in range(25):
        d.emit(event(f"c{i % 2}"))
    d.start()
    assert d.flush(5)
    d.close(1)
    overflow = [e for e in rec.got if e.code == "queue_overflow"]
    assert len(overflow) == 1 and overflow[0].level is AlertLevel.CRITICAL
    assert overflow[0].context["dropped"] == 15


def test_disabled_alerts_are_recorded_but_never_delivered(rec):
    d = started(config(enabled=False))
    d.emit(event())
    assert d.flush(5)
    d.close(1)
    assert rec.got == []
    [row] = d.history.query()
    assert row["delivery_enabled"] is False and row["deliveries"] == []


def test_emit_costs_microseconds_even_with_a_sink_that_hangs():
    release = threading.Event()

    class Hanging:
        @hookimpl
        def emit_alert(self, event, sinks):
            release.wait(5)
            return [AlertDelivery("hang", False, "timeout")]

    with registered_plugin(Hanging(), "hanging"):
        d = started(config(sinks=("hang",), sink_timeout_seconds=0.2, queue_size=100_000, dedup_window_seconds=0))
        e = event()
        n = 20_000
        t0 = time.perf_counter()
        for _ in range(n):
            d.emit(e)
        took = time.perf_counter() - t0
        release.set()
        d.close(0.5)
    # an emit that waited for the hung sink would take its 0.2 s timeout, 20,000 times over;
    # never blocking takes ~10 ms here (the speed itself is benchmarks/bench_alert_outage.py's)
    assert took < 2.0, f"{n} emits took {took:.2f} s"


def test_emit_never_raises_on_garbage():
    d = AlertDispatcher(config())
    d.emit(None)  # type: ignore[arg-type]
    d.emit("not an event")  # type: ignore[arg-type]
    d.close(0.1)


def test_plugin_that_failed_to_load_is_alerted_on_start(rec):
    with registered_plugin(Recorder("unused"), "broken-sink"):
        get_plugin_manager().mark_failed("broken-sink", "ImportError: no module named x")
        d = started(config())
        assert d.flush(5)
        d.close(1)
    [alert] = [e for e in rec.got if e.code == "plugin_failed"]
    assert alert.level is AlertLevel.WARNING and "broken-sink" in alert.message


def test_raise_alert_uses_the_running_dispatcher(rec):
    d = started(config())
    assert active_dispatcher() is d
    raise_alert(AlertLevel.CRITICAL, "killswitch", "engaged", "engaged by alice", {"operator": "alice"})
    assert d.flush(5)
    d.close(1)
    assert active_dispatcher() is None
    assert [(e.source, e.code, e.context["operator"]) for e in rec.got] == [("killswitch", "engaged", "alice")]


def test_raise_alert_without_a_dispatcher_records_and_delivers(rec, tmp_path):
    cfg = structure_config({"live_alerts": {"sinks": ["rec"], "min_level": "info"}})
    store = StateStore.in_dir(tmp_path)
    raise_alert(AlertLevel.CRITICAL, "killswitch", "released", "released by bob", config=cfg, store=store)
    assert [e.code for e in rec.got] == ["released"]
    [row] = AlertHistory(store).query()
    assert row["deliveries"] == [{"sink": "rec", "status": "delivered", "attempts": 1, "error": None}]


def test_build_alert_sink_from_config_fans_out_synchronously(rec):
    other = Recorder("other")
    with registered_plugin(other, "other"):
        sink = build_alert_sink_from_config(config(sinks=("rec", "other", "nosuch"), min_level="warning"))
        assert sink.deliver(event(level=AlertLevel.INFO)) == []
        deliveries = sink.deliver(event())
        combined = sink.send(event())
    assert [(d.sink, d.ok) for d in deliveries] == [("rec", True), ("other", True), ("nosuch", False)]
    assert not combined.ok and combined.error.startswith("nosuch: ")
    assert len(rec.got) == len(other.got) == 2
    assert build_alert_sink_from_config(config(enabled=False)).deliver(event()) == []
