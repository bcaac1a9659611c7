"""The Prefect task decorator of every step that writes the store, and the flows' result options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NONE
from prefect.settings import get_current_settings

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


def results_in_memory() -> dict[str, Any]:
    """`@flow` options: results are not persisted (a run's record is the store), kept where Prefect
    would keep them by default. Named, not looked up: without them each flow run asks the Prefect
    server three times for its default result storage (~10 ms each on an unchanged refresh's critical
    path). A Path, not a block: a block would have to be saved on the server first."""
    local = Path(get_current_settings().results.local_storage_path)
    return {"persist_result": False, "result_storage": local}


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
