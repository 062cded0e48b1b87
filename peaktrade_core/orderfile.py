"""Orders files: CSV and JSON Lines (ORD-8).

Columns / keys (only the first three are required)::

    symbol, side, quantity, order_type, limit_price, time_in_force, reduce_only,
    strategy, reference_price, client_order_id

A bad row is reported as ``orders.csv:17: quantity: must be > 0``. Files are streamed: a
file of ten million orders is validated and executed in constant memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from peaktrade_core.orders import OrderRequest, OrderType, Side, TimeInForce

COLUMNS = (
    "symbol",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "time_in_force",
    "reduce_only",
    "strategy",
    "reference_price",
    "client_order_id",
)
REQUIRED = ("symbol", "side", "quantity")
_FLOATS = ("quantity", "limit_price", "reference_price")
_CHOICES = {"side": Side, "order_type": OrderType, "time_in_force": TimeInForce}


class OrderFileError(Exception):
    """The file cannot be read at all (missing, unknown format, bad header)."""


class OrderRowError(Exception):
    def __init__(self, where: str, key: str, problem: str):
        self.where, self.key, self.problem = where, key, problem
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def _parse_row(raw: dict[str, Any], where: str) -> OrderRequest:
    unknown = sorted(k for k in raw if k not in COLUMNS)
    if unknown:
        raise OrderRowError(where, unknown[0], f"unknown column; expected one of {', '.join(COLUMNS)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in _FLOATS:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise OrderRowError(where, key, f"expected a number, got {value!r}") from None
            if not number > 0 or number != number or number == float("inf"):
                raise OrderRowError(where, key, f"must be > 0, got {value}")
            values[key] = number
        elif key in _CHOICES:
            text = str(value).strip().lower()
            choices = [m.value for m in _CHOICES[key]]
            if text not in choices:
                raise OrderRowError(where, key, f"expected one of {', '.join(choices)}, got {value!r}")
            values[key] = text
        elif key == "reduce_only":
            text = str(value).strip().lower()
            if text not in ("true", "false", "1", "0"):
                raise OrderRowError(where, key, f"expected true or false, got {value!r}")
            values[key] = text in ("true", "1")
        else:
            values[key] = str(value).strip()
    for key in REQUIRED:
        if key not in values:
            raise OrderRowError(where, key, "missing")
    values.setdefault("source_ref", where)
    try:
        return OrderRequest(**values)
    except (TypeError, ValueError) as exc:
        raise OrderRowError(where, "", str(exc)) from None


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    name = path.name
    suffix = path.suffix.lower()
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise OrderFileError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        if suffix == ".csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise OrderFileError(f"{name}:1: empty file, expected a header line")
            missing = [c for c in REQUIRED if c not in reader.fieldnames]
            if missing:
                raise OrderFileError(f"{name}:1: header lacks {', '.join(missing)}")
            for row in reader:
                if None in row:
                    yield f"{name}:{reader.line_num}", {"": "too many fields"}
                    continue
                yield f"{name}:{reader.line_num}", row
        elif suffix in (".jsonl", ".ndjson"):
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{name}:{lineno}", {"": f"invalid JSON: {exc.msg}"}
                    continue
                if not isinstance(row, dict):
                    yield f"{name}:{lineno}", {"": "expected a JSON object"}
                    continue
                yield f"{name}:{lineno}", row
        else:
            raise OrderFileError(f"{path}: unknown orders file type {suffix or '(none)'}; use .csv or .jsonl")


def read_orders(path: str | Path, *, skip_invalid: bool = False, skipped: list[OrderRowError] | None = None) -> Iterator[OrderRequest]:
    """Stream orders; raise :class:`OrderRowError` on the first bad row, or with
    ``skip_invalid`` collect bad rows in ``skipped`` and go on."""
    for where, raw in _rows(Path(path)):
        try:
            if "" in raw:
                raise OrderRowError(where, "", raw[""])
            yield _parse_row(raw, where)
        except OrderRowError as exc:
            if not skip_invalid:
                raise
            if skipped is not None:
                skipped.append(exc)


def validate_orders(path: str | Path, limit: int = 50) -> tuple[int, list[OrderRowError], int]:
    """One streaming pass: ``(valid rows, the first ``limit`` errors, number of bad rows)``.
    Nothing is executed."""
    errors: list[OrderRowError] = []
    count = bad = 0
    for where, raw in _rows(Path(path)):
        try:
            if "" in raw:
                raise OrderRowError(where, "", raw[""])
            _parse_row(raw, where)
            count += 1
        except OrderRowError as exc:
            bad += 1
            if len(errors) < limit:
                errors.append(exc)
    return count, errors, bad
