"""The plugin manager: built-ins and entry-point plugins, loaded in isolation, called safely.

Built-in plugins are registered with the same call as external ones; the *essential* ones
(safety gates, standard risk limits, the log/stderr alert sinks) cannot be blocked by any
setting. Every entry point of the group ``peaktrade`` is loaded on its own: one that fails to
import, has a misspelt hook (``chek_gate``) or a signature the spec does not allow is recorded
as failed and the rest still load.

Environment variables:
``PEAK_TRADE_PLUGINS``          comma-separated allow-list of external plugins; empty = none.
``PEAK_TRADE_DISABLE_PLUGINS``  comma-separated plugins not to load.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterable
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
        }


class PluginError(Exception):
    """A plugin misbehaved; the message names it."""


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
    if stem.endswith(".dist-info") and stem.count("-") == 1:
        name, version = stem[: -len(".dist-info")].split("-")
        return name.replace("_", "-").lower(), version
    return dist.name, dist.version


def _call_with_timeout(function: Callable[..., Any], args: list[Any], timeout: float) -> tuple[Any, BaseException | None]:
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

    threading.Thread(target=call, name=f"peaktrade-plugin-{getattr(function, '__module__', '?')}", daemon=True).start()
    if not done.wait(timeout):
        return None, TimeoutError(f"no answer within {timeout:g}s")
    return outcome[0]


def _one_line(exc: BaseException) -> str:
    text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}".rstrip(": ")


class PluginManager:
    """A small typed facade over pluggy: one method per hook, failures isolated."""

    def __init__(self, allow: set[str] | None = None, disable: set[str] | None = None):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.allow = allow
        self.disable = disable or set()
        self._infos: dict[str, PluginInfo] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self._configured: Any = None

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> PluginManager:
        """Register the built-ins, then every allowed entry point. Idempotent."""
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
            except BaseException as exc:  # noqa: BLE001 - a broken plugin must never take the CLI down
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._fail(ep.name, dist_name, version, "entry-point", _one_line(exc))
                continue
            self._register(plugin, ep.name, dist_name, version, "entry-point")

    def _fail(self, name: str, dist: str, version: str, source: str, error: str) -> None:
        self._infos[name] = PluginInfo(name, dist, version, source, status="failed", error=error)

    def _register(self, plugin: object, name: str, dist: str, version: str, source: str) -> bool:
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self._fail(name, dist, version, source, f"unknown hook implementation(s): {', '.join(unknown)}")
            return False
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validates argument names against the spec
            self._fail(name, dist, version, source, _one_line(exc))
            return False
        hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
        self._infos[name] = PluginInfo(name, dist, version, source, hooks)
        return True

    def _unknown_hooks(self, plugin: object) -> list[str]:
        unknown = []
        for attr in dir(plugin):
            try:
                opts = self.pm.parse_hookimpl_opts(plugin, attr)
            except Exception:
                continue
            if opts is not None and not hasattr(hookspecs, attr):
                unknown.append(attr)
        return unknown

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object at run time (tests, notebooks). Raises on a bad plugin."""
        self.load()
        name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
        if not self._register(plugin, name, "-", "-", "registered"):
            raise PluginError(f"plugin {name}: {self._infos.pop(name).error}")
        return name

    def unregister(self, name: str) -> None:
        if name in ESSENTIAL_PLUGINS:
            raise PluginError(f"plugin {name} is essential and cannot be unregistered")
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self._infos.pop(name, None)

    def infos(self) -> list[PluginInfo]:
        self.load()
        return sorted(self._infos.values(), key=lambda i: (i.source != "builtin", i.name))

    def failed(self) -> list[PluginInfo]:
        return [i for i in self.infos() if i.status == "failed"]

    def mark_failed(self, name: str, error: str) -> None:
        """Record a plugin that failed after loading (e.g. in ``configure``)."""
        info = self._infos.get(name)
        if info is not None:
            self._infos[name] = info._replace(status="failed", error=error)

    def is_essential(self, name: str) -> bool:
        return name in ESSENTIAL_PLUGINS

    # -- calling ---------------------------------------------------------------------------

    def implementations(self, hook: str) -> list[tuple[str, Callable[..., Any], list[str]]]:
        """``(plugin name, function, argument names)`` for each implementation, in call order."""
        self.load()
        caller = getattr(self.pm.hook, hook)
        out = []
        for impl in reversed(caller.get_hookimpls()):  # pluggy calls last-registered first
            name = self.pm.get_name(impl.plugin) or "?"
            if self._infos.get(name, None) is not None and self._infos[name].status == "failed":
                continue
            out.append((name, impl.function, list(impl.argnames)))
        return out

    def call_isolated(
        self, hook: str, kwargs: dict[str, Any], timeout: float | None
    ) -> Iterable[tuple[str, Any, BaseException | None]]:
        """Call each implementation on its own: ``(plugin, result, error)``.

        Essential built-ins run inline. Others run on a worker thread with ``timeout``
        seconds; one that exceeds it yields a ``TimeoutError`` (the thread is abandoned).
        """
        for name, function, argnames in self.implementations(hook):
            args = [kwargs[a] for a in argnames]
            if name in ESSENTIAL_PLUGINS or timeout is None:
                try:
                    yield name, function(*args), None
                except Exception as exc:
                    yield name, None, exc
                continue
            yield name, *_call_with_timeout(function, args, timeout)

    def config_sections(self) -> dict[str, type]:
        """``[plugins.<name>]`` -> class, from every plugin's ``config_sections``."""
        sections: dict[str, type] = {}
        for name, result, error in self.call_isolated("config_sections", {}, None):
            if error is not None:
                self.mark_failed(name, f"config_sections: {_one_line(error)}")
            elif result:
                sections.update(result)
        return sections

    def configure(self, config: Any) -> None:
        """Hand ``config`` to every plugin (once per config object)."""
        if config is self._configured:
            return
        self._configured = config
        for name, _result, error in self.call_isolated("configure", {"config": config}, None):
            if error is not None:
                self.mark_failed(name, f"configure: {_one_line(error)}")

    # -- venues ------------------------------------------------------------------------------

    def exchange_venues(self) -> dict[str, str]:
        """``venue -> plugin`` from every ``exchange_venues`` implementation. Raises
        ``VenueError`` (one line) when one raises or two plugins claim the same venue."""
        from peaktrade_core.venues import VenueError

        venues: dict[str, str] = {}
        for name, result, error in self.call_isolated("exchange_venues", {}, None):
            if error is not None:
                raise VenueError(f"plugin {name}: exchange_venues raised {_one_line(error)}")
            for venue in result or ():
                if venue in venues and venues[venue] != name:
                    raise VenueError(f"venue {venue!r} is served by two plugins ({venues[venue]}, {name}): disable one (PEAK_TRADE_DISABLE_PLUGINS)")
                venues[str(venue)] = name
        return venues

    def create_exchange_client(self, config: Any) -> Any:
        """The client for ``[environment] exchange`` in testnet/live mode, from the one plugin
        that serves that venue; ``None`` in paper/shadow or with no exchange configured.
        Raises ``VenueError`` (one line naming the plugin) on any failure."""
        from peaktrade_core.environment import TradingMode
        from peaktrade_core.venues import VenueError

        env = config.environment
        if not env.exchange or env.mode not in (TradingMode.TESTNET, TradingMode.LIVE):
            return None
        venues = self.exchange_venues()
        plugin = venues.get(env.exchange)
        if plugin is None:
            served = ", ".join(sorted(venues)) or "none"
            raise VenueError(f"[environment] exchange = {env.exchange!r}: no installed plugin serves this venue (installed venues: {served})")
        impl = next((f for n, f, _ in self.implementations("create_exchange_client") if n == plugin), None)
        if impl is None:
            raise VenueError(f"plugin {plugin} declares venue {env.exchange!r} but has no create_exchange_client")
        kwargs = {"venue": env.exchange, "mode": env.mode, "settings": config.plugins.get(plugin), "config": config}
        argnames = next(a for n, _, a in self.implementations("create_exchange_client") if n == plugin)
        try:
            client = impl(*[kwargs[a] for a in argnames])
        except Exception as exc:
            raise VenueError(f"plugin {plugin}: create_exchange_client raised {_one_line(exc)}") from exc
        if client is None:
            raise VenueError(f"plugin {plugin}: create_exchange_client returned no client for {env.exchange!r}")
        return client

    @property
    def hook(self) -> Any:
        self.load()
        return self.pm.hook


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
