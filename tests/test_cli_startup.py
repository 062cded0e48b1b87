"""CLI start-up stays light: `status`, `plugins list` and `--help` import only what they show,
and stay truthful (a failed plugin is listed, the kill switch is read from the store).

Guards for benchmarks/bench_cli.py's figures without timing anything: each names modules a
command must not import (the order model, the risk limits, the venue layer, OpenSSL, a
METADATA parser, ...), checked in a fresh interpreter's ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import hookimpl
from peaktrade_core.plugins import _PluggyManager

#: never needed to show the gates, the store, the kill switch and the limits
NOT_FOR_STATUS = [
    "peaktrade_core.orders",  # the order model (gates name it in annotations only)
    "peaktrade_core.risk.limits",  # the limits themselves: status shows their settings
    "peaktrade_core.risk.controls",
    "peaktrade_core.risk.portfolio_state",
    "peaktrade_core.venues",  # no venue in paper mode
    "peaktrade_core.pipeline",
    "peaktrade_core.alerts",  # events, deliveries, dispatcher: the config needs only alerts_config
    "cattrs",  # a valid config is structured without it
    "difflib",  # only to suggest a name for a mistake
    "email.parser",  # a plugin's version comes from its dist-info folder, not its METADATA
    "zoneinfo",  # the default [live_risk] timezone is UTC, which needs no zone database
    "peaktrade_core.store.copy",  # its table definitions serve only copying a store
    "peaktrade_core.gate_decisions",  # the per-order gates: status shows the environment-level report
    "json",  # the identity file is read by json's C scanner; the package's regexes are not needed
]
NOT_FOR_HELP = [*NOT_FOR_STATUS, "attrs", "peaktrade_core.config", "peaktrade_core.gates", "sqlite3", "tomllib"]

PROBE = textwrap.dedent(
    """
    import sys
    from peaktrade_core.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
    loaded = sorted(sys.modules)
    import json
    print(json.dumps(loaded), file=sys.stderr)
    """
)

FAILING = """
    raise ImportError("libfoo is missing")
"""
GATE = """
    from peaktrade_core import hookimpl

    @hookimpl
    def check_gate(orders):
        return None
