"""Orders files are read once, strictly: a value that is not plainly what it says is refused
with ``file:line: column: problem``; what runs is exactly what was validated."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import pipeline as pipeline_module
from peaktrade_core.cli import cli
from peaktrade_core.orderfile import KEPT_ERRORS, OrderFileError, load_orders
from peaktrade_core.runlog import iter_run_events, load_run_metadata
from peaktrade_core.state import StateStore
from peaktrade_core.testing import FillingExecutor

HEADER = "symbol,side,quantity,reference_price\n"
GOOD_CSV_ROW = "BTC/EUR,buy,0.01,40000\n"
GOOD_JSON_ROW = '{"symbol": "BTC/EUR", "side": "buy", "quantity": 0.01, "reference_price": 40000}\n'


def _peaktrade(*args: str, stdin: str | bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], input=data, capture_output=True, timeout=timeout)


def _one_line_refusal(done: subprocess.CompletedProcess[bytes]) -> str:
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "Traceback" not in err
    return err


def _jsonl_file(tmp_path_factory, rows: list) -> Path:
    """``rows`` as an ``orders.jsonl`` in a fresh folder (hypothesis runs many examples per test)."""
    path = tmp_path_factory.mktemp("jsonl") / "orders.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _csv_file(tmp_path_factory, columns: list[str], rows: list[tuple[str, ...]]) -> Path:
    """A header and ``rows`` as an ``orders.csv`` in a fresh folder, quoted as the csv module does."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("csv") / "orders.csv"
    path.write_text(text.getvalue(), encoding="utf-8")
    return path


def _assert_the_public_constructor_builds_each(orders) -> None:
    """Orders from a file are built without re-running the constructor's checks: each must be
    exactly, type for type, what ``OrderRequest(...)`` builds from its values."""
    import attrs

    from peaktrade_core.orders import OrderRequest

    for order in orders:
        values = attrs.asdict(order, recurse=False)
        rebuilt = OrderRequest(**values)  # raises on anything the constructor refuses
        assert rebuilt == order
        for name, value in values.items():
            assert type(getattr(rebuilt, name)) is type(value), name


# -- item 11: silent wrong values ------------------------------------------------------------

REFUSED = [
    ("dup.csv", "symbol,side,quantity,quantity\nBTC/EUR,buy,0.01,5\n", "dup.csv:1: quantity: duplicate column"),
    ("under.csv", HEADER + "BTC/EUR,buy,1_000,40000\n", "under.csv:2: quantity: expected a plain number (ASCII digits, no _), got '1_000'"),
    ("arabic.csv", HEADER + "BTC/EUR,buy,\u0661\u0660,40000\n", "arabic.csv:2: quantity: expected a plain number (ASCII digits, no _), got '\u0661\u0660'"),
    ("nan.csv", HEADER + "BTC/EUR,buy,nan,40000\n", "nan.csv:2: quantity: must be a finite number, got nan"),
    ("inf.csv", HEADER + "BTC/EUR,buy,0.01,inf\n", "inf.csv:2: reference_price: must be a finite number, got inf"),
    ("huge.csv", HEADER + "BTC/EUR,buy,1e400,40000\n", "huge.csv:2: quantity: must be a finite number, got 1e400"),
    ("true.jsonl", '{"symbol": "BTC/EUR", "side": "buy", "quantity": true}\n', "true.jsonl:1: quantity: expected a number, got true"),
    ("list.jsonl", '{"symbol": ["BTC/EUR"], "side": "buy", "quantity": 1}\n', 'list.jsonl:1: symbol: expected a string, got ["BTC/EUR"]'),
    ("obj.jsonl", '{"symbol": {"a": 1}, "side": "buy", "quantity": 1}\n', 'obj.jsonl:1: symbol: expected a string, got {"a": 1}'),
    ("jnan.jsonl", '{"symbol": "BTC/EUR", "side": "buy", "quantity": NaN}\n', "jnan.jsonl:1: quantity: must be a finite number, got NaN"),
    ("jinf.jsonl", '{"symbol": "BTC/EUR", "side": "buy", "quantity": 1, "reference_price": Infinity}\n', "jinf.jsonl:1: reference_price: must be a finite number, got Infinity"),
    ("jdup.jsonl", '{"symbol": "BTC/EUR", "side": "buy", "quantity": 1, "quantity": 1000}\n', "jdup.jsonl:1: quantity: duplicate key"),
    ("jnum.jsonl", '{"symbol": 1, "side": "buy", "quantity": 1}\n', "jnum.jsonl:1: symbol: expected a string, got 1"),
    ("jside.jsonl", '{"symbol": "BTC/EUR", "side": ["buy"], "quantity": 1}\n', 'jside.jsonl:1: side: expected one of buy, sell, got ["buy"]'),
]


