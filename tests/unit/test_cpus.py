"""``execagent --cpus``: CPU lists read as taskset writes them, applied to the whole process,
and a list the machine cannot honour refused with one clear line (exit 2)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.cli import main
from service.cpus import CpuListError, parse_cpu_list, pin_process


@pytest.fixture
def restored_affinity() -> Iterator[set[int]]:
    before = os.sched_getaffinity(0)
    try:
        yield before
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.parametrize(("text", "cpus"), [
    ("0", {0}), ("0,2", {0, 2}), ("1-3", {1, 2, 3}), ("0,2-3", {0, 2, 3}), (" 1 , 0 ", {0, 1}),
    ("2-2", {2}),
])
def test_cpu_lists_read_as_taskset_writes_them(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


@given(st.sets(st.integers(0, 255), min_size=1))
def test_any_comma_list_reads_back(cpus: set[int]) -> None:
    assert parse_cpu_list(",".join(map(str, sorted(cpus)))) == cpus


@pytest.mark.parametrize("text", ["", "a", "0,", "3-1", "-1", "1-", "0.5", "1-2-3"])
def test_unreadable_lists_are_refused(text: str) -> None:
    with pytest.raises(CpuListError, match="--cpus"):
        parse_cpu_list(text)


def test_pinning_applies_to_threads_started_afterwards(restored_affinity: set[int]) -> None:
    one = {min(restored_affinity)}
    pin_process(one)
    seen: list[set[int]] = []
    thread = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
    thread.start()
    thread.join()
    assert os.sched_getaffinity(0) == one and seen == [one]


def test_a_cpu_the_process_may_not_use_is_refused(restored_affinity: set[int]) -> None:
    missing = max(restored_affinity) + 1
    with pytest.raises(CpuListError, match=f"CPU {missing} is not one this process may use"):
        pin_process({missing})
    assert os.sched_getaffinity(0) == restored_affinity


def test_the_cli_refuses_a_bad_list_before_running_the_command(
        restored_affinity: set[int], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--cpus", "zero", "venue", "--config", "/nonexistent.yaml"])
    err = capsys.readouterr().err
    assert code == 2 and "'zero' is not a CPU number" in err and "Traceback" not in err
    assert "venue" not in err  # the command never ran (it would name its missing config)
    assert os.sched_getaffinity(0) == restored_affinity


def test_the_cli_pins_before_the_command_runs(restored_affinity: set[int],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    one = min(restored_affinity)
    code = main(["--cpus", str(one), "venue", "--config", "/nonexistent.yaml"])
    capsys.readouterr()
    assert code == 2  # the venue's own error: its config is missing
    assert os.sched_getaffinity(0) == {one}
