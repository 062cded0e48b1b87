"""The plugin manager: the one place that loads plugins and calls hooks.

Built-in plugins are registered with the same call as external ones; the *essential* ones
(safety gates, standard risk limits, the log/stderr alert sinks) cannot be blocked by any
setting. Every entry point of the group ``peaktrade`` is loaded on its own: one that fails to
import, has a misspelt hook (``chek_gate``) or a signature the spec does not allow is recorded
as failed and the rest still load.

:class:`PluginManager` is a typed facade: one method per hook, each applying that hook's
failure policy (docs/hooks.md). Nothing else in peaktrade calls a hook.

Environment variables:
``PEAK_TRADE_PLUGINS``          comma-separated allow-list of external plugins; empty = none.
``PEAK_TRADE_DISABLE_PLUGINS``  comma-separated plugins not to load.
``PEAK_TRADE_TRACE_PLUGINS=1``  log every hook call: plugin, duration, outcome (level INFO).
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import pluggy

from peaktrade_core import hookspecs
from peaktrade_core.hookspecs import PROJECT

ENTRY_POINT_GROUP = PROJECT

#: name -> module of the built-in plugins; all of them are essential.
ESSENTIAL_PLUGINS: dict[str, str] = {
    "safety-gates": "peaktrade_core.builtin.safety_gates",
    "risk-limits": "peaktrade_core.builtin.risk_limits",
    "alert-sinks": "peaktrade_core.builtin.alert_sinks",
}

#: a plugin implementing one of these decides what reaches a venue: if it failed to load
#: (or to configure), every batch is blocked. Other failed plugins only lose their feature.
TRADING_HOOKS = frozenset({"check_gate", "check_risk", "select_executor", "exchange_venues", "create_exchange_client"})


def _blocks_trading(hooks: Iterable[str]) -> bool:
    """Whether a failed plugin with these hook names must stop trading. A misspelt name close
    to a trading hook (``chek_gate``) counts as that hook: it was meant to guard orders."""
    import difflib

    return any(h in TRADING_HOOKS or difflib.get_close_matches(h, TRADING_HOOKS, n=1, cutoff=0.75) for h in hooks)


class PluginInfo(NamedTuple):
    """One plugin as ``peaktrade plugins list`` shows it. A NamedTuple, not attrs: this
    module is on every CLI start, and attrs would cost more than the rest of it."""

    name: str
    distribution: str
    version: str
    source: str  # "builtin" | "entry-point" | "registered"
    hooks: tuple[str, ...] = ()
    status: str = "loaded"  # "loaded" | "failed" | "disabled"
    error: str | None = None
    #: failed, and a trading plugin (or one whose hooks are unknown): every batch is blocked
    blocks_trading: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
            "blocks_trading": self.blocks_trading,
        }


class PluginError(Exception):
    """A plugin misbehaved; the message (one line) names it."""


def _names_from_env(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _distribution(ep: Any) -> tuple[str, str]:
    """``(name, version)`` of the entry point's distribution. Read from the ``.dist-info``
    folder name when there is one (``name-version.dist-info``, as installers write it):
    parsing every METADATA file would cost more than the rest of ``plugins list``."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?", "?"
    folder = getattr(dist, "_path", None)
    stem = getattr(folder, "name", "")
    stem = stem.removesuffix(".dist-info") if stem.endswith(".dist-info") else ""
    if stem.count("-") == 1:  # (the suffix's own dash made this test fail for every plugin)
        name, version = stem.split("-")
        return name.replace("_", "-").lower(), version
    return dist.name, dist.version


def _call_with_timeout(
    function: Callable[..., Any], args: list[Any], timeout: float, plugin: str = "?"
) -> tuple[Any, BaseException | None]:
    """``(result, error)`` of ``function(*args)`` on a daemon thread of its own: a plugin
    that hangs is abandoned (a ``TimeoutError``) without holding a pool slot, and never
    keeps the process alive."""
    outcome: list[tuple[Any, BaseException | None]] = []
    done = threading.Event()

    def call() -> None:
        try:
            outcome.append((function(*args), None))
        except BaseException as exc:  # reported to the caller, never lost
            outcome.append((None, exc))
        finally:
            done.set()

    threading.Thread(target=call, name=f"peaktrade-plugin-{plugin}", daemon=True).start()
    if not done.wait(timeout):
        return None, TimeoutError(f"no answer within {timeout:g}s")
    return outcome[0]


def _one_line(exc: BaseException) -> str:
    text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def _describe(value: Any) -> str:
    return type(value).__name__


class _Record:
    """One implementation's answer to one facade call."""

    __slots__ = ("plugin", "result", "error", "seconds", "outcome")

    def __init__(self, plugin: str, result: Any, error: BaseException | None, seconds: float):
        self.plugin, self.result, self.error, self.seconds = plugin, result, error, seconds
        self.outcome = ""  # set by the facade when it rejects the answer


class _Call:
    """The facade call in progress on this thread (read by the isolating wrappers)."""

    __slots__ = ("hook", "timeout", "core", "views", "records")

    def __init__(self, hook: str, timeout: float | None, core: dict[str, Any] | None, views: Callable[[], dict[str, Any]] | None):
        self.hook, self.timeout, self.core, self.views = hook, timeout, core, views
        self.records: list[_Record] = []


