"""Alerts: levels, events, deliveries, the dispatcher (ALERT-1..4); the ``[live_alerts]`` config
and the levels live in :mod:`peaktrade_core.alerts_config` (re-exported here).

The order path only calls :meth:`AlertDispatcher.emit`: a length check and a deque append,
a few microseconds, never blocking, never raising. Everything else happens off the order
path, on the dispatcher's intake thread (steps 1-3) and on one delivery thread per sink
(steps 4-5), so a sink that hangs delays only its own deliveries, never another sink's:

1. level filter (``min_level``; applied in ``emit`` already, so filtered alerts cost nothing);
2. de-duplication: the first alert of a ``dedup_key`` is delivered at once; further ones
   within ``dedup_window_seconds`` are only counted, and when the window ends one summary
   alert is delivered whose ``repeat`` is the number of occurrences in the window
   (including the first);
3. the alert and one ``pending`` delivery row per sink are written to the alert
   history *before* any sink is called;
4. per sink, on its own thread, oldest first: a token bucket (``throttle_per_second``, ``throttle_burst``; the
   local ``log``/``stderr`` sinks are not throttled), then the ``emit_alert`` hook through
   ``PluginManager.emit_alert``; a failure blocks that sink for an exponential backoff
   (or the sink's ``Retry-After``) and the alert stays at the head of the sink's queue;
5. the outcome of every attempt is written back to the history; an alert is delivered at
   most once per sink (a crash between a sink's success and the write-back can repeat it).
   Each sink's backlog holds at most ``queue_size`` alerts; beyond that the oldest stays
   undelivered in the history for the next start.

Every text written to the history or handed to a sink (messages, context, delivery
errors) is redacted (:func:`peaktrade_core.secrets.redact`): a sink's error that quotes
its URL shows no secret.

Undelivered alerts are resent by the next :meth:`AlertDispatcher.start`.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from attrs import define, evolve, field, frozen

from peaktrade_core.alerts_config import LOCAL_SINKS, AlertLevel, LiveAlertsConfig  # noqa: F401 - importable from here as before
from peaktrade_core.secrets import has_secrets, redact, redact_data, register_secrets_in

if TYPE_CHECKING:
    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.plugins import PluginManager
    from peaktrade_core.state import StateStore


# uuid4() costs ~2 µs, too much for the order path: a random per-process prefix plus a
# counter is as unique and ten times cheaper.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count()


def new_alert_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):08x}"


@frozen
class AlertEvent:
    level: AlertLevel
    source: str
    code: str
    message: str
    context: Mapping[str, Any] = field(factory=dict)
    time: float = field(factory=time.time)
    #: alerts with the same key within the dedup window become one delivery
    dedup_key: str = ""
    #: how many occurrences this delivery stands for (set by de-duplication)
    repeat: int = 1
    id: str = field(factory=new_alert_id)

    def __attrs_post_init__(self) -> None:
        if not self.dedup_key:
            object.__setattr__(self, "dedup_key", f"{self.source}:{self.code}")

    def summary_line(self) -> str:
        """One line for logs, chat fallbacks and subjects: level first, in plain words."""
        repeat = f" (repeated {self.repeat}x)" if self.repeat > 1 else ""
        return f"[ALERT {self.level.name}] {self.source}/{self.code}: {self.message}{repeat}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (what the generic webhook posts)."""
        from datetime import UTC, datetime

        return {
            "id": self.id,
            "level": self.level.name,
            "source": self.source,
            "code": self.code,
            "message": self.message,
            "context": json.loads(_context_json(self.context)),
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds"),
            "dedup_key": self.dedup_key,
            "repeat": self.repeat,
        }


def _context_json(context: Mapping[str, Any]) -> str:
    return json.dumps(dict(context), default=str, sort_keys=True)


def _stored_context(context: Mapping[str, Any]) -> str:
    text = _context_json(context)
    return _context_json(redact_data(json.loads(text))) if has_secrets() else text


def _redacted(event: AlertEvent) -> AlertEvent:
    """``event`` as a sink may see it: no secret in its message or context (an alert about a
    failure may quote the failing URL)."""
    if not has_secrets():
        return event
    message, context = redact(event.message), json.loads(_stored_context(event.context))
    if message == event.message and context == json.loads(_context_json(event.context)):
        return event
    return evolve(event, message=message, context=context)


