"""The in-process `vllm.LLM` backend (extra `vllm`, GPU batch workers): the same `chat` contract as the
HTTP endpoints, without a server. vLLM is imported only when this backend is chosen.

Calls that arrive while the engine is busy are gathered and generated as one batch: vLLM's throughput
comes from batching, and `LLM` itself is not safe to call from several threads at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from drsynth.synth.teacher.config import TeacherConfig

MISSING = ("the teacher backend 'vllm' needs the vllm package: install drsynth[vllm] on a GPU machine "
           "(pip install 'drsynth[vllm]'), or use backend = \"openai\" against a `vllm serve` endpoint")


def load_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ImportError(MISSING) from error
    return vllm


class VLLMBackend:
    def __init__(self, config: TeacherConfig, **engine_args: Any) -> None:
        self._vllm = load_vllm()
        self.config = config
        self._llm = self._vllm.LLM(model=config.model, **engine_args)
        self._pending: list[tuple[dict, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def chat(self, payload: dict) -> tuple[str, int, int, str | None]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((payload, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                outputs = await asyncio.to_thread(self._generate, [payload for payload, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)

    def _generate(self, payloads: list[dict]) -> list[tuple[str, int, int, str | None]]:
        params = [self._params(payload) for payload in payloads]
        outputs = self._llm.chat([payload["messages"] for payload in payloads], params, use_tqdm=False)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            results.append((completion.text, len(output.prompt_token_ids or ()), len(completion.token_ids or ()),
                            completion.finish_reason))
        return results

    def _params(self, payload: dict) -> Any:
        extra = dict(payload.get("extra_body") or {})
        if payload.get("json_schema") is not None:
            guided = getattr(getattr(self._vllm, "sampling_params", None), "GuidedDecodingParams", None)
            if guided is not None:
                extra.setdefault("guided_decoding", guided(json=payload["json_schema"]))
        # the sample index seeds sampling: k samples of one prompt differ, and a rerun repeats them
        return self._vllm.SamplingParams(temperature=payload["temperature"], max_tokens=payload["max_tokens"],
                                         stop=payload.get("stop"), seed=payload.get("sample_index"), **extra)

    async def close(self) -> None:
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)
