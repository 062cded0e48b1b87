"""Plugin loading: built-ins always, entry points in isolation, allow/block lists, CLI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from peaktrade_core import hookimpl
from peaktrade_core.plugins import ESSENTIAL_PLUGINS, PluginError, PluginManager, get_plugin_manager
from peaktrade_core.testing import initialised_store, registered_plugin


def fake_distribution(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A real installed distribution (dist-info on sys.path), as pip would leave it."""
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[peaktrade]\n{lines}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    from peaktrade_core import hookimpl

    @hookimpl
    def check_gate(orders):
        return None
"""
MISSPELT = """
    from peaktrade_core import hookimpl

    @hookimpl
    def chek_gate(orders):
        return None
"""
BAD_ARGS = """
    from peaktrade_core import hookimpl

    @hookimpl
    def check_gate(orders, colour):
        return None
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    fake_distribution(
        site,
        "peaktrade-fakes",
        {"good": "fake_good", "missing": "fake_does_not_exist", "misspelt": "fake_misspelt", "badargs": "fake_badargs"},
        {"fake_good": GOOD, "fake_misspelt": MISSPELT, "fake_badargs": BAD_ARGS},
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def test_builtins_are_loaded_and_essential():
    infos = {i.name: i for i in PluginManager(allow=set()).load().infos()}
    assert set(infos) == set(ESSENTIAL_PLUGINS)
    assert infos["safety-gates"].hooks == ("check_gate",)
    assert all(i.source == "builtin" and i.status == "loaded" for i in infos.values())


def test_one_broken_entry_point_never_stops_the_others(site):
    infos = {i.name: i for i in PluginManager().load().infos()}
    assert infos["good"].status == "loaded"
    assert infos["good"].distribution == "peaktrade-fakes" and infos["good"].version == "1.2.3"
    assert infos["missing"].status == "failed"
    assert "No module named 'fake_does_not_exist'" in infos["missing"].error
    assert infos["misspelt"].status == "failed"
    assert infos["misspelt"].error == "unknown hook implementation(s): chek_gate"
    assert infos["badargs"].status == "failed" and "colour" in infos["badargs"].error


def test_allow_list_and_block_list(site):
    names = {i.name for i in PluginManager(allow={"good"}).load().infos()}
    assert names == set(ESSENTIAL_PLUGINS) | {"good"}
    disabled = {i.name: i.status for i in PluginManager(allow={"good"}, disable={"good"}).load().infos()}
    assert disabled["good"] == "disabled"
    # essential plugins ignore the block list
    assert set(ESSENTIAL_PLUGINS) <= {i.name for i in PluginManager(disable=set(ESSENTIAL_PLUGINS)).load().infos()}


def test_empty_allow_list_loads_no_external_plugin(site, monkeypatch):
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "")
    assert {i.name for i in get_plugin_manager().infos()} == set(ESSENTIAL_PLUGINS)


def test_registered_plugin_is_removed_even_when_the_block_raises():
    class Probe:
        @hookimpl
        def check_gate(self):
            return None

    with pytest.raises(RuntimeError), registered_plugin(Probe(), "probe"):
        assert "probe" in {i.name for i in get_plugin_manager().infos()}
        raise RuntimeError("test failed inside")
    assert "probe" not in {i.name for i in get_plugin_manager().infos()}


def test_registering_a_misspelt_plugin_object_is_an_error():
    class Typo:
        @hookimpl
        def chek_gate(self):
            return None

    with pytest.raises(PluginError, match="chek_gate"):
        get_plugin_manager().register(Typo(), "typo")


def test_essential_plugins_cannot_be_unregistered():
    with pytest.raises(PluginError):
        get_plugin_manager().unregister("safety-gates")


def _plugins_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PEAK_TRADE_PLUGINS"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "plugins", "list", *args],
        capture_output=True, text=True, env=env,
    )


def test_plugins_list_json_shows_failures_and_exits_0_unless_strict(site):
    proc = _plugins_cli(site, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name["good"]) == {"name", "distribution", "version", "source", "hooks", "status", "error", "blocks_trading"}
    assert by_name["good"]["source"] == "entry-point" and by_name["good"]["hooks"] == ["check_gate"]
    assert by_name["safety-gates"]["source"] == "builtin"
    assert by_name["missing"]["status"] == "failed" and by_name["missing"]["blocks_trading"] is True
    assert _plugins_cli(site, "--strict").returncode == 1


def test_plugins_list_table_and_hook_filter(site):
    proc = _plugins_cli(site, "--hook", "emit_alert")
    assert proc.returncode == 0
    assert "alert-sinks" in proc.stdout and "safety-gates" not in proc.stdout
    table = _plugins_cli(site).stdout
    assert "! missing: ModuleNotFoundError: No module named 'fake_does_not_exist' (every batch is blocked)" in table
    unknown = _plugins_cli(site, "--hook", "nope")
    assert unknown.returncode == 2 and "unknown hook" in unknown.stderr


