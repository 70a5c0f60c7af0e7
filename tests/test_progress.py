"""Progress on stderr: the live line on a terminal, heartbeats in a log, and stdout left clean."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from reconciler.cli.progress import ERASE, Display, duration, is_terminal
from reconciler.emulator.faults import FaultConfig, Latency, Rate
from reconciler.redact import register
from tests.apply.helpers import rows, write_files
from tests.conftest import API_KEY, FakeClock
from tests.plan.helpers import seed, write_manifest

RETRY = "503 from POST /imports; retry 2/5 in 1.6 s"
BUDGET = "waiting 2.5 s for the request budget (8 requests/s)"


class Screen:
    """What a Display writes, as (text, to stderr) pairs."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, bool]] = []
        self.written = threading.Event()

    def __call__(self, text: str, err: bool) -> None:
        self.writes.append((text, err))
        self.written.set()

    def take(self) -> list[tuple[str, bool]]:
        taken, self.writes = self.writes, []
        return taken


def display(*, live: bool, columns: int = 200) -> tuple[Display, FakeClock, Screen]:
    clock, screen = FakeClock(start=1000.0), Screen()
    return Display("apply", live=live, clock=clock, write=screen, columns=lambda: columns), clock, screen


# -- the Display, with a fake clock ---------------------------------------------------------------


def test_a_log_gets_a_heartbeat_every_10_s_while_an_import_processes_and_none_before():
    shown, clock, screen = display(live=False)
    shown.total(4)
    shown.waiting("a", "import_1")
    clock.advance(9.9)
    shown.tick()
    assert screen.take() == []
    clock.advance(0.1)
    shown.tick()
    assert screen.take() == [("apply: 0/4 done, 1 processing (longest 10 s)\n", True)]
    clock.advance(5)
    shown.line("b: created import_2; uploading 20 bytes")  # output does not hold off a wait's heartbeat
    clock.advance(4.9)
    shown.tick()
    assert screen.take() == [("b: created import_2; uploading 20 bytes\n", False)]
    clock.advance(0.1)
    shown.tick()
    assert screen.take() == [("apply: 0/4 done, 1 processing (longest 20 s)\n", True)]
    shown.tick()
    assert screen.take() == []  # at most one heartbeat in 10 s


def test_a_log_is_never_silent_for_10_s_but_lines_in_time_need_no_heartbeat():
    shown, clock, screen = display(live=False)
    shown.total(3)
    for _ in range(3):  # nothing waits, and a line comes every 9 s
        clock.advance(9)
        shown.tick()
        shown.line("x: updated import_1")
    assert [err for _, err in screen.take()] == [False, False, False]
    clock.advance(10)
    shown.tick()
    assert screen.take() == [("apply: 0/3 done\n", True)]
    clock.advance(10)
    shown.tick()
    assert screen.take() == [("apply: 0/3 done\n", True)]


def test_a_paused_or_closed_display_shows_nothing():
    shown, clock, screen = display(live=False)
    shown.pause()  # a confirmation prompt
    clock.advance(60)
    shown.tick()
    assert screen.take() == []
    shown.total(2)  # the changes start
    clock.advance(10)
    shown.tick()
    assert screen.take() == [("apply: 0/2 done\n", True)]
    shown.close()
    clock.advance(60)
    shown.tick()
    assert screen.take() == []


def test_the_eta_appears_only_after_a_few_steps_and_goes_when_all_are_done():
    shown, clock, _ = display(live=False)
    shown.total(10)
    for _ in range(2):
        clock.advance(2)
        shown.step_done("k")
        assert "left" not in shown.status()
        assert shown.eta() is None
    clock.advance(2)
    shown.step_done("k")  # 3 steps in 6 s: 2 s a step, 7 to go
    assert shown.eta() == pytest.approx(14.0)
    assert shown.status() == "apply: 3/10 done; about 15 s left"
    clock.advance(54)  # 3 in 60 s: 20 s a step, 140 s to go
    assert shown.status() == "apply: 3/10 done; about 2 min left"
    for _ in range(7):
        shown.step_done("k")
    assert shown.status() == "apply: 10/10 done"


