"""A config file is structured without cattrs when every value is plainly valid; the
result must be exactly what cattrs makes, and anything doubtful must go to cattrs (which
names the problem). Property test over mutated copies of the packaged config."""

from __future__ import annotations

import typing
from collections.abc import Mapping

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core import config as cfg

RAW, _TEXT, _BYTES = cfg.read_config(cfg.PACKAGED_DEFAULT)


def _sections() -> list[tuple[str, type, dict]]:
    out = []
    for a in attrs.fields(cfg.PeakTradeConfig):
        if a.name in ("source", "sha256", "plugins") or not isinstance(RAW.get(a.name), Mapping):
            continue
        cls = cfg._resolve(a.name)
        if typing.get_origin(cls) is Mapping:
            inner = typing.get_args(cls)[1]
            out += [(f"{a.name}.{k}", inner, dict(v)) for k, v in RAW[a.name].items()]
        else:
            out.append((a.name, cls, dict(RAW[a.name])))
    return out


SECTIONS = _sections()
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "paper", "live", "testnet", "warning", "CRITICAL", "log", "UTC", "Mars/Base", "x"]),
    st.none(),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["env", "keyring", "BTC/EUR", "other"]), scalars, max_size=2),
)


def _shown(instance) -> str:
    """Every value with its type (5 vs 5.0, list vs tuple), fields hidden from repr too."""
    import attr

    return repr(attr.asdict(instance, retain_collection_types=True))


def _cattrs(data: dict, cls: type):
    try:
        return cfg._converter().structure(dict(data), cls)
    except Exception:  # noqa: BLE001
        return None


def test_the_packaged_and_shipped_configs_structure_the_same_both_ways():
    for _name, cls, data in SECTIONS:
        plain = cfg._plain_instance(dict(data), cls)
        assert plain is not cfg._DOUBT
        assert _shown(plain) == _shown(_cattrs(data, cls))


@settings(max_examples=400, deadline=None)
@given(section=st.sampled_from(SECTIONS), key=st.one_of(st.none(), st.text("abcdefghijklmnopqrstuvwxyz_", max_size=12)), pick=st.integers(0, 100), value=values)
def test_a_plainly_valid_section_structures_exactly_as_cattrs_and_anything_else_goes_to_cattrs(section, key, pick, value):
    _name, cls, data = section
    data = dict(data)
    names = [a.name for a in attrs.fields(cls)]
    data[key if key is not None else names[pick % len(names)]] = value
    expected = _cattrs(data, cls)
    plain = cfg._plain_instance(dict(data), cls)
    if expected is None:  # cattrs refuses it: the plain path must not accept it
        assert plain is cfg._DOUBT
    elif plain is not cfg._DOUBT:  # same values, same types (5 vs 5.0, list vs tuple)
        assert _shown(plain) == _shown(expected)


def test_a_valid_config_is_loaded_without_importing_cattrs(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import sys; from peaktrade_core.config import load_config; "
         "c = load_config('config/config.toml'); print('cattrs' in sys.modules, c.environment.mode.value)"],
        capture_output=True, text=True, check=True, cwd=cfg.PACKAGED_DEFAULT.parents[1],
    )
    assert out.stdout.split() == ["False", "paper"]
