"""The audit key: signed chain heads and the signed run sequence, checked by `runs verify`.

The attacker here has the database (a database administrator, SQL through a connection of
their own): they edit a record and recompute the blake2b chain and the run's head, delete
whole runs, roll a run back. Without the key nobody can sign, so with a key configured
`runs verify` fails naming the run; without a key it passes the chain check and says the
chain is unkeyed. The attacks run on SQLite and on PostgreSQL (a real server)."""

from __future__ import annotations

import json
import os
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
from peaktrade_core.store import open_store_url

KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"
OTHER_KEY = "o" * 48
KEY_ENV = "PEAK_TRADE_AUDIT_KEY"


@pytest.fixture
def url(any_store_url: str) -> str:
    """The store under attack: an SQLite file, then a PostgreSQL database."""
    return any_store_url


def write_config(path: Path, url: str | None, keyed: bool = True) -> Path:
    lines = ["[state]"]
    if url:
        lines.append(f'url = "{url}"')
    if keyed:
        lines.append(f'audit_key = {{ env = "{KEY_ENV}" }}')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config(tmp_path, url) -> Path:
    return write_config(tmp_path / "config.toml", url)


@pytest.fixture
def unkeyed(tmp_path, url) -> Path:
    return write_config(tmp_path / "unkeyed.toml", url, keyed=False)


def record_run(url: str, key: str | None = KEY, batches: int = 3, finish: bool = True, retired: tuple[str, ...] = ()) -> str:
    with open_store_url(url) as store:
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
    return run_id


def tamper(url: str, sql: str, params=()) -> None:
    """SQL behind the logger's back, on a connection of the attacker's own."""
    with open_store_url(url) as store, store.transaction() as conn:
        conn.execute(sql, params)


def rechain(url: str, run_id: str, seq: int, old: str = "BTC/EUR", new: str = "BTC/EUS", edit=None) -> None:
    """Edit record ``seq`` (replace ``old`` by ``new``, or ``edit(payload)``) and recompute
    every later hash and the run's head, as someone with the database (not the key) would."""
    with open_store_url(url) as store, store.transaction() as conn:
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


def delete_run(url: str, run_id: str, with_sequence: bool = False) -> None:
    tamper(url, "DELETE FROM runlog_records WHERE rid = (SELECT rid FROM runlog_runs WHERE run_id = ?)", (run_id,))
    tamper(url, "DELETE FROM runlog_runs WHERE run_id = ?", (run_id,))
    if with_sequence:
        tamper(url, "DELETE FROM runlog_sequence WHERE run_id = ?", (run_id,))