class _Abort(Exception):
    """Stops pluggy's ``firstresult`` chain after an implementation failed."""


#: answers that are already whole (a list is the usual one): kept as they are
_WHOLE = (str, bytes, list, tuple, Mapping)
_WHOLE_TYPES = frozenset({type(None), str, bytes, list, tuple, dict})
#: an empty answer of these types closes nothing and names no violation: skipped unvalidated
_EMPTY_ANSWER = frozenset({list, tuple})


def _settle(result: Any) -> Any:
    """A lazy answer (a generator, any iterator) is consumed here, inside the plugin's
    isolation and timeout, so an error raised while iterating is the plugin's failure."""
    if type(result) in _WHOLE_TYPES or isinstance(result, _WHOLE):  # the exact types first: no ABC check
        return result
    if isinstance(result, Iterable):
        return tuple(result)
    return result


def _settle_first(result: Any) -> Any:
    return result


def _with_plugin(item: Any, plugin: str) -> Any:
    from attrs import evolve

    return evolve(item, plugin=plugin)


_answer_types: tuple[type, type] | None = None


def _answer_classes() -> tuple[type, type]:
    """``(GateDecision, RiskViolation)``, imported on the first order-path call (not at
    start-up) and kept: an import statement per call cost more than the built-in gates."""
    global _answer_types
    if _answer_types is None:
        from peaktrade_core.gate_decisions import GateDecision
        from peaktrade_core.risk import RiskViolation

        _answer_types = (GateDecision, RiskViolation)
    return _answer_types


