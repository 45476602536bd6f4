"""`google_scholar(query: list[str])`: an adapter to a hosted scholar search API (Serper-style JSON).

The API's URL and the environment variable holding its key are configuration; the key is sent only as
a header (see `HostedSearchAPI`).
"""

from __future__ import annotations

from typing import Any

from drsynth.synth.tools.base import Tool, ToolError, ToolResult, TransientToolError
from drsynth.synth.tools.search import HostedSearchAPI


def format_paper(n: int, item: dict) -> str:
    title = item.get("title") or "(untitled)"
    link = item.get("link") or item.get("pdfUrl") or ""
    lines = [f"{n}. [{title}]({link})" if link else f"{n}. {title}"]
    facts = []
    if item.get("publicationInfo"):
        facts.append(str(item["publicationInfo"]))
    if item.get("year"):
        facts.append(f"year: {item['year']}")
    if item.get("citedBy") is not None:
        facts.append(f"cited by: {item['citedBy']}")
    if item.get("pdfUrl"):
        facts.append(f"pdf: {item['pdfUrl']}")
    if facts:
        lines.append("; ".join(facts))
    if item.get("snippet"):
        lines.append(str(item["snippet"]))
    return "\n".join(lines)


class GoogleScholar(Tool):
    name = "google_scholar"
    description = "Search Google Scholar for academic publications; returns the top results for each query."
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"query": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                 "description": "The search queries for Google Scholar."}},
        "required": ["query"],
    }

    def __init__(self, api: HostedSearchAPI | str, *, k: int = 10, max_queries: int = 5,
                 key_env: str = "SERPER_API_KEY", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api = api if isinstance(api, HostedSearchAPI) else HostedSearchAPI(api, key_env=key_env)
        self.k = k
        self.max_queries = max_queries

    @property
    def endpoint(self) -> str:
        return self.api.endpoint

    def cache_identity(self) -> dict:
        return {"endpoint": self.api.endpoint, "k": self.k}

    async def run(self, arguments: dict) -> ToolResult:
        queries = [q.strip() for q in arguments["query"] if q.strip()][: self.max_queries]
        if not queries:
            raise ToolError("empty query: give at least one non-empty search query")
        parts = []
        for query in queries:
            try:
                data = await self.api.post({"q": query, "num": self.k})
            except TransientToolError:
                raise
            except ToolError as exc:
                parts.append(f"A Google Scholar search for '{query}' failed: {exc}")
                continue
            items = [i for i in (data.get("organic") or []) if isinstance(i, dict)][: self.k]
            if not items:
                parts.append(f"No Google Scholar results for '{query}'.")
                continue
            body = "\n\n".join(format_paper(n, item) for n, item in enumerate(items, 1))
            parts.append(f"A Google Scholar search for '{query}' found {len(items)} results:\n\n{body}")
        return ToolResult("\n=======\n".join(parts))
