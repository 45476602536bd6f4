"""`visit(url: list[str], goal)`: a page of the corpus reduced to what serves the goal.

Pages come from the `documents` dataset (looked up by url, page_url, canonical_url or a recorded
redirect), or over HTTP through the crawler when that is allowed. The reduction is extractive by
default: the page's paragraphs, infobox entries and table rows are ranked by BM25 against the goal and
the best ones kept within a character budget. With a teacher configured, the teacher writes the
Tongyi-style {rational, evidence, summary}; a failed or malformed answer falls back to the extraction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from drsynth.storage.store import Store
from drsynth.synth.corpus.crawler import CrawlConfig, Crawler, canonicalize_url
from drsynth.synth.corpus.extract import extract_page, sentence_bounds
from drsynth.synth.tools.base import Tool, ToolError, ToolResult, call_parents
from drsynth.synth.tools.text import content_words

if TYPE_CHECKING:
    from drsynth.synth.teacher.client import TeacherClient

DOC_COLUMNS = ["id", "url", "page_url", "canonical_url", "title", "text", "links", "infobox", "tables"]
URL_COLUMNS = ["id", "url", "page_url", "canonical_url"]
MAX_PASSAGE_CHARS = 600


_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ied", "ies", "ed", "es", "s", "ly")


def _stem(word: str) -> str:
    """A crude suffix stripper ("married"/"marry" -> "marri", "composers"/"composed" -> "compos"):
    enough for passage ranking, not a real stemmer."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("i" if suffix in ("ied", "ies") else "")
            break
    return word[:-1] + "i" if word.endswith("y") and len(word) > 3 else word


def terms_of(text: str) -> list[str]:
    return [_stem(w) for w in content_words(text)]


class CorpusPages:
    """Documents of a store found by any of their URLs; the URL map is built once, on first use."""

    def __init__(self, store: Store, *, max_cached_docs: int = 256) -> None:
        self.store = store
        self._where: dict[str, tuple[str, str, int]] | None = None  # url -> (doc id, file, row group)
        self._lock = threading.Lock()
        self._docs: OrderedDict[str, dict] = OrderedDict()
        self._max_cached = max_cached_docs

    @property
    def endpoint(self) -> str:
        return f"store:{self.store.uri}"

    def _build(self) -> dict[str, tuple[str, str, int]]:
        where: dict[str, tuple[str, str, int]] = {}
        for path in self.store.files("documents"):
            groups = len(list(self.store.row_group_ids(path)))
            for group in range(groups):
                for row in self.store.iter_row_groups(path, [group], URL_COLUMNS):
                    place = (row["id"], path, group)
                    # the final URL wins over the requested and the canonical one when they collide
                    for key in ("canonical_url", "page_url", "url"):
                        if row.get(key):
                            where[row[key]] = place
                            with contextlib.suppress(ValueError):
                                where.setdefault(canonicalize_url(row[key]), place)
        if "redirects" in self.store.datasets():
            for row in self.store.rows("redirects", ["url", "target"]):
                target = where.get(row.get("target") or "")
                if target and row.get("url"):
                    where.setdefault(row["url"], target)
        # the same URL with its percent-escapes decoded: "Foo_(film)" finds "Foo_%28film%29" and the other
        # way round, "Ender's" finds "Ender%27s", "#title=Foo (film)" a text record's "#title=Foo%20%28film%29"
        for key, place in list(where.items()):
            where.setdefault(_decoded(key), place)
        return where

    def _map(self) -> dict[str, tuple[str, str, int]]:
        with self._lock:
            if self._where is None:
                self._where = self._build()
            return self._where

    def locate(self, url: str) -> tuple[str, str, int] | None:
        where = self._map()
        candidates = [url, url.split("#", 1)[0]]
        with contextlib.suppress(ValueError):
            candidates.append(canonicalize_url(url))
        candidates += [_decoded(c) for c in candidates]
        for candidate in candidates:
            if candidate in where:
                return where[candidate]
        return None

    def get(self, url: str) -> dict | None:
        place = self.locate(url)
        if place is None:
            return None
        doc_id, path, group = place
        with self._lock:
            if doc_id in self._docs:
                self._docs.move_to_end(doc_id)
                return self._docs[doc_id]
        rows = list(self.store.iter_row_groups(path, [group], DOC_COLUMNS, ids=[doc_id]))
        if not rows:
            return None
        with self._lock:
            self._docs[doc_id] = rows[0]
            while len(self._docs) > self._max_cached:
                self._docs.popitem(last=False)
        return rows[0]