@frozen
class AlertDelivery:
    sink: str
    ok: bool
    error: str | None = None
    #: seconds the sink asked us to wait before retrying (HTTP 429 ``Retry-After``)
    retry_after: float | None = None


class AlertSink(Protocol):
    """One destination. Plugins wrap their sinks in an ``emit_alert`` implementation."""

    name: str

    def send(self, event: AlertEvent) -> AlertDelivery: ...


def unknown_sinks(sinks: Sequence[str], pm: PluginManager) -> tuple[list[str], list[str]]:
    """``(configured sinks no loaded plugin delivers to, every sink the plugins name)``."""
    known = pm.alert_sinks()
    return [s for s in sinks if s not in known], sorted(known)


def sink_problems(config: PeakTradeConfig, pm: PluginManager) -> list[tuple[str, str]]:
    """``[(key, problem)]`` for ``[live_alerts] sinks`` naming a sink no plugin delivers to.
    Empty while a plugin failed to load (its sinks are unknown; the dispatcher warns at
    start-up and the failure is itself alerted)."""
    alerts = config.live_alerts
    if not alerts.enabled or pm.failed():
        return []
    unknown, known = unknown_sinks(alerts.sinks, pm)
    return [
        ("live_alerts.sinks", f'unknown sink "{name}"; known sinks: {", ".join(known)}'
         " (a sink of a plugin that is not installed or not allowed is unknown)")
        for name in unknown
    ]


# -- delivering one alert -----------------------------------------------------------------