"""


@pytest.fixture
def site(tmp_path):
    """Two plugins installed as pip leaves them: one that loads, one that fails to import."""
    site = tmp_path / "site"
    info = site / "peaktrade_startup_fakes-2.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peaktrade-startup-fakes\nVersion: 2.0.1\n")
    (info / "entry_points.txt").write_text("[peaktrade]\ngategood = fake_gategood\nbroken = fake_broken\n")
    (site / "fake_gategood.py").write_text(textwrap.dedent(GATE))
    (site / "fake_broken.py").write_text(textwrap.dedent(FAILING))
    return site


def _run(site: Path, *args: str) -> tuple[str, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(site), "PEAK_TRADE_PLUGINS": "gategood,broken"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120)
    return done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_status_lists_the_failed_plugin_and_the_engaged_kill_switch_without_the_order_path(site):
    engage = subprocess.run(
        [sys.executable, "-m", "peaktrade_core", "kill", "--reason", "startup test", "--operator", "ops"],
        capture_output=True, text=True, timeout=120,
    )
    assert engage.returncode == 0, engage.stderr
    out, loaded = _run(site, "status")
    assert "ENGAGED by ops" in out and "startup test" in out  # read from the store
    assert "! plugin broken failed (ImportError: libfoo is missing): every batch is blocked" in out
    assert "peaktrade_core.config" in loaded and "fake_gategood" in loaded  # it did load the plugins and the config
    assert sorted(m for m in NOT_FOR_STATUS if m in loaded) == []


def test_a_fresh_status_needs_no_openssl(site):
    out, loaded = _run(site, "status")
    assert "Kill switch\n  released" in out
    assert "hashlib" not in loaded and "hmac" not in loaded  # a token compare or a kill-switch chain would


@pytest.mark.parametrize(("zone", "accepted"), [("Europe/Berlin", True), ("Mars/Olympus", False), ("UTC", True)])
def test_status_checks_a_configured_time_zone_against_the_zone_database(site, tmp_path, zone, accepted):
    config = tmp_path / "config.toml"
    config.write_text(f'[live_risk]\ntimezone = "{zone}"\n')
    env = {**os.environ, "PYTHONPATH": str(site), "PEAK_TRADE_PLUGINS": "gategood", "PEAK_TRADE_CONFIG_PATH": str(config)}
    done = subprocess.run([sys.executable, "-c", PROBE, "status"], capture_output=True, text=True, env=env, timeout=120)
    if accepted:
        assert "Limits in force" in done.stdout
        assert ("zoneinfo" in json.loads(done.stderr.strip().splitlines()[-1])) is (zone != "UTC")
    else:
        assert "Limits in force" not in done.stdout
        assert f'config.toml: live_risk: timezone: unknown time zone "{zone}"' in done.stderr


def test_plugins_list_shows_name_and_version_without_reading_metadata(site):
    out, loaded = _run(site, "plugins", "list", "--json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["gategood"]["distribution"] == "peaktrade-startup-fakes" and listed["gategood"]["version"] == "2.0.1"
    assert listed["broken"]["status"] == "failed" and listed["gategood"]["hooks"] == ["check_gate"]
    assert sorted(m for m in [*NOT_FOR_HELP, "peaktrade_core.cli_state"] if m in loaded and m != "json") == []  # --json prints JSON


def test_help_builds_no_config_and_opens_no_store(site):
    out, loaded = _run(site, "--help")
    assert "  status " in out
    assert sorted(m for m in NOT_FOR_HELP if m in loaded) == []


# -- the quick "no hook here" answer of the plugin manager against pluggy's own ------------------


def _sample_plugin() -> types.ModuleType:
    """A plugin module with every kind of attribute pluggy has to tell apart."""
    module = types.ModuleType("fake_kinds")

    class Holder:
        @hookimpl
        def check_gate(self, orders):
            return None

        @staticmethod
        @hookimpl
        def check_risk(orders):
            return None

    @hookimpl(tryfirst=True)
    def alert_sinks():
        return []

    @hookimpl(specname="configure")
    def my_configure(config):
        return None

    @hookimpl
    def chek_gate(orders):  # misspelt: still a hook implementation (to be refused later)
        return None

    def helper():
        return None

    module.__dict__.update(
        alert_sinks=alert_sinks, my_configure=my_configure, chek_gate=chek_gate, helper=helper,
        Holder=Holder, bound_check_gate=Holder().check_gate, check_risk=Holder.__dict__["check_risk"],
        plain_static=staticmethod(helper), plain_class=classmethod(lambda cls: None), json=json,
        CONSTANT=3, lam=lambda: None, os_path=os.path,
    )
    return module


@pytest.mark.parametrize("module", ["sample", "peaktrade_core.builtin.safety_gates", "peaktrade_core.builtin.risk_limits",
                                    "peaktrade_core.builtin.alert_sinks", "peaktrade_core.hookspecs", "os", "json"])
def test_the_quick_hook_scan_answers_as_pluggy(module):
    import importlib

    plugin = _sample_plugin() if module == "sample" else importlib.import_module(module)
    quick, plain = _PluggyManager("peaktrade"), pluggy.PluginManager("peaktrade")
    names = dir(plugin)
    answers = {name: quick.parse_hookimpl_opts(plugin, name) for name in names}
    assert answers == {name: plain.parse_hookimpl_opts(plugin, name) for name in names}
    if module == "sample":
        assert {n for n, a in answers.items() if a is not None} == {"alert_sinks", "my_configure", "chek_gate", "bound_check_gate", "check_risk"}


# -- attrs' generated methods from the cache are the ones compile() gives ----------------------


def _same_code(cached: types.CodeType, plain: types.CodeType) -> None:
    for name in ("co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_linetable",
                 "co_exceptiontable", "co_flags", "co_argcount", "co_kwonlyargcount", "co_name", "co_qualname",
                 "co_filename", "co_firstlineno", "co_stacksize"):
        assert getattr(cached, name) == getattr(plain, name), name
    assert list(cached.co_positions()) == list(plain.co_positions())
    assert len(cached.co_consts) == len(plain.co_consts)
    for a, b in zip(cached.co_consts, plain.co_consts, strict=True):
        if isinstance(a, types.CodeType):
            _same_code(a, b)
        else:
            assert type(a) is type(b) and (a == b or a is b), (a, b)


def _attrs_scripts(frozen: bool, eq: bool, order: bool, names: list[str]) -> list[tuple[str, str]]:
    """The ``(source, file name)`` attrs compiles for a class of this shape."""
    import attr._make
    import attrs

    seen: list[tuple[str, str]] = []

    def recording(source, filename, mode):
        seen.append((source, filename))
        return compile(source, filename, mode)

    before = vars(attr._make).get("compile")
    attr._make.compile = recording
    try:
        attrs.define(frozen=frozen, eq=eq, order=order if eq else False)(type("Shape", (), {"__annotations__": dict.fromkeys(names, "int")}))
    finally:
        if before is None:
            del attr._make.compile
        else:
            attr._make.compile = before
    return seen


@settings(max_examples=40)
@given(
    frozen=st.booleans(), eq=st.booleans(), order=st.booleans(),
    names=st.lists(st.from_regex(r"f_[a-z0-9_]{0,8}", fullmatch=True), min_size=0, max_size=6, unique=True),
    salt=st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 9, -9, 99, 999999, -9999999999999999999])),
)
def test_attrs_code_from_the_cache_is_the_code_compile_gives_for_any_hash_salt(tmp_path_factory, frozen, eq, order, names, salt):
    """A cached entry stands for exactly one source text; the per-process ``__hash__`` salt is
    put back into the constants: for any class shape and any salt, first from an empty cache
    and then from the cache (another process's salt in the source), the code is compile()'s."""
    import re

    from peaktrade_core import attrs_code_cache as cache

    saved = cache._entries, cache._used, cache._dirty
    cache._entries, cache._used, cache._dirty = {}, {}, True  # True: nothing written at exit
    try:
        for source, filename in _attrs_scripts(frozen, eq, order, names):
            resalted = re.sub(r"(hash\(\(\n +)(-?\d+)(,\n)", lambda m: f"{m.group(1)}{salt}{m.group(3)}", source)
            for text in (source, resalted, source):  # with another process's salt, then this one's
                _same_code(cache._compile(text, filename, "exec"), compile(text, filename, "exec"))
        assert cache._used  # the calls above went through the cache
    finally:
        cache._entries, cache._used, cache._dirty = saved


CACHE_PROBE = textwrap.dedent(
    """
    import json, linecache, sys, types
    from peaktrade_core import attrs_code_cache as cache
    cache.cache_path = lambda: sys.argv[1]
    from peaktrade_core.cli import main
    try:
        main(["status"])
    except SystemExit:
        pass
    import attr._make
    flags = attr._make._compile_and_eval.__code__.co_flags & cache._future_flags()
    checked = 0
    for module in list(sys.modules.values()):
        for value in list(vars(module).values()) if module is not None else ():
            if not isinstance(value, type) or not hasattr(value, "__attrs_attrs__") or value.__module__ != module.__name__:
                continue
            for member in vars(value).values():
                code = getattr(member, "__code__", None)
                if code is None or code.co_filename not in linecache.cache or not code.co_filename.startswith("<attrs generated"):
                    continue
                plain = compile("".join(linecache.cache[code.co_filename][2]), code.co_filename, "exec", flags, True)
                fresh = next(c for c in plain.co_consts if isinstance(c, types.CodeType) and c.co_name == code.co_name)
                same = code == fresh and list(code.co_positions()) == list(fresh.co_positions()) and code.co_consts == fresh.co_consts
                assert same, (value, code.co_name)
                checked += 1
    hits = sum(key in cache._entries for key in cache._used)
    print(json.dumps({"checked": checked, "hits": hits, "used": len(cache._used)}), file=sys.stderr)
    """
)


def _cache_probe(cache_file: Path, seed: str, **env: str) -> tuple[str, dict]:
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    run_env.update(PYTHONHASHSEED=seed, PEAK_TRADE_PLUGINS="", **env)
    done = subprocess.run([sys.executable, "-c", CACHE_PROBE, str(cache_file)], capture_output=True, text=True, env=run_env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


def test_status_from_another_process_s_attrs_cache_builds_the_same_classes(tmp_path):
    """The first `status` writes the cache; the next, with another hash seed (so other
    `__hash__` salts), builds its classes from it, and every generated method of every attrs
    class is the code compiling the class's own source gives. A damaged file is ignored."""
    cache_file = tmp_path / "attrs-methods.marshal"
    first, cold = _cache_probe(cache_file, "1")
    assert cache_file.exists() and cold["hits"] == 0 and cold["checked"] > 20
    second, warm = _cache_probe(cache_file, "2")
    assert second == first and warm["checked"] == cold["checked"]
    assert warm["hits"] >= warm["used"] // 2  # every class whose salt has the same sign and width
    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # cut short
    third, damaged = _cache_probe(cache_file, "3")
    assert third == first and damaged["hits"] == 0 and damaged["checked"] == cold["checked"]
    # entries nobody uses any more (older versions, other commands) are dropped, not loaded forever
    import marshal
    from importlib.util import MAGIC_NUMBER

    _magic, entries = marshal.loads(cache_file.read_bytes())
    stale = {(f"<attrs generated methods old.C{i}>", "exec", 0, f"x = {i}"): compile("x = 1", "<old>", "exec") for i in range(400)}
    cache_file.write_bytes(marshal.dumps((MAGIC_NUMBER, {**entries, **stale})))
    fourth, pruned = _cache_probe(cache_file, "4")
    kept = marshal.loads(cache_file.read_bytes())[1]
    assert fourth == first and pruned["hits"] > 0 and len(kept) == pruned["used"]
    assert not any(key in kept for key in stale)


def test_no_attrs_cache_is_written_without_bytecode_writing(tmp_path):
    cache_file = tmp_path / "attrs-methods.marshal"
    out, probe = _cache_probe(cache_file, "1", PYTHONDONTWRITEBYTECODE="1")
    assert "Kill switch" in out and probe["checked"] > 20 and not cache_file.exists()


# -- the identity file is read as json.loads reads it ----------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _json_texts():
    import json

    whitespace = st.text(alphabet=" \t\n\r\f\v\u00a0\ufeff", max_size=3)
    documents = st.builds(lambda v, indent: json.dumps(v, indent=indent), _JSON_VALUES, st.sampled_from([None, 2]))
    broken = st.builds(lambda d, cut: d[:cut], documents, st.integers(0, 40))
    tokens = st.lists(st.sampled_from(['{', '}', '[', ']', ',', ':', '"a"', '1', '-0', '1e400', 'NaN', '-Infinity', 'true', 'nul', '"\\u12"', '"x\ny"', "'a'"]), max_size=8).map("".join)
    return st.builds(lambda a, d, b: a + d + b, whitespace, documents | broken | tokens | st.text(max_size=12), whitespace)


@settings(max_examples=300)
@given(text=_json_texts())
def test_the_identity_file_is_read_as_json_loads_reads_it(text):
    """The quick path (json's C scanner, no json package) and json.loads agree on every
    text: the same value, or both refuse (with json's own message)."""
    import json
    import math

    from peaktrade_core.state import _json_loads

    def outcome(load):
        try:
            return "value", load(text)
        except (ValueError, RecursionError) as exc:
            return "refused", f"{type(exc).__name__}: {exc}"

    quick, plain = outcome(_json_loads), outcome(json.loads)
    if quick[0] == "value" and plain[0] == "value":
        assert json.dumps(quick[1]) == json.dumps(plain[1]) or (isinstance(quick[1], float) and math.isnan(quick[1]) and math.isnan(plain[1]))
    else:
        assert quick == plain


# -- the packaged defaults' parse, cached: never stale -----------------------------------------

_TOML_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=10)


