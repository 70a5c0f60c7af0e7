"""Two applies of one manifest at once, from two separate checkouts (two machines) against one service.

Twenty rounds, each with a new version of the manifest in both checkouts (a title changed, an import
added), and the two applies started at random offsets: each round exactly one applies; the other is
refused naming the holder and the id for force-unlock, or (with --lock-timeout) waits and then finds
nothing to do. At rest: one completed import per key, and no claim left on the service.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from reconciler.model import STAMP_KEY, STAMP_LOCK, STAMP_OWNER
from tests.apply.helpers import rows
from tests.conftest import API_KEY

ROUNDS = 20
# Each apply starts after its own random offset: the offset is what the round varies, not a wait for
# anything to happen.
LAUNCH = (
    "import sys, time; time.sleep(float(sys.argv[1])); sys.argv = ['websets-reconciler', *sys.argv[2:]]; "
    "from reconciler.cli import main; main()"
)
APPLIED = re.compile(r"^Apply complete: (\d+) created, (\d+) updated, 0 replaced, 0 deleted\.$", re.M)
NOTHING = "Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted."


def _write_round(checkout: Path, n: int) -> None:
    """Version `n` of the manifest: the base import's title says the round, and import k<n> is new."""
    (checkout / "data").mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "owner: growth", "defaults: {entity: {type: company}}", "imports:"]
    lines.append(f'  base: {{title: "Base, round {n}", csv: data/base.csv}}')
    (checkout / "data" / "base.csv").write_text(rows(3, "base"))
    for i in range(n + 1):
        (checkout / "data" / f"k{i}.csv").write_text(rows(1 + i % 3, f"k{i}-"))
        lines.append(f"  k{i}: {{title: K{i}, csv: data/k{i}.csv}}")
    (checkout / "websets.yaml").write_text("\n".join(lines) + "\n")


def _start(checkout: Path, offset: float, env: dict[str, str], wait: bool) -> subprocess.Popen[str]:
    args = ["apply", "-f", str(checkout / "websets.yaml"), "--auto-approve", "--no-color"]
    if wait:
        args += ["--lock-timeout", "120"]
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, f"{offset:.3f}", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _outcome(code: int, out: str, err: str) -> str:
    if code == 0 and NOTHING in out:
        return "nothing to do"
    if code == 0 and APPLIED.search(out):
        return "applied"
    held = re.search(r"held by .* lock id ([0-9a-f-]{36})\); .*`websets-reconciler force-unlock ([0-9a-f-]{36})`", err)
    if code == 1 and held and held.group(1) == held.group(2):
        return "refused"
    raise AssertionError(f"exit {code}\n--- stdout\n{out}\n--- stderr\n{err}")


def test_two_checkouts_applying_at_once_take_turns_and_leave_no_duplicates(make_emulator, tmp_path):
    emulator = make_emulator()  # the service's clock is the real one: both processes share it
    checkouts = [tmp_path / "laptop", tmp_path / "ci-runner"]
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url, "WEBSETS_MAX_RPS": "0"}
    rng = random.Random(20261130)
    seen: Counter[str] = Counter()
    for n in range(ROUNDS):
        for checkout in checkouts:
            _write_round(checkout, n)
        wait = n % 2 == 1  # every other round the one that comes second waits for the lock
        runs = [_start(c, rng.uniform(0.0, 0.4), env, wait) for c in checkouts]
        outcomes = []
        for run in runs:
            out, err = run.communicate(timeout=180)
            outcomes.append(_outcome(run.returncode, out, err))
            if outcomes[-1] == "applied":
                created, updated = map(int, APPLIED.search(out).groups())
                assert (created, updated) == ((2, 0) if n == 0 else (1, 1)), out
        seen.update(outcomes)
        assert sorted(outcomes) in (["applied", "refused"], ["applied", "nothing to do"]), (n, outcomes)
        if wait:
            assert "refused" not in outcomes, (n, outcomes)

    assert seen["applied"] == ROUNDS
    assert seen["refused"] >= 1  # the applies did overlap: a round whose second run came late proves nothing
    imports = emulator.store.list(200, None)["data"]
    assert not [i for i in imports if STAMP_LOCK in i["metadata"]]  # every claim was let go of
    ours = [i for i in imports if i["metadata"].get(STAMP_OWNER) == "growth"]
    assert Counter(i["metadata"][STAMP_KEY] for i in ours) == Counter(["base", *(f"k{i}" for i in range(ROUNDS))])
    assert all(i["status"] == "completed" for i in ours)
    base = next(i for i in ours if i["metadata"][STAMP_KEY] == "base")
    assert base["title"] == f"Base, round {ROUNDS - 1}"
