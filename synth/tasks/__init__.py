"""Task synthesis (DESIGN §7): subgraph sampling, question planning with uncertainty operations,
template and teacher question writers, mechanical checks."""

from drsynth.synth.tasks.checks import check_task, hops_of, level_from
from drsynth.synth.tasks.config import TaskConfig, TeacherSettings
from drsynth.synth.tasks.draft import TaskDraft
from drsynth.synth.tasks.formal import Triple, solve
from drsynth.synth.tasks.sample import sample_subgraphs
from drsynth.synth.tasks.select import select_tasks
from drsynth.synth.tasks.shape import wl_hash
from drsynth.synth.tasks.synthesize import SubgraphBatch, subgraph_batches, write_tasks
from drsynth.synth.tasks.writers import (
    QuestionWriter,
    TeacherWriter,
    TemplateWriter,
    WriterError,
    WrittenQuestion,
    make_writer,
)

__all__ = [
    "QuestionWriter", "SubgraphBatch", "TaskConfig", "TaskDraft", "TeacherSettings", "TeacherWriter",
    "TemplateWriter", "Triple", "WriterError", "WrittenQuestion", "check_task", "hops_of", "level_from",
    "make_writer", "sample_subgraphs", "select_tasks", "solve", "subgraph_batches", "wl_hash", "write_tasks",
]
