"""The code attrs compiles for every class, cached beside the package's bytecode.

attrs writes the source of each class's ``__init__``, ``__eq__``, ``__repr__``, ``__hash__``
... and compiles it every time the class is defined, i.e. on every start of the command:
about a fifth of the instructions of ``peaktrade status`` went into parsing that source.
The cache maps the exact source text (with its file name, mode and compiler flags) to the
compiled code, so an entry cannot be stale: other source is another key. The only part of
the source that differs between processes is the salt attrs writes into ``__hash__`` (the
hash of the class's name, randomised per process): the source is cached with the salt
written as 0, and ``__hash__`` alone (on the lines it has in the whole source) is cached with
a placeholder of the salt's width, the salt put into its constants and the result put in
place of the first one's ``__hash__``: the very code ``compile`` gives
(tests/test_cli_startup.py holds both equal, for any class shape and salt).

The file lives in the package's ``__pycache__`` and carries the interpreter's bytecode magic
number: it is trusted exactly as the ``.pyc`` files beside it, written only where they may
be written (never with ``PYTHONDONTWRITEBYTECODE``), and a damaged or foreign file is
ignored. Only the ``peaktrade`` command installs it (:func:`install`, before anything
imports attrs); a library user's process compiles as attrs does.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sys
from types import CodeType
from typing import Any

#: at most this many entries are kept (a start of `status` uses about 70)
MAX_ENTRIES = 512

_entries: dict[tuple[str, str, int, str], CodeType] | None = None
_used: dict[tuple[str, str, int, str], CodeType] = {}
_dirty = False
_FUTURE: int | None = None


def cache_path() -> str:
    return os.path.join(os.path.dirname(__file__), "__pycache__", f"attrs-methods.{sys.implementation.cache_tag}.marshal")


def _magic() -> bytes:
    from importlib.util import MAGIC_NUMBER

    return MAGIC_NUMBER


def _load() -> dict[tuple[str, str, int, str], CodeType]:
    import marshal

    try:
        with open(cache_path(), "rb") as file:
            magic, entries = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if magic != _magic() or not isinstance(entries, dict):
        return {}
    return entries


def _bloated() -> bool:
    """Mostly entries this process did not need (another command's, an older version's):
    loading them costs every start more than recompiling costs the next miss."""
    return len(_entries or ()) > 4 * len(_used) + 64


def _save() -> None:
    if not (_dirty or _bloated()) or sys.dont_write_bytecode:
        return
    import marshal

    entries = {**(_entries or {}), **_used}
    if len(entries) > MAX_ENTRIES or _bloated():
        entries = dict(_used)
    path = cache_path()
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(marshal.dumps((_magic(), entries)))
        os.replace(temporary, path)  # readers see the old file or the new one, never half
    except OSError:  # a read-only install: as for .pyc files, nothing is cached
        with contextlib.suppress(OSError):
            os.remove(temporary)


def _split_hash(source: str) -> tuple[str, str | None]:
    """``(source with the __hash__ salt written as 0, the __hash__ definition alone)``.

    attrs writes the salt alone on the line after ``hash((`` (``        -1234...,``); the
    definition alone is padded with empty lines to stand on the lines it has in ``source``,
    so compiling it gives the very ``__hash__`` code compiling ``source`` gives."""
    at = source.find("hash((\n")
    start = source.rfind("\ndef __hash__(self", 0, at) + 1 if at >= 0 else -1
    if start <= 0 and not source.startswith("def __hash__(self"):
        return source, None
    if source.find("hash((\n", at + 1) >= 0:
        return source, None
    salt_at = at + len("hash((\n")
    salt_end = source.find(",\n", salt_at)
    if salt_end < 0:
        return source, None
    text = source[salt_at:salt_end].lstrip(" ")
    digits = text[1:] if text.startswith("-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return source, None
    end = source.find("\ndef ", salt_end)
    end = len(source) if end < 0 else end
    alone = "\n" * source.count("\n", 0, start) + source[start:end]
    return source[: salt_end - len(text)] + "0" + source[salt_end:], alone


def _split_salt(alone: str) -> tuple[str, int, int]:
    """``(__hash__ definition with its salt as a placeholder of the same width, salt,
    placeholder)``: same width, so every position in the compiled code stays the same."""
    salt_at = alone.find("hash((\n") + len("hash((\n")
    salt_end = alone.find(",\n", salt_at)
    text = alone[salt_at:salt_end].lstrip(" ")
    digits = text[1:] if text.startswith("-") else text
    placeholder = text[: len(text) - len(digits)] + "9" * len(digits)
    return alone[: salt_end - len(text)] + placeholder + alone[salt_end:], int(text), int(placeholder)


def _with_salt(code: CodeType, placeholder: int, salt: int) -> CodeType | None:
    """``code`` (of a __hash__ definition alone) with the placeholder constant of ``__hash__``
    replaced by ``salt``; ``None`` if that could differ from compiling the salted text (the
    placeholder not exactly once, or the salt already a constant there)."""
    consts = list(code.co_consts)
    hashes = [i for i, const in enumerate(consts) if isinstance(const, CodeType) and const.co_name == "__hash__"]
    if len(hashes) != 1:
        return None
    inner = list(consts[hashes[0]].co_consts)
    ints = [i for i, const in enumerate(inner) if type(const) is int]
    at = [i for i in ints if inner[i] == placeholder]
    if len(at) != 1 or any(inner[i] == salt for i in ints):
        return None
    inner[at[0]] = salt
    consts[hashes[0]] = consts[hashes[0]].replace(co_consts=tuple(inner))
    return code.replace(co_consts=tuple(consts))


def _with_hash(code: CodeType, alone: CodeType) -> CodeType | None:
    """``code`` with its ``__hash__`` code replaced by the one of ``alone``; ``None`` unless
    each holds exactly one."""
    consts = list(code.co_consts)
    ours = [i for i, const in enumerate(consts) if isinstance(const, CodeType) and const.co_name == "__hash__"]
    theirs = [const for const in alone.co_consts if isinstance(const, CodeType) and const.co_name == "__hash__"]
    if len(ours) != 1 or len(theirs) != 1:
        return None
    consts[ours[0]] = theirs[0]
    return code.replace(co_consts=tuple(consts))


def _compile(source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> CodeType:
    """``compile(source, filename, mode)`` as attrs calls it, through the cache."""
    if args or kwargs or not isinstance(source, str) or not isinstance(filename, str):
        return builtins.compile(source, filename, mode, *args, **kwargs)  # not a call attrs makes
    # what compile() would inherit: the `from __future__` flags of the calling code
    flags = sys._getframe(1).f_code.co_flags & _future_flags()
    keyed, hash_alone = _split_hash(source)
    code = _cached(keyed, filename, mode, flags)
    if hash_alone is None:
        return code
    # this process's salt: __hash__ alone, cached by the sign and width of the salt
    hash_keyed, salt, placeholder = _split_salt(hash_alone)
    salted = _with_salt(_cached(hash_keyed, filename, mode, flags), placeholder, salt)
    whole = _with_hash(code, salted) if salted is not None else None
    return whole if whole is not None else builtins.compile(source, filename, mode, flags, True)


def _cached(source: str, filename: str, mode: str, flags: int) -> CodeType:
    global _entries, _dirty
    if _entries is None:
        import atexit

        _entries = _load()
        atexit.register(_save)  # writes only after a miss, or to drop what is not used
    key = (filename, mode, flags, source)
    code = _used.get(key) or _entries.get(key)
    if type(code) is not CodeType:  # a miss (or a file this module did not write)
        code = builtins.compile(source, filename, mode, flags, True)
        _dirty = True
    _used[key] = code
    return code


def _future_flags() -> int:
    global _FUTURE
    if _FUTURE is None:
        import __future__

        _FUTURE = sum(getattr(__future__, name).compiler_flag for name in __future__.all_feature_names)
    return _FUTURE


def patch(make: Any) -> None:
    """Let attrs' ``_make`` module compile through the cache: its global ``compile`` is looked
    up when a class is built (set before the module runs, its own classes use it too)."""
    if vars(make).get("compile", _compile) is _compile:
        make.compile = _compile


class _AttrsFinder:
    """Sets ``attr._make``'s ``compile`` as the module is about to run (then steps aside), so
    that the classes attrs builds for itself come from the cache too."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "attr._make":
            return None
        sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: Any) -> None:
            patch(module)
            run(module)

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Compile attrs classes through the cache from now on (attrs imported or not)."""
    make = sys.modules.get("attr._make")
    if make is not None:
        patch(make)
    elif _AttrsFinder not in sys.meta_path:
        sys.meta_path.insert(0, _AttrsFinder)