def test_the_live_line_is_erased_before_a_normal_line_and_redrawn_only_when_it_changes():
    shown, clock, screen = display(live=True)
    shown.total(2)
    shown.waiting("a", "import_1")
    shown.tick()
    assert screen.take() == [(ERASE + "apply: 0/2 done, 1 processing (longest 0 s)", True)]
    clock.advance(0.5)
    shown.tick()
    assert screen.take() == []  # the same text is not drawn again
    clock.advance(0.5)
    shown.tick()
    assert screen.take() == [(ERASE + "apply: 0/2 done, 1 processing (longest 1 s)", True)]
    shown.line("a: completed import_1 (2 records)")
    assert screen.take() == [(ERASE, True), ("a: completed import_1 (2 records)\n", False)]
    shown.line("b: created import_2; uploading 20 bytes", err=True)
    assert screen.take() == [("b: created import_2; uploading 20 bytes\n", True)]  # nothing shown: nothing to erase
    shown.tick()
    assert screen.take() == [(ERASE + "apply: 0/2 done, 1 processing (longest 1 s)", True)]
    shown.close()
    assert screen.take() == [(ERASE, True)]


def test_the_live_line_fits_the_terminal():
    shown, _, screen = display(live=True, columns=30)
    shown.total(500)
    shown.waiting("a", "import_1")
    shown.tick()
    [(text, _)] = screen.take()
    assert text == ERASE + "apply: 0/500 done, 1 proce..."
    assert len(text) - len(ERASE) == 29


def test_notices_are_counted_and_the_latest_is_shown():
    shown, clock, screen = display(live=True)
    shown.total(3)
    shown.notice("429 from GET /imports; retry 1/5 in 1.0 s")
    shown.notice(RETRY)
    shown.tick()
    assert screen.take() == [(ERASE + f"apply: 0/3 done, 2 retries (latest: {RETRY})", True)]
    clock.advance(5.1)  # the message goes after a while; the count stays
    shown.tick()
    assert screen.take() == [(ERASE + "apply: 0/3 done, 2 retries", True)]
    shown.notice(BUDGET)  # shown, but no retry
    shown.tick()
    assert screen.take() == [(ERASE + f"apply: 0/3 done, 2 retries (latest: {BUDGET})", True)]

    paced, _, screen = display(live=True)
    paced.total(3)
    paced.notice(BUDGET)
    paced.tick()
    assert screen.take() == [(ERASE + f"apply: 0/3 done, {BUDGET}", True)]

    log, clock, screen = display(live=False)
    log.total(3)
    log.notice(RETRY)  # a log has no live line: each notice is a line of its own, at once
    assert screen.take() == [(f"apply: {RETRY}\n", True)]
    clock.advance(10)
    log.tick()
    assert screen.take() == [(f"apply: 0/3 done, 1 retry (latest: {RETRY})\n", True)]
    clock.advance(10)
    log.tick()  # no new retry since the last heartbeat
    assert screen.take() == [("apply: 0/3 done, 1 retry\n", True)]


def test_a_notice_never_shows_a_registered_secret():
    register("sk-progress-secret-123")
    shown, _, _ = display(live=False)
    shown.notice("503 from PUT https://uploads.example/sk-progress-secret-123; retry 1/5 in 1 s")
    assert "sk-progress-secret-123" not in shown.status(notices_since=0)
    assert "1 retry" in shown.status()


class _Lister:
    def __init__(self, display: Display, pages: int) -> None:
        self.display, self.pages, self.seen = display, pages, []

    def list_page(self, cursor: str | None = None, limit: int = 200) -> dict:
        n = int(cursor or 0)
        self.seen.append(self.display.status())
        more = n + 1 < self.pages
        return {"data": [{}] * limit, "hasMore": more, "nextCursor": str(n + 1) if more else None}