# -- the facade: one method per hook, one failure policy per hook (docs/hooks.md) -----------

import threading  # noqa: E402
from types import MappingProxyType  # noqa: E402

from attrs import evolve  # noqa: E402

from peaktrade_core.config import ExecutionConfig, PeakTradeConfig  # noqa: E402
from peaktrade_core.environment import EnvironmentConfig, TradingMode  # noqa: E402
from peaktrade_core.gates import GateContext, GateDecision, KillSwitchState, evaluate_gates  # noqa: E402
from peaktrade_core.orders import OrderRequest, OrderStatus  # noqa: E402
from peaktrade_core.pipeline import ExecutionPipeline  # noqa: E402
from peaktrade_core.risk import LiveRiskConfig, PortfolioState, RiskViolation  # noqa: E402
from peaktrade_core.state import StateStore  # noqa: E402
from peaktrade_core.testing import FillingExecutor  # noqa: E402

ENGAGED = KillSwitchState(engaged=True, operator="ops", reason="incident", at="now", source="cli")


def orders(n: int = 3) -> list[OrderRequest]:
    return [OrderRequest("BTC/EUR", "buy", 0.01 + i * 0.001, reference_price=40_000.0) for i in range(n)]


def make_pipeline(timeout: float = 2.0) -> ExecutionPipeline:
    config = PeakTradeConfig(execution=ExecutionConfig(plugin_timeout_seconds=timeout))
    return ExecutionPipeline(config, store=StateStore(":memory:"), executor=FillingExecutor(), record=False)


def gate_and_risk_plugin(behaviour):
    """A plugin object whose check_gate and check_risk both do ``behaviour()``."""

    class Plugin:
        @hookimpl
        def check_gate(self, orders):
            return behaviour()

        @hookimpl
        def check_risk(self, orders):
            return behaviour()

    return Plugin()


def shaky(hook: str, behaviour):
    """Register, for a ``with`` block, a plugin ``shaky`` whose one ``hook`` does ``behaviour()``."""

    class One:
        pass

    one = One()
    one.__dict__[hook] = hookimpl(lambda orders: behaviour())
    return registered_plugin(one, "shaky")


def _raise():
    raise RuntimeError("database down")


def _raising_generator():
    yield from ()
    raise RuntimeError("broke while iterating")


@pytest.fixture
def hang():
    release = threading.Event()
    yield lambda: release.wait(60)  # far past any timeout below; released at teardown
    release.set()


def _blocked_by(results, fragment: str, plugin: str = "shaky") -> None:
    """Every order blocked, each reason naming the plugin, nothing reached the executor."""
    assert all(r.status in (OrderStatus.GATE_BLOCKED, OrderStatus.RISK_BLOCKED) for r in results), results
    assert all(any(plugin in reason and fragment in reason for reason in r.reasons) for r in results), [r.reasons for r in results]


HOOKS = pytest.mark.parametrize("hook", ["check_gate", "check_risk"])


@HOOKS
def test_order_path_hook_that_raises_blocks_the_batch(hook):
    p = make_pipeline()
    with shaky(hook, _raise):
        results = p.process_batch(orders())
    _blocked_by(results, "RuntimeError: database down")
    assert p.executor.received == []


@HOOKS
def test_order_path_generator_that_raises_blocks_the_batch(hook):
    p = make_pipeline()
    with shaky(hook, _raising_generator):
        results = p.process_batch(orders())
    _blocked_by(results, "RuntimeError: broke while iterating")
    assert p.executor.received == []


@HOOKS
def test_order_path_hook_that_hangs_blocks_the_batch(hook, hang):
    p = make_pipeline(timeout=0.2)
    with shaky(hook, hang):
        results = p.process_batch(orders())
    _blocked_by(results, "TimeoutError")
    assert p.executor.received == []


@HOOKS
@pytest.mark.parametrize(
    "garbage",
    [
        lambda: 42,
        lambda: ["not a decision"],
        lambda: [GateDecision("x", False, "index outside the batch", (7,)), RiskViolation("x", "index outside", order_index=7)],
        lambda: {"a": "mapping"},
    ],
    ids=["int", "strings", "index-outside-batch", "mapping"],
)
def test_order_path_garbage_blocks_the_batch(hook, garbage):
    p = make_pipeline()
    with shaky(hook, garbage):
        results = p.process_batch(orders())
    _blocked_by(results, "shaky")
    assert p.executor.received == []


class ReportSwapper:
    """The reported bug: a tryfirst gate that swaps the report for one with the kill switch
    released, so that the built-in gates (called after it) would let everything through."""

    def __init__(self, sneaky: bool):
        self.sneaky = sneaky

    @hookimpl(tryfirst=True)
    def check_gate(self, env, context):
        released = evaluate_gates(env)
        if self.sneaky:  # past the frozen class, as a determined plugin could
            object.__setattr__(context, "report", released)
            object.__setattr__(context.report, "kill_switch", KillSwitchState())
        else:
            context.report = released
        return GateDecision("swapper", True, "all fine")


