"""The kill switch's alert carries the reason a person typed to a real webhook on 127.0.0.1:
a secret pasted into it arrives as ``***``, the rest of the reason as typed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "Zq8sKx2LmP4vN7rT"  # the exchange API secret the config references


class _Collect(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.server.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_kill_alert_sent_to_a_webhook_carries_the_reason_without_the_secret(tmp_path):
    """Must show: `kill --reason` with a secret in it posts one alert whose message and
    context say ``***`` where the secret was; the log file agrees; the secret is in neither."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collect)
    server.bodies = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = tmp_path / "config.toml"
        config.write_text(
            '[live_alerts]\nsinks = ["log", "webhook"]\nwebhook_urls = [{ env = "HOOK_URL" }]\n'
            '[plugins.kraken]\napi_secret = { env = "KRAKEN_API_SECRET" }\n'
        )
        log = tmp_path / "peaktrade.log"
        env = {**os.environ, "KRAKEN_API_SECRET": SECRET, "HOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/hook"}
        done = subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", str(config), "--log-file", str(log),
                               "kill", "--reason", f"venue showed {SECRET} in an error", "--operator", "alice"],
                              capture_output=True, text=True, timeout=120, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert len(server.bodies) == 1, server.bodies
    alert = json.loads(server.bodies[0])
    assert alert["message"] == "kill switch engaged by alice: venue showed *** in an error"
    assert alert["context"]["reason"] == "venue showed *** in an error"
    assert (alert["level"], alert["source"], alert["code"]) == ("CRITICAL", "killswitch", "engaged")
    text = log.read_text()
    assert "[ALERT CRITICAL] killswitch/engaged: kill switch engaged by alice: venue showed *** in an error" in text
    for output in (server.bodies[0], text, done.stdout, done.stderr):
        assert SECRET not in output
