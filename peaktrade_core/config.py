"""Configuration: TOML read and written with tomlkit, structured with cattrs (ENV-3); a
plainly valid section is built directly into the same objects, without cattrs (start-up).

Every mistake in a file is reported at once, one line each::

    config.toml: live_risk.max_order_notional: expected a number, got "abc"

Lookup order of :func:`load_config` (:func:`config_search_order`, docs/cli.md): the ``path``
argument (``--config``), ``$PEAK_TRADE_CONFIG_PATH``, ``./config/config.toml``, the user's
``$XDG_CONFIG_HOME/peaktrade/config.toml`` (default ``~/.config/peaktrade/config.toml``),
then the packaged default ``default_config.toml`` (byte-identical to the documented
``config/config.toml``: every gate closed, every limit set).
"""

from __future__ import annotations

import enum
import functools
import math
import os
import re
import stat
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen
from attrs.validators import ge, gt, in_

from peaktrade_core.alerts_config import AlertLevel, LiveAlertsConfig
from peaktrade_core.environment import ENVIRONMENT_PROFILES, EnvironmentConfig, TradingMode
from peaktrade_core.errors import ConfigError
from peaktrade_core.risk.config import RISK_PROFILES, LiveRiskConfig
from peaktrade_core.secrets import REDACTED, SecretRef, is_secret_key, reference_hint
from peaktrade_core.state import GOVERNED_STATE_KEYS

if typing.TYPE_CHECKING:
    import cattrs

CONFIG_ENV_VAR = "PEAK_TRADE_CONFIG_PATH"
DEFAULT_CONFIG_PATH = Path("config") / "config.toml"
_T = typing.TypeVar("_T")
PACKAGED_DEFAULT = Path(__file__).with_name("default_config.toml")

#: Keys a person changes by editing the file, as a governance decision (visible in its
#: history); never by ``peaktrade config set``: every key of ``[environment]`` (the gates,
#: the token, the allow-lists, the live limits), the live limits of ``[live_risk]`` (they
#: open the live-limits gate too), its capital limits (the capital allocation and rollout
#: plan the stage sign-offs document) and where the state lives (the kill switch is in it).
#: A key under one of these, or a table containing one, is governed as well.
GOVERNED_KEYS = (
    "environment",
    "live_risk.max_live_notional_per_order",
    "live_risk.max_live_notional_total",
    "live_risk.live_trade_min_size",
    "live_risk.max_capital_pct_per_strategy",
    "live_risk.ramp_up_max_capital",
    "live_risk.max_open_positions_live",
    *sorted(GOVERNED_STATE_KEYS),
    # off, N hosts may reach N times a limit; a short lease frees a live host's reservations
    "state.shared_risk_budget",
    "state.budget_lease_seconds",
)

#: A config file is small; anything bigger (or a device such as /dev/zero) is refused
#: before it is read into memory.
MAX_CONFIG_BYTES = 1 << 20
#: ... and nests its tables and arrays only a few levels deep.
MAX_NESTING = 32


@frozen
class ExecutionConfig:
    """``[execution]``: how the pipeline runs."""

    #: "batch": the run log commits once per batch; "order": once per order, fully synced;
    #: "group": batches sealed at once, written within 10 ms (see peaktrade_core.runlog);
    #: "auto": "group" in paper and shadow, "batch" in testnet and live
    durability: str = field(default="auto", validator=in_(("auto", "batch", "order", "group")))
    batch_size: int = field(default=1000, validator=ge(1))
    #: a gate or risk plugin that takes longer blocks the batch (fail closed)
    plugin_timeout_seconds: float = field(default=2.0, validator=gt(0.0))
    submit_timeout_seconds: float = field(default=10.0, validator=gt(0.0))
    max_retries: int = field(default=3, validator=ge(0))
    retry_backoff_seconds: float = field(default=0.5, validator=ge(0.0))
    starting_cash: float = field(default=100_000.0, validator=ge(0.0))
    #: the simulated (paper/shadow) account sessions continue; one per name and mode
    account: str = field(default="default", validator=lambda _o, _a, v: _account_name(v))


