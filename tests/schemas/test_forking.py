"""schemas.forking: results in order, errors raised in the parent, a dead child's chunk redone."""

from __future__ import annotations

import os

import pytest

from eventplatform.schemas import forking
from eventplatform.schemas.tool_errors import SchemaToolError


def test_results_keep_chunk_order_and_run_in_children() -> None:
    pid = os.getpid()
    results = forking.fork_map(lambda c: (os.getpid(), [x * 2 for x in c]), [[1], [2, 3], [4]])
    assert [r[1] for r in results] == [[2], [4, 6], [8]]
    assert results[0][0] != pid and results[1][0] != pid and results[2][0] == pid  # the last runs here


def test_schema_tool_error_in_a_child_is_raised_here_unchanged() -> None:
    def work(chunk: int) -> int:
        if chunk == 1:
            raise SchemaToolError("s/current.yaml", "/allOf/0", "bad $ref")
        return chunk

    with pytest.raises(SchemaToolError) as info:
        forking.fork_map(work, [0, 1, 2])
    err = info.value
    assert (err.file, err.pointer, err.message) == ("s/current.yaml", "/allOf/0", "bad $ref")


def test_unpicklable_error_becomes_a_one_line_runtime_error() -> None:
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:  # pickling calls Odd(msg): fails
            super().__init__(f"{a}+{b}")

    def work(chunk: int) -> int:
        if chunk == 0:
            raise Odd(1, 2)
        return chunk

    with pytest.raises(RuntimeError, match=r"a worker process failed: Odd: 1\+2"):
        forking.fork_map(work, [0, 1])


def test_a_child_that_dies_silently_has_its_chunk_redone_here(capsys: pytest.CaptureFixture[str]) -> None:
    parent = os.getpid()

    def work(chunk: list[int]) -> int:
        if os.getpid() != parent:
            os._exit(0)  # dies without answering, like a child deadlocked on a native library's lock
        return sum(chunk)

    assert forking.fork_map(work, [[1, 2], [3]]) == [3, 3]
    assert "a worker process died; redoing its 2 items" in capsys.readouterr().err


def test_free_workers_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTPLATFORM_WORKERS", "3")
    assert forking.free_workers(100, 10) == 3
    assert forking.free_workers(5, 10) == 1  # below the threshold: never worth it
    monkeypatch.setenv("EVENTPLATFORM_WORKERS", "1")
    assert forking.free_workers(100, 10) == 1
    monkeypatch.delenv("EVENTPLATFORM_WORKERS")
    monkeypatch.setenv("EVENTPLATFORM_SCHEMA_JOBS", "99")
    assert forking.free_workers(100, 10) == forking.MAX_WORKERS
