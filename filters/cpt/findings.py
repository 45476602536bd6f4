"""What tool observations establish, extracted without a model: findings, open leads, a running report.

An observation is read by the shape the project's tools give it (synth/tools): search results ("A search
for 'q' found N results" and numbered `[title](url)` hits with snippets), visited pages ("The useful
information in URL ...", its evidence, summary and related links), anything else as plain lines. Several
results of one call are joined by "=======".

A finding is one sentence (or infobox line) of an observation, kept when it shares content words with
the question and the action's goal, best first, a few per observation, each with its source URL. Every
finding's text is the observation's own words (markdown emphasis and tags removed), so a report built
from findings says nothing the observations did not.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field

from drsynth.filters.cpt.steps import NOT_RUN
from drsynth.synth.corpus.extract import sentence_bounds
from drsynth.synth.tools.visit import terms_of

PART_SEPARATOR = "\n=======\n"
_SEARCH_HEAD = re.compile(r"^A search for '(.*)' found \d+ results:", re.S)
_VISIT_HEAD = re.compile(r"^The useful information in (\S+) for user goal (.*?) as follows:", re.S)
_HIT = re.compile(r"^\d+\.\s*\[([^\]\n]*)\]\((\S+?)\)\s*$")
_LINK = re.compile(r"^-\s*\[([^\]\n]*)\]\((\S+?)\)\s*$")
_SECTION = re.compile(r"^(Rational|Evidence in page|Summary): *$")
_TAG = re.compile(r"</?[a-zA-Z_][^<>]*>")
_LABEL = re.compile(r"^\[(?:infobox)\]\s*")

MAX_FINDING_CHARS = 300


def clean(text: str) -> str:
    """Observation text as a report quotes it: no markdown emphasis, tags or snippet ellipses."""
    text = _TAG.sub(" ", text.replace("**", ""))
    text = " ".join(text.split()).strip()
    return text.strip("… ").strip()


def sentences(text: str) -> list[str]:
    bounds = [*sentence_bounds(text), len(text)]
    return [s for a, b in itertools.pairwise(bounds) if (s := text[a:b].strip())]


def cap(text: str, limit: int = MAX_FINDING_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:") + "…"


@dataclass(frozen=True)
class Lead:
    """A page an observation points to: a search hit or a related link."""
    title: str
    url: str
    snippet: str = ""
    rank: int = 0  # 1-based position among the hits of its search (0 for page links)
    query: str = ""  # the search that found it


@dataclass
class Observation:
    """One tool result, read."""
    kind: str  # search | visit | other | error
    units: list[tuple[str, str]] = field(default_factory=list)  # (sentence, source URL or "")
    hits: list[Lead] = field(default_factory=list)
    links: list[Lead] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)  # URLs whose content it holds
    queries: list[str] = field(default_factory=list)


def read_observation(text: str | None) -> Observation:
    if not text or not text.strip() or text.startswith(("Error", "Format error", NOT_RUN)):
        return Observation("error")
    out = Observation("other")
    kinds = set()
    for part in text.split(PART_SEPARATOR):
        part = part.strip()
        if (match := _SEARCH_HEAD.match(part)) is not None:
            kinds.add("search")
            _read_search(part, match.group(1), out)
        elif (match := _VISIT_HEAD.match(part)) is not None:
            kinds.add("visit")
            _read_visit(part, match.group(1), out)
        elif part.startswith(("No results found for", "A search for ")):  # nothing found, or a failed query
            kinds.add("search")
        elif part.startswith("The page ") and "could not be visited" in part:
            kinds.add("visit")
        else:
            kinds.add("other")
            out.units.extend((s, "") for line in part.splitlines() for s in sentences(clean(line)))
    out.kind = kinds.pop() if len(kinds) == 1 else "other"
    return out


def _read_search(part: str, query: str, out: Observation) -> None:
    out.queries.append(query)
    lines = part.splitlines()
    current: tuple[str, str] | None = None
    snippet: list[str] = []

    def close() -> None:
        if current is not None:
            raw = " ".join(snippet)
            text, title = clean(raw), clean(current[0])
            if title and not raw.startswith("…") and text.startswith(f"{title} "):
                text = text[len(title) + 1:]  # a snippet from the top of a page opens with its title line
            out.hits.append(Lead(clean(current[0]), current[1], text, len(out.hits) + 1, query))
            parts = sentences(text)
            if parts and raw.startswith("…") and not parts[0][0].isupper():
                parts = parts[1:]  # the snippet starts inside a sentence: "… who founded the yard."
            out.units.extend((s, current[1]) for s in parts)

    for line in lines[1:]:
        if (match := _HIT.match(line.strip())) is not None:
            close()
            current, snippet = (match.group(1), match.group(2)), []
        elif current is not None and line.strip():
            snippet.append(line.strip())
    close()
    # ranks restart with each query of the call
    first = len(out.hits) - sum(1 for h in out.hits if h.query == query)
    out.hits[first:] = [Lead(h.title, h.url, h.snippet, i + 1, h.query) for i, h in enumerate(out.hits[first:])]


def _read_visit(part: str, url: str, out: Observation) -> None:
    out.visited.append(url)
    section = ""
    for line in part.splitlines()[1:]:
        stripped = line.strip()
        if (match := _SECTION.match(stripped)) is not None:
            section = match.group(1)
            continue
        if stripped.startswith("Links on the page related to the goal"):
            section = "links"
            continue
        if not stripped:
            continue
        if section == "links":
            if (link := _LINK.match(stripped)) is not None:
                out.links.append(Lead(clean(link.group(1)), link.group(2)))
        elif section in ("Evidence in page", "Summary"):
            text = clean(_LABEL.sub("", stripped))
            out.units.extend((s, url) for s in (sentences(text) if not stripped.startswith("[") else [text]))


@dataclass(frozen=True)
class Finding:
    text: str  # the observation's words
    source: str  # the URL it came from ("" for tool output)
    score: int  # content words shared with the question and the goal
    order: int  # when it was found: a running count


@functools.lru_cache(maxsize=1 << 16)  # the same sentences are scored against every step's focus
def terms(text: str) -> frozenset[str]:
    return frozenset(terms_of(text))


def focus_terms(*texts: str) -> frozenset[str]:
    return frozenset().union(*(terms(text) for text in texts))


def score(text: str, focus: frozenset[str]) -> int:
    return len(focus & terms(text))


def findings(observation: Observation, focus: frozenset[str], *, limit: int = 3, start: int = 0,
             seen: set[str] | None = None) -> list[Finding]:
    """The observation's `limit` sentences nearest to `focus` (at least one shared word), best first."""
    seen = seen if seen is not None else set()
    ranked: list[tuple[int, int, str, str]] = []
    for position, (text, source) in enumerate(observation.units):
        key = text.casefold()
        if key in seen or len(text) < 3:
            continue
        value = score(text, focus)
        if value > 0:
            ranked.append((-value, position, text, source))
    chosen: list[Finding] = []
    for neg, _, text, source in sorted(ranked):
        if len(chosen) == limit:
            break
        if text.casefold() not in seen:  # the same sentence twice in one observation counts once
            seen.add(text.casefold())
            chosen.append(Finding(cap(text), source, -neg, start + len(chosen)))
    return chosen


