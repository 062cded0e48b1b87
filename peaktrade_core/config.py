"""Configuration: TOML read and written with tomlkit, structured with cattrs (ENV-3).

Every mistake in a file is reported at once, one line each::

    config.toml: live_risk.max_order_notional: expected a number, got "abc"

Lookup order of :func:`load_config`: the ``path`` argument, ``$PEAK_TRADE_CONFIG_PATH``,
``./config/config.toml``, then the built-in defaults (everything blocked).
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from attrs import field, frozen
from attrs.validators import ge, gt, in_
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from peaktrade_core.alerts import AlertLevel, LiveAlertsConfig
from peaktrade_core.environment import ENVIRONMENT_PROFILES, EnvironmentConfig, TradingMode
from peaktrade_core.errors import ConfigError
from peaktrade_core.risk import RISK_PROFILES, LiveRiskConfig
from peaktrade_core.secrets import REDACTED, SecretRef, is_secret_key, reference_hint

CONFIG_ENV_VAR = "PEAK_TRADE_CONFIG_PATH"
DEFAULT_CONFIG_PATH = Path("config") / "config.toml"
PACKAGED_DEFAULT = Path(__file__).with_name("default_config.toml")

#: ``[environment]`` keys a person changes by hand, as a governance decision; never by
#: ``peaktrade config set``.
GOVERNED_KEYS = frozenset(
    f"environment.{k}"
    for k in (
        "mode",
        "enable_live_trading",
        "live_mode_armed",
        "live_dry_run_mode",
        "require_confirm_token",
        "confirm_token",
        "require_manual_confirm_for_live",
        "kill_switch_allow_reduce_only",
        "live_allowed_symbols",
        "live_allowed_exchanges",
        "profile",
    )
)


@frozen
class ExecutionConfig:
    """``[execution]``: how the pipeline runs."""

    #: "batch": the run log commits once per batch; "order": once per order, fully synced
    durability: str = field(default="batch", validator=in_(("batch", "order")))
    batch_size: int = field(default=1000, validator=ge(1))
    #: a gate or risk plugin that takes longer blocks the batch (fail closed)
    plugin_timeout_seconds: float = field(default=2.0, validator=gt(0.0))
    submit_timeout_seconds: float = field(default=10.0, validator=gt(0.0))
    max_retries: int = field(default=3, validator=ge(0))
    retry_backoff_seconds: float = field(default=0.5, validator=ge(0.0))
    starting_cash: float = field(default=100_000.0, validator=ge(0.0))


@frozen
class StateConfig:
    """``[state]``: where the run log, kill switch and alert history live."""

    #: default: $PEAK_TRADE_DATA_DIR, else the per-user data directory, so that every
    #: process of a user shares one kill switch
    data_dir: str | None = None


@frozen
class PeakTradeConfig:
    environment: EnvironmentConfig = EnvironmentConfig()
    live_risk: LiveRiskConfig = LiveRiskConfig()
    live_alerts: LiveAlertsConfig = LiveAlertsConfig()
    execution: ExecutionConfig = ExecutionConfig()
    state: StateConfig = StateConfig()
    #: ``[plugins.<name>]`` tables, structured by each plugin's declared class
    plugins: Mapping[str, Any] = field(factory=dict)
    #: the file this came from (``None``: built-in defaults) and its SHA-256
    source: str | None = field(default=None, eq=False)
    sha256: str = field(default="", eq=False)

    def data_dir(self) -> Path:
        explicit = os.environ.get("PEAK_TRADE_DATA_DIR") or self.state.data_dir
        if explicit:
            return Path(explicit).expanduser()
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(base) / "peaktrade"


_SECTIONS = {a.name for a in attrs.fields(PeakTradeConfig)} - {"source", "sha256"}


# -- structuring --------------------------------------------------------------------------


def _strict(kind: type, expected: str):
    def hook(value: Any, _type: Any) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ValueError(f"expected {expected}, got {_show(value)}")
        return kind(value)

    return hook


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _enum_hook(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    if cls is AlertLevel:
        return AlertLevel.parse(value)
    for member in cls:
        if member.value == value:
            return member
    choices = ", ".join(str(m.value) for m in cls)
    raise ValueError(f"expected one of {choices}; got {_show(value)}")


def _secret_hook(value: Any, _type: Any) -> SecretRef:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a secret reference such as {reference_hint('secret')}, got {_show(value)}")
    extra = set(value) - {"env", "keyring"}
    if extra:
        raise ValueError(f'a secret reference takes only "env" or "keyring", not {", ".join(sorted(extra))}')
    return SecretRef(**{k: str(v) for k, v in value.items()})


def _is_list_type(t: Any) -> bool:
    origin, args = typing.get_origin(t), typing.get_args(t)
    return origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)


def _list_only(t: Any, conv: cattrs.Converter) -> Any:
    """cattrs turns any iterable into a list: ``sinks = "log"`` became ("l", "o", "g")."""
    from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory

    base = (list_structure_factory if typing.get_origin(t) is list else homogenous_tuple_structure_factory)(t, conv)

    def hook(value: Any, _t: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {_show(value)}")
        return base(value, _t)

    return hook


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    # cattrs' own bool("false") is True: unacceptable for a gate flag. Strict primitives.
    for kind, expected in ((bool, "true or false"), (int, "a whole number"), (float, "a number"), (str, "a string")):
        conv.register_structure_hook(kind, _strict(kind, expected))
    for enum_type in (TradingMode, AlertLevel):  # more specific than the int/str hooks
        conv.register_structure_hook(enum_type, _enum_hook)
    conv.register_structure_hook(SecretRef, _secret_hook)

    def _token(value: Any, _t: Any) -> str | SecretRef | None:
        if value is None or isinstance(value, str):
            return value or None
        return _secret_hook(value, SecretRef)

    conv.register_structure_hook(str | SecretRef | None, _token)
    conv.register_structure_hook_factory(_is_list_type, _list_only)
    conv.register_unstructure_hook(SecretRef, lambda r: attrs.asdict(r, filter=lambda a, v: v is not None))
    return conv


converter = _make_converter()


def _describe(exc: BaseException) -> str:
    msg = str(exc.args[0]) if exc.args else str(exc)
    if _validator_attribute(exc) is not None and msg.startswith("'"):
        # attrs: "'x' must be >= 0: -5" / "'x' must be in ('a', 'b') (got 'c')"
        rule = msg.split("' ", 1)[-1]
        got = re.match(r"(.*?)(?: \(got (.*)\)|: (.*))$", rule)
        if got:
            return f"{got.group(1)}, got {got.group(2) or got.group(3)}"
        return rule
    if isinstance(exc, KeyError):
        return "missing required key"
    return msg or type(exc).__name__


def _validator_attribute(exc: BaseException) -> str | None:
    """The key an attrs validator complained about: in ``args[1]`` (``in_``) or named at
    the start of the message (``ge``, ``gt``: "'max_order_notional' must be >= 0: -5")."""
    if len(exc.args) >= 2 and isinstance(exc.args[1], attrs.Attribute):
        return exc.args[1].name
    named = re.match(r"'(\w+)' must be ", str(exc.args[0])) if isinstance(exc, ValueError) and exc.args else None
    return named.group(1) if named else None


def _walk(exc: BaseException, path: list[str], known: list[str]) -> typing.Iterator[tuple[str, str]]:
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield ".".join([*path, key]), f"unknown key{hint}"
        return
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        fields = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for inner, note in with_notes:
            yield from _walk(inner, [*path, note.name], fields)
        for inner in without:
            yield from _walk(inner, path, fields)
        return
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            last = path[-1] if path else ""
            yield from _walk(inner, [*path[:-1], f"{last}[{note.index}]"], known)
        for inner in without:
            yield from _walk(inner, path, known)
        return
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _walk(inner, path, known)
        return
    attribute = _validator_attribute(exc)
    if attribute is not None and (not path or path[-1] != attribute):
        path = [*path, attribute]
    yield ".".join(path), _describe(exc)


def structure_section(data: Any, cls: type, prefix: str) -> tuple[Any, list[tuple[str, str]]]:
    """Structure ``data`` into ``cls``; return ``(instance or None, [(key, problem)])``."""
    if not isinstance(data, Mapping):
        return None, [(prefix, f"expected a table, got {_show(data)}")]
    try:
        return converter.structure(dict(data), cls), []
    except Exception as exc:  # noqa: BLE001 - every mistake becomes a line, never a traceback
        known = [a.name for a in attrs.fields(cls)]
        return None, list(_walk(exc, [prefix], known))


def _literal_secrets(data: Any, path: list[str]) -> typing.Iterator[tuple[list[str], str]]:
    """Paths whose key names a secret but whose value is literal text."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if is_secret_key(str(key)):
                items = value if isinstance(value, list) else [value]
                for i, item in enumerate(items):
                    if isinstance(item, str):
                        where = [*path, f"{key}[{i}]" if isinstance(value, list) else str(key)]
                        yield where, str(key)
            elif isinstance(value, Mapping):
                yield from _literal_secrets(value, [*path, str(key)])


