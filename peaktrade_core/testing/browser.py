"""Open a local HTML file in a real headless Chromium: its DOM, and every request it made.

Requests Chromium makes for itself (time sync, accounts) carry no page initiator in its
network log and are left out; anything the page asked for (an image, a stylesheet, a
script, even a blocked one) is listed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The Chromium executable on ``PATH`` (Debian: ``apt-get install -y chromium``)."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def open_in_browser(page: Path, profile: Path, *extra: str, timeout: float = 180.0) -> tuple[str, list[str]]:
    """Load ``page`` from disk; ``(standard output, page requests)``. Pass ``--dump-dom``
    for the DOM after loading, ``--screenshot=FILE`` for a PNG. ``profile`` is a fresh
    directory for the browser's profile (its network log is written beside it)."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium on PATH (Debian: apt-get install -y chromium)")
    netlog = profile.parent / (profile.name + "-netlog.json")
    argv = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        f"--log-net-log={netlog}", "--window-size=1200,2400", *extra, Path(page).resolve().as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    jobs = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    return proc.stdout, [p["url"] for p in jobs if "url" in p and p.get("initiator") != "not an origin"]
