"""The ``peaktrade`` command line. The only layer that prints.

User mistakes (a bad config, a bad orders file, a refused action) end in one line on stderr
and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_USER_ERROR = 2
#: standard output could not be written (a full disk, an I/O error); sysexits' EX_IOERR
EXIT_OUTPUT_ERROR = 74


# one place for output conventions (JSON, colour, history options): cli_output
from peaktrade_core.cli_output import echo_json, fail  # noqa: E402,F401 - re-exported for the command modules


class Env:
    """Per-invocation context: the config and the state store, loaded on first use."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config = None
        self._store = None

    @property
    def config(self):
        if self._config is None:
            from peaktrade_core.config import ConfigError, load_config

            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                fail(exc.lines)
        return self._config

    @property
    def store(self):
        if self._store is None:
            from peaktrade_core.store import StateError, open_store

            try:
                self._store = open_store(self.config)
            except StateError as exc:  # a damaged file, an unreachable database: what to do
                fail(str(exc))
            except Exception as exc:  # unwritable data dir and the like
                fail(f"state store in {self.config.data_dir()}: {exc}")
            # closed when the command ends (after what it started, e.g. its alert
            # dispatcher), not whenever the collector gets to it: a close checkpoints the
            # SQLite WAL, which must not happen in the middle of later work in this process
            ctx = click.get_current_context(silent=True)
            if ctx is not None:
                ctx.find_root().call_on_close(self._store.close)
        return self._store

    def kill_switch(self):
        from peaktrade_core.killswitch import KillSwitch

        return KillSwitch(self.store)


pass_env = click.make_pass_decorator(Env)

