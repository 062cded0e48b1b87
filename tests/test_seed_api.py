"""The seeds' own example code runs, unmodified, against ``peaktrade_core.seed_api``.

``tests/seeds/`` holds verbatim copies of seed 000 (live execution design) and seed 002
(live dry-run drills). Every ```` ```python ```` block of seed 000 is executed as it stands,
with the seeds' ``src.*`` imports mapped by ``seed_import_aliases()``; seed 002 has no Python
block, so its drills A–G are run through the seed's names and checked against its text.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from peaktrade_core import seed_api
from peaktrade_core.environment import EnvironmentConfig as CoreEnvironmentConfig
from peaktrade_core.environment import TradingMode
from peaktrade_core.executors import NoExecutorError
from peaktrade_core.gates import LiveExecutionBlocked
from peaktrade_core.orders import OrderRequest
from peaktrade_core.plugins import reset_plugin_manager
from peaktrade_core.risk import LiveRiskConfig
from peaktrade_core.testing import live_environment, seed_import_aliases, seed_snippets

SEEDS = Path(__file__).parent / "seeds"
SEED_000 = SEEDS / "seed_000_live_execution_design.txt"
SEED_002 = SEEDS / "seed_002_live_dry_run_drills.txt"

#: seed 000's four examples, in file order (their first lines tell them apart)
ENV_DECL, EXECUTOR_EXAMPLE, FACTORY_DECL, RISK_DECL, GATE_EXAMPLE = range(5)


@pytest.fixture
def plugins(monkeypatch):
    """Load the dry-run executors and the standard drills, as an installed system would."""
    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "dryrun,drills-standard")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def seed_namespace(**free_names):
    """What a block of the seed's module sees: its typing imports, the names the seed's
    ``src.orders.exchange`` exports (through the aliases, as ``from … import *``), and the
    variables the seed's prose leaves to the reader (``order``, ``env_config``)."""
    namespace = {"dataclass": dataclasses.dataclass, "Optional": typing.Optional, "Dict": typing.Dict}  # noqa: UP006 - the seed's own names
    exec("from src.orders.exchange import *", namespace)
    namespace.update(free_names)
    return namespace


def run_block(index: int, **free_names):
    blocks = seed_snippets(SEED_000)
    namespace = seed_namespace(**free_names)
    exec(compile(blocks[index], f"{SEED_000.name}[python block {index}]", "exec"), namespace)
    return blocks[index], namespace


def commented_expectations(block: str) -> list[str]:
    """The block's ``# a == b`` comments: the seed's stated outcomes, as expressions."""
    return [m.group(1) for m in re.finditer(r"^#\s*(\S.*==.*)$", block, re.MULTILINE)]


def test_seed_000_has_the_five_python_blocks_this_test_runs():
    blocks = seed_snippets(SEED_000)
    assert len(blocks) == 5
    assert blocks[ENV_DECL].startswith("@dataclass\nclass EnvironmentConfig")
    assert "LiveOrderExecutor(safety_guard=guard, dry_run_mode=True)" in blocks[EXECUTOR_EXAMPLE]
    assert blocks[FACTORY_DECL].startswith("def create_order_executor(")
    assert blocks[RISK_DECL].startswith("@dataclass\nclass LiveRiskConfig")
    assert blocks[GATE_EXAMPLE].startswith("from src.live.safety import is_live_execution_allowed")


# -- seed 000, the declarations: the seed's fields and signature exist, with its defaults --


@pytest.mark.parametrize(("index", "name", "core"), [(ENV_DECL, "EnvironmentConfig", CoreEnvironmentConfig), (RISK_DECL, "LiveRiskConfig", LiveRiskConfig)])
def test_the_seeds_config_fields_are_the_cores_with_the_same_safe_defaults(index, name, core):
    with seed_import_aliases():
        _block, namespace = run_block(index)
    declared = dataclasses.fields(namespace[name])
    assert declared, "the seed declares fields"
    ours = attrs.fields_dict(core)
    for f in declared:
        assert f.name in ours, f"{name}.{f.name} of the seed is missing"
        assert ours[f.name].default == f.default, f"{name}.{f.name}: seed default {f.default!r}"