def _error_line(exc: BaseException) -> str:
    text = redact(str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def deliver_alert(
    pm: PluginManager, event: AlertEvent, sinks: Collection[str], timeout: float | None
) -> dict[str, AlertDelivery]:
    """Call ``emit_alert`` once for ``sinks``; one :class:`AlertDelivery` per sink, always.

    A plugin that raises, times out or returns garbage never propagates: the sinks nobody
    delivered to are failed deliveries whose error names it.
    """
    results = pm.emit_alert(_redacted(event), sinks, timeout)
    return {sink: d if d.error is None else evolve(d, error=redact(str(d.error))) for sink, d in results.items()}


@define
class MultiAlertSink:
    """Synchronous fan-out to named sinks (Python API; no queue, history or retries).

    ``deliver(event)`` returns one delivery per sink; ``send(event)`` (the
    :class:`AlertSink` protocol) folds them into one.
    """

    sinks: tuple[str, ...]
    min_level: AlertLevel
    plugin_manager: PluginManager
    timeout: float = 10.0
    name: str = "multi"

    def deliver(self, event: AlertEvent) -> list[AlertDelivery]:
        if event.level < self.min_level or not self.sinks:
            return []
        results = deliver_alert(self.plugin_manager, event, self.sinks, self.timeout)
        return [results[s] for s in self.sinks]

    def send(self, event: AlertEvent) -> AlertDelivery:
        failed = [d for d in self.deliver(event) if not d.ok]
        return AlertDelivery(self.name, not failed, "; ".join(f"{d.sink}: {d.error}" for d in failed) or None)


def build_alert_sink_from_config(
    config: LiveAlertsConfig | PeakTradeConfig, plugin_manager: PluginManager | None = None
) -> MultiAlertSink:
    """The configured sinks as one :class:`MultiAlertSink` (seed name; Python API).

    Pass the whole :class:`~peaktrade_core.config.PeakTradeConfig` when plugin sinks are
    used: it is handed to the plugins (``configure`` hook) so they find their URLs and
    sections. ``enabled = false`` gives a sink that delivers nothing.
    """
    from peaktrade_core.plugins import get_plugin_manager

    pm = plugin_manager or get_plugin_manager()
    alerts = config if isinstance(config, LiveAlertsConfig) else config.live_alerts
    if not isinstance(config, LiveAlertsConfig):
        pm.configure(config)
    sinks = tuple(alerts.sinks) if alerts.enabled else ()
    return MultiAlertSink(sinks, alerts.min_level, pm, alerts.sink_timeout_seconds)


# -- history ------------------------------------------------------------------------------

class AlertHistory:
    """Every alert and its delivery status per sink, in the state store."""

    def __init__(self, store: StateStore):
        from peaktrade_core.store.alerts import AlertRepository

        self.store = store
        self.repository = AlertRepository(store)

    def record(self, events: Sequence[AlertEvent], sinks: Collection[str], delivery_enabled: bool = True) -> None:
        """Store events with a ``pending`` delivery per sink. Idempotent per event id."""
        if not events:
            return
        now = time.time()
        self.repository.record(
            [
                (e.id, e.time, int(e.level), e.source, e.code, redact(e.message), _stored_context(e.context),
                 e.dedup_key, e.repeat, now, int(delivery_enabled))
                for e in events
            ],
            sinks,
            now,
        )

    def mark(self, alert_id: str, delivery: AlertDelivery) -> None:
        """Record one attempt; a delivery already marked delivered is never touched again."""
        self.repository.mark(alert_id, delivery.sink, delivery.ok, delivery.error and redact(delivery.error), time.time())

    def undelivered(self, sinks: Collection[str]) -> list[tuple[AlertEvent, str]]:
        """``(event, sink)`` for every delivery to one of ``sinks`` not yet delivered, oldest first."""
        return [(_event_from_row(r), r["sink"]) for r in self.repository.undelivered(sinks)]

    def query(self, min_level: AlertLevel | None = None, since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts newest first, each with ``deliveries``: ``[{sink, status, attempts, error}]``."""
        rows = self.repository.alerts(None if min_level is None else int(min_level), since, limit)
        deliveries: dict[str, list[dict[str, Any]]] = {}
        for d in self.repository.deliveries([r["id"] for r in rows]):
            deliveries.setdefault(d["alert_id"], []).append(
                {"sink": d["sink"], "status": d["status"], "attempts": d["attempts"], "error": d["error"]}
            )
        out = []
        for r in rows:
            item = _event_from_row(r).to_dict()
            item["delivery_enabled"] = bool(r["delivery_enabled"])
            item["deliveries"] = deliveries.get(r["id"], [])
            out.append(item)
        return redact_data(out)  # rows written before a secret was known to this process

    def delivered_sinks_since(self, since: float) -> list[str]:
        """The sinks an alert was delivered to at or after ``since`` (epoch seconds)."""
        return self.repository.delivered_sinks_since(since)

    def last_delivered(self) -> tuple[str, float] | None:
        """``(sink, when)`` of the newest delivery, or ``None``."""
        row = self.repository.last_delivered()
        return None if row is None else (row["sink"], float(row["updated_at"]))


def _event_from_row(r: Any) -> AlertEvent:
    return AlertEvent(
        AlertLevel(r["level"]), r["source"], r["code"], r["message"], json.loads(r["context"]),
        r["time"], r["dedup_key"], r["repeat"], r["id"],
    )


# -- the dispatcher -----------------------------------------------------------------------


@define(slots=True)
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def wait_time(self, now: float) -> float:
        """0 and one token taken if one is available, else the seconds until one is."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@define(slots=True)
class _SinkQueue:
    """Deliveries waiting for one sink, oldest first; only the head is ever attempted, by
    the sink's own thread."""

    name: str
    bucket: TokenBucket | None
    backlog: deque[list[Any]] = field(factory=deque)  # [event, attempts in this process]
    blocked_until: float = 0.0
    failures: int = 0
    #: guards ``backlog``: the intake thread appends (and drops the oldest when full)
    lock: threading.Lock = field(factory=threading.Lock)
    wake: threading.Event = field(factory=threading.Event)
    thread: threading.Thread | None = None


@define(slots=True)
class _DedupWindow:
    opened: float
    count: int
    last: AlertEvent


_active: AlertDispatcher | None = None
_active_lock = threading.Lock()


class AlertDispatcher:
    """Queue, de-duplicate, record, throttle, deliver and retry alerts off the order path.

    :param config: ``[live_alerts]``.
    :param store: where the alert history lives; ``None``: an in-memory database (nothing
        survives the process, so nothing is resent after a restart).
    :param plugin_manager: whose ``emit_alert`` hook delivers; default the process-wide one.
    :param clock: monotonic seconds for dedup windows, throttling and backoff (tests).
    """

    def __init__(
        self,
        config: LiveAlertsConfig,
        store: StateStore | None = None,
        plugin_manager: PluginManager | None = None,
        clock: Any = time.monotonic,
    ):
        from peaktrade_core.state import StateStore

        register_secrets_in(config)  # known before the first error message quotes a URL
        self.config = config
        self.history = AlertHistory(store if store is not None else StateStore(":memory:"))
        self._pm = plugin_manager
        self._clock = clock
        self._min_level = config.min_level
        self._queue_size = config.queue_size
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._overflow_lock = threading.Lock()
        self._overflow: dict[str, int] = {}
        self._sinks = {
            name: _SinkQueue(name, None if name in LOCAL_SINKS else TokenBucket(
                config.throttle_per_second, config.throttle_burst, config.throttle_burst, clock()))
            for name in (config.sinks if config.enabled else ())
        }
        self._windows: OrderedDict[str, _DedupWindow] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._stopped = False

    @property
    def plugin_manager(self) -> PluginManager:
        if self._pm is None:
            from peaktrade_core.plugins import get_plugin_manager

            self._pm = get_plugin_manager()
        return self._pm

    # -- the order path ------------------------------------------------------------------

    def emit(self, event: AlertEvent) -> None:
        """Queue ``event``; returns at once, never raises, never blocks."""
        try:
            if event.level < self._min_level:
                return
            if len(self._queue) < self._queue_size:
                self._queue.append(event)
                if not self._wake.is_set():
                    self._wake.set()
            else:
                with self._overflow_lock:
                    self._overflow[event.dedup_key] = self._overflow.get(event.dedup_key, 0) + 1
        except Exception:  # noqa: BLE001, S110 - alerting must never disturb trading
            pass

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Resend undelivered alerts from the history, report plugins that failed to load,
        start the threads and become the process's :func:`active_dispatcher`."""
        if self._thread is not None:
            return
        self.warn_unknown_sinks()
        if self._sinks:
            for event, sink in self.history.undelivered(self._sinks):
                self._enqueue(self._sinks[sink], event)
        for info in self.plugin_manager.failed():
            self.emit(AlertEvent(AlertLevel.WARNING, "plugins", "plugin_failed",
                                 f"plugin {info.name} failed: {info.error}", {"plugin": info.name},
                                 dedup_key=f"plugins:plugin_failed:{info.name}"))
        self._start_worker()
        global _active
        with _active_lock:
            if _active is None:
                _active = self

    def warn_unknown_sinks(self) -> None:
        """Log a WARNING for each configured sink no loaded plugin delivers to (the config
        was loaded without the plugins, so it could not be refused then)."""
        from peaktrade_core.log import logger

        unknown, known = unknown_sinks(self._sinks, self.plugin_manager)
        if unknown:
            logger.warning("[live_alerts] sinks: no loaded plugin delivers to {}; known sinks: {}",
                           ", ".join(unknown), ", ".join(known))

    def _start_worker(self) -> None:
        self._thread = threading.Thread(target=self._run, name="peaktrade-alerts", daemon=True)
        self._thread.start()
        for sink in self._sinks.values():
            sink.thread = threading.Thread(target=self._run_sink, args=(sink,), name=f"peaktrade-alerts-{sink.name}", daemon=True)
            sink.thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait until everything emitted so far is recorded and no delivery is waiting
        (neither throttled nor backing off). False if that takes longer than ``timeout``."""
        if self._thread is None or not self._thread.is_alive():
            return not self._queue and not self._backlog_size()
        marker = threading.Event()
        self._queue.append(marker)
        self._wake.set()
        for sink in self._sinks.values():  # look again now (the clock may be a test's)
            sink.wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: marker.is_set() and not self._backlog_size(), timeout)

    def close(self, timeout: float | None = None) -> None:
        """Summarise open dedup windows, flush for at most ``timeout`` seconds (default
        ``flush_timeout_seconds``), stop the threads. Whatever is still queued is recorded as
        undelivered, so the next :meth:`start` sends it."""
        global _active
        timeout = self.config.flush_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._closing = True
        self.flush(timeout)
        self._stopped = True
        self._wake.set()
        for sink in self._sinks.values():
            sink.wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.05)
        for sink in self._sinks.values():  # one stuck in a hung sink is abandoned (daemon)
            if sink.thread is not None:
                sink.thread.join(max(0.0, deadline - time.monotonic()) + 0.05)
        leftover = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, AlertEvent):
                leftover.append(item)
        leftover += [evolve(w.last, id=new_alert_id(), repeat=w.count) for w in self._windows.values() if w.count > 1]
        self._windows.clear()
        self._record(leftover)
        with _active_lock:
            if _active is self:
                _active = None

    # -- the intake thread: dedup, record, hand to the sinks -----------------------------

    def _backlog_size(self) -> int:
        return sum(len(s.backlog) for s in list(self._sinks.values()))

    def _notify(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _run(self) -> None:
        from peaktrade_core.log import logger

        while not self._stopped:
            try:
                self._step()
            except Exception:  # a bug here must not end alerting silently
                logger.exception("alert dispatcher: unexpected error; continuing")
                time.sleep(0.05)
            self._notify()

    def _step(self) -> None:
        if not self._queue:
            self._wake.wait(self._next_due(self._clock()))
        self._wake.clear()  # before draining: an emit after this sets it again
        events, markers = [], []
        while self._queue:
            item = self._queue.popleft()
            (events if isinstance(item, AlertEvent) else markers).append(item)
        now = self._clock()
        overflow = self._take_overflow()
        if overflow is not None:
            events.append(overflow)
        fresh = self._dedup(events, now)
        for i in range(0, len(fresh), 500):  # short transactions: the run log shares the store
            try:
                self._record(fresh[i:i + 500])
            except Exception as exc:  # the store is down: the sinks must hear of it all the more
                from peaktrade_core.log import logger

                logger.error("alert history: {} alert(s) not recorded ({}); delivering them anyway", len(fresh[i:i + 500]), exc)
        for sink in self._sinks.values():
            if fresh:
                for event in fresh:
                    self._enqueue(sink, event)
                sink.wake.set()
        for marker in markers:
            marker.set()

    def _next_due(self, now: float) -> float:
        due = 0.5
        if self._windows:
            first = next(iter(self._windows.values()))
            due = min(due, first.opened + self.config.dedup_window_seconds - now)
        return max(due, 0.001)

    def _take_overflow(self) -> AlertEvent | None:
        if not self._overflow:
            return None
        with self._overflow_lock:
            dropped, self._overflow = self._overflow, {}
        total = sum(dropped.values())
        worst = sorted(dropped.items(), key=lambda kv: -kv[1])[:5]
        return AlertEvent(
            AlertLevel.CRITICAL, "alerts", "queue_overflow",
            f"alert queue full (queue_size={self._queue_size}): {total} alert(s) dropped, most: "
            + ", ".join(f"{k} x{n}" for k, n in worst),
            {"dropped": total, "by_key": dict(worst)},
        )

    def _close_windows(self, now: float, fresh: list[AlertEvent]) -> None:
        """End expired dedup windows (all of them when closing); a window that saw more than
        one alert becomes one summary alert whose ``repeat`` counts them all."""
        windows = self._windows
        while windows:  # ordered by opening time
            key, w = next(iter(windows.items()))
            if now - w.opened < self.config.dedup_window_seconds and not self._closing:
                break
            del windows[key]
            if w.count > 1:
                fresh.append(evolve(w.last, id=new_alert_id(), time=time.time(), repeat=w.count))

    def _dedup(self, events: list[AlertEvent], now: float) -> list[AlertEvent]:
        window = self.config.dedup_window_seconds
        fresh: list[AlertEvent] = []
        windows = self._windows
        self._close_windows(now, fresh)
        for event in events:
            if window <= 0:
                fresh.append(event)
                continue
            w = windows.get(event.dedup_key)
            if w is not None:
                w.count += event.repeat
                w.last = event
                continue
            windows[event.dedup_key] = _DedupWindow(now, event.repeat, event)
            fresh.append(event)
        if self._closing:
            self._close_windows(now, fresh)
        return fresh

    def _record(self, events: list[AlertEvent]) -> None:
        self.history.record(events, self._sinks, delivery_enabled=self.config.enabled)

    def _enqueue(self, sink: _SinkQueue, event: AlertEvent) -> None:
        with sink.lock:
            if len(sink.backlog) >= self._queue_size:
                # still undelivered in the history: the next start() sends it
                sink.backlog.popleft()
            sink.backlog.append([event, 0])

    # -- one thread per sink: throttle, deliver, back off --------------------------------

    def _run_sink(self, sink: _SinkQueue) -> None:
        from peaktrade_core.log import logger

        while not self._stopped:
            sink.wake.clear()  # before looking: an enqueue after this sets it again
            try:
                due = self._deliver_ready(sink)
            except Exception:  # a bug here must not end this sink's deliveries silently
                if self._stopped:
                    return  # the store may be gone; what is undelivered stays in the history
                logger.exception("alert sink {}: unexpected error; continuing", sink.name)
                due = 0.05
            self._notify()
            sink.wake.wait(due)

    def _deliver_ready(self, sink: _SinkQueue) -> float:
        """Deliver the sink's backlog until it is empty, throttled or backing off; the
        seconds until it should be looked at again."""
        config = self.config
        while not self._stopped:
            with sink.lock:
                if not sink.backlog:
                    return 0.5
                entry = sink.backlog[0]
            now = self._clock()
            if now < sink.blocked_until:
                return max(sink.blocked_until - now, 0.001)
            if sink.bucket is not None:
                wait = sink.bucket.wait_time(now)
                if wait > 0:
                    sink.blocked_until = now + wait
                    return max(wait, 0.001)
            event = entry[0]
            delivery = deliver_alert(self.plugin_manager, event, (sink.name,), config.sink_timeout_seconds)[sink.name]
            try:
                self.history.mark(event.id, delivery)
            except Exception:  # the store is down: what was delivered is not sent twice
                if not delivery.ok:
                    raise
            if delivery.ok:
                self._drop_head(sink, entry)
                sink.failures = 0
                continue
            entry[1] += 1
            sink.failures += 1
            backoff = min(config.retry_backoff_seconds * 2 ** (sink.failures - 1), config.max_backoff_seconds)
            sink.blocked_until = self._clock() + (delivery.retry_after if delivery.retry_after is not None else backoff)
            if entry[1] > config.max_retries:
                self._drop_head(sink, entry)  # left undelivered in the history for the next start()
            self._log_failure(sink, event, delivery)
        return 0.5

    @staticmethod
    def _drop_head(sink: _SinkQueue, entry: list[Any]) -> None:
        with sink.lock:
            if sink.backlog and sink.backlog[0] is entry:  # not already dropped by a full backlog
                sink.backlog.popleft()

    def _log_failure(self, sink: _SinkQueue, event: AlertEvent, delivery: AlertDelivery) -> None:
        from peaktrade_core.log import logger

        logger.warning(
            "alert sink {} failed ({} in a row; next try in {:.1f}s): {} — alert {} {}",
            sink.name, sink.failures, max(0.0, sink.blocked_until - self._clock()), delivery.error,
            event.id[:8], event.code,
        )


def active_dispatcher() -> AlertDispatcher | None:
    """The dispatcher started first in this process and not yet closed, if any."""
    return _active


def raise_alert(
    level: AlertLevel,
    source: str,
    code: str,
    message: str,
    context: Mapping[str, Any] | None = None,
    *,
    dedup_key: str = "",
    config: PeakTradeConfig | None = None,
    store: StateStore | None = None,
) -> None:
    """Raise an alert from anywhere in the core without holding a dispatcher. Never raises.

    With a running dispatcher in this process (a session), the alert is queued there and
    this returns at once. Otherwise (a CLI command such as ``peaktrade kill``) a one-off
    dispatcher records and delivers it, waiting at most ``flush_timeout_seconds``; what it
    cannot deliver in that time stays in the history for the next dispatcher's ``start()``.
    ``config`` defaults to :func:`~peaktrade_core.config.load_config`, ``store`` to the
    config's state store.
    """
    from peaktrade_core.log import logger

    try:
        event = AlertEvent(level, source, code, message, dict(context or {}), dedup_key=dedup_key)
        running = _active
        if running is not None:
            running.emit(event)
            return
        from peaktrade_core.config import load_config
        from peaktrade_core.plugins import get_plugin_manager
        from peaktrade_core.store import open_store

        config = config or load_config()
        pm = get_plugin_manager()
        pm.configure(config)
        own_store = store is None
        store = store or open_store(config)
        one_off = AlertDispatcher(config.live_alerts, store, pm)
        one_off._start_worker()  # not start(): resending old alerts is the session's job
        one_off.emit(event)
        one_off.close()
        if own_store:
            store.close()
    except Exception as exc:  # noqa: BLE001 - raising an alert must never break its caller
        logger.error("could not raise alert {}/{}: {} ({})", source, code, message, _error_line(exc))
