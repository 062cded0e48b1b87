"""Shared state in the data directory: one SQLite file (WAL), one small interface.

Everything that must outlive a process or be shared between processes goes through
:class:`StateStore`: the kill switch, the run log, the alert history, risk records, the
drill log. A later PostgreSQL store implements the same methods.

The store has an identity (see :func:`check_state`): losing, emptying or replacing it, or
deleting kill-switch events, is detected, and testnet/live refuse to trade until a person
runs ``peaktrade state init --reason``. The design is in docs/operators.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen

STATE_FILE = "peaktrade.sqlite3"
#: next to the store: the identity the data dir expects and the kill-switch chain head, so
#: a deleted, emptied or swapped store (or deleted events) cannot pass for a good one
IDENTITY_FILE = "peaktrade.identity"
DATA_DIR_ENV_VAR = "PEAK_TRADE_DATA_DIR"
#: config keys that move the state store: a governance decision, never ``config set``
GOVERNED_STATE_KEYS = frozenset({"state.data_dir", "state.audit_key", "state.retired_audit_keys"})
#: modes that refuse to trade on a store without a person-recorded, intact identity
GUARDED_MODES = frozenset({"testnet", "live"})


class StateError(Exception):
    """The state store cannot be opened or read (damaged file, unwritable directory)."""


class StateIdentityError(StateError):
    """The state store is missing, empty, replaced or altered: testnet/live refuse to trade."""


def now_iso() -> str:
    """Event times: UTC with microseconds (older rows with seconds stay readable)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def current_operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still record something honest
        return "unknown"


def resolve_data_dir(configured: str | None = None) -> Path:
    """``$PEAK_TRADE_DATA_DIR``, else ``[state] data_dir``, else the per-user data dir."""
    explicit = os.environ.get(DATA_DIR_ENV_VAR) or configured
    if explicit:
        try:
            return Path(explicit).expanduser()
        except RuntimeError:  # "~nosuchuser": taken literally, never a traceback
            return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "peaktrade"


def lenient_data_dir(config_path: Path | None) -> Path:
    """The data dir without validating the config: the emergency stop must work while the
    file is broken. Reads ``[state] data_dir`` line by line if the TOML does not parse."""
    configured = None
    if config_path is not None:
        try:
            text = config_path.read_text(encoding="utf-8", errors="replace")[:1_000_000]
        except OSError:
            text = ""
        configured = _state_data_dir(text)
    return resolve_data_dir(configured)


def _state_data_dir(text: str) -> str | None:
    import tomllib

    try:
        value = tomllib.loads(text).get("state", {}).get("data_dir")
        return value if isinstance(value, str) else None
    except (tomllib.TOMLDecodeError, AttributeError):
        pass
    import re

    section = None
    for line in text.splitlines():
        stripped = line.strip()
        header = re.match(r"\[\s*([^\]]*?)\s*\]", stripped)
        if header:
            section = header.group(1)
        elif section == "state" and stripped.partition("=")[0].strip() == "data_dir":
            try:
                value = tomllib.loads("v = " + stripped.partition("=")[2])["v"]
            except tomllib.TOMLDecodeError:
                return None
            return value if isinstance(value, str) else None
    return None


