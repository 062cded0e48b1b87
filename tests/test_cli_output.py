"""The CLI's shared conventions (docs/cli.md): --json, newest first with --limit/--since,
colour for states only on a terminal, --log-file, shell completion, and no internal spec or
seed ids in anything a user reads."""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from peaktrade_core.cli import cli
from peaktrade_core.cli_output import newest_first, paint, parse_since

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def peaktrade(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peaktrade_core", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=check)


def on_a_terminal(*args: str, env: dict | None = None) -> str:
    """stdout of the command when it is a terminal (a pseudo-terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "peaktrade_core", *args], stdout=slave, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode()


# -- colour -------------------------------------------------------------------------------


def test_states_are_coloured_on_a_terminal_only():
    tty = on_a_terminal("status")
    assert "\x1b[31m\x1b[1mCLOSED\x1b[0m" in tty  # red: a closed gate
    assert "CLOSED" in ANSI.sub("", tty)
    piped = peaktrade("status", check=True)
    assert "CLOSED" in piped.stdout and "\x1b[" not in piped.stdout  # a pipe gets plain text


@pytest.mark.parametrize(("args", "env"), [(["--no-color"], {}), ([], {"NO_COLOR": "1"})], ids=["--no-color", "NO_COLOR"])
def test_no_color_wins_even_on_a_terminal(args, env):
    out = on_a_terminal(*args, "status", env=env)
    assert "CLOSED" in out and "\x1b[" not in out


def test_force_color_colours_a_pipe_but_not_over_no_color():
    forced = peaktrade("status", env={"FORCE_COLOR": "1"}, check=True)
    assert "\x1b[31m\x1b[1mCLOSED\x1b[0m" in forced.stdout
    assert "\x1b[" not in peaktrade("--no-color", "status", env={"FORCE_COLOR": "1"}, check=True).stdout
    assert "\x1b[" not in peaktrade("status", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}, check=True).stdout


def test_json_is_never_coloured():
    out = on_a_terminal("status", "--json")
    assert "\x1b[" not in out and json.loads(out)["is_live_execution_allowed"] is False


def test_state_words_coloured_as_whole_words_only():
    shown = paint("[CLOSED] NOT ALLOWED, ENGAGED; OKAY CLOSEDX HEALTHY NOT HEALTHY [ ok ]", True)
    assert ANSI.sub("", shown) == "[CLOSED] NOT ALLOWED, ENGAGED; OKAY CLOSEDX HEALTHY NOT HEALTHY [ ok ]"
    coloured = re.findall(r"\x1b\[(\d+)m\x1b\[1m([^\x1b]+)\x1b\[0m", shown)
    assert coloured == [("31", "CLOSED"), ("31", "NOT ALLOWED"), ("31", "ENGAGED"), ("32", "HEALTHY"), ("31", "NOT HEALTHY"), ("32", "[ ok ]")]
    assert paint("CLOSED", False) == "CLOSED"


# -- --json everywhere --------------------------------------------------------------------

def _commands(command: click.Command = cli, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command of the CLI by its path (a group that runs on its own, too)."""
    found = {path: command} if path and (not isinstance(command, click.Group) or command.invoke_without_command) else {}
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            found.update(_commands(command.get_command(ctx, name), (*path, name)))
    return found


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params for o in getattr(p, "opts", [])}


#: commands that print no data of their own: a script, a file they write, or a format of
#: their own (runs export --format jsonl); every other command must take --json
NOT_DATA = {("completion",), ("config", "init"), ("config", "set"), ("feed", "record"), ("runs", "export"), ("runs", "report")}
#: commands that act (engage, send, sign, write a store) or need a venue or a feed: --json is
#: tested with them elsewhere; listed so a new *reading* command is invoked below unasked
ACTS = {("alerts", "test"), ("drills", "run"), ("feed", "session"), ("kill",), ("readiness", "sign-off"), ("session", "run"),
        ("state", "init"), ("state", "migrate"), ("testnet", "run"), ("risk", "budget", "reset-settled")}
