"""The audit anchor: chain heads and the run sequence signed with a key the database does
not hold (``[state] audit_key``).

The blake2b chain proves that nobody edited the log *without recomputing the chain*;
whoever can write the database can recompute it. With an audit key, every commit also
stores ``HMAC-SHA256(key, run id, head seq, head hash)`` next to the chain head, and every
run start and end appends an entry to the signed run sequence (each entry signs the one
before it), so that a run edited and re-chained, rolled back after its end, or deleted as a
whole fails ``runs verify``. Without the key nobody can produce those signatures.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from attrs import field, frozen

#: a shorter key is a configuration mistake, refused (it could be guessed)
MIN_KEY_CHARS = 32
_HEAD = b"peaktrade-runlog-head\x1f"
_ENTRY = b"peaktrade-runlog-sequence\x1f"
_KEY_ID = b"peaktrade-audit-key-id"
#: the "previous signature" of the first entry of the sequence
SEQUENCE_GENESIS = bytes(32)


class AuditKeyError(ValueError):
    """The configured audit key cannot be used (one line naming the key and the problem)."""


@frozen
class AuditKey:
    """One HMAC key and its public id (which key signed what, without revealing it)."""

    secret: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_text(cls, text: str) -> AuditKey:
        secret = text.encode()
        return cls(secret, hmac.new(secret, _KEY_ID, hashlib.sha256).hexdigest()[:16])

    def sign_head(self, run_id: str, head_seq: int, head_hash: bytes) -> bytes:
        msg = b"%s%s\x1f%d\x1f%s" % (_HEAD, run_id.encode(), head_seq, head_hash)
        return hmac.new(self.secret, msg, hashlib.sha256).digest()

    def sign_entry(self, seq: int, run_id: str, event: str, head_seq: int, head_hash: bytes, previous: bytes) -> bytes:
        msg = b"%s%d\x1f%s\x1f%s\x1f%d\x1f%s%s" % (_ENTRY, seq, run_id.encode(), event.encode(), head_seq, head_hash, previous)
        return hmac.new(self.secret, msg, hashlib.sha256).digest()


@frozen
class AuditKeys:
    """The key that signs now, and retired keys that still verify what they signed."""

    current: AuditKey
    retired: tuple[AuditKey, ...] = ()

    def by_id(self, key_id: str | None) -> AuditKey | None:
        for key in (self.current, *self.retired):
            if key.key_id == key_id:
                return key
        return None

    @classmethod
    def from_texts(cls, current: str, *retired: str) -> AuditKeys:
        return cls(AuditKey.from_text(current), tuple(AuditKey.from_text(t) for t in retired))


def audit_keys_from(config: Any) -> AuditKeys | None:
    """The configured keys (``None``: no ``[state] audit_key``). An unset variable or a short
    key raises :class:`AuditKeyError` with one line: fail closed, never unsigned by accident."""
    state = config.state
    ref = getattr(state, "audit_key", None)
    if ref is None:
        return None
    where = f"{config.source or 'config'}: [state]"
    current = _resolve(ref, f"{where} audit_key")
    retired = [_resolve(r, f"{where} retired_audit_keys[{i}]") for i, r in enumerate(getattr(state, "retired_audit_keys", ()))]
    return AuditKeys.from_texts(current, *retired)


def _resolve(ref: Any, where: str) -> str:
    from peaktrade_core.secrets import SecretError

    try:
        text = ref.resolve()
    except SecretError as exc:
        raise AuditKeyError(f"{where} ({ref.describe()}): {exc}") from None
    if len(text) < MIN_KEY_CHARS:
        raise AuditKeyError(
            f"{where} ({ref.describe()}): too short ({len(text)} characters, at least {MIN_KEY_CHARS}); "
            "make one with: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return text
