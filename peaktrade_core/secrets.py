"""Secret references: config never holds a secret, only where to find it.

A secret is written in TOML as ``{ env = "KRAKEN_API_SECRET" }`` (an environment variable)
or ``{ keyring = "peaktrade/kraken" }`` (the OS keychain, through the optional ``keyring``
package). Resolution goes through a swappable adapter so tests and other stores can plug in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from attrs import frozen

#: Config keys whose values are secrets and must be given by reference.
SECRET_KEY_PATTERN = re.compile(
    r"(^|_)(api_key|api_secret|secret|password|passphrase|private_key|webhook_urls?|token)$"
)
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
        return _resolver(self)

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
    return key not in NOT_SECRET_KEYS and bool(SECRET_KEY_PATTERN.search(key))


def reference_hint(key: str) -> str:
    name = "PEAK_TRADE_" + re.sub(r"[^A-Z0-9]+", "_", key.upper()).strip("_")
    return f'{{ env = "{name}" }}'


def redact(text: str, secrets: list[str]) -> str:
    """Replace every known secret value in ``text``."""
    for value in secrets:
        if value:
            text = text.replace(value, REDACTED)
    return text
