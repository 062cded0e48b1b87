"""The plugin contract: every hook peaktrade calls, and what it expects back.

A plugin is a module or object with functions marked ``@peaktrade_core.hookimpl`` whose
names match these specs; it may accept any subset of a spec's arguments. Order-path hooks
take *batches*: one hook call costs about as much as the whole inlined check of several
orders, so per-order hooks would dominate the hot path.

Only :class:`peaktrade_core.plugins.PluginManager` calls these hooks, one method per hook;
the failure policy of each is in docs/hooks.md. Safety rules the core enforces:

* ``check_gate`` and ``check_risk`` fail closed: an implementation that raises, runs past
  ``execution.plugin_timeout_seconds`` or returns something that is not a decision blocks
  the whole batch with a reason naming the plugin.
* An executor whose ``sends_real_orders`` is true is wrapped by the core's guard, which
  re-checks every gate immediately before each submit.
* The feed ``open_market_feed`` returns is read on a thread of the core's: if it raises,
  hangs or yields garbage, its quotes stop (prices go stale); nothing else happens.
* ``emit_alert`` runs on a delivery thread of the alert dispatcher (one per sink), never
  on the order path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # annotations only: the specs must stay import-light
    import click

    from peaktrade_core.alerts import AlertDelivery, AlertEvent
    from peaktrade_core.config import PeakTradeConfig
    from peaktrade_core.drills import DrillContext, LiveDrillResult, LiveDrillScenario
    from peaktrade_core.environment import EnvironmentConfig, TradingMode
    from peaktrade_core.executors import ExecutorContext
    from peaktrade_core.gates import GateContext, GateDecision
    from peaktrade_core.marketdata import Feed
    from peaktrade_core.orders import OrderExecutor, OrderRequest
    from peaktrade_core.risk import LiveRiskConfig, PortfolioState, RiskViolation
    from peaktrade_core.venues import ExchangeClient

PROJECT = "peaktrade"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------------------------------
# Set-up hooks
# -------------------------------------------------------------------------------------------


@hookspec
def config_sections() -> Mapping[str, type] | None:
    """Declare the attrs classes that structure this plugin's config sections.

    Called once when a config file is loaded, before :func:`configure`.

    :returns: ``{name: cls}``; the table ``[plugins.<name>]`` is structured into ``cls``
        with the same strictness as the core's sections (unknown keys, wrong types and
        literal secrets are errors reported as ``file: plugins.<name>.<key>: ...``).

    If it raises, the plugin is reported as failed and its section is left unstructured.
    """


@hookspec
def configure(config: PeakTradeConfig) -> None:
    """Receive the loaded configuration once, before any order is processed.

    :param config: the effective, validated configuration; ``config.plugins[name]`` holds
        the instance of the class the plugin declared in :func:`config_sections`.

    If it raises, the plugin is reported as failed and no longer called; if it implements
    an order-path, executor or venue hook, every batch is then blocked (fail closed).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``peaktrade`` command line (e.g. ``peaktrade kraken ping``).

    :param cli: the top-level click group; call ``cli.add_command(...)`` or use
        ``@cli.command()``.

    Called when the CLI starts. If it raises, the plugin is marked failed (shown by
    ``plugins list``, ``status`` and an alert); the CLI still starts, and trading goes on
    unless the plugin also implements an order-path, executor or venue hook.
    """


# -------------------------------------------------------------------------------------------
# Order path
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def select_executor(
    env: EnvironmentConfig, live_allowed: bool, context: ExecutorContext
) -> OrderExecutor | None:
    """Choose the executor for a session. Stops at the first non-None result.

    Called once per session (and by ``create_order_executor``).

    :param env: the effective environment; ``env.mode`` is what the user asked for.
    :param live_allowed: whether every environment-level live gate is open right now
        (``is_live_execution_allowed``). When false, a plugin must not return an executor
        that sends real orders: if it does, the core's guard blocks every order anyway.
    :param context: simulated prices, the trading client (only in ``live``/``testnet``
        mode; never in ``paper``/``shadow``), and the config.
    :returns: an object satisfying :class:`~peaktrade_core.orders.OrderExecutor`, or
        ``None`` when the plugin does not handle this mode.

    If no plugin returns an executor the core refuses to run and names the plugin to
    install. If an implementation raises, the session does not start.
    """


@hookspec
def check_gate(
    env: EnvironmentConfig, orders: Sequence[OrderRequest], context: GateContext
) -> GateDecision | Iterable[GateDecision] | None:
    """Decide whether a batch of orders may pass. Every implementation is called.

    Called per batch, after ``check_risk``, before the executor.

    :param env: the effective environment.
    :param orders: the batch, in order; decisions refer to orders by index.
    :param context: a read-only copy for this plugin alone: the environment gate report
        (``context.report``: effective mode, kill switch, every built-in gate), current
        positions (read-only mapping), and the manual-confirm callback.
    :returns: decisions; a closed decision (``open=False``) blocks the orders it names
        (``orders=None``: all). Open decisions only appear in reports: a plugin can add
        blocks, never lift them.

    If it raises, runs past the timeout or returns anything else, the whole batch is
    blocked with a reason naming the plugin.
    """


@hookspec
def check_risk(
    orders: Sequence[OrderRequest],
    portfolio: PortfolioState,
    limits: LiveRiskConfig,
    env: EnvironmentConfig,
) -> Iterable[RiskViolation] | None:
    """Check a batch of orders against pre-trade risk limits. Every implementation is called.

    Called per batch, before ``check_gate``.

    :param orders: the batch, in order.
    :param portfolio: positions, exposure and PnL *before* this batch (read-only).
    :param limits: the ``[live_risk]`` limits in force.
    :param env: the effective environment (live limits, mode).
    :returns: violations (each names the order index, a stable code, the limit and the
        value). Whether a violation blocks follows ``limits.block_on_violation``.

    If it raises, runs past the timeout or returns anything else, the whole batch is
    blocked with a reason naming the plugin.
    """


# -------------------------------------------------------------------------------------------
# Venues
# -------------------------------------------------------------------------------------------


@hookspec
def exchange_venues() -> Iterable[str] | None:
    """Names of the venues this plugin serves (e.g. ``["kraken"]``).

    The core maps ``[environment] exchange`` to the one plugin that declared it; two
    plugins declaring the same venue is a one-line error. If it raises, the session does
    not start (one line naming the plugin).
    """


@hookspec
def create_exchange_client(
    venue: str, mode: TradingMode, settings: Any, config: PeakTradeConfig
) -> ExchangeClient | None:
    """Build the client for ``venue`` (one this plugin declared) for ``mode``.

    Called only for the plugin that declared ``venue``, and only in ``testnet`` and
    ``live`` modes (never in ``paper``/``shadow``): at session start, for ``status`` and
    for ``peaktrade kill``. Building must not touch the network.

    :param venue: ``[environment] exchange``.
    :param mode: ``testnet``: return a testnet client (``testnet = True``: the venue's
        sandbox endpoint, or ``validate_only = True`` where the venue has none);
        ``live``: a production client. The core refuses a client of the wrong kind.
    :param settings: ``config.plugins.get(<plugin name>)``, the plugin's own
        ``[plugins.<name>]`` section.
    :param config: the effective configuration.
    :returns: an :class:`~peaktrade_core.venues.ExchangeClient`.

    The core owns the executor over the client (``ExchangeOrderExecutor`` behind the guard)
    when the mode's gates allow sending; otherwise the session dry-runs. If it raises or
    returns ``None``, the session does not start (one line naming the plugin).
    """


# -------------------------------------------------------------------------------------------
# Market data
# -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def open_market_feed(venue: str, symbols: Sequence[str], settings: Any, config: PeakTradeConfig) -> Feed | None:
    """Open a read-only market-data feed of ``venue`` for ``symbols``.

    Called only for the plugin that declared ``venue`` (``exchange_venues``; so the first
    result is the only one), in every mode: a feed reads public prices and can place nothing. Opening must not block; the
    feed's iterator is where the waiting happens.

    :param venue: the venue named by ``--source`` or ``[marketdata] source``.
    :param symbols: the core's symbols to quote (``BTC/EUR``); map them to the venue's.
    :param settings: ``config.plugins.get(<plugin name>)``, the plugin's own section.
    :param config: the effective configuration.
    :returns: a :class:`~peaktrade_core.marketdata.Feed` whose iterator yields
        :class:`~peaktrade_core.marketdata.Quote` objects of those symbols only, or
        ``None`` when the plugin offers no feed. ``PollingFeed`` polls a ticker for you.

    The core reads the feed on a thread of its own: if opening raises or returns no feed,
    the session does not start (one line naming the plugin); if the iterator raises,
    hangs or yields anything but a quote of an asked symbol, quotes stop, prices go stale
    and the stale-data check blocks orders. A failed poll should yield nothing and poll
    again (quotes resume when the venue answers).
    """


# -------------------------------------------------------------------------------------------
# Alerts
# -------------------------------------------------------------------------------------------


@hookspec
def emit_alert(event: AlertEvent, sinks: frozenset[str]) -> Iterable[AlertDelivery] | None:
    """Deliver one alert to this plugin's sinks.

    Called on the alert dispatcher's worker thread, never on the order path, after the
    event is stored in the alert history.

    :param event: the alert (already level-filtered and de-duplicated; ``event.repeat``
        says how many occurrences it stands for).
    :param sinks: names of the sinks to deliver to (on a retry, only those that failed).
        Deliver only to your own sinks among them.
    :returns: one :class:`~peaktrade_core.alerts.AlertDelivery` per sink attempted.

    If it raises, each of its sinks is recorded as a failed delivery and retried later;
    other plugins' sinks still deliver.
    """


@hookspec
def alert_sinks() -> Iterable[str] | None:
    """Names of the alert sinks this plugin's ``emit_alert`` delivers to (e.g. ["email"]).

    A ``[live_alerts] sinks`` entry that no loaded plugin names is a config error.
    """


# -------------------------------------------------------------------------------------------
# Drills
# -------------------------------------------------------------------------------------------


@hookspec
def drill_scenarios() -> Iterable[LiveDrillScenario] | None:
    """List the drill scenarios this pack provides (``scenario.pack`` names the pack).

    Called by ``peaktrade drills list`` and ``drills run``.
    """


@hookspec(firstresult=True)
def run_drill(scenario: LiveDrillScenario, context: DrillContext) -> LiveDrillResult | None:
    """Run one drill scenario, read-only. Stops at the first non-None result.

    :param scenario: the scenario; only the pack that owns it (``scenario.pack``) answers.
    :param context: the base config, an in-memory kill switch and recorders; the network
        is closed while drills run.
    :returns: the result, or ``None`` for scenarios of other packs.

    If it raises, the drill fails with the error as a violation.
    """


def hook_names() -> list[str]:
    return sorted(n for n, v in globals().items() if hasattr(v, PROJECT + "_spec"))


__all__ = ["hookimpl", "hookspec", "hook_names"]
