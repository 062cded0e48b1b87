"""Safety drills (DRILL-1..5): prove the live gates, read-only, at any time.

Drill packs are plugins: ``drill_scenarios`` lists a pack's :class:`LiveDrillScenario`\\ s and
``run_drill`` runs one of them against a :class:`DrillContext` (the user's config as the base,
overrides applied in memory with ``attrs.evolve``, an in-memory kill switch, recorder
executors). :class:`LiveDrillRunner` runs them and *proves* the run was read-only:

* while drills run, no socket can connect or send and no SQLite file can be opened
  (:class:`DrillSandbox`); any attempt is refused and becomes a violation of that drill;
* the config file, the state database and its WAL are hashed before and after the run and
  must be byte-identical.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, field, frozen

from peaktrade_core.environment import EnvironmentConfig, TradingMode
from peaktrade_core.gates import GateReport, KillSwitchState, SafetyGuard, evaluate_gates
from peaktrade_core.orders import OrderExecutionResult, OrderFill, OrderRequest, OrderStatus

if TYPE_CHECKING:
    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.executors import GuardedExecutor
    from peaktrade_core.killswitch import KillSwitch
    from peaktrade_core.plugins import PluginManager
    from peaktrade_core.risk import PortfolioState
    from peaktrade_core.state import StateStore

#: the drill log's file before it moved into the state store (:class:`DrillLog` imports it)
DRILL_LOG_FILE = "drills.jsonl"
#: a drill plugin that takes longer fails (its thread is abandoned)
DRILL_TIMEOUT_SECONDS = 30.0

GateEvaluator = Callable[[EnvironmentConfig, KillSwitchState], GateReport]


# -- models -------------------------------------------------------------------------------


@frozen
class LiveDrillScenario:
    """One drill. Gate drills state ``expected_is_live_execution_allowed`` and the fragments
    the reason must contain; incident drills state their ``expected_outcome`` in words and
    check it themselves."""

    name: str
    description: str
    pack: str
    #: ``EnvironmentConfig`` field -> value, applied in memory over the user's environment
    env_overrides: Mapping[str, Any] = field(factory=dict)
    expected_is_live_execution_allowed: bool | None = None
    expected_reasons: tuple[str, ...] = ()
    #: engage the drill's in-memory kill switch before the drill runs
    kill_switch_engaged: bool = False
    simulated_orders: tuple[OrderRequest, ...] = ()
    #: today's PnL so far, for daily-loss checks
    simulated_pnl: float | None = None
    expected_outcome: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pack": self.pack,
            "description": self.description,
            # the token is shown as its state, never as a value
            "env_overrides": {
                k: (_token_state_of(v) if k == "confirm_token" else _plain(v))
                for k, v in self.env_overrides.items()
            },
            "expected_is_live_execution_allowed": self.expected_is_live_execution_allowed,
            "expected_reasons": list(self.expected_reasons),
            "kill_switch_engaged": self.kill_switch_engaged,
            "simulated_orders": len(self.simulated_orders),
            "simulated_pnl": self.simulated_pnl,
            "expected_outcome": self.expected_outcome,
        }


@frozen
class LiveDrillResult:
    """What a drill found. ``violations`` lists every place where expectation and reality
    differ; a drill passed exactly when there is none."""

    scenario: str
    pack: str
    passed: bool
    #: ``None`` for drills that cover many environments (the gate matrix)
    is_live_execution_allowed: bool | None
    reason: str
    effective_mode: str
    notes: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()
    #: mode, effective mode, each gate's value; the confirm token only as SET / NOT SET
    details: Mapping[str, Any] = field(factory=dict)
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "pack": self.pack,
            "passed": self.passed,
            "is_live_execution_allowed": self.is_live_execution_allowed,
            "reason": self.reason,
            "effective_mode": self.effective_mode,
            "notes": list(self.notes),
            "violations": list(self.violations),
            "details": {k: _plain(v) for k, v in self.details.items()},
            "duration_ms": round(self.duration_ms, 3),
        }


@frozen
class ReadOnlyCheck:
    """One verified read-only property of a drill run."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@frozen
