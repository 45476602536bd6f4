"""What several test files share: fake tools and a fake policy that speak the real formats, and the demo's
tasks and scripted trajectories. Plain functions and classes; the fixtures that use them stay in the test
files (conftest.py holds the session-wide ones)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from drsynth.storage.store import Store
from drsynth.synth.agent import Policy, ScriptedSearchPolicy
from drsynth.synth.tools.base import Tool, Toolbox, ToolResult
from drsynth.synth.tools.search import Hit, format_hits
from drsynth.synth.tools.visit import render

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def wiki_url(title: str) -> str:
    return f"http://wiki.test/wiki/{title.replace(' ', '_')}"


class Echo(Tool):
    """The search tool's name and schema; the result echoes the queries."""

    name = "search"
    description = "Search."
    parameters = {"type": "object", "properties": {"query": {"type": "array", "items": {"type": "string"}}},  # noqa: RUF012
                  "required": ["query"]}

    async def run(self, arguments: dict) -> ToolResult:
        return ToolResult("results for " + "; ".join(arguments["query"]))


class FixedSearch(Echo):
    """The real result format of the search tool: the same hits for every query."""

    def __init__(self, hits: Sequence[Hit], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hits = list(hits)

    async def run(self, arguments: dict) -> ToolResult:
        return ToolResult("\n=======\n".join(format_hits(q, self.hits) for q in arguments["query"]))


class FixedVisit(Tool):
    """The real result format of the visit tool: `pages` maps a URL to what the summarizer found there
    (rational, evidence, summary); `links` are listed under every page."""

    name = "visit"
    description = "Visit."
    parameters = {"type": "object", "properties": {"url": {"type": "array", "items": {"type": "string"}},  # noqa: RUF012
                                                   "goal": {"type": "string"}}, "required": ["url", "goal"]}

    def __init__(self, pages: Mapping[str, dict], links: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pages = dict(pages)
        self.links = list(links)

    async def run(self, arguments: dict) -> ToolResult:
        url = arguments["url"][0]
        return ToolResult(render(url, arguments["goal"], self.pages[url], self.links))


class Replies(Policy):
    """Replies from a list in turn (the last one repeated); counts the calls."""

    name, model = "fake", "fake-1"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.calls = 0

    async def respond(self, messages: list[dict], *, sample_index: int) -> str:
        self.calls += 1
        return self.replies[min(self.calls - 1, len(self.replies) - 1)]


def write_demo_tasks(demo_subgraphs: SimpleNamespace, root: str, *, first: int | None = None) -> Store:
    """A store at `root` holding the session's demo subgraphs (conftest's `demo_subgraphs`) and the template
    tasks written from them: from all of them, or from the first batch of `first` subgraphs only."""
    from drsynth.synth.tasks import TaskConfig, select_tasks, subgraph_batches, write_tasks

    shutil.copytree(demo_subgraphs.root, root)
    store, config = Store(root), TaskConfig()
    batches = subgraph_batches(store, demo_subgraphs.graph, first or config.subgraphs_per_task)
    for batch in batches if first is None else batches[:1]:
        write_tasks(store, "tasks-run", demo_subgraphs.graph, batch, config)
    select_tasks(store, "tasks-run", demo_subgraphs.graph, config)
    return store


def tasks_by_level(store: Store, per_level: int) -> list[dict]:
    """The first `per_level` tasks (by id) of each level, level 1 first."""
    tasks = sorted(store.rows("tasks"), key=lambda t: t["id"])
    return [t for level in (1, 2, 3) for t in [t for t in tasks if t["level"] == level][:per_level]]


def scripted_runs(tasks: Sequence[dict], tools: Toolbox, runner: Callable[..., Coroutine], today: str) -> list:
    """The scripted search agent's trajectories of `tasks` by `runner` (run_react, run_context), side by side."""
    async def all_of() -> list:
        return await asyncio.gather(*(runner(t, ScriptedSearchPolicy(), tools, today=today) for t in tasks))

    return run(all_of())
