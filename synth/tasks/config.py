"""Task synthesis settings: the `[tasks]` TOML section and its `[tasks.teacher]` table."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from drsynth.synth.sections import section_items

WRITERS = ("template", "teacher")


@dataclass(frozen=True)
class TeacherSettings:
    """An OpenAI-compatible endpoint that writes question wording. The key itself never lives here:
    only the name of the environment variable that holds it."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "teacher"
    api_key_env: str = "DRSYNTH_TEACHER_API_KEY"
    timeout_s: float = 60.0
    temperature: float = 0.3
    max_retries: int = 2
    concurrency: int = 4  # requests in flight within one batch; in the flows, at the endpoint over all runs

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"[tasks.teacher] base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise ValueError("[tasks.teacher] model must not be empty")
        if not self.api_key_env or not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(f"[tasks.teacher] api_key_env must name an environment variable, got "
                             f"{self.api_key_env!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"[tasks.teacher] timeout_s must be > 0, got {self.timeout_s!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"[tasks.teacher] temperature must be within 0..2, got {self.temperature!r}")
        if self.max_retries < 0:
            raise ValueError(f"[tasks.teacher] max_retries must be >= 0, got {self.max_retries!r}")
        if self.concurrency < 1:
            raise ValueError(f"[tasks.teacher] concurrency must be >= 1, got {self.concurrency!r}")


@dataclass(frozen=True)
class TaskConfig:
    subgraphs: int = 150  # random walks to run (before shape dedup)
    min_edges: int = 2
    max_edges: int = 6
    jump_back: float = 0.3  # chance per step of continuing from an earlier visited node
    low_degree_bias: float = 1.0  # seeds drawn with probability ∝ (degree + 1) ** -bias
    max_per_shape: int = 3  # subgraphs kept per Weisfeiler-Lehman hash
    seed: int = 0
    subgraphs_per_task: int = 64  # one question-writing batch
    writer: str = "template"  # template | teacher
    # selection (synth/tasks/select.py): no question twice, no answer or relation dominating the pool
    max_per_answer: int = 2  # tasks with one answer (folded text)
    max_per_entity: int = 2  # tasks whose answer is one entity (whatever its spelling)
    max_relation_share: float = 0.25  # of the pool, per (relation, answer type) ...
    min_per_relation: int = 10  # ... but never fewer than this
    near_duplicate_threshold: float = 0.8  # estimated Jaccard of word 3-gram shingles
    # level 3: no single query built from the question's constants finds the answer's page in the local
    # search index's top k (0: 1 on corpora under 1,000 documents, 10 above)
    level3_search_k: int = 0
    hub_share: float = 0.02  # the most connected entities (this share, at least one) are never hidden at level 3
    teacher: TeacherSettings = field(default_factory=TeacherSettings)

    def __post_init__(self) -> None:
        for name in ("subgraphs", "min_edges", "max_per_shape", "subgraphs_per_task", "max_per_answer",
                     "max_per_entity", "min_per_relation"):
            if getattr(self, name) < 1:
                raise ValueError(f"[tasks] {name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_edges < self.min_edges:
            raise ValueError(f"[tasks] max_edges ({self.max_edges}) must be >= min_edges ({self.min_edges})")
        if self.max_edges > 32:
            raise ValueError(f"[tasks] max_edges must be <= 32, got {self.max_edges}")
        if not 0.0 <= self.jump_back < 1.0:
            raise ValueError(f"[tasks] jump_back must be within [0, 1), got {self.jump_back!r}")
        if not 0.0 <= self.low_degree_bias <= 10.0:
            raise ValueError(f"[tasks] low_degree_bias must be within 0..10, got {self.low_degree_bias!r}")
        if not 0.0 < self.max_relation_share <= 1.0:
            raise ValueError(f"[tasks] max_relation_share must be within (0, 1], got {self.max_relation_share!r}")
        if not 0.0 < self.near_duplicate_threshold < 1.0:
            raise ValueError(f"[tasks] near_duplicate_threshold must be within (0, 1), got "
                             f"{self.near_duplicate_threshold!r}")
        if self.level3_search_k < 0:
            raise ValueError(f"[tasks] level3_search_k must be >= 0 (0: automatic), got {self.level3_search_k!r}")
        if not 0.0 <= self.hub_share < 1.0:
            raise ValueError(f"[tasks] hub_share must be within [0, 1), got {self.hub_share!r}")
        if self.writer not in WRITERS:
            raise ValueError(f"[tasks] writer must be one of {WRITERS}, got {self.writer!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TaskConfig:
        data = section_items(cls, data, "tasks")
        teacher = data.pop("teacher", {})
        if isinstance(teacher, TeacherSettings):
            teacher = dataclasses.asdict(teacher)
        if not isinstance(teacher, dict):
            raise ValueError(f"[tasks.teacher] must be a table of settings, got {teacher!r}")
        teacher = section_items(TeacherSettings, teacher, "tasks.teacher")
        ints = {"subgraphs", "min_edges", "max_edges", "max_per_shape", "seed", "subgraphs_per_task",
                "max_per_answer", "max_per_entity", "min_per_relation", "level3_search_k"}
        floats = {"jump_back", "low_degree_bias", "max_relation_share", "near_duplicate_threshold", "hub_share"}
        typed: dict[str, Any] = {}
        for key, value in data.items():
            typed[key] = _coerce(f"[tasks] {key}", value, int if key in ints else float if key in floats else str)
        teacher_types = {"timeout_s": float, "temperature": float, "max_retries": int, "concurrency": int}
        teacher_typed = {k: _coerce(f"[tasks.teacher] {k}", v, teacher_types.get(k, str)) for k, v in teacher.items()}
        return cls(**typed, teacher=TeacherSettings(**teacher_typed))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if kind is int and float(value) != number:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return number