#: subcommands defined in their own modules, imported only when used (fast start-up), with
#: the first sentence of their help for ``--help`` (a test keeps it equal to the command's)
LAZY_COMMANDS = {
    "session": ("peaktrade_core.cli_session:session", "Run orders through risk, gates and the configured executor."),
    "orders": ("peaktrade_core.cli_session:orders", "Orders files: preview with risk and gate results."),
    "runs": ("peaktrade_core.cli_runs:runs", "Recorded runs: list, show (monitor), verify the tamper-evident log, report as HTML."),
    "risk": ("peaktrade_core.cli_risk:risk", "Recorded risk-limit violations and the shared risk budget."),
    "portfolio": ("peaktrade_core.cli_risk:portfolio", "The portfolio: positions, exposure, cash, equity, PnL, and the portfolio-level risk limits."),
    "alerts": ("peaktrade_core.cli_alerts:alerts", "Alert sinks and the alert history."),
    "drills": ("peaktrade_core.cli_drills:drills", "Safety drills: prove every live gate, read-only, in memory."),
    "status": ("peaktrade_core.cli_state:status", "Operator console: mode, every gate, state store, kill switch, limits, verdict."),
    "kill": ("peaktrade_core.cli_state:kill", "Engage the kill switch: no new order passes until a person releases it."),
    "state": ("peaktrade_core.cli_state:state", "The state store: backend, schema and identity; initialise it after a loss; migrate it to PostgreSQL."),
    "exchange": ("peaktrade_core.cli_exchange:exchange", "The configured venue ([environment] exchange): status, balances, orders, cancel-all."),
    "health": ("peaktrade_core.cli_ops:health", "Check config, plugins, state store, run log, kill switch, limits, venue and alerts."),
    "readiness": ("peaktrade_core.cli_ops:readiness", "Stages 0-4 (research, testnet shadow, testnet, shadow live, live): which items of the next stage (or --stage N) the records show met, which are open, and the manual items for the people signing."),
    "testnet": ("peaktrade_core.cli_testnet:testnet", "Testnet profiles with per-session and per-day budgets (orders, notional)."),
    "feed": ("peaktrade_core.cli_feed:feed", "Market data: record a venue's feed, show a recording, run orders on quotes, compare runs."),
    "evidence": ("peaktrade_core.cli_ops:evidence", "Every audited control with its config, drills, tests and latest recorded result."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if _installed(n))})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._lazy(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of ``--help`` without importing any lazy command's module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            if name in LAZY_COMMANDS and name not in self.commands:
                rows.append((name, click.Command(name, help=LAZY_COMMANDS[name][1]).get_short_help_str(limit)))
            elif (cmd := self.commands[name]) is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _lazy(self, name: str) -> click.Command | None:
        if name not in LAZY_COMMANDS:
            return None
        import importlib

        module, _, attr = LAZY_COMMANDS[name][0].partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None  # that part is not installed/built


def _installed(name: str) -> bool:
    """Is the lazy command's module there (found, not imported)?"""
    from importlib.util import find_spec

    return find_spec(LAZY_COMMANDS[name][0].partition(":")[0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", help="Config file. Default: $PEAK_TRADE_CONFIG_PATH, else ./config/config.toml, else ~/.config/peaktrade/config.toml ($XDG_CONFIG_HOME), else the built-in defaults; `peaktrade config path` shows which.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Errors only.")
@click.option("--log-json", is_flag=True, help="Log as JSON lines on stderr.")
@click.option("--log-file", metavar="PATH", help="Also append the log (info and above, secrets redacted) to PATH.")
@click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR set; colour only on a terminal unless FORCE_COLOR is set).")
@click.version_option(package_name="peaktrade-core", prog_name="peaktrade")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool, log_json: bool, log_file: str | None, no_color: bool) -> None:
    """peaktrade: safety-first order execution.

    Commands that print data take --json; history commands list newest first and take
    --limit and --since. Shell completion: `peaktrade completion bash|zsh|fish`.
    """
    from peaktrade_core.cli_output import disable_colour
    from peaktrade_core.log import configure_logging

    if no_color:
        disable_colour()
    if log_file is not None:
        try:  # a path that cannot be written is the user's mistake: one line, before anything runs
            Path(log_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
            with open(Path(log_file).expanduser(), "a", encoding="utf-8"):
                pass
        except OSError as exc:
            fail(f"--log-file {log_file}: {exc.strerror or exc}")
    configure_logging(-1 if quiet else verbose, log_json, log_file=str(Path(log_file).expanduser()) if log_file else None)
    ctx.obj = Env(config_path)


# -- completion ---------------------------------------------------------------------------

_SHELLS = ("bash", "zsh", "fish")


@cli.command("completion")
@click.argument("shell", type=click.Choice(_SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(peaktrade completion bash)"       (in ~/.bashrc)
    zsh:   eval "$(peaktrade completion zsh)"        (in ~/.zshrc)
    fish:  peaktrade completion fish > ~/.config/fish/completions/peaktrade.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    click.echo(cls(cli, {}, "peaktrade", "_PEAKTRADE_COMPLETE").source())


# -- plugins ------------------------------------------------------------------------------


@cli.group()
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--hook", metavar="NAME", help="Only plugins implementing this hook.")
@click.option("--strict", is_flag=True, help="Exit 1 if any plugin failed to load.")
def plugins_list(as_json: bool, hook: str | None, strict: bool) -> None:
    """List built-in and installed plugins, their hooks and load status."""
    from peaktrade_core.hookspecs import hook_names
    from peaktrade_core.plugins import get_plugin_manager

    if hook is not None and hook not in hook_names():
        fail(f"--hook: unknown hook {hook!r}; one of {', '.join(hook_names())}")
    infos = get_plugin_manager().infos()
    if hook:
        infos = [i for i in infos if hook in i.hooks]
    if as_json:
        echo_json([i.to_dict() for i in sorted(infos, key=lambda i: i.name)])
    else:
        rows = [("NAME", "SOURCE", "DISTRIBUTION", "VERSION", "STATUS", "HOOKS")]
        for i in infos:
            rows.append((i.name, i.source, i.distribution, i.version, i.status, ", ".join(i.hooks) or "-"))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        for r in rows:
            click.echo("  ".join(r[c].ljust(widths[c]) for c in range(5)) + "  " + r[5])
        for i in infos:
            if i.error:
                effect = "every batch is blocked" if i.blocks_trading else "trading goes on without it"
                click.echo(f"! {i.name}: {i.error} ({effect})")
    if strict and any(i.status == "failed" for i in infos):
        sys.exit(1)


# -- config -------------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Validate, show, locate, create and edit the config file."""


@config.command("validate")
@click.argument("path", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON).")
@pass_env
def config_validate(env: Env, path: str | None, as_json: bool) -> None:
    """Check a config file; every mistake is one line. Exit 2 if any."""
    from peaktrade_core.config import ConfigError, load_config, resolve_config_path

    target = resolve_config_path(path or env.config_path)
    try:
        load_config(target)
    except ConfigError as exc:
        if as_json:
            echo_json({"path": str(target) if target else None, "ok": False, "problems": exc.lines})
            sys.exit(EXIT_USER_ERROR)
        fail(exc.lines)
    if as_json:
        echo_json({"path": str(target) if target else None, "ok": True, "problems": []})
    else:
        click.echo(f"{target or 'built-in defaults'}: ok")


@config.command("path")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON).")
@pass_env
def config_path_cmd(env: Env, as_json: bool) -> None:
    """Which config file is in force, and every place looked at, in order."""
    from peaktrade_core.config import config_search_order

    places = config_search_order(env.config_path)
    if as_json:
        echo_json([{"source": what, "path": str(where) if where else None, "used": used} for what, where, used in places])
        return
    used = next((where for _w, where, u in places if u), None)
    click.echo(str(used) if used else "built-in defaults")
    for what, where, is_used in places:
        mark = "*" if is_used else " "
        shown = str(where) if where else ("(packaged default_config.toml)" if what == "built-in defaults" else "(not set)")
        click.echo(f"  {mark} {what:<24} {shown}")


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON).")
@pass_env
def config_show(env: Env, as_json: bool) -> None:
    """The effective config (profiles applied), secrets redacted: TOML that `config
    validate` accepts and that loads to the same config (the confirm token as a comment)."""
    from peaktrade_core.config import to_display_dict

    data = to_display_dict(env.config)
    if as_json:
        echo_json({"source": env.config.source, **data})
        return
    import tomlkit

    # a file `config validate` accepts: the confirm token is never printed (its state is a
    # comment); a reference to it shows where it lives, which is not secret
    token = env.config.environment.confirm_token
    state = data["environment"].pop("confirm_token")
    if not isinstance(token, str) and token is not None:
        import attrs

        data["environment"]["confirm_token"] = {k: v for k, v in attrs.asdict(token).items() if v is not None}
    click.echo(f"# effective config from {env.config.source or 'built-in defaults'}")
    click.echo(f"# environment.confirm_token: {state}" + (" (not shown)" if isinstance(token, str) and token else ""))
    click.echo(tomlkit.dumps(_toml_safe(data)))


def _toml_safe(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _toml_safe(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_toml_safe(v) for v in node]
    return node


@config.command("init")
@click.argument("path", required=False)
@click.option("--user", is_flag=True, help="Write the user config (~/.config/peaktrade/config.toml, or under $XDG_CONFIG_HOME).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def config_init(path: str | None, user: bool, force: bool) -> None:
    """Write the documented default config (every live gate closed) to PATH (default:
    config/config.toml; --user: the user config)."""
    from peaktrade_core.config import (
        DEFAULT_CONFIG_PATH,
        PACKAGED_DEFAULT,
        ConfigError,
        user_config_path,
        write_atomically,
    )

    if path and user:
        fail("give PATH or --user, not both")
    target = user_config_path() if user else Path(path) if path else DEFAULT_CONFIG_PATH
    if target.exists() and not force:
        fail(f"{target}: exists; use --force to overwrite")
    try:
        write_atomically(target, PACKAGED_DEFAULT.read_bytes())
    except ConfigError as exc:
        fail(exc.lines)
    click.echo(f"wrote {target}")


@config.command("set", context_settings={"ignore_unknown_options": True})  # VALUE may be -5
@click.argument("key")
@click.argument("value")
@pass_env
def config_set(env: Env, key: str, value: str) -> None:
    """Set KEY (section.key) to VALUE (TOML syntax), keeping comments and order.

    The whole resulting file is validated before it is written (atomically); a refusal
    leaves the file byte-identical. Governance keys are refused: every key of
    [environment], the live limits of [live_risk], state.data_dir and state.url; a person edits those
    by hand.
    """
    from peaktrade_core.config import ConfigError, resolve_config_path, set_value

    target = resolve_config_path(env.config_path)
    if target is None:
        fail("no config file: run `peaktrade config init` first or pass --config")
    try:
        old, new = set_value(target, key, value)
    except ConfigError as exc:
        fail(exc.lines)
    click.echo(f"{target}: {key}: {old} -> {new}")


# -- entry point --------------------------------------------------------------------------


def _register_plugin_commands() -> None:
    from peaktrade_core.plugins import get_plugin_manager

    get_plugin_manager().register_commands(cli)


def main(argv: list[str] | None = None) -> None:
    from peaktrade_core import attrs_code_cache
    from peaktrade_core.errors import ConfigError
    from peaktrade_core.plugins import PluginError

    attrs_code_cache.install()  # before the plugins or a command import attrs
    try:
        try:
            import gc

            # loading the plugins makes modules and classes that live as long as the process:
            # no collection looks for garbage among them, now or later (gc.freeze)
            collecting = gc.isenabled()
            gc.disable()
            try:
                _register_plugin_commands()
            finally:
                if collecting:
                    gc.enable()
            gc.freeze()
            cli.main(args=argv, prog_name="peaktrade", standalone_mode=True)
        finally:
            sys.stdout.flush()  # a write error surfaces here, not in the interpreter's last flush
    except ConfigError as exc:
        fail(exc.lines)
    except PluginError as exc:
        fail(f"error: {exc}")
    except Exception as exc:
        # e.g. testnet/live on a lost or replaced state store; a command that never
        # imported the state module (--help) cannot raise its error: it stays unimported
        state = sys.modules.get("peaktrade_core.state")
        if state is not None and isinstance(exc, state.StateError):
            fail(str(exc))
        if not isinstance(exc, OSError) or not _is_output_error(exc):
            raise
        _output_lost(exc)


def _is_output_error(exc: OSError) -> bool:
    """Raised by writing the output (``click.echo``, or the last flush in ``main``)?"""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code if tb is not None else None
    return code is main.__code__ or (code is not None and code.co_name == "echo" and tb.tb_frame.f_globals.get("__name__") == "click.utils")


def _output_lost(exc: OSError) -> NoReturn:
    import contextlib
    import errno
    import os

    with contextlib.suppress(OSError, ValueError):  # drop the unwritable bytes: exit must not fail on them again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if exc.errno == errno.EPIPE:  # the reader left (`| head -1`): nothing to say
        sys.exit(1)
    fail(f"peaktrade: cannot write output: {exc.strerror or exc}", EXIT_OUTPUT_ERROR)
