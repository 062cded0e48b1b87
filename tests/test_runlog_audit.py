"""The audit key: signed chain heads and the signed run sequence, checked by `runs verify`.

The attacker here has the database and sqlite3 (a database administrator): they edit a
record and recompute the blake2b chain and the run's head, delete whole runs, roll a run
back. Without the key nobody can sign, so with a key configured `runs verify` fails naming
the run; without a key it passes the chain check and says the chain is unkeyed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from hashlib import blake2b
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_core.orders import OrderExecutionResult, OrderRequest, OrderStatus
from peaktrade_core.runlog import AuditKeys, LiveRunLogger, verify_run
from peaktrade_core.state import StateStore

KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"
OTHER_KEY = "o" * 48
KEY_ENV = "PEAK_TRADE_AUDIT_KEY"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return Path(os.environ["PEAK_TRADE_DATA_DIR"])


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[state]\naudit_key = {{ env = "{KEY_ENV}" }}\n')
    return path


def record_run(data_dir: Path, key: str | None = KEY, batches: int = 3, finish: bool = True, retired: tuple[str, ...] = ()) -> str:
    store = StateStore.in_dir(data_dir)
    log = LiveRunLogger(store, audit=AuditKeys.from_texts(key, *retired) if key else None)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="audit", operator="alice")
    for b in range(batches):
        log.record_batch(run_id, b, {"mode": "paper"}, {"allowed": True}, executor="paper")
        for i in range(3):
            order = OrderRequest("BTC/EUR", "buy", 0.1, reference_price=100.0 + i, source_ref=f"{b}-{i}")
            log.record_order(run_id, OrderExecutionResult(order, OrderStatus.ACCEPTED))
        log.commit()
    if finish:
        log.finish_run(run_id, "finished", {"batches": batches})
    store.close()
    return run_id


def db(data_dir: Path) -> Path:
    return data_dir / "peaktrade.sqlite3"


def rechain(path: Path, run_id: str, seq: int, old: str = "BTC/EUR", new: str = "BTC/EUS", edit=None) -> None:
    """Edit record ``seq`` (replace ``old`` by ``new``, or ``edit(payload)``) and recompute
    every later hash and the run's head, as someone with the database (not the key) would."""
    conn = sqlite3.connect(path)
    (rid,) = conn.execute("SELECT rid FROM runlog_runs WHERE run_id = ?", (run_id,)).fetchone()
    prev = bytes(32)
    for s, payload in conn.execute("SELECT seq, payload FROM runlog_records WHERE rid = ? ORDER BY seq", (rid,)).fetchall():
        if s == seq:
            changed = edit(payload) if edit else payload.replace(old, new, 1)
            assert changed != payload
            payload = changed
            conn.execute("UPDATE runlog_records SET payload = ? WHERE rid = ? AND seq = ?", (payload, rid, s))
        prev = blake2b(prev + payload.encode(), digest_size=32).digest()
        conn.execute("UPDATE runlog_records SET hash = ? WHERE rid = ? AND seq = ?", (prev, rid, s))
    conn.execute("UPDATE runlog_runs SET head_hash = ? WHERE rid = ?", (prev, rid))
    conn.commit()
    conn.close()


