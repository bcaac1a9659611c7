"""The Prefect task decorator of every step that writes the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NONE

from flows.errors import StoreBusyError

P = ParamSpec("P")
R = TypeVar("R")

STORE_RETRIES = 3
STORE_RETRY_DELAY_SECONDS = 2


def store_busy(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the DuckDB file was busy (another process held it); any other error is final."""
    try:
        state.result()
    except StoreBusyError:
        return True
    except Exception:
        return False
    return False


def store_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """`@task` for a step that writes the store: no result caching, and a few retries when the store
    is busy (HTTP retries belong to the E-utilities client alone)."""
    return task(
        name=name,
        cache_policy=NONE,
        retries=STORE_RETRIES,
        retry_delay_seconds=STORE_RETRY_DELAY_SECONDS,
        retry_condition_fn=store_busy,
    )
