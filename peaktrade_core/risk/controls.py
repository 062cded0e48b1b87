"""The stateful market-access controls of a session (order rate, duplicates, stale
reference data, runaway throttle → kill switch)."""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence
from operator import add, attrgetter, mul
from typing import TYPE_CHECKING, Any

from peaktrade_core.log import SAFETY, logger
from peaktrade_core.orders import OrderRequest
from peaktrade_core.risk.config import LiveRiskConfig
from peaktrade_core.risk.limits import RiskViolation, ViolationCode, _append, _violation

if TYPE_CHECKING:
    from peaktrade_core.killswitch import KillSwitch

#: client order ids remembered per session for the duplicate check (the most recent ones)
SEEN_IDS_KEPT = 200_000

#: a batch in which no order can break any control is let through whole, its checks done
#: column by column (C loops); anything else goes order by order (a property test holds
#: both paths equal)
BATCH_FAST_PATH = True

_CLIENT_ID = attrgetter("client_order_id")
_SYMBOL = attrgetter("symbol")
_QUANTITY = attrgetter("quantity")
_PRICE = attrgetter("price")
#: what makes two orders identical for the duplicate window
_IDENTITY = attrgetter("symbol", "side", "quantity", "order_type", "limit_price", "reference_price")


class _SlidingCount:
    """Events in a sliding time window, stored as ``(time, count)`` per call so a whole
    batch costs one append, not one per order."""

    __slots__ = ("window", "events", "total")

    def __init__(self, window: float):
        self.window = window
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def current(self, now: float) -> int:
        events, cutoff = self.events, now - self.window
        while events and events[0][0] <= cutoff:
            self.total -= events.popleft()[1]
        return self.total

    def add(self, now: float, count: int) -> None:
        if count:
            self.events.append((now, count))
            self.total += count

    def clear(self) -> None:
        self.events.clear()
        self.total = 0