def test_a_listing_is_counted_page_by_page_and_retries_reach_the_display():
    shown, _, _ = display(live=True)
    shown.command = "plan"
    client = _Lister(shown, pages=3)
    shown.attach(client)
    cursor = None
    while True:
        page = client.list_page(cursor)
        if not page["hasMore"]:
            break
        cursor = page["nextCursor"]
    assert client.seen == [
        "plan: listing imports: 0 read",
        "plan: listing imports: 200 read",
        "plan: listing imports: 400 read",
    ]
    assert shown.status().startswith("plan: working")  # the listing is over
    client.notice(RETRY)
    assert "1 retry" in shown.status()


def test_durations_read_as_a_person_reads_them():
    assert [duration(s) for s in (0, 42.9, 60, 185, 7500)] == ["0 s", "42 s", "1 min", "3 min", "2 h 5 min"]
    assert [duration(s, rounded=True) for s in (1, 14, 56, 89, 91, 3700)] == [
        "5 s",
        "15 s",
        "1 min",
        "1 min",
        "2 min",
        "1 h 2 min",
    ]


def test_the_terminal_decision():
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    assert is_terminal(Stream(True), {"TERM": "xterm"})
    assert not is_terminal(Stream(False), {"TERM": "xterm"})
    assert not is_terminal(Stream(True), {"TERM": "dumb"})  # it cannot erase a line


def test_the_ticker_redraws_in_the_background_and_stops_on_close():
    screen = Screen()
    shown = Display("apply", live=True, write=screen, columns=lambda: 80)
    with shown:
        shown.total(1)
        assert screen.written.wait(10)
    assert screen.writes[0] == (ERASE + "apply: 0/1 done", True)
    assert screen.writes[-1] == (ERASE, True)
    assert not any(t.name == "progress" for t in threading.enumerate())


# -- the CLI against the emulator -----------------------------------------------------------------


def _env(emulator) -> dict[str, str]:
    env = {**os.environ, "EXA_API_KEY": API_KEY, "EXA_BASE_URL": emulator.base_url, "TERM": "xterm"}
    env.pop("COLUMNS", None)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def _on_terminal(
    args: list[str], env: dict[str, str], *, stdout_too: bool, columns: int | None = None
) -> tuple[int, str, str]:
    """Run with stderr (and stdout when `stdout_too`) on a pseudo-terminal, `columns` wide if given (else of
    unknown size): (exit code, what the terminal received with its \\r\\n made \\n, stdout when a pipe)."""
    master, slave = os.openpty()
    if columns is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    out = slave if stdout_too else subprocess.PIPE
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
    os.close(slave)
    piped: list[bytes] = []
    reader = threading.Thread(target=lambda: piped.append(proc.stdout.read()) if proc.stdout else None)
    reader.start()
    received = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal's other side is closed
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(master)
        code = proc.wait(timeout=60)
        reader.join()
    return code, received.decode().replace("\r\n", "\n"), (piped[0] if piped else b"").decode()


def _renderings(terminal: str, command: str) -> list[str]:
    return re.findall(r"\r\x1b\[2K(" + command + r": [^\r\n\x1b]*)", terminal)


def _visible_lines(terminal: str) -> list[str]:
    """The lines a person reads: what follows the last erase on each line."""
    *lines, tail = terminal.split("\n")
    assert tail.split(ERASE)[-1] == "", f"a status line was left on the screen: {tail!r}"
    return [line.split(ERASE)[-1] for line in lines]


def test_apply_on_a_terminal_redraws_its_line_in_place_and_erases_it_for_every_other_line(make_emulator, tmp_path):
    emulator = make_emulator(processing_delay=2.5)
    manifest = write_files(tmp_path, {"a": rows(2, "a")})
    code, terminal, _ = _on_terminal(
        _cli("apply", "-f", str(manifest), "--auto-approve"), _env(emulator), stdout_too=True
    )
    assert code == 0, terminal
    drawn = _renderings(terminal, "apply")
    waits = [d for d in drawn if d.startswith("apply: 0/1 done, 1 processing (longest ")]
    assert len(set(waits)) >= 2, drawn  # the same line, updated as the wait grows
    visible = _visible_lines(terminal)
    assert not [line for line in visible if line.startswith("apply: ")], visible
    assert any(re.fullmatch(r"a: created import_\w+; uploading [\d,]+ bytes", line) for line in visible), visible
    assert any(re.fullmatch(r"a: completed import_\w+ \(2 records\)", line) for line in visible), visible
    assert visible[-1] == "Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted."