class RunningReport:
    """The memory a context-management agent keeps: findings so far and the open leads, within a budget.

    `add` folds in one observation; `text()` is the report as the agent writes it, within `max_chars`
    where the findings allow (see `_fit`)."""

    def __init__(self, question: str, *, max_chars: int = 2000, per_observation: int = 3,
                 max_leads: int = 5) -> None:
        self.question = question
        self.max_chars = max_chars
        self.per_observation = per_observation
        self.max_leads = max_leads
        self.findings: list[Finding] = []
        self.leads: list[tuple[int, int, Lead]] = []  # (-score, order, lead)
        self.visited: set[str] = set()
        self._seen: set[str] = set()
        self._count = 0

    def add(self, observation: str | None, goal: str = "") -> list[Finding]:
        """Fold in one observation; the findings it added."""
        read = read_observation(observation)
        focus = focus_terms(self.question, goal)
        new = findings(read, focus, limit=self.per_observation, start=self._count, seen=self._seen)
        self._count += len(new)
        new = [f for f in new if self._merge(f)]
        self.visited.update(read.visited)
        question_focus = focus_terms(self.question)
        known = {lead.url for _, _, lead in self.leads}
        for lead in [*read.hits, *read.links]:
            if lead.url in known or lead.url in self.visited:
                continue
            known.add(lead.url)
            self.leads.append((-score(f"{lead.title} {lead.snippet}", question_focus), self._count, lead))
            self._count += 1
        self.leads = sorted((e for e in self.leads if e[2].url not in self.visited),
                            key=lambda e: (e[0], e[1]))[: self.max_leads]
        self._fit()
        return new

    def _merge(self, finding: Finding) -> bool:
        """Add a finding unless known; a snippet cut short and the full sentence read later are one finding,
        the longer. Whether the report learnt something."""
        stem = finding.text.rstrip("…").casefold()
        for i, old in enumerate(self.findings):
            known = old.text.rstrip("…").casefold()
            if known.startswith(stem):
                return False
            if stem.startswith(known):
                self.findings[i] = Finding(finding.text, finding.source, max(finding.score, old.score), old.order)
                return True
        self.findings.append(finding)
        return True

    def _fit(self) -> None:
        """Within budget: the weakest leads beyond the first two go first, then the weakest findings, then
        the last leads."""
        while len(self.text()) > self.max_chars:
            if len(self.leads) > 2 or (self.leads and not self.findings):
                self.leads.pop()
            elif self.findings:
                self.findings.remove(min(self.findings, key=lambda f: (f.score, f.order)))
            else:
                return

    def text(self) -> str:
        lines = ["Findings:"] if self.findings else ["Findings: none yet."]
        lines += [f"- {f.text} [{f.source}]" if f.source else f"- {f.text}"
                  for f in sorted(self.findings, key=lambda f: f.order)]
        if self.leads:
            lines.append("Open leads:")
            lines += [f"- {lead.title} [{lead.url}]" for _, _, lead in self.leads]
        return "\n".join(lines)