@pytest.mark.parametrize("sneaky", [False, True], ids=["assign", "object.__setattr__"])
def test_a_gate_plugin_cannot_lift_the_kill_switch_by_replacing_the_report(sneaky):
    p = make_pipeline()
    p.kill_switch.engage(operator="ops", reason="incident")
    with registered_plugin(ReportSwapper(sneaky), "swapper"):
        results = p.process_batch(orders(64))
    assert p.executor.received == []
    assert all(r.status is OrderStatus.GATE_BLOCKED for r in results)
    assert all(any("kill switch engaged by ops" in reason for reason in r.reasons) for r in results)


def test_a_plugin_cannot_change_positions_for_the_core_or_other_plugins():
    seen: list[dict] = []

    class Writer:
        @hookimpl(tryfirst=True)
        def check_gate(self, context):
            assert isinstance(context.positions, MappingProxyType)
            with contextlib.suppress(TypeError):
                context.positions["BTC/EUR"] = 99.0  # type: ignore[index]
            return None

        @hookimpl(tryfirst=True)
        def check_risk(self, portfolio):
            with contextlib.suppress(TypeError):
                portfolio.positions["BTC/EUR"] = 99.0
            portfolio.cash = 1e12  # only its own copy
            return None

    class Reader:
        @hookimpl(trylast=True)
        def check_gate(self, context):
            seen.append(dict(context.positions))

        @hookimpl(trylast=True)
        def check_risk(self, portfolio):
            seen.append({"cash": portfolio.cash, **portfolio.positions})

    pm = get_plugin_manager()
    portfolio = PortfolioState(cash=100.0, positions={"BTC/EUR": 1.0})
    env = EnvironmentConfig()
    with registered_plugin(Writer(), "writer"), registered_plugin(Reader(), "reader"):
        context = GateContext(evaluate_gates(env), portfolio.positions)
        assert pm.check_gate(env, orders(), context) == []
        assert pm.check_risk(orders(), portfolio, LiveRiskConfig(), env) == []
    assert portfolio.positions == {"BTC/EUR": 1.0} and portfolio.cash == 100.0
    assert seen == [{"BTC/EUR": 1.0}, {"cash": 100.0, "BTC/EUR": 1.0}]


def test_a_hook_wrapper_sees_the_call_and_one_that_raises_blocks_the_batch():
    calls: list[str] = []

    class Observer:
        @hookimpl(wrapper=True)
        def check_gate(self, orders):
            calls.append(f"before {len(orders)}")
            result = yield
            calls.append(f"after {len(result)}")
            return []  # cannot lift the built-in's block: the core decides from each implementation

    p = make_pipeline()
    p.kill_switch.engage(operator="ops", reason="incident")
    with registered_plugin(Observer(), "observer"):
        results = p.process_batch(orders(2))
    assert calls == ["before 2", "after 1"]
    assert all(r.status is OrderStatus.GATE_BLOCKED for r in results)

    class Breaker:
        @hookimpl(wrapper=True)
        def check_gate(self):
            yield
            raise RuntimeError("wrapper broke")

    p = make_pipeline()
    with registered_plugin(Breaker(), "breaker"):
        results = p.process_batch(orders(2))
    assert all(r.status is OrderStatus.GATE_BLOCKED and "wrapper broke" in r.reasons[0] for r in results)
    assert p.executor.received == []


def test_a_failed_trading_plugin_blocks_every_batch():
    class Gate:
        @hookimpl
        def configure(self, config):
            raise ValueError("bad settings")

        @hookimpl
        def check_gate(self, orders):
            return None

    p = make_pipeline()
    with registered_plugin(Gate(), "gatekeeper"):
        p.pm.configure(PeakTradeConfig())
        info = {i.name: i for i in p.pm.infos()}["gatekeeper"]
        results = p.process_batch(orders())
    assert info.status == "failed" and info.blocks_trading
    assert all(r.status is OrderStatus.GATE_BLOCKED for r in results)
    assert "plugin gatekeeper failed (configure: ValueError: bad settings)" in results[0].reasons[0]
    assert p.executor.received == []


def test_a_hook_call_goes_through_pluggy_firstresult_and_order():
    class Early:
        name, sends_real_orders = "early", False

        @hookimpl(tryfirst=True)
        def select_executor(self):
            return FillingExecutor()

    class Late:
        @hookimpl(trylast=True)
        def select_executor(self):
            raise AssertionError("never asked: firstresult stopped before it")

    pm = get_plugin_manager()
    with registered_plugin(Early(), "early"), registered_plugin(Late(), "late"):
        assert isinstance(pm.select_executor(EnvironmentConfig(), False, None), FillingExecutor)
        assert pm.select_executor(EnvironmentConfig(), False, None, only="early") is not None


