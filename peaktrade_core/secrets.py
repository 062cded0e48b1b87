"""Secret references: config never holds a secret, only where to find it.

A secret is written in TOML as ``{ env = "KRAKEN_API_SECRET" }`` (an environment variable)
or ``{ keyring = "peaktrade/kraken" }`` (the OS keychain, through the optional ``keyring``
package). Resolution goes through a swappable adapter so tests and other stores can plug in.

Redaction lives here too, in one place. Every resolved secret is registered, and
:func:`redact` replaces it in any text the process writes (log lines, alert history,
delivery errors, CLI output). Servers and HTTP libraries quote *parts* of a URL back
("Cannot POST /hook/TOKEN", "Invalid port: 'TOKEN'"), so a URL secret registers its parts
as well: user info, a port that is not a port number, and every host label, path segment,
query value and fragment that looks secret-like (:func:`secret_like`), each also in its
percent-encoded, percent-decoded and JSON-escaped forms; the whole value and the user info
also in base64 (HTTP basic auth).
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from attrs import frozen

#: Config keys whose values are secrets and must be given by reference (compiled on first
#: use, by ``re``'s cache: a start that checks no key does not compile it)
SECRET_KEY_PATTERN = r"(^|_)(api_key|api_secret|secret|password|passphrase|private_key|webhook_urls?|token)$"
#: Keys that look like secrets but may be literal. The confirm token is a deliberate phrase
#: a person types, not a credential; it is still never printed (only SET / NOT SET / INVALID).
NOT_SECRET_KEYS = frozenset({"require_confirm_token", "confirm_token"})

REDACTED = "***"


class SecretError(Exception):
    """A secret reference cannot be resolved."""


@frozen
class SecretRef:
    """Where a secret lives. Exactly one of ``env`` / ``keyring`` is set."""

    env: str | None = None
    keyring: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.env is None) == (self.keyring is None):
            raise ValueError('a secret reference needs exactly one of "env" or "keyring"')

    def describe(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"keyring:{self.keyring}"

    def resolve(self) -> str:
        """The secret's value, registered for redaction before anyone can print it."""
        value = _resolver(self)
        register_secret(value)
        return value

    def __repr__(self) -> str:  # never the value, only where it lives
        return f"SecretRef({self.describe()})"


def _default_resolver(ref: SecretRef) -> str:
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise SecretError(f"environment variable {ref.env} is not set")
        return value
    try:
        import keyring  # optional; only users of the OS keychain install it
    except ImportError as exc:
        raise SecretError("keyring references need the 'keyring' package installed") from exc
    service, _, name = ref.keyring.partition("/")
    value = keyring.get_password(service, name or service)
    if not value:
        raise SecretError(f"no keychain entry {ref.keyring}")
    return value


_resolver: Callable[[SecretRef], str] = _default_resolver


def set_secret_resolver(resolver: Callable[[SecretRef], str] | None) -> None:
    """Swap how references are resolved (``None`` restores env/keyring)."""
    global _resolver
    _resolver = resolver or _default_resolver


def is_secret_key(key: str) -> bool:
    return key not in NOT_SECRET_KEYS and bool(re.search(SECRET_KEY_PATTERN, key))


def reference_hint(key: str) -> str:
    name = "PEAK_TRADE_" + re.sub(r"[^A-Z0-9]+", "_", key.upper()).strip("_")
    return f'{{ env = "{name}" }}'


# -- redaction ----------------------------------------------------------------------------

#: Parts of a URL shorter than this are never redacted on their own (they are words such as
#: "hook" or "v1"; redacting them would garble every log line).
MIN_PART_LENGTH = 8

_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None  # every form of every registered secret, longest first
_register_lock = threading.Lock()
_URL = r"^[A-Za-z][A-Za-z0-9+.-]*://"


def secret_like(part: str) -> bool:
    """Could this URL part be a credential? Long enough, and not a plain lower-case word:
    8+ characters with a digit or an upper-case letter, or 16+ characters of anything."""
    if len(part) < MIN_PART_LENGTH:
        return False
    return len(part) >= 16 or any(c.isdigit() or c.isupper() for c in part)


