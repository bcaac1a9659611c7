"""Idempotent saves (flows.curation.save): one event per form key, however often it is sent."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flows.curation.journal import append_event, read_events
from flows.curation.save import save_once
from flows.errors import InputError
from tests.grading_fixtures import ev, write_project

KEY = "k3y-0123456789abcdef"


def test_the_same_key_saves_once_even_when_sent_concurrently(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    index = tmp_path / "data" / "save-keys" / "k2-demo.keys"
    event = ev("alice", "15514282")
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(save_once(index, KEY, event, lambda e: append_event(folder, e))))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(read_events(folder)) == 1
    # Another key is another save.
    assert save_once(index, KEY + "x", ev("alice", "15514282", minute=1), lambda e: append_event(folder, e))
    assert len(read_events(folder)) == 2


def test_a_failed_append_records_no_key(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    index = tmp_path / "keys"
    bad = ev("mallory", "15514282")  # not in curators.yaml: the journal refuses it
    with pytest.raises(InputError):
        save_once(index, KEY, bad, lambda e: append_event(folder, e))
    assert save_once(index, KEY, ev("alice", "15514282"), lambda e: append_event(folder, e))  # key still free


@pytest.mark.parametrize("key", ["short", "../../etc/passwd-xxxxxxxx", "x" * 65, "spaces are not ok here"])
def test_a_malformed_key_is_refused_in_one_line(tmp_path: Path, key: str) -> None:
    with pytest.raises(InputError, match="save key: expected 16–64 letters"):
        save_once(tmp_path / "keys", key, ev("alice", "1"), lambda e: None)
