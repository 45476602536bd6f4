"""RL rollouts: G multi-turn ReAct trajectories per task with the project's agent runner and tools, judged.

Two policies write the assistant turns:

- `HFPolicy` samples with Hugging Face `generate` on the model being trained. It is token-in/token-out:
  it keeps, per rollout, the exact token ids the model was shown and sampled (a `Segment`), with the
  behaviour log-probability of every sampled token, so the loss trains on the very tokens that were
  sampled (a decoded-then-re-encoded turn can tokenize differently). Each turn's new context (the end of
  the last turn, the tool response, the next assistant header) is the chat template's rendering of the
  conversation minus what the segment already holds. When the rendered conversation is no longer an
  extension of the segment (the runner cut old observations to fit the context, or a template rewrites
  history), a new segment starts from the whole rendered prompt: every segment is a training sequence
  holding exactly what the model saw for its turns.
  A turn ends like `TeacherPolicy` cuts it (`cut_at_action`: after the first `</tool_call>`/`</answer>`
  outside `<think>`), at a sampled end token, or at `max_new_tokens`. The turn's text the runner sees is
  cut right after the action; the trained tokens run to the end of the token that completed it. The
  end-of-turn token that the template appends after a cut turn was not sampled and is not trained.
  Concurrent rollouts share one `Generator`, which batches their pending turns into one `generate` call.
- `EndpointPolicy` asks an OpenAI-compatible endpoint (e.g. `vllm serve`) through the project's teacher
  client. Its trajectories are tokenized afterwards with the chat template, the assistant turns trained
  exactly as SFT masks them (as the conversation ended: an observation the runner cut to fit the context
  is trained as cut), and the log-probabilities are recomputed with the current model. For strictly
  on-policy training the endpoint must serve the current policy: with vLLM that means loading the new
  weights after every optimizer step (restart `vllm serve` on an export of the current weights, or use a
  weight-update endpoint); this module does not do the reload.

Log-probabilities are of the temperature-scaled distribution, log softmax(logits / T): the one the loss
computes. With `top_p < 1` the sampler draws from a truncated distribution, which the generator's recorded
log-probabilities reflect but the loss does not model; keep top_p = 1 for RL. (`generate`'s own warpers are
left neutral and a processor of ours applies temperature and top-p and records the result, because
transformers runs custom processors before its warpers: recording there would miss the temperature.)

Rewards come from the project's judge (`filters.judges.match.MatchJudge`, imported when first used):
1.0 when the verdict is correct, else 0.0. A rollout enters the loss only when it ended with an answer
(termination "answer") that the judge found correct or incorrect (not `no_answer`, e.g. an empty
`<answer>`, nor `error`); see `training.rl.advantage`.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drsynth.synth.agent.policy import Policy, PolicyError, TeacherPolicy, cut_at_action
from drsynth.synth.agent.runner import AgentLimits, TokenCounter, Trajectory, run_react

if TYPE_CHECKING:
    import torch

    from drsynth.synth.tools.base import Toolbox

_PROBE = "\x00"  # appended so that `cut_at_action` tells an action ending at the very end from no action


def action_end(text: str) -> int | None:
    """Where the turn's action ends in `text` (the cut `cut_at_action` makes), or None if it has none yet."""
    probe = text + _PROBE
    cut = cut_at_action(probe)
    return len(cut) if len(cut) < len(probe) else None


@dataclass
class Segment:
    """One training sequence: token ids, which of them were sampled by the policy (trained), and the
    behaviour log-probability of each (NaN where unknown: context tokens, or an endpoint's turns)."""
    ids: list[int] = field(default_factory=list)
    trained: list[bool] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    def add(self, ids: Sequence[int], *, trained: bool, logprobs: Sequence[float] | None = None) -> None:
        self.ids.extend(ids)
        self.trained.extend([trained] * len(ids))
        self.logprobs.extend(logprobs if logprobs is not None else [math.nan] * len(ids))

    @property
    def trained_tokens(self) -> int:
        return sum(self.trained)


@dataclass
class Rollout:
    task: dict  # the rl_tasks row
    index: int  # sample index within the task's group
    trajectory: Trajectory
    segments: list[Segment]
    verdict: str = "no_answer"  # correct | incorrect | no_answer | error
    reward: float = 0.0
    advantage: float = 0.0

    @property
    def included(self) -> bool:
        """In the loss (and in its group's baseline): it gave an answer and the judge could judge it."""
        return (self.trajectory.termination == "answer" and self.verdict in ("correct", "incorrect")
                and any(s.trained_tokens for s in self.segments))

    @property
    def tokens(self) -> int:
        return sum(s.trained_tokens for s in self.segments)