def peaktrade(*args: str, config: Path | None = None, key: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    if key is not None:
        env[KEY_ENV] = key
    argv = [sys.executable, "-m", "peaktrade_core", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


# -- edited and re-chained ---------------------------------------------------------------


def test_an_edited_and_rechained_run_passes_the_chain_check_unkeyed_but_fails_with_the_key(url, config, unkeyed):
    run_id = record_run(url)
    rechain(url, run_id, seq=4)

    plain = peaktrade("runs", "verify", run_id, config=unkeyed)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [
        f"{run_id}: OK, 8 records verified",
        "unkeyed: no [state] audit_key is configured, so an edit that recomputes the hash chain is not detected",
    ]
    assert json.loads(peaktrade("runs", "verify", run_id, "--json", config=unkeyed).stdout)[0]["audit"] == "unkeyed"

    keyed = peaktrade("runs", "verify", run_id, config=config, key=KEY)
    assert keyed.returncode == 1
    assert keyed.stdout.splitlines()[0] == (
        f"{run_id}: FAILED: head signature does not match: the run was edited and its hash chain recomputed"
    )
    assert "Traceback" not in keyed.stderr
    as_json = json.loads(peaktrade("runs", "verify", "--all", "--json", config=config, key=KEY).stdout)
    assert [(r["run_id"], r["ok"], r["audit"]) for r in as_json] == [(run_id, False, "signed")]


def test_an_intact_signed_run_verifies_with_its_head_signed_and_the_sequence_head_shown(url, config):
    first, second = record_run(url), record_run(url, finish=False)
    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == [
        f"{first}: OK, 8 records verified, head signed",
        f"{second}: OK, 7 records verified, head signed",
        "2 runs: 2 OK, 0 FAILED",
    ]
    assert lines[3].startswith("signed run sequence: 3 entries, head 3:")  # 2 starts, 1 end


settings_ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings_
@given(batches=st.integers(1, 4), data=st.data())
def test_any_record_edited_and_rechained_fails_only_with_the_key(tmp_path_factory, batches, data):
    path = tmp_path_factory.mktemp("audit") / "state.sqlite3"
    audit = AuditKeys.from_texts(KEY)
    with StateStore(path) as store:
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

    rechain(str(path), run_id, seq, edit=backdate)
    with StateStore(path) as store:
        assert verify_run(store, run_id).ok  # the blake2b chain alone cannot tell
        keyed = verify_run(store, run_id, audit=audit)
    assert not keyed.ok
    assert "head signature does not match" in keyed.problems[0]


def test_a_run_rolled_back_to_an_earlier_signed_head_after_its_end_is_detected(url, config):
    run_id = record_run(url, batches=2, finish=False)
    (saved,) = open_store_url(url).query("SELECT head_seq, head_hash, head_sig, counts FROM runlog_runs WHERE run_id = ?", (run_id,))
    saved = tuple(saved[i] for i in range(4))
    record_run(url)  # a later run, so the sequence goes on
    tamper(url, "UPDATE runlog_runs SET proc_start = 'a process since gone' WHERE run_id = ?", (run_id,))
    with open_store_url(url) as store:  # the run ends: marked aborted by a keyed process
        assert LiveRunLogger(store, audit=AuditKeys.from_texts(KEY)).mark_aborted_runs() == [run_id]
    # the administrator removes its end and restores the earlier signed head
    tamper(url, "DELETE FROM runlog_records WHERE seq > ? AND rid = (SELECT rid FROM runlog_runs WHERE run_id = ?)", (saved[0], run_id))
    tamper(
        url,
        "UPDATE runlog_runs SET status = 'running', ended_at = NULL, summary = NULL, head_seq = ?, head_hash = ?, head_sig = ?, counts = ?"
        " WHERE run_id = ?",
        (*saved, run_id),
    )
    out = peaktrade("runs", "verify", run_id, config=config, key=KEY)
    assert out.returncode == 1
    assert f"the signed run sequence says it ended at record {saved[0] + 1}, but its head is record {saved[0]}" in out.stdout


# -- deleted runs ------------------------------------------------------------------------


def test_a_deleted_whole_run_is_named_by_verify_all(url, config, unkeyed):
    first, middle, last = (record_run(url) for _ in range(3))
    delete_run(url, middle)
    assert peaktrade("runs", "verify", "--all", config=unkeyed).returncode == 0  # unkeyed: nothing to compare with

    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 1
    assert f"{middle}: FAILED: deleted: the signed run sequence records its start (entry 3) but the run is not in the store" in out.stdout
    assert f"{first}: OK" in out.stdout and f"{last}: OK" in out.stdout
    assert "3 runs: 2 OK, 1 FAILED" in out.stdout
    one = peaktrade("runs", "verify", middle, config=config, key=KEY)  # by its id, too
    assert one.returncode == 1 and one.stdout.startswith(f"{middle}: FAILED: deleted")


def test_a_run_deleted_with_its_sequence_entries_leaves_a_gap(url, config):
    runs = [record_run(url) for _ in range(3)]
    delete_run(url, runs[1], with_sequence=True)
    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 1
    assert "FAILED: signed run sequence: entries 3..4 deleted (whole runs deleted?)" in out.stdout
    rows = json.loads(peaktrade("runs", "verify", "--all", "--json", config=config, key=KEY).stdout)
    assert rows[-1] == {"run_id": None, "ok": False, "records": 0, "problems": ["signed run sequence: entries 3..4 deleted (whole runs deleted?)"], "audit": "sequence"}


def test_a_stripped_signature_is_not_taken_for_a_run_from_before_the_key(url, config):
    old = record_run(url, key=None)  # before the key was configured
    signed, stripped = record_run(url), record_run(url)
    tamper(url, "UPDATE runlog_runs SET head_sig = NULL, audit_key_id = NULL WHERE run_id = ?", (stripped,))
    tamper(url, "DELETE FROM runlog_sequence WHERE run_id = ?", (stripped,))  # the newest entries: no gap
    out = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0] == f"{old}: OK, 8 records verified, not signed (started before the audit key was configured)"
    assert lines[1] == f"{signed}: OK, 8 records verified, head signed"
    assert lines[2].startswith(f"{stripped}: FAILED: not signed, but runs started before it are")


# -- keys --------------------------------------------------------------------------------


def test_a_wrong_key_fails_clearly_naming_the_key_ids(url, config):
    run_id = record_run(url)
    out = peaktrade("runs", "verify", run_id, config=config, key=OTHER_KEY)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    want, have = AuditKeys.from_texts(KEY).current.key_id, AuditKeys.from_texts(OTHER_KEY).current.key_id
    assert out.stdout.splitlines()[0] == (
        f"{run_id}: FAILED: signed run sequence entry 1: signed with an audit key that is not configured "
        f"(key id {want}; the configured key's id is {have})"
    )
    assert f"signed with an audit key that is not configured (key id {want}" in out.stdout.splitlines()[1]


@pytest.fixture
def sqlite_config(tmp_path) -> Path:
    """The default store (SQLite in the data dir) with the audit key."""
    return write_config(tmp_path / "config.toml", None)


def test_an_unset_or_short_key_is_one_line_and_exit_2(sqlite_config):
    record_run(f"sqlite://{Path(os.environ['PEAK_TRADE_DATA_DIR']) / 'peaktrade.sqlite3'}")
    unset = peaktrade("runs", "verify", config=sqlite_config)
    assert unset.returncode == 2 and unset.stdout == ""
    assert unset.stderr.strip() == f"{sqlite_config}: [state] audit_key (env:{KEY_ENV}): environment variable {KEY_ENV} is not set"
    short = peaktrade("runs", "verify", config=sqlite_config, key="secret")
    assert short.returncode == 2 and len(short.stderr.strip().splitlines()) == 1
    assert "too short (6 characters, at least 32)" in short.stderr and "secret\n" not in short.stderr


def test_after_rotation_runs_signed_with_a_retired_key_still_verify(url, tmp_path, config):
    old_run = record_run(url, key=OTHER_KEY)
    new_run = record_run(url, key=KEY, retired=(OTHER_KEY,))
    rotated = tmp_path / "rotated.toml"
    rotated.write_text(config.read_text() + 'retired_audit_keys = [{ env = "PEAK_TRADE_AUDIT_KEY_OLD" }]\n')
    os.environ["PEAK_TRADE_AUDIT_KEY_OLD"] = OTHER_KEY
    try:
        out = peaktrade("runs", "verify", "--all", config=rotated, key=KEY)
    finally:
        del os.environ["PEAK_TRADE_AUDIT_KEY_OLD"]
    assert out.returncode == 0, out.stdout
    assert f"{old_run}: OK, 8 records verified, head signed" in out.stdout
    assert f"{new_run}: OK, 8 records verified, head signed" in out.stdout
    without_old = peaktrade("runs", "verify", "--all", config=config, key=KEY)
    assert without_old.returncode == 1
    assert f"{old_run}: FAILED: signed run sequence entry 1: signed with an audit key that is not configured" in without_old.stdout


def test_a_session_signs_its_run_with_the_configured_key_and_refuses_without_it(tmp_path, sqlite_config, monkeypatch):
    import peaktrade_core.cli_session as session
    from peaktrade_core.cli import cli
    from peaktrade_core.runlog import list_runs
    from peaktrade_core.testing import FillingExecutor

    original = session._make_pipeline
    monkeypatch.setattr(session, "_make_pipeline", lambda env, record=True, executor=None: original(env, record=record, executor=FillingExecutor()))
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    refused = CliRunner().invoke(cli, ["--config", str(sqlite_config), "session", "run", "--orders", str(orders)])
    assert refused.exit_code == 2
    assert refused.output.strip().endswith(f"audit_key (env:{KEY_ENV}): environment variable {KEY_ENV} is not set")
    db = Path(os.environ["PEAK_TRADE_DATA_DIR"]) / "peaktrade.sqlite3"
    assert not db.exists() or list_runs(StateStore(db)) == []

    monkeypatch.setenv(KEY_ENV, KEY)
    ran = CliRunner().invoke(cli, ["--config", str(sqlite_config), "session", "run", "--orders", str(orders), "--json"])
    assert ran.exit_code == 0, ran.output
    out = peaktrade("runs", "verify", config=sqlite_config, key=KEY)
    assert out.returncode == 0 and out.stdout.splitlines()[0].endswith("head signed"), out.stdout


def test_a_run_from_before_the_key_aborted_by_a_keyed_process_stays_unsigned_and_verifies(url):
    run_id = record_run(url, key=None, finish=False)
    tamper(url, "UPDATE runlog_runs SET proc_start = 'a process since gone' WHERE run_id = ?", (run_id,))
    audit = AuditKeys.from_texts(KEY)
    with open_store_url(url) as store:
        assert LiveRunLogger(store, audit=audit).mark_aborted_runs() == [run_id]
        verdict = verify_run(store, run_id, audit=audit)
    assert verdict.ok and verdict.audit == "before-key", verdict.problems
