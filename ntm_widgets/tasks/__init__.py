"""The paper's tasks as seeded batch generators (Graves et al. 2014, section 4)."""

from .associative_recall import AssociativeRecallTask
from .base import Batch, Task
from .copy import CopyTask
from .ngrams import NGramsTask
from .priority_sort import PrioritySortTask
from .repeat_copy import RepeatCopyTask

TASK_CLASSES = {
    "copy": CopyTask,
    "repeat_copy": RepeatCopyTask,
    "associative_recall": AssociativeRecallTask,
    "ngrams": NGramsTask,
    "priority_sort": PrioritySortTask,
}


def make_task(cfg) -> Task:
    """The task named by a ``TaskConfig``."""
    return TASK_CLASSES[cfg.name](cfg)


__all__ = [
    "Batch",
    "Task",
    "CopyTask",
    "RepeatCopyTask",
    "AssociativeRecallTask",
    "PrioritySortTask",
    "NGramsTask",
    "make_task",
    "TASK_CLASSES",
]