def tamper(path: Path, sql: str, params=()) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def peaktrade(*args: str, config: Path | None = None, key: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    if key is not None:
        env[KEY_ENV] = key
    argv = [sys.executable, "-m", "peaktrade_core", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


# -- edited and re-chained ---------------------------------------------------------------


def test_an_edited_and_rechained_run_passes_the_chain_check_unkeyed_but_fails_with_the_key(data_dir, config):
    run_id = record_run(data_dir)
    rechain(db(data_dir), run_id, seq=4)

    unkeyed = peaktrade("runs", "verify", run_id)
    assert unkeyed.returncode == 0, unkeyed.stderr
    assert unkeyed.stdout.splitlines() == [
        f"{run_id}: ok, 8 records verified",
        "unkeyed: no [state] audit_key is configured, so an edit that recomputes the hash chain is not detected",
    ]
    assert json.loads(peaktrade("runs", "verify", run_id, "--json").stdout)[0]["audit"] == "unkeyed"

    keyed = peaktrade("runs", "verify", run_id, config=config, key=KEY)
    assert keyed.returncode == 1
    assert keyed.stdout.splitlines()[0] == (
        f"{run_id}: FAILED: head signature does not match: the run was edited and its hash chain recomputed"
    )
    assert "Traceback" not in keyed.stderr
    as_json = json.loads(peaktrade("runs", "verify", "--all", "--json", config=config, key=KEY).stdout)
    assert [(r["run_id"], r["ok"], r["audit"]) for r in as_json] == [(run_id, False, "signed")]


def test_an_intact_signed_run_verifies_with_its_head_signed_and_the_sequence_head_shown(data_dir, config):
    first, second = record_run(data_dir), record_run(data_dir, finish=False)
    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == [
        f"{first}: ok, 8 records verified, head signed",
        f"{second}: ok, 7 records verified, head signed",
        "2 runs: 2 ok, 0 FAILED",
    ]
    assert lines[3].startswith("signed run sequence: 3 entries, head 3:")  # 2 starts, 1 end


settings_ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_
@given(batches=st.integers(1, 4), data=st.data())
def test_any_record_edited_and_rechained_fails_only_with_the_key(tmp_path_factory, batches, data):
    store = StateStore(tmp_path_factory.mktemp("audit") / "state.sqlite3")
    audit = AuditKeys.from_texts(KEY)
    log = LiveRunLogger(store, audit=audit)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="audit")
    for b in range(batches):
        log.record_batch(run_id, b, {"mode": "paper"}, {"allowed": True}, executor="paper")
        for i in range(data.draw(st.integers(1, 4), label="orders")):
            log.record_order(run_id, OrderExecutionResult(OrderRequest("BTC/EUR", "sell", 1.0, reference_price=10.0 + i), OrderStatus.ACCEPTED))
        log.commit()
    if data.draw(st.booleans(), label="finished"):
        log.finish_run(run_id, "finished")
    n = verify_run(store, run_id).records
    seq = data.draw(st.integers(1, n - 1), label="record")
    digit = data.draw(st.integers(0, 9), label="digit of the timestamp")

    def backdate(payload: str) -> str:  # the record's time, changed; the counters stay right
        kind, at, ts, rest = payload.split(",", 3)
        i = min(digit, len(ts) - 1)
        return ",".join((kind, at, ts[:i] + str((int(ts[i]) + 1) % 10 if ts[i].isdigit() else 0) + ts[i + 1 :], rest))

    rechain(store.path, run_id, seq, edit=backdate)
    assert verify_run(store, run_id).ok  # the blake2b chain alone cannot tell
    keyed = verify_run(store, run_id, audit=audit)
    assert not keyed.ok
    assert "head signature does not match" in keyed.problems[0]
    store.close()


def test_a_run_rolled_back_to_an_earlier_signed_head_after_its_end_is_detected(data_dir, config):
    run_id = record_run(data_dir, batches=2, finish=False)
    path = db(data_dir)
    conn = sqlite3.connect(path)
    saved = conn.execute("SELECT head_seq, head_hash, head_sig, counts FROM runlog_runs WHERE run_id = ?", (run_id,)).fetchone()
    conn.close()
    store = StateStore.in_dir(data_dir)  # the run goes on and ends (another logger, same key)
    log = LiveRunLogger(store, audit=AuditKeys.from_texts(KEY))
    log.mark_aborted_runs()  # this process is alive: nothing marked
    store.close()
    record_run(data_dir)  # a later run, so the sequence goes on
    # the run ends: the administrator removes its end and restores the earlier signed head
    store = StateStore.in_dir(data_dir)
    LiveRunLogger(store, audit=AuditKeys.from_texts(KEY))._abort(run_id, "test: ended")
    store.close()
    tamper(path, "DELETE FROM runlog_records WHERE seq > ? AND rid = (SELECT rid FROM runlog_runs WHERE run_id = ?)", (saved[0], run_id))
    tamper(
        path,
        "UPDATE runlog_runs SET status = 'running', ended_at = NULL, summary = NULL, head_seq = ?, head_hash = ?, head_sig = ?, counts = ?"
        " WHERE run_id = ?",
        (*saved, run_id),
    )
    out = peaktrade("runs", "verify", run_id, config=config, key=KEY)
    assert out.returncode == 1
    assert f"the signed run sequence says it ended at record {saved[0] + 1}, but its head is record {saved[0]}" in out.stdout


# -- deleted runs ------------------------------------------------------------------------


def test_a_deleted_whole_run_is_named_by_verify_all(data_dir, config):
    first, middle, last = (record_run(data_dir) for _ in range(3))
    path = db(data_dir)
    tamper(path, "DELETE FROM runlog_records WHERE rid = (SELECT rid FROM runlog_runs WHERE run_id = ?)", (middle,))
    tamper(path, "DELETE FROM runlog_runs WHERE run_id = ?", (middle,))
    assert peaktrade("runs", "verify", "--all").returncode == 0  # unkeyed: nothing to compare with

    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 1
    assert f"{middle}: FAILED: deleted: the signed run sequence records its start (entry 3) but the run is not in the store" in out.stdout
    assert f"{first}: ok" in out.stdout and f"{last}: ok" in out.stdout
    assert "3 runs: 2 ok, 1 FAILED" in out.stdout
    one = peaktrade("runs", "verify", middle, config=config, key=KEY)  # by its id, too
    assert one.returncode == 1 and one.stdout.startswith(f"{middle}: FAILED: deleted")


def test_a_run_deleted_with_its_sequence_entries_leaves_a_gap(data_dir, config):
    runs = [record_run(data_dir) for _ in range(3)]
    path = db(data_dir)
    tamper(path, "DELETE FROM runlog_records WHERE rid = (SELECT rid FROM runlog_runs WHERE run_id = ?)", (runs[1],))
    tamper(path, "DELETE FROM runlog_runs WHERE run_id = ?", (runs[1],))
    tamper(path, "DELETE FROM runlog_sequence WHERE run_id = ?", (runs[1],))
    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 1
    assert "FAILED: signed run sequence: entries 3..4 deleted (whole runs deleted?)" in out.stdout
    rows = json.loads(peaktrade("runs", "verify", "--all", "--json", config=config, key=KEY).stdout)
    assert rows[-1] == {"run_id": None, "ok": False, "records": 0, "problems": ["signed run sequence: entries 3..4 deleted (whole runs deleted?)"], "audit": "sequence"}


def test_a_stripped_signature_is_not_taken_for_a_run_from_before_the_key(data_dir, config):
    old = record_run(data_dir, key=None)  # before the key was configured
    signed, stripped = record_run(data_dir), record_run(data_dir)
    tamper(db(data_dir), "UPDATE runlog_runs SET head_sig = NULL, audit_key_id = NULL WHERE run_id = ?", (stripped,))
    tamper(db(data_dir), "DELETE FROM runlog_sequence WHERE run_id = ?", (stripped,))  # the newest entries: no gap
    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0] == f"{old}: ok, 8 records verified, not signed (started before the audit key was configured)"
    assert lines[1] == f"{signed}: ok, 8 records verified, head signed"
    assert lines[2].startswith(f"{stripped}: FAILED: not signed, but runs started before it are")


