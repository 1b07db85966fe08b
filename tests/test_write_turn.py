"""Writers of one SQLite file take turns across threads and processes (schema/db.py WriteTurn)."""

import multiprocessing
import threading
import time
from pathlib import Path

from schema.db import WriteTurn

TURNS = 40


def _take_turns(turn: WriteTurn, log: Path, name: str) -> None:
    for _ in range(TURNS):
        with turn.held():
            with log.open("a") as out:
                out.write(f"{name} in\n")
            time.sleep(0.0005)
            with turn.held():  # re-entrant in one thread
                pass
            with log.open("a") as out:
                out.write(f"{name} out\n")


def _assert_one_at_a_time(log: Path, names: set[str]) -> None:
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * TURNS * len(names)
    for start in range(0, len(lines), 2):
        name = lines[start].split()[0]
        assert lines[start : start + 2] == [f"{name} in", f"{name} out"], lines[start : start + 4]
    assert {line.split()[0] for line in lines} == names


def test_processes_forked_after_a_turn_still_take_turns(tmp_path: Path) -> None:
    turn, log = WriteTurn(str(tmp_path / "db-writelock")), tmp_path / "log"
    with turn.held():  # the parent opened its lock file before forking
        pass
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_take_turns, args=(turn, log, f"p{n}")) for n in range(3)]
    for child in children:
        child.start()
    _take_turns(turn, log, "parent")
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    _assert_one_at_a_time(log, {"parent", "p0", "p1", "p2"})


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    turn, log = WriteTurn(str(tmp_path / "db-writelock")), tmp_path / "log"
    threads = [threading.Thread(target=_take_turns, args=(turn, log, f"t{n}")) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    _assert_one_at_a_time(log, {"t0", "t1", "t2"})
