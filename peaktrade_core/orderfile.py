"""Orders files: CSV and JSON Lines (ORD-8), from a file or standard input.

Columns / keys (only the first three are required)::

    symbol, side, quantity, order_type, limit_price, time_in_force, reduce_only,
    strategy, reference_price, client_order_id

A bad row is reported as ``orders.csv:17: quantity: must be > 0, got -1``.

The source is read exactly once: :func:`load_orders` parses and validates every row in one
pass and keeps the valid ones in a compact columnar form (45 bytes per order, spooled to a
private temporary file beyond ``CHUNK_ROWS``), and the session executes those — never the
file again. A file changed or appended to after it was read, a pipe, standard input: what
runs is what was validated, byte for byte (``sha256``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from array import array
from collections.abc import Iterator
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from peaktrade_core.orders import (
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    orders_from_checked_columns,
)

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
FORMATS = ("csv", "jsonl")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: bad rows kept word for word (for the error listing, the summary and the run log); all are counted
KEPT_ERRORS = 100
#: longest physical line read; a longer one (or a file with no line breaks) refuses the file
MAX_LINE_BYTES = 1 << 20
#: bytes read at a time (then completed to the end of the line)
BLOCK_BYTES = 1 << 16
STDIN_NAME = "<stdin>"
#: validated rows kept in memory; each further full chunk goes to a temporary file
CHUNK_ROWS = 1 << 16

_SIDES = {m.value: m for m in Side}
_TYPES = {m.value: m for m in OrderType}
_TIFS = {m.value: m for m in TimeInForce}
_TIF_LIST = list(TimeInForce)
_TIF_BITS = {m: i << 2 for i, m in enumerate(_TIF_LIST)}
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_NONE = math.nan  # "no price" in the float columns
_INF = math.inf
#: distinct raw symbol / strategy / number texts remembered once validated (bounded)
_KNOWN_TEXTS = 4096
#: CSV rows validated together, column by column (any doubt: row by row, see _csv_block)
BLOCK_ROWS = 2048
#: False: every CSV row takes the row-by-row checks (the tests compare the two paths)
COLUMNAR = True
#: False: every CSV row is read and numbered by one reader, row by row (the tests compare)
QUOTE_FREE_BLOCKS = True
# what each flags byte means, as lookup tables (the columnar path builds orders with them)
_SIDE_OF_FLAGS = tuple((Side.BUY, Side.SELL)[f & 1] for f in range(32))
_TYPE_OF_FLAGS = tuple((OrderType.MARKET, OrderType.LIMIT)[(f >> 1) & 1] for f in range(32))
_TIF_OF_FLAGS = tuple([*_TIF_LIST, None][(f >> 2) & 3] for f in range(32))  # None: never stored
_REDUCE_OF_FLAGS = tuple(bool(f & 16) for f in range(32))
_KINDS_OF_FLAGS = (_SIDE_OF_FLAGS, _TYPE_OF_FLAGS, _TIF_OF_FLAGS, _REDUCE_OF_FLAGS)


class OrderFileError(Exception):
    """The source cannot be read at all (missing, unknown format, bad header, not UTF-8)."""


class OrderRowError(Exception):
    def __init__(self, where: str, key: str, problem: str):
        self.where, self.key, self.problem = where, key, problem
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class _Refused(ValueError):
    """A value refused while parsing a JSON line (duplicate key, NaN)."""


class ParsedOrders:
    """The valid rows of one orders source, validated and stored once; iterate to get the
    :class:`OrderRequest` objects (built on the way, one at a time).

    Rows are kept in columns of packed numbers, ``CHUNK_ROWS`` at a time; full chunks go to
    a private, unnamed temporary file, so memory stays flat however long the source is."""

    def __init__(self, name: str, fmt: str):
        self.name, self.format = name, fmt
        self.sha256 = ""
        self.bad = 0  #: number of bad rows (all of them)
        self.errors: list[OrderRowError] = []  #: the first KEPT_ERRORS bad rows
        self._strings: list[str] = [""]
        self._string_ids: dict[str, int] = {"": 0}
        self._known: dict[str, int] = {}
        self._numbers: dict[str, float] = {"": _NONE}
        self._spool: IO[bytes] | None = None
        self._spooled = 0  # full chunks in the spool
        self._new_chunk()

    def _new_chunk(self) -> None:
        self._line = array("Q")
        self._symbol = array("I")
        self._strategy = array("I")
        self._client_id = array("I")
        self._quantity = array("d")
        self._limit = array("d")
        self._reference = array("d")
        self._flags = array("B")  # bit 0 sell, bit 1 limit, bits 2-3 time in force, bit 4 reduce only

    def _columns(self) -> tuple[array, ...]:
        return (self._line, self._symbol, self._strategy, self._client_id, self._quantity, self._limit, self._reference, self._flags)

    def _spill(self) -> None:
        import tempfile

        try:
            if self._spool is None:
                # unnamed (unlinked at once) and private; closed with this object
                self._spool = tempfile.TemporaryFile(prefix="peaktrade-orders-")  # noqa: SIM115
            for column in self._columns():
                column.tofile(self._spool)
        except OSError as exc:
            raise OrderFileError(f"{self.name}: cannot keep the validated orders in a temporary file: {exc.strerror or exc}") from None
        self._spooled += 1
        self._new_chunk()

    def __len__(self) -> int:
        return self._spooled * CHUNK_ROWS + len(self._flags)

    def _keep(self, columns: tuple[Any, ...]) -> None:
        """Keep validated rows given as whole columns (the order of :meth:`_columns`),
        spilling each chunk as it fills, exactly as row by row."""
        start, total = 0, len(columns[0])
        while start < total:
            end = min(total, start + CHUNK_ROWS - len(self._flags))
            for kept, column in zip(self._columns(), columns, strict=True):
                kept.extend(column[start:end])
            start = end
            if len(self._flags) >= CHUNK_ROWS:
                self._spill()

    @property
    def nbytes(self) -> int:
        """Memory held by the stored orders in memory (not counting distinct strings)."""
        return sum(c.itemsize * len(c) for c in self._columns())

    def skipped_rows(self) -> list[str]:
        """The kept bad rows, one line each, and a last line counting the rest."""
        rows = [str(e) for e in self.errors]
        if self.bad > len(self.errors):
            rows.append(f"... and {self.bad - len(self.errors)} more bad rows ({self.bad} in all)")
        return rows

    def _remember(self, raw: str, text: str) -> int:
        """The string id of validated ``text``, remembered under its ``raw`` form."""
        found = self._intern(text)
        if text and len(self._known) < _KNOWN_TEXTS:  # never "": a blank symbol must stay missing
            self._known[raw] = found
        return found

    def _intern(self, text: str) -> int:
        found = self._string_ids.get(text)
        if found is None:
            found = self._string_ids[text] = len(self._strings)
            self._strings.append(text)
        return found

    def _refuse(self, error: OrderRowError) -> None:
        self.bad += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append(error)

    def __iter__(self) -> Iterator[OrderRequest]:
        if self._spool is not None:
            self._spool.seek(0)
            for _ in range(self._spooled):
                chunk = tuple(array(c.typecode) for c in self._columns())
                for column in chunk:
                    column.fromfile(self._spool, CHUNK_ROWS)
                yield from self._orders(chunk)
        yield from self._orders(self._columns())

    def _orders(self, columns: tuple[array, ...]) -> Iterator[OrderRequest]:
        # every stored row passed the checks of _add (or their columnar form), which mirror
        # each check of OrderRequest
        return orders_from_checked_columns(columns, self._strings, _KINDS_OF_FLAGS, self.name, _DEFAULT_STRATEGY)


_DEFAULT_STRATEGY = OrderRequest.__attrs_attrs__.strategy.default  # type: ignore[attr-defined]


# -- values ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or isinstance(value, _Constant):
        raise ValueError(f"expected a string, got {_shown(value)}")
    text = value.strip()
    if text and not text.isprintable():
        raise ValueError(f"expected printable text, got {value!r}")
    return text


def _price(value: Any) -> float:
    """A finite number > 0 written plainly; ``nan`` (no value) for an empty field."""
    if isinstance(value, _Constant):
        raise ValueError(f"must be a finite number, got {value}")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return _NONE
        # float() also takes "1_000", non-ASCII digits, "nan" and "inf": all refused
        if not text.isascii() or "_" in text:
            raise ValueError(f"expected a plain number (ASCII digits, no _), got {value!r}")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("number out of range") from None
    else:
        raise ValueError(f"expected a number, got {_shown(value)}")
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {value}")
    if not number > 0:
        raise ValueError(f"must be > 0, got {value}")
    return number


def _choice(value: Any, choices: dict[str, Any]) -> Any:
    if not isinstance(value, str) or isinstance(value, _Constant):
        raise ValueError(f"expected one of {', '.join(choices)}, got {_shown(value)}")
    found = choices.get(value.strip().lower())
    if found is None:
        raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
    return found


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    found = _BOOLS.get(value.strip().lower()) if isinstance(value, str) and not isinstance(value, _Constant) else None
    if found is None:
        raise ValueError(f"expected true or false, got {_shown(value)}")
    return found


def _shown(value: Any) -> str:
    return json.dumps(value)[:40] if isinstance(value, (bool, list, dict)) or value is None else repr(value)[:40]


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- rows -----------------------------------------------------------------------------------


def _add(parsed: ParsedOrders, line: int, values: tuple[Any, ...], store: bool) -> None:
    """Validate one row (``values``: the raw value of each of COLUMNS, None when absent)
    and, if ``store``, keep it. Mirrors every check of :class:`OrderRequest`, so what is
    stored always builds. The common cases take a fast path that accepts exactly what the
    full checks (``_text``, ``_price``, ``_choice``, ``_flag``) accept."""
    symbol_raw, side_raw, quantity_raw, type_raw, limit_raw, tif_raw, reduce_raw, strategy_raw, reference_raw, client_raw = values
    known, numbers = parsed._known, parsed._numbers
    key = ""
    try:
        key = "symbol"
        symbol_id = known.get(symbol_raw) if type(symbol_raw) is str else None
        if symbol_id is None:
            symbol = "" if symbol_raw is None else _text(symbol_raw)
            if not symbol:
                raise ValueError("missing")
            symbol_id = parsed._remember(symbol_raw, symbol)
        key = "side"
        side = _SIDES.get(side_raw) if type(side_raw) is str else None
        if side is None:
            if _absent(side_raw):
                raise ValueError("missing")
            side = _choice(side_raw, _SIDES)
        key = "quantity"
        quantity = numbers.get(quantity_raw) if type(quantity_raw) is str else None
        if quantity is None:
            quantity = _number(parsed, quantity_raw)
        if quantity != quantity:
            raise ValueError("missing")
        key = "order_type"
        if type_raw is None or type_raw == "":
            order_type = OrderType.MARKET
        else:
            order_type = _TYPES.get(type_raw) if type(type_raw) is str else None
            if order_type is None:
                order_type = OrderType.MARKET if _absent(type_raw) else _choice(type_raw, _TYPES)
        key = "limit_price"
        limit = numbers.get(limit_raw) if type(limit_raw) is str else None
        if limit is None:
            limit = _number(parsed, limit_raw)
        if order_type is OrderType.LIMIT and limit != limit:
            raise ValueError("missing: a limit order needs limit_price")
        if order_type is OrderType.MARKET and limit == limit:
            raise ValueError("a market order takes no limit_price")
        key = "time_in_force"
        if tif_raw is None or tif_raw == "":
            tif_bits = 0
        else:
            tif = _TIFS.get(tif_raw) if type(tif_raw) is str else None
            if tif is None:
                tif = TimeInForce.GTC if _absent(tif_raw) else _choice(tif_raw, _TIFS)
            tif_bits = _TIF_BITS[tif]
        key = "reduce_only"
        reduce_only = False if reduce_raw is None or reduce_raw == "" or _absent(reduce_raw) else _flag(reduce_raw)
        key = "strategy"
        strategy_id = 0
        if strategy_raw is not None and strategy_raw != "":
            strategy_id = known.get(strategy_raw) if type(strategy_raw) is str else None
            if strategy_id is None:
                strategy_id = parsed._remember(strategy_raw, _text(strategy_raw))
        key = "reference_price"
        reference = numbers.get(reference_raw) if type(reference_raw) is str else None
        if reference is None:
            reference = _number(parsed, reference_raw)
        key = "client_order_id"
        client_id = "" if client_raw is None else _text(client_raw)
    except ValueError as exc:
        parsed._refuse(OrderRowError(f"{parsed.name}:{line}", key, str(exc)))
        return
    if not store:
        return
    parsed._line.append(line)
    parsed._symbol.append(symbol_id)
    parsed._strategy.append(strategy_id)
    parsed._client_id.append(parsed._intern(client_id) if client_id else 0)
    parsed._quantity.append(quantity)
    parsed._limit.append(limit)
    parsed._reference.append(reference)
    parsed._flags.append((side is Side.SELL) | (order_type is OrderType.LIMIT) << 1 | tif_bits | reduce_only << 4)
    if len(parsed._flags) >= CHUNK_ROWS:
        parsed._spill()


def _number(parsed: ParsedOrders, raw: Any) -> float:
    """A price or quantity (``nan``: absent); valid texts are remembered (bounded)."""
    if raw is None:
        return _NONE
    number = _fast_number(raw)
    if number is None:
        return _price(raw)
    if type(raw) is str and len(parsed._numbers) < _KNOWN_TEXTS:
        parsed._numbers[raw] = number
    return number


def _fast_number(value: Any) -> float | None:
    """The common case of :func:`_price`: plain ASCII text or a JSON number, finite and > 0.
    None means "take the full check" (which refuses with the reason, or finds it absent)."""
    kind = type(value)
    if kind is str:
        if not value.isascii() or "_" in value:
            return None
        try:
            number = float(value)
        except ValueError:
            return None
    elif kind is float or kind is int:
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        return None
    return number if 0.0 < number < _INF else None


def _csv_rows(parsed: ParsedOrders, lines: Iterator[str], skip_invalid: bool) -> None:
    name = parsed.name
    reader = csv.reader(lines)
    done = 0
    try:
        header = next(reader, None)
        while header == []:
            header = next(reader, None)
        if header is None:
            raise OrderFileError(f"{name}:1: empty file, expected a header line")
        where = f"{name}:{reader.line_num}"
        header = [h.strip() for h in header]
        index: dict[str, int] = {}
        for pos, column in enumerate(header):
            if column not in COLUMNS:
                shown = column or f"column {pos + 1}"
                raise OrderFileError(f"{where}: {shown}: unknown column; expected one of {', '.join(COLUMNS)}")
            if column in index:
                raise OrderFileError(f"{where}: {column}: duplicate column (which one is meant?)")
            index[column] = pos
        missing = [c for c in REQUIRED if c not in index]
        if missing:
            raise OrderFileError(f"{where}: header lacks {', '.join(missing)}")
        width = len(header)
        # a row is padded with "" to the header's width, then None: absent columns pick that
        pick = itemgetter(*(index.get(c, width) for c in COLUMNS))
        padding = [[""] * n + [None] for n in range(width + 1)]
        if not QUOTE_FREE_BLOCKS:
            _csv_rows_one_by_one(parsed, reader, 0, _INF, index, pick, padding, skip_invalid)
            return
        done = reader.line_num  # lines read so far
        while block := list(islice(lines, BLOCK_ROWS)):
            if '"' in "".join(block):  # a quoted field may span lines: row by row from here
                reader = csv.reader(chain(block, lines))
                _csv_rows_one_by_one(parsed, reader, done, len(block), index, pick, padding, skip_invalid)
            else:  # no quotes: one line is one row (a blank line none), as the reader reads it
                reader = csv.reader(block)
                rows = list(reader)
                numbers: Any = range(done + 1, done + len(rows) + 1)
                if [] in rows:
                    numbers, rows = [n for n, r in zip(numbers, rows, strict=True) if r], [r for r in rows if r]
                if rows:
                    _csv_block(parsed, numbers, rows, index, pick, padding, skip_invalid)
            done += reader.line_num
    except csv.Error as exc:
        raise OrderFileError(f"{name}:{done + reader.line_num}: {exc}") from None


def _csv_rows_one_by_one(parsed: ParsedOrders, reader: Any, done: int, lines: float, index: dict[str, int], pick: Any, padding: list[list[Any]], skip_invalid: bool) -> None:
    """Rows from ``reader`` (``done``: lines read before its first) in blocks of BLOCK_ROWS,
    each numbered by its reader, until it has read at least ``lines`` lines (rows that span
    lines end where they end) or the end."""
    rows: list[list[str]] = []
    numbers: list[int] = []
    for row in reader:
        if row:
            rows.append(row)
            numbers.append(done + reader.line_num)
            if len(rows) >= BLOCK_ROWS:
                _csv_block(parsed, numbers, rows, index, pick, padding, skip_invalid)
                rows, numbers = [], []
        if reader.line_num >= lines:
            break
    if rows:
        _csv_block(parsed, numbers, rows, index, pick, padding, skip_invalid)


def _csv_block(parsed: ParsedOrders, numbers: list[int], rows: list[list[str]], index: dict[str, int], pick: Any, padding: list[list[Any]], skip_invalid: bool) -> None:
    """Validate (and keep) a block of CSV rows: column by column when every row of the
    block is plainly valid, else row by row with ``_add``, which names each problem."""
    width = len(index)
    if COLUMNAR and set(map(len, rows)) == {width}:
        store = skip_invalid or not parsed.bad
        columns = _checked_columns(parsed, rows, index, store)
        if columns is not None:
            if store:
                parsed._keep((array("Q", numbers), *columns))
            return
    name = parsed.name
    for line, row in zip(numbers, rows, strict=True):
        size = len(row)
        if size > width:
            parsed._refuse(OrderRowError(f"{name}:{line}", "", f"too many fields ({size}, the header has {width})"))
            continue
        row += padding[width - size]
        _add(parsed, line, pick(row), skip_invalid or not parsed.bad)


def _checked_columns(parsed: ParsedOrders, rows: list[list[str]], index: dict[str, int], store: bool = True) -> tuple[array, ...] | None:
    """The stored columns (symbol, strategy, client id, quantity, limit, reference, flags)
    of ``rows`` if every row passes every check of ``_add``; None if any might not (the rows
    then take ``_add``, which refuses them with the reason). Choices and texts are checked
    once per distinct value with ``_add``'s own helpers; numbers with ``float`` after the
    text checks of ``_fast_number`` (no ``nan``/``inf``: no letter n at all). Unless
    ``store``, client order ids are checked, not kept (as ``_add`` does)."""
    count = len(rows)
    columns = list(zip(*rows, strict=True))

    def column(key: str) -> tuple[str, ...] | None:
        pos = index.get(key)
        return None if pos is None else columns[pos]

    try:
        symbols: dict[str, int] = {}
        for raw in set(columns[index["symbol"]]):
            text = _text(raw)
            if not text:
                return None
            symbols[raw] = parsed._intern(text)
        sides = {}
        for raw in set(columns[index["side"]]):
            if _absent(raw):
                return None
            sides[raw] = int(_choice(raw, _SIDES) is Side.SELL)
        flags = list(map(sides.__getitem__, columns[index["side"]]))
        quantity = _checked_floats(columns[index["quantity"]])
        if quantity is None:
            return None
        types, limit_texts = column("order_type"), column("limit_price")
        limit = array("d", [_NONE]) * count if limit_texts is None else _optional_floats(limit_texts)
        if limit is None:
            return None
        if types is None:
            if limit_texts is not None and any(limit_texts):  # a market order with a limit price
                return None
        else:
            bits = {raw: 0 if _absent(raw) else 2 * (_choice(raw, _TYPES) is OrderType.LIMIT) for raw in set(types)}
            type_bits = list(map(bits.__getitem__, types))
            if not all((b == 2) is (x == x) for b, x in zip(type_bits, limit, strict=True)):
                return None
            flags = [f | b for f, b in zip(flags, type_bits, strict=True)]
        for key, bits_of in (("time_in_force", _tif_bits), ("reduce_only", _reduce_bits)):
            texts = column(key)
            if texts is not None and any(texts):
                bits = {raw: bits_of(raw) for raw in set(texts)}
                flags = [f | b for f, b in zip(flags, map(bits.__getitem__, texts), strict=True)]
        texts = column("strategy")
        if texts is None:
            strategy = array("I", [0]) * count
        else:
            names = {raw: parsed._intern(_text(raw)) if raw else 0 for raw in set(texts)}
            strategy = array("I", map(names.__getitem__, texts))
        reference_texts = column("reference_price")
        reference = array("d", [_NONE]) * count if reference_texts is None else _optional_floats(reference_texts)
        if reference is None:
            return None
        texts = column("client_order_id")
        if texts is None or not store:
            for raw in texts or ():  # checked only: rows after a bad one are not kept
                _text(raw)
            client = array("I", [0]) * count
        else:
            client = array("I", [parsed._intern(text) if (text := _text(raw)) else 0 for raw in texts])
    except ValueError:
        return None
    return array("I", map(symbols.__getitem__, columns[index["symbol"]])), strategy, client, quantity, limit, reference, array("B", flags)


def _tif_bits(raw: str) -> int:
    return 0 if _absent(raw) else _TIF_BITS[_choice(raw, _TIFS)]


def _reduce_bits(raw: str) -> int:
    return 0 if _absent(raw) else _flag(raw) << 4


def _checked_floats(texts: tuple[str, ...] | list[str]) -> array | None:
    """Every text as a finite number > 0 (as ``_fast_number`` takes it), or None."""
    joined = "".join(texts)
    if not joined.isascii() or "_" in joined or "n" in joined or "N" in joined:
        return None
    try:
        values = array("d", map(float, texts))
    except ValueError:
        return None
    return values if values and min(values) > 0.0 and max(values) < _INF else None


def _optional_floats(texts: tuple[str, ...]) -> array | None:
    """Like ``_checked_floats``, an empty text being ``nan`` (absent)."""
    if not any(texts):
        return array("d", [_NONE]) * len(texts)
    if all(texts):
        return _checked_floats(texts)
    if _checked_floats([t for t in texts if t]) is None:
        return None
    return array("d", [float(t) if t else _NONE for t in texts])


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(f"{key}: duplicate key (which one is meant?)")
    return obj


class _Constant(str):
    """JSON's ``NaN`` / ``Infinity``: kept as text, so the column that has it refuses it."""

    def __repr__(self) -> str:
        return str(self)