def test_a_venue_hook_that_fails_is_one_line_naming_the_plugin():
    def venue_plugin(venues, client=None, error=None):
        class Venue:
            @hookimpl
            def exchange_venues(self):
                if error == "venues":
                    raise OSError("catalogue\nunreachable")
                return venues

            @hookimpl
            def create_exchange_client(self, venue, mode, settings):
                if error == "client":
                    raise RuntimeError("no api key")
                return client(venue, mode, settings) if client else None

        return Venue()

    class Client:
        def __init__(self, venue, mode, settings):
            self.name, self.mode, self.settings = venue, mode, settings

        def submit_order(self, order):
            return {}

    pm = get_plugin_manager()
    testnet = PeakTradeConfig(environment=EnvironmentConfig(mode=TradingMode.TESTNET, exchange="aaa-x"), plugins={"aaa": {"key": 1}})
    with registered_plugin(venue_plugin(["aaa-x"], Client), "aaa"), registered_plugin(venue_plugin(["zzz-x"], Client), "zzz"):
        assert pm.exchange_venues() == {"aaa-x": "aaa", "zzz-x": "zzz"}
        client = pm.create_exchange_client(testnet)
        assert (client.name, client.mode, client.settings) == ("aaa-x", TradingMode.TESTNET, {"key": 1})
        assert pm.create_exchange_client(evolve(testnet, environment=evolve(testnet.environment, exchange="zzz-x"))).name == "zzz-x"
        assert pm.create_exchange_client(evolve(testnet, environment=EnvironmentConfig(exchange="aaa-x"))) is None  # paper
        with registered_plugin(venue_plugin(["aaa-x"]), "copycat"):
            with pytest.raises(Exception, match=r"^venue 'aaa-x' is served by two plugins, aaa and copycat") as exc:
                pm.exchange_venues()
            assert "\n" not in str(exc.value)
    cases = [
        ("venues", r"^plugin broken: exchange_venues failed: OSError: catalogue; unreachable$"),
        ("client", r"^plugin broken: create_exchange_client for venue 'aaa-x' failed: RuntimeError: no api key$"),
        (None, r"^plugin broken: create_exchange_client for venue 'aaa-x' returned NoneType, not an ExchangeClient$"),
    ]
    for error, message in cases:
        with registered_plugin(venue_plugin(["aaa-x"], error=error), "broken"), pytest.raises(Exception, match=message):
            pm.create_exchange_client(testnet)
    with pytest.raises(Exception, match=r"no installed plugin serves this venue \(installed venues: none\)"):
        pm.create_exchange_client(testnet)


def test_a_failing_alert_plugin_fails_only_its_own_sinks(hang):
    from peaktrade_core.alerts import AlertDelivery, AlertEvent, AlertLevel

    class Broken:
        @hookimpl
        def emit_alert(self, sinks):
            raise ConnectionError("smtp down")

    class Hanging:
        @hookimpl
        def emit_alert(self, sinks):
            hang()

    class Working:
        @hookimpl
        def emit_alert(self, sinks):
            return [AlertDelivery("chat", True)] if "chat" in sinks else []

    pm = get_plugin_manager()
    event = AlertEvent(AlertLevel.WARNING, "test", "code", "message")
    with registered_plugin(Broken(), "mail"), registered_plugin(Working(), "chat"), registered_plugin(Hanging(), "pager"):
        results = pm.emit_alert(event, {"mail", "chat"}, timeout=0.2)
    assert results["chat"].ok
    assert not results["mail"].ok
    assert "plugin mail failed: ConnectionError: smtp down" in results["mail"].error
    assert "plugin pager failed: TimeoutError" in results["mail"].error


def test_a_failing_drill_pack_fails_only_its_own_drill():
    from peaktrade_core.drills import LiveDrillResult, LiveDrillScenario

    good = LiveDrillScenario("G1", "good drill", "good-pack")

    class GoodPack:
        @hookimpl
        def drill_scenarios(self):
            yield good

        @hookimpl
        def run_drill(self, scenario):
            return LiveDrillResult(scenario.name, scenario.pack, True, None, "ok", "paper") if scenario.pack == "good-pack" else None

    class BadPack:
        @hookimpl
        def drill_scenarios(self):
            yield LiveDrillScenario("B1", "bad drill", "bad-pack")
            raise RuntimeError("listing broke")

        @hookimpl(tryfirst=True)
        def run_drill(self, scenario):
            if scenario.pack == "bad-pack":
                raise RuntimeError("drill broke")

    pm = get_plugin_manager()
    with registered_plugin(GoodPack(), "good-pack"), registered_plugin(BadPack(), "bad-pack"):
        scenarios, problems = pm.drill_scenarios(5.0)
        assert scenarios == [good]
        assert problems == ["drill pack bad-pack: drill_scenarios failed: RuntimeError: listing broke"]
        result, problems = pm.run_drill(good, None, 5.0)
        assert result is not None and result.scenario == "G1" and problems == []
        result, problems = pm.run_drill(LiveDrillScenario("B1", "bad", "bad-pack"), None, 5.0)
        assert result is None and problems == ["drill plugin bad-pack raised RuntimeError: drill broke"]


