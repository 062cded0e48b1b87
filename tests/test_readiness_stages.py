"""The stage model on a real state store: stages are entered in order, only with the
evidence met, stage 4 only with two different people; whatever sequence of sign-offs is
attempted, the stage reached never runs ahead of that (a hypothesis property)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.alerts import AlertDelivery, AlertEvent, AlertHistory, AlertLevel
from peaktrade_core.config import load_config
from peaktrade_core.health import Check, record_result
from peaktrade_core.readiness import (
    SIGNERS_NEEDED,
    Criteria,
    ReadinessError,
    current_stage,
    evaluate,
    sign_off,
    signoffs,
)
from peaktrade_core.runlog import LiveRunLogger
from peaktrade_core.testing import initialised_store

CONFIG = """
[environment]
max_live_notional_per_order = 100.0
max_live_notional_total = 500.0
live_allowed_symbols = ["BTC/EUR"]

[live_risk]
max_order_notional = 100.0
max_total_exposure_notional = 500.0
max_daily_loss_abs = 50.0
"""
ANY = Criteria(days=7, min_sessions=1, min_hours=0)


@pytest.fixture
def world(tmp_path):
    """Every record stage 4 asks for: an initialised store, a passing drill run, a passed
    health check, a delivered alert, clean testnet (validate-only and placing) and shadow
    sessions, and a config with the live limits set."""
    (tmp_path / "config.toml").write_text(CONFIG)
    config = load_config(str(tmp_path / "config.toml"))
    data = Path(os.environ["PEAK_TRADE_DATA_DIR"])
    store = initialised_store(data)
    (data / "drills.jsonl").write_text(json.dumps({"at": "2999-01-01T00:00:00+00:00", "passed": True, "read_only_verified": True}) + "\n")
    record_result(store, "pre-open", [Check("config", "ok", "valid")])
    event = AlertEvent(AlertLevel.INFO, "cli", "alert_test", "test")
    history = AlertHistory(store)
    history.record([event], ["log"])
    history.mark(event.id, AlertDelivery("log", True))
    log = LiveRunLogger(store)
    for effective in ("testnet_validate_only", "testnet", "shadow"):
        run_id = log.start_run(mode=effective.split("_")[0], effective_mode=effective, strategy="s")
        log.finish_run(run_id, "finished", {})
    yield config, store
    store.close()


def test_with_every_record_in_place_each_stage_is_met(world):
    config, store = world
    items = evaluate(config, store, 4, ANY)
    assert [i.key for i in items if not i.met and i.measurable] == []
    assert {i.stage for i in items if not i.measurable} == {1, 2, 3, 4}  # manual items of every stage listed


def test_stage_4_needs_two_different_people(world):
    config, store = world
    for stage in (1, 2, 3):
        sign_off(config, store, stage, "reviewed", "alice", ANY)
    first = sign_off(config, store, 4, "go", "alice", ANY)
    assert (first["signatures"], first["needed"], first["current_stage"]) == (1, 2, 3)
    with pytest.raises(ReadinessError, match="alice has signed stage 4 already; a second person must sign"):
        sign_off(config, store, 4, "go again", "alice", ANY)
    second = sign_off(config, store, 4, "go", "bob", ANY)
    assert second["current_stage"] == 4 == current_stage(store)


def test_missing_live_limits_keep_stage_4_closed(world, tmp_path):
    _, store = world
    (tmp_path / "bare.toml").write_text(CONFIG.replace("max_live_notional_per_order = 100.0\n", ""))
    bare = load_config(str(tmp_path / "bare.toml"))
    for stage in (1, 2, 3):
        sign_off(bare, store, stage, "reviewed", "alice", ANY)
    with pytest.raises(ReadinessError, match="item live_limits_set is not met: not set: environment.max_live_notional_per_order"):
        sign_off(bare, store, 4, "go", "bob", ANY)
    assert current_stage(store) == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(st.tuples(st.integers(1, 4), st.sampled_from(["alice", "bob", "carol"])), max_size=12))
def test_no_sequence_of_sign_offs_skips_a_stage_or_the_second_person(world, attempts):
    config, store = world
    signoffs(store)  # the table exists
    with store.transaction() as conn:  # each example starts at stage 0
        conn.execute("DELETE FROM readiness_signoffs")
    for stage, person in attempts:
        before = current_stage(store)
        try:
            sign_off(config, store, stage, "r", person, ANY)
        except ReadinessError:
            assert current_stage(store) == before  # a refusal changes nothing
            continue
        assert stage == before + 1  # only the next stage can be signed
        after = current_stage(store)
        assert after - before in (0, 1)
    reached = current_stage(store)
    signers: dict[int, set[str]] = {}
    for s in signoffs(store):
        signers.setdefault(s["stage"], set()).add(s["operator"])
    for n in range(1, reached + 1):
        assert len(signers.get(n, ())) >= SIGNERS_NEEDED[n]
    assert all(n <= reached + 1 for n in signers)  # nobody signed past the next stage