# -- keys --------------------------------------------------------------------------------


def test_a_wrong_key_fails_clearly_naming_the_key_ids(data_dir, config):
    run_id = record_run(data_dir)
    out = peaktrade("runs", "verify", run_id, config=config, key=OTHER_KEY)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    want, have = AuditKeys.from_texts(KEY).current.key_id, AuditKeys.from_texts(OTHER_KEY).current.key_id
    assert out.stdout.splitlines()[0] == (
        f"{run_id}: FAILED: signed run sequence entry 1: signed with an audit key that is not configured "
        f"(key id {want}; the configured key's id is {have})"
    )
    assert f"signed with an audit key that is not configured (key id {want}" in out.stdout.splitlines()[1]


def test_an_unset_or_short_key_is_one_line_and_exit_2(data_dir, config):
    record_run(data_dir)
    unset = peaktrade("runs", "verify", config=config)
    assert unset.returncode == 2 and unset.stdout == ""
    assert unset.stderr.strip() == f"{config}: [state] audit_key (env:{KEY_ENV}): environment variable {KEY_ENV} is not set"
    short = peaktrade("runs", "verify", config=config, key="secret")
    assert short.returncode == 2 and len(short.stderr.strip().splitlines()) == 1
    assert "too short (6 characters, at least 32)" in short.stderr and "secret\n" not in short.stderr