class DrillReport:
    results: tuple[LiveDrillResult, ...]
    checks: tuple[ReadOnlyCheck, ...]
    #: packs that failed to list their scenarios
    errors: tuple[str, ...] = ()
    started_at: str = ""
    duration_ms: float = 0.0
    config_source: str | None = None

    @property
    def failed(self) -> list[LiveDrillResult]:
        return [r for r in self.results if not r.passed]

    @property
    def read_only_verified(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def passed(self) -> bool:
        return (
            bool(self.results) and not self.failed and self.read_only_verified and not self.errors
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "config": self.config_source or "built-in defaults",
            "passed": self.passed,
            "count": len(self.results),
            "passed_count": len(self.results) - len(self.failed),
            "failed_count": len(self.failed),
            "duration_ms": round(self.duration_ms, 3),
            "read_only": {
                "verified": self.read_only_verified,
                "checks": [c.to_dict() for c in self.checks],
            },
            "errors": list(self.errors),
            "results": [r.to_dict() for r in self.results],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, TradingMode):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _token_state_of(token: Any) -> str:
    return EnvironmentConfig(confirm_token=token).token_state().value


class DrillError(Exception):
    """A drill could not be selected or set up; the message says why in one line."""


def gate_details(report: GateReport) -> dict[str, Any]:
    """Mode, effective mode and each environment gate's value (the token only as its state)."""
    details: dict[str, Any] = {
        "mode": report.mode.value,
        "effective_mode": report.effective_mode.value,
    }
    for gate in report.gates:
        if gate.gate != "mode":
            details[gate.gate] = gate.value
    return details


# -- what a drill gets --------------------------------------------------------------------


class RecordingExecutor:
    """An executor that only records: it fills every order at ``price`` in memory. It
    declares ``sends_real_orders`` so that drills exercise the core's guard around it."""

    sends_real_orders = True

    def __init__(
        self,
        name: str = "drill-recorder",
        price: float = 100.0,
        on_order: Callable[[OrderRequest], None] | None = None,
    ):
        self.name = name
        self.price = price
        self.on_order = on_order
        self.orders: list[OrderRequest] = []

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        results = []
        for order in orders:
            self.orders.append(order)
            fill = OrderFill(
                order.client_order_id,
                order.symbol,
                order.side,
                order.quantity,
                order.price or self.price,
            )
            results.append(
                OrderExecutionResult(
                    order, OrderStatus.FILLED, fills=[fill], metadata={"recorded_by": self.name}
                )
            )
            if self.on_order is not None:
                self.on_order(order)
        return results

    def cancel_order(self, client_order_id: str) -> bool:
        return False


@define
class DrillContext:
    """Everything a drill may use; all of it in memory."""

    config: PeakTradeConfig
    scenario: LiveDrillScenario
    store: StateStore
    kill_switch: KillSwitch
    evaluate: GateEvaluator = evaluate_gates

    @classmethod
    def create(
        cls,
        config: PeakTradeConfig,
        scenario: LiveDrillScenario,
        evaluate: GateEvaluator = evaluate_gates,
    ) -> DrillContext:
        from peaktrade_core.killswitch import KillSwitch
        from peaktrade_core.state import StateStore

        apply_overrides(
            config.environment, scenario.env_overrides
        )  # a bad key fails here, not in the pack
        store = StateStore(":memory:")
        context = cls(config, scenario, store, KillSwitch(store), evaluate)
        if scenario.kill_switch_engaged:
            context.kill_switch.engage(
                "drill scenario (in memory)", operator="drill", source="drill"
            )
        return context

    def environment(self, **extra: Any) -> EnvironmentConfig:
        """The user's environment with the scenario's overrides (and ``extra``), in memory."""
        return apply_overrides(self.config.environment, {**self.scenario.env_overrides, **extra})

    def gate_report(self, env: EnvironmentConfig | None = None) -> GateReport:
        return self.evaluate(env or self.environment(), self.kill_switch.state())

    def portfolio(self) -> PortfolioState:
        """A flat portfolio at ``[execution] starting_cash`` with the scenario's PnL today."""
        from peaktrade_core.risk import PortfolioState

        cash = self.config.execution.starting_cash
        return PortfolioState(
            cash=cash,
            starting_equity=cash,
            day_start_equity=cash,
            realized_pnl=self.scenario.simulated_pnl or 0.0,
        )

    def recorder(
        self,
        name: str = "drill-recorder",
        price: float = 100.0,
        on_order: Callable[[OrderRequest], None] | None = None,
    ) -> RecordingExecutor:
        return RecordingExecutor(name, price, on_order)

    def guarded(self, executor: Any, env: EnvironmentConfig | None = None) -> GuardedExecutor:
        """``executor`` behind the core's guard, which reads this drill's kill switch."""
        from peaktrade_core.executors import GuardedExecutor

        return GuardedExecutor(
            executor, SafetyGuard(env or self.environment(), self.kill_switch.state)
        )

    def result(
        self,
        report: GateReport,
        *,
        notes: Iterable[str] = (),
        violations: Iterable[str] = (),
        details: Mapping[str, Any] | None = None,
    ) -> LiveDrillResult:
        """Compare ``report`` with the scenario's expectations; add the drill's own findings."""
        scenario = self.scenario
        found = list(violations)
        allowed, reason = report.live_allowed, report.reason
        expected = scenario.expected_is_live_execution_allowed
        if expected is not None and allowed is not expected:
            found.append(
                f"expected is_live_execution_allowed={expected}, got {allowed} (reason: {reason})"
            )
        for fragment in scenario.expected_reasons:
            if fragment not in reason:
                found.append(f"expected the reason to name {fragment!r}, got {reason!r}")
        closed = [g.gate for g in report.closed]
        return LiveDrillResult(
            scenario=scenario.name,
            pack=scenario.pack,
            passed=not found,
            is_live_execution_allowed=allowed,
            reason=reason,
            effective_mode=report.effective_mode.value,
            notes=(f"closed gates: {', '.join(closed) or 'none'}", *notes),
            violations=tuple(found),
            details={**gate_details(report), **(details or {})},
        )


def apply_overrides(env: EnvironmentConfig, overrides: Mapping[str, Any]) -> EnvironmentConfig:
    """``attrs.evolve`` with the mode and list values coerced; an unknown key is an error."""
    fields = attrs.fields_dict(EnvironmentConfig)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise DrillError(f"unknown environment override(s): {', '.join(unknown)}")
    values = dict(overrides)
    if "mode" in values:
        values["mode"] = TradingMode(values["mode"])
    for key in ("live_allowed_symbols", "live_allowed_exchanges"):
        if key in values:
            values[key] = tuple(values[key])
    return attrs.evolve(env, **values)


# -- the read-only sandbox ----------------------------------------------------------------


_INHERITED = object()


class DrillSandbox:
    """While active, the process cannot reach the network or open an SQLite file.

    Patches ``socket.socket.connect``/``connect_ex``/``sendto``/``sendmsg``,
    ``socket.create_connection``, ``socket.getaddrinfo`` (DNS) and ``sqlite3.connect``
    (anything but ``:memory:``). Every attempt is refused and recorded in ``attempts``.
    Process-wide: other threads are fenced too, which is the point.
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._lock = threading.Lock()
        self._saved: list[tuple[Any, str, Any]] = []

    def _record(self, what: str) -> None:
        with self._lock:
            self.attempts.append(what)

    def __enter__(self) -> DrillSandbox:
        sandbox = self

        def connect(sock: socket.socket, address: Any) -> None:
            sandbox._record(f"network: socket connect to {address!r}")
            raise ConnectionRefusedError(errno.ECONNREFUSED, "network closed during drills")

        def connect_ex(sock: socket.socket, address: Any) -> int:
            sandbox._record(f"network: socket connect_ex to {address!r}")
            return errno.ECONNREFUSED

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            sandbox._record(f"network: socket sendto {args[-1]!r}")
            raise PermissionError(errno.EPERM, "network closed during drills")

        def sendmsg(sock: socket.socket, *args: Any) -> int:
            sandbox._record("network: socket sendmsg")
            raise PermissionError(errno.EPERM, "network closed during drills")

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            sandbox._record(f"network: create_connection to {address!r}")
            raise ConnectionRefusedError(errno.ECONNREFUSED, "network closed during drills")

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            sandbox._record(f"network: name lookup of {host!r}")
            raise socket.gaierror(socket.EAI_FAIL, "network closed during drills")

        real_sqlite_connect = sqlite3.connect

        def sqlite_connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            if str(database) != ":memory:":
                sandbox._record(f"state: opened database file {str(database)!r}")
                raise sqlite3.OperationalError("drills may open in-memory state only")
            return real_sqlite_connect(database, *args, **kwargs)

        for owner, name, patched in (
            (socket.socket, "connect", connect),
            (socket.socket, "connect_ex", connect_ex),
            (socket.socket, "sendto", sendto),
            (socket.socket, "sendmsg", sendmsg),
            (socket, "create_connection", create_connection),
            (socket, "getaddrinfo", getaddrinfo),
            (sqlite3, "connect", sqlite_connect),
        ):
            # socket.socket inherits connect & co. from _socket.socket: restore by deleting
            self._saved.append((owner, name, vars(owner).get(name, _INHERITED)))
            setattr(owner, name, patched)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _file_check(label: str, path: Path, before: str | None, after: str | None) -> ReadOnlyCheck:
    if before == after:
        state = (
            "absent before and after"
            if before is None
            else f"sha256 {before[:12]}… identical before and after"
        )
        return ReadOnlyCheck(label, True, f"{path}: {state}")
    return ReadOnlyCheck(
        label, False, f"{path}: CHANGED during the drills ({_short(before)} -> {_short(after)})"
    )


def _short(digest: str | None) -> str:
    return "absent" if digest is None else digest[:12] + "…"


# -- the runner ---------------------------------------------------------------------------


class LiveDrillRunner:
    """Finds scenarios through ``drill_scenarios``, runs each through ``run_drill``.

    :param evaluate: how environment gates are evaluated (default: the core's
        :func:`~peaktrade_core.gates.evaluate_gates`); tests pass a deliberately broken one
        to prove the drills notice.
    """

    def __init__(
        self,
        config: PeakTradeConfig,
        plugin_manager: PluginManager | None = None,
        *,
        evaluate: GateEvaluator | None = None,
    ):
        from peaktrade_core.plugins import get_plugin_manager

        self.config = config
        self.pm = plugin_manager or get_plugin_manager()
        self.evaluate = evaluate or evaluate_gates
        self.listing_errors: list[str] = []

    def scenarios(self, pack: str | None = None) -> list[LiveDrillScenario]:
        """Every installed pack's scenarios (``pack``: only that one), in pack order."""
        found, self.listing_errors = self.pm.drill_scenarios(DRILL_TIMEOUT_SECONDS)
        if pack is not None:
            found = [s for s in found if s.pack == pack]
        return found

    def select(self, name: str | None = None, pack: str | None = None) -> list[LiveDrillScenario]:
        """The scenarios to run. ``name`` matches exactly, else as a unique prefix
        (case-insensitive), so ``--scenario B`` picks drill B."""
        scenarios = self.scenarios(pack)
        if not scenarios:
            where = f"pack {pack!r}" if pack else "any installed drill pack"
            raise DrillError(
                f"no drill scenarios from {where}: install one, e.g. pip install peaktrade-drills-standard"
            )
        if name is None:
            return scenarios
        exact = [s for s in scenarios if s.name == name]
        if exact:
            return exact
        matches = [s for s in scenarios if s.name.lower().startswith(name.lower())]
        if len(matches) == 1:
            return matches
        if not matches:
            raise DrillError(
                f"--scenario: no drill named {name!r}; one of: {'; '.join(s.name for s in scenarios)}"
            )
        raise DrillError(
            f"--scenario: {name!r} matches several drills: {'; '.join(s.name for s in matches)}"
        )

    def run_scenario(self, scenario: LiveDrillScenario) -> LiveDrillResult:
        """Run one drill with the full read-only proof; a failed check fails the drill."""
        report = self.run_all([scenario])
        result = report.results[0]
        broken = [f"read-only: {c.detail}" for c in report.checks if not c.ok]
        if broken:
            result = attrs.evolve(result, passed=False, violations=(*result.violations, *broken))
        return result

    def run_all(
        self, scenarios: Sequence[LiveDrillScenario] | None = None, pack: str | None = None
    ) -> DrillReport:
        """Run ``scenarios`` (default: every installed pack's, or ``pack``'s) inside the
        sandbox, and verify the config and state files are unchanged afterwards."""
        if scenarios is None:
            scenarios = self.scenarios(pack)
        errors = tuple(self.listing_errors)
        self.pm.load()  # entry points are imported before the sandbox closes the process
        watched = self._watched_files()
        before = {label: (path, _fingerprint(path)) for label, path in watched}
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        start = time.perf_counter()
        results: list[LiveDrillResult] = []
        with DrillSandbox() as sandbox:
            for scenario in scenarios:
                seen = len(sandbox.attempts)
                result = self._run_one(scenario)
                attempts = sandbox.attempts[seen:]
                if attempts:
                    result = attrs.evolve(
                        result,
                        passed=False,
                        violations=(
                            *result.violations,
                            *(f"read-only: refused {a}" for a in attempts),
                        ),
                    )
                results.append(result)
            attempts_total = len(sandbox.attempts)
        duration_ms = (time.perf_counter() - start) * 1000
        checks = [
            ReadOnlyCheck(
                "network and state files closed",
                attempts_total == 0,
                "no socket connect, send, name lookup or SQLite file open was attempted"
                if attempts_total == 0
                else f"{attempts_total} attempt(s) refused (see the drills' violations)",
            )
        ]
        for label, path in watched:
            checks.append(_file_check(label, path, before[label][1], _fingerprint(path)))
        return DrillReport(
            tuple(results),
            tuple(checks),
            errors,
            started_at,
            duration_ms,
            self.config.source,
        )

    def _watched_files(self) -> list[tuple[str, Path]]:
        from peaktrade_core.state import STATE_FILE

        files = []
        if self.config.source:
            files.append(("config file", Path(self.config.source)))
        state = self.config.data_dir() / STATE_FILE
        files.append(("state database", state))
        files.append(("state database WAL", state.with_name(state.name + "-wal")))
        return files

    def _run_one(self, scenario: LiveDrillScenario) -> LiveDrillResult:
        start = time.perf_counter()
        problems: list[str] = []
        answer: LiveDrillResult | None = None
        try:
            context = DrillContext.create(self.config, scenario, self.evaluate)
        except Exception as exc:
            context = None
            problems.append(f"drill set-up failed: {type(exc).__name__}: {exc}")
        if context is not None:
            answer, failures = self.pm.run_drill(scenario, context, DRILL_TIMEOUT_SECONDS)
            problems += failures
            context.store.close()
        if answer is None and not problems:
            problems.append(
                f"no installed drill pack answered (is the pack {scenario.pack!r} installed?)"
            )
        duration_ms = (time.perf_counter() - start) * 1000
        if answer is None:
            return LiveDrillResult(
                scenario.name,
                scenario.pack,
                False,
                None,
                "drill did not run",
                "-",
                violations=tuple(problems),
                duration_ms=duration_ms,
            )
        return attrs.evolve(
            answer,
            scenario=scenario.name,
            pack=scenario.pack,
            passed=answer.passed and not problems and not answer.violations,
            violations=(*answer.violations, *problems),
            duration_ms=duration_ms,
        )


# -- the drill log ------------------------------------------------------------------------


def drill_log_path(config: PeakTradeConfig) -> Path:
    """Where the drill log was a file (before it moved into the state store): imported once."""
    return config.data_dir() / DRILL_LOG_FILE


class DrillLog:
    """Every ``peaktrade drills run``, in the state store (table ``drill_runs``), so every
    host of a shared store reads the same log. A drill-log file from before
    (``drills.jsonl`` in the data directory) is imported on first use, each line once, and
    renamed to ``drills.jsonl.imported``."""

    def __init__(self, store: StateStore, legacy_file: Path | None = None):
        from peaktrade_core.store.drills import DrillRunRepository

        self.repository = DrillRunRepository(store)
        self.host = socket.gethostname()
        #: how many entries the file had that the store had not
        self.imported = self._import(legacy_file) if legacy_file is not None else 0

    @classmethod
    def of(cls, config: PeakTradeConfig, store: StateStore) -> DrillLog:
        return cls(store, drill_log_path(config))

    def append(self, report: DrillReport, operator: str) -> dict[str, Any]:
        """Record one drill run (written after the read-only proof)."""
        entry = {
            "at": report.started_at,
            "operator": operator,
            "config": report.config_source or "built-in defaults",
            "count": len(report.results),
            "passed": report.passed,
            "failed": [r.scenario for r in report.failed],
            "scenarios": [r.scenario for r in report.results],  # which ran: evidence per control
            "read_only_verified": report.read_only_verified,
            "duration_ms": round(report.duration_ms, 3),
        }
        self.repository.add(entry, self.host)
        return entry

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every logged run, oldest first (with ``limit``: the newest ``limit``)."""
        return self.repository.entries(limit)

    def _import(self, path: Path) -> int:
        lines = read_drill_log(path)
        if not lines:
            return 0
        where = f"{self.host}:{path.resolve()}"
        new = self.repository.import_entries([(f"{where}#{number}", entry) for number, entry in lines], self.host)
        with contextlib.suppress(OSError):  # if it stays, the next import skips every line anyway
            path.replace(path.with_name(path.name + ".imported"))
        return new


def read_drill_log(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, entry)`` of a drill-log file, oldest first; a damaged line becomes an
    entry that says so."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append((number, json.loads(line)))
        except json.JSONDecodeError:
            entries.append((number, {"at": "?", "error": f"{path}:{number}: not a JSON line"}))
    return entries
