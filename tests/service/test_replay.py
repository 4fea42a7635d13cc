"""A client JWT's jti is accepted once per service on this host (`cds.service.replay`).

The EPJ "DIPS Arena at Sykehuset Innlandet" sends each call with a fresh token.
Whichever worker process sees a token first remembers its jti in the shared
table file, so the same token sent again - to that worker, to another worker,
or after a restart - is refused until it expires.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cds.service import replay as replay_module
from cds.service.replay import MAGIC, SLOTS_PER_BUCKET, ReplayTable

ARENA = "https://arena.sykehuset-innlandet.example"
OTHER_EPJ = "https://epj.sykehuset-ostfold.example"
JTI = "7d4f0a2e-5b1c-4c8e-9a51-0f3b2d6e8c17"
NOW = 1_790_000_000.0
EXPIRES = NOW + 330  # exp (five minutes) + 30 s leeway


def table(path: Path, entries: int = 100, now: float = NOW) -> ReplayTable:
    return ReplayTable(path, entries, clock=lambda: now)


# Another process, as another worker is: the module is loaded from its file alone, since importing
# the cds.service package would build the whole app first. It waits for a line on stdin before it starts.
ANOTHER_PROCESS = """
import importlib.util, sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("replay", sys.argv[1])
replay = importlib.util.module_from_spec(spec)
spec.loader.exec_module(replay)
path, entries, now, expires, issuer = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
table = replay.ReplayTable(Path(path), entries, clock=lambda: now)
print("ready", flush=True)
sys.stdin.readline()
print(" ".join("seen" if table.seen(issuer, jti, expires) else "new" for jti in sys.argv[7:]))
"""


def another_process(path: Path, *jtis: str, entries: int = 100) -> subprocess.Popen[str]:
    """A separate Python process that will check ``jtis`` in the table at ``path`` once told to go."""
    process = subprocess.Popen([sys.executable, "-c", ANOTHER_PROCESS, replay_module.__file__, str(path),
                                str(entries), str(NOW), str(EXPIRES), ARENA, *jtis],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def answers(process: subprocess.Popen[str]) -> list[str]:
    """What the process answered for each jti, in order ("seen" or "new")."""
    out, _ = process.communicate()
    assert process.returncode == 0
    return out.split()


def seen_in_another_process(path: Path, *jtis: str) -> list[str]:
    return answers(another_process(path, *jtis))


def test_a_jti_is_refused_the_second_time_in_one_process(tmp_path):
    replay = table(tmp_path / "jti-replay.bin")
    assert not replay.seen(ARENA, JTI, EXPIRES)
    assert replay.seen(ARENA, JTI, EXPIRES)


def test_a_jti_first_used_in_another_process_is_refused_here(tmp_path):
    path = tmp_path / "jti-replay.bin"
    assert seen_in_another_process(path, JTI) == ["new"]
    assert table(path).seen(ARENA, JTI, EXPIRES)


def test_a_jti_first_used_here_is_refused_in_another_process(tmp_path):
    path = tmp_path / "jti-replay.bin"
    assert not table(path).seen(ARENA, JTI, EXPIRES)
    assert seen_in_another_process(path, JTI, "a-fresh-jti") == ["seen", "new"]


def test_processes_racing_on_the_same_jtis_accept_each_once(tmp_path):
    path = tmp_path / "jti-replay.bin"
    jtis = [f"race-{i}" for i in range(5000)]
    racers = [another_process(path, *jtis, entries=5000) for _ in range(3)]
    for racer in racers:  # all start together
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    answered = [answers(racer) for racer in racers]
    for i in range(len(jtis)):
        assert sorted(answer[i] for answer in answered) == ["new", "seen", "seen"]


def test_threads_racing_on_the_same_jtis_accept_each_once(tmp_path):
    replay = table(tmp_path / "jti-replay.bin", entries=2000)
    jtis = [f"race-{i}" for i in range(2000)]
    accepted: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(len(accepted))

    def race(mine: list[str]) -> None:
        start.wait()
        mine.extend(jti for jti in jtis if not replay.seen(ARENA, jti, EXPIRES))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as the interpreter allows
    try:
        threads = [threading.Thread(target=race, args=(mine,)) for mine in accepted]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert sorted(jti for mine in accepted for jti in mine) == sorted(jtis)


def test_a_jti_is_refused_after_a_restart_until_it_expires(tmp_path):
    path = tmp_path / "jti-replay.bin"
    before = table(path)
    assert not before.seen(ARENA, JTI, EXPIRES)
    before.close()
    assert table(path, now=EXPIRES - 1).seen(ARENA, JTI, EXPIRES)
    assert not table(path, now=EXPIRES + 1).seen(ARENA, JTI, EXPIRES + 400)


def test_an_expired_jti_is_accepted_again_and_then_remembered_anew(tmp_path):
    now = [NOW]
    replay = ReplayTable(tmp_path / "jti-replay.bin", 100, clock=lambda: now[0])
    assert not replay.seen(ARENA, JTI, EXPIRES)
    now[0] = EXPIRES + 1
    assert not replay.seen(ARENA, JTI, EXPIRES + 400)
    assert replay.seen(ARENA, JTI, EXPIRES + 400)


def test_the_same_jti_from_two_issuers_is_two_entries(tmp_path):
    replay = table(tmp_path / "jti-replay.bin")
    assert not replay.seen(ARENA, JTI, EXPIRES)
    assert not replay.seen(OTHER_EPJ, JTI, EXPIRES)
    assert replay.seen(OTHER_EPJ, JTI, EXPIRES)


def test_an_issuer_and_jti_pair_is_not_confused_with_another_split_of_the_same_text(tmp_path):
    replay = table(tmp_path / "jti-replay.bin")
    assert not replay.seen("https://epj.example/a", "bc", EXPIRES)
    assert not replay.seen("https://epj.example/ab", "c", EXPIRES)


def test_a_jti_with_a_lone_surrogate_is_remembered_like_any_other(tmp_path):
    replay = table(tmp_path / "jti-replay.bin")  # JSON allows "\ud800" in a string; UTF-8 does not
    assert not replay.seen(ARENA, "\ud800", EXPIRES)
    assert replay.seen(ARENA, "\ud800", EXPIRES)


def test_a_full_bucket_drops_the_entry_expiring_first_with_a_warning(tmp_path, caplog):
    replay = table(tmp_path / "jti-replay.bin")
    same_bucket = [jti for jti in (f"jti-{i}" for i in range(10_000)) if replay.bucket(ARENA, jti) == 0]
    residents, newcomer = same_bucket[:SLOTS_PER_BUCKET], same_bucket[SLOTS_PER_BUCKET]
    # arrival order is not expiry order: the second arrival expires first
    expiry = {jti: EXPIRES + (0 if i == 1 else 10 + i) for i, jti in enumerate(residents)}
    for jti in residents:
        assert not replay.seen(ARENA, jti, expiry[jti])
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="cds.service.replay"):
        assert not replay.seen(ARENA, newcomer, EXPIRES + 100)
    assert [r.getMessage() for r in caplog.records if "raise auth.jti_cache_size" in r.getMessage()]
    dropped = residents[1]
    assert all(replay.seen(ARENA, jti, EXPIRES) for jti in [*residents[:1], *residents[2:], newcomer])
    assert not replay.seen(ARENA, dropped, EXPIRES)


def test_the_file_is_sized_from_the_setting_and_does_not_grow(tmp_path):
    path = tmp_path / "jti-replay.bin"
    replay = table(path, entries=100)
    for i in range(1000):
        replay.seen(ARENA, f"jti-{i}", EXPIRES)
    assert path.stat().st_size == replay.size
    assert replay.size < 100 * 64


def test_the_file_holds_neither_the_jti_nor_the_issuer_and_only_its_owner_may_read_it(tmp_path):
    path = tmp_path / "jti-replay.bin"
    table(path).seen(ARENA, JTI, EXPIRES)
    content = path.read_bytes()
    assert JTI.encode() not in content and ARENA.encode() not in content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_table_of_another_size_is_replaced_by_an_empty_one(tmp_path, caplog):
    path = tmp_path / "jti-replay.bin"
    small = table(path, entries=100)
    assert not small.seen(ARENA, JTI, EXPIRES)
    with caplog.at_level(logging.WARNING, logger="cds.service.replay"):
        larger = table(path, entries=1000)
        assert not larger.seen(ARENA, JTI, EXPIRES)
    assert "another size or format" in caplog.text
    assert path.stat().st_size == larger.size
    # a process still holding the old table keeps working on it
    assert small.seen(ARENA, JTI, EXPIRES)
    assert not small.seen(ARENA, "only-in-the-old-table", EXPIRES)


@pytest.mark.parametrize("damage", ["magic", "version"])
def test_a_file_with_another_header_is_replaced_not_misread(tmp_path, damage):
    path = tmp_path / "jti-replay.bin"
    assert not table(path).seen(ARENA, JTI, EXPIRES)
    content = bytearray(path.read_bytes())
    at = 0 if damage == "magic" else len(MAGIC)
    content[at] ^= 0xFF
    path.write_bytes(bytes(content))
    assert not table(path).seen(ARENA, JTI, EXPIRES)
    assert path.read_bytes()[:len(MAGIC)] == MAGIC


def test_the_file_and_its_directory_are_created_on_first_use(tmp_path):
    path = tmp_path / "data" / "jti-replay.bin"
    replay = table(path)
    assert not path.exists()
    replay.seen(ARENA, JTI, EXPIRES)
    assert path.stat().st_size == replay.size
    assert os.listdir(tmp_path / "data") == ["jti-replay.bin"]


def test_a_forked_child_locks_the_table_through_its_own_open_file(tmp_path):
    # flock belongs to an open file: a child sharing its parent's would not be excluded by the parent's lock
    replay = table(tmp_path / "jti-replay.bin")
    assert not replay.seen(ARENA, JTI, EXPIRES)
    to_parent, from_child = os.pipe()
    to_child, from_parent = os.pipe()
    child = os.fork()
    if child == 0:  # the child: use the table, hold its lock until told to finish
        code = 1
        try:
            if replay.seen(ARENA, JTI, EXPIRES) and not replay.seen(ARENA, "the-child's-jti", EXPIRES):
                fcntl.flock(replay._fd, fcntl.LOCK_EX)
                code = 0
        finally:
            os.write(from_child, b"x")
            os.read(to_child, 1)
            os._exit(code)
    try:
        assert os.read(to_parent, 1) == b"x"
        with pytest.raises(BlockingIOError):
            fcntl.flock(replay._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.write(from_parent, b"x")
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert replay.seen(ARENA, "the-child's-jti", EXPIRES)
