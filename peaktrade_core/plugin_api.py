"""Everything a peaktrade plugin needs, in one namespace (docs/plugins.md).

    from peaktrade_core.plugin_api import GateDecision, OrderRequest, hookimpl

A plugin imports from here (and its tests also from :mod:`peaktrade_core.testing`), never
from the core's other modules: those may move, these names stay. Only ``hookimpl`` is
imported eagerly; every other name is loaded on first access, so an entry module that
imports from here stays as cheap as the hook marker itself.
"""

from __future__ import annotations

from peaktrade_core import _lazy_attributes
from peaktrade_core.hookspecs import hookimpl

#: name -> the module that defines it
_SOURCES: dict[str, str] = {}


def _add(module: str, *names: str) -> None:
    for name in names:
        _SOURCES[name] = module


# modes and the environment
_add("peaktrade_core.environment", "EnvironmentConfig", "TradingMode", "EffectiveMode", "TokenState", "LIVE_CONFIRM_TOKEN")
# orders, results and executors
_add(
    "peaktrade_core.orders",
    "OrderRequest", "OrderFill", "OrderExecutionResult", "OrderStatus", "OrderExecutor",
    "Side", "OrderType", "TimeInForce",
)
_add("peaktrade_core.executors", "ExecutorContext")
_add("peaktrade_core.exchange_executor", "ExchangeOrderExecutor")
# venues: the adapter's side of the contract
_add("peaktrade_core.venues", "ExchangeClient", "InstrumentRules", "VenueError", "ticker_price")
_add("peaktrade_core.orders", "ExchangeError", "TransientExchangeError", "UnknownOutcomeError")
# market data: what a venue plugin's open_market_feed returns
_add(
    "peaktrade_core.marketdata",
    "Quote", "Feed", "PollingFeed", "FeedError", "LastPrices", "FeedClock", "open_feed", "open_recorded_feed",
)
# gates and decisions
_add(
    "peaktrade_core.gates",
    "GateDecision", "GateContext", "GateReport", "GateStatus", "KillSwitchState",
    "LiveExecutionBlocked", "evaluate_gates", "is_live_execution_allowed",
)
# risk: violations and limits
_add(
    "peaktrade_core.risk",
    "RiskViolation", "ViolationCode", "LiveRiskConfig", "LiveRiskLimits", "PortfolioState", "PreTradeControls",
)
# alerts
_add("peaktrade_core.alerts", "AlertEvent", "AlertDelivery", "AlertDispatcher")
_add("peaktrade_core.alerts_config", "AlertLevel", "LiveAlertsConfig")
# drills
_add("peaktrade_core.drills", "DrillContext", "LiveDrillResult", "LiveDrillScenario", "apply_overrides")
# configuration and secrets
_add("peaktrade_core.config", "PeakTradeConfig", "ConfigError", "structure_section", "plugin_settings")
_add("peaktrade_core.secrets", "SecretRef", "SecretError", "REDACTED", "redact", "register_secret", "register_secrets_in")
# the state store: a plugin's own tables (ensure_schema, transaction) in the core's database
_add("peaktrade_core.state", "StateStore")
# venue nonces: per key id a strictly increasing nonce, shared by every process and host
_add("peaktrade_core.store.nonces", "VenueNonces")
# command output: the same --json option, JSON and coloured state words as the core's commands
_add("peaktrade_core.cli_output", "json_option", "echo_json", "echo")
# logging
_add("peaktrade_core.log", "logger", "LIVE_DRY_RUN", "SAFETY")
# the core's own machinery, for drill packs that exercise it read-only
_add("peaktrade_core.pipeline", "ExecutionPipeline")
_add("peaktrade_core.runlog", "iter_run_events", "list_runs", "load_run_snapshot", "verify_run")
_add("peaktrade_core.plugins", "PluginManager", "PluginError", "get_plugin_manager")


__getattr__ = _lazy_attributes(__name__, _SOURCES)


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["hookimpl", *_SOURCES]
