"""The run report: one self-contained HTML file per run, for a person to look at.

Everything comes from the run log (and the alert history for the run's alerts): the
summary, equity and exposure after each order (from the fills, marked at each symbol's
last traded or order price), fills, blocks by reason, alerts, the gate and risk evidence of
every batch, and the result of verifying the hash chain. The page has no script and no
external resource (inline CSS and SVG; a Content-Security-Policy forbids any request), so
it opens the same offline, in a mail attachment or an archive years later.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

#: at most this many points per curve (a long run is thinned evenly; the last point stays)
MAX_POINTS = 1000
#: at most this many fills / alerts listed (the counts are always complete)
MAX_ROWS = 500


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else "-"


def _thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    if len(points) <= limit:
        return points
    step = len(points) / (limit - 1)
    picked = [points[int(i * step)] for i in range(limit - 1)]
    return [*picked, points[-1]]


def collect(store: Any, run_id: str) -> dict[str, Any]:
    """Everything the report shows, as plain data (also what ``--json`` would print)."""
    from peaktrade_core.runlog import iter_run_events, load_run_snapshot, verify_run

    snapshot = load_run_snapshot(store, run_id)
    verified = verify_run(store, run_id)
    positions: dict[str, float] = {}
    marks: dict[str, float] = {}
    cash = 0.0
    fees = 0.0
    equity: list[tuple[int, float]] = []
    exposure: list[tuple[int, float]] = []
    fills: list[dict[str, Any]] = []
    fill_count = 0
    batches: list[dict[str, Any]] = []
    closed_gates: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    events: list[dict[str, Any]] = []
    first_ts = last_ts = None
    n = batch_count = 0
    for event in iter_run_events(store, run_id):
        first_ts = event.timestamp if first_ts is None else first_ts
        last_ts = event.timestamp
        if event.kind == "order":
            n += 1
            symbol = event.symbol or "?"
            sign = 1.0 if event.side == "buy" else -1.0
            if event.price:
                marks.setdefault(symbol, float(event.price))
            for fill in event.fills:
                qty, price, fee = float(fill["quantity"]), float(fill["price"]), float(fill.get("fee") or 0.0)
                positions[symbol] = positions.get(symbol, 0.0) + sign * qty
                cash -= sign * qty * price + fee
                fees += fee
                marks[symbol] = price
                fill_count += 1
                if len(fills) < MAX_ROWS:
                    fills.append({"order": n, "time": _iso(event.timestamp), "symbol": symbol, "side": event.side,
                                  "quantity": qty, "price": price, "fee": fee, "status": event.status})
            value = sum(q * marks.get(s, 0.0) for s, q in positions.items())
            equity.append((n, cash + value))
            exposure.append((n, sum(abs(q * marks.get(s, 0.0)) for s, q in positions.items())))
        elif event.kind == "batch":
            batch_count += 1
            gate = event.extra.get("gate_report") or {}
            risk = event.extra.get("risk") or {}
            for closed in gate.get("closed") or []:
                closed_gates[f"{closed.get('gate')}: {closed.get('reason')}"] += 1
            for v in risk.get("violations") or []:
                violations[str(v.get("code"))] += 1
            if len(batches) < MAX_ROWS:
                batches.append({"batch": event.batch, "time": _iso(event.timestamp), "executor": event.executor,
                                "effective_mode": gate.get("effective_mode"), "gates": gate.get("gates") or {},
                                "closed": len(gate.get("closed") or []), "violations": len(risk.get("violations") or [])})
        else:
            events.append({"kind": event.kind, "time": _iso(event.timestamp), "data": event.extra})
    return {
        "run": snapshot.to_dict(),
        "verify": {"ok": verified.ok, "records": verified.records, "problems": verified.problems},
        "equity": _thin(equity),
        "exposure": _thin(exposure),
        "orders": n,
        "fills": fills,
        "fill_count": fill_count,
        "fees": fees,
        "final_equity": equity[-1][1] if equity else 0.0,
        "positions": {s: q for s, q in positions.items() if abs(q) > 1e-12},
        "batches": batches,
        "batch_count": batch_count,
        "closed_gates": dict(closed_gates.most_common()),
        "violations": dict(violations.most_common()),
        "events": events,
        "alerts": _alerts(store, run_id, first_ts),
        "first_record": _iso(first_ts),
        "last_record": _iso(last_ts),
    }


def _alerts(store: Any, run_id: str, since: float | None) -> list[dict[str, Any]]:
    """The alert history's alerts about this run (they name it in their context)."""
    from peaktrade_core.alerts import AlertHistory

    try:
        rows = AlertHistory(store).query(since=(since - 1) if since else None)
    except Exception:  # noqa: BLE001 - no alert history: the report still renders
        return []
    mine = [r for r in rows if (r.get("context") or {}).get("run_id") == run_id]
    return list(reversed(mine))[:MAX_ROWS]