@pytest.mark.parametrize(("name", "content", "line"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_value_that_is_not_plainly_what_it_says_is_refused_and_nothing_runs(tmp_path, name, content, line):
    (tmp_path / name).write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, ["session", "run", "--orders", name])
    assert result.exit_code == 2, result.output
    assert line in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


finite_prices = st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False)
number_texts = st.one_of(
    finite_prices.map(repr),
    st.integers(min_value=-10, max_value=10**6).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1_000", "\u0661", "\uff11", "1e999", "0", "-0.0", "0x10", " 2.5 ", "+3", "1e-3", ".5", "5."]),
    st.text(st.characters(blacklist_characters='\n\r"', blacklist_categories=("Cs",)), max_size=6),
)
json_values = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=6), st.lists(st.integers(), max_size=2), number_texts)


def _plain_number(text: str) -> float | None:
    """What a person means by the text: a plain ASCII decimal number, else None."""
    import re

    text = text.strip()
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text, flags=re.ASCII):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


@settings(deadline=None)
@given(quantities=st.lists(number_texts, min_size=1, max_size=20))
def test_a_csv_quantity_runs_only_as_the_plain_positive_number_it_is_written_as(tmp_path_factory, quantities):
    path = tmp_path_factory.mktemp("q") / "orders.csv"
    lines = ["symbol,side,quantity,reference_price"] + [f'BTC/EUR,buy,"{q}",100' for q in quantities]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = load_orders(path, skip_invalid=True)
    expected = {}
    for lineno, q in enumerate(quantities, 2):
        value = _plain_number(q)
        if value is not None and value > 0:
            expected[f"orders.csv:{lineno}"] = value
    got = {o.source_ref: o.quantity for o in parsed}
    assert got == expected
    assert len(parsed) + parsed.bad == len(quantities)


@settings(deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(["symbol", "side", "quantity", "limit_price", "order_type", "reduce_only", "reference_price"]), json_values), min_size=1, max_size=10))
def test_a_json_row_either_runs_as_exactly_its_values_or_is_refused_with_its_line(tmp_path_factory, rows):
    parsed = load_orders(_jsonl_file(tmp_path_factory, rows), skip_invalid=True)
    assert len(parsed) + parsed.bad == len(rows)
    assert all(e.where.startswith("orders.jsonl:") for e in parsed.errors)
    for order in parsed:
        row = rows[int(order.source_ref.split(":")[1]) - 1]
        assert isinstance(row["symbol"], str) and order.symbol == row["symbol"].strip()
        for key in ("quantity", "limit_price", "reference_price"):
            raw = row.get(key)
            if raw is None or raw == "" or (isinstance(raw, str) and not raw.strip()):
                assert getattr(order, key) is None
                continue
            assert not isinstance(raw, bool)
            value = _plain_number(raw) if isinstance(raw, str) else float(raw)
            assert value is not None and math.isfinite(value) and value > 0 and getattr(order, key) == value
        flag = row.get("reduce_only")
        assert order.reduce_only is (flag is True or (isinstance(flag, str) and flag.strip().lower() in ("true", "1")))


every_key_values = st.one_of(json_values, st.sampled_from(["buy", "SELL", "limit", "market", "ioc", "fok", "gtc", "true", "0", "x", " BTC/EUR "]))


@settings(deadline=None)
@given(rows=st.lists(st.dictionaries(st.sampled_from(["symbol", "side", "quantity", "order_type", "limit_price", "time_in_force", "reduce_only", "strategy", "reference_price", "client_order_id"]), every_key_values), min_size=1, max_size=10))
def test_every_order_read_from_a_file_is_one_the_public_constructor_accepts_unchanged(tmp_path_factory, rows):
    """Orders from a file are built without re-running the constructor's checks: that is
    only safe while the parser refuses everything the constructor refuses."""
    orders = list(load_orders(_jsonl_file(tmp_path_factory, rows), skip_invalid=True))
    _assert_the_public_constructor_builds_each(orders)
    assert all(order.client_order_id != "" and order.strategy_params == {} for order in orders)


