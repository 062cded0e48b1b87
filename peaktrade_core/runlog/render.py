"""Plain-text views of the run log for the operator."""

from __future__ import annotations

from peaktrade_core.runlog.models import LiveRunSnapshot


def duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def render_summary(snapshot: LiveRunSnapshot) -> str:
    """The operator's view of one run, plain text."""
    s = snapshot
    status = s.status
    if s.process_alive is False:
        status += f" (process {s.pid} is gone: marked aborted at the next start)"
    lines = [
        f"run            {s.run_id}",
        f"status         {status}",
        f"mode           {s.mode} (effective: {s.effective_mode})",
        f"strategy       {s.strategy or '-'}   operator {s.operator}",
        f"started        {s.started_at}",
        f"ended          {s.ended_at or '-'}   elapsed {duration(s.elapsed_s)}",
        f"heartbeat      {s.last_heartbeat} ({duration(s.heartbeat_age_s)} ago)",
        f"records        {s.records} (durability: {s.durability}), head {s.head_hash[:16]}",
        "",
        f"{'':14} {'count':>10} {'per s':>10}",
    ]
    for label, count, rate in (
        ("orders", s.orders, s.orders_per_s),
        ("fills", s.fills, s.fills_per_s),
        ("risk blocks", s.risk_blocked, s.risk_blocks_per_s),
        ("gate blocks", s.gate_blocked, s.gate_blocks_per_s),
        ("errors", s.errors, s.errors_per_s),
    ):
        lines.append(f"{label:14} {count:>10} {rate:>10.1f}")
    lines.append(f"filled {s.filled}, accepted {s.accepted}, rejected {s.rejected}")
    if s.blocks_by_reason:
        lines.append("blocks by reason:")
        lines.extend(f"  {count:>8}  {reason}" for reason, count in s.blocks_by_reason.items())
    if s.summary:
        lines.append("summary: " + ", ".join(f"{k}={v}" for k, v in s.summary.items()))
    return "\n".join(lines)