def _apply_profile(
    section: dict[str, Any], presets: dict[str, dict[str, Any]], where: str
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    name = section.get("profile")
    if name is None:
        return section, []
    if name not in presets:
        return section, [(f"{where}.profile", f"unknown profile {_show(name)}; one of {', '.join(presets)}")]
    return {**presets[name], **section}, []


def structure_config(
    raw: Mapping[str, Any],
    source: str = "<defaults>",
    plugin_sections: Mapping[str, type] | None = None,
    sha256: str = "",
) -> PeakTradeConfig:
    """Validate and structure a whole config mapping; raise :class:`ConfigError` listing
    every problem as ``source: key: problem``."""
    problems: list[tuple[str, str]] = []
    data = {k: v for k, v in raw.items()}

    for where, key in list(_literal_secrets(data, [])):
        problems.append((".".join(where), f"literal secret not allowed; give a reference such as {reference_hint(key)}"))
        _drop(data, where)

    values: dict[str, Any] = {}
    for key in data:
        if key not in _SECTIONS:
            close = difflib.get_close_matches(key, sorted(_SECTIONS), n=1)
            problems.append((key, "unknown section" + (f" (did you mean {close[0]}?)" if close else "")))
    for name, presets in (("environment", ENVIRONMENT_PROFILES), ("live_risk", RISK_PROFILES)):
        if isinstance(data.get(name), Mapping):
            data[name], errs = _apply_profile(dict(data[name]), presets, name)
            problems += errs
    for attribute in attrs.fields(PeakTradeConfig):
        name = attribute.name
        if name in ("source", "sha256", "plugins") or name not in data:
            continue
        instance, errs = structure_section(data[name], attribute.type if isinstance(attribute.type, type) else _resolve(name), name)
        problems += errs
        if instance is not None:
            values[name] = instance

    plugins: dict[str, Any] = {}
    tables = data.get("plugins", {})
    if not isinstance(tables, Mapping):
        problems.append(("plugins", f"expected a table, got {_show(tables)}"))
        tables = {}
    for pname, table in tables.items():
        cls = (plugin_sections or {}).get(pname)
        if cls is None:
            plugins[pname] = table  # plugin not installed here: kept as given, checked where it is
            continue
        instance, errs = structure_section(table, cls, f"plugins.{pname}")
        problems += errs
        plugins[pname] = instance
    if problems:
        raise ConfigError([f"{source}: {key}: {what}" for key, what in problems])
    return PeakTradeConfig(**values, plugins=plugins, source=None if source == "<defaults>" else source, sha256=sha256)


def _resolve(section: str) -> type:
    return typing.get_type_hints(PeakTradeConfig)[section]


def _drop(data: dict[str, Any], where: list[str]) -> None:
    node: Any = data
    for part in where[:-1]:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    key = where[-1].split("[")[0]
    if isinstance(node, dict):
        node.pop(key, None)


# -- files --------------------------------------------------------------------------------


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    if path is not None:
        return Path(path)
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR])
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH
    return None


