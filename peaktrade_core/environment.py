"""The environment: which mode runs and which gates (testnet, live) a person has opened (ENV-1, ENV-2, ENV-4)."""

from __future__ import annotations

import enum
from typing import Any

from attrs import field, frozen
from attrs.validators import ge, optional

from peaktrade_core.secrets import SecretError, SecretRef


class TradingMode(enum.StrEnum):
    PAPER = "paper"
    SHADOW = "shadow"
    TESTNET = "testnet"
    LIVE = "live"


class EffectiveMode(enum.StrEnum):
    """What actually happens to an order, whatever the configured mode says."""

    PAPER = "paper"
    SHADOW = "shadow"
    #: sent to the venue's sandbox (a testnet endpoint: nothing real is placed)
    TESTNET = "testnet"
    #: sent to the venue with validate-only: checked by the venue, never placed
    TESTNET_VALIDATE_ONLY = "testnet_validate_only"
    TESTNET_DRY_RUN = "testnet_dry_run"
    LIVE_DRY_RUN = "live_dry_run"
    LIVE = "live"


class TokenState(enum.StrEnum):
    NOT_SET = "NOT SET"
    VALID = "SET (valid)"
    INVALID = "INVALID"


#: The phrase a person must put in ``confirm_token`` (literally or by reference) to pass the
#: confirm-token gate (seed 000). It is a deliberate act, not a credential.
LIVE_CONFIRM_TOKEN = "I_KNOW_WHAT_I_AM_DOING"

_positive = optional(ge(0.0))


@frozen
class EnvironmentConfig:
    """``[environment]``: mode, the live gates and the live limits. Every default is safe."""

    mode: TradingMode = TradingMode.PAPER
    #: gate 1: a governance decision, changed by a person editing the file
    enable_live_trading: bool = False
    #: gate 2: arming is a second, separate decision
    live_mode_armed: bool = False
    #: technical gate: while true, live orders are simulated and never sent
    live_dry_run_mode: bool = True
    require_confirm_token: bool = True
    confirm_token: str | SecretRef | None = field(default=None, repr=False)
    max_live_notional_per_order: float | None = field(default=None, validator=_positive)
    max_live_notional_total: float | None = field(default=None, validator=_positive)
    live_trade_min_size: float | None = field(default=None, validator=_positive)
    #: live orders only for these symbols; empty = none allowed live
    live_allowed_symbols: tuple[str, ...] = ()
    #: the venue of this environment and the venues allowed live (empty = none)
    exchange: str | None = None
    live_allowed_exchanges: tuple[str, ...] = ()
    require_manual_confirm_for_live: bool = False
    #: while the kill switch is engaged, let orders through that only shrink a position
    kill_switch_allow_reduce_only: bool = False
    #: testnet gate: a governance decision to send orders to the venue's testnet at all
    enable_testnet_trading: bool = False
    #: testnet orders only for these symbols; empty = none (testnet never uses the live lists)
    testnet_allowed_symbols: tuple[str, ...] = ()
    #: engaging the kill switch also cancels open orders on the venue (testnet/live)
    kill_switch_cancel_open_orders: bool = True
    #: a venue dead man's switch armed while a session sends, in seconds; 0 = not armed
    dead_man_switch_seconds: float = field(default=60.0, validator=ge(0.0))
    #: the preset this environment started from (see ENVIRONMENT_PROFILES)
    profile: str | None = None

    def token_state(self) -> TokenState:
        """SET / NOT SET / INVALID; compared in constant time, never logged."""
        token = self.confirm_token
        if isinstance(token, SecretRef):
            try:
                token = token.resolve()
            except SecretError:
                return TokenState.NOT_SET
        if not token:
            return TokenState.NOT_SET
        import hmac  # here, not at the top: it loads OpenSSL (~2 ms of every CLI start)

        if hmac.compare_digest(token.encode(), LIVE_CONFIRM_TOKEN.encode()):
            return TokenState.VALID
        return TokenState.INVALID

    def live_limits_missing(self) -> list[str]:
        return [
            name
            for name in ("max_live_notional_per_order", "max_live_notional_total")
            if getattr(self, name) is None
        ]


#: Environment presets (ENV-4). They set limits only, never a gate: opening a gate stays a
#: person's explicit decision. A config selects one with ``profile = "tiny_live"`` and may
#: override any key beside it.
ENVIRONMENT_PROFILES: dict[str, dict[str, Any]] = {
    "tiny_live": {
        "max_live_notional_per_order": 50.0,
        "max_live_notional_total": 200.0,
        "live_trade_min_size": 5.0,
        "require_manual_confirm_for_live": True,
    },
    "standard_live": {
        "max_live_notional_per_order": 1000.0,
        "max_live_notional_total": 5000.0,
        "live_trade_min_size": 10.0,
    },
}
