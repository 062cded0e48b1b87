"""The ``webhook`` and ``slack`` alert sinks.

URLs come from ``[live_alerts] webhook_urls`` / ``slack_webhook_urls`` as secret references,
resolved at delivery time and registered for redaction (with their parts: a token in the
path, query, user info or even the port): no log line, history entry or error message
ever shows one. ``slack_webhook`` (the seed's name) is accepted for ``slack``.

A URL that cannot be used (malformed, unreachable, refused) fails only its own delivery;
the sink's other URLs are still tried.

A sink with several URLs succeeds only when every URL accepted the alert; on a retry, URLs
that already accepted it are skipped (within this process).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from peaktrade_core.plugin_api import (
    AlertDelivery,
    AlertEvent,
    AlertLevel,
    LiveAlertsConfig,
    SecretError,
    SecretRef,
    redact,
    register_secrets_in,
)

if TYPE_CHECKING:
    import httpx  # imported on first delivery: loading the plugin must stay cheap

SLACK_SINKS = frozenset({"slack", "slack_webhook"})
_LEVEL_EMOJI = {AlertLevel.INFO: ":information_source:", AlertLevel.WARNING: ":warning:", AlertLevel.CRITICAL: ":rotating_light:"}

_alerts = LiveAlertsConfig()
_client: httpx.Client | None = None
_lock = threading.Lock()
#: (alert id, sink, url index) already accepted: a retry skips them
_accepted: OrderedDict[tuple[str, str, int], None] = OrderedDict()
_ACCEPTED_MAX = 10_000


def configure(config: Any) -> None:
    global _alerts, _client
    register_secrets_in(config.live_alerts)
    with _lock:
        _alerts = config.live_alerts
        if _client is not None:
            _client.close()
            _client = None


def _http() -> httpx.Client:
    import httpx

    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(timeout=_alerts.webhook_timeout_seconds, follow_redirects=False)
        return _client


def emit_alert(event: AlertEvent, sinks: frozenset[str]) -> list[AlertDelivery]:
    deliveries = []
    if "webhook" in sinks:
        deliveries.append(_deliver("webhook", _alerts.webhook_urls, webhook_payload(event), _accepts_webhook, event))
    for name in sorted(SLACK_SINKS & sinks):
        deliveries.append(_deliver(name, _alerts.slack_webhook_urls, slack_payload(event), _accepts_slack, event))
    return deliveries


# -- payloads -----------------------------------------------------------------------------


def webhook_payload(event: AlertEvent) -> dict[str, Any]:
    """The alert as JSON, plus ``text``: the one-line summary."""
    return {**event.to_dict(), "text": event.summary_line()}


def _mrkdwn(text: str) -> str:
    # Slack's only required escapes; anything else is shown as typed
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: AlertEvent) -> dict[str, Any]:
    """Blocks (header with the level in words, message, fields, context) and ``text``, the
    fallback Slack shows in notifications and to clients without blocks."""
    data = event.to_dict()
    fields = [
        {"type": "mrkdwn", "text": f"*Level*\n{event.level.name}"},
        {"type": "mrkdwn", "text": f"*Source*\n{_mrkdwn(event.source)}"},
    ]
    if event.repeat > 1:
        fields.append({"type": "mrkdwn", "text": f"*Repeated*\n{event.repeat} times"})
    for key, value in list(data["context"].items())[: 10 - len(fields)]:  # Slack allows 10 fields
        fields.append({"type": "mrkdwn", "text": f"*{_mrkdwn(str(key))}*\n{_mrkdwn(str(value))[:1900]}"})
    return {
        "text": event.summary_line(),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": f"{_LEVEL_EMOJI[event.level]} {event.level.name}: {event.code}"[:150], "emoji": True},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(event.message)[:2900] or " "}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{data['time']} · alert `{event.id}`"}]},
        ],
    }


# -- delivery -----------------------------------------------------------------------------


def _accepts_webhook(response: httpx.Response) -> bool:
    return response.is_success


def _accepts_slack(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.text.strip() == "ok"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _deliver(
    sink: str,
    refs: Iterable[SecretRef],
    payload: dict[str, Any],
    accepts: Callable[[httpx.Response], bool],
    event: AlertEvent,
) -> AlertDelivery:
    import httpx

    refs = list(refs)
    if not refs:
        key = "webhook_urls" if sink == "webhook" else "slack_webhook_urls"
        return AlertDelivery(sink, False, f"no URL configured: set [live_alerts] {key}")
    problems: list[str] = []
    retry_after: float | None = None
    for index, ref in enumerate(refs):
        done_key = (event.id, sink, index)
        if done_key in _accepted:
            continue
        where = f"url {index + 1} ({ref.describe()})"
        try:
            url = ref.resolve()
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
            continue
        try:
            response = _http().post(url, json=payload)
        except httpx.TimeoutException:
            problems.append(f"{where}: no answer within {_alerts.webhook_timeout_seconds:g}s")
            continue
        except Exception as exc:  # noqa: BLE001 - httpx.InvalidURL is no HTTPError; any URL fails alone
            problems.append(f"{where}: {redact(f'{type(exc).__name__}: {exc}')}")
            continue
        if accepts(response):
            with _lock:
                _accepted[done_key] = None
                while len(_accepted) > _ACCEPTED_MAX:
                    _accepted.popitem(last=False)
            continue
        body = redact(response.text.strip())[:200]  # redacted before cut: no partial token
        problems.append(f"{where}: HTTP {response.status_code} {body!r}")
        wait = _retry_after(response) if response.status_code in (429, 503) else None
        if wait is not None:
            retry_after = max(retry_after or 0.0, wait)
    if problems:
        return AlertDelivery(sink, False, "; ".join(problems), retry_after)
    return AlertDelivery(sink, True)