def test_the_seeds_factory_signature_is_the_seed_apis():
    with seed_import_aliases():
        _block, namespace = run_block(FACTORY_DECL)
    declared = inspect.signature(namespace["create_order_executor"]).parameters
    ours = inspect.signature(seed_api.create_order_executor).parameters
    assert list(declared) == list(ours)[: len(declared)] == ["env_config", "simulated_prices", "trading_client"]
    assert [p.default for p in declared.values()] == [ours[n].default for n in declared]


def test_the_seeds_config_file_loads_unmodified(tmp_path):
    from peaktrade_core.config import load_config

    toml = re.search(r"^```toml\n(.*?)^```", SEED_000.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    path = tmp_path / "config.toml"
    path.write_text(toml.group(1), encoding="utf-8")
    config = load_config(path)
    assert config.environment.mode is TradingMode.LIVE and config.environment.live_dry_run_mode
    assert config.live_risk.max_live_notional_total == 5000.0
    with seed_import_aliases():
        _block, namespace = run_block(GATE_EXAMPLE, env_config=config.environment)
    assert namespace["allowed"] is False
    assert "enable_live_trading=False" in namespace["reason"]


# -- seed 000, the examples -----------------------------------------------------------------


@pytest.mark.needs_plugins("peaktrade-dryrun")
def test_the_seeds_live_dry_run_executor_example_runs_and_says_what_the_seed_says(plugins):
    order = OrderRequest("BTC/EUR", "buy", 0.01)
    with seed_import_aliases():
        block, namespace = run_block(EXECUTOR_EXAMPLE, order=order)
    result = namespace["result"]
    expectations = commented_expectations(block)
    assert expectations == ['result.metadata["mode"] == "live_dry_run"', 'result.metadata["dry_run"] == True']
    for expression in expectations:
        assert eval(expression, namespace), expression
    assert result.status.value == "filled" and result.fills[0].price == 50000.0
    assert namespace["executor"].sends_real_orders is False


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({}, "enable_live_trading=False"),  # the seed's defaults: paper -> not LIVE
        ({"mode": TradingMode.LIVE}, "enable_live_trading=False"),
        ({"mode": TradingMode.LIVE, "enable_live_trading": True}, "live_mode_armed=False"),
        # "In Phase 71: allowed wird immer False sein wegen live_dry_run_mode=True"
        ({"live_dry_run_mode": True}, "live_dry_run_mode=True"),
    ],
)
def test_the_seeds_gate_example_gives_the_first_closed_gate(overrides, fragment):
    base = live_environment() if "live_dry_run_mode" in overrides else CoreEnvironmentConfig()
    env_config = attrs.evolve(base, **overrides)
    with seed_import_aliases():
        _block, namespace = run_block(GATE_EXAMPLE, env_config=env_config)
    assert namespace["allowed"] is False
    if overrides:
        assert fragment in namespace["reason"]
    else:
        assert "not LIVE" in namespace["reason"]


def test_every_gate_open_is_the_only_way_the_seeds_helper_says_allowed():
    with seed_import_aliases():
        _block, namespace = run_block(GATE_EXAMPLE, env_config=live_environment())
    assert namespace["allowed"] is True


# -- the adapters themselves ----------------------------------------------------------------


def test_environment_config_takes_the_seeds_keyword_and_builds_the_cores_object():
    env = seed_api.EnvironmentConfig(environment=seed_api.TradingEnvironment.LIVE, live_dry_run_mode=True)
    assert type(env) is CoreEnvironmentConfig and env.mode is TradingMode.LIVE
    assert isinstance(env, seed_api.EnvironmentConfig)
    assert seed_api.EnvironmentConfig(environment="testnet", live_allowed_symbols=["BTC/EUR"]).live_allowed_symbols == ("BTC/EUR",)
    with pytest.raises(TypeError):
        seed_api.EnvironmentConfig(environment="live", no_such_gate=True)


