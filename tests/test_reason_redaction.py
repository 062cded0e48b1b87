"""A secret pasted into a ``--reason`` or an ``--operator`` (kill switch, state init, budget
reset) is recorded, logged, alerted and shown as ``***``: what a person typed is redacted
once, where it enters, with every secret the config references. Real CLI processes, a real ``--log-file``, a real data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_core.secrets import REDACTED, forget_secrets, redact_reason

SECRET = "Zq8sKx2LmP4vN7rT"  # an exchange API secret, referenced by the config, never written in it
AUDIT_KEY = "audit-Key-7f3a9c1e5b2d8064aa91c3e7"


def peaktrade(config: Path, *args: str, log: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KRAKEN_API_SECRET": SECRET, "PEAK_TRADE_AUDIT_KEY": AUDIT_KEY}
    return subprocess.run([sys.executable, "-m", "peaktrade_core", "--config", str(config), "--log-file", str(log), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_secret_typed_as_a_reason_appears_nowhere(tmp_path):
    """Must show: every command that takes a reason shows, records and logs it with the secret
    as ``***`` and the rest as typed; with a config that no longer validates, the kill switch
    still redacts what the file references; no byte of the data dir holds the secret."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[state]\nshared_risk_budget = true\naudit_key = { env = "PEAK_TRADE_AUDIT_KEY" }\n'
        '[plugins.kraken]\napi_secret = { env = "KRAKEN_API_SECRET" }\n'  # the plugin is not even installed
    )
    log = tmp_path / "peaktrade.log"
    init = peaktrade(config, "state", "init", "--reason", f"new host, key {SECRET} checked", "--operator", f"carol{SECRET}", log=log)
    engage = peaktrade(config, "kill", "--reason", f"pasted {SECRET} by mistake", "--operator", f"alice {SECRET}", log=log)
    reset = peaktrade(config, "risk", "budget", "reset-settled", "--symbol", "BTC/EUR", "--quantity", "0", "--price", "100",
                      "--reason", f"flat at the venue ({AUDIT_KEY})", "--operator", AUDIT_KEY, log=log)
    config.write_text(config.read_text() + '[environment]\nmode = "bogus"\n')  # kill must work with a broken config
    release = peaktrade(config, "kill", "--release", "--reason", f"{SECRET}", "--operator", f"{SECRET} bob", log=log)
    history = peaktrade(config, "kill", "--history", "--json", log=log)
    for done in (init, engage, reset, release, history):
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout + done.stderr and AUDIT_KEY not in done.stdout + done.stderr
    assert " by carol***: new host, key *** checked" in init.stdout.splitlines()[0]
    assert engage.stdout.splitlines()[0] == "kill switch ENGAGED by alice ***: pasted *** by mistake"
    assert "flat at the venue (***)" in reset.stdout and "by ***:" in reset.stdout
    assert "config not used" in release.stderr and release.stdout.splitlines()[0] == f"kill switch RELEASED by *** bob: {REDACTED}"
    assert [(e["operator"], e["reason"]) for e in json.loads(history.stdout)] == [("*** bob", REDACTED), ("alice ***", "pasted *** by mistake")]

    text = log.read_text()
    assert "kill switch engaged by" in text and "pasted *** by mistake" in text  # the log still says why
    assert "[ALERT CRITICAL] killswitch/released" in text and "state store initialised by" in text
    assert SECRET not in text and AUDIT_KEY not in text
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" for p in files)
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data and AUDIT_KEY.encode() not in data, path


_WORDS = st.text(alphabet=" abcdefghijklm.,:()-", max_size=30)


#: where the config references the secret: a plugin's section as the TOML has it (the plugin
#: is not installed), the state URL as the TOML has it (a config that does not validate), and
#: the loaded config (a SecretRef)
_REFERENCES = ("plugin section", "parsed state url", "loaded state url")


@settings(max_examples=60)
@given(before=_WORDS, after=_WORDS, twice=st.booleans(), where=st.sampled_from(_REFERENCES))
def test_a_reason_keeps_every_word_but_the_secret(before, after, twice, where):
    """The reason with the secret anywhere (and however often) is the typed text, stripped,
    with each occurrence replaced by ``***``; a reason without a secret is kept as typed."""
    from peaktrade_core.config import structure_config

    ref = {"env": "KRAKEN_API_SECRET"}
    config = {
        "plugin section": {"plugins": {"kraken": {"api_secret": ref}}},
        "parsed state url": {"state": {"url": ref}},
        "loaded state url": structure_config({"state": {"url": ref}}),
    }[where]
    os.environ["KRAKEN_API_SECRET"] = SECRET
    forget_secrets()
    try:
        typed = before + SECRET + after + (SECRET if twice else "")
        assert redact_reason(typed, config) == (before + REDACTED + after + (REDACTED if twice else "")).strip()
        assert redact_reason(before + after, config) == (before + after).strip()
    finally:
        forget_secrets()
        del os.environ["KRAKEN_API_SECRET"]
