"""A run log written before the run-log package (the old table layout, no audit columns)
keeps working: opened by this version, signed from then on, copied into PostgreSQL by
`peaktrade state migrate`, where every chain verifies and new runs are recorded."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from peaktrade_core.runlog import AuditKeys, LiveRunLogger, list_runs, verify_run, verify_sequence
from peaktrade_core.store import open_store_url

KEY = "m" * 40

#: the tables as the run log created them before this version
OLD_TABLES = """
CREATE TABLE runlog_runs (
    rid INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL, effective_mode TEXT NOT NULL,
    config_sha256 TEXT NOT NULL, operator TEXT NOT NULL, strategy TEXT NOT NULL, strategy_params TEXT NOT NULL,
    plugin_versions TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL, pid INTEGER NOT NULL,
    host TEXT NOT NULL, proc_start TEXT NOT NULL, durability TEXT NOT NULL, summary TEXT, heartbeat_at REAL NOT NULL,
    head_seq INTEGER NOT NULL, head_hash BLOB NOT NULL, counts TEXT NOT NULL
);
CREATE INDEX runlog_runs_status ON runlog_runs (status);
CREATE TABLE runlog_records (
    rid INTEGER NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (rid, seq)
) WITHOUT ROWID;
"""


def write_run(store, audit=None) -> str:
    log = LiveRunLogger(store, audit=audit)
    run_id = log.start_run(mode="paper", effective_mode="paper", strategy="migrate")
    log.record_event(run_id, "session", {"n": 1})
    log.finish_run(run_id, "finished")
    return run_id


def test_an_old_store_is_signed_from_then_on_and_migrates_to_postgresql_with_every_chain_verified(tmp_path, postgres_url):
    data_dir = Path(os.environ["PEAK_TRADE_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "peaktrade.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_TABLES)
    conn.close()
    audit = AuditKeys.from_texts(KEY)
    with open_store_url(str(path)) as store:
        before = write_run(store)  # unkeyed, in the old layout's tables
        signed = write_run(store, audit)
        assert verify_run(store, before, audit=audit).audit == "before-key"
        assert verify_run(store, signed, audit=audit).audit == "signed"

    done = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "state", "migrate", "--to", postgres_url],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run log: 2 of 2 run(s) verify on the copy" in done.stdout

    with open_store_url(postgres_url) as target:
        after = write_run(target, audit)  # new runs get ids after the copied ones
        sequence = verify_sequence(target, audit)
        verdicts = {r.run_id: verify_run(target, r.run_id, audit=audit, sequence=sequence) for r in list_runs(target)}
    assert list(verdicts) == [before, signed, after]
    assert all(v.ok for v in verdicts.values()), {r: v.problems for r, v in verdicts.items()}
    assert [v.audit for v in verdicts.values()] == ["before-key", "signed", "signed"]
    assert sequence.entries == 4 and not sequence.problems
