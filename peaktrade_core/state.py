"""The state store's identity, and where the data directory is.

Everything that must outlive a process or be shared between processes goes through a
:class:`~peaktrade_core.store.StateStore` (:mod:`peaktrade_core.store`: SQLite in the data
directory, or PostgreSQL when ``[state] url`` names one).

The store has an identity (see :func:`check_state`): losing, emptying or replacing it, or
deleting kill-switch events, is detected, and testnet/live refuse to trade until a person
runs ``peaktrade state init --reason``. The design is in docs/operators.md.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from peaktrade_core.store import StateError, StateStore
from peaktrade_core.store.base import IDENTITY_FILE
from peaktrade_core.store.identity import IdentityRepository
from peaktrade_core.store.killswitch import EVENT_FIELDS, KillSwitchRepository
from peaktrade_core.store.sqlite import STATE_FILE, damage

__all__ = ["IDENTITY_FILE", "STATE_FILE", "StateError", "StateStore", "damage"]
DATA_DIR_ENV_VAR = "PEAK_TRADE_DATA_DIR"
#: config keys that move the state store: a governance decision, never ``config set``
GOVERNED_STATE_KEYS = frozenset({"state.data_dir", "state.url", "state.audit_key", "state.retired_audit_keys"})
#: modes that refuse to trade on a store without a person-recorded, intact identity
GUARDED_MODES = frozenset({"testnet", "live"})


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


def lenient_store(config_path: Path | None, data_dir: str | None = None, url: str | None = None) -> StateStore:
    """The state store without validating the config: the emergency stop must work while
    the file is broken. Reads ``[state] data_dir`` and ``[state] url`` line by line if the
    TOML does not parse; ``data_dir`` / ``url`` (command-line options) win."""
    from peaktrade_core.store import open_store_url

    text = _config_text(config_path)
    directory = Path(data_dir).expanduser() if data_dir else lenient_data_dir(config_path, text)
    url = url or _resolve_url(_state_value(text, "url"), config_path)
    return open_store_url(url, data_dir=directory) if url else StateStore.in_dir(directory)


def lenient_data_dir(config_path: Path | None, text: str | None = None) -> Path:
    """The data dir without validating the config (see :func:`lenient_store`)."""
    configured = _state_value(_config_text(config_path) if text is None else text, "data_dir")
    return resolve_data_dir(configured if isinstance(configured, str) else None)


def _config_text(config_path: Path | None) -> str:
    if config_path is None:
        return ""
    try:
        return config_path.read_text(encoding="utf-8", errors="replace")[:1_000_000]
    except OSError:
        return ""


def _resolve_url(value: Any, config_path: Path | None) -> str | None:
    from peaktrade_core.secrets import SecretError, SecretRef

    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    try:
        return SecretRef(**{k: str(v) for k, v in dict(value).items()}).resolve()
    except (SecretError, TypeError, ValueError) as exc:
        raise StateError(f"{config_path}: [state] url: {exc}") from None


def _state_value(text: str, key: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text).get("state", {}).get(key)
    except (tomllib.TOMLDecodeError, AttributeError):
        pass
    import re

    section = None
    for line in text.splitlines():
        stripped = line.strip()
        header = re.match(r"\[\s*([^\]]*?)\s*\]", stripped)
        if header:
            section = header.group(1)
        elif section == "state" and stripped.partition("=")[0].strip() == key:
            try:
                return tomllib.loads("v = " + stripped.partition("=")[2])["v"]
            except tomllib.TOMLDecodeError:
                return None
    return None


# -- identity -----------------------------------------------------------------------------

def chain_hash(previous: str, event: Mapping[str, Any]) -> str:
    """Each kill-switch event seals the one before it: a deleted or edited event breaks the
    chain, and the head recorded in the identity file reveals deleted last events."""
    import hashlib

    fields = (previous, *(event[k] for k in EVENT_FIELDS))
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


def _prepare(store: StateStore) -> tuple[KillSwitchRepository, IdentityRepository]:
    return KillSwitchRepository(store), IdentityRepository(store)


_scan_json: Any = None


def _json_loads(text: str) -> Any:
    """``json.loads(text)``, run by the C scanner ``json.loads`` itself uses, without importing
    the ``json`` package (its regexes cost a tenth of ``status``'s own work): whatever the
    quick path does not take as a whole document goes to ``json.loads``, so every refusal
    and its message are json's (a property test holds both paths equal)."""
    global _scan_json
    if _scan_json is None:
        try:
            from _json import make_scanner
        except ImportError:  # an interpreter without the C scanner
            import json

            return json.loads(text)

        class Context:  # what json.JSONDecoder() hands its scanner
            strict = True
            object_hook = object_pairs_hook = None
            parse_float, parse_int = float, int
            parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__

        _scan_json = make_scanner(Context())
    if not text.startswith("\ufeff"):
        try:
            value, end = _scan_json(text, len(text) - len(text.lstrip(" \t\n\r")))
        except (StopIteration, ValueError):
            pass
        else:
            if not text[end:].strip(" \t\n\r"):
                return value
    import json

    return json.loads(text)


def read_identity_file(path: Path) -> dict[str, Any] | None:
    """``None`` if there is none; :class:`StateError` if it is not what we wrote."""
    try:
        data = _json_loads(path.read_text(encoding="utf-8"))
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
    where = store.location
    if store.in_memory:
        return StateCheck(where, "in-memory")  # made by code for one process (drills, tests)
    kill, ids = _prepare(store)
    file = store.identity_file
    if file is None:
        return StateCheck(where, "no-data-dir", f"state store {where} has no data directory for its identity file")
    identity = ids.current()
    rows = kill.chained_events()
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
    except StateError:
        raise
    except Exception as exc:  # a damaged SQLite file surfaces here as a DatabaseError
        raise StateError(f"state store {store.location}: {damage(exc)}") from None
    problem = check.problem_for(mode)
    if mode in GUARDED_MODES:
        if problem:
            raise StateIdentityError(f"{mode} refused: {problem}; a person checks, then runs `peaktrade state init --reason \"...\"`")
        return check
    if check.kind == "uninitialised":
        init_identity(store, f"created by a {mode} session", kind="automatic", expect_kind="uninitialised")
        logger.bind(tag=SAFETY).warning(
            "new state store {} created by this {} session (testnet/live need `peaktrade state init`)", store.location, mode
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
    kill-switch history and write the identity file (a new host of a shared database store
    joins its identity instead). If the data dir's last known kill
    switch was engaged and this store does not show it, the engage is carried over.

    ``expect_kind``: do nothing (return ``{}``) unless the store is still in that state
    (re-checked inside the write lock: two sessions starting at once create one identity).
    """
    if not reason or not reason.strip():
        raise StateError("a reason is required to initialise the state store")
    kill, ids = _prepare(store)
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
        rows = kill.chained_events(conn)
        if _joins(store, check, rows):  # another host's shared store: keep its identity
            record = {**check.identity, "kind": "person", "operator": operator, "reason": reason.strip(), "at": at,  # type: ignore[dict-item]
                      "previous_store_id": check.identity["store_id"], "found": f"{check.problem} (joined from {_host()})"}  # type: ignore[index]
            ids.add(conn, record)
            _write_identity_file(store, conn, file, record)
            return record
        for row in rows:  # seal what is there (older stores have no chain)
            head = chain_hash(head, row)
            if row["chain"] != head:
                kill.reseal(conn, row["id"], head)
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
            carried["chain"] = chain_hash(head, carried)
            kill.append(conn, carried)
        record = {
            "store_id": uuid.uuid4().hex,
            "kind": kind,
            "operator": operator,
            "reason": reason.strip(),
            "at": at,
            "previous_store_id": (check.identity or {}).get("store_id") or (expected or {}).get("store_id"),
            "found": check.problem,
        }
        ids.add(conn, record)
        _write_identity_file(store, conn, file, record)
    return record


def _joins(store: StateStore, check: StateCheck, rows: list[dict[str, Any]]) -> bool:
    """A database store shared by several hosts, intact, whose identity this data dir has
    no file for (a new host): ``state init`` joins it instead of replacing its identity,
    which would make every other host see a replaced store."""
    if store.backend == "sqlite" or check.kind != "file-missing" or check.identity is None:
        return False
    head = ""
    for row in rows:
        head = chain_hash(head, row)
        if row["chain"] != head:
            return False
    return True


def _host() -> str:
    import socket

    return f"host {socket.gethostname()}"


def note_kill_switch_event(store: StateStore, conn: Any) -> None:
    """Inside the kill switch's write transaction: move the identity file's chain head on,
    if the file belongs to this store (a replaced store must not overwrite the evidence)."""
    file = store.identity_file
    if file is None:
        return
    try:
        expected = read_identity_file(file)
    except StateError:  # a bad file: the check reports it
        return
    identity = IdentityRepository(store).current(conn) if expected is not None else None
    if identity is None or expected is None or expected["store_id"] != identity["store_id"]:
        return
    _write_identity_file(store, conn, file, identity)


def _write_identity_file(store: StateStore, conn: Any, file: Path, identity: Mapping[str, Any]) -> None:
    from peaktrade_core.log import SAFETY, logger

    count, row = KillSwitchRepository.head(conn)
    engaged = bool(row) and row[0] == "engage"
    data = {
        "store_id": identity["store_id"],
        "store": store.location,
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
        file.parent.mkdir(parents=True, exist_ok=True)  # a database store: the data dir may be new
        with open(tmp, "w", encoding="utf-8") as fh:
            import json

            fh.write(json.dumps(data, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
    except OSError as exc:  # never block the kill switch on this file; the check sees it
        logger.bind(tag=SAFETY).error("could not write {}: {}", file, exc)


def identity_history(store: StateStore) -> list[dict[str, Any]]:
    return _prepare(store)[1].history()