# -- rendering ----------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1b1f24;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#116329;font-weight:600}.bad{color:#a40e26;font-weight:600}.muted{color:#57606a}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:.6em}
.tile{border:1px solid #d0d7de;border-radius:6px;padding:.5em .8em}.tile b{display:block;font-size:1.4em}
svg{background:#fbfcfd;border:1px solid #d0d7de;border-radius:6px}code{font-size:.95em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:,.2f}"


def _chart(chart_id: str, title: str, points: list[tuple[int, float]], color: str) -> str:
    width, height, pad = 1000, 240, 48
    if not points:
        return f'<p class="muted" id="{chart_id}" data-points="0">{_e(title)}: no orders recorded.</p>'
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys + [0.0]), max(ys + [0.0])
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad + (y - y0) / (y1 - y0) * (2 * pad - height)

    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    zero = sy(0.0)
    return (
        f'<figure><figcaption>{_e(title)}</figcaption>'
        f'<svg id="{chart_id}" data-points="{len(points)}" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{_e(title)}">'
        f'<line x1="{pad}" y1="{zero:.1f}" x2="{width - pad}" y2="{zero:.1f}" stroke="#afb8c1" stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'
        f'<text x="4" y="{pad - 8}" font-size="12">{_e(_num(y1))}</text>'
        f'<text x="4" y="{height - pad + 16}" font-size="12">{_e(_num(y0))}</text>'
        f'<text x="{pad}" y="{height - 8}" font-size="12">order {x0}</text>'
        f'<text x="{width - pad}" y="{height - 8}" font-size="12" text-anchor="end">order {x1}</text>'
        f"</svg></figure>"
    )


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None, table_id: str = "") -> str:
    numeric = numeric or set()
    attr = f' id="{table_id}"' if table_id else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: dict[str, Any]) -> str:
    run = data["run"]
    verify = data["verify"]
    tiles = [
        ("orders", run["orders"]), ("fills", run["fills"]), ("filled", run["filled"]), ("risk blocked", run["risk_blocked"]),
        ("gate blocked", run["gate_blocked"]), ("errors", run["errors"]), ("final equity", _num(data["final_equity"])),
        ("fees", _num(data["fees"])),
    ]
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        # no script, no request: the page is complete in itself
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>peaktrade run {_e(run['run_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Run <code id=run-id>{_e(run['run_id'])}</code></h1>",
        f'<p class="muted">{_e(run["strategy"] or "-")} · mode {_e(run["mode"])} (effective <b id=effective-mode>{_e(run["effective_mode"])}</b>)'
        f' · operator {_e(run["operator"])} · status <b id=run-status>{_e(run["status"])}</b></p>',
        f"<p>started {_e(run['started_at'])} · ended {_e(run['ended_at'] or '-')} · "
        f"{_e(run['records'])} records, durability {_e(run['durability'])}</p>",
    ]
    if verify["ok"]:
        parts.append(f'<p id=verify class="ok">Hash chain verified: {verify["records"]} records intact. '
                     f'Head <code>{_e(run["head_hash"])}</code> — note it elsewhere to anchor the chain.</p>')
    else:
        problems = "".join(f"<li>{_e(p)}</li>" for p in verify["problems"])
        parts.append(f'<div id=verify class="bad"><p>Hash chain FAILED verification: the log was changed after it was written.'
                     f'</p><ul>{problems}</ul></div>')
    parts.append("<h2>Summary</h2><div class=grid>")
    parts += [f'<div class=tile data-tile="{_e(k)}">{_e(k)}<b>{_e(v)}</b></div>' for k, v in tiles]
    parts.append("</div>")
    if data["positions"]:
        parts.append(_table(["symbol", "position at end"], [[s, f"{q:g}"] for s, q in sorted(data["positions"].items())], {1}))

    parts.append("<h2>Equity and exposure</h2>")
    parts.append('<p class="muted">After each order: cash flow of the fills (fees included) plus positions marked at each '
                 "symbol's last fill or order price; exposure is the sum of the absolute position values.</p>")
    parts.append(_chart("equity-chart", "Equity (PnL since the start of the run)", data["equity"], "#0969da"))
    parts.append(_chart("exposure-chart", "Exposure (gross position value)", data["exposure"], "#bc4c00"))

    parts.append(f"<h2>Fills</h2><p>{data['fill_count']} fill(s)"
                 + (f", the first {len(data['fills'])} listed" if data["fill_count"] > len(data["fills"]) else "") + "</p>")
    if data["fills"]:
        parts.append(_table(["order", "time", "symbol", "side", "quantity", "price", "fee", "status"],
                            [[f["order"], f["time"], f["symbol"], f["side"], f"{f['quantity']:g}", _num(f["price"]), f"{f['fee']:g}", f["status"]]
                             for f in data["fills"]], {0, 4, 5, 6}, "fills"))

    parts.append("<h2>Blocks by reason</h2>")
    if run["blocks_by_reason"]:
        parts.append(_table(["reason", "orders"], [[r, c] for r, c in run["blocks_by_reason"].items()], {1}, "blocks"))
    else:
        parts.append("<p>No order was blocked.</p>")
    parts.append(_table(["status", "orders"], [[s, c] for s, c in run["status_counts"].items()], {1}, "statuses"))

    parts.append("<h2>Alerts</h2>")
    if data["alerts"]:
        parts.append(_table(["time", "level", "source/code", "message"],
                            [[a["time"], a["level"], f"{a['source']}/{a['code']}", a["message"]] for a in data["alerts"]], table_id="alerts"))
    else:
        parts.append("<p>No alert names this run.</p>")

    parts.append("<h2>Gate and risk evidence</h2>")
    listed = f", the first {len(data['batches'])} listed" if data["batch_count"] > len(data["batches"]) else ""
    parts.append(f"<p>{data['batch_count']} batch(es) recorded{listed}, each with the gates and risk result in force.</p>")
    if data["closed_gates"]:
        parts.append(_table(["closed gate: reason", "batches"], [[g, c] for g, c in data["closed_gates"].items()], {1}, "closed-gates"))
    if data["violations"]:
        parts.append(_table(["risk violation", "count"], [[v, c] for v, c in data["violations"].items()], {1}, "violations"))
    if data["batches"]:
        parts.append(_table(["batch", "time", "executor", "effective mode", "gates", "closed", "violations"],
                            [[b["batch"], b["time"], b["executor"], b["effective_mode"],
                              ", ".join(f"{k}={v}" for k, v in b["gates"].items()), b["closed"], b["violations"]] for b in data["batches"]],
                            {0, 5, 6}, "batches"))
    for ev in data["events"]:
        if ev["kind"] in ("session", "venue", "account", "end", "run"):
            text = json.dumps(ev["data"], sort_keys=True, default=str)
            parts.append(f"<details><summary>{_e(ev['kind'])} record ({_e(ev['time'])})</summary><pre>{_e(text)}</pre></details>")
    parts.append(f'<p class="muted">Generated {_e(_iso(datetime.now(UTC).timestamp()))} by peaktrade from the run log.</p></body></html>')
    return "".join(parts)