class ChatRenderer:
    """The tokenizer's chat template as text, and text to token ids without added special tokens."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.end_ids = sorted({i for i in (eos, tokenizer.eos_token_id) if isinstance(i, int) and i >= 0
                               and i != tokenizer.unk_token_id})
        if not self.end_ids:
            raise ValueError("the tokenizer has no end-of-turn token (<|im_end|> or eos)")
        self.end_text = tokenizer.decode([self.end_ids[0]], skip_special_tokens=False)

    def prompt(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages],
                                                  tokenize=False, add_generation_prompt=True)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def counter(self) -> TokenCounter:
        """Token counts for the runner's context limit, with this tokenizer."""
        return TokenCounter(self.encode, name=getattr(self.tokenizer, "name_or_path", "") or "hf-tokenizer")


@dataclass
class Generation:
    ids: list[int]  # the sampled tokens of the turn, through the token that ended it
    logprobs: list[float]  # behaviour log-probability of each
    text: str  # the turn as the runner sees it: cut after its action, without the end token
    finish: str  # action | eos | length


class _Sampling:
    """The logits processor that makes the sampling distribution — temperature, then top-p — and keeps its
    log-softmax for `_Recorder`. `generate` itself is asked for temperature 1 and no top-k/top-p, so no warper
    of its own (whatever order it puts them in) changes the distribution after this one has recorded it."""

    def __init__(self, temperature: float, top_p: float) -> None:
        from transformers import TopPLogitsWarper

        self.temperature = temperature
        self.top_p = TopPLogitsWarper(top_p) if top_p < 1 else None
        self.last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        if self.temperature > 0 and self.temperature != 1.0:
            scores = scores / self.temperature
        if self.top_p is not None:
            scores = self.top_p(input_ids, scores)
        self.last = torch.log_softmax(scores.float(), dim=-1)
        return scores


class _Recorder:
    """A stopping criterion, called right after each token is appended: it records the token's behaviour
    log-probability and stops a row once its turn's action is complete."""

    def __init__(self, renderer: ChatRenderer, width: int, closes: torch.Tensor, sampling: _Sampling) -> None:
        self.renderer = renderer
        self.width = width  # the padded prompt length: generated tokens start here
        self.closes = closes  # per vocabulary id: whether the token's text contains ">"
        self.scores = sampling
        self.steps: list[torch.Tensor] = []
        self.stopped: dict[int, int] = {}  # row -> the step whose token completed the action

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        token = input_ids[:, -1]
        last = self.scores.last
        assert last is not None
        self.steps.append(last.gather(1, token[:, None].to(last.device)).squeeze(1))
        step = input_ids.shape[1] - self.width - 1
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        candidates = self.closes[token.clamp(max=self.closes.numel() - 1)]
        for row in torch.nonzero(candidates).flatten().tolist():
            if row in self.stopped:
                done[row] = True
            elif action_end(self.renderer.decode(input_ids[row, self.width:].tolist())) is not None:
                self.stopped[row] = step
                done[row] = True
        for row in self.stopped:
            done[row] = True
        return done


