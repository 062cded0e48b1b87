"""The seeds' public names, as thin adapters onto the current API (docs/seed-names.md).

The seeds' examples (``EnvironmentConfig(environment=…)``, ``SafetyGuard(env_config=…)``,
``LiveOrderExecutor(safety_guard=…, dry_run_mode=…)``, ``execute_order``,
``get_default_live_drill_scenarios()`` …) run against this module. Nothing here decides
anything: every gate is the core's (:mod:`peaktrade_core.gates`), every executor is chosen by
:func:`peaktrade_core.executors.create_order_executor` (so executors of plugins are reached
through the plugin manager, never imported), every drill is run by the core's runner.

``peaktrade_core.testing.seed_import_aliases()`` maps the seeds' import paths
(``src.live.safety``, ``src.orders.exchange`` …) onto this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from peaktrade_core import _lazy_attributes
from peaktrade_core import environment as _environment
from peaktrade_core import gates as _gates
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, EffectiveMode, TradingMode
from peaktrade_core.gates import (
    RELEASED,
    KillSwitchState,
    LiveExecutionBlocked,
    evaluate_gates,
    is_live_execution_allowed,
)
from peaktrade_core.orders import (
    ExchangeClient,
    OrderExecutionResult,
    OrderExecutor,
    OrderRequest,
    OrderStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.drills import LiveDrillResult, LiveDrillScenario
    from peaktrade_core.plugins import PluginManager

#: the seeds' ``TradingEnvironment`` is the core's mode (which adds ``SHADOW``)
TradingEnvironment = TradingMode
#: the seeds' name for a venue client that can place orders
TradingExchangeClient = ExchangeClient

#: the drill pack that holds the seeds' standard drills A–G
STANDARD_DRILL_PACK = "drills-standard"


class _SeedConstructor(type):
    """A seed name whose call builds the core's object: ``isinstance`` answers for the core
    class, so code mixing both names sees one type."""

    core: type

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.core)


class EnvironmentConfig(metaclass=_SeedConstructor):
    """``EnvironmentConfig(environment=TradingEnvironment.LIVE, …)`` → the core's
    :class:`~peaktrade_core.environment.EnvironmentConfig` (``environment`` is its ``mode``;
    a mode may be given as a string; lists become tuples). Every other keyword is the core's
    field of the same name; an unknown one is a ``TypeError``, as in the seed."""

    core = _environment.EnvironmentConfig

    def __new__(cls, environment: TradingMode | str | None = None, **fields: Any) -> Any:  # type: ignore[misc]
        if environment is not None:
            if "mode" in fields:
                raise TypeError("give environment= or mode=, not both")
            fields["mode"] = environment
        if "mode" in fields:
            fields["mode"] = TradingMode(fields["mode"])
        for key, value in fields.items():
            if isinstance(value, list):
                fields[key] = tuple(value)
        return _environment.EnvironmentConfig(**fields)


class SafetyGuard(_gates.SafetyGuard):
    """The core's guard under the seed's keyword: ``SafetyGuard(env_config=env)``.

    ``ensure_may_place_order`` is the core's, unchanged. ``allow_symbol`` answers the seed's
    question "may this symbol be placed now?" by asking that same check."""

    def __init__(
        self,
        env_config: _environment.EnvironmentConfig | None = None,
        kill_switch: Callable[[], KillSwitchState] = lambda: RELEASED,
        client: Any = None,
        *,
        env: _environment.EnvironmentConfig | None = None,
    ):
        chosen = env_config if env_config is not None else env
        if chosen is None:
            chosen = _environment.EnvironmentConfig()  # the safe defaults: paper, every gate closed
        super().__init__(chosen, kill_switch, client)

    @property
    def env_config(self) -> _environment.EnvironmentConfig:
        return self.env

    def allow_symbol(self, symbol: str) -> bool:
        """True when an order for ``symbol`` would pass every gate now (the mode's gates and
        the symbol allow-list of that mode). Closed gates answer False, never raise."""
        probe = OrderRequest(symbol, "buy", 1.0)
        try:
            self.ensure_may_place_order(probe)
        except LiveExecutionBlocked:
            return False
        return True


def create_order_executor(
    env_config: _environment.EnvironmentConfig,
    simulated_prices: Mapping[str, float] | None = None,
    trading_client: ExchangeClient | None = None,
    **options: Any,
) -> OrderExecutor:
    """The seed's factory: :func:`peaktrade_core.executors.create_order_executor` with the
    seed's first parameter name. Paper/shadow → the paper plugin's executor, testnet/live
    with a gate closed or no client → the dry-run plugin's, gates open and a client → the
    core's venue executor behind the guard. ``options``: the core's keyword-only ones."""
    from peaktrade_core.executors import create_order_executor as core_create

    return core_create(env_config, simulated_prices, trading_client, **options)


def _single(executor: Any, order: OrderRequest) -> OrderExecutionResult:
    (result,) = executor.execute_orders([order])
    return result


class LiveOrderExecutor:
    """The seed's ``LiveOrderExecutor(safety_guard=guard, dry_run_mode=True)``.

    The executor behind it is the core's choice for the guard's environment:

    * ``dry_run_mode=True`` (the seed's default), or a guard whose mode is not live: the
      environment is taken with ``mode = live`` and ``live_dry_run_mode = True``, so the
      technical gate is closed and the core selects the dry-run plugin's live executor.
      Nothing is sent; results carry ``metadata["mode"] == "live_dry_run"`` and
      ``metadata["dry_run"] is True``. An executor that declares it sends is refused.
    * ``dry_run_mode=False``: the guard's environment as it is. Only with every live gate
      open *and* a ``trading_client`` does the core build its venue executor (behind its own
      guard, re-checked before each order); otherwise it is the dry-run executor again.

    Without the plugin ``peaktrade-dryrun`` installed and loaded, construction raises the
    core's ``NoExecutorError`` (one line: which plugin to install).
    """

    def __init__(
        self,
        safety_guard: _gates.SafetyGuard | None = None,
        dry_run_mode: bool = True,
        simulated_prices: Mapping[str, float] | None = None,
        trading_client: ExchangeClient | None = None,
        *,
        config: PeakTradeConfig | None = None,
        plugin_manager: PluginManager | None = None,
    ):
        guard = safety_guard if safety_guard is not None else SafetyGuard()
        env = guard.env
        dry_run = dry_run_mode or env.mode is not TradingMode.LIVE
        if dry_run:
            env = attrs.evolve(env, mode=TradingMode.LIVE, live_dry_run_mode=True)
        self.safety_guard = guard
        self.dry_run_mode = dry_run
        self._executor = create_order_executor(
            env,
            simulated_prices,
            None if dry_run else trading_client,
            config=config,
            kill_switch=guard._kill_switch,
            plugin_manager=plugin_manager,
        )
        if dry_run and getattr(self._executor, "sends_real_orders", True):
            raise LiveExecutionBlocked([f"dry_run_mode=True but the selected executor {self._executor.name!r} sends orders"])
        self.name = self._executor.name

    @property
    def sends_real_orders(self) -> bool:
        return bool(getattr(self._executor, "sends_real_orders", True))

    def execute_order(self, order: OrderRequest) -> OrderExecutionResult:
        """One order (the seed's single-order call)."""
        return _single(self._executor, order)

    def execute_orders(self, orders: Sequence[OrderRequest]) -> list[OrderExecutionResult]:
        return self._executor.execute_orders(orders)

    def cancel_order(self, client_order_id: str, *args: Any) -> bool:
        return self._executor.cancel_order(client_order_id, *args)

    def __getattr__(self, name: str) -> Any:  # set_simulated_price, events …
        if name == "_executor":
            raise AttributeError(name)
        return getattr(self._executor, name)


def PaperOrderExecutor(  # noqa: N802 - the seed's class name; a factory here
    simulated_prices: Mapping[str, float] | None = None, **options: Any
) -> OrderExecutor:
    """The paper plugin's executor, selected by the core for mode ``paper`` (the core never
    imports a plugin). Needs ``peaktrade-paper`` installed and loaded."""
    return create_order_executor(_environment.EnvironmentConfig(), simulated_prices, **options)


def TestnetOrderExecutor(  # noqa: N802 - the seed's class name; a factory here
    simulated_prices: Mapping[str, float] | None = None, **options: Any
) -> OrderExecutor:
    """The dry-run plugin's testnet executor: mode ``testnet`` with no venue client, so
    nothing is sent. Needs ``peaktrade-dryrun`` installed and loaded."""
    env = _environment.EnvironmentConfig(mode=TradingMode.TESTNET)
    return create_order_executor(env, simulated_prices, **options)


def execute_order(executor: OrderExecutor, order: OrderRequest) -> OrderExecutionResult:
    """One order through any executor (the core's executors take batches)."""
    return _single(executor, order)


# -- drills (seed 002) --------------------------------------------------------------------


def _config(config: PeakTradeConfig | None) -> PeakTradeConfig:
    if config is not None:
        return config
    from peaktrade_core.config import load_config

    return load_config()


class LiveDrillRunner:
    """The seed's runner: ``run_scenario(s)`` → ``LiveDrillResult``, ``run_all(scenarios)``
    → ``list[LiveDrillResult]``. Each scenario runs through the core's
    :meth:`peaktrade_core.drills.LiveDrillRunner.run_scenario` (sandboxed, read-only proof
    included). ``config``: default the config the CLI would load."""

    def __init__(self, config: PeakTradeConfig | None = None, plugin_manager: PluginManager | None = None):
        from peaktrade_core.drills import LiveDrillRunner as CoreRunner

        self.runner = CoreRunner(_config(config), plugin_manager)

    def run_scenario(self, scenario: LiveDrillScenario) -> LiveDrillResult:
        return self.runner.run_scenario(scenario)

    def run_all(self, scenarios: Sequence[LiveDrillScenario] | None = None) -> list[LiveDrillResult]:
        chosen = self.runner.scenarios() if scenarios is None else scenarios
        return [self.runner.run_scenario(s) for s in chosen]


def get_default_live_drill_scenarios(
    config: PeakTradeConfig | None = None, plugin_manager: PluginManager | None = None
) -> list[LiveDrillScenario]:
    """Drills A–G (and the gate matrix) of the standard pack, found through the plugin
    manager. Empty when ``peaktrade-drills-standard`` is not installed and loaded."""
    return LiveDrillRunner(config, plugin_manager).runner.scenarios(STANDARD_DRILL_PACK)


# -- names that are already the seeds' (re-exported, lazily: they are heavier) ------------

_SAME_NAMES = {
    "LiveDrillScenario": "peaktrade_core.drills",
    "LiveDrillResult": "peaktrade_core.drills",
    "LiveRiskConfig": "peaktrade_core.risk",
    "LiveRiskLimits": "peaktrade_core.risk",
    "LiveRiskCheckResult": "peaktrade_core.risk",
    "LiveRunLogger": "peaktrade_core.runlog",
    "LiveRunEvent": "peaktrade_core.runlog",
    "LiveRunMetadata": "peaktrade_core.runlog",
    "LiveRunSnapshot": "peaktrade_core.runlog",
    "load_run_snapshot": "peaktrade_core.runlog",
    "render_summary": "peaktrade_core.runlog",
    "ExecutionPipeline": "peaktrade_core.pipeline",
}


__getattr__ = _lazy_attributes(__name__, _SAME_NAMES)


__all__ = [
    "LIVE_CONFIRM_TOKEN",
    "EffectiveMode",
    "EnvironmentConfig",
    "LiveDrillRunner",
    "LiveExecutionBlocked",
    "LiveOrderExecutor",
    "OrderExecutionResult",
    "OrderExecutor",
    "OrderRequest",
    "OrderStatus",
    "PaperOrderExecutor",
    "SafetyGuard",
    "TestnetOrderExecutor",
    "TradingEnvironment",
    "TradingExchangeClient",
    "create_order_executor",
    "evaluate_gates",
    "execute_order",
    "get_default_live_drill_scenarios",
    "is_live_execution_allowed",
    *_SAME_NAMES,
]