#: the arguments a reading command needs here
READ_ARGS = {("kill",): ["--history"]}


def _default_store():
    from peaktrade_core.state import StateStore

    return StateStore.in_dir(os.environ["PEAK_TRADE_DATA_DIR"])


def _record_runs(store, count: int, orders: int = 3) -> list[str]:
    """``count`` finished paper runs of ``orders`` orders each, as a session records them."""
    from peaktrade_core.orders import OrderExecutionResult, OrderRequest, OrderStatus
    from peaktrade_core.runlog import LiveRunLogger

    log = LiveRunLogger(store)
    run_ids = []
    for _ in range(count):
        run_id = log.start_run(mode="paper", effective_mode="paper", config_sha256="", strategy="t")
        log.record_batch(run_id, 0, {"mode": "paper"}, {"allowed": True})
        for i in range(orders):
            order = OrderRequest("BTC/EUR", "buy", 1.0 + i, reference_price=100.0, source_ref=str(i))
            log.record_order(run_id, OrderExecutionResult(order, OrderStatus.ACCEPTED))
            log.commit()
        log.finish_run(run_id, "finished", {"orders": orders})
        run_ids.append(run_id)
        time.sleep(0.002)  # a run's start time has milliseconds: the next run starts later
    store.close()
    return run_ids


def test_every_command_that_prints_data_takes_json():
    commands = _commands()
    assert len(commands) > 40
    assert {path for path, command in commands.items() if "--json" not in _options(command)} == NOT_DATA


def _reading_commands() -> list[list[str]]:
    paths = [path for path, command in _commands().items() if path not in NOT_DATA and (path not in ACTS or path in READ_ARGS)
             and path[0] != "exchange" and not any(isinstance(p, click.Argument) and p.required for p in command.params)]
    return [[*path, *READ_ARGS.get(path, [])] for path in sorted(paths)]


@pytest.mark.parametrize("args", _reading_commands(), ids=" ".join)
def test_every_reading_command_prints_json_with_json(args, tmp_path):
    _record_runs(_default_store(), 1)  # so `runs show/orders/verify` have one
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output  # health/readiness: 1 = something is open
    json.loads(result.stdout)