# -- item 12: one line, never a traceback ---------------------------------------------------


def test_a_csv_field_over_the_csv_field_limit_is_one_line(tmp_path):
    (tmp_path / "big.csv").write_text(HEADER + "BTC/EUR,buy,0.01," + "4" * 200_000 + "\n")
    err = _one_line_refusal(_peaktrade("orders", "preview", str(tmp_path / "big.csv")))
    assert err == "big.csv:2: field larger than field limit (131072)\n"


def test_an_orders_file_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "latin.csv").write_bytes((HEADER + GOOD_CSV_ROW).encode() + b"BTC/EUR,sell,0.01,40000 \xa4\n")  # latin-9 euro sign
    err = _one_line_refusal(_peaktrade("session", "run", "--orders", str(tmp_path / "latin.csv")))
    assert err == "latin.csv:3: not UTF-8 text (byte 0xa4 at byte 25 of the line)\n"


def test_json_nested_too_deep_is_one_line_per_row(tmp_path):
    (tmp_path / "deep.jsonl").write_text('{"symbol": ' + "[" * 100_000 + "]" * 100_000 + ', "side": "buy", "quantity": 1}\n')
    err = _one_line_refusal(_peaktrade("session", "run", "--orders", str(tmp_path / "deep.jsonl")))
    assert err.splitlines() == ["deep.jsonl:1: invalid JSON: nested too deep", "nothing was executed (use --skip-invalid to run the valid rows)"]


def test_an_endless_line_is_refused_without_reading_it_all(tmp_path):
    err = _one_line_refusal(_peaktrade("orders", "preview", "--format", "csv", "/dev/zero"))
    assert err == "zero:1: line longer than 1048576 bytes\n"


def test_a_spreadsheet_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + (HEADER + GOOD_CSV_ROW).encode())
    assert [o.symbol for o in load_orders(tmp_path / "excel.csv")] == ["BTC/EUR"]


# -- item 13: read once, run what was validated ---------------------------------------------


@pytest.fixture
def filling_sessions(monkeypatch):
    """``session run`` in this process fills every order at its price (no executor plugin)."""
    import peaktrade_core.cli_session as session

    original = session._make_pipeline

    def make(env, record=True, executor=None):
        return original(env, record=record, executor=executor or FillingExecutor())

    monkeypatch.setattr(session, "_make_pipeline", make)