def _jsonl_rows(parsed: ParsedOrders, lines: Iterator[str], skip_invalid: bool) -> None:
    name = parsed.name
    for line, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_Constant)
        except _Refused as exc:
            parsed._refuse(OrderRowError(f"{name}:{line}", "", str(exc)))
            continue
        except json.JSONDecodeError as exc:
            parsed._refuse(OrderRowError(f"{name}:{line}", "", f"invalid JSON: {exc.msg}"))
            continue
        except (ValueError, RecursionError) as exc:  # an int of > 4300 digits, nesting too deep
            problem = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            parsed._refuse(OrderRowError(f"{name}:{line}", "", f"invalid JSON: {problem}"))
            continue
        if not isinstance(obj, dict):
            parsed._refuse(OrderRowError(f"{name}:{line}", "", "expected a JSON object"))
            continue
        unknown = sorted(k for k in obj if k not in COLUMNS)
        if unknown:
            parsed._refuse(OrderRowError(f"{name}:{line}", unknown[0], f"unknown key; expected one of {', '.join(COLUMNS)}"))
            continue
        _add(parsed, line, tuple(map(obj.get, COLUMNS)), skip_invalid or not parsed.bad)


# -- the source -----------------------------------------------------------------------------


def _lines(stream: IO[bytes], name: str, digest: Any) -> Iterator[str]:
    """Physical lines, each decoded as UTF-8 (strict), bounded in length, hashed as read.

    Read a block of whole lines at a time (the last line completed, at most
    ``MAX_LINE_BYTES`` more); a block that may hold a line too long or bytes that are not
    UTF-8 is read again line by line from memory, which names the line and the byte."""
    number = 0
    while True:
        block = stream.read(BLOCK_BYTES)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += stream.readline(MAX_LINE_BYTES + 1)
        digest.update(block)
        try:  # a block no longer than a line may be holds no line too long
            text = block.decode("utf-8") if len(block) <= MAX_LINE_BYTES else None
        except UnicodeDecodeError:
            text = None
        if text is None:
            yield from _lines_one_by_one(io.BytesIO(block), name, _NO_DIGEST, number)
        else:
            if number == 0 and text.startswith("\ufeff"):  # a byte order mark, as spreadsheets write
                text = text[1:]
            # split at "\n" only, as readline does ("": a line that was only the mark)
            yield from io.StringIO(text, newline="\n") if text else ("",)
        number += block.count(b"\n") + (not block.endswith(b"\n"))


