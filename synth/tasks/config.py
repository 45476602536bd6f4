"""Task synthesis settings: the `[tasks]` TOML section and its `[tasks.teacher]` table."""

from __future__ import annotations

from typing import Literal, Self, get_args

from pydantic import Field, field_validator, model_validator

from drsynth.synth.sections import EnvName, Section

Writer = Literal["template", "teacher"]
WRITERS: tuple[str, ...] = get_args(Writer)


class TeacherSettings(Section):
    """The `[tasks.teacher]` table: an OpenAI-compatible endpoint that writes question wording (with
    `writer = "teacher"`). The key itself never lives here: only the name of the environment variable
    that holds it."""

    base_url: str = "http://127.0.0.1:8000/v1"
    """The endpoint's OpenAI-compatible base URL (http or https), e.g. a vLLM server's ".../v1"."""
    model: str = Field("teacher", min_length=1)
    """The model name the endpoint serves."""
    api_key_env: EnvName = "DRSYNTH_TEACHER_API_KEY"
    """Name of the environment variable that holds the endpoint's API key (letters, digits, underscores);
    the key itself never goes into the settings."""
    timeout_s: float = Field(60.0, gt=0)
    """Seconds one request may take."""
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    """Sampling temperature of the question wording; 0: the most likely wording."""
    max_retries: int = Field(2, ge=0)
    """Further tries of a failed request; 0: never retry."""
    concurrency: int = Field(4, ge=1)
    """Requests in flight within one batch; in the flows, at the endpoint over all runs."""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, base_url: str) -> str:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"[tasks.teacher] base_url must be an http(s) URL, got {base_url!r}")
        return base_url


class TaskConfig(Section):
    """The `[tasks]` section: QA task synthesis (subgraph sampling, the question writer, selection)."""

    subgraphs: int = Field(150, ge=1)
    """Random walks over the graph to run, before subgraphs of the same shape are deduplicated."""
    min_edges: int = Field(2, ge=1)
    """Fewest edges of a sampled subgraph; a shorter walk is dropped (except a lone entity's)."""
    max_edges: int = Field(6, ge=1, le=32)
    """Most edges of a sampled subgraph (each walk draws its length between min_edges and this);
    at least min_edges."""
    jump_back: float = Field(0.3, ge=0.0, lt=1.0)
    """Chance per step that a walk continues from an earlier visited node instead of the last one;
    0: plain paths."""
    low_degree_bias: float = Field(1.0, ge=0.0, le=10.0)
    """Walk seeds are drawn with probability ∝ (degree + 1) ** -bias: higher favours rarely linked
    entities; 0: every seed alike."""
    max_per_shape: int = Field(3, ge=1)
    """Subgraphs kept per shape (Weisfeiler-Lehman hash of the subgraph)."""
    seed: int = 0
    """Random seed of the walks and task plans: the same seed and graph give the same subgraphs."""
    subgraphs_per_task: int = Field(64, ge=1)
    """Subgraphs in one question-writing batch (one Prefect task)."""
    writer: Writer = "template"
    """Who words the questions: "template" (fixed templates, no model) or "teacher" (the [tasks.teacher]
    endpoint)."""
    # selection (synth/tasks/select.py): no question twice, no answer or relation dominating the pool
    max_per_answer: int = Field(2, ge=1)
    """Most tasks with one answer (compared as folded text)."""
    max_per_entity: int = Field(2, ge=1)
    """Most tasks whose answer is one entity, whatever its spelling."""
    max_relation_share: float = Field(0.25, gt=0.0, le=1.0)
    """Largest share of the task pool one (relation, answer type) may hold (but see min_per_relation)."""
    min_per_relation: int = Field(10, ge=1)
    """Tasks one (relation, answer type) may always have, whatever max_relation_share allows."""
    near_duplicate_threshold: float = Field(0.8, gt=0.0, lt=1.0)
    """A question whose estimated Jaccard similarity of word 3-gram shingles with a kept one reaches this
    is a near duplicate and dropped."""
    level3_search_k: int = Field(0, ge=0)
    """Level 3 tasks: no single query built from the question's constants may find the answer's page in
    the local search index's top k. 0: automatic (1 on corpora under 1,000 documents, 10 above)."""
    hub_share: float = Field(0.02, ge=0.0, lt=1.0)
    """Share of the most connected entities (at least one when the graph has edges) that are never hidden
    in level 3 tasks: the corpus's topic would give them away. 0: none."""
    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    """[tasks.teacher] The endpoint that words questions when writer = "teacher"."""

    @model_validator(mode="after")
    def _check_edges(self) -> Self:
        if self.max_edges < self.min_edges:
            raise ValueError(f"[tasks] max_edges ({self.max_edges}) must be >= min_edges ({self.min_edges})")
        return self