def _arguments(spec: tuple[str, ...], argnames: tuple[str, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    """The positional arguments named ``argnames``, taken from a facade call's arguments in
    the order of the hook's ``spec``; ``None``: all of them, in that order (the usual)."""
    if argnames == spec:
        return None
    positions = [spec.index(name) for name in argnames]  # pluggy refuses names not in the spec
    if len(positions) == 1:
        position = positions[0]
        return lambda args: (args[position],)
    if not positions:
        return lambda args: ()
    return itemgetter(*positions)


def _valid_decision(d: Any, n: int, cls: type) -> bool:
    if not isinstance(d, cls):
        return False
    orders = d.orders  # type: ignore[attr-defined]
    return orders is None or (isinstance(orders, tuple | list) and all(type(i) is int and 0 <= i < n for i in orders))


def _valid_violation(v: Any, n: int, cls: type) -> bool:
    return isinstance(v, cls) and (v.order_index is None or (type(v.order_index) is int and 0 <= v.order_index < n))  # type: ignore[attr-defined]


def _risk_failure(plugin: str, what: str) -> Any:
    from peaktrade_core.log import SAFETY, logger
    from peaktrade_core.risk import RiskViolation, ViolationCode

    logger.bind(tag=SAFETY).error("risk plugin {} {}: batch blocked", plugin, what)
    return RiskViolation(
        code=ViolationCode.PLUGIN.value,
        message=f"{ViolationCode.PLUGIN.value}: risk plugin {plugin} {what}: batch blocked (fail closed)",
        plugin=plugin,
    )


def _blocking_line(info: PluginInfo) -> str:
    return f"plugin {info.name} failed ({info.error}); blocked (fail closed) — fix it or set PEAK_TRADE_DISABLE_PLUGINS={info.name}"


def _gate_view(context: Any) -> Any:
    """A read-only copy of the core's gate context for one plugin: a fresh report, the
    positions as a read-only snapshot. Nothing a plugin does to it reaches the core."""
    from types import MappingProxyType

    from attrs import evolve

    report = context.report
    report = evolve(report, gates=tuple(evolve(g) for g in report.gates), kill_switch=evolve(report.kill_switch))
    return evolve(context, report=report, positions=MappingProxyType(dict(context.positions)))


def _portfolio_view(portfolio: Any) -> Any:
    """A copy of the portfolio for one plugin, its tables read-only."""
    from types import MappingProxyType

    from attrs import evolve

    return evolve(
        portfolio,
        positions=MappingProxyType(dict(portfolio.positions)),
        average_prices=MappingProxyType(dict(portfolio.average_prices)),
        last_prices=MappingProxyType(dict(portfolio.last_prices)),
    )


def _unserved(venue: str, venues: dict[str, str]) -> str:
    """Why no plugin serves ``venue``, in one line of bounded length: the closest installed
    venue names first (ccxt alone declares hundreds), then the plain names."""
    import difflib

    close = difflib.get_close_matches(venue, venues, n=3, cutoff=0.75)
    hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
    names = sorted(venues, key=lambda v: (":" in v, v))  # plain venue names first
    served = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") or "none"
    return f"no installed plugin serves this venue ({hint}installed venues: {served})"


def _venue_error(message: str) -> Exception:
    from peaktrade_core.venues import VenueError

    return VenueError(message)


_IMPL_MARKER = PROJECT + "_impl"
_HOOKABLE = (types.FunctionType, types.MethodType, staticmethod, classmethod)
_ABSENT = object()


class _PluggyManager(pluggy.PluginManager):
    """pluggy's manager, answering "no hook here" at once for a module attribute that is
    neither a function nor a method (classes, modules, constants) or a function without the
    hook marker: pluggy inspects every name of every plugin module statically, which cost
    more than the rest of loading all plugins. Anything else is pluggy's own decision."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name, _ABSENT)
            if value is not _ABSENT and (
                not isinstance(value, _HOOKABLE) or (isinstance(value, types.FunctionType) and not hasattr(value, _IMPL_MARKER))
            ):
                return None
        return super().parse_hookimpl_opts(plugin, name)


class PluginManager:
    """The typed facade over pluggy: one method per hook, each enforcing that hook's
    failure policy; implementations are isolated (own thread, timeout) and attributed."""

    def __init__(self, allow: set[str] | None = None, disable: set[str] | None = None):
        self.pm = _PluggyManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.allow = allow
        self.disable = disable or set()
        self._infos: dict[str, PluginInfo] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self._configured: Any = None
        self._local = threading.local()
        #: per-batch answers that change only when a plugin is (un)registered or fails
        self._others: dict[str, bool] = {}
        #: hook -> (pluggy's live list of implementations, a copy of it, the direct calls or None)
        self._direct: dict[str, tuple[Any, Any, list[tuple[str, Callable[..., Any], Callable[[Any], tuple[Any, ...]]]] | None]] = {}
        self._blockers: list[PluginInfo] | None = None
        #: the closed decision each trading blocker adds to every batch (frozen: reused)
        self._blocker_decisions: tuple[Any, ...] | None = None
        self.trace = os.environ.get("PEAK_TRADE_TRACE_PLUGINS", "").strip() not in ("", "0")

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> PluginManager:
        """Register the built-ins, then every allowed entry point. Idempotent."""
        if self._loaded:  # the hot path: every hook call
            return self
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            from peaktrade_core import __version__

            for name, module in ESSENTIAL_PLUGINS.items():
                try:
                    plugin = importlib.import_module(module)
                except ImportError as exc:  # a broken install: nothing may run without it
                    self._loaded = False
                    raise PluginError(
                        f"essential built-in plugin {name} cannot be loaded ({_one_line(exc)}); reinstall peaktrade-core"
                    ) from exc
                self._register(plugin, name, "peaktrade-core", __version__, "builtin")
            self._load_entry_points()
        return self

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist_name, version = _distribution(ep)
            if ep.name in ESSENTIAL_PLUGINS or self.pm.has_plugin(ep.name):
                self._fail(ep.name, dist_name, version, "entry-point", "name clashes with a loaded plugin")
                continue
            if self.allow is not None and ep.name not in self.allow:
                continue
            if ep.name in self.disable:
                self._infos[ep.name] = PluginInfo(ep.name, dist_name, version, "entry-point", status="disabled")
                continue
            try:
                plugin = ep.load()
                if isinstance(plugin, type):  # a class: one instance per manager, no module state
                    plugin = plugin()
            except BaseException as exc:  # noqa: BLE001 - a broken plugin must never take the CLI down
                if isinstance(exc, KeyboardInterrupt):
                    raise
                # its hooks are unknown: it may have been a gate, so it blocks trading
                self._fail(ep.name, dist_name, version, "entry-point", _one_line(exc), None)
                continue
            self._register(plugin, ep.name, dist_name, version, "entry-point")

    def _fail(self, name: str, dist: str, version: str, source: str, error: str, hooks: tuple[str, ...] | None = None) -> None:
        """Record a plugin that could not be loaded; ``hooks=None``: its hooks are unknown."""
        blocks = hooks is None or _blocks_trading(hooks)
        self._infos[name] = PluginInfo(name, dist, version, source, hooks or (), "failed", error, blocks)
        self._changed()

    def _changed(self) -> None:
        self._others.clear()
        self._direct.clear()
        self._blockers = None
        self._blocker_decisions = None

    def _register(self, plugin: object, name: str, dist: str, version: str, source: str) -> bool:
        hooks = self._hook_names(plugin)
        unknown = [h for h in hooks if not hasattr(hookspecs, h)]
        if unknown:
            self._fail(name, dist, version, source, f"unknown hook implementation(s): {', '.join(unknown)}", hooks)
            return False
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validates argument names against the spec
            self._fail(name, dist, version, source, _one_line(exc), hooks)
            return False
        for caller in self.pm.get_hookcallers(plugin) or ():
            firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper):
                    # pluggy keeps ordering, firstresult and wrappers; the call itself is isolated
                    impl.function = self._isolating(caller.name, name, impl.function, tuple(impl.argnames), firstresult)  # type: ignore[misc]
        self._infos[name] = PluginInfo(name, dist, version, source, tuple(sorted(set(hooks))))
        self._changed()
        return True

    def _hook_names(self, plugin: object) -> tuple[str, ...]:
        names = []
        for attr in dir(plugin):
            try:
                opts = self.pm.parse_hookimpl_opts(plugin, attr)
            except Exception:
                continue
            if opts is not None:
                names.append(opts.get("specname") or attr)
        return tuple(sorted(names))

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object at run time (tests, notebooks). Raises on a bad plugin."""
        self.load()
        name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        if not self._register(plugin, name, "-", "-", "registered"):
            error = self._infos.pop(name).error
            self._changed()  # it was never loaded: it blocks nothing
            raise PluginError(f"plugin {name}: {error}")
        return name

    def unregister(self, name: str) -> None:
        if name in ESSENTIAL_PLUGINS:
            raise PluginError(f"plugin {name} is essential and cannot be unregistered")
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self._infos.pop(name, None)
        self._changed()

    def infos(self) -> list[PluginInfo]:
        self.load()
        return sorted(self._infos.values(), key=lambda i: (i.source != "builtin", i.name))

    def failed(self) -> list[PluginInfo]:
        """Every plugin that failed (shown by ``plugins list``, ``status`` and an alert)."""
        return [i for i in self.infos() if i.status == "failed"]

    def trading_blockers(self) -> list[PluginInfo]:
        """The failed plugins that block every batch: those implementing an order-path,
        executor or venue hook, or whose hooks are unknown (it failed to import)."""
        if self._blockers is None:
            self._blockers = [i for i in self.failed() if i.blocks_trading]
        return self._blockers

    def mark_failed(self, name: str, error: str) -> None:
        """Record a plugin that failed after loading (e.g. in ``configure``): it is no longer
        called, and blocks trading if it is a trading plugin."""
        info = self._infos.get(name)
        if info is None:
            return
        essential = name in ESSENTIAL_PLUGINS
        self._infos[name] = info._replace(status="failed", error=error, blocks_trading=essential or _blocks_trading(info.hooks))
        if not essential and self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self._changed()

    def is_essential(self, name: str) -> bool:
        return name in ESSENTIAL_PLUGINS

    # -- calling: the one place that calls hooks -----------------------------------------------
    #
    # Every hook goes through pluggy (its call order, ``firstresult`` and hook wrappers). Each
    # plain implementation is wrapped once, at registration, by :meth:`_isolating`: during a
    # facade call it runs the plugin on a daemon thread with the call's timeout (essential
    # built-ins inline), consumes a returned generator inside that isolation, records
    # ``(plugin, result, error, seconds)`` and never lets the error escape into pluggy. The
    # facade methods then apply the hook's failure policy (docs/hooks.md) to those records.

    def _isolating(
        self, hook: str, plugin: str, function: Callable[..., Any], argnames: tuple[str, ...], firstresult: bool
    ) -> Callable[..., Any]:
        local = self._local
        inline = plugin in ESSENTIAL_PLUGINS

        def isolated(*args: Any, **kwargs: Any) -> Any:
            active: _Call | None = getattr(local, "call", None)
            if active is None or active.hook != hook:  # not called through the facade
                return function(*args, **kwargs)
            # the core's own decision is computed from the core's own objects, never from
            # the views the other plugins were handed; each other plugin gets a fresh view
            given = active.core if inline else active.views() if active.views is not None else None
            if given is not None:
                args = [given[a] for a in argnames]
                if kwargs:
                    kwargs = {k: given.get(k, v) for k, v in kwargs.items()}
            start = time.perf_counter()
            if inline or active.timeout is None:
                try:
                    result, error = function(*args, **kwargs), None
                    if not firstresult:
                        result = _settle(result)
                except Exception as exc:  # recorded; the facade applies the policy
                    result, error = None, exc
            else:
                settle = _settle_first if firstresult else _settle
                result, error = _call_with_timeout(lambda: settle(function(*args, **kwargs)), [], active.timeout, plugin)
            record = _Record(plugin, result, error, time.perf_counter() - start)
            active.records.append(record)
            if error is not None:
                if firstresult:  # stop pluggy's chain: nobody answers after a failure
                    raise _Abort(record)
                return None
            return result

        isolated.__wrapped__ = function  # type: ignore[attr-defined]
        return isolated

    def _call(
        self,
        hook: str,
        kwargs: dict[str, Any],
        timeout: float | None,
        *,
        core: dict[str, Any] | None = None,
        views: Callable[[], dict[str, Any]] | None = None,
        only: str | None = None,
        exclude: Iterable[str] = (),
    ) -> tuple[Any, list[_Record], BaseException | None]:
        """``(pluggy's result, one record per implementation called, the error of a hook
        wrapper)``. ``core``: the arguments the essential built-ins get; ``views``: makes
        fresh read-only arguments for each other plugin; ``only``: call one plugin's
        implementation (the venue's); ``exclude``: leave these plugins out."""
        self.load()
        caller = getattr(self.pm.hook, hook)
        if only is not None or exclude:
            removed = [p for n, p in self.pm.list_name_plugin() if (only is not None and n != only) or n in exclude]
            caller = self.pm.subset_hook_caller(hook, removed)
        active = _Call(hook, timeout, core, views)
        previous = getattr(self._local, "call", None)
        self._local.call = active
        wrapper_error: BaseException | None = None
        try:
            result = caller(**kwargs)
        except _Abort:
            result = None
        except Exception as exc:  # only a hook wrapper can raise here; implementations never do
            result, wrapper_error = None, exc
        finally:
            self._local.call = previous
        return result, active.records, wrapper_error

    def _direct_records(self, hook: str, args: tuple[Any, ...]) -> list[_Record] | None:
        """The records of ``hook`` called straight on the essential built-ins with ``args``
        (the core's own arguments, in the order of the hook's spec), or ``None`` when
        anything else implements it (another plugin, any hook wrapper): then only pluggy's
        call keeps the order, ``firstresult`` and wrappers. Same records as :meth:`_call`
        makes for the built-ins (inline, error recorded, lazy answer consumed), except that an
        answer of nothing (``None``, an empty list or tuple: the usual one) leaves no record
        unless the calls are traced, as the facade skips it anyway: the failed-plugin check
        and the validation of every other answer apply unchanged. Only for hooks that are
        not ``firstresult``. Why: at one order per call pluggy's machinery was half the
        decision."""
        cached = self._direct.get(hook)
        # any registration changes pluggy's list of implementations: compared every call,
        # so even a plugin registered behind this facade's back switches the direct call off
        if cached is None or cached[0] != cached[1]:
            self.load()
            caller = getattr(self.pm.hook, hook)
            live = getattr(caller, "_hookimpls", None)
            impls = list(live) if isinstance(live, list) else None
            calls = None
            if impls is not None and all(i.plugin_name in ESSENTIAL_PLUGINS and not (i.wrapper or i.hookwrapper) for i in impls):
                spec = tuple(caller.spec.argnames)
                # pluggy calls the last registered first
                calls = [(i.plugin_name, getattr(i.function, "__wrapped__", i.function), _arguments(spec, tuple(i.argnames))) for i in reversed(impls)]
            self._direct[hook] = cached = (live, impls, calls)
        calls = cached[2]
        if calls is None:
            return None
        records = []
        if not self.trace:
            empty = _EMPTY_ANSWER
            for plugin, function, pick in calls:
                try:
                    result = function(*args) if pick is None else function(*pick(args))
                    if result is None or (type(result) in empty and not result):
                        continue  # nothing closed, no violation: the facade skips it
                    result, error = _settle(result), None
                except Exception as exc:  # recorded; the facade applies the policy
                    result, error = None, exc
                records.append(_Record(plugin, result, error, 0.0))
            return records
        clock = time.perf_counter
        for plugin, function, pick in calls:
            start = clock()
            try:
                result, error = _settle(function(*args) if pick is None else function(*pick(args))), None
            except Exception as exc:  # recorded; the facade applies the policy
                result, error = None, exc
            records.append(_Record(plugin, result, error, clock() - start))
        return records

    def _has_others(self, hook: str) -> bool:
        """Does any plugin besides the essential built-ins implement ``hook``?"""
        others = self._others.get(hook)
        if others is None:
            self.load()
            impls = getattr(self.pm.hook, hook).get_hookimpls()
            others = self._others[hook] = any(i.plugin_name not in ESSENTIAL_PLUGINS for i in impls)
        return others

    def _trace(self, hook: str, records: list[_Record], wrapper_error: BaseException | None = None) -> None:
        if not self.trace:
            return
        from peaktrade_core.log import logger

        for r in records:
            outcome = r.outcome or (
                f"failed: {_one_line(r.error)}" if r.error is not None else "no answer" if r.result is None else "ok"
            )
            logger.bind(tag="PLUGINS").info("hook {} plugin {}: {} in {:.3f} ms", hook, r.plugin, outcome, r.seconds * 1000)
        if wrapper_error is not None:
            logger.bind(tag="PLUGINS").info("hook {} wrapper failed: {}", hook, _one_line(wrapper_error))

    # -- set-up hooks ----------------------------------------------------------------------

    def config_sections(self) -> dict[str, type]:
        """``[plugins.<name>]`` -> class, from every plugin's ``config_sections``."""
        sections: dict[str, type] = {}
        _, records, wrapper_error = self._call("config_sections", {}, None)
        for r in records:
            if r.error is not None:
                self.mark_failed(r.plugin, f"config_sections: {_one_line(r.error)}")
            elif isinstance(r.result, Mapping):
                sections.update(r.result)
            elif r.result is not None:
                r.outcome = f"returned {type(r.result).__name__}, not a mapping"
                self.mark_failed(r.plugin, f"config_sections: {r.outcome}")
        self._trace("config_sections", records, wrapper_error)
        return sections

    def configure(self, config: Any) -> None:
        """Hand ``config`` to every plugin (once per config object)."""
        if config is self._configured:
            return
        self._configured = config
        _, records, wrapper_error = self._call("configure", {"config": config}, None)
        for r in records:
            if r.error is not None:
                self.mark_failed(r.plugin, f"configure: {_one_line(r.error)}")
        self._trace("configure", records, wrapper_error)

    def register_commands(self, cli: Any) -> None:
        """Let every plugin add CLI commands; one that raises is marked failed (shown by
        ``plugins list``, ``status`` and an alert; trading goes on unless it is a trading
        plugin)."""
        _, records, wrapper_error = self._call("register_commands", {"cli": cli}, None)
        for r in records:
            if r.error is not None:
                self.mark_failed(r.plugin, f"register_commands: {_one_line(r.error)}")
        self._trace("register_commands", records, wrapper_error)

    # -- order path ------------------------------------------------------------------------

    def check_gate(self, env: Any, orders: Sequence[Any], context: Any, timeout: float | None = 2.0) -> list[Any]:
        """The closed decisions on ``orders`` of every gate (the built-ins and each plugin).

        ``context`` is the core's own :class:`~peaktrade_core.gates.GateContext`: only the
        essential built-in gates see it; every other plugin gets a fresh read-only copy.
        Fails closed: a trading plugin that failed to load, an implementation that raises
        (also while its generator is consumed), times out or returns anything but
        decisions about this batch closes the whole batch with a reason naming it.
        """
        orders = tuple(orders)
        blockers = self._blocker_decisions
        if blockers is None:  # rebuilt when a plugin is (un)registered or fails
            GateDecision = _answer_classes()[0]  # noqa: N806 - the class
            blockers = self._blocker_decisions = tuple(
                GateDecision("plugin", False, _blocking_line(i), plugin=i.name) for i in self.trading_blockers()
            )
        records, wrapper_error = self._direct_records("check_gate", (env, orders, context)), None
        if records is None:
            core = {"env": env, "orders": orders, "context": context}
            views = (lambda: {"env": env, "orders": orders, "context": _gate_view(context)}) if self._has_others("check_gate") else None
            _, records, wrapper_error = self._call("check_gate", views() if views else core, timeout, core=core, views=views)
        elif not records and not blockers:  # the built-ins alone, nothing closed: the usual answer
            return []
        GateDecision = _answer_classes()[0]  # noqa: N806 - the class
        n = len(orders)
        closed = list(blockers)
        for r in records:
            if r.error is not None:
                r.outcome = f"raised {_one_line(r.error)}"
            else:
                items = [r.result] if isinstance(r.result, GateDecision) else r.result
                if items is None or (not items and type(items) in _EMPTY_ANSWER):  # nothing closed (the usual answer)
                    continue
                if not isinstance(items, list | tuple) or not all(_valid_decision(d, n, GateDecision) for d in items):
                    r.outcome = f"returned something that is not a GateDecision about this batch ({_describe(r.result)})"
                else:
                    closed.extend(d if d.plugin else _with_plugin(d, r.plugin) for d in items if not d.open)
                    continue
            closed.append(
                GateDecision(r.plugin, False, f"gate plugin {r.plugin} {r.outcome}; batch blocked (fail closed)", plugin=r.plugin)
            )
        if wrapper_error is not None:
            closed.append(GateDecision("plugin", False, f"a check_gate hook wrapper raised {_one_line(wrapper_error)}; batch blocked (fail closed)"))
        if self.trace:
            self._trace("check_gate", records, wrapper_error)
        return closed

    def check_risk(
        self, orders: Sequence[Any], portfolio: Any, limits: Any, env: Any, timeout: float | None = 2.0
    ) -> list[Any]:
        """The violations of every ``check_risk`` implementation, each naming its plugin.

        The essential built-in limits see the core's own ``portfolio``; every other plugin
        gets a fresh read-only copy. Fails closed: an implementation that raises (also
        while its generator is consumed), times out or returns anything but violations of
        this batch adds a ``plugin_failed`` violation for the whole batch, naming it.
        """
        orders = tuple(orders)
        records, wrapper_error = self._direct_records("check_risk", (orders, portfolio, limits, env)), None
        if records is None:
            core = {"orders": orders, "portfolio": portfolio, "limits": limits, "env": env}
            views = (
                (lambda: {"orders": orders, "portfolio": _portfolio_view(portfolio), "limits": limits, "env": env})
                if self._has_others("check_risk")
                else None
            )
            _, records, wrapper_error = self._call("check_risk", views() if views else core, timeout, core=core, views=views)
        elif not records:  # the built-ins alone, no violation: the usual answer
            return []
        RiskViolation = _answer_classes()[1]  # noqa: N806 - the class
        n = len(orders)
        out: list[Any] = []
        for r in records:
            if r.error is not None:
                r.outcome = f"failed: {_one_line(r.error)}"
            elif r.result is None or (not r.result and type(r.result) in _EMPTY_ANSWER):  # no violation (the usual answer)
                continue
            elif not isinstance(r.result, list | tuple):
                r.outcome = f"returned {_describe(r.result)}, not violations"
            else:
                bad = next((v for v in r.result if not _valid_violation(v, n, RiskViolation)), None)
                if bad is None:
                    out.extend(v if v.plugin else _with_plugin(v, r.plugin) for v in r.result)
                    continue
                r.outcome = f"returned an invalid violation: {bad!r:.80}"
            out.append(_risk_failure(r.plugin, r.outcome))
        if wrapper_error is not None:
            out.append(_risk_failure("(hook wrapper)", f"raised {_one_line(wrapper_error)}"))
        if self.trace:
            self._trace("check_risk", records, wrapper_error)
        return out

    def select_executor(
        self, env: Any, live_allowed: bool, context: Any, *, only: str | None = None, exclude: Iterable[str] = ()
    ) -> Any:
        """The first executor a plugin returns (pluggy's ``firstresult``), or ``None``.

        ``only``: ask just that plugin; ``exclude``: ask every plugin but these. Raises
        :class:`PluginError` with one line naming the plugin if an implementation raises or
        answers with something that is not an executor: the session must not start.
        """
        kwargs = {"env": env, "live_allowed": live_allowed, "context": context}
        result, records, wrapper_error = self._call("select_executor", kwargs, None, only=only, exclude=exclude)
        self._trace("select_executor", records, wrapper_error)
        failed = next((r for r in records if r.error is not None), None)
        if failed is not None:
            raise PluginError(f"plugin {failed.plugin}: select_executor failed: {_one_line(failed.error)}")
        if wrapper_error is not None:
            raise PluginError(f"a select_executor hook wrapper failed: {_one_line(wrapper_error)}")
        if result is not None and not callable(getattr(result, "execute_orders", None)):
            who = next((r.plugin for r in records if r.result is result), "?")
            raise PluginError(f"plugin {who}: select_executor returned {_describe(result)}, not an executor")
        return result

    # -- venues ----------------------------------------------------------------------------

    def exchange_venues(self) -> dict[str, str]:
        """Venue name -> the one plugin that serves it. Raises ``VenueError`` (one line) if
        a plugin's ``exchange_venues`` fails or two plugins claim the same venue."""
        venues: dict[str, str] = {}
        _, records, wrapper_error = self._call("exchange_venues", {}, 10.0)
        self._trace("exchange_venues", records, wrapper_error)
        for r in records:
            if r.error is not None:
                raise _venue_error(f"plugin {r.plugin}: exchange_venues failed: {_one_line(r.error)}")
            names = [r.result] if isinstance(r.result, str) else r.result or ()
            if not isinstance(names, list | tuple) or not all(isinstance(v, str) and v for v in names):
                raise _venue_error(f"plugin {r.plugin}: exchange_venues returned {_describe(r.result)}, not venue names")
            for venue in names:
                if venues.get(venue, r.plugin) != r.plugin:
                    first, second = sorted((venues[venue], r.plugin))
                    raise _venue_error(
                        f"venue {venue!r} is served by two plugins, {first} and {second}: "
                        f"uninstall one or disable it (PEAK_TRADE_DISABLE_PLUGINS={second})"
                    )
                venues[venue] = r.plugin
        return venues

    def create_exchange_client(self, config: Any) -> Any:
        """The client for ``[environment] exchange``, built by the one plugin that declared
        that venue, in ``testnet`` and ``live`` mode only; ``None`` in paper/shadow or when
        no exchange is configured. Raises ``VenueError`` with one line otherwise."""
        env = config.environment
        if not builds_exchange_client(env):
            return None
        venues = self.exchange_venues()
        plugin = venues.get(env.exchange)
        if plugin is None:
            raise _venue_error(f"[environment] exchange = {env.exchange!r}: {_unserved(env.exchange, venues)}")
        kwargs = {"venue": env.exchange, "mode": env.mode, "settings": config.plugins.get(plugin), "config": config}
        _, records, wrapper_error = self._call("create_exchange_client", kwargs, 30.0, only=plugin)
        self._trace("create_exchange_client", records, wrapper_error)
        record = next((r for r in records if r.plugin == plugin), None)
        if wrapper_error is not None:
            raise _venue_error(f"a create_exchange_client hook wrapper failed: {_one_line(wrapper_error)}")
        if record is None or record.error is not None:
            why = _one_line(record.error) if record is not None and record.error is not None else "it is not loaded"
            raise _venue_error(f"plugin {plugin}: create_exchange_client for venue {env.exchange!r} failed: {why}")
        client = record.result
        if client is None or not callable(getattr(client, "submit_order", None)):
            raise _venue_error(
                f"plugin {plugin}: create_exchange_client for venue {env.exchange!r} returned {_describe(client)}, not an ExchangeClient"
            )
        return client

    # -- market data -----------------------------------------------------------------------

    def open_market_feed(self, config: Any, venue: str, symbols: Sequence[str], timeout: float = 10.0) -> Any:
        """The read-only feed of ``venue`` for ``symbols`` from the plugin that declared the
        venue, wrapped so that its failures stop quotes and nothing else
        (:class:`~peaktrade_core.marketdata.GuardedFeed`). Raises ``FeedError`` (one line)
        when no plugin serves the venue or opening fails."""
        from peaktrade_core.marketdata import FeedError, GuardedFeed

        try:
            venues = self.exchange_venues()
        except Exception as exc:  # a VenueError: say it as a feed error, still one line
            raise FeedError(str(exc)) from None
        plugin = venues.get(venue)
        if plugin is None:
            raise FeedError(f"market-data source {venue!r}: not a recorded file (.csv, .jsonl) and {_unserved(venue, venues)}")
        settings = (getattr(config, "plugins", None) or {}).get(plugin)
        kwargs = {"venue": venue, "symbols": list(symbols), "settings": settings, "config": config}
        _, records, wrapper_error = self._call("open_market_feed", kwargs, timeout, only=plugin)
        self._trace("open_market_feed", records, wrapper_error)
        record = next((r for r in records if r.plugin == plugin), None)
        if wrapper_error is not None:
            raise FeedError(f"an open_market_feed hook wrapper failed: {_one_line(wrapper_error)}")
        if record is None:
            raise FeedError(f"plugin {plugin} offers no market-data feed for venue {venue!r}")
        if record.error is not None:
            raise FeedError(f"plugin {plugin}: open_market_feed for venue {venue!r} failed: {_one_line(record.error)}")
        feed = record.result
        if feed is None:
            raise FeedError(f"plugin {plugin} offers no market-data feed for venue {venue!r}")
        if not callable(getattr(feed, "__iter__", None)) or not callable(getattr(feed, "close", None)):
            raise FeedError(f"plugin {plugin}: open_market_feed for venue {venue!r} returned {_describe(feed)}, not a feed")
        return GuardedFeed(feed, plugin, symbols)

    # -- alerts and drills -----------------------------------------------------------------

    def emit_alert(self, event: Any, sinks: Iterable[str], timeout: float | None) -> dict[str, Any]:
        """Deliver ``event`` to ``sinks``: one :class:`~peaktrade_core.alerts.AlertDelivery`
        per sink, always. A plugin that raises, times out or returns garbage never
        propagates: the sinks nobody delivered to are failed deliveries naming it."""
        from peaktrade_core.alerts import AlertDelivery

        wanted = frozenset(sinks)
        results: dict[str, Any] = {}
        problems: list[str] = []
        _, records, wrapper_error = self._call("emit_alert", {"event": event, "sinks": wanted}, timeout)
        for r in records:
            if r.error is not None:
                problems.append(f"plugin {r.plugin} failed: {_one_line(r.error)}")
                continue
            if r.result is None:
                continue
            for item in r.result if isinstance(r.result, list | tuple) else [r.result]:
                if not isinstance(item, AlertDelivery):
                    r.outcome = f"returned {type(item).__name__}, not AlertDelivery"
                    problems.append(f"plugin {r.plugin} {r.outcome}")
                elif item.sink in wanted and (item.sink not in results or item.ok):
                    results[item.sink] = item
        if wrapper_error is not None:
            problems.append(f"an emit_alert hook wrapper failed: {_one_line(wrapper_error)}")
        self._trace("emit_alert", records, wrapper_error)
        for sink in wanted - results.keys():
            why = "; ".join(problems) or "no plugin delivers to this sink (not installed or not allowed?)"
            results[sink] = AlertDelivery(sink, False, why)
        return results

    def alert_sinks(self) -> set[str]:
        """Every sink name the loaded plugins deliver to (``alert_sinks``). A plugin that
        fails or answers with garbage names none (its sinks are then unknown)."""
        _, records, wrapper_error = self._call("alert_sinks", {}, 10.0)
        self._trace("alert_sinks", records, wrapper_error)
        names: set[str] = set()
        for r in records:
            if r.error is None and isinstance(r.result, list | tuple | set | frozenset):
                names.update(n for n in r.result if isinstance(n, str))
        return names

    def drill_scenarios(self, timeout: float | None) -> tuple[list[Any], list[str]]:
        """``(every pack's scenarios in pack order, one line per problem)``: a pack that
        fails or lists garbage is reported, the others are listed."""
        from peaktrade_core.drills import LiveDrillScenario

        found: list[Any] = []
        problems: list[str] = []
        _, records, wrapper_error = self._call("drill_scenarios", {}, timeout)
        for r in records:
            if r.error is not None:
                problems.append(f"drill pack {r.plugin}: drill_scenarios failed: {_one_line(r.error)}")
                continue
            for scenario in r.result if isinstance(r.result, list | tuple) else [r.result] if r.result is not None else []:
                if not isinstance(scenario, LiveDrillScenario):
                    problems.append(f"drill pack {r.plugin}: listed {type(scenario).__name__}, not a LiveDrillScenario")
                elif any(s.name == scenario.name for s in found):
                    problems.append(f"drill pack {r.plugin}: scenario name {scenario.name!r} is already taken")
                else:
                    found.append(scenario)
        if wrapper_error is not None:
            problems.append(f"a drill_scenarios hook wrapper failed: {_one_line(wrapper_error)}")
        self._trace("drill_scenarios", records, wrapper_error)
        return found, problems

    def run_drill(self, scenario: Any, context: Any, timeout: float | None) -> tuple[Any, list[str]]:
        """``(the result of the pack that answered, problems)`` (pluggy's ``firstresult``).
        A pack that raises or answers with something else fails the drill, named."""
        from peaktrade_core.drills import LiveDrillResult

        result, records, wrapper_error = self._call("run_drill", {"scenario": scenario, "context": context}, timeout)
        self._trace("run_drill", records, wrapper_error)
        problems = [f"drill plugin {r.plugin} raised {_one_line(r.error)}" for r in records if r.error is not None]
        if wrapper_error is not None:
            problems.append(f"a run_drill hook wrapper failed: {_one_line(wrapper_error)}")
        if result is not None and not isinstance(result, LiveDrillResult):
            who = next((r.plugin for r in records if r.result is result), "?")
            problems.append(f"drill plugin {who} returned {type(result).__name__}, not a LiveDrillResult")
            result = None
        return result, problems


def builds_exchange_client(env: Any) -> bool:
    """Is a venue client built for this environment: an exchange, in testnet or live mode?"""
    return bool(env.exchange) and env.mode in ("testnet", "live")  # TradingMode is a StrEnum


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, created and loaded on first use (no import side effects)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager(
                allow=_names_from_env("PEAK_TRADE_PLUGINS"),
                disable=_names_from_env("PEAK_TRADE_DISABLE_PLUGINS") or set(),
            )
    return _manager.load()


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests; a changed environment)."""
    global _manager
    with _manager_lock:
        _manager = None