class StateStore:
    """A thread-safe handle on the state database. Each subsystem creates its own tables
    with :meth:`ensure_schema`; all of them share the connection's WAL journal."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL"):
        self.path = Path(path)
        self.in_memory = str(path) == ":memory:"
        try:
            if not self.in_memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute("PRAGMA busy_timeout=30000")
            # fewer, larger WAL checkpoints: each one syncs, and at 100k orders/s the default
            # (1,000 pages) checkpoints every few batches
            self._conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # damaged? say so now
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise  # cannot open (permissions, a sandbox): not a damaged file
            raise StateError(f"state store {self.path}: {damage(exc)}") from None
        self._lock = threading.RLock()
        self._schemas: set[str] = set()

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str], **kwargs: Any) -> StateStore:
        return cls(Path(data_dir) / STATE_FILE, **kwargs)

    def ensure_schema(self, name: str, ddl: str) -> None:
        if name in self._schemas:
            return
        with self._lock:
            self._conn.executescript(ddl)
            self._schemas.add(name)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: writers serialise across processes."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, tuple(params))
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    def require_durable_commits(self) -> None:
        """Every commit of this handle synced to disk before it returns (survives power loss)."""
        with self._lock:
            self._conn.execute("PRAGMA synchronous=FULL")

    def data_version(self) -> int:
        """Changes whenever *another* connection commits: a cheap "did anything change?"."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def version(self) -> tuple[int, int]:
        """Changes on every commit by anyone: other connections (``data_version``) and this
        one (``total_changes``, which ``data_version`` does not see)."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes

    def add_column(self, table: str, column: str, decl: str) -> None:
        """Add a column to a table of an older store (once per handle)."""
        key = f"{table}.{column}"
        if key in self._schemas:
            return
        with self._lock:
            names = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in names:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            self._schemas.add(key)

    @property
    def identity_file(self) -> Path | None:
        return None if self.in_memory else self.path.parent / IDENTITY_FILE

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def damage(exc: BaseException) -> str:
    """One line for an error opening or reading the store."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return f"damaged ({exc}); see 'State store lost, replaced or damaged' in docs/operators.md"
    return str(getattr(exc, "strerror", None) or exc)


# -- identity -----------------------------------------------------------------------------

_IDENTITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_identity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('person', 'automatic')),
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    previous_store_id TEXT,
    found TEXT
);
"""


def chain_hash(previous: str, event: Mapping[str, Any]) -> str:
    """Each kill-switch event seals the one before it: a deleted or edited event breaks the
    chain, and the head recorded in the identity file reveals deleted last events."""
    fields = (previous, event["action"], event["operator"], event["reason"], event["at"], event["source"])
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


@frozen
class StateCheck:
    """What :func:`check_state` found. ``kind``: ok, in-memory, automatic (created by a
    paper/shadow session), uninitialised, lost, file-missing, replaced, altered, unreadable."""

    store: str
    kind: str
    problem: str | None = None
    identity: dict[str, Any] | None = None
    events: int = 0

    def problem_for(self, mode: str) -> str | None:
        """The problem ``mode`` has with this store (``None``: none). Testnet/live refuse to
        trade on any; paper/shadow create a new store and warn about the others."""
        guarded = mode in GUARDED_MODES
        if self.kind == "automatic" and guarded:
            return f"state store {self.store} was created by a paper/shadow session, not initialised by a person"
        if self.kind == "uninitialised" and not guarded:
            return None
        return self.problem

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "status": self.kind, "problem": self.problem, "identity": self.identity, "kill_switch_events": self.events}


def _identity_row(conn: Any) -> dict[str, Any] | None:
    cur = conn.execute("SELECT store_id, kind, operator, reason, at, previous_store_id FROM state_identity ORDER BY id DESC LIMIT 1")
    row = cur.fetchone()
    keys = ("store_id", "kind", "operator", "reason", "at", "previous_store_id")
    return dict(zip(keys, row, strict=True)) if row else None


def _event_rows(conn: Any) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT id, action, operator, reason, at, source, chain FROM kill_switch_events ORDER BY id")
    keys = ("id", "action", "operator", "reason", "at", "source", "chain")
    return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]


def _prepare(store: StateStore) -> None:
    from peaktrade_core.killswitch import KillSwitch

    KillSwitch(store)  # its table, with the chain column
    store.ensure_schema("state_identity", _IDENTITY_SCHEMA)


def read_identity_file(path: Path) -> dict[str, Any] | None:
    """``None`` if there is none; :class:`StateError` if it is not what we wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: unreadable identity file ({exc})") from None
    ks = data.get("kill_switch") if isinstance(data, dict) else None
    if not (isinstance(data.get("store_id"), str) and isinstance(ks, dict) and isinstance(ks.get("events"), int)):
        raise StateError(f"{path}: unreadable identity file (not written by peaktrade)")
    return data