def _decoded(url: str) -> str:
    """A URL's lookup key with percent-escapes decoded: one spelling of the many that escape differently
    (the crawler keeps "(" and "'" as written, MediaWiki writes "%27", a client may escape either)."""
    return unquote(url)


@dataclass(frozen=True)
class Passage:
    text: str
    order: int
    kind: str  # text | infobox | table


def passages(doc: dict) -> list[Passage]:
    """The page's paragraphs (long ones cut at sentence ends), infobox entries and table rows."""
    out: list[Passage] = []
    title = (doc.get("title") or "").strip()
    for line in (doc.get("text") or "").split("\n"):
        line = line.strip()
        if not line or line == title:
            continue
        for piece in _split_long(line):
            out.append(Passage(piece, len(out), "text"))
    entries = [f"{e['key']}: {e['value']}" for e in doc.get("infobox") or () if e.get("key") and e.get("value")]
    for entry in entries:
        out.append(Passage(f"[infobox] {entry}", len(out), "infobox"))
    for table in doc.get("tables") or ():
        header = table.get("header") or []
        caption = table.get("caption") or "table"
        for row in table.get("rows") or ():
            cells = [f"{h}: {v}" if h else str(v) for h, v in zip(header, row, strict=False)] if header else row
            out.append(Passage(f"[{caption}] " + "; ".join(str(c) for c in cells), len(out), "table"))
    return out


def _split_long(paragraph: str) -> list[str]:
    """A long paragraph as runs of whole sentences of at most MAX_PASSAGE_CHARS (a longer sentence alone)."""
    if len(paragraph) <= MAX_PASSAGE_CHARS:
        return [paragraph]
    bounds = [*sentence_bounds(paragraph), len(paragraph)]
    pieces, start = [], 0
    for prev, end in itertools.pairwise(bounds):
        if end - start > MAX_PASSAGE_CHARS and prev > start:
            pieces.append(paragraph[start:prev].strip())
            start = prev
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


def bm25_scores(query_terms: Sequence[str], docs: Sequence[Sequence[str]], k1: float = 1.2,
                b: float = 0.75, weights: dict[str, float] | None = None) -> list[float]:
    n = len(docs)
    if not n or not query_terms:
        return [0.0] * n
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(t for d in docs for t in set(d))
    weights = weights or {}
    idf = {t: weights.get(t, 1.0) * math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in set(query_terms)}
    scores = []
    for d in docs:
        tf = Counter(d)
        norm = k1 * (1 - b + b * len(d) / avg)
        scores.append(sum(idf[t] * tf[t] * (k1 + 1) / (tf[t] + norm) for t in idf if tf[t]))
    return scores


def extractive_summary(doc: dict, goal: str, budget_chars: int = 3000) -> dict:
    """{rational, evidence, summary} from the page's own words, the passages nearest to the goal."""
    title = doc.get("title") or doc.get("url") or "the page"
    items = passages(doc)
    goal_terms = terms_of(goal)
    # the page's own subject (its title words) is in most passages and says little about the goal
    subject = set(terms_of(title))
    weights = {t: 0.2 for t in goal_terms if t in subject} if set(goal_terms) - subject else None
    scores = bm25_scores(goal_terms, [terms_of(p.text) for p in items], weights=weights)
    top = max(scores, default=0.0)
    # passages far below the best one only name the page's subject: they would crowd the budget
    ranked = sorted((i for i, s in enumerate(scores) if s > 0 and s >= 0.3 * top), key=lambda i: (-scores[i], i))
    matched = sorted({t for i in ranked for t in terms_of(items[i].text) if t in set(goal_terms)})
    if ranked:
        rational = (f"The page '{title}' has {len(ranked)} passage(s) that mention the goal's terms "
                    f"({', '.join(matched[:12])}); the best-matching ones are quoted as evidence.")
    else:
        rational = (f"No passage of the page '{title}' mentions the goal's terms; "
                    "its opening is quoted instead.")
        ranked = [p.order for p in items]
    chosen, used = [], 0
    for i in ranked:
        size = len(items[i].text) + 1
        if used + size > budget_chars:
            if not chosen:  # one passage is always given, cut to the budget
                chosen.append(i)
            continue
        chosen.append(i)
        used += size
    evidence_parts = [items[i].text for i in sorted(chosen)]
    if chosen and used == 0:
        evidence_parts = [items[chosen[0]].text[:budget_chars]]
    best = items[ranked[0]].text if ranked else ""
    summary = _best_sentences(best, goal_terms) if best else "The page has no text."
    return {"rational": rational, "evidence": "\n".join(evidence_parts), "summary": summary}