def test_rows_appended_after_validation_are_not_executed(tmp_path, monkeypatch, filling_sessions):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "".join(f"BTC/EUR,buy,0.00{i},40000\n" for i in (1, 2, 3)))  # within the default limits
    validated_sha = __import__("hashlib").sha256(orders.read_bytes()).hexdigest()
    real_run = pipeline_module.ExecutionPipeline.run

    def run_after_tampering(self, orders_iter, **kwargs):
        with orders.open("a") as f:  # someone appends between validation and execution
            f.write("ETH/EUR,sell,50,2000\n" * 5 + "ETH/EUR,sell,-1,2000\n")
        return real_run(self, orders_iter, **kwargs)

    monkeypatch.setattr(pipeline_module.ExecutionPipeline, "run", run_after_tampering)
    result = CliRunner().invoke(cli, ["session", "run", "--orders", str(orders), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["orders"] == 3 and summary["by_status"] == {"filled": 3}
    assert summary["read_seconds"] >= 0  # reading is reported beside the session's own time
    assert list(summary["exposure_by_symbol"]) == ["BTC/EUR"]
    params = load_run_metadata(StateStore(tmp_path / "data" / "peaktrade.sqlite3"), summary["run_id"]).strategy_params
    assert params["sha256"] == validated_sha and params["rows"] == 3  # the run log names the bytes that ran


def test_a_fifo_is_read_once_and_its_orders_previewed(tmp_path):
    fifo = tmp_path / "orders.csv"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "w") as f:  # blocks until the reader opens it; a second open would wait forever
            f.write(HEADER + GOOD_CSV_ROW * 2)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    done = _peaktrade("orders", "preview", "--json", str(fifo), timeout=60)
    writer.join(timeout=10)
    assert done.returncode == 0, done.stderr.decode()
    assert [r["source"] for r in json.loads(done.stdout)] == ["orders.csv:2", "orders.csv:3"]


# -- item 14: bounded --skip-invalid, standard input ----------------------------------------


def test_skip_invalid_keeps_the_first_bad_rows_and_counts_all_of_them(tmp_path, filling_sessions):
    bad = 5_000
    (tmp_path / "orders.csv").write_text(HEADER + "BTC/EUR,buy,-1,40000\n" * bad + GOOD_CSV_ROW)
    result = CliRunner().invoke(cli, ["session", "run", "--orders", "orders.csv", "--skip-invalid", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["by_status"] == {"filled": 1}
    assert summary["skipped_rows_total"] == bad
    rows = summary["skipped_rows"]
    assert len(rows) == KEPT_ERRORS + 1
    assert rows[0] == "orders.csv:2: quantity: must be > 0, got -1"
    assert rows[-1] == f"... and {bad - KEPT_ERRORS} more bad rows ({bad} in all)"
    store = StateStore(tmp_path / "data" / "peaktrade.sqlite3")
    [event] = [e for e in iter_run_events(store, summary["run_id"]) if e.kind == "skipped_rows"]
    assert event.extra["rows"] == rows


def test_without_skip_invalid_the_listing_is_bounded_too(tmp_path):
    (tmp_path / "orders.csv").write_text(HEADER + "BTC/EUR,buy,-1,40000\n" * 1000)
    err = _one_line_refusal(_peaktrade("session", "run", "--orders", str(tmp_path / "orders.csv")))
    lines = err.splitlines()
    assert len(lines) == KEPT_ERRORS + 2
    assert lines[-2:] == ["... and 900 more bad rows (1000 in all)", "nothing was executed (use --skip-invalid to run the valid rows)"]


@pytest.mark.parametrize(("content", "fmt"), [(HEADER + GOOD_CSV_ROW, None), ("\n  \n" + GOOD_JSON_ROW, None), (GOOD_JSON_ROW, "jsonl"), (HEADER + GOOD_CSV_ROW, "csv")])
def test_orders_from_standard_input(content, fmt):
    done = _peaktrade("orders", "preview", "--json", "-", *(["--format", fmt] if fmt else []), stdin=content)
    assert done.returncode == 0, done.stderr.decode()
    [row] = json.loads(done.stdout)
    assert row["symbol"] == "BTC/EUR" and row["source"].startswith("<stdin>:") and row["would_pass"]


def test_bad_rows_on_standard_input_are_named_by_line():
    done = _peaktrade("session", "run", "--orders", "-", stdin=GOOD_JSON_ROW + '{"symbol": "BTC/EUR", "side": "buy", "quantity": "1_0"}\n')
    assert _one_line_refusal(done).splitlines()[0] == "<stdin>:2: quantity: expected a plain number (ASCII digits, no _), got '1_0'"


def test_the_examples_in_the_orders_page_are_valid_orders(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "orders.md").read_text()
    for suffix in ("csv", "json"):
        [block] = re.findall(rf"```{suffix}\n(.*?)```", text, flags=re.S)
        path = tmp_path / f"example.{suffix}l".replace(".csvl", ".csv")
        path.write_text(block)
        parsed = load_orders(path)
        assert parsed.bad == 0 and len(parsed) == block.count("\n") - (suffix == "csv")


def test_orders_beyond_one_chunk_are_spooled_and_come_back_in_order_unchanged(tmp_path, monkeypatch):
    import peaktrade_core.orderfile as orderfile

    monkeypatch.setattr(orderfile, "CHUNK_ROWS", 4)
    rows = [f"S{i},{'buy' if i % 2 else 'sell'},{i + 1}.5,{'limit' if i % 3 == 0 else 'market'},{'7' if i % 3 == 0 else ''},{'ioc' if i % 5 == 0 else ''},{'true' if i % 4 == 0 else ''},st{i % 2},{i + 100},{'c' + str(i) if i % 2 else ''}" for i in range(11)]
    path = tmp_path / "orders.csv"
    path.write_text(",".join(orderfile.COLUMNS) + "\n" + "\n".join(rows) + "\n")
    parsed = load_orders(path)
    assert len(parsed) == 11 and parsed.nbytes < 4 * 64  # only the last, partial chunk in memory
    path.write_text("")  # what runs no longer depends on the file
    got = [(o.symbol, o.side.value, o.quantity, o.order_type.value, o.limit_price, o.time_in_force.value, o.reduce_only, o.strategy, o.reference_price, o.source_ref) for o in parsed]
    assert got == [
        (f"S{i}", "buy" if i % 2 else "sell", i + 1.5, "limit" if i % 3 == 0 else "market", 7.0 if i % 3 == 0 else None, "ioc" if i % 5 == 0 else "gtc", i % 4 == 0, f"st{i % 2}", i + 100.0, f"orders.csv:{i + 2}")
        for i in range(11)
    ]
    assert [o.client_order_id for o in parsed][1::2] == [f"c{i}" for i in range(1, 11, 2)]


# -- the columnar CSV checks refuse exactly what the row-by-row checks refuse ---------------

plain_numbers = st.one_of(st.sampled_from(["1", "0.5", " 2e3 ", "+7"]), finite_prices.map(repr))


def _mostly(valid: list[str], doubtful: list[str]) -> st.SearchStrategy[str]:
    """Plainly valid values most of the time (so whole blocks pass), doubtful ones often."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(doubtful))


csv_values = {
    "symbol": _mostly(["BTC/EUR", " ETH/EUR ", "S1"], ["", " ", "X\u0007"]),
    "side": _mostly(["buy", "sell", "SELL", " Buy "], ["", " ", "hold"]),
    "quantity": st.one_of(plain_numbers, plain_numbers, number_texts),
    "order_type": _mostly(["", "market", "limit", "LIMIT "], [" ", "stop"]),
    "limit_price": st.one_of(st.just(""), plain_numbers, number_texts),
    "time_in_force": _mostly(["", "gtc", "IOC", " fok "], [" ", "day"]),
    "reduce_only": _mostly(["", "true", "0", " TRUE "], [" ", "yes"]),
    "strategy": _mostly(["", "ma", " ma "], [" ", "x\u0000"]),
    "reference_price": st.one_of(st.just(""), plain_numbers, number_texts),
    "client_order_id": _mostly(["", "c1", " c2 "], [" ", "\u0000"]),
}


@st.composite
def csv_files(draw):
    optional = [c for c in csv_values if c not in ("symbol", "side", "quantity")]
    columns = ["symbol", "side", "quantity"] + draw(st.lists(st.sampled_from(optional), unique=True, max_size=len(optional)))
    columns = draw(st.permutations(columns))
    rows = draw(st.lists(st.tuples(*(csv_values[c] for c in columns)), min_size=1, max_size=12))
    return columns, rows


def _as_tuple(order):
    from peaktrade_core.venues import is_generated

    cid = order.client_order_id
    return (order.symbol, order.side, order.quantity, order.order_type, order.limit_price, order.time_in_force, order.reduce_only,
            order.strategy, order.source_ref, order.reference_price, "<generated>" if is_generated(cid) else cid, dict(order.strategy_params))


@settings(deadline=None, max_examples=150)
@given(data=csv_files(), skip_invalid=st.booleans(), block=st.integers(1, 5))
def test_the_columnar_csv_checks_accept_and_refuse_exactly_what_the_row_checks_do(tmp_path_factory, data, skip_invalid, block):
    """Blocks of CSV rows are validated column by column when every value is plainly valid;
    a file must give the same orders, the same refusals and the same counts either way."""
    import peaktrade_core.orderfile as orderfile

    path = _csv_file(tmp_path_factory, *data)
    got = {}
    with pytest.MonkeyPatch.context() as patch:  # per example (hypothesis runs many in one test)
        patch.setattr(orderfile, "BLOCK_ROWS", block)
        patch.setattr(orderfile, "CHUNK_ROWS", 4)
        for columnar in (True, False):
            patch.setattr(orderfile, "COLUMNAR", columnar)
            parsed = load_orders(path, skip_invalid=skip_invalid)
            got[columnar] = (len(parsed), parsed.bad, [str(e) for e in parsed.errors], [_as_tuple(o) for o in parsed])
    assert got[True] == got[False]


def test_a_block_of_plainly_valid_rows_is_stored_column_by_column(tmp_path, monkeypatch):
    """The columnar checks are taken (not only their fallback): a valid block never reaches
    the row-by-row checks."""
    import peaktrade_core.orderfile as orderfile

    calls = []
    monkeypatch.setattr(orderfile, "_add", lambda *args: calls.append(args))
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + GOOD_CSV_ROW * 3 + "ETH/EUR,SELL,2,\n")
    parsed = load_orders(path)
    assert calls == [] and len(parsed) == 4
    assert [(o.symbol, o.side.value, o.quantity, o.reference_price, o.source_ref) for o in parsed][2:] == [
        ("BTC/EUR", "buy", 0.01, 40000.0, "orders.csv:4"), ("ETH/EUR", "sell", 2.0, None, "orders.csv:5")
    ]


@settings(deadline=None, max_examples=200)
@given(
    pieces=st.lists(st.sampled_from([b"a,b\n", b"\n", b"\r\n", b"x", b"\r", "é".encode(), "\ufeff".encode(), b"\xff", b"\xc3", b"0123456789"]), max_size=30),
    block=st.integers(1, 12),
)
def test_lines_read_in_blocks_are_the_lines_read_one_by_one(pieces, block):
    """Same lines, same sha256, same refusal (line too long, not UTF-8: line and byte)."""
    import hashlib
    import io

    import peaktrade_core.orderfile as orderfile

    data = b"".join(pieces)
    got = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(orderfile, "MAX_LINE_BYTES", 16)
        patch.setattr(orderfile, "BLOCK_BYTES", block)
        for read in (orderfile._lines, orderfile._lines_one_by_one):
            digest, lines = hashlib.sha256(), []
            try:
                lines.extend(read(io.BytesIO(data), "f.csv", digest))
                error = None
            except orderfile.OrderFileError as exc:
                error = str(exc)
            got.append((lines, error, digest.hexdigest() if error is None else None))
    assert got[0] == got[1]


@settings(deadline=None, max_examples=100)
@given(data=csv_files())
def test_every_order_of_a_csv_file_is_one_the_public_constructor_accepts_unchanged(tmp_path_factory, data):
    """CSV orders (checked column by column where a block allows) are built without the
    constructor's checks: each must be exactly what the public constructor builds."""
    _assert_the_public_constructor_builds_each(load_orders(_csv_file(tmp_path_factory, *data), skip_invalid=True))


# -- quote-free blocks of lines against one reader, row by row ------------------------------

csv_lines = st.sampled_from([
    "BTC/EUR,buy,1,40000", "ETH/EUR,sell,2.5,", "", " ", "\r", "S1,buy,0,1", "S1,buy,1_000,1", "S1,hold,1,1",
    '"BTC/EUR",buy,1,2', '"B\nC",buy,1,2', '"A,B",sell,3,4', 'S2,buy,"1\r\n",2', '"open,buy,1,2', 'x"y,buy,1,2',
    "S1,buy,1", "S1,buy,1,2,3", "S1,buy,1,2\rS2,sell,1,2", "\u00e9,buy,1,2", "S3,BUY,7,8\r",
])


@settings(deadline=None, max_examples=300)
@given(lines=st.lists(csv_lines, max_size=14), block=st.integers(1, 5), skip_invalid=st.booleans(), end=st.sampled_from(["\n", ""]))
def test_csv_read_in_quote_free_blocks_equals_one_reader_row_by_row(tmp_path_factory, lines, block, skip_invalid, end):
    """A block of lines without a quote is read one line a row (numbered by its place); a
    block with one goes row by row (a quoted field may span lines, also past the block).
    Same orders (line numbers in their source), same refusals naming the same lines."""
    import peaktrade_core.orderfile as orderfile

    path = tmp_path_factory.mktemp("csv") / "orders.csv"
    path.write_text("symbol,side,quantity,reference_price\n" + "\n".join(lines) + end, encoding="utf-8", newline="")
    got = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(orderfile, "BLOCK_ROWS", block)
        for quote_free in (True, False):
            patch.setattr(orderfile, "QUOTE_FREE_BLOCKS", quote_free)
            try:
                parsed = load_orders(path, skip_invalid=skip_invalid)
                got[quote_free] = (len(parsed), parsed.bad, [str(e) for e in parsed.errors], [_as_tuple(o) for o in parsed])
            except OrderFileError as exc:
                got[quote_free] = str(exc)
    assert got[True] == got[False]