def check_state(store: StateStore) -> StateCheck:
    """Compare the store with the identity file next to it. Reads only."""
    where = str(store.path)
    if store.in_memory:
        return StateCheck(where, "in-memory")  # made by code for one process (drills, tests)
    _prepare(store)
    file = store.identity_file
    assert file is not None
    with store._lock:
        identity = _identity_row(store._conn)
        rows = _event_rows(store._conn)
    try:
        expected = read_identity_file(file)
    except StateError as exc:
        return StateCheck(where, "unreadable", str(exc), identity, len(rows))
    n = len(rows)

    def found(kind: str, problem: str | None) -> StateCheck:
        return StateCheck(where, kind, problem, identity, n)

    if identity is None and expected is None:
        return found("uninitialised", f"state store {where} was never initialised (new, or lost with its directory)")
    if identity is None:
        return found(
            "lost",
            f"state store {where} is missing or empty, but {file} expects store {expected['store_id']}: "
            "it was deleted, truncated or replaced",
        )
    if expected is None:
        return found("file-missing", f"{file} is missing: state store {identity['store_id']} cannot be confirmed complete")
    if identity["store_id"] != expected["store_id"]:
        return found(
            "replaced", f"state store {where} is store {identity['store_id']}, but {file} expects {expected['store_id']}: it was replaced"
        )
    head = ""
    heads = []
    for row in rows:
        head = chain_hash(head, row)
        if row["chain"] != head:
            return found("altered", f"kill switch history in {where} was altered (event {row['id']} breaks the chain)")
        heads.append(head)
    recorded = expected["kill_switch"]["events"]
    # the store may be ahead (the file could not be written); never behind
    if n < recorded or (recorded and heads[recorded - 1] != expected["kill_switch"].get("head")):
        return found("altered", f"kill switch history in {where} has {n} events, {file} records {recorded}: events were deleted")
    if identity["kind"] == "automatic":
        return found("automatic", None)
    return found("ok", None)


def ensure_state_identity(store: StateStore, mode: Any) -> StateCheck:
    """Before a session trades: testnet/live refuse a store that is not person-initialised
    and intact (:class:`StateIdentityError`, one line). Paper/shadow create an identity on a
    new store and say so, and warn on any other problem (they send nothing real)."""
    from peaktrade_core.log import SAFETY, logger

    mode = str(getattr(mode, "value", mode))
    try:
        check = check_state(store)
    except sqlite3.DatabaseError as exc:
        raise StateError(f"state store {store.path}: {damage(exc)}") from None
    problem = check.problem_for(mode)
    if mode in GUARDED_MODES:
        if problem:
            raise StateIdentityError(f"{mode} refused: {problem}; a person checks, then runs `peaktrade state init --reason \"...\"`")
        return check
    if check.kind == "uninitialised":
        init_identity(store, f"created by a {mode} session", kind="automatic", expect_kind="uninitialised")
        logger.bind(tag=SAFETY).warning(
            "new state store {} created by this {} session (testnet/live need `peaktrade state init`)", store.path, mode
        )
    elif problem:
        logger.bind(tag=SAFETY).warning("state store: {} (testnet/live refuse to trade)", problem)
    return check