def _best_sentences(passage: str, goal_terms: Sequence[str], limit: int = 500) -> str:
    bounds = [*sentence_bounds(passage), len(passage)]
    sentences = [passage[a:b].strip() for a, b in itertools.pairwise(bounds) if passage[a:b].strip()]
    goal = set(goal_terms)
    ranked = sorted(range(len(sentences)), key=lambda i: (-len(goal & set(terms_of(sentences[i]))), i))
    out, used = [], 0
    for i in ranked[:2]:
        if used + len(sentences[i]) > limit and out:
            break
        out.append(i)
        used += len(sentences[i])
    text = " ".join(sentences[i] for i in sorted(out))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def related_links(doc: dict, goal: str, limit: int = 10) -> list[tuple[str, str]]:
    """(anchor, href) of the page's links whose anchor or sentence shares words with the goal, best first."""
    goal_terms = set(terms_of(goal))
    best: dict[str, tuple[float, str]] = {}
    for link in doc.get("links") or ():
        href, anchor = link.get("href"), (link.get("anchor") or "").strip()
        if not href or not anchor:
            continue
        score = 2 * len(goal_terms & set(terms_of(anchor))) + len(goal_terms & set(terms_of(link.get("context") or "")))
        if score and score > best.get(href, (0, ""))[0]:
            best[href] = (score, anchor)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:limit]
    return [(anchor, href) for href, (_, anchor) in ranked]


def render(url: str, goal: str, info: dict, links: Sequence[tuple[str, str]] = ()) -> str:
    text = (f"The useful information in {url} for user goal {goal} as follows: \n\n"
            f"Rational: \n{info['rational']}\n\n"
            f"Evidence in page: \n{info['evidence']}\n\n"
            f"Summary: \n{info['summary']}\n")
    if links:
        text += "\nLinks on the page related to the goal:\n" + "\n".join(f"- [{a}]({h})" for a, h in links) + "\n"
    return text


SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {"rational": {"type": "string"}, "evidence": {"type": "string"}, "summary": {"type": "string"}},
    "required": ["rational", "evidence", "summary"],
}

SUMMARY_PROMPT = """Please process the following webpage content and user goal to extract relevant information.

## Webpage Content
{content}

## User Goal
{goal}

## Task Guidelines
1. rational: locate the specific sections of the page directly related to the user's goal.
2. evidence: quote the most relevant information from those sections, in full original context.
3. summary: a concise paragraph of what the page says about the goal, and how it contributes to it.

Answer with one JSON object with the string fields "rational", "evidence" and "summary", and nothing else."""


def parse_summary(text: str) -> dict | None:
    """The teacher's {rational, evidence, summary}, or None when it is not that JSON object."""
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not all(k in data for k in ("rational", "evidence", "summary")):
        return None
    out = {}
    for key in ("rational", "evidence", "summary"):
        value = data[key]
        out[key] = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def page_content(doc: dict, max_chars: int) -> str:
    body = "\n".join(p.text for p in passages(doc))
    return f"# {doc.get('title') or ''}\n{body}"[:max_chars]