def _url_parts(url: str) -> list[str]:
    """The pieces of ``url`` a server or library may quote back on their own."""
    rest = re.sub(_URL, "", url, count=1)
    authority, _, tail = rest.partition("/")
    if "?" in authority or "#" in authority:  # "https://host?x" has no path
        cut = min(i for i in (authority.find("?"), authority.find("#")) if i >= 0)
        authority, tail = authority[:cut], authority[cut:]
    parts: list[str] = []
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, _, password = userinfo.partition(":")
        if password:
            parts += [userinfo, password]
        if secret_like(user):  # a token as user name; a plain name is no secret
            parts.append(user)
    if hostport.startswith("["):  # an IPv6 literal: [::1]:8080
        host, _, port = hostport.partition("]")
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    if port and not (port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        parts.append(port)  # not a port number: something else was put there
    parts += [label for label in host.split(".") if secret_like(label)]
    path, _, fragment = tail.partition("#")
    path, _, query = path.partition("?")
    segments = [seg for seg in path.split("/") if secret_like(seg)]
    # short pieces that only together look like a credential ("ab12cd/ef34gh")
    parts += segments or ([path] if secret_like(path) else [])
    for item in re.split(r"[&;]", query):
        value = item.partition("=")[2] if "=" in item else item
        if secret_like(value):
            parts.append(value)
    if secret_like(fragment):
        parts.append(fragment)
    return parts


def secret_pieces(value: str) -> list[str]:
    """``value`` and, for a URL, the parts of it that are redacted on their own."""
    from urllib.parse import unquote, unquote_plus

    pieces = [value, *(_url_parts(value) if re.match(_URL, value) else [])]
    decoded = [d for p in pieces for d in (unquote(p), unquote_plus(p)) if d != p]  # a server decodes
    return list(dict.fromkeys(p for p in pieces + decoded if p))


#: characters no encoder escapes (RFC 3986 "unreserved")
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _char_pattern(c: str) -> str:
    """``c`` as itself, percent-encoded (either hex case) or JSON-escaped: encoders differ
    in which characters they escape, so each character may come either way."""
    if c in _PLAIN:
        return c
    forms = [re.escape(c)]
    forms.append("".join("%" + "".join(f"[{h}{h.lower()}]" if h.isalpha() else h for h in f"{b:02X}") for b in c.encode()))
    import json  # only where a secret is registered: a start without secrets needs none

    escaped = json.dumps(c)[1:-1]
    if escaped != c:
        forms.append(re.escape(escaped))
    if c == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


def _piece_pattern(piece: str) -> str:
    return "".join(_char_pattern(c) for c in piece)


def register_secret(value: str) -> None:
    """Have :func:`redact` replace ``value`` and its pieces (:func:`secret_pieces`), each
    however percent-encoded or JSON-escaped, from now on."""
    global _pattern
    if not value or value in _registered:
        return
    with _register_lock:
        _registered.add(value)
        sources: dict[str, int] = {}
        for secret in _registered:
            pieces = secret_pieces(secret)
            for piece in pieces:
                # a short piece is only redacted as the whole secret it is
                if len(piece) >= MIN_PART_LENGTH // 2 or piece == secret:
                    sources[_piece_pattern(piece)] = len(piece)
            # HTTP basic auth sends base64("user:password"); a whole secret may be sent so too
            userinfo = re.sub(_URL, "", secret, count=1).split("/", 1)[0].rpartition("@")[0] if re.match(_URL, secret) else ""
            for piece in filter(None, (secret, userinfo)):
                encoded = base64.b64encode(piece.encode()).decode().rstrip("=")
                sources[re.escape(encoded)] = len(encoded)
        ordered = sorted(sources, key=lambda src: (-sources[src], src))  # longest first
        _pattern = re.compile("|".join(ordered))


def register_secrets_in(obj: Any) -> None:
    """Register every secret referenced anywhere in ``obj`` (a config, a section, a list, or
    the TOML as parsed, where a reference is still ``{ env = "NAME" }``: a plugin's section
    while the plugin is not installed, a config that does not validate) whose environment
    variable is set; keychain entries are registered when resolved."""
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, SecretRef):
            if node.env is not None and os.environ.get(node.env):
                register_secret(os.environ[node.env])
        elif isinstance(node, dict) and set(node) == {"env"} and isinstance(node["env"], str):
            if os.environ.get(node["env"]):  # a reference as the TOML has it
                register_secret(os.environ[node["env"]])
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif hasattr(type(node), "__attrs_attrs__"):
            for attribute in type(node).__attrs_attrs__:
                walk(getattr(node, attribute.name))

    walk(obj)


def has_secrets() -> bool:
    return _pattern is not None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every registered secret (and ``secrets``, registered now) replaced by
    ``***``: each of its pieces (:func:`secret_pieces`), however encoded."""
    for value in secrets:
        register_secret(value)
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def redact_data(data: Any) -> Any:
    """:func:`redact` applied to every string in nested dicts, lists and tuples."""
    if _pattern is None:
        return data
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact(k) if isinstance(k, str) else k: redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(redact_data(v) for v in data)
    return data


def redact_reason(reason: str, config: Any = None) -> str:
    """A reason a person typed (``--reason``) as it is recorded, logged, sent and shown:
    stripped, and every secret ``config`` references (its environment variable set) or
    this process resolved replaced by ``***``. Redacted once, where it enters: the store,
    the identity file, the log and the alerts then all hold the same text."""
    if config is not None:
        register_secrets_in(config)
    return redact(reason.strip())


def forget_secrets() -> None:
    """Unregister every secret (tests)."""
    global _pattern
    with _register_lock:
        _registered.clear()
        _pattern = None
