"""Request signing as Kraken documents it, and nonces that only ever grow."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from peaktrade_kraken.auth import CallCounter, NonceStore, key_id, sign

from peaktrade_core.testing import StateStore, open_store_url

# Kraken's REST documentation, "Authentication": the worked example
DOC_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
DOC_NONCE = 1616492376594
DOC_POSTDATA = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
DOC_PATH = "/0/private/AddOrder"
DOC_SIGNATURE = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="


def test_signature_matches_krakens_documented_example():
    assert sign(DOC_PATH, DOC_NONCE, DOC_POSTDATA, DOC_SECRET) == DOC_SIGNATURE


def test_signature_covers_path_nonce_and_body():
    assert sign("/0/private/Balance", DOC_NONCE, DOC_POSTDATA, DOC_SECRET) != DOC_SIGNATURE
    assert sign(DOC_PATH, DOC_NONCE + 1, DOC_POSTDATA, DOC_SECRET) != DOC_SIGNATURE
    assert sign(DOC_PATH, DOC_NONCE, DOC_POSTDATA.replace("1.25", "12.5"), DOC_SECRET) != DOC_SIGNATURE


def test_nonces_survive_a_restart_even_when_the_clock_goes_back(tmp_path):
    clock = [2_000_000_000_000_000_000]
    first = NonceStore(StateStore(tmp_path / "s.sqlite3"), "key", clock_ns=lambda: clock[0])
    issued = [first.next() for _ in range(3)]
    first.store.close()
    clock[0] -= 3_600 * 10**9  # the host clock was an hour fast, NTP fixed it; the process restarts
    second = NonceStore(StateStore(tmp_path / "s.sqlite3"), "key", clock_ns=lambda: clock[0])
    later = second.next()
    assert issued == sorted(set(issued)) and later > issued[-1]
    assert NonceStore(StateStore(tmp_path / "s.sqlite3"), "other key").last() == 0  # per key


def test_a_store_from_before_continues_after_the_old_nonce_table(tmp_path):
    store = StateStore(tmp_path / "s.sqlite3")
    old_last = 2_000_000_000_000_000  # the old table's last nonce, ahead of this clock
    with store.transaction() as conn:
        conn.execute("CREATE TABLE kraken_nonces (key_id TEXT PRIMARY KEY, last INTEGER NOT NULL)")
        conn.execute("INSERT INTO kraken_nonces (key_id, last) VALUES (?, ?)", (key_id("key"), old_last))
    nonces = NonceStore(store, "key", clock_ns=lambda: 1_000_000_000_000_000_000)
    assert nonces.next() == old_last + 1 and nonces.next() == old_last + 2
    assert NonceStore(store, "key", clock_ns=lambda: 0).next() == old_last + 3  # read once, never again backwards


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), st.integers(-10**9, 10**9)), min_size=1, max_size=40))
def test_nonces_strictly_increase_across_handles_sharing_one_store(tmp_path_factory, steps):
    """Three handles (processes) on one state file, each with its own wrong-ish clock:
    every nonce handed out is larger than every nonce handed out before it."""
    path = tmp_path_factory.mktemp("n") / "s.sqlite3"
    base = 1_700_000_000_000_000_000
    clocks = [base, base, base]
    handles = [NonceStore(StateStore(path), "k", clock_ns=lambda i=i: clocks[i]) for i in range(3)]
    issued = []
    for who, jump in steps:
        clocks[who] += jump
        issued.append(handles[who].next())
    assert all(b > a for a, b in zip(issued, issued[1:], strict=False))


def test_nonces_are_unique_and_increasing_across_processes(any_store_url):
    """Three processes (on one machine, or on several hosts sharing PostgreSQL) on one key."""
    script = (
        "import sys; from peaktrade_core.testing import open_store_url; from peaktrade_kraken.auth import NonceStore\n"
        "n = NonceStore(open_store_url(sys.argv[1]), 'shared key')\n"
        "print(' '.join(str(n.next()) for _ in range(200)))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, any_store_url], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    runs = [[int(x) for x in p.communicate(timeout=120)[0].split()] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(run == sorted(run) and len(set(run)) == 200 for run in runs)
    everything = [n for run in runs for n in run]
    assert len(set(everything)) == 600  # no nonce handed to two processes


def test_call_counter_waits_instead_of_exceeding_the_ceiling():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    counter = CallCounter(ceiling=4, decay_per_second=0.5, clock=lambda: now[0], sleep=sleep)  # 3 after headroom
    for _ in range(3):
        assert counter.acquire(1) == 0.0
    assert counter.acquire(1) == 2.0  # one unit decays in 2 s
    assert counter.acquire(2) == 4.0
    assert counter.acquire(0) == 0.0  # order placement is not on this counter
    assert counter.level_now() <= 3 and slept == [2.0, 4.0]


@settings(max_examples=100, deadline=None)
@given(calls=st.lists(st.tuples(st.sampled_from([0, 1, 2]), st.floats(0, 5)), max_size=60))
def test_call_counter_never_goes_over_the_ceiling(calls):
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    counter = CallCounter(ceiling=15, decay_per_second=0.33, clock=lambda: now[0], sleep=sleep)
    for cost, pause in calls:
        now[0] += pause
        counter.acquire(cost)
        assert counter.level_now() <= 15 - CallCounter.HEADROOM + 1e-9  # when the call goes out


def test_processes_on_one_store_share_the_counter(any_store_url):
    """Two handles (two processes: a session and `peaktrade kill`) on one key: the second
    one's calls wait for the first one's, as they do at Kraken — on either backend."""
    now = [1_000.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    session, kill = (CallCounter(4, 0.5, open_store_url(any_store_url), "key", clock=lambda: now[0], sleep=sleep) for _ in range(2))
    for _ in range(3):
        session.acquire(1)
    assert kill.acquire(1) == 2.0 and slept == [2.0]
    other_key = CallCounter(4, 0.5, open_store_url(any_store_url), "another key", clock=lambda: now[0], sleep=sleep)
    assert other_key.acquire(1) == 0.0  # per key