def test_trace_logs_every_hook_call_with_plugin_duration_and_outcome(monkeypatch):
    from peaktrade_core.log import captured
    from peaktrade_core.plugins import reset_plugin_manager

    monkeypatch.setenv("PEAK_TRADE_TRACE_PLUGINS", "1")
    reset_plugin_manager()
    pm = get_plugin_manager()
    env = EnvironmentConfig()
    with registered_plugin(gate_and_risk_plugin(_raise), "shaky"), captured("INFO") as lines:
        pm.check_gate(env, orders(), GateContext(evaluate_gates(env)))
    traced = sorted(line for line in lines if "hook " in line)
    assert len(traced) == 2, lines
    assert re.fullmatch(r"\[PLUGINS\] hook check_gate plugin safety-gates: ok in \d+\.\d{3} ms", traced[0])
    assert re.fullmatch(r"\[PLUGINS\] hook check_gate plugin shaky: raised RuntimeError: database down in \d+\.\d{3} ms", traced[1])

    monkeypatch.delenv("PEAK_TRADE_TRACE_PLUGINS")
    reset_plugin_manager()
    with captured("DEBUG") as lines:
        get_plugin_manager().check_gate(env, orders(), GateContext(evaluate_gates(env)))
    assert not [line for line in lines if "hook " in line]


COMMAND_ONLY = """
    from peaktrade_core import hookimpl

    @hookimpl
    def register_commands(cli):
        raise RuntimeError("click group clash")

    @hookimpl
    def emit_alert(event, sinks):
        return []
"""
EXECUTOR_BOOM = """
    from peaktrade_core import hookimpl

    @hookimpl(tryfirst=True)
    def select_executor(env):
        raise RuntimeError("cannot reach the venue\\nsecond line")
"""


@pytest.fixture
def cli_site(tmp_path):
    site = tmp_path / "cli-site"
    fake_distribution(site, "peaktrade-cli-fakes", {"cmdboom": "fake_cmdboom", "exboom": "fake_exboom"}, {"fake_cmdboom": COMMAND_ONLY, "fake_exboom": EXECUTOR_BOOM})
    (tmp_path / "orders.csv").write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    return site


def _peaktrade(site: Path, plugins: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "PEAK_TRADE_PLUGINS": plugins}
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.needs_plugins("peaktrade-paper")  # a real paper session
def test_a_failed_command_only_plugin_is_shown_and_trading_goes_on(cli_site):
    # the WARNING alert is read from stderr: the exit's bounded flush (0.5 s by default) may
    # leave it in the history for the next start on a loaded machine, so wait for it here
    config = cli_site.parent / "patient-flush.toml"
    config.write_text("[live_alerts]\nflush_timeout_seconds = 30.0\n")
    run = _peaktrade(cli_site, "paper,cmdboom", "--config", str(config), "session", "run", "--orders", "orders.csv", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["by_status"] == {"filled": 1}
    assert "plugin cmdboom failed: register_commands: RuntimeError: click group clash" in run.stderr  # the WARNING alert
    status = _peaktrade(cli_site, "paper,cmdboom", "status")
    assert "! plugin cmdboom failed (register_commands: RuntimeError: click group clash): trading goes on without it" in status.stdout
    listed = {r["name"]: r for r in json.loads(_peaktrade(cli_site, "paper,cmdboom", "plugins", "list", "--json").stdout)}
    assert listed["cmdboom"]["status"] == "failed" and listed["cmdboom"]["blocks_trading"] is False


def test_select_executor_that_raises_is_one_line_and_exit_2(cli_site):
    initialised_store().close()  # else the first line is the notice that paper created the store
    run = _peaktrade(cli_site, "paper,exboom", "session", "run", "--orders", "orders.csv")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: plugin exboom: select_executor failed: RuntimeError: cannot reach the venue; second line"
    ]
    assert "Traceback" not in run.stderr


# -- property: no plugin behaviour lets an order through a closed kill switch ----------------

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _tamper(env, context):
    released = evaluate_gates(env)
    object.__setattr__(context, "report", released)
    return [GateDecision("tamper", True, "lifted")]


GATE_BEHAVIOURS = {
    "swap-report": _tamper,
    "raise": lambda env, context: _raise(),
    "raising-generator": lambda env, context: _raising_generator(),
    "garbage": lambda env, context: [object()],
    "open-decision": lambda env, context: GateDecision("yes", True, "fine by me"),
    "nothing": lambda env, context: None,
}
FAILURES = {"raise", "raising-generator", "garbage"}


