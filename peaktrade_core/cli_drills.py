"""``peaktrade drills``: list and run the safety drills, read the drill log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from peaktrade_core.cli import Env, echo_json, fail, pass_env
from peaktrade_core.cli_output import echo, history_options, json_option

_WIDE = "=" * 70
_THIN = "─" * 70
_DETAIL_LABELS = {"mode": "Mode", "effective_mode": "Effective Mode"}


@click.group()
def drills() -> None:
    """Safety drills: prove every live gate, read-only, in memory."""


@drills.command("list")
@click.option("--pack", metavar="NAME", help="Only this drill pack's scenarios.")
@json_option
@pass_env
def drills_list(env: Env, pack: str | None, as_json: bool) -> None:
    """The drill scenarios of every installed drill pack."""
    from peaktrade_core.drills import LiveDrillRunner

    runner = LiveDrillRunner(env.config)
    scenarios = runner.scenarios(pack)
    if as_json:
        echo_json({"scenarios": [s.to_dict() for s in scenarios], "errors": runner.listing_errors})
    else:
        for s in scenarios:
            click.echo(f"{s.name}  [{s.pack}]")
            click.echo(f"    {s.description}")
        if not scenarios:
            click.echo(
                "no drill scenarios: install a drill pack, e.g. pip install peaktrade-drills-standard"
            )
        for error in runner.listing_errors:
            click.echo(f"! {error}")
    if runner.listing_errors:
        sys.exit(1)


@drills.command("run")
@click.option(
    "--scenario", metavar="NAME", help="Run one drill (its full name or a unique prefix, e.g. B)."
)
@click.option("--pack", metavar="NAME", help="Run only this drill pack's scenarios.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Report format (--json is the same as --format json).",
)
@json_option
@click.option(
    "--output",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE instead of stdout.",
)
@pass_env
def drills_run(
    env: Env, scenario: str | None, pack: str | None, fmt: str, as_json: bool, output: Path | None
) -> None:
    """Run the drills against the current config, in memory; exit 1 if any failed.

    The network is closed to the process while drills run, and the config file and the
    state database are verified byte-identical afterwards. Each run is appended to the
    drill log (`peaktrade drills log`).
    """
    from peaktrade_core.drills import DrillError, LiveDrillRunner
    from peaktrade_core.killswitch import current_operator
    from peaktrade_core.log import muted

    fmt = "json" if as_json else fmt
    config = env.config
    runner = LiveDrillRunner(config)
    try:
        selected = runner.select(scenario, pack)
    except DrillError as exc:
        fail(str(exc))
    # the incidents are simulated: their SAFETY log lines would read like real ones
    with muted():
        report = runner.run_all(selected)
    # only after the read-only proof: the evidence must not disturb what was verified
    _log_drill_run(config, report, current_operator())
    data = report.to_dict()
    data["config_sha256"] = config.sha256 or None
    try:  # NaN/Infinity are not JSON: refuse them, as every JSON output of the CLI does
        text = json.dumps(data, indent=2, allow_nan=False) if fmt == "json" else render_report(data)
    except ValueError as exc:
        fail(f"error: refusing to write an invalid JSON report: {exc}", 1)
    if output is None:
        (click.echo if fmt == "json" else echo)(text)
    else:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"--output: {output}: {exc}")
        verdict = "PASSED" if report.passed else "FAILED"
        echo(f"{verdict}: {data['passed_count']}/{data['count']} drills passed; report written to {output}")
    if not report.passed:
        sys.exit(1)


@drills.command("log")
@history_options()
@json_option
@pass_env
def drills_log(env: Env, limit: int | None, since: float | None, as_json: bool) -> None:
    """Every recorded drill run, newest first: when, who, how many, passed or failed."""
    from peaktrade_core.cli_output import newest_first
    from peaktrade_core.drills import DrillLog

    entries = newest_first(DrillLog.of(env.config, env.store).entries(), key="at", since=since, limit=limit)
    if as_json:
        echo_json(entries)
        return
    if not entries:
        click.echo(f"no drill runs recorded in {env.store.location}")
        return
    for e in entries:
        if "error" in e:
            click.echo(f"! {e['error']}")
            continue
        verdict = "PASSED" if e.get("passed") else "FAILED"
        verified = "read-only verified" if e.get("read_only_verified") else "READ-ONLY NOT VERIFIED"
        failed = f"  failed: {', '.join(e['failed'])}" if e.get("failed") else ""
        echo(
            f"{e.get('at')}  {e.get('operator', '?'):<12} {e.get('count', 0):>3} drills  {verdict}  {verified}  {e.get('config')}{failed}"
        )


def _log_drill_run(config: Any, report: Any, operator: str) -> None:
    """Append the run to the drill log in the state store; a store that cannot take it is a
    warning (the report stands), never a lost exit code."""
    from peaktrade_core.drills import DrillLog
    from peaktrade_core.store import StateError, open_store, store_errors

    try:
        store = open_store(config)
        try:
            DrillLog.of(config, store).append(report, operator)
        finally:
            store.close()
    except (*store_errors(), OSError) as exc:
        where = "" if isinstance(exc, StateError) else f"state store in {config.data_dir()}: "  # StateError names its store
        click.echo(f"warning: drill log not written: {where}{exc}", err=True)


# -- the text report ----------------------------------------------------------------------


def render_report(data: dict[str, Any]) -> str:
    """Seed 002's report layout from :meth:`DrillReport.to_dict` data."""
    lines = [
        _WIDE,
        "peaktrade - Safety drills (read-only)",
        _WIDE,
        "Read-only simulation in memory: no real orders, no config or state changes",
        f"Config:  {data['config']}"
        + (f" (sha256 {data['config_sha256'][:12]}…)" if data.get("config_sha256") else ""),
        f"Started: {data['started_at']}",
        "",
        _THIN,
        "Overview",
        _THIN,
        f"{'Number of drills:':<26}{data['count']}",
        f"{'Passed:':<26}{data['passed_count']} ✓",
        f"{'Failed:':<26}{data['failed_count']} ✗",
        f"{'Duration:':<26}{data['duration_ms']:.1f} ms",
    ]
    for error in data["errors"]:
        lines.append(f"✗ {error}")
    for r in data["results"]:
        allowed = r["is_live_execution_allowed"]
        lines += [
            "",
            _THIN,
            f"Drill: {r['scenario']}",
            _THIN,
            f"{'Status:':<27}{'✓ PASSED' if r['passed'] else '✗ FAILED'}",
            f"{'Pack:':<27}{r['pack']}",
            f"is_live_execution_allowed: {'-' if allowed is None else allowed}",
            f"{'Reason:':<27}{r['reason']}",
            f"{'Effective Mode:':<27}{r['effective_mode']}",
        ]
        if r["details"]:
            lines += ["", "Details:"]
            lines += [f"  • {_DETAIL_LABELS.get(k, k)}: {v}" for k, v in r["details"].items()]
        if r["notes"]:
            lines += ["", "Notes:"]
            lines += [f"  • {n}" for n in r["notes"]]
        if r["violations"]:
            lines += ["", "Violations:"]
            lines += [f"  ✗ {v}" for v in r["violations"]]
    read_only = data["read_only"]
    lines += ["", _WIDE]
    if read_only["verified"]:
        lines.append("All drills are simulations in memory. No real order was sent, no exchange")
        lines.append("was called, no config file or state was changed. Verified:")
    else:
        lines.append("READ-ONLY NOT VERIFIED: a drill tried to reach outside memory. Checks:")
    lines += [
        f"  {'✓' if c['ok'] else '✗'} {c['check']}: {c['detail']}" for c in read_only["checks"]
    ]
    lines.append(_WIDE)
    return "\n".join(lines)