def test_orders_preview_prints_json_with_json(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,0.01,40000\n")
    result = CliRunner().invoke(cli, ["orders", "preview", str(orders), "--json"])
    assert result.exit_code == 0, result.output
    assert [row["symbol"] for row in json.loads(result.stdout)] == ["BTC/EUR"]
    from peaktrade_core.alerts import active_dispatcher

    assert active_dispatcher() is None  # its alerts flushed at the end, not left to a later command


def test_drills_run_json_is_format_json():
    pytest.importorskip("peaktrade_drills_standard")
    with_pack = {"PEAK_TRADE_PLUGINS": "drills-standard"}
    as_json = json.loads(peaktrade("drills", "run", "--json", env=with_pack).stdout)
    as_format = json.loads(peaktrade("drills", "run", "--format", "json", env=with_pack).stdout)
    assert as_json.keys() == as_format.keys() and as_json["count"] == as_format["count"] > 0


# -- newest first, --limit, --since -------------------------------------------------------


def test_parse_since_takes_durations_and_iso_times():
    now = 1_000_000.0
    assert [parse_since(v, now) for v in ("90s", "30m", "2h", "7d", "1w")] == [now - 90, now - 1800, now - 7200, now - 7 * 86400, now - 7 * 86400]
    assert parse_since("1970-01-02") == 86400.0  # no zone: UTC
    assert parse_since("1970-01-02T00:00:00Z") == parse_since("1970-01-02T01:00:00+01:00") == 86400.0
    with pytest.raises(ValueError, match="duration such as 30m"):
        parse_since("yesterday")


def test_newest_first_sorts_filters_and_limits():
    rows = [{"at": "2026-01-01T00:00:00+00:00", "n": 1}, {"at": "2026-01-03T00:00:00+00:00", "n": 3}, {"at": "2026-01-02T00:00:00+00:00", "n": 2}]
    assert [r["n"] for r in newest_first(rows)] == [3, 2, 1]
    assert [r["n"] for r in newest_first(rows, limit=2)] == [3, 2]
    assert [r["n"] for r in newest_first(rows, since=parse_since("2026-01-02"))] == [3, 2]


#: every command that takes --since (the history commands)
HISTORY = sorted(path for path, command in _commands().items() if "--since" in _options(command))


def test_every_history_command_takes_limit_too():
    assert len(HISTORY) >= 8
    assert [path for path in HISTORY if "--limit" not in _options(_commands()[path])] == []


@pytest.mark.parametrize("args", HISTORY, ids=" ".join)
def test_a_bad_since_is_one_line_and_exit_2(args):
    done = peaktrade(*args, "--since", "last tuesday")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["--since: expected an ISO date/time or a duration such as 30m, 1h, 2d; got 'last tuesday'"]
    assert done.stdout == ""


def _on_store(tmp_path: Path, url: str) -> dict:
    """Environment for a CLI on the store at ``url`` (``[state] url``; SQLite or PostgreSQL)."""
    config = tmp_path / "store.toml"
    config.write_text('[state]\nurl = { env = "PEAK_TRADE_DB_URL" }\n')
    return {"PEAK_TRADE_DB_URL": url, "PEAK_TRADE_CONFIG_PATH": str(config)}


def test_kill_history_is_newest_first_with_limit_and_since(any_store_url, tmp_path):
    env = _on_store(tmp_path, any_store_url)
    for reason in ("first", "second", "third"):
        peaktrade("kill", "--reason", reason, env=env, check=True)
        peaktrade("kill", "--release", "--reason", f"{reason} over", env=env, check=True)

    def history(*args: str) -> list[dict]:
        return json.loads(peaktrade("kill", "--history", "--json", *args, env=env, check=True).stdout)

    everything = history()
    assert [h["reason"] for h in everything] == ["third over", "third", "second over", "second", "first over", "first"]
    assert [h["reason"] for h in history("--limit", "2")] == ["third over", "third"]
    since = everything[2]["at"]  # "second over" and newer
    assert [h["reason"] for h in history("--since", since)] == ["third over", "third", "second over"]
    assert history("--since", "1h") == everything
    text = peaktrade("kill", "--history", "--limit", "1", env=env, check=True).stdout.splitlines()
    assert len(text) == 1 and "RELEASED" in text[0] and "third over" in text[0]


def test_drills_log_is_newest_first_with_limit_and_since():
    from peaktrade_core.config import load_config
    from peaktrade_core.drills import drill_log_path

    path = drill_log_path(load_config())
    path.parent.mkdir(parents=True, exist_ok=True)
    days = ["2026-03-01", "2026-03-03", "2026-03-02"]  # as appended: not in time order
    path.write_text("".join(json.dumps({"at": f"{d}T10:00:00+00:00", "operator": "op", "count": 1, "passed": True}) + "\n" for d in days))
    entries = json.loads(peaktrade("drills", "log", "--json", check=True).stdout)
    assert [e["at"][:10] for e in entries] == ["2026-03-03", "2026-03-02", "2026-03-01"]
    assert json.loads(peaktrade("drills", "log", "--json", "--limit", "1", check=True).stdout) == entries[:1]
    assert [e["at"][:10] for e in json.loads(peaktrade("drills", "log", "--json", "--since", "2026-03-02", check=True).stdout)] == ["2026-03-03", "2026-03-02"]
    text = peaktrade("drills", "log", "--limit", "2", check=True).stdout.splitlines()
    assert len(text) == 2 and text[0].startswith("2026-03-03") and "PASSED" in text[0]


def test_alerts_history_run_filter_shows_only_that_runs_alerts(any_store_url, tmp_path):
    env = _on_store(tmp_path, any_store_url)
    peaktrade("kill", "--reason", "an alert outside any run", env=env, check=True)
    # no executor plugin in the core tests: record two runs and their alerts as the
    # pipeline does (every pipeline alert names its run in its context)
    from peaktrade_core.alerts import AlertEvent, AlertHistory, AlertLevel
    from peaktrade_core.runlog import LiveRunLogger
    from peaktrade_core.store import open_store_url

    store = open_store_url(any_store_url, data_dir=tmp_path / "data")
    runlog = LiveRunLogger(store)
    run_ids = [runlog.start_run(mode="paper", effective_mode="paper", config_sha256="", strategy="t") for _ in range(2)]
    history = AlertHistory(store)
    for run_id in run_ids:
        history.record([AlertEvent(AlertLevel.WARNING, "pipeline", "gate.x", f"blocked in {run_id}", {"run_id": run_id})], ())
    store.close()
    mine = json.loads(peaktrade("alerts", "history", "--json", "--run", run_ids[0], env=env, check=True).stdout)
    assert [a["message"] for a in mine] == [f"blocked in {run_ids[0]}"]
    assert len(json.loads(peaktrade("alerts", "history", "--json", env=env, check=True).stdout)) == 3
    missing = peaktrade("alerts", "history", "--run", "nosuchrun", env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and missing.stderr.startswith("--run: ")


def test_runs_list_is_newest_first_with_limit_and_since():
    first, second, third = _record_runs(_default_store(), 3)

    def listed(*args: str) -> list[str]:
        return [r["run_id"] for r in json.loads(peaktrade("runs", "list", "--json", *args, check=True).stdout)]

    everything = json.loads(peaktrade("runs", "list", "--json", check=True).stdout)
    assert [r["run_id"] for r in everything] == [third, second, first]
    assert all(r["orders"] == 3 for r in everything)
    assert listed("--limit", "2") == [third, second]
    assert listed("--since", everything[1]["started_at"]) == [third, second]
    text = peaktrade("runs", "list", "--limit", "1", check=True).stdout.splitlines()
    assert len(text) == 2 and text[1].startswith(third)  # the header and the newest run


def test_runs_orders_is_newest_first_with_limit_and_since():
    (run_id,) = _record_runs(_default_store(), 1, orders=4)
    everything = json.loads(peaktrade("runs", "orders", run_id, "--json", check=True).stdout)
    assert [r["quantity"] for r in everything] == [4.0, 3.0, 2.0, 1.0]
    assert [r["quantity"] for r in json.loads(peaktrade("runs", "orders", run_id, "--json", "--limit", "2", check=True).stdout)] == [4.0, 3.0]
    since = json.loads(peaktrade("runs", "orders", run_id, "--json", "--since", everything[1]["time"], check=True).stdout)
    assert [r["quantity"] for r in since] == [4.0, 3.0]


def _record_violations_and_snapshots(store, run_ids: list[str]) -> None:
    from peaktrade_core.orders import OrderRequest
    from peaktrade_core.portfolio import LivePortfolioSnapshot
    from peaktrade_core.risk import RiskViolation
    from peaktrade_core.riskrecords import RiskRecords

    records = RiskRecords(store)
    for n, run_id in enumerate(run_ids):
        order = OrderRequest("BTC/EUR", "buy", 1.0, reference_price=100.0, source_ref=str(n))
        records.record_violations(run_id, 0, [order], [RiskViolation("max_order_notional", f"too big in {run_id}", 0, "BTC/EUR", 50.0, 100.0)], True)
        records.record_portfolio(LivePortfolioSnapshot(as_of=1_000_000.0 + n, cash=1000.0 + n, realized_pnl=0.0, source="state"), run_id=run_id)
    store.close()


def test_risk_and_portfolio_history_take_run(any_store_url, tmp_path):
    from peaktrade_core.store import open_store_url

    env = _on_store(tmp_path, any_store_url)
    run_ids = _record_runs(open_store_url(any_store_url, data_dir=tmp_path / "data"), 2, orders=1)
    _record_violations_and_snapshots(open_store_url(any_store_url, data_dir=tmp_path / "data"), run_ids)

    def history(*args: str) -> list[dict]:
        return json.loads(peaktrade(*args, "--json", env=env, check=True).stdout)

    assert [r["run_id"] for r in history("risk", "history")] == run_ids[::-1]  # newest first
    assert [r["message"] for r in history("risk", "history", "--run", run_ids[0])] == [f"too big in {run_ids[0]}"]
    assert [r["cash"] for r in history("portfolio", "history")] == [1001.0, 1000.0]
    assert [r["cash"] for r in history("portfolio", "history", "--run", run_ids[1])] == [1001.0]
    text = peaktrade("risk", "history", "--run", run_ids[1], env={**env, "FORCE_COLOR": "1"}, check=True).stdout
    assert "\x1b[31m\x1b[1mBLOCKED\x1b[0m" in text and run_ids[0] not in text
    missing = peaktrade("risk", "history", "--run", "nosuchrun", env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and missing.stderr.startswith("--run: ")


def test_runs_verify_colours_ok_and_failed():
    import sqlite3

    from peaktrade_core.state import STATE_FILE

    good, bad = _record_runs(_default_store(), 2, orders=1)
    with sqlite3.connect(Path(os.environ["PEAK_TRADE_DATA_DIR"]) / STATE_FILE) as db:  # tamper with one recorded order
        rid = db.execute("SELECT rid FROM runlog_runs WHERE run_id = ?", (bad,)).fetchone()[0]
        db.execute("UPDATE runlog_records SET payload = replace(payload, 'BTC/EUR', 'ETH/EUR') WHERE rid = ? AND payload LIKE '[\"order%'", (rid,))
    done = peaktrade("runs", "verify", "--all", env={"FORCE_COLOR": "1"})
    assert done.returncode == 1
    assert f"{good}: \x1b[32m\x1b[1mOK\x1b[0m, " in done.stdout
    assert f"{bad}: \x1b[31m\x1b[1mFAILED\x1b[0m: " in done.stdout
    assert "\x1b[" not in peaktrade("runs", "verify", "--all").stdout  # a pipe: plain


def test_orders_preview_colours_blocked(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,reference_price\nBTC/EUR,buy,1000,40000\n")  # far over the default limits
    preview = peaktrade("orders", "preview", str(orders), env={"FORCE_COLOR": "1"}, check=True).stdout
    assert "\x1b[31m\x1b[1mBLOCKED\x1b[0m" in preview.splitlines()[0]
    assert "\x1b[" not in peaktrade("orders", "preview", str(orders), check=True).stdout


# -- --log-file ---------------------------------------------------------------------------


def test_log_file_gets_info_lines_redacted_whatever_q_says(tmp_path):
    log = tmp_path / "logs" / "peaktrade.log"
    secret = "hunter2-very-secret"
    config = tmp_path / "c.toml"
    config.write_text('[live_alerts]\nsinks = ["log"]\nwebhook_urls = [{ env = "PT_TEST_HOOK" }]\n')
    done = peaktrade("-q", "--log-file", str(log), "--config", str(config), "kill", "--reason", f"leak {secret} check",
                     env={"PT_TEST_HOOK": f"https://hooks.example/{secret}"})
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr  # -q: errors only on stderr ...
    text = log.read_text()
    assert "WARNING [SAFETY] kill switch engaged" in text.replace("peaktrade_core.killswitch: ", "")  # ... the file has the record
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} WARNING ", text)
    # redacted like stderr: once the config's secrets are resolved (the alert), never in clear
    alert_line = next(line for line in text.splitlines() if "killswitch/engaged" in line)
    assert alert_line.endswith("leak *** check") and secret not in alert_line


def test_log_file_redacts_registered_secrets(tmp_path):
    from peaktrade_core.log import configure_logging, logger, register_secret

    log = tmp_path / "p.log"
    register_secret("s3cr3t-token-value")
    try:
        configure_logging(-1, log_file=str(log))
        logger.info("calling https://venue.example/?key=s3cr3t-token-value now")
    finally:
        configure_logging(0)
    text = log.read_text()
    assert "calling https://venue.example/?key=***" in text and "s3cr3t" not in text


def test_an_unwritable_log_file_is_one_line_exit_2(tmp_path):
    done = peaktrade("--log-file", str(tmp_path), "status")  # a directory
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--log-file" in done.stderr and "Traceback" not in done.stderr


# -- completion ---------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_completes_a_subcommand(tmp_path):
    script = peaktrade("completion", "bash", check=True).stdout
    assert "_PEAKTRADE_COMPLETE=bash_complete" in script and "complete " in script
    # a `peaktrade` on PATH, as an installed one would be
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "peaktrade").write_text(f"#!/bin/sh\nexec {sys.executable} -m peaktrade_core \"$@\"\n")
    (bindir / "peaktrade").chmod(0o755)
    (tmp_path / "completion.bash").write_text(script)
    probe = (
        f"source {tmp_path / 'completion.bash'}\n"
        "COMP_WORDS=(peaktrade dri); COMP_CWORD=1; _peaktrade_completion peaktrade; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
        "COMP_WORDS=(peaktrade drills ''); COMP_CWORD=2; _peaktrade_completion peaktrade; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "drills"
    assert {"list", "run", "log"} <= set(words[1:])


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_are_printed(shell):
    assert "_PEAKTRADE_COMPLETE" in peaktrade("completion", shell, check=True).stdout


# -- no internal ids in what a user reads -------------------------------------------------

#: the specification's requirement ids (SPEC.md) and the seed documents' numbers
SPEC_ID = re.compile(r"\b(?:ALERT|DRILL|ENV|EXCH|GATE|OPS|ORD|PLUG|PORT|RISK|RUN)-\d+\b|\b[Ss]eeds? (?:0\d\d)\b|\bphase \d+\b")


def _all_help(command: click.Command, path: list[str]) -> list[tuple[str, str]]:
    out = [(" ".join(path), CliRunner().invoke(cli, [*path[1:], "--help"]).output)]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            out += _all_help(command.get_command(ctx, name), [*path, name])
    return out


def test_no_spec_or_seed_ids_in_any_help():
    helps = _all_help(cli, ["peaktrade"])
    assert len(helps) > 40  # every command, not just the top
    found = [(where, m[0]) for where, text in helps for m in SPEC_ID.finditer(text)]
    assert found == []


def _package_dirs() -> list[Path]:
    dirs = [ROOT / "peaktrade_core"]
    for pyproject in [*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("examples/*/pyproject.toml")]:
        dirs += [p.parent for p in pyproject.parent.glob("*/__init__.py") if p.parent.name != "tests"]
    return dirs


def test_no_spec_or_seed_ids_in_any_message():
    """Every string literal of the packages (messages, HTML, error text); docstrings are
    developer documentation, except commands' help, which the test above reads."""
    found = []
    for directory in _package_dirs():
        for path in sorted(directory.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.body[0].value) for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                    found += [f"{path.relative_to(ROOT)}:{node.lineno}: {m[0]}" for m in SPEC_ID.finditer(node.value)]
    assert found == []
    default_config = (ROOT / "peaktrade_core" / "default_config.toml").read_text()
    assert SPEC_ID.findall(default_config) == []


def test_the_transcripts_in_docs_cli_md_are_what_the_cli_prints():
    text = (ROOT / "docs" / "cli.md").read_text()
    transcripts = re.findall(r"```text\n\$ peaktrade (.*?)\n(.*?)```", text, flags=re.S)
    assert transcripts
    for command, expected in transcripts:
        done = peaktrade(*command.split())
        assert (done.stdout + done.stderr) == expected, command


@pytest.mark.parametrize("command", HISTORY, ids=" ".join)
def test_the_history_table_in_docs_cli_md_holds(command):
    options = _options(_commands()[command])
    assert "--json" in options
    name = " ".join(command) + (" --history" if command == ("kill",) else "")
    rows = [line for line in (ROOT / "docs" / "cli.md").read_text().splitlines() if line.startswith("| `") and f"`{name}`" in line.split("|")[1]]
    assert len(rows) == 1, name
    cells = [c.strip() for c in rows[0].split("|")[2:5]]
    assert [c.startswith("yes") for c in cells] == [o in options for o in ("--limit", "--since", "--run")], rows[0]