@settings(max_examples=40, deadline=None)
@given(
    behaviours=st.lists(st.sampled_from(sorted(GATE_BEHAVIOURS)), min_size=1, max_size=3),
    tryfirst=st.booleans(),
    n=st.integers(min_value=1, max_value=20),
    engaged=st.booleans(),
)
def test_no_gate_plugin_behaviour_lets_an_order_past_an_engaged_kill_switch_or_a_failure(behaviours, tryfirst, n, engaged):
    plugins = []
    for i, name in enumerate(behaviours):
        behaviour = GATE_BEHAVIOURS[name]

        class Gate:
            @hookimpl(tryfirst=tryfirst)
            def check_gate(self, env, context, behaviour=behaviour):
                return behaviour(env, context)

        plugins.append((Gate(), f"gate-{i}"))
    p = make_pipeline()
    if engaged:
        p.kill_switch.engage(operator="ops", reason="property")
    with contextlib.ExitStack() as stack:
        for plugin, name in plugins:
            stack.enter_context(registered_plugin(plugin, name))
        results = p.process_batch(orders(n))
    if engaged or FAILURES & set(behaviours):
        assert p.executor.received == []
        assert all(r.status is OrderStatus.GATE_BLOCKED for r in results)
    else:
        assert len(p.executor.received) == n


# -- the built-ins called directly when nothing else implements the order-path hooks --------

_gen_orders = st.lists(
    st.builds(
        OrderRequest,
        symbol=st.sampled_from(["BTC/EUR", "ETH/EUR", "SOL/EUR"]),
        side=st.sampled_from(["buy", "sell"]),
        quantity=st.floats(0.001, 50.0),
        reference_price=st.one_of(st.none(), st.floats(1.0, 60_000.0)),
    ),
    max_size=6,
)
_gen_limits = st.builds(
    LiveRiskConfig,
    enabled=st.booleans(),
    max_order_notional=st.one_of(st.none(), st.floats(10.0, 50_000.0)),
    min_order_notional=st.one_of(st.none(), st.floats(0.01, 100.0)),
    max_total_exposure_notional=st.one_of(st.none(), st.floats(100.0, 100_000.0)),
    max_open_positions=st.one_of(st.none(), st.integers(0, 3)),
)
_gen_env = st.builds(
    EnvironmentConfig,
    mode=st.sampled_from(list(TradingMode)),
    enable_live_trading=st.booleans(),
    live_mode_armed=st.booleans(),
    live_dry_run_mode=st.booleans(),
)


class _Refuser:
    """A trading plugin that refuses everything: its presence must switch the direct call off."""

    @hookimpl
    def check_gate(self, orders):
        return GateDecision("refuser", False, "refuses everything")

    @hookimpl
    def check_risk(self, orders):
        return [RiskViolation(code="refused", message="refused: everything")]


def _decide(pm, env, batch, positions, limits, *, hooks: bool):
    """Gate and risk answers for one batch, through pluggy (``hooks``) or the direct call.
    Each run gets its own copy of the limits: the built-in caches its stateful checker per
    limits object, so both paths start from the same state."""
    from unittest import mock

    portfolio = PortfolioState(cash=50_000.0, positions=dict(positions))
    context = GateContext(evaluate_gates(env), portfolio.positions)
    patch = mock.patch.object(PluginManager, "_direct_records", return_value=None) if hooks else contextlib.nullcontext()
    with patch:
        return pm.check_gate(env, batch, context), pm.check_risk(batch, portfolio, evolve(limits), env)


@settings(max_examples=40, deadline=None)
@given(
    batch=_gen_orders,
    env=_gen_env,
    limits=_gen_limits,
    positions=st.dictionaries(st.sampled_from(["BTC/EUR", "ETH/EUR"]), st.floats(-2.0, 2.0), max_size=2),
    other=st.sampled_from(["none", "failed", "refuser"]),
)
def test_the_direct_builtin_call_refuses_exactly_what_the_hook_path_refuses(batch, env, limits, positions, other):
    pm = get_plugin_manager()
    with contextlib.ExitStack() as stack:
        if other == "failed":  # a trading plugin that failed after loading: blocks on both paths
            stack.enter_context(registered_plugin(_Refuser(), "broken-gate"))
            pm.mark_failed("broken-gate", "configure: boom")
        elif other == "refuser":
            stack.enter_context(registered_plugin(_Refuser(), "refuser"))
        direct = pm._direct_records("check_gate", ()) if other == "refuser" else "used"
        fast = _decide(pm, env, batch, positions, limits, hooks=False)
        slow = _decide(pm, env, batch, positions, limits, hooks=True)
    assert fast == slow
    gates, violations = fast
    if other == "failed":
        assert any(d.plugin == "broken-gate" and "fail closed" in d.reason for d in gates)
    if other == "refuser":
        assert direct is None  # another implementation: pluggy's call, as before
        assert any(d.plugin == "refuser" for d in gates) and any(v.plugin == "refuser" for v in violations)