@settings(max_examples=40)
@given(documents=st.lists(st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True),
                                          st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True),
                                                          _TOML_SCALARS.filter(lambda v: v is not None) | st.lists(st.integers(), max_size=3), max_size=4),
                                          max_size=3), min_size=1, max_size=4))
def test_the_cached_parse_of_the_defaults_is_always_the_file_s_own_parse(tmp_path_factory, documents):
    """Whatever the packaged file holds now, and however it changed since the cache was
    written (edited, replaced, the same length, a byte flipped), the parse read is the parse
    of the file's current bytes: the cache is keyed by those very bytes."""
    import tomllib

    import tomlkit

    import peaktrade_core.config as config

    folder = tmp_path_factory.mktemp("defaults")
    path, cache = folder / "default_config.toml", folder / "default_config.marshal"
    texts = [tomlkit.dumps(doc) for doc in documents]
    texts += [t.replace("1", "2", 1) for t in texts]  # same length, another value
    parsed, parse = [], config.parse_toml
    config.parse_toml = lambda where, text: parsed.append(text) or parse(where, text)
    writing, sys.dont_write_bytecode = sys.dont_write_bytecode, False  # as installed
    try:
        for text in texts:
            path.write_text(text, encoding="utf-8")
            expected = tomllib.loads(text)
            first, again = config.read_packaged_defaults(path, cache), config.read_packaged_defaults(path, cache)
            assert _same_data(first, expected) and _same_data(again, expected)
            assert parsed[-1] == text  # this very text was parsed, now or for the previous one
    finally:
        config.parse_toml, sys.dont_write_bytecode = parse, writing
    # parsed once per change of the file, the second read of each from the cache
    assert len(parsed) == 1 + sum(a != b for a, b in zip(texts, texts[1:], strict=False))


