"""l2t: language learning tasks (L2T) for language-model pre-training.

Turns raw text into the 14 tasks of "Enhancing Linguistic Competence of Language Models through
Pre-training with Language Learning Tasks" (arXiv 2601.03448), exactly tokenized and deterministic,
mixed with ordinary next-token text and packed into training rows.

>>> import l2t
>>> [t.name for t in l2t.tasks()][:3]
['char_count', 'masked_char', 'space']
"""

from l2t._l2t import (
    RAW_TASK_ID,
    ConfigError,
    InputError,
    L2TError,
    OutputError,
    SourceError,
    TokenizerError,
    VocabError,
    __version__,
)
from l2t.drops import DroppedExamplesWarning
from l2t.engine import Engine, Example, PackedBatch
from l2t.generate import generate
from l2t.tasks import TaskInfo, task_id, task_name, tasks
from l2t.tokenizer import Tokenizer

__all__ = [
    "RAW_TASK_ID",
    "ConfigError",
    "DroppedExamplesWarning",
    "Engine",
    "Example",
    "InputError",
    "L2TError",
    "OutputError",
    "PackedBatch",
    "SourceError",
    "TaskInfo",
    "Tokenizer",
    "TokenizerError",
    "VocabError",
    "__version__",
    "generate",
    "task_id",
    "task_name",
    "tasks",
]