class PreTradeControls:
    """The stateful market-access controls of one session (SEC 15c3-5, RTS 6 Art. 15).

    The pipeline owns one instance per session and calls :meth:`check` once per batch
    (after the ``check_risk`` hook, before the gates) and :meth:`record_executions` after
    each batch was executed. Every control is off when its setting is 0:

    * order-rate throttle: at most ``max_orders_per_second`` / ``max_orders_per_minute``
      orders let through in any sliding second / minute;
    * duplicates: a client order id let through before in this session (the last
      ``SEEN_IDS_KEPT`` ids, so memory stays flat), or an identical
      order (symbol, side, quantity, type, limit and reference price) let through within
      ``duplicate_window_seconds``;
    * stale reference data: the symbol's last price, given in ``reference_times``
      (symbol → epoch seconds of the last price), older than ``max_reference_age_seconds``
      — or unknown — blocks the order;
    * runaway throttle: at most ``runaway_max_executions`` executions within
      ``runaway_window_seconds``, counted inside the batch: an order that would be one
      more is blocked, and after the batch (the orders within the limit execute) the kill
      switch is engaged; it stays engaged until a person releases it. Without a kill switch
      the controls themselves block every later order;
    * numbers: a quantity, price or notional (quantity x price) that is not finite (or
      overflows) is refused (``non_finite_number``): it could never be accounted for.

    Only orders :meth:`check` lets through count for the throttles and duplicates.
    """

    def __init__(
        self,
        limits: LiveRiskConfig,
        kill_switch: KillSwitch | None = None,
        clock: Callable[[], float] = time.time,
        *,
        message_limits: bool = True,
    ):
        self.limits = limits
        #: the order-rate throttle protects a venue's message limits; a session whose
        #: orders reach no venue (paper, shadow) passes False
        self.message_limits = message_limits
        self.kill_switch = kill_switch
        self.clock = clock
        self._per_second = _SlidingCount(1.0)
        self._per_minute = _SlidingCount(60.0)
        self._executions = _SlidingCount(limits.runaway_window_seconds)
        #: client order ids let through, oldest first, capped so that memory stays flat
        self._seen_ids: dict[str, None] = {}
        self._recent: dict[tuple[Any, ...], float] = {}
        self._recent_pruned_at = 0.0
        #: set when the runaway throttle tripped and no kill switch could hold it
        self.runaway_reason: str | None = None
        #: set when :meth:`check` blocked an order over the runaway limit; the kill switch
        #: is engaged by the next :meth:`record_executions` (after the batch executed)
        self._runaway_pending: str | None = None

    def check(
        self,
        orders: Sequence[OrderRequest],
        now: float | None = None,
        reference_times: Mapping[str, float] | None = None,
        skip: Container[int] = (),
    ) -> list[RiskViolation]:
        """Violations of the batch; orders at indices in ``skip`` (already blocked by an
        earlier check) are neither checked nor counted."""
        now = self.clock() if now is None else now
        limits = self.limits
        out: list[RiskViolation] = []
        if self.runaway_reason is not None:
            return [
                _violation(ViolationCode.RUNAWAY, i, o.symbol, None, None, self.runaway_reason)
                for i, o in enumerate(orders)
                if i not in skip
            ]
        per_second, per_minute = (
            (limits.max_orders_per_second, limits.max_orders_per_minute) if self.message_limits else (0, 0)
        )
        room_second = per_second - self._per_second.current(now) if per_second else math.inf
        room_minute = per_minute - self._per_minute.current(now) if per_minute else math.inf
        runaway = limits.runaway_max_executions
        room_runaway = runaway - self._executions.current(now) if runaway else math.inf
        window = limits.duplicate_window_seconds
        max_age = limits.max_reference_age_seconds
        times = reference_times if reference_times is not None else {}
        seen, recent = self._seen_ids, self._recent
        if window and now - self._recent_pruned_at > window and len(recent) > 1024:
            self._prune_recent(now)
            recent = self._recent
        if (
            BATCH_FAST_PATH
            and not skip
            and len(orders) <= min(room_second, room_minute, room_runaway)
            and self._let_through_whole(orders, now, window, max_age, times)
        ):
            self._count_sent(now, len(orders), per_second, per_minute)
            self._forget_oldest_ids()
            return out
        passed = 0
        for i, order in enumerate(orders):
            if skip and i in skip:
                continue
            found: list[RiskViolation] | None = None
            symbol = order.symbol
            quantity, price = order.quantity, order.price
            # one test for all three: NaN/inf in any of them, or a product that overflows
            if not math.isfinite(quantity * (1.0 if price is None else price) + quantity):
                found = _append(
                    found,
                    ViolationCode.NON_FINITE,
                    i,
                    symbol,
                    None,
                    None,
                    f"quantity {quantity:g}, price {'none' if price is None else format(price, 'g')}: "
                    "not a finite number, or too large to account for",
                )
            if order.client_order_id in seen:
                found = _append(
                    found,
                    ViolationCode.DUPLICATE,
                    i,
                    symbol,
                    None,
                    None,
                    f"client order id {order.client_order_id} was already sent in this session",
                )
            key = (
                (symbol, order.side, order.quantity, order.order_type, order.limit_price, order.reference_price)
                if window
                else None
            )
            if key is not None:
                last = recent.get(key)
                if last is not None and now - last < window:
                    found = _append(
                        found,
                        ViolationCode.DUPLICATE,
                        i,
                        symbol,
                        window,
                        now - last,
                        f"identical order {now - last:.3f}s after the last one "
                        f"(window {window:g}s)",
                    )
            if max_age:
                at = times.get(symbol)
                if at is None:
                    found = _append(
                        found,
                        ViolationCode.STALE_REFERENCE,
                        i,
                        symbol,
                        max_age,
                        None,
                        f"no time known for the reference price of {symbol}",
                    )
                elif now - at > max_age:
                    found = _append(
                        found,
                        ViolationCode.STALE_REFERENCE,
                        i,
                        symbol,
                        max_age,
                        now - at,
                        f"reference price of {symbol} is {now - at:.1f}s old > limit {max_age:g}s",
                    )
            if passed >= room_second:
                count = per_second - room_second + passed + 1
                found = _append(
                    found,
                    ViolationCode.RATE_PER_SECOND,
                    i,
                    symbol,
                    per_second,
                    count,
                    f"order {count:g} within one second > limit {per_second}",
                )
            elif passed >= room_minute:
                count = per_minute - room_minute + passed + 1
                found = _append(
                    found,
                    ViolationCode.RATE_PER_MINUTE,
                    i,
                    symbol,
                    per_minute,
                    count,
                    f"order {count:g} within one minute > limit {per_minute}",
                )
            if found is None and passed >= room_runaway:
                count = runaway - room_runaway + passed + 1
                reason = f"runaway throttle: order {count:g} within {limits.runaway_window_seconds:g}s > limit {runaway}"
                found = _append(found, ViolationCode.RUNAWAY, i, symbol, runaway, count, reason)
                if self._runaway_pending is None:
                    self._runaway_pending = reason
            if found is not None:
                out += found
                continue
            passed += 1
            seen[order.client_order_id] = None
            if key is not None:
                recent[key] = now
        self._count_sent(now, passed, per_second, per_minute)
        self._forget_oldest_ids()
        return out

    def _count_sent(self, now: float, count: int, per_second: int, per_minute: int) -> None:
        # only a throttle in force reads (and prunes) its window: an unread one would grow
        # by one entry per batch for the whole session
        if per_second:
            self._per_second.add(now, count)
        if per_minute:
            self._per_minute.add(now, count)

    def _let_through_whole(
        self, orders: Sequence[OrderRequest], now: float, window: float, max_age: float, times: Mapping[str, float]
    ) -> bool:
        """Let the whole batch through if no order in it breaks a control (rates and the
        runaway count were checked by the caller); else change nothing and return False."""
        if len(orders) == 1:  # one order per call: the same tests without the C loops' set-up
            return self._let_one_through(orders[0], now, window, max_age, times)
        ids = dict.fromkeys(map(_CLIENT_ID, orders))
        if len(ids) != len(orders) or not self._seen_ids.keys().isdisjoint(ids):
            return False
        if window:
            # a key seen before, even outside the window, goes order by order (which tells)
            keys = dict.fromkeys(map(_IDENTITY, orders), now)
            if len(keys) != len(orders) or not self._recent.keys().isdisjoint(keys):
                return False
        if max_age:
            for symbol in set(map(_SYMBOL, orders)):
                at = times.get(symbol)
                if at is None or now - at > max_age:
                    return False
        # each order's own test (below) summed: a sum is finite only if every term is
        quantities, prices = list(map(_QUANTITY, orders)), list(map(_PRICE, orders))
        if None in prices:
            prices = [1.0 if p is None else p for p in prices]
        if not math.isfinite(sum(map(add, map(mul, quantities, prices), quantities))):
            return False
        self._seen_ids.update(ids)
        if window:
            self._recent.update(keys)
        return True

    def _let_one_through(self, order: OrderRequest, now: float, window: float, max_age: float, times: Mapping[str, float]) -> bool:
        client_order_id = order.client_order_id
        if client_order_id in self._seen_ids:
            return False
        key = _IDENTITY(order) if window else None
        if key is not None and key in self._recent:
            return False
        if max_age:
            at = times.get(order.symbol)
            if at is None or now - at > max_age:
                return False
        quantity, price = order.quantity, order.price
        if not math.isfinite(quantity * (1.0 if price is None else price) + quantity):
            return False
        self._seen_ids[client_order_id] = None
        if key is not None:
            self._recent[key] = now
        return True

    def _forget_oldest_ids(self) -> None:
        seen = self._seen_ids
        excess = len(seen) - SEEN_IDS_KEPT
        if excess > 0:  # forget the oldest ids: the venue still rejects a reused client id
            for key in list(itertools.islice(seen, excess)):
                del seen[key]

    def _prune_recent(self, now: float) -> None:
        cutoff = now - self.limits.duplicate_window_seconds
        self._recent = {k: t for k, t in self._recent.items() if t > cutoff}
        self._recent_pruned_at = now

    def record_executions(self, count: int, now: float | None = None) -> bool:
        """Count executed orders (call it after every batch, also with 0); engage the kill
        switch when :meth:`check` blocked an order over the runaway limit or more than
        ``runaway_max_executions`` fall within ``runaway_window_seconds``. Returns whether
        it tripped."""
        limit = self.limits.runaway_max_executions
        if not limit:
            return False
        now = self.clock() if now is None else now
        executions = self._executions
        executions.add(now, max(count, 0))
        pending, self._runaway_pending = self._runaway_pending, None
        if pending is not None:
            reason = pending
        elif executions.current(now) > limit:
            window = self.limits.runaway_window_seconds
            reason = f"runaway throttle: {executions.total} executions within {window:g}s > limit {limit}"
        else:
            return False
        executions.clear()  # after a person releases the switch, counting starts afresh
        logger.bind(tag=SAFETY).critical("{}: engaging the kill switch", reason)
        if self.kill_switch is None:
            self.runaway_reason = (
                f"{ViolationCode.RUNAWAY.value}: {reason}; no kill switch, session stopped"
            )
            return True
        try:
            if not self.kill_switch.state().engaged:
                self.kill_switch.engage(reason=reason, operator="runaway-throttle", source="risk")
        except Exception as exc:  # noqa: BLE001 - cannot latch the switch: stop this session instead
            logger.bind(tag=SAFETY).critical("could not engage the kill switch: {}", exc)
            self.runaway_reason = (
                f"{ViolationCode.RUNAWAY.value}: {reason}; kill switch failed: {exc}"
            )
        return True