def _same_data(a, b) -> bool:
    import math

    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def test_status_reads_the_packaged_defaults_without_tomllib_once_cached(tmp_path):
    """`status` without a config file: the second start takes the defaults' parse from the
    cache (no tomllib) and shows the same limits."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PEAK_TRADE_PLUGINS="", PEAK_TRADE_DATA_DIR=str(tmp_path))
    probe = PROBE.replace("from peaktrade_core.cli import main", "from peaktrade_core.cli import main\nimport peaktrade_core.config as c\ncached = __import__('pathlib').Path(sys.argv.pop())\nc.defaults_cache_path = lambda: cached\nfrom peaktrade_core import attrs_code_cache\nattrs_code_cache.cache_path = lambda: str(cached) + '.attrs'")
    runs = [subprocess.run([sys.executable, "-c", probe, "status", str(tmp_path / "defaults.marshal")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120) for _ in range(2)]
    (first, cold), (second, warm) = [(r.stdout, set(json.loads(r.stderr.strip().splitlines()[-1]))) for r in runs]
    assert "live_risk.max_order_notional             1000.0" in first and second == first
    assert "tomllib" in cold and "tomllib" not in warm and (tmp_path / "defaults.marshal").exists()


# -- the config's field types, evaluated once per text, are typing's ---------------------------


def _config_classes() -> list[type]:
    import typing

    import attrs

    from peaktrade_core.config import PeakTradeConfig

    seen, todo = [], [PeakTradeConfig]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and attrs.has(t) and t not in seen:
            seen.append(t)
            todo.extend(typing.get_type_hints(t).values())
        todo.extend(typing.get_args(t))
    return seen


def test_the_config_field_types_are_the_ones_typing_gives():
    """Every attrs class of the config tree (sections, their parts): the field types the
    quick structuring uses are typing.get_type_hints' (a name the class shadows, a text with
    a nested forward reference, an inherited annotation: typing decides)."""
    import typing

    from peaktrade_core.config import _field_types

    classes = _config_classes()
    assert len(classes) >= 10
    for cls in classes:
        assert _field_types(cls) == typing.get_type_hints(cls), cls
        assert _field_types(cls) == typing.get_type_hints(cls), cls  # from the memo

    namespace: dict = {}
    exec(textwrap.dedent('''
        from __future__ import annotations
        import attrs
        Amount = float

        @attrs.define
        class Shadowing:
            limit: Amount | None = None
            size: int = 0
            int = 5  # shadows the builtin: typing resolves "int" to this attribute

        @attrs.define
        class Nested:
            items: list["Amount"] = attrs.Factory(list)
    '''), namespace)
    module = types.ModuleType("fake_config_module")
    module.__dict__.update(namespace)
    sys.modules[module.__name__] = module
    try:
        for cls in (namespace["Shadowing"], namespace["Nested"]):
            cls.__module__ = module.__name__
            assert _field_types(cls) == typing.get_type_hints(cls)
    finally:
        del sys.modules[module.__name__]
