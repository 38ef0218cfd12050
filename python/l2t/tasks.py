"""The catalogue of the 14 tasks: names, reference aliases, granularity, descriptions."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from l2t import _l2t


class TaskInfo(NamedTuple):
    """One task of the catalogue."""

    id: int
    name: str
    reference_name: str
    granularity: str
    description: str


@cache
def tasks() -> list[TaskInfo]:
    """The 14 tasks in id order (character, word, sentence, discourse)."""
    return [TaskInfo(*t) for t in _l2t.tasks()]


@cache
def _by_name() -> dict[str, TaskInfo]:
    table = {t.name: t for t in tasks()}
    table.update({t.reference_name: t for t in tasks()})
    return table


def task_id(name: str) -> int:
    """The id of a task given by l2t name or reference alias (`mlm`, `sentence_deletion`, ...)."""
    try:
        return _by_name()[name].id
    except KeyError:
        known = ", ".join(t.name for t in tasks())
        raise _l2t.ConfigError(f"unknown task {name!r}; known tasks: {known}") from None


def task_name(task_id: int) -> str:
    """The l2t name of a task id; ``"raw"`` for raw-text segments."""
    if task_id == _l2t.RAW_TASK_ID:
        return "raw"
    return tasks()[task_id].name