class Visit(Tool):
    name = "visit"
    description = "Visit webpage(s) and return the summary of the content."
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "url": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                    "description": "The URL(s) of the webpage(s) to visit."},
            "goal": {"type": "string", "minLength": 1, "description": "The goal of the visit for webpage(s)."},
        },
        "required": ["url", "goal"],
    }

    def __init__(self, pages: CorpusPages | Store, *, teacher: TeacherClient | None = None,
                 budget_chars: int = 3000, teacher_max_chars: int = 24000, max_urls: int = 5,
                 allow_http: bool = False, crawl_config: CrawlConfig | None = None, show_links: bool = True,
                 **kwargs: Any) -> None:
        kwargs.setdefault("timeout_s", 120.0 if teacher is not None else 30.0)
        super().__init__(**kwargs)
        self.pages = pages if isinstance(pages, CorpusPages) else CorpusPages(pages)
        self.teacher = teacher
        self.budget_chars = budget_chars
        self.teacher_max_chars = teacher_max_chars
        self.max_urls = max_urls
        self.allow_http = allow_http
        self.crawl_config = crawl_config
        self.show_links = show_links
        self.counts: Counter[str] = Counter()

    @property
    def endpoint(self) -> str:
        return self.pages.endpoint

    def cache_identity(self) -> dict:
        return {"endpoint": self.pages.endpoint, "budget": self.budget_chars, "links": self.show_links,
                "summarizer": "teacher" if self.teacher is not None else "extractive"}

    async def run(self, arguments: dict) -> ToolResult:
        goal = arguments["goal"].strip()
        urls = [u.strip() for u in arguments["url"] if u.strip()][: self.max_urls]
        if not urls:
            raise ToolError("no URL given")
        parts, missing = [], 0
        for url in urls:
            doc = await asyncio.to_thread(self.pages.get, url)
            if doc is None and self.allow_http and url.startswith(("http://", "https://")):
                doc = await self._fetch(url)
            if doc is None:
                missing += 1
                self.counts["visit.not_found"] += 1
                parts.append(f"The page {url} could not be visited: it is not in the corpus"
                             + ("" if self.allow_http else " (and fetching over HTTP is disabled)")
                             + ". Use a URL from the search results.")
                continue
            info = await self._summarize(doc, goal)
            links = related_links(doc, goal) if self.show_links else []
            parts.append(render(url, goal, info, links))
        return ToolResult("\n=======\n".join(parts), error="not_found" if missing == len(urls) else None)

    async def _summarize(self, doc: dict, goal: str) -> dict:
        extractive = await asyncio.to_thread(extractive_summary, doc, goal, self.budget_chars)
        if self.teacher is None:
            self.counts["visit.extractive"] += 1
            return extractive
        # the teacher's requests row names the parents of this call (per asyncio task: never another
        # trajectory's, when trajectories share the tool)
        prompt = SUMMARY_PROMPT.format(content=page_content(doc, self.teacher_max_chars), goal=goal)
        result = await self.teacher.chat([{"role": "user", "content": prompt}], purpose="summarizer",
                                         json_schema=SUMMARY_SCHEMA, parents=call_parents())
        parsed = None if result.error else parse_summary(result.text)
        if parsed is None:
            reason = f"teacher error: {result.error}" if result.error else "the summarizer's answer was not valid JSON"
            self.counts["visit.summarizer_fallback"] += 1
            extractive["rational"] += f" (extractive fallback: {reason})"
            return extractive
        self.counts["visit.teacher"] += 1
        return parsed

    async def _fetch(self, url: str) -> dict | None:
        base = self.crawl_config or CrawlConfig()
        config = base.model_copy(update={"max_depth": 0, "max_pages": 1})  # this one page, no links
        page = None
        async for dataset, row in Crawler(config).crawl([url]):
            if dataset == "pages":
                page = row
                break
        if page is None:
            self.counts["visit.http_failed"] += 1
            return None
        dataset, doc = await asyncio.to_thread(extract_page, page)
        self.counts[f"visit.http_{'ok' if dataset == 'documents' else 'unextractable'}"] += 1
        return doc if dataset == "documents" else None