def test_safety_guard_under_the_seeds_keyword_is_the_cores_guard():
    guard = seed_api.SafetyGuard(env_config=seed_api.EnvironmentConfig(environment="live"))
    with pytest.raises(LiveExecutionBlocked, match="enable_live_trading=False"):
        guard.ensure_may_place_order(OrderRequest("BTC/EUR", "buy", 1.0))
    assert guard.allow_symbol("BTC/EUR") is False
    assert seed_api.SafetyGuard().env_config == CoreEnvironmentConfig()  # the safe defaults


def test_allow_symbol_follows_the_live_allow_list_when_every_gate_is_open():
    guard = seed_api.SafetyGuard(env_config=live_environment())
    assert guard.allow_symbol("BTC/EUR") is True
    assert guard.allow_symbol("ETH/EUR") is False  # not in live_allowed_symbols


def test_without_the_dry_run_plugin_the_seeds_executor_is_one_line_naming_it():
    with pytest.raises(NoExecutorError, match="install the plugin peaktrade-dryrun"):
        seed_api.LiveOrderExecutor(safety_guard=seed_api.SafetyGuard(env_config=live_environment()), dry_run_mode=True)


def test_the_seeds_import_paths_exist_only_inside_the_aliases():
    import sys

    with seed_import_aliases():
        from src.live.drills import get_default_live_drill_scenarios  # noqa: F401
        from src.live.monitoring import load_run_snapshot, render_summary  # noqa: F401
        from src.live.risk_limits import LiveRiskLimits  # noqa: F401
        from src.live.run_logging import LiveRunLogger  # noqa: F401
        from src.live.safety import SafetyGuard

        assert SafetyGuard is seed_api.SafetyGuard
    assert "src.live.safety" not in sys.modules and "src" not in sys.modules


# -- safety: the seed's executor sends only what the core would send ------------------------


@pytest.fixture(scope="module")
def venue():
    from peaktrade_core.testing.loopback import LoopbackVenue

    with LoopbackVenue() as running:
        yield running


@pytest.fixture(scope="module")
def dryrun_manager():
    """A plugin manager with the dry-run executors (module-wide, for the property test)."""
    from peaktrade_core.plugins import PluginManager

    return PluginManager(allow={"dryrun"}).load()


GATE_FLIPS = {
    "mode": TradingMode.PAPER,
    "enable_live_trading": False,
    "live_mode_armed": False,
    "live_dry_run_mode": True,
    "confirm_token": None,
    "max_live_notional_total": None,
}


@pytest.mark.needs_plugins("peaktrade-dryrun")
@given(closed=st.sets(st.sampled_from(sorted(GATE_FLIPS))), dry_run_mode=st.booleans())
@example(closed=set(), dry_run_mode=False)  # the one combination that places an order
@example(closed=set(), dry_run_mode=True)
def test_the_seeds_live_executor_places_nothing_unless_dry_run_is_off_and_every_gate_open(venue, dryrun_manager, closed, dry_run_mode):
    from peaktrade_core.testing.loopback import LoopbackClient

    client = LoopbackClient(venue.url, venue.api_key, venue.api_secret)
    env = live_environment(exchange=client.name, live_allowed_exchanges=(client.name,))
    env = attrs.evolve(env, **{gate: GATE_FLIPS[gate] for gate in closed})
    placed = len(venue.orders())
    guard = seed_api.SafetyGuard(env_config=env)
    executor = seed_api.LiveOrderExecutor(
        safety_guard=guard, dry_run_mode=dry_run_mode, trading_client=client, plugin_manager=dryrun_manager
    )
    result = executor.execute_order(OrderRequest("BTC/EUR", "buy", 0.001, reference_price=50_000.0))
    may_send = not dry_run_mode and not closed
    assert (len(venue.orders()) > placed) is may_send
    assert executor.sends_real_orders is may_send
    if not may_send:
        assert result.metadata["dry_run"] is True and result.metadata["mode"] == "live_dry_run"


# -- seed 002: drills A–G through the seed's names ------------------------------------------

#: seed 002 §2.2: drill letter -> (expected is_live_execution_allowed, what the reason says)
SEED_002_EXPECTATIONS = {
    "A": (False, "enable_live_trading=False"),
    "B": (False, "live_mode_armed=False"),
    "C": (False, "live_dry_run_mode=True"),
    "D": (False, "confirm_token"),
    "E": (True, ""),
    "F": (False, "not LIVE"),
    "G": (False, "not LIVE"),
}