def test_the_direct_call_records_a_failing_builtin_and_blocks_fail_closed(monkeypatch):
    """A built-in that raises is handled as through pluggy: recorded, the batch closed."""
    from peaktrade_core.builtin import safety_gates

    @hookimpl
    def check_gate(env, orders, context):
        raise RuntimeError("gate broke")

    monkeypatch.setattr(safety_gates, "check_gate", check_gate)
    pm = PluginManager(allow=set())  # registers the built-ins as they are now
    env = EnvironmentConfig()
    closed = pm.check_gate(env, orders(), GateContext(evaluate_gates(env)))
    assert [d.plugin for d in closed] == ["safety-gates"]
    assert "raised RuntimeError: gate broke" in closed[0].reason and not closed[0].open


def _picky(**got):
    """A closed decision telling which arguments it got (names and types)."""
    told = repr(sorted((k, type(v).__name__) for k, v in got.items()))
    return [GateDecision("picky", False, told, (0,) if got.get("orders") else None)]


#: built-in gates naming some of the hook's arguments (env, orders, context), in any order
_SIGNATURES = {
    "orders": lambda orders: _picky(orders=orders),
    "context, orders": lambda context, orders: _picky(context=context, orders=orders),
    "orders, env": lambda orders, env: _picky(orders=orders, env=env),
    "none": lambda: _picky(),
}


@pytest.mark.parametrize("signature", sorted(_SIGNATURES))
def test_the_direct_call_hands_a_builtin_the_arguments_it_names_as_pluggy_does(monkeypatch, signature):
    """A built-in naming some of the hook's arguments, in any order, gets those (the direct
    call picks them by position): the same decisions as through pluggy."""
    from unittest import mock

    from peaktrade_core.builtin import safety_gates

    monkeypatch.setattr(safety_gates, "check_gate", hookimpl(_SIGNATURES[signature]))
    pm = PluginManager(allow=set())
    env = EnvironmentConfig()
    context = GateContext(evaluate_gates(env))
    direct = pm.check_gate(env, orders(), context)
    with mock.patch.object(PluginManager, "_direct_records", return_value=None):
        plain = pm.check_gate(env, orders(), context)
    types = {"orders": "tuple", "env": "EnvironmentConfig", "context": "GateContext"}
    names = [] if signature == "none" else signature.split(", ")
    assert direct == plain and [d.gate for d in direct] == ["picky"]
    assert direct[0].reason == repr(sorted((n, types[n]) for n in names))


# -- what the facade keeps between calls, and its skip of empty answers ---------------------

_NOT_AN_ANSWER = object()  # one object: its repr (quoted in the refusal) is the same on both paths


def _answer_raises() -> None:
    raise RuntimeError("answer broke")


def _answer_raises_while_consumed():
    yield from ()
    raise RuntimeError("broke while consumed")


_NOTHING = {"empty list": lambda n: [], "empty tuple": lambda n: (), "nothing": lambda n: None, "empty generator": lambda n: iter(())}
_GARBAGE = {
    "empty dict": lambda n: {},
    "empty string": lambda n: "",
    "not an answer": lambda n: [_NOT_AN_ANSWER],
    "raises": lambda n: _answer_raises(),
    "raises while consumed": lambda n: _answer_raises_while_consumed(),
}
_GATE_ANSWERS = {
    **_NOTHING,
    **_GARBAGE,
    "open": lambda n: [GateDecision("g", True, "open")],
    "closes the first order": lambda n: [GateDecision("g", False, "first closed", (0,))] if n else [],
    "one closed decision": lambda n: GateDecision("g", False, "whole batch closed"),
    "an order outside the batch": lambda n: [GateDecision("g", False, "outside", (n,))],
}
_RISK_ANSWERS = {
    **_NOTHING,
    **_GARBAGE,
    "flags the first order": lambda n: [RiskViolation(code="custom", message="custom: first", order_index=0)] if n else [],
    "flags the whole batch": lambda n: (RiskViolation(code="custom", message="custom: all"),),
    "an order outside the batch": lambda n: [RiskViolation(code="custom", message="custom: outside", order_index=n)],
}


class _Answering:
    """A trading plugin answering each batch as told."""

    def __init__(self, gate, risk):
        self.gate, self.risk = gate, risk

    @hookimpl
    def check_gate(self, orders):
        return self.gate(len(orders))

    @hookimpl
    def check_risk(self, orders):
        return self.risk(len(orders))


@contextlib.contextmanager
def _plain_facade(pm):
    """The facade keeping nothing between calls, validating every answer item by item and
    consuming every answer through the ABC check."""
    from unittest import mock

    from peaktrade_core import plugins

    with (
        mock.patch.object(plugins, "_EMPTY_ANSWER", frozenset()),
        mock.patch.object(plugins, "_WHOLE_TYPES", frozenset()),
        mock.patch.object(plugins, "_answer_types", None),
    ):
        pm._changed()
        yield