class _NoDigest:
    def update(self, data: bytes) -> None:
        pass


_NO_DIGEST = _NoDigest()


def _lines_one_by_one(stream: IO[bytes], name: str, digest: Any, number: int = 0) -> Iterator[str]:
    """:func:`_lines` one line at a time; ``number``: lines before this stream's first."""
    readline = stream.readline
    while True:
        raw = readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        digest.update(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise OrderFileError(f"{name}:{number}: line longer than {MAX_LINE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OrderFileError(f"{name}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)") from None
        if number == 1 and text.startswith("\ufeff"):  # a byte order mark, as spreadsheets write
            text = text[1:]
        yield text


def _sniff(lines: Iterator[str]) -> tuple[str, Iterator[str]]:
    """CSV or JSONL by the first non-blank character; the lines read are put back."""
    seen: list[str] = []
    for text in lines:
        seen.append(text)
        stripped = text.strip()
        if stripped:
            return ("jsonl" if stripped.startswith("{") else "csv"), _chain(seen, lines)
    return "csv", iter(seen)


def _chain(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


def load_orders(source: str | Path, *, fmt: str | None = None, skip_invalid: bool = False, stdin: IO[bytes] | None = None) -> ParsedOrders:
    """Read ``source`` (a path, or ``-`` for ``stdin``) once; validate every row.

    ``fmt``: ``csv`` or ``jsonl`` (default: by the file's suffix; standard input by its
    first non-blank character). Raises :class:`OrderFileError` if the source cannot be read
    at all. Bad rows are counted in ``bad`` (the first ones kept in ``errors``); unless
    ``skip_invalid``, valid rows after the first bad one are validated but not kept."""
    if fmt is not None and fmt not in FORMATS:
        raise OrderFileError(f"unknown orders format {fmt!r}; use {' or '.join(FORMATS)}")
    from_stdin = str(source) == "-"
    path = Path(source)
    name = STDIN_NAME if from_stdin else path.name
    if not from_stdin and fmt is None:
        fmt = SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise OrderFileError(f"{path}: unknown orders file type {path.suffix or '(none)'}; use .csv or .jsonl (or --format)")
    if from_stdin:
        if stdin is None:
            import sys

            stdin = sys.stdin.buffer
        stream, close = stdin, False
    else:
        try:
            stream, close = path.open("rb"), True
        except OSError as exc:
            raise OrderFileError(f"{path}: cannot read: {exc.strerror}") from None
    digest = hashlib.sha256()
    try:
        lines = _lines(stream, name, digest)
        if fmt is None:
            fmt, lines = _sniff(lines)
        parsed = ParsedOrders(name, fmt)
        (_csv_rows if fmt == "csv" else _jsonl_rows)(parsed, lines, skip_invalid)
    except OSError as exc:
        raise OrderFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        if close:
            stream.close()
    parsed.sha256 = digest.hexdigest()
    return parsed