def read_document(path: Path) -> Any:
    """Parse a TOML file with tomlkit; a syntax error becomes a one-line ConfigError."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError([f"{path}:{exc.line}: invalid TOML: {str(exc).split(' at line')[0]}"]) from None


def load_config(
    path: str | os.PathLike[str] | None = None, plugin_sections: Mapping[str, type] | None = None
) -> PeakTradeConfig:
    """Load, validate and structure the config (see module doc for the lookup order).

    ``plugin_sections`` maps ``[plugins.<name>]`` to classes; by default they are asked from
    the loaded plugins (``config_sections`` hook).
    """
    resolved = resolve_config_path(path)
    if resolved is None:
        return PeakTradeConfig()
    doc = read_document(resolved)
    pm = None
    if plugin_sections is None:
        from peaktrade_core.plugins import get_plugin_manager

        pm = get_plugin_manager()
        plugin_sections = pm.config_sections()
    raw = doc.unwrap()
    digest = hashlib.sha256(resolved.read_bytes()).hexdigest()
    config = structure_config(raw, str(resolved), plugin_sections, digest)
    if pm is not None:  # the plugins are loaded: a sink none of them serves is a mistake
        from peaktrade_core.alerts import sink_problems

        problems = sink_problems(config, pm)
        if problems:
            raise ConfigError([f"{resolved}: {key}: {what}" for key, what in problems])
    return config


def to_display_dict(config: PeakTradeConfig) -> dict[str, Any]:
    """The effective config as plain data, secrets redacted, confirm token as its state."""
    data = converter.unstructure(config)
    data.pop("source", None)
    data.pop("sha256", None)
    data["environment"]["confirm_token"] = config.environment.token_state().value
    return _redact(data)


def _redact(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        if set(node) <= {"env", "keyring"} and node:
            return node  # a reference shows where the secret lives, which is not secret
        return {k: _redact(v, k) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_redact(v, key) for v in node]
    if isinstance(node, str) and is_secret_key(key):
        return REDACTED
    return node


def set_value(path: Path, dotted_key: str, raw_value: str) -> tuple[Any, Any]:
    """Set ``dotted_key`` in the file, keeping comments and order; validate before writing.

    Returns ``(old, new)``. Raises :class:`ConfigError` for a governed or unknown key or a
    result that does not validate; the file is then left untouched.
    """
    import tomlkit

    if dotted_key in GOVERNED_KEYS:
        raise ConfigError(
            [f"{path}: {dotted_key}: is a live gate; a person changes it by editing the file (governance decision)"]
        )
    doc = read_document(path)
    parts = dotted_key.split(".")
    if len(parts) < 2 or any(not p for p in parts):
        raise ConfigError([f"{path}: {dotted_key}: expected section.key"])
    try:
        value = tomlkit.parse(f"v = {raw_value}")["v"]
    except Exception:
        value = tomlkit.string(raw_value)
    table: Any = doc
    for part in parts[:-1]:
        if part not in table:
            table[part] = tomlkit.table()
        table = table[part]
        if not isinstance(table, Mapping):
            raise ConfigError([f"{path}: {dotted_key}: {part} is not a table"])
    old = table.get(parts[-1])
    table[parts[-1]] = value
    from peaktrade_core.plugins import get_plugin_manager

    structure_config(doc.unwrap(), str(path), get_plugin_manager().config_sections())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)
    return (old.unwrap() if hasattr(old, "unwrap") else old), value.unwrap()


__all__ = [
    "ConfigError",
    "ExecutionConfig",
    "PeakTradeConfig",
    "StateConfig",
    "load_config",
    "structure_config",
]
