"""The drill runner: expectations judged, failures isolated, read-only proven (DRILL-1, DRILL-4)."""

from __future__ import annotations

import hashlib
import select
import socket
import sqlite3
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.config import load_config
from peaktrade_core.drills import DrillError, LiveDrillResult, LiveDrillRunner, LiveDrillScenario
from peaktrade_core.environment import LIVE_CONFIRM_TOKEN, TradingMode
from peaktrade_core.hookspecs import hookimpl
from peaktrade_core.killswitch import KillSwitch
from peaktrade_core.state import StateStore
from peaktrade_core.testing import registered_plugin

PACK = "test-pack"
ALL_OPEN = {
    "mode": TradingMode.LIVE,
    "enable_live_trading": True,
    "live_mode_armed": True,
    "live_dry_run_mode": False,
    "confirm_token": LIVE_CONFIRM_TOKEN,
    "max_live_notional_per_order": 100.0,
    "max_live_notional_total": 500.0,
}


class Pack:
    """A drill pack for tests: gate drills judged by the core, or a custom ``run``."""

    def __init__(self, *scenarios: LiveDrillScenario, run=None, pack: str = PACK):
        self.scenarios = scenarios
        self.run = run
        self.pack = pack

    @hookimpl
    def drill_scenarios(self):
        return self.scenarios

    @hookimpl
    def run_drill(self, scenario, context):
        if scenario.pack != self.pack:
            return None
        if self.run is not None:
            return self.run(scenario, context)
        return context.result(context.gate_report())


def scenario(name: str = "T - test", **kwargs) -> LiveDrillScenario:
    kwargs.setdefault("description", "a test drill")
    return LiveDrillScenario(name, pack=PACK, **kwargs)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(Path(__file__).parents[1].joinpath("config", "config.toml").read_text())
    return load_config(path)


@pytest.fixture
def state_db(config):
    """A real state database with history in it, as an operator's would be."""
    store = StateStore.in_dir(config.data_dir())
    switch = KillSwitch(store)
    switch.engage("yesterday's incident", operator="alice")
    switch.release("resolved", operator="alice")
    return store


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_gate_drill_judges_expectations_and_never_shows_the_token(config):
    drills = [
        scenario(
            "A",
            env_overrides={**ALL_OPEN, "live_dry_run_mode": True},
            expected_is_live_execution_allowed=False,
            expected_reasons=("live_dry_run_mode=True",),
        ),
        scenario(
            "B",
            env_overrides=ALL_OPEN,
            expected_is_live_execution_allowed=False,
            expected_reasons=("enable_live_trading=False",),
        ),
    ]
    with registered_plugin(Pack(*drills), PACK):
        report = LiveDrillRunner(config).run_all()
    ok, wrong = report.results
    assert ok.passed and ok.violations == ()
    assert ok.details["confirm_token"] == "SET (valid)"
    assert ok.details["mode"] == "live" and ok.effective_mode == "live_dry_run"
    assert not wrong.passed
    assert "expected is_live_execution_allowed=False, got True" in wrong.violations[0]
    assert "expected the reason to name 'enable_live_trading=False'" in wrong.violations[1]
    assert LIVE_CONFIRM_TOKEN not in repr(report.to_dict())
    assert not report.passed


def test_overrides_apply_in_memory_only(config, state_db):
    before_env = config.environment
    files = [Path(config.source), state_db.path, Path(str(state_db.path) + "-wal")]
    before = [digest(p) for p in files]
    with registered_plugin(Pack(scenario(env_overrides=ALL_OPEN, kill_switch_engaged=True)), PACK):
        report = LiveDrillRunner(config).run_all()
    assert report.results[0].details["kill_switch"] == "ENGAGED"  # the drill's own switch
    assert config.environment is before_env and config.environment.mode is TradingMode.PAPER
    assert [digest(p) for p in files] == before
    assert KillSwitch(state_db).state().engaged is False
    assert report.read_only_verified and report.passed
    assert {c.name for c in report.checks} == {
        "network and state files closed",
        "config file",
        "state database",
        "state database WAL",
    }


@pytest.fixture
def server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv
    srv.close()


def pending_connection(srv: socket.socket) -> bool:
    return bool(select.select([srv], [], [], 0.2)[0])


def test_drill_that_reaches_for_the_network_fails_and_nothing_leaves(config, server):
    port = server.getsockname()[1]
    caught = []

    def phone_home(scen, context):
        for attempt in (
            lambda: socket.create_connection(("127.0.0.1", port), timeout=0.5),
            lambda: socket.socket().connect(("127.0.0.1", port)),
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5),
        ):
            try:
                attempt()
            except OSError as exc:  # the plugin swallows the error: still a violation
                caught.append(exc)
        return context.result(context.gate_report())

    drills = [scenario("N - phone home"), scenario("Q - quiet")]
    with registered_plugin(Pack(*drills, run=phone_home), PACK):
        report = LiveDrillRunner(config).run_all(drills[:1])
    result = report.results[0]
    assert not result.passed and len(caught) == 3
    assert any(f"('127.0.0.1', {port})" in v and "refused network" in v for v in result.violations)
    assert not report.checks[0].ok and not report.passed
    assert not pending_connection(server)  # nothing reached the listening server
    # the sandbox is gone afterwards: the same connect works again
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        assert pending_connection(server)