@settings(max_examples=60, deadline=None)
@given(
    batch=_gen_orders,
    env=_gen_env,
    limits=_gen_limits,
    gate=st.sampled_from(sorted(_GATE_ANSWERS)),
    risk=st.sampled_from(sorted(_RISK_ANSWERS)),
    plugins=st.sampled_from(["built-ins only", "answering", "answering and a failed one"]),
)
def test_the_facade_with_what_it_keeps_refuses_exactly_what_the_plain_facade_refuses(batch, env, limits, gate, risk, plugins):
    pm = PluginManager(allow=set())
    pm.load()
    if plugins != "built-ins only":
        pm.register(_Answering(_GATE_ANSWERS[gate], _RISK_ANSWERS[risk]), "answering")
    if plugins == "answering and a failed one":
        pm.register(_Refuser(), "broken")
        pm.mark_failed("broken", "configure: boom")
    _decide(pm, env, batch, {}, limits, hooks=False)  # fills what the facade keeps
    fast = _decide(pm, env, batch, {}, limits, hooks=False)
    with _plain_facade(pm):
        plain = _decide(pm, env, batch, {}, limits, hooks=False)
    assert fast == plain
    gates, violations = fast
    answered = plugins != "built-ins only"
    silent_gate = gate in _NOTHING or gate == "open" or (gate == "closes the first order" and not batch)
    silent_risk = risk in _NOTHING or (risk == "flags the first order" and not batch)
    assert any(d.plugin == "answering" for d in gates) is (answered and not silent_gate)
    assert any(v.plugin == "answering" for v in violations) is (answered and not silent_risk)
    if answered and gate in _GARBAGE:
        assert any(d.plugin == "answering" and "fail closed" in d.reason and d.orders is None for d in gates)
    assert any(d.plugin == "broken" and "fail closed" in d.reason for d in gates) is (plugins == "answering and a failed one")


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from(["register", "fail", "unregister"]), st.sampled_from(["a", "b"])), max_size=6),
    batch=_gen_orders,
)
def test_what_the_facade_keeps_follows_plugins_registered_failed_and_unregistered(steps, batch):
    pm = PluginManager(allow=set())
    env, limits = EnvironmentConfig(), LiveRiskConfig()
    _decide(pm, env, batch, {}, limits, hooks=False)
    for action, name in steps:
        if action == "register" and not pm.pm.has_plugin(name):
            pm.register(_Refuser(), name)
        elif action == "fail":
            pm.mark_failed(name, "configure: boom")
        elif action == "unregister":
            pm.unregister(name)
        fast = _decide(pm, env, batch, {}, limits, hooks=False)
        with _plain_facade(pm):
            plain = _decide(pm, env, batch, {}, limits, hooks=False)
        assert fast == plain
        failed = {i.name for i in pm.infos() if i.status == "failed"}
        assert {d.plugin for d in fast[0] if d.gate == "plugin"} == failed  # every failed trading plugin closes the batch
        assert {d.plugin for d in fast[0] if d.gate == "refuser"} == {n for n in ("a", "b") if pm.pm.has_plugin(n)}
        _decide(pm, env, batch, {}, limits, hooks=False)  # kept again for the next step


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.sampled_from(["buy", "reduce", "engage", "release", "adopt", "confirm"]), max_size=10))
@example(steps=["engage", "buy", "adopt", "reduce"])  # the same report, a new positions table
def test_the_gate_context_kept_between_batches_equals_a_fresh_one(steps):
    """The pipeline hands the gates the same context object while the gate report, the
    positions table and the confirm callback are the same objects; the reduce-only exception
    of the kill switch reads the positions as they are at each batch."""
    from peaktrade_core.accounts import adopt

    env = EnvironmentConfig(kill_switch_allow_reduce_only=True)
    config = PeakTradeConfig(environment=env, live_risk=LiveRiskConfig(duplicate_window_seconds=0, runaway_max_executions=0))
    p = ExecutionPipeline(config, store=StateStore(":memory:"), executor=FillingExecutor(), record=False)
    for i, step in enumerate(steps):
        engaged = p.kill_switch.state().engaged
        if step == "engage" and not engaged:
            p.kill_switch.engage("test", operator="t")
        elif step == "release" and engaged:
            p.kill_switch.release("test", operator="t")
        elif step == "adopt":  # a stored account adopted: a new positions table
            adopt(p.portfolio, PortfolioState(cash=50_000.0, positions={"BTC/EUR": 1.0 + i}))
        elif step == "confirm":
            p.confirm = lambda order: True
        side, reduce_only = ("sell", True) if step == "reduce" else ("buy", False)
        batch = [OrderRequest("BTC/EUR", side, 0.01, reference_price=40_000.0, reduce_only=reduce_only)]
        report = p.gate_report(p.kill_switch.state())
        fresh = p.pm.check_gate(p.env, batch, GateContext(report, p.portfolio.positions, p.confirm))
        assert p.check_gates(batch, report) == fresh
        p.process_batch(batch, i)