def test_apply_json_keeps_stdout_pure_json_while_progress_goes_to_stderr(make_emulator, tmp_path):
    emulator = make_emulator(processing_delay=1.5)
    manifest = write_files(tmp_path, {"a": rows(2, "a")})
    code, terminal, stdout = _on_terminal(
        _cli("apply", "-f", str(manifest), "--auto-approve", "--json"), _env(emulator), stdout_too=False
    )
    assert code == 0, terminal + stdout
    document = json.loads(stdout)
    assert document["status"] == "ok"
    assert document["done"]["create"] == ["a"]
    assert any(d.startswith("apply: 0/1 done, 1 processing") for d in _renderings(terminal, "apply")), terminal
    assert "apply:" not in stdout


def test_plan_on_a_terminal_counts_the_imports_listed_then_prints_a_clean_plan(make_emulator, tmp_path):
    emulator = make_emulator(faults=FaultConfig(latency=Latency(400, methods=frozenset({"GET"}))))
    for i in range(450):
        seed(emulator, f"other{i}", stamped=False, upload=False)
    manifest = write_manifest(tmp_path, ["customers"])
    code, terminal, _ = _on_terminal(_cli("plan", "-f", str(manifest), "--no-color"), _env(emulator), stdout_too=True)
    assert code == 0, terminal
    drawn = _renderings(terminal, "plan")
    assert {"plan: listing imports: 200 read", "plan: listing imports: 400 read"} <= set(drawn), drawn
    visible = _visible_lines(terminal)
    assert not [line for line in visible if line.startswith("plan: ")], visible
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete." in visible


def test_apply_in_a_log_prints_heartbeats_every_10_s_while_an_import_processes(make_emulator, tmp_path: Path):
    """The real interval: an import that processes for 25 s gets at least two heartbeats, on stderr."""
    emulator = make_emulator(processing_delay=25)
    manifest = write_files(tmp_path, {"a": rows(2, "a")})
    proc = subprocess.run(
        _cli("apply", "-f", str(manifest), "--auto-approve"),
        env=_env(emulator),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    beats = re.findall(r"^apply: 0/1 done, 1 processing \(longest (\d+) s\)$", proc.stderr, re.MULTILINE)
    assert len(beats) >= 2, proc.stderr
    waited = [int(b) for b in beats]
    assert all(b - a >= 9 for a, b in itertools.pairwise(waited)), waited  # ten seconds apart, not more often
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr  # a log gets plain lines
    assert "apply:" not in proc.stdout
    assert "Apply complete: 1 created" in proc.stdout


def test_plan_on_a_terminal_shows_the_clients_retries(make_emulator, tmp_path):
    faults = FaultConfig(seed=3, errors=Rate(0.5, frozenset({"GET"})), latency=Latency(300, methods=frozenset({"GET"})))
    emulator = make_emulator(faults=faults)
    for i in range(450):
        seed(emulator, f"other{i}", stamped=False, upload=False)
    manifest = write_manifest(tmp_path, ["customers"])
    args = _cli("plan", "-f", str(manifest), "--no-color")
    code, terminal, _ = _on_terminal(args, _env(emulator), stdout_too=True, columns=200)
    assert code == 0, terminal
    drawn = _renderings(terminal, "plan")
    assert any(
        re.search(r", \d+ retr(y|ies) \(latest: 50[03] from GET /websets/v0/imports; retry \d+/\d+ in [\d.]+ s\)", d)
        for d in drawn
    ), drawn
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete." in _visible_lines(terminal)
