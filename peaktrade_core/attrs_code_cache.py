"""The code attrs compiles for every class, cached beside the package's bytecode.

attrs writes the source of each class's ``__init__``, ``__eq__``, ``__repr__``, ``__hash__``
... and compiles it every time the class is defined, i.e. on every start of the command:
about a fifth of the instructions of ``peaktrade status`` went into parsing that source.
The cache maps the exact source text (with its file name, mode and compiler flags) to the
compiled code, so an entry cannot be stale: other source is another key. The only part of
the source that differs between processes is the salt attrs writes into ``__hash__`` (the
hash of the class's name, randomised per process): the source is cached with a placeholder
of the same width and the salt is put back into the compiled constants, which gives the very
code ``compile`` gives (tests/test_cli_startup.py holds both equal, for random salts).

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

#: at most this many entries are kept (the classes of every installed plugin fit many times)
MAX_ENTRIES = 1024

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


def _save() -> None:
    if not _dirty or sys.dont_write_bytecode:
        return
    import marshal

    entries = {**(_entries or {}), **_used}
    if len(entries) > MAX_ENTRIES:
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


def _split_salt(source: str) -> tuple[str, int | None, int | None]:
    """``(source with the __hash__ salt as a same-width placeholder, salt, placeholder)``.

    attrs writes the salt alone on the line after ``hash((``: ``        -1234...,``."""
    at = source.find("hash((\n")
    if at < 0 or source.find("hash((\n", at + 1) >= 0:
        return source, None, None
    start = at + len("hash((\n")
    line_end = source.find(",\n", start)
    if line_end < 0:
        return source, None, None
    text = source[start:line_end].lstrip(" ")
    start = line_end - len(text)
    digits = text[1:] if text.startswith("-") else text
    if not digits or not digits.isascii() or not digits.isdigit() or source[start - 1] != " ":
        return source, None, None
    placeholder = text[: len(text) - len(digits)] + "9" * len(digits)
    return source[:start] + placeholder + source[line_end:], int(text), int(placeholder)


def _with_salt(code: CodeType, placeholder: int, salt: int) -> CodeType | None:
    """``code`` with the placeholder in ``__hash__`` replaced by ``salt``; ``None`` if that
    would not be exactly the code of the salted source (a constant that could collide)."""
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


def _compile(source: Any, filename: Any, mode: str, *args: Any, **kwargs: Any) -> CodeType:
    """``compile(source, filename, mode)`` as attrs calls it, through the cache."""
    global _entries, _dirty
    if args or kwargs or not isinstance(source, str) or not isinstance(filename, str):
        return builtins.compile(source, filename, mode, *args, **kwargs)  # not a call attrs makes
    # what compile() would inherit: the `from __future__` flags of the calling code
    flags = sys._getframe(1).f_code.co_flags & _future_flags()
    if _entries is None:
        _entries = _load()
    keyed, salt, placeholder = _split_salt(source)
    key = (filename, mode, flags, keyed)
    code = _used.get(key) or _entries.get(key)
    if code is None:
        code = builtins.compile(keyed, filename, mode, flags, True)
        if not _dirty:
            import atexit

            atexit.register(_save)
            _dirty = True
    _used[key] = code
    if salt is not None:
        salted = _with_salt(code, placeholder, salt)
        return salted if salted is not None else builtins.compile(source, filename, mode, flags, True)
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
    """Patches ``attr._make`` right after it is executed, before attrs builds its own classes."""

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