def test_after_rotation_runs_signed_with_a_retired_key_still_verify(data_dir, tmp_path, config):
    old_run = record_run(data_dir, key=OTHER_KEY)
    new_run = record_run(data_dir, key=KEY, retired=(OTHER_KEY,))
    rotated = tmp_path / "rotated.toml"
    rotated.write_text(f'[state]\naudit_key = {{ env = "{KEY_ENV}" }}\nretired_audit_keys = [{{ env = "PEAK_TRADE_AUDIT_KEY_OLD" }}]\n')
    os.environ["PEAK_TRADE_AUDIT_KEY_OLD"] = OTHER_KEY
    try:
        out = peaktrade("runs", "verify", "--all", config=rotated, key=KEY)
    finally:
        del os.environ["PEAK_TRADE_AUDIT_KEY_OLD"]
    assert out.returncode == 0, out.stdout
    assert f"{old_run}: ok, 8 records verified, head signed" in out.stdout
    assert f"{new_run}: ok, 8 records verified, head signed" in out.stdout
    without_old = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert without_old.returncode == 1
    assert f"{old_run}: FAILED: signed run sequence entry 1: signed with an audit key that is not configured" in without_old.stdout


def test_a_session_signs_its_run_with_the_configured_key_and_refuses_without_it(tmp_path, config, monkeypatch):
    import peaktrade_core.cli_session as session
    from peaktrade_core.cli import cli
    from peaktrade_core.runlog import list_runs
    from peaktrade_core.testing import FillingExecutor

    original = session._make_pipeline
    monkeypatch.setattr(session, "_make_pipeline", lambda env, record=True, executor=None: original(env, record=record, executor=FillingExecutor()))
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    refused = CliRunner().invoke(cli, ["--config", str(config), "session", "run", "--orders", str(orders)])
    assert refused.exit_code == 2
    assert refused.output.strip().endswith(f"audit_key (env:{KEY_ENV}): environment variable {KEY_ENV} is not set")
    data = Path(os.environ["PEAK_TRADE_DATA_DIR"])
    assert not db(data).exists() or list_runs(StateStore.in_dir(data)) == []

    monkeypatch.setenv(KEY_ENV, KEY)
    ran = CliRunner().invoke(cli, ["--config", str(config), "session", "run", "--orders", str(orders), "--json"])
    assert ran.exit_code == 0, ran.output
    out = peaktrade("runs", "verify", config=config, key=KEY)
    assert out.returncode == 0 and out.stdout.splitlines()[0].endswith("head signed"), out.stdout


def test_a_run_from_before_the_key_aborted_by_a_keyed_process_stays_unsigned_and_verifies(data_dir):
    run_id = record_run(data_dir, key=None, finish=False)
    tamper(db(data_dir), "UPDATE runlog_runs SET proc_start = 'a process since gone' WHERE run_id = ?", (run_id,))
    store = StateStore.in_dir(data_dir)
    audit = AuditKeys.from_texts(KEY)
    assert LiveRunLogger(store, audit=audit).mark_aborted_runs() == [run_id]
    verdict = verify_run(store, run_id, audit=audit)
    assert verdict.ok and verdict.audit == "before-key", verdict.problems
    store.close()