def init_identity(
    store: StateStore,
    reason: str,
    operator: str | None = None,
    *,
    kind: str = "person",
    expect_kind: str | None = None,
) -> dict[str, Any]:
    """Give the store a new identity, recorded (who, when, why, what was found), seal its
    kill-switch history and write the identity file. If the data dir's last known kill
    switch was engaged and this store does not show it, the engage is carried over.

    ``expect_kind``: do nothing (return ``{}``) unless the store is still in that state
    (re-checked inside the write lock: two sessions starting at once create one identity).
    """
    if not reason or not reason.strip():
        raise StateError("a reason is required to initialise the state store")
    _prepare(store)
    operator = operator or current_operator()
    file = store.identity_file
    assert file is not None, "an in-memory store needs no identity"
    with store.transaction() as conn:
        check = check_state(store)
        if expect_kind is not None and check.kind != expect_kind:
            return {}
        try:
            expected = read_identity_file(file)
        except StateError:
            expected = None
        at = now_iso()
        head = ""
        rows = _event_rows(conn)
        for row in rows:  # seal what is there (older stores have no chain)
            head = chain_hash(head, row)
            if row["chain"] != head:
                conn.execute("UPDATE kill_switch_events SET chain = ? WHERE id = ?", (head, row["id"]))
        engaged_now = bool(rows) and rows[-1]["action"] == "engage"
        last_known = (expected or {}).get("kill_switch", {})
        if kind == "person" and last_known.get("engaged") and not engaged_now:
            carried = {
                "action": "engage",
                "operator": operator,
                "reason": f"carried over from lost store {expected['store_id']}: {last_known.get('reason')} "  # type: ignore[index]
                f"(engaged by {last_known.get('operator')} at {last_known.get('at')})",
                "at": at,
                "source": "state-init",
            }
            head = chain_hash(head, carried)
            conn.execute(
                "INSERT INTO kill_switch_events (action, operator, reason, at, source, chain) VALUES (?, ?, ?, ?, ?, ?)",
                (*(carried[k] for k in ("action", "operator", "reason", "at", "source")), head),
            )
        record = {
            "store_id": uuid.uuid4().hex,
            "kind": kind,
            "operator": operator,
            "reason": reason.strip(),
            "at": at,
            "previous_store_id": (check.identity or {}).get("store_id") or (expected or {}).get("store_id"),
            "found": check.problem,
        }
        conn.execute(
            "INSERT INTO state_identity (store_id, kind, operator, reason, at, previous_store_id, found) VALUES (?, ?, ?, ?, ?, ?, ?)",
            tuple(record.values()),
        )
        _write_identity_file(conn, file, record)
    return record


def note_kill_switch_event(store: StateStore, conn: Any) -> None:
    """Inside the kill switch's write transaction: move the identity file's chain head on,
    if the file belongs to this store (a replaced store must not overwrite the evidence)."""
    file = store.identity_file
    if file is None:
        return
    try:
        identity = _identity_row(conn)
        expected = read_identity_file(file)
    except (StateError, sqlite3.OperationalError):  # no identity table yet, or a bad file
        return
    if identity is None or expected is None or expected["store_id"] != identity["store_id"]:
        return
    _write_identity_file(conn, file, identity)


def _write_identity_file(conn: Any, file: Path, identity: Mapping[str, Any]) -> None:
    from peaktrade_core.log import SAFETY, logger

    count, last = conn.execute("SELECT count(*), max(id) FROM kill_switch_events").fetchone()
    row = conn.execute("SELECT action, operator, reason, at, chain FROM kill_switch_events WHERE id = ?", (last,)).fetchone()
    engaged = bool(row) and row[0] == "engage"
    data = {
        "store_id": identity["store_id"],
        "store": str(file.with_name(STATE_FILE)),
        "kind": identity["kind"],
        "initialised_by": identity["operator"],
        "initialised_at": identity["at"],
        "reason": identity["reason"],
        "kill_switch": {
            "events": count,
            "head": row[4] if row else "",
            "engaged": engaged,
            **({"operator": row[1], "reason": row[2], "at": row[3]} if engaged else {}),
        },
    }
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except OSError as exc:  # never block the kill switch on this file; the check sees it
        logger.bind(tag=SAFETY).error("could not write {}: {}", file, exc)


def identity_history(store: StateStore) -> list[dict[str, Any]]:
    _prepare(store)
    return [dict(r) for r in store.query("SELECT * FROM state_identity ORDER BY id")]