def test_seed_002_lists_exactly_these_drills():
    text = SEED_002.read_text(encoding="utf-8")
    assert re.findall(r"^\*\*Drill ([A-G]) ", text, re.MULTILINE) == list(SEED_002_EXPECTATIONS)


@pytest.mark.needs_plugins("peaktrade-drills-standard")
def test_seed_002_drills_a_to_g_run_through_the_seeds_names_and_pass(plugins):
    with seed_import_aliases():
        from src.live.drills import LiveDrillRunner, get_default_live_drill_scenarios

        scenarios = [s for s in get_default_live_drill_scenarios() if s.name[:1] in SEED_002_EXPECTATIONS and s.name[1:4] == " - "]
        assert [s.name[0] for s in scenarios] == list(SEED_002_EXPECTATIONS)
        results = LiveDrillRunner().run_all(scenarios)
    assert isinstance(results, list) and len(results) == 7
    for result in results:
        allowed, fragment = SEED_002_EXPECTATIONS[result.scenario[0]]
        assert result.passed, (result.scenario, result.violations)
        assert result.is_live_execution_allowed is allowed, result.scenario
        assert fragment in result.reason, (result.scenario, result.reason)
    by_letter = {r.scenario[0]: r for r in results}
    assert by_letter["C"].effective_mode == "live_dry_run"  # "Dry-Run im Report klar erkennbar"
    single = LiveDrillRunner().run_scenario(scenarios[0])
    assert single.passed and "enable_live_trading=False" in single.reason


@pytest.mark.needs_plugins("peaktrade-dryrun")
def test_the_executor_example_of_the_seed_names_page_runs(plugins):
    page = (Path(__file__).parents[1] / "docs" / "seed-names.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```python\n(.*?)^```", page, re.MULTILINE | re.DOTALL)
    with seed_import_aliases():
        namespace = seed_namespace()
        exec(compile(block, "docs/seed-names.md", "exec"), namespace)
    assert namespace["result"].metadata["dry_run"] is True


@pytest.mark.needs_plugins("peaktrade-dryrun", "peaktrade-paper")
def test_the_seeds_factory_follows_the_seeds_decision_logic(monkeypatch, venue):
    """Seed 000 §2.3: paper -> PaperOrderExecutor, testnet -> TestnetOrderExecutor (dry run),
    live -> LiveOrderExecutor (dry run), a trading client (and every gate open) -> the venue."""
    from peaktrade_core.testing.loopback import LoopbackClient

    monkeypatch.setenv("PEAK_TRADE_PLUGINS", "dryrun,paper")
    reset_plugin_manager()
    prices = {"BTC/EUR": 50_000.0}
    paper = seed_api.create_order_executor(seed_api.EnvironmentConfig(environment="paper"), prices)
    testnet = seed_api.create_order_executor(seed_api.EnvironmentConfig(environment="testnet"), prices)
    live = seed_api.create_order_executor(seed_api.EnvironmentConfig(environment="live"), prices)
    assert (paper.name, testnet.name, live.name) == ("paper", "testnet-dry-run", "live-dry-run")
    assert not any(e.sends_real_orders for e in (paper, testnet, live))
    assert seed_api.PaperOrderExecutor(prices).name == "paper"
    assert seed_api.TestnetOrderExecutor(prices).name == "testnet-dry-run"
    client = LoopbackClient(venue.url, venue.api_key, venue.api_secret)
    env = live_environment(exchange=client.name, live_allowed_exchanges=(client.name,))
    venue_executor = seed_api.create_order_executor(env, trading_client=client)
    assert venue_executor.sends_real_orders and venue_executor.name.startswith("guarded:")


def test_the_seed_api_is_cheap_to_import():
    import subprocess
    import sys

    probe = "import sys, peaktrade_core.seed_api; print(sorted(m for m in ('sqlite3', 'peaktrade_core.drills', 'peaktrade_core.risk', 'peaktrade_core.runlog') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