class Generator:
    """Samples assistant turns with `model.generate`; concurrent `generate` calls are batched (left padded)
    into one call of at most `max_batch` prompts."""

    def __init__(self, model: Any, tokenizer: Any, *, max_new_tokens: int, temperature: float = 1.0,
                 top_p: float = 1.0, max_batch: int = 64, max_length: int | None = None,
                 gather_s: float = 0.005) -> None:
        self.model = model
        self.renderer = ChatRenderer(tokenizer)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.max_batch = max_batch
        self.max_length = max_length or int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.gather_s = gather_s
        self.calls = 0  # generate calls made
        self.generated = 0  # tokens sampled (kept)
        self._queue: list[tuple[list[int], asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._closes: torch.Tensor | None = None

    @functools.cached_property
    def pad_id(self) -> int:
        tokenizer = self.renderer.tokenizer
        pad = tokenizer.pad_token_id
        return pad if isinstance(pad, int) and pad >= 0 else self.renderer.end_ids[0]

    def _closing_tokens(self, device: Any) -> torch.Tensor:
        """Per vocabulary id, on `device`: whether the token may complete an action (its text has a ">")."""
        import torch

        if self._closes is None or self._closes.device != torch.device(device):
            # token pieces keep ">" as is (byte-level BPE) or as "<0x3E>" (byte fallback): either way the
            # piece has a ">" exactly when the token's text may; extra candidates only cost a check
            size = max(self.model.config.vocab_size, len(self.renderer.tokenizer))
            pieces = self.renderer.tokenizer.convert_ids_to_tokens(list(range(len(self.renderer.tokenizer))))
            flags = [False] * size
            for i, piece in enumerate(pieces):
                flags[i] = piece is None or ">" in piece
            for i in (*self.renderer.end_ids, self.pad_id):  # they end a turn, or fill one that has ended
                flags[i] = False
            self._closes = torch.tensor(flags, dtype=torch.bool, device=device)
        return self._closes

    def reset(self) -> None:
        """Forget turns queued in an event loop that is gone (each rollout batch runs in its own loop)."""
        self._queue = []
        self._worker = None

    async def generate(self, prompt: list[int]) -> Generation:
        """One turn for one prompt, batched with the other rollouts' pending turns."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((prompt, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(self.gather_s)  # let the other rollouts reach their next turn
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            try:
                results = await asyncio.to_thread(self.generate_batch, [prompt for prompt, _ in batch])
            except Exception as error:  # one failed call fails its turns (termination error), not the run
                for _, future in batch:
                    if not future.done():
                        future.set_exception(PolicyError(f"generate failed: {type(error).__name__}: {error}"))
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def generate_batch(self, prompts: list[list[int]]) -> list[Generation]:
        """Sample one turn for each prompt (synchronous: one `generate` call)."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        width = max(len(p) for p in prompts)
        room = min(self.max_new_tokens, self.max_length - width)
        if room < 1:
            raise PolicyError(f"a prompt of {width} tokens leaves no room to generate within {self.max_length}")
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        sample = self.temperature > 0
        recorder = _Recorder(self.renderer, width, self._closing_tokens(device),
                             _Sampling(self.temperature, self.top_p if sample else 1.0))
        # every processor that would change the distribution is neutral: `_Sampling` makes it
        config = GenerationConfig(
            do_sample=sample, temperature=1.0, top_p=1.0, top_k=0, min_p=None, typical_p=1.0,
            repetition_penalty=1.0, no_repeat_ngram_size=0, max_new_tokens=room, min_new_tokens=0,
            pad_token_id=self.pad_id, eos_token_id=list(self.renderer.end_ids), num_return_sequences=1,
            use_cache=True)
        with torch.no_grad():
            sequences = self.model.generate(
                input_ids=input_ids, attention_mask=attention, generation_config=config,
                logits_processor=LogitsProcessorList([recorder.scores]),
                stopping_criteria=StoppingCriteriaList([recorder]))
        logprobs = torch.stack(recorder.steps, dim=1).float().cpu() if recorder.steps else None
        self.calls += 1
        out = [self._turn(sequences[row, width:].tolist(), logprobs[row].tolist() if logprobs is not None else [],
                          recorder.stopped.get(row)) for row in range(len(prompts))]
        self.generated += sum(len(g.ids) for g in out)
        return out

    def _turn(self, ids: list[int], logprobs: list[float], stopped: int | None) -> Generation:
        end = len(ids)
        finish = "length"
        for t, token in enumerate(ids):
            if stopped is not None and t == stopped:
                end, finish = t + 1, "action"
                break
            if token in self.renderer.end_ids:
                end, finish = t + 1, "eos"
                break
        kept = ids[:end]
        body = kept[:-1] if finish == "eos" else kept
        text = cut_at_action(self.renderer.decode(body))
        return Generation(kept, logprobs[:end], text, finish)


class HFPolicy(Policy):
    """One rollout's policy: turns sampled by a shared `Generator`, recorded token by token in `segments`."""

    name = "rl-hf"

    def __init__(self, generator: Generator, model: str = "policy") -> None:
        self.generator = generator
        self.renderer = generator.renderer
        self.model = model
        self.segments: list[Segment] = []
        self._text = ""  # the rendered conversation the last segment's ids stand for

    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        prompt_text = self.renderer.prompt(messages)
        extends = bool(self.segments) and prompt_text.startswith(self._text)
        new = self.renderer.encode(prompt_text[len(self._text):] if extends else prompt_text)
        context = (self.segments[-1].ids if extends else []) + new
        if len(context) >= self.generator.max_length:
            raise PolicyError(f"the conversation ({len(context)} tokens) fills the model's context "
                              f"({self.generator.max_length})")
        turn = await self.generator.generate(context)
        if not extends:
            self.segments.append(Segment())
        segment = self.segments[-1]
        segment.add(new, trained=False)
        segment.add(turn.ids, trained=True, logprobs=turn.logprobs)
        self._text = prompt_text + turn.text + (self.renderer.end_text if turn.finish == "eos" else "")
        return turn.text


class EndpointPolicy(TeacherPolicy):
    """Turns from an OpenAI-compatible endpoint serving the current policy (cut like the teacher's)."""

    name = "rl-endpoint"


def endpoint_segments(tokenizer: Any, messages: list[dict]) -> list[Segment]:
    """A finished trajectory as one training sequence: the chat template's tokens, the assistant turns
    trained exactly as SFT masks them (`training.data.chat.encode_chat`); none when the template cannot
    mark them (the rollout is then excluded, `no_trained_tokens`)."""
    from drsynth.training.data.chat import ChatTemplateError, encode_chat
    from drsynth.training.data.packing import IGNORE

    marked = [{"role": m["role"], "content": m["content"], "train": m["role"] == "assistant"} for m in messages]
    try:
        sample = encode_chat(tokenizer, marked)
    except ChatTemplateError:
        return []
    ids = sample.input_ids.tolist()
    return [Segment(ids, (sample.labels != IGNORE).tolist(), [math.nan] * len(ids))]


Judge = Any  # filters.judges.match.MatchJudge: `await judge.judge(task_row, answer) -> Verdict`


def make_judge(kind: str) -> Judge:
    if kind == "match":
        from drsynth.filters.judges.match import MatchJudge

        return MatchJudge()
    raise ValueError(f"unknown judge {kind!r}")


def agent_task(row: Mapping[str, Any]) -> dict:
    """What the agent is given of an rl_tasks row: the task's id, its question and level, never the answer."""
    return {"id": row.get("task_id") or row.get("id"), "question": row.get("question"), "level": row.get("level")}


async def judge_rollout(judge: Judge, rollout: Rollout) -> None:
    answer = rollout.trajectory.answer
    try:
        verdict = await judge.judge(rollout.task, answer)
        rollout.verdict = verdict.verdict
        rollout.reward = 1.0 if verdict.correct else 0.0
    except Exception:  # a judge is not supposed to raise; an unjudged rollout stays out of the loss
        rollout.verdict, rollout.reward = "error", 0.0


@dataclass
class RolloutBatch:
    rollouts: list[Rollout]
    seconds: float

    def groups(self) -> list[list[Rollout]]:
        """The rollouts by task (rollouts of one group share their task's row object)."""
        by_task: dict[int, list[Rollout]] = {}
        for rollout in self.rollouts:
            by_task.setdefault(id(rollout.task), []).append(rollout)
        return list(by_task.values())


PolicyFactory = Callable[[], Policy]
SegmentsOf = Callable[[Policy, Trajectory], list[Segment]]


async def collect(tasks: Sequence[Mapping[str, Any]], make_policy: PolicyFactory, segments_of: SegmentsOf,
                  tools: Toolbox, limits: AgentLimits, judge: Judge, *, group_size: int, concurrency: int,
                  today: str, counter: TokenCounter | None = None) -> RolloutBatch:
    """G rollouts of every task (at most `concurrency` in flight), each judged and turned into segments."""
    started = time.monotonic()
    gate = asyncio.Semaphore(concurrency)

    async def one(row: dict, index: int) -> Rollout:
        async with gate:
            policy = make_policy()
            trajectory = await run_react(agent_task(row), policy, tools, limits, sample_index=index, today=today,
                                         tokenizer=counter)
            rollout = Rollout(row, index, trajectory, segments_of(policy, trajectory))
            await judge_rollout(judge, rollout)
            return rollout

    rows = [dict(row) for row in tasks]  # one object per group (a task drawn twice makes two groups)
    rollouts = await asyncio.gather(*(one(row, i) for row in rows for i in range(group_size)))
    return RolloutBatch(list(rollouts), time.monotonic() - started)


def hf_segments(policy: Policy, trajectory: Trajectory) -> list[Segment]:
    assert isinstance(policy, HFPolicy)
    return policy.segments


def endpoint_segments_of(tokenizer: Any) -> SegmentsOf:
    def segments(policy: Policy, trajectory: Trajectory) -> list[Segment]:
        return endpoint_segments(tokenizer, trajectory.messages)

    return segments