def _account_name(value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("account: must be a non-empty name")


@frozen
class StateConfig:
    """``[state]``: where the run log, kill switch and alert history live."""

    #: default: $PEAK_TRADE_DATA_DIR, else the per-user data directory, so that every
    #: process of a user shares one kill switch
    data_dir: str | None = None
    #: a PostgreSQL database shared by several hosts (``postgresql://…``, best given by
    #: reference, e.g. ``{ env = "PEAK_TRADE_DB_URL" }``: it may carry a password); none:
    #: SQLite in the data directory
    url: str | SecretRef | None = None
    #: one risk budget for every process on this store: exposure reserved before submit
    #: (docs/budget.md); off: each process holds the limits alone, as before
    shared_risk_budget: bool = False
    #: a process's reservations are released this long after its last sign of life
    budget_lease_seconds: float = field(default=30.0, validator=gt(0.0))
    #: signs run-log chain heads and the run sequence (HMAC-SHA256): a secret reference
    audit_key: SecretRef | None = None
    #: keys that signed older runs, still accepted by ``runs verify`` (never used to sign)
    retired_audit_keys: tuple[SecretRef, ...] = ()


@frozen
class TestnetLimitsConfig:
    """``[testnet_limits.<name>]``: how much a testnet profile may send (0: none at all)."""

    max_orders_per_session: int = field(default=20, validator=ge(0))
    max_notional_per_session: float = field(default=5_000.0, validator=ge(0.0))
    max_orders_per_day: int = field(default=100, validator=ge(0))
    max_notional_per_day: float = field(default=20_000.0, validator=ge(0.0))


def _testnet_sides(value: str) -> None:
    if value not in ("alternate", "buy", "sell"):
        raise ValueError(f'sides: expected one of alternate, buy, sell; got "{value}"')


@frozen
class TestnetProfileConfig:
    """``[testnet_profiles.<name>]``: a bundle of orders ``peaktrade testnet run`` sends."""

    symbols: list[str] = field(validator=lambda _o, _a, v: _nonempty_list(v, "symbols"))
    #: quantity of every order
    quantity: float = field(validator=gt(0.0))
    #: notional = quantity x this price, per symbol (every symbol needs one)
    reference_prices: Mapping[str, float] = field(factory=dict)
    #: orders in the profile, round-robin over the symbols
    order_count: int = field(default=4, validator=ge(1))
    #: stop handing out orders after this many seconds (0: no time bound)
    duration_seconds: float = field(default=0.0, validator=ge(0.0))
    sides: str = field(default="alternate", validator=lambda _o, _a, v: _testnet_sides(v))
    #: the ``[testnet_limits.<name>]`` that applies ("": ``[testnet_orchestration] default_limits``)
    limits: str = ""
    description: str = ""

    def __attrs_post_init__(self) -> None:
        missing = [s for s in self.symbols if s not in self.reference_prices]
        if missing:
            raise ValueError(f"reference_prices: no price for {', '.join(missing)}")
        bad = [s for s, p in self.reference_prices.items() if not p > 0]
        if bad:
            raise ValueError(f"reference_prices: must be > 0 for {', '.join(bad)}")


def _nonempty_list(value: list[str], name: str) -> None:
    if not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{name}: must be a non-empty list of names")


@frozen
class TestnetOrchestrationConfig:
    """``[testnet_orchestration]``: defaults of ``peaktrade testnet``."""

    #: the profile ``testnet run`` uses without --profile ("": --profile is required)
    default_profile: str = ""
    #: the limits of a profile that names none
    default_limits: str = "default"


@frozen
class MarketDataConfig:
    """``[marketdata]``: the feed a session reads when none is given (docs/marketdata.md)."""

    #: a venue whose plugin offers a feed, or a recording (.csv / .jsonl); "": none
    source: str = ""
    #: the symbols a venue feed quotes
    symbols: list[str] = field(factory=list)
    #: replay speed of a recording (0: as fast as possible, 1: real time)
    speed: float = field(default=0.0, validator=ge(0.0))


@frozen
class PeakTradeConfig:
    environment: EnvironmentConfig = EnvironmentConfig()
    live_risk: LiveRiskConfig = LiveRiskConfig()
    live_alerts: LiveAlertsConfig = LiveAlertsConfig()
    execution: ExecutionConfig = ExecutionConfig()
    state: StateConfig = StateConfig()
    testnet_limits: Mapping[str, TestnetLimitsConfig] = field(factory=dict)
    testnet_profiles: Mapping[str, TestnetProfileConfig] = field(factory=dict)
    testnet_orchestration: TestnetOrchestrationConfig = TestnetOrchestrationConfig()
    marketdata: MarketDataConfig = MarketDataConfig()
    #: ``[plugins.<name>]`` tables, structured by each plugin's declared class
    plugins: Mapping[str, Any] = field(factory=dict)
    #: the file this came from (``None``: built-in defaults) and its SHA-256
    source: str | None = field(default=None, eq=False)
    sha256: str = field(default="", eq=False)

    def data_dir(self) -> Path:
        from peaktrade_core.state import resolve_data_dir

        return resolve_data_dir(self.state.data_dir)

    def state_url(self) -> str | None:
        """``[state] url`` resolved (a reference is read now); ``None``: SQLite."""
        url = self.state.url
        return url.resolve() if isinstance(url, SecretRef) else url


_SECTIONS = {a.name for a in attrs.fields(PeakTradeConfig)} - {"source", "sha256"}


# -- structuring --------------------------------------------------------------------------


_FLOAT_INT = int(1.7976931348623157e308)  # the largest int that converts to a finite float


def _strict(kind: type, expected: str):
    def hook(value: Any, _type: Any) -> Any:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            # inf and nan make no sense as a limit, timeout or amount (a nan compares false
            # with everything, so a limit of nan never triggers). No config field takes
            # them; one that should would get its own type with its own hook.
            finite = ok and (-_FLOAT_INT <= value <= _FLOAT_INT if isinstance(value, int) else math.isfinite(value))
            if ok and not finite:
                raise ValueError(f"expected a finite number, got {_show(value)}")
        elif kind is int and ok and not -(2**63) <= value < 2**63:  # TOML's range; tomllib takes any
            raise ValueError(f"expected a whole number within 64 bits, got {_show(value)}")
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
    import cattrs

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


@functools.cache
def _converter() -> cattrs.Converter:
    return _make_converter()


def __getattr__(name: str) -> Any:
    # ``converter`` is built on first use: a valid file is structured without cattrs (below),
    # and importing cattrs and generating its code cost more than a whole ``status``
    if name == "converter":
        return _converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: "not plainly valid": let cattrs structure it and name every problem
_DOUBT: Any = object()


@functools.cache
def _plain_fields(cls: type) -> tuple[tuple[str, Any], ...] | None:
    """``(name, type)`` of every field of an attrs class the fast path can build, or None."""
    if not attrs.has(cls):
        return None
    fields = attrs.fields(cls)
    if any(a.alias != a.name or not a.init for a in fields):
        return None
    hints = _field_types(cls)
    return tuple((a.name, hints[a.name]) for a in fields)


_annotation_values: dict[tuple[str, str], tuple[Any, tuple[str, ...]]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)`` for a config class whose annotations are texts (``from
    __future__ import annotations``): each distinct text evaluated once per module, not once
    per field (every start structures every section, and the same few texts recur). Only
    where the result cannot depend on the class: every name the text uses is the module's or,
    not shadowed by the class, a builtin; anything else is left to ``typing`` (a test holds
    both equal for every section of the config and of the repo's plugins)."""
    import builtins

    module = sys.modules.get(cls.__module__)
    annotations = vars(cls).get("__annotations__", {})
    if module is None or cls.__mro__[1:] != (object,) or not all(type(a) is str for a in annotations.values()):
        return typing.get_type_hints(cls)
    namespace, own = vars(module), vars(cls)
    hints = {}
    for name, text in annotations.items():
        key = (cls.__module__, text)
        if key not in _annotation_values:
            code = compile(text, "<annotation>", "eval")
            value = eval(code, {"__builtins__": builtins}, namespace)  # noqa: S307 - as typing evaluates it
            if value is None or "'" in text or '"' in text or isinstance(value, str | typing.ForwardRef):
                return typing.get_type_hints(cls)
            _annotation_values[key] = value, code.co_names
        value, names = _annotation_values[key]
        if any(n not in namespace and (n in own or not hasattr(builtins, n)) for n in names):
            return typing.get_type_hints(cls)
        hints[name] = value
    return hints


def _plain(value: Any, t: Any) -> Any:
    """``value`` structured as cattrs with this module's hooks would, when it is plainly
    valid; :data:`_DOUBT` for anything else (then cattrs runs and names the problem)."""
    if t is bool:
        return value if type(value) is bool else _DOUBT
    if t is int:
        return value if type(value) is int and -(2**63) <= value < 2**63 else _DOUBT
    if t is float:
        if type(value) is float:
            return value if math.isfinite(value) else _DOUBT
        return float(value) if type(value) is int and -_FLOAT_INT <= value <= _FLOAT_INT else _DOUBT
    if t is str:
        return value if type(value) is str else _DOUBT
    if t is typing.Any:
        return value
    if t is SecretRef or t == str | SecretRef | None:
        if t is not SecretRef and (value is None or type(value) is str):
            return value or None
        if not isinstance(value, Mapping):
            return _DOUBT
        try:
            return _secret_hook(value, SecretRef)
        except Exception:  # noqa: BLE001 - cattrs names it
            return _DOUBT
    if t is TradingMode or t is AlertLevel:
        try:
            return _enum_hook(value, t)
        except Exception:  # noqa: BLE001 - cattrs names it
            return _DOUBT
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return None if value is None else _plain(value, args[0] if args[1] is type(None) else args[1])
    if _is_list_type(t):
        if type(value) is not list and type(value) is not tuple:
            return _DOUBT
        items = [_plain(v, args[0]) for v in value]
        if any(i is _DOUBT for i in items):
            return _DOUBT
        return items if origin is list else tuple(items)
    if origin is Mapping and len(args) == 2 and args[0] is str:
        if type(value) is not dict or any(type(k) is not str for k in value):
            return _DOUBT
        out = {k: _plain(v, args[1]) for k, v in value.items()}
        return _DOUBT if any(v is _DOUBT for v in out.values()) else out
    if isinstance(t, type):
        return _plain_instance(value, t)
    return _DOUBT


def _plain_instance(value: Any, cls: type) -> Any:
    fields = _plain_fields(cls)
    if fields is None or type(value) is not dict or not value.keys() <= {name for name, _ in fields}:
        return _DOUBT
    kwargs = {}
    for name, t in fields:
        if name in value:
            kwargs[name] = item = _plain(value[name], t)
            if item is _DOUBT:
                return _DOUBT
    try:
        return cls(**kwargs)
    except Exception:  # noqa: BLE001 - a validator or a missing key: cattrs names it
        return _DOUBT


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


def _close_matches(word: str, known: typing.Iterable[str], n: int = 1) -> list[str]:
    import difflib  # only for a mistake: a valid config never needs it

    return difflib.get_close_matches(word, known, n=n)


def _walk(exc: BaseException, path: list[str], known: list[str]) -> typing.Iterator[tuple[str, str]]:
    from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            close = _close_matches(key, known, n=1)
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
    instance = _plain_instance(dict(data), cls)
    if instance is not _DOUBT:
        return instance, []
    try:
        return _converter().structure(dict(data), cls), []
    except Exception as exc:  # noqa: BLE001 - every mistake becomes a line, never a traceback
        known = [a.name for a in attrs.fields(cls)]
        return None, list(_walk(exc, [prefix], known))


def _structure_named(data: Any, cls: type, prefix: str) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """``[prefix.<name>]`` tables, each structured into ``cls``; mistakes name the table."""
    if not isinstance(data, Mapping):
        return None, [(prefix, f"expected a table, got {_show(data)}")]
    result, problems = {}, []
    for key, table in data.items():
        instance, errs = structure_section(table, cls, f"{prefix}.{key}")
        problems += errs
        result[key] = instance
    return (None if problems else result), problems


def plugin_settings(config: PeakTradeConfig | None, name: str, cls: type[_T]) -> _T:
    """``[plugins.<name>]`` of ``config`` as ``cls``: structured when the config was loaded
    with the plugin installed, here otherwise (the same strictness: a mistake raises
    :class:`ConfigError` naming file and key); ``cls()`` when there is no such section."""
    section = config.plugins.get(name) if config is not None else None
    if section is None:
        return cls()
    if isinstance(section, cls):
        return section
    instance, problems = structure_section(section, cls, f"plugins.{name}")
    if problems:
        source = (config.source if config is not None else None) or "<config>"
        raise ConfigError([f"{source}: {key}: {what}" for key, what in problems])
    return instance


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
    if not isinstance(name, str):
        return section, []  # absent, or not a string: structuring reports the type
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
            close = _close_matches(key, sorted(_SECTIONS), n=1)
            problems.append((key, "unknown section" + (f" (did you mean {close[0]}?)" if close else "")))
    for name, presets in (("environment", ENVIRONMENT_PROFILES), ("live_risk", RISK_PROFILES)):
        if isinstance(data.get(name), Mapping):
            data[name], errs = _apply_profile(dict(data[name]), presets, name)
            problems += errs
    if source != "<defaults>":
        # a key the file leaves out has its documented default (the packaged file), never
        # "no limit": a config that names only [environment] still has every risk limit
        for name, defaults in _documented_defaults().items():
            if name not in data:
                data[name] = dict(defaults)
            elif isinstance(data[name], Mapping):
                data[name] = {**defaults, **data[name]}
    for attribute in attrs.fields(PeakTradeConfig):
        name = attribute.name
        if name in ("source", "sha256", "plugins") or name not in data:
            continue
        cls = attribute.type if isinstance(attribute.type, type) else _resolve(name)
        if typing.get_origin(cls) is Mapping:  # named tables, [section.<name>]: each on its own
            instance, errs = _structure_named(data[name], typing.get_args(cls)[1], name)
        else:
            instance, errs = structure_section(data[name], cls, name)
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


@functools.cache
def _documented_defaults() -> dict[str, dict[str, Any]]:
    """The core sections of the packaged default config, as raw tables."""
    raw = read_packaged_defaults()
    return {name: dict(table) for name, table in raw.items() if name in _SECTIONS and name != "plugins" and isinstance(table, Mapping)}


def _resolve(section: str) -> type:
    return _section_types()[section]


@functools.cache
def _section_types() -> dict[str, Any]:
    """The sections' types, evaluated once (not once per section: every start loads the config)."""
    return typing.get_type_hints(PeakTradeConfig)


def _drop(data: dict[str, Any], where: list[str]) -> None:
    node: Any = data
    for part in where[:-1]:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    key = where[-1].split("[")[0]
    if isinstance(node, dict):
        node.pop(key, None)


# -- files --------------------------------------------------------------------------------


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/peaktrade/config.toml``; ``~/.config/peaktrade/config.toml``
    when the variable is unset or not absolute (as the XDG spec says)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if base and os.path.isabs(base):
        root = Path(base)
    else:
        try:
            root = Path.home() / ".config"
        except RuntimeError:  # no home directory known: a path that is never there
            root = Path("~") / ".config"
    return root / "peaktrade" / "config.toml"


def _present(path: Path) -> bool:
    """Is there something at ``path``? Even a dangling link or a FIFO counts (refused
    visibly when read, not skipped); a place that cannot even be looked at does not (then
    the next place, at worst the built-in defaults, every gate closed)."""
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return False


def config_search_order(path: str | os.PathLike[str] | None = None) -> list[tuple[str, Path | None, bool]]:
    """Every place looked at, in order, as ``(what, path, used)``; exactly one is used.
    ``path`` None means the built-in defaults (the packaged ``default_config.toml``). The
    places after the one used are not looked at."""
    env_value = os.environ.get(CONFIG_ENV_VAR)
    places: list[tuple[str, Path | None, typing.Callable[[], bool]]] = [
        ("--config", Path(path) if path is not None else None, lambda: path is not None),
        (f"${CONFIG_ENV_VAR}", Path(env_value) if env_value else None, lambda: bool(env_value)),
        ("project", DEFAULT_CONFIG_PATH, lambda: _present(DEFAULT_CONFIG_PATH)),
        ("user", user_config_path(), lambda: _present(user_config_path())),
        ("built-in defaults", None, lambda: True),
    ]
    out, chosen = [], False
    for what, where, present in places:
        used = not chosen and present()
        out.append((what, where, used))
        chosen = chosen or used
    return out


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use, or ``None``: the packaged default (see module doc)."""
    return next(where for _what, where, used in config_search_order(path) if used)


def read_config_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_CONFIG_BYTES`; anything else (a
    directory, FIFO, device, a huge or unreadable file) is a one-line ConfigError."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError([f"{path}: is a directory, not a config file"])
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError([f"{path}: not a regular file (a device, FIFO or socket); give a TOML file"])
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not a config file"])
    return data


def decode_config(path: Path | str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"]) from None


def parse_toml(path: Path | str, text: str) -> dict[str, Any]:
    """Plain data of a TOML text; a mistake (syntax, a key defined twice) is one line."""
    import tomllib

    try:
        data = tomllib.loads(text)
        if _nesting(data) > MAX_NESTING:  # deeper structures crash code that walks them
            raise ConfigError([f"{path}: invalid TOML: arrays or tables nested deeper than {MAX_NESTING} levels"])
        return data
    except RecursionError:
        raise ConfigError([f"{path}: invalid TOML: arrays or tables nested deeper than {MAX_NESTING} levels"]) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r" \(at line (\d+), column \d+\)$", message)
        if not at:
            raise ConfigError([f"{path}: invalid TOML: {message}"]) from None
        line, what = int(at.group(1)), message[: at.start()]
        if what == "Cannot overwrite a value" or what.startswith("Cannot declare"):
            source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
            # the key only, never the value (it could be a secret written by mistake)
            name = source.split("=", 1)[0].strip() if "=" in source else source.strip()
            what = f"{name} is defined twice" if name else "a key is defined twice"
        raise ConfigError([f"{path}:{line}: invalid TOML: {what}"]) from None


def _nesting(node: Any) -> int:
    """How deeply tables and arrays nest in ``node`` (walked without recursion)."""
    deepest, todo = 0, [(node, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            todo.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_config(path: Path) -> tuple[dict[str, Any], str, bytes]:
    """``(data, text, raw bytes)`` of a config file; every problem a one-line ConfigError."""
    data = read_config_bytes(path)
    text = decode_config(path, data)
    return parse_toml(path, text), text, data


def defaults_cache_path() -> Path:
    import sys

    return PACKAGED_DEFAULT.parent / "__pycache__" / f"default_config.{sys.implementation.cache_tag}.marshal"


def read_packaged_defaults(path: Path | None = None, cache: Path | None = None) -> dict[str, Any]:
    """The packaged default config, parsed (every start without a config file needs it).

    Its parse is kept beside the package's bytecode together with the exact bytes it was
    parsed from, and used only while the file has those very bytes and the interpreter the
    same bytecode magic (tomllib is part of it): it cannot be stale. Written only where the
    bytecode may be written; a damaged cache is ignored. Never for a user's config file.
    """
    import marshal
    import sys
    from importlib.util import MAGIC_NUMBER

    path = PACKAGED_DEFAULT if path is None else path
    cache = defaults_cache_path() if cache is None and path == PACKAGED_DEFAULT else cache
    data = read_config_bytes(path)
    if cache is not None:
        try:
            magic, source, raw = marshal.loads(cache.read_bytes())
            if magic == MAGIC_NUMBER and source == data and type(raw) is dict:
                return raw
        except (OSError, EOFError, ValueError, TypeError):
            pass
    raw = parse_toml(path, decode_config(path, data))
    if cache is not None and not sys.dont_write_bytecode:
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(marshal.dumps((MAGIC_NUMBER, data, raw)))
            os.replace(temporary, cache)  # readers see the old file or the new one, never half
        except (OSError, ValueError):  # read-only install; a value marshal cannot hold
            temporary.unlink(missing_ok=True)
    return raw


def load_config(
    path: str | os.PathLike[str] | None = None, plugin_sections: Mapping[str, type] | None = None
) -> PeakTradeConfig:
    """Load, validate and structure the config (see module doc for the lookup order).

    Without a file, the packaged default (the same file as ``config/config.toml``) is used:
    one source of truth for the default values. ``plugin_sections`` maps
    ``[plugins.<name>]`` to classes; by default they are asked from the loaded plugins
    (``config_sections`` hook).
    """
    resolved = resolve_config_path(path)
    pm = None
    if plugin_sections is None:
        from peaktrade_core.plugins import get_plugin_manager

        pm = get_plugin_manager()
        plugin_sections = pm.config_sections()
    if resolved is None:
        return structure_config(read_packaged_defaults(), "<defaults>", plugin_sections)
    raw, _text, data = read_config(resolved)
    import hashlib

    config = structure_config(raw, str(resolved), plugin_sections, hashlib.sha256(data).hexdigest())
    if pm is not None:  # the plugins are loaded: a sink none of them serves is a mistake
        from peaktrade_core.alerts import sink_problems

        problems = sink_problems(config, pm)
        if problems:
            raise ConfigError([f"{resolved}: {key}: {what}" for key, what in problems])
    return config


def to_display_dict(config: PeakTradeConfig) -> dict[str, Any]:
    """The effective config as plain data, secrets redacted, confirm token as its state."""
    data = _converter().unstructure(config)
    data.pop("source", None)
    data.pop("sha256", None)
    data["environment"]["confirm_token"] = config.environment.token_state().value
    data["live_alerts"]["min_level"] = config.live_alerts.min_level.name.lower()  # as written in the file
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


# -- editing ------------------------------------------------------------------------------

_BARE_KEY = r"[A-Za-z0-9_-]+"


def governing_key(dotted_key: str) -> str | None:
    """The governance key that ``dotted_key`` is, lies under, or contains; else ``None``."""
    for governed in GOVERNED_KEYS:
        if dotted_key == governed or dotted_key.startswith(governed + ".") or governed.startswith(dotted_key + "."):
            return governed
    return None


def set_value(
    path: Path, dotted_key: str, raw_value: str, plugin_sections: Mapping[str, type] | None = None
) -> tuple[str, str]:
    """Set ``dotted_key`` to the TOML value ``raw_value`` in the file, keeping comments and
    order; return ``(old, new)`` as one-line TOML-ish text for the report.

    The whole resulting file is validated before anything is written, then written
    atomically (same directory, fsync, rename; mode kept). A refusal is a
    :class:`ConfigError` (one line per mistake) and leaves the file byte-identical.
    """
    import json

    parts = dotted_key.split(".")
    if not all(re.fullmatch(_BARE_KEY, p) for p in parts):  # quoted: it may hold any character
        raise ConfigError([f"{path}: {json.dumps(dotted_key)}: expected section.key (letters, digits, _ and - between dots)"])
    governed = governing_key(dotted_key)
    if governed is not None:
        relation = (
            "is a governance key" if governed == dotted_key
            else f"contains the governance key {governed}" if governed.startswith(dotted_key + ".")
            else f"is under the governance key {governed}"
        )
        raise ConfigError(
            [f"{path}: {dotted_key}: {relation} (a live gate, live limit or where the state lives); "
             "a person changes it by editing the file, never with config set"]
        )
    if len(parts) < 2:
        raise ConfigError([f"{path}: {dotted_key}: expected section.key"])
    raw, text, data = read_config(path)
    value = _parse_value(path, dotted_key, raw_value)
    new_text, old = _edited(path, dotted_key, text, parts, value)
    new_raw = parse_toml(path, new_text)  # exactly what will be on disk
    if plugin_sections is None:
        from peaktrade_core.plugins import get_plugin_manager

        plugin_sections = get_plugin_manager().config_sections()
    structure_config(new_raw, str(path), plugin_sections)
    if new_raw != _with_value(raw, parts, value.unwrap()):  # the edit changed only that key
        raise ConfigError([f"{path}: {dotted_key}: cannot be set in place here; edit the file by hand"])
    if read_config_bytes(path) != data:  # someone else's edit would be lost
        raise ConfigError([f"{path}: changed while being edited; nothing written, run the command again"])
    write_atomically(path, new_text.encode("utf-8"))
    return _render(old, parts[-1]), _render(value.unwrap(), parts[-1])


def _parse_value(path: Path, dotted_key: str, raw_value: str) -> Any:
    import tomlkit

    try:
        doc = tomlkit.parse(f"v = {raw_value}")
    except Exception:  # noqa: BLE001 - not TOML: a bare word is a string, anything else an error
        if re.fullmatch(r"[^\s\"'\[\]{}=#]+", raw_value):
            return tomlkit.string(raw_value)
        doc = None
    if doc is None or list(doc) != ["v"]:
        raise ConfigError([f"{path}: {dotted_key}: the value is not one TOML value (quote strings: '\"text\"')"])
    return doc.item("v")


def _edited(path: Path, dotted_key: str, text: str, parts: list[str], value: Any) -> tuple[str, Any]:
    """The file text with the key set, and the old value (``None``: was not set)."""
    import tomlkit

    try:
        doc = tomlkit.parse(text)
        table: Any = doc
        for part in parts[:-1]:
            if part not in table:
                table[part] = tomlkit.table()
            table = table[part]
            if not isinstance(table, Mapping):
                raise ConfigError([f"{path}: {dotted_key}: {part} is not a table"])
        old = table.get(parts[-1])
        table[parts[-1]] = value
        return tomlkit.dumps(doc), (old.unwrap() if hasattr(old, "unwrap") else old)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - tomlkit refuses some edits; a line, not a traceback
        raise ConfigError([f"{path}: {dotted_key}: cannot be set in place ({type(exc).__name__}); edit the file by hand"]) from None


def _with_value(raw: Mapping[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    """``raw`` with only ``parts`` set to ``value``: what the edited file must contain."""
    import copy

    result = copy.deepcopy(dict(raw))
    node = result
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return {}  # cannot match: refused by the caller
    node[parts[-1]] = value
    return result


def _render(value: Any, key: str) -> str:
    import json

    if value is None:
        return "(not set)"
    return json.dumps(_redact(value, key), ensure_ascii=False, default=str)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` (and its directory) all at once: a crash leaves the old or the new
    file, never half of one. An existing file keeps its mode (and owner, where allowed)."""
    import contextlib
    import tempfile

    target = Path(os.path.realpath(path))  # a symlinked config stays a symlink
    try:
        info = os.stat(target) if target.exists() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(tmp, stat.S_IMODE(info.st_mode) if info else 0o644)
            if info is not None and hasattr(os, "chown"):
                with contextlib.suppress(OSError):
                    os.chown(tmp, info.st_uid, info.st_gid)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise ConfigError([f"{path}: cannot write: {exc.strerror or exc}; the file is unchanged"]) from None
    if hasattr(os, "O_DIRECTORY"):  # best effort: the rename itself survives a power cut
        with contextlib.suppress(OSError):
            dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


__all__ = [
    "ConfigError",
    "ExecutionConfig",
    "PeakTradeConfig",
    "StateConfig",
    "TestnetLimitsConfig",
    "TestnetOrchestrationConfig",
    "TestnetProfileConfig",
    "load_config",
    "structure_config",
]