def test_drill_opening_the_state_database_is_refused(config, state_db):
    before = digest(state_db.path)

    def open_state(scen, context):
        StateStore.in_dir(context.config.data_dir())
        return context.result(context.gate_report())

    with registered_plugin(Pack(scenario(), run=open_state), PACK):
        result = LiveDrillRunner(config).run_all().results[0]
    assert not result.passed
    assert any("OperationalError" in v and "in-memory state only" in v for v in result.violations)
    assert any("state: opened database file" in v for v in result.violations)
    assert digest(state_db.path) == before
    sqlite3.connect(":memory:").close()  # restored


def test_a_changed_state_file_is_caught_by_the_hash_check(config, state_db):
    def tamper(scen, context):
        with state_db.path.open("ab") as fh:  # a plain file write: only the hashes can see it
            fh.write(b"x")
        return context.result(context.gate_report())

    runner = LiveDrillRunner(config)
    with registered_plugin(Pack(scenario(), run=tamper), PACK):
        report = runner.run_all()
        single = runner.run_scenario(scenario())
    check = next(c for c in report.checks if c.name == "state database")
    assert not check.ok and "CHANGED" in check.detail
    assert report.results[0].passed and not report.passed  # the run as a whole fails
    assert not single.passed and any(
        "read-only:" in v and "CHANGED" in v for v in single.violations
    )


def test_a_raising_or_misbehaving_plugin_fails_only_its_drill(config):
    def explode(scen, context):
        if scen.name.startswith("X"):
            raise RuntimeError("boom")
        if scen.name.startswith("Y"):
            return "not a result"
        return context.result(context.gate_report())

    drills = [scenario("X - raises"), scenario("Y - garbage"), scenario("Z - fine")]
    orphan = LiveDrillScenario("O - orphan", "its pack lists it but does not run it", "gone")
    with (
        registered_plugin(Pack(*drills, run=explode), PACK),
        registered_plugin(Pack(orphan, pack="lister"), "lister"),
    ):
        report = LiveDrillRunner(config).run_all()
    by_name = {r.scenario: r for r in report.results}
    assert by_name["X - raises"].violations == ("drill plugin test-pack raised RuntimeError: boom",)
    assert "returned str, not a LiveDrillResult" in by_name["Y - garbage"].violations[0]
    assert "no installed drill pack answered" in by_name["O - orphan"].violations[0]
    assert by_name["Z - fine"].passed
    assert [r.passed for r in report.results].count(True) == 1


def test_a_pack_that_cannot_list_is_reported_and_fails_the_run(config):
    class Broken:
        @hookimpl
        def drill_scenarios(self):
            raise ValueError("bad pack")

    with registered_plugin(Pack(scenario()), PACK), registered_plugin(Broken(), "broken-pack"):
        report = LiveDrillRunner(config).run_all()
    assert report.results[0].passed
    assert report.errors == (
        "drill pack broken-pack: drill_scenarios failed: ValueError: bad pack",
    )
    assert not report.passed


def test_select_by_exact_name_or_unique_prefix(config):
    drills = [scenario("A - one"), scenario("AB - two"), scenario("B - three")]
    runner = LiveDrillRunner(config)
    with registered_plugin(Pack(*drills), PACK):
        assert [s.name for s in runner.select("a - ONE")] == ["A - one"]
        assert [s.name for s in runner.select("B")] == ["B - three"]
        assert [s.name for s in runner.select("A - one")] == ["A - one"]
        with pytest.raises(DrillError, match="matches several drills"):
            runner.select("A")
        with pytest.raises(DrillError, match="no drill named 'C'"):
            runner.select("C")
        with pytest.raises(DrillError, match="no drill scenarios from pack 'other'"):
            runner.select(pack="other")


def test_an_unknown_override_fails_the_drill_with_one_line(config):
    with registered_plugin(Pack(scenario(env_overrides={"enable_live_tradng": True})), PACK):
        result = LiveDrillRunner(config).run_all().results[0]
    assert result.violations == (
        "drill set-up failed: DrillError: unknown environment override(s): enable_live_tradng",
    )


GATE_VALUES = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(list(TradingMode)),
        "enable_live_trading": st.booleans(),
        "live_mode_armed": st.booleans(),
        "live_dry_run_mode": st.booleans(),
        "confirm_token": st.sampled_from([None, "wrong", LIVE_CONFIRM_TOKEN]),
        "max_live_notional_total": st.sampled_from([None, 500.0]),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(overrides=GATE_VALUES, engaged=st.booleans())
def test_any_drill_leaves_config_and_state_untouched_and_hides_the_token(
    config, state_db, overrides, engaged
):
    files = [Path(config.source), state_db.path, Path(str(state_db.path) + "-wal")]
    before = [digest(p) for p in files]
    drill = scenario(env_overrides={**ALL_OPEN, **overrides}, kill_switch_engaged=engaged)
    with registered_plugin(Pack(drill), PACK):
        report = LiveDrillRunner(config).run_all()
    result: LiveDrillResult = report.results[0]
    assert [digest(p) for p in files] == before
    assert report.read_only_verified
    assert LIVE_CONFIRM_TOKEN not in repr(report.to_dict()) and "wrong" not in repr(result.details)
    assert result.details["kill_switch"] == ("ENGAGED" if engaged else "released")
    assert KillSwitch(state_db).state().engaged is False
