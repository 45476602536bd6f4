"""The scripted search agent: an offline baseline policy that researches a question with the real tools.

It reads only the conversation (the question and its tool results), never a task's answer, evidence or
formalization, and writes the same message format as a model. Each turn it replays what it has learnt
(search results, pages read) and asks what is still missing:

- the question is parsed into a target (`scripted_question`): an entity described by a head noun and
  clauses ("the long-period comet discovered at the Ostvale Observatory"), or an attribute (a date, year,
  number or related entity) of a subject that is named or itself described; each described entity carries
  the checks its own clauses state (a masked name "whose surname begins with C", a period "born in the
  1890s", a number "whose population is between 150,000 and 200,000");
- a description is resolved from the names in its clauses outwards (never from a masked letter or
  initials: those are checks, not queries): their pages are searched for and read, the entities those
  pages mention are ranked by how well their sentences match the question's words, and the best ones are
  read to check their type (the head noun in their opening sentence) and the checks; when none passes,
  the search hops from the best-matching ones (multi-hop questions); with no name at all it searches for
  the head noun and the clauses' content words;
- an attribute's value is read from the subject's page, from a `Key: value` line or a sentence that names
  the attribute, as the page writes it: a length "3:12", an elevation "2,317 m", a date "22 May 1904";
- `<think>` says what the last result showed (the pages a search found, the candidates a page mentions,
  why a candidate is kept or dropped: its type, its name, a year or a number from its page), what is still
  to be checked, and what it does next. The words come from the question and the tools' results only.

Samples: sample 0 takes the best-ranked route. A later sample (seeded by the question and its index, so
reruns reproduce it) explores: it may phrase its first searches differently (a name with the head noun),
read candidates in another order, take the runner-up where two candidates pass, and give up sooner.

It is a baseline, not a teacher: it reads no more than a regex can, so its accuracy falls with the level.
On the demo (`drsynth demo`, 20 tasks per level, 2 samples each, the filter's match judge):

    level 1  72%  (29/40)  one lookup: a named subject's page, or the entities a named page mentions
    level 2  30%  (12/40)  a hop through a described entity
    level 3  25%  (10/40)  masked names, periods and ranges that only a chain of hops resolves

(scripted-search-1 on the same tasks: 50%, 22%, 12%, with 30 of 60 second samples identical to the first.)
Many of its wrong answers end in an explicit "best guess, not a verified one"; the filter rejects them.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

from filters.judges.normalize import find_durations, find_numbers
from synth.agent.format import (
    ToolCall,
    observation_text,
    parse_context_prompt,
    parse_turn,
    render_turn,
)
from synth.agent.policy import Policy
from synth.agent.runner import SYNTHESIS_MARK
from synth.agent.scripted_question import (
    DATE_RE,
    YEAR_RE,
    Attribute,
    Check,
    Entity,
    constraint_phrases,
    is_initials,
    names_in,
    norm,
    parse_question,
    parse_subject,
    stem,
    stems,
    without_checks,
    words,
)

HIT_RE = re.compile(r"^\s*(?:\d+\.\s*|-\s*)?\[(.+?)\]\((\S+)\)\s*$", re.M)
RESULTS_RE = re.compile(r"^(?:A search for '(.*)' found \d+ results:|No results found for '(.*)'\.)", re.M)
SYNONYMS = {"die": ("died", "death", "dead"), "born": ("born", "birth"), "found": ("founded", "established"),
            "establish": ("established", "founded", "founding"), "open": ("opened", "inaugurated"),
            "discover": ("discovered", "discovery"), "publish": ("published", "publication"),
            "release": ("released", "release"), "build": ("built", "construction"), "launch": ("launched",),
            "acquire": ("acquired", "bought", "acquisition"), "complete": ("completed", "completion"),
            "record": ("recorded", "recording")}
# a number written before one of these is a measure: the answer keeps its unit
MEASURE_UNITS = re.compile(r"^(?:m|km|km2|km²|cm|mm|kg|t|au|ft|mi|ha|%|metres?|meters?|kilometres?|kilometers?|"
                           r"centimetres?|miles?|feet|minutes?|min|seconds?|hours?|h|square kilometres|"
                           r"square miles|acres?|tonnes?|°c|°f)$", re.I)
MAX_HOPS = 3
# a later sample, like a policy sampled at a temperature, takes the runner-up with this probability where two
# candidates pass: k samples of a task can disagree, so pass rates are informative
EXPLORE = 0.4
_LINK_TARGET = re.compile(r"\]\((?:[^()\s]|\([^()\s]*\))*\)")  # "](url)", parentheses in the url included
# characters a URL may hold as they are; anything else (a space, "é", a quote) is percent-encoded
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


def visitable(url: str) -> str:
    """The URL as the visit tool takes it: already-escaped parts kept, spaces and non-ASCII escaped (the
    corpus stores "Caf%C3%A9", "#title=Foo%20%28film%29"; the tool also finds the decoded spelling)."""
    return quote(url.strip(), safe=_URL_SAFE)


def quoted(text: str, limit: int = 140) -> str:
    text = " ".join(text.replace("**", "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def listing(items: list[str], limit: int = 5) -> str:
    items = [f'"{i}"' for i in items]
    if len(items) > limit:
        items = [*items[:limit], f"{len(items) - limit} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else "nothing"


# --- what the agent knows --------------------------------------------------------------------------------

@dataclass
class Memory:
    searched: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    hits: dict[str, tuple[str, str]] = field(default_factory=dict)  # url -> (title, snippet)
    results: dict[str, list[str]] = field(default_factory=dict)  # query -> the urls it returned, best first
    pages: dict[str, str] = field(default_factory=dict)  # url -> what the visit returned

    def learn(self, call: ToolCall, observation: str) -> None:
        if call.name == "search":
            queries = call.arguments.get("query") or []
            queries = [queries] if isinstance(queries, str) else list(queries)
            self.searched += queries
            blocks = list(RESULTS_RE.finditer(observation))
            for i, block in enumerate(blocks):
                end = blocks[i + 1].start() if i + 1 < len(blocks) else len(observation)
                query = block.group(1) if block.group(1) is not None else block.group(2)
                found = parse_hits(observation[block.end():end])
                self.results[query] = [url for _, url, _ in found]
                for title, url, snippet in found:
                    self.hits.setdefault(url, (title, snippet))
        elif call.name == "visit":
            urls = call.arguments.get("url") or []
            urls = [urls] if isinstance(urls, str) else list(urls)
            self.visited += urls
            if len(urls) == 1 and not observation.lstrip().startswith("[visit]") \
                    and "could not be visited" not in observation[:300]:
                self.pages[urls[0]] = page_body(observation)
                for title, url, _ in parse_hits(self.pages[urls[0]]):  # the page's links
                    self.hits.setdefault(url, (title, ""))

    def title(self, url: str) -> str:
        return self.hits.get(url, ("", ""))[0]

    def report(self) -> str:
        """The context-mode report: readable, and all this policy needs to go on."""
        lines = ["Searched: " + json.dumps(self.searched, ensure_ascii=False),
                 "Visited: " + json.dumps(self.visited, ensure_ascii=False),
                 "Results: " + json.dumps(self.results, ensure_ascii=False), "", "## Search results"]
        lines += [f"[{title}]({url})\n{snippet}" for url, (title, snippet) in self.hits.items()]
        lines.append("")
        lines.append("## Pages read")
        for url, text in self.pages.items():
            lines.append(f"### {url}\n{text.strip()}\n### end")
        return "\n".join(lines)

    @classmethod
    def from_report(cls, report: str) -> Memory:
        memory = cls()
        for key, attr in (("Searched", "searched"), ("Visited", "visited"), ("Results", "results")):
            found = re.search(rf"^{key}: (.*)$", report, flags=re.M)
            if found:
                with contextlib.suppress(json.JSONDecodeError, TypeError):
                    value = json.loads(found.group(1))
                    setattr(memory, attr, dict(value) if attr == "results" else list(value))
        results, _, pages = report.partition("## Pages read")
        for title, url, snippet in parse_hits(results):
            memory.hits.setdefault(url, (title, snippet))
        for url, text in re.findall(r"^### (\S+)\n(.*?)\n### end$", pages, flags=re.M | re.S):
            memory.pages[url] = text
        return memory


def page_body(observation: str) -> str:
    """The page's own words in a visit result: its evidence (and summary), without the tool's framing, the
    `[infobox]`/`[table]` markers made into plain `Key: value` lines, and the related links as a list."""
    text = observation
    evidence = re.search(r"Evidence in page:\s*\n(.*?)(?:\n\s*Summary:\s*\n(.*?))?(?=\nLinks on the page|\Z)",
                         text, flags=re.S)
    links = text[text.find("\nLinks on the page"):] if "\nLinks on the page" in text else ""
    if evidence:
        text = evidence.group(1) + "\n" + (evidence.group(2) or "")
    elif text.startswith("The useful information in"):
        text = text.split("\n", 1)[-1]
    text = re.sub(r"^\[infobox\] ", "", text, flags=re.M)
    link_lines = "\n".join(f"[{t}]({u})" for t, u, _ in parse_hits(links))
    return text.strip() + ("\n" + link_lines if link_lines else "")


def parse_hits(text: str) -> list[tuple[str, str, str]]:
    """(title, url, snippet) of every `[title](url)` result or link line, the lines below it its snippet; the
    url as the visit tool takes it."""
    matches = list(HIT_RE.finditer(text))
    hits = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        snippet = " ".join(text[match.end():end].split())
        hits.append((match.group(1).strip(), visitable(match.group(2)), snippet))
    return hits


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", _LINK_TARGET.sub("]", text)) if s.strip()]


_ATTRIBUTE_NOUNS = {"die": "date of death", "died": "date of death", "born": "date of birth",
                    "release": "release date", "found": "founding", "establish": "founding", "discover": "discovery",
                    "publish": "publication", "open": "opening", "build": "construction", "launch": "launch",
                    "acquire": "acquisition", "complete": "completion", "record": "recording",
                    "perform": "first performance", "adopt": "adoption", "paint": "painting"}


def attribute_phrase(target: Attribute) -> str:
    """What an attribute question asks for, as a noun phrase: "die" -> "date of death", "founded" (a year)
    -> "year of founding"."""
    attribute = target.attribute
    if target.kind == "number":
        counted = re.match(r"^(\w+) (died|\w+ed)$", attribute)
        if counted:
            return f"number of {counted.group(1)} who {counted.group(2)}"
        if attribute.endswith("s") and " " not in attribute:
            return f"number of {attribute}"
        return attribute
    if " " in attribute:  # "discovery date", "release date": already a noun phrase
        return attribute
    for key, noun in _ATTRIBUTE_NOUNS.items():
        if attribute.casefold().startswith(key):
            if target.kind == "year":
                return f"year of {noun.removeprefix('date of ').removesuffix(' date')}"
            return noun if noun.startswith("date") or noun.endswith("date") else f"date of {noun}"
    return attribute


class Need(Exception):
    """What the agent must do before it can go on, and why (in the words of its notes)."""

    def __init__(self, call: ToolCall, why: str) -> None:
        super().__init__(why)
        self.call = call
        self.why = why


@dataclass
class Candidate:
    name: str
    kept: bool
    reasons: list[str]


# --- the research ------------------------------------------------------------------------------------------

class Research:
    def __init__(self, question: str, memory: Memory, seed: int, sample_index: int = 0) -> None:
        self.question = question
        self.memory = memory
        self.seed = seed
        self.sample_index = sample_index
        self.target = parse_question(question)
        self.question_names = {norm(n) for n in names_in(question)}
        self.question_stems = stems(question)
        self.width = 4 if not sample_index else 4 + int(self.chance("width") < 0.5)
        # (source, note): what each search (`q:` query) and page (`u:` url) showed, in the order learnt
        self.notes: list[tuple[str, str]] = []
        self.candidates: dict[str, Candidate] = {}
        self.found: list[str] = []  # what was settled on the way ("the painter is Eda Kallas")
        self._urls: dict[str, tuple[int, str | None]] = {}

    def chance(self, key: str) -> float:
        """A number in [0, 1) fixed by the question, the sample and `key`: the same choice every turn."""
        return zlib.crc32(f"{self.seed}:{self.sample_index}:{key}".encode()) / 2**32

    def note(self, source: str, text: str) -> None:
        if (source, text) not in self.notes:
            self.notes.append((source, text))

    # pages ---------------------------------------------------------------------------------------
    def url_for(self, name: str) -> str | None:
        key = norm(name)
        # asked thousands of times per question; search results only ever grow, so an answer holds
        # until the next one arrives
        known = self._urls.get(key)
        if known is not None and known[0] == len(self.memory.hits):
            return known[1]
        url = self._find_url(key)
        self._urls[key] = (len(self.memory.hits), url)
        return url

    def _find_url(self, key: str) -> str | None:
        for url, (title, _) in self.memory.hits.items():
            if norm(title) == key:
                return url
        for url, (title, _) in self.memory.hits.items():
            t = norm(title)
            # "September Revolution of 1921" is "September Revolution"; a one-word "Estavian" is not
            # "Estavian Academy of Sciences"
            if key and len(t) > 3 and (key.startswith(t + " ") or (" " in key and t.startswith(key + " "))):
                return url
        return None

    def query_for(self, name: str, head: str = "") -> str:
        """A search for a name; a later sample sometimes adds the kind of thing it is after."""
        if head and self.sample_index and (self.sample_index % 2 or self.chance(f"query:{name}") < 0.5):
            return f"{name} {head}"
        return name

    def pages(self, names: list[str], purpose: str, head: str = "") -> dict[str, str]:
        """name -> page text of those of `names` that can be found; asks for the searches and visits missing."""
        if self.sample_index:  # a later sample may read the same candidates in another order
            names = sorted(names, key=lambda n: (self.chance(f"order:{n}") < 0.5, names.index(n)))
        missing = [n for n in names if self.url_for(n) is None and self.query_for(n, head) not in self.memory.searched]
        queries = [self.query_for(n, head) for n in missing[:3]]
        for name in names:
            query = self.query_for(name, head)
            if query in self.memory.results:
                self._note_search(query, name)
        if missing:
            raise Need(ToolCall("search", {"query": queries}),
                       f"I search for {listing(queries)} to find {'its' if len(queries) == 1 else 'their'} "
                       f"page{'s' if len(queries) > 1 else ''} ({purpose}).")
        out: dict[str, str] = {}
        for name in names:
            url = self.url_for(name)
            if url is None:
                continue
            if url not in self.memory.pages:
                if url in self.memory.visited:
                    self.note("u:" + url, f'The page on "{name}" is not in the corpus, so I cannot check it.')
                    continue
                goal = f"{self.question} (about {name})"
                raise Need(ToolCall("visit", {"url": [url], "goal": goal}),
                           f'I open the page on "{name}" ({purpose}).')
            out[name] = self.memory.pages[url]
        return out

    def _note_search(self, query: str, name: str) -> None:
        titles = [self.memory.title(u) for u in self.memory.results.get(query, [])]
        url = self.url_for(name)
        if not titles:
            self.note("q:" + query, f'The search for "{query}" found nothing.')
        elif url is not None and url in self.memory.results[query]:
            title = self.memory.title(url)
            rank = self.memory.results[query].index(url) + 1
            where = "first" if rank == 1 else f"number {rank}"
            self.note("q:" + query, f'The search for "{query}" lists the page "{title}" {where} '
                                    f"(among {listing(titles, 3)}).")
        else:
            self.note("q:" + query, f'The search for "{query}" returned {listing(titles, 3)}, none of them a '
                                    f'page on "{name}".')

    # entities ------------------------------------------------------------------------------------
    def definition(self, name: str, text: str) -> str | None:
        """The page's defining phrase ("a long-period comet discovered ..."), from its text or its snippet."""
        snippet = self.memory.hits.get(self.url_for(name) or "", ("", ""))[1]
        first = (norm(name).split() or [""])[0]
        fallback = None
        for source in (text, snippet):
            for sentence in sentences(source)[:8]:
                defined = re.search(r"\b(?:is|was|are|were)\b\s+((?:an?|the|one)?\b.*)", sentence)
                if defined is None:
                    continue
                # the page's own definition names it before the verb ("Brennick is a port city ..."); a
                # sentence about something else ("he was born in Dunmere") defines nothing
                if first and first in norm(sentence[: defined.start()]).split():
                    return defined.group(1)[:160]
        return fallback

    def type_score(self, name: str, text: str, head: str) -> tuple[float, str | None]:
        """How well the page's definition matches the head noun phrase: the share of its words found there,
        0 unless the last (the noun itself) is; and the definition it read."""
        defined = self.definition(name, text)
        if not head:
            return 1.0, defined
        title = self.memory.title(self.url_for(name) or "") or name
        if stem(head.split()[-1]) in {stem(w) for w in title.split()} and (
                defined is None or len(head.split()) == 1):
            return 1.0, defined or f"its title, {title}, names it"  # "Aastad Polar Expedition" is an expedition
        if defined is None:
            return 0.0, None
        found = {stem(w) for w in re.findall(r"[A-Za-z\-]+", defined)}
        wanted = [stem(w) for w in head.split()]
        share = sum(w in found for w in wanted) / len(wanted)
        # the noun itself, and its modifiers: a "film director" is no "museum director"
        if wanted[-1] not in found or share < (1.0 if len(wanted) <= 2 else 0.6):
            return 0.0, defined
        return share, defined

    def mentions(self, text: str) -> dict[str, float]:
        """Entities a page mentions (known result titles, capitalized phrases), scored by the overlap of the
        sentences they occur in with the question's words."""
        scores: dict[str, float] = {}
        for sentence in sentences(text):
            overlap = len(stems(sentence) & self.question_stems)
            for name in names_in(sentence):
                key = norm(name)
                if not key or key in self.question_names or len(key) < 3:
                    continue
                known = self.url_for(name) is not None  # a page we can open, not just a capitalized word
                if not known and " " not in name:
                    continue
                scores[name] = max(scores.get(name, 0.0), overlap + 0.1 + (1.5 if known else 0.0))
        return scores

    def anchors(self, entity: Entity) -> list[str]:
        """The names in the entity's clauses to start from: masked letters, initials and periods are checks,
        not names."""
        return [n for n in names_in(without_checks(entity.clauses)) if not is_initials(n)]

    def resolve(self, entity: Entity, depth: int = 0) -> str | None:
        if entity.name is not None:
            return entity.name
        anchors = self.anchors(entity)
        if not anchors:
            inner = re.search(r"\b(?:the|a|an) (?!(?:early|mid|late)\b)[a-z].*$", without_checks(entity.clauses))
            if inner and depth < MAX_HOPS:
                described = parse_subject(inner.group(0))
                found = self.resolve(described, depth + 1)
                if found:
                    self.found.append(f"the {described.head} is {found}")
                anchors = [found] if found else []
        if not anchors:
            return self.search_typed(entity)
        frontier = anchors
        seen = {norm(a) for a in anchors}
        for hop in range(MAX_HOPS):
            purpose = (f"to find the {entity.head} it leads to" if hop == 0
                       else f"no {entity.head} so far, so I follow this lead")
            texts = self.pages(frontier, purpose, entity.head if hop == 0 else "")
            scores: dict[str, float] = {}
            for name, text in texts.items():
                mentioned = {m: s for m, s in self.mentions(text).items() if norm(m) not in seen}
                for m, s in mentioned.items():
                    scores[m] = scores.get(m, 0.0) + s
                best = sorted(mentioned, key=lambda n: (-mentioned[n], n))[: self.width + 1]
                url = self.url_for(name) or ""
                if best:
                    self.note("u:" + url, f'The page on "{name}" mentions {listing(best)} in sentences that '
                                          f"share the question's words; I take them as candidates for the "
                                          f"{entity.head}.")
                else:
                    self.note("u:" + url, f'The page on "{name}" mentions nothing new that fits the question.')
            for name in frontier:  # the other pages its search found: they mention it
                query = self.query_for(name, entity.head if hop == 0 else "")
                for url in self.memory.results.get(query, [])[:5]:
                    title, snippet = self.memory.hits.get(url, ("", ""))
                    if title and norm(title) not in seen and norm(name) in norm(snippet):
                        scores[title] = scores.get(title, 0.0) + 1.5 + len(stems(snippet) & self.question_stems)
            for url, text in self.memory.pages.items():  # pages that mention the anchors themselves
                title = self.memory.title(url)
                if title and norm(title) not in seen and any(norm(a) in norm(text) for a in frontier):
                    scores[title] = scores.get(title, 0.0) + 1.0
            ranked = sorted(scores, key=lambda n: (-scores[n], n))[: self.width + 1]
            if not ranked:
                return None
            for name in ranked:  # judged as soon as its page is read, so the next turn says what it showed
                url = self.url_for(name)
                if url in self.memory.pages:
                    self.judge(name, self.memory.pages[url], entity)
            left = [n for n in ranked if n not in self.candidates]
            remaining = ("the last candidate left to check" if len(left) == 1 else
                         f"one of the {len(left)} candidates left to check ({listing(left, 6)})")
            checked = self.pages(ranked, f"{remaining}, to see whether it is the {entity.head}" if left else
                                 f"to see whether it is the {entity.head}")
            good = []
            for name in ranked:
                if name in checked:
                    candidate = self.judge(name, checked[name], entity)
                    if candidate.kept:
                        good.append((name, candidate))
            if good:
                best = max(self.type_score(n, checked[n], entity.head)[0] for n, _ in good)
                top = sorted((n for n, _ in good if self.type_score(n, checked[n], entity.head)[0] == best),
                             key=lambda n: -scores[n])
                others = [n for n, _ in good if n not in top]
                chosen = self.pick([*top, *others])
                title = self.memory.title(self.url_for(chosen) or "") or chosen
                return re.sub(r"\s*\([^)]*\)$", "", title)
            seen |= {norm(n) for n in ranked}
            frontier = [n for n in ranked if n in checked][: self.width]
            if not frontier:
                return None
        return None

    def judge(self, name: str, text: str, entity: Entity) -> Candidate:
        """Keep or drop a candidate: its type by its page's opening, then the entity's checks."""
        if name in self.candidates:
            return self.candidates[name]
        url = self.url_for(name) or ""
        score, defined = self.type_score(name, text, entity.head)
        article = "an" if entity.head[:1] in "aeiou" else "a"
        if score <= 0:
            what = f'its page calls it "{quoted(defined, 90)}"' if defined else "its page does not say what it is"
            candidate = Candidate(name, False, [f"{what}, not {article} {entity.head}"])
        else:
            reasons = [f'{article} {entity.head} ("{quoted(defined, 90)}")' if defined else f"{article} {entity.head}"]
            kept = True
            for check in entity.checks:
                ok, why = self.check(name, text, check)
                reasons.append(why)
                kept = kept and ok is not False
            candidate = Candidate(name, kept, reasons)
        verdict = "I keep it" if candidate.kept else "I drop it"
        self.note("u:" + url, f'"{name}": {"; ".join(candidate.reasons)}. {verdict}.')
        self.candidates[name] = candidate
        return candidate

    def check(self, name: str, text: str, check: Check) -> tuple[bool | None, str]:
        """(passes: True, fails: False, cannot tell: None, and why in words) for one check on a candidate."""
        if check.kind == "letter":
            part, letters = check.value.split(":")
            tokens = [w for w in re.sub(r"\s*\([^)]*\)$", "", name).split() if w[:1].isupper()]
            if part == "surname":
                got = tokens[-1][:1] if tokens else ""
            elif part == "initials":
                got = "".join(w[0] for w in tokens)
            else:
                got = re.sub(r"^the\s+", "", name, flags=re.I)[:1].upper()
            ok = got == letters if part == "initials" else got.upper() == letters
            what = {"surname": "its surname", "initials": "its initials", "name": "its name"}[part]
            return ok, f"{what} {'fit' if ok else 'do not fit'} \"{check.text}\"".replace(
                "its name do", "its name does").replace("its surname do", "its surname does").replace(
                "its name fit", "its name fits").replace("its surname fit", "its surname fits")
        if check.kind == "period":
            years = sorted({int(y) for y in YEAR_RE.findall(text)})
            if not years:
                return None, f'its page gives no year to test "{check.text}"'
            inside = [y for y in years if any(lo <= y <= hi for lo, hi in check.years)]
            if inside:
                return True, f'its page has {inside[0]}, which fits "{check.text}"'
            shown = ", ".join(map(str, years[:4]))
            return False, f'its page gives {shown}, none of them "{check.text}"'
        value = self.measure(text, check.about)
        if value is None:
            return None, f'its page gives no {check.about} to test "{check.text}"'
        number, written = value
        ok = (check.low is None or number >= check.low) and (check.high is None or number <= check.high)
        return ok, f'its {check.about} is {written}, {"within" if ok else "outside"} "{check.text}"'

    def measure(self, text: str, about: str) -> tuple[float, str] | None:
        """The number the page gives for `about` ("population" -> 21,500), as a value and as written."""
        wanted = {stem(w) for w in words(about)}
        if not wanted:
            return None
        for line in sentences(text):
            keyed = re.match(r"^\s*([^:]{1,40}):\s*(.+)$", line)
            head = keyed.group(1) if keyed else line
            if not wanted & {stem(w) for w in words(head)}:
                continue
            body = keyed.group(2) if keyed else line[line.casefold().find(next(iter(words(about))).casefold()):]
            durations = find_durations(body)
            if durations and re.search(r"\d:\d\d", body):
                return durations[0] / 60, re.search(r"\d+:\d\d(?::\d\d)?", body).group(0)
            numbers = [q for q in find_numbers(body) if not q.year_like]
            if numbers:
                return numbers[0].value, numbers[0].text
        return None

    def pick(self, ranked: list[str]) -> str:
        """The best candidate; a later sample sometimes takes the runner-up."""
        if len(ranked) > 1 and self.sample_index and self.chance("pick:" + "|".join(ranked)) < EXPLORE:
            return ranked[1]
        return ranked[0]

    def search_typed(self, entity: Entity) -> str | None:
        """No name to start from: search for what the entity is and what its clauses say."""
        query = " ".join(words(f"{entity.head} {without_checks(entity.clauses)}"))
        query = " ".join(w for w in query.split() if not w.isdigit())[:200]
        if self.sample_index % 2:  # a later sample puts what the clauses say before the kind of thing
            query = " ".join([*query.split()[len(entity.head.split()):], *entity.head.split()])
        if query not in self.memory.searched:
            raise Need(ToolCall("search", {"query": [query]}),
                       f"The question names nothing to start from, so I search for the words that describe "
                       f'the {entity.head}: "{query}".')
        titles = [self.memory.title(u) for u in self.memory.results.get(query, [])]
        self.note("q:" + query, f'The search for "{query}" returned {listing(titles, 4)}.')
        for url in self.memory.results.get(query, []):
            title, snippet = self.memory.hits.get(url, ("", ""))
            if self.type_score(title, self.memory.pages.get(url, snippet), entity.head)[0] > 0:
                candidate = self.judge(title, self.memory.pages.get(url, snippet), entity)
                if candidate.kept:
                    return re.sub(r"\s*\([^)]*\)$", "", title)
        return None

    # attribute values ----------------------------------------------------------------------------
    def attribute_words(self, attribute: str) -> set[str]:
        found = set()
        for word in attribute.replace(".", " ").split():
            s = stem(word)
            if word in ("max", "min") or s in {"of", "the"}:
                continue
            found.add(s)
            for key, synonyms in SYNONYMS.items():
                if s.startswith(key) or word.startswith(key):
                    found |= {stem(x) for x in synonyms}
        return found

    def value(self, target: Attribute) -> str | None:
        subject = self.resolve(target.subject)
        if subject is None:
            return None
        if target.subject.name is None:
            self.found.append(f"the {target.subject.head} is {subject}")
        phrase = attribute_phrase(target)
        texts = self.pages([subject], f"to read its {phrase}", phrase if target.subject.name else "")
        text = texts.get(subject)
        if text is None:
            return None
        url = self.url_for(subject) or ""
        wanted = self.attribute_words(target.attribute)
        found: dict[str, tuple[float, str]] = {}
        for line in sentences(text):
            line_stems = [stem(w) for w in re.findall(r"[A-Za-z]+", line)]
            hits = any(s.startswith(w) or w.startswith(s) for s in line_stems for w in wanted if len(s) >= 3)
            keyed = re.match(r"^\s*([^:]{1,40}):\s*(.+)$", line)
            key_match = bool(keyed) and bool({stem(w) for w in re.findall(r"[A-Za-z]+", keyed.group(1))} & wanted)
            if not hits and not key_match:
                continue
            body = keyed.group(2) if key_match else line
            written = re.split(r"\s*(?:;|\(|\[)", body)[0].strip(" .")
            if key_match and target.kind in ("number", "any") and re.search(r"\d", written) and len(written) <= 40:
                # "Peak water level: 4.8 m": the value as the page writes it is the answer
                if found.get(written, (float("-inf"), ""))[0] < 4.0:
                    found[written] = (4.0, line)
                continue
            for value, position in self.values(body, target.kind, target.attribute):
                score = (3.0 if key_match else 1.0) - position / (len(body) + 1)
                if score > found.get(value, (float("-inf"), ""))[0]:
                    found[value] = (score, line)
        if not found and target.kind in ("date", "year"):
            lead = re.search(rf"\({DATE_RE.pattern}\s*[–-]\s*{DATE_RE.pattern}\)", text)
            if lead:
                dead = wanted & {"die", "died", "death"}
                dates = [m.group(1) for m in DATE_RE.finditer(lead.group(0))]
                date = dates[-1] if dead else dates[0]
                value = YEAR_RE.search(date).group(1) if target.kind == "year" else date
                self.note("a:" + url, f'The page on "{subject}" opens with the dates {quoted(lead.group(0))}; '
                                      f"the {'second' if dead else 'first'} is the {phrase}: {value}.")
                return value
        if not found:
            self.note("a:" + url, f'The page on "{subject}" says nothing I can read as its {phrase}.')
            return None
        chosen = self.pick(sorted(found, key=lambda v: -found[v][0]))
        self.note("a:" + url, f'The page on "{subject}" says "{quoted(found[chosen][1])}": the '
                              f"{phrase} is {chosen}.")
        return chosen

    def values(self, text: str, kind: str, attribute: str) -> list[tuple[str, int]]:
        """Values of the kind asked in `text`, as the text writes them, with their positions."""
        if kind == "date":
            return [(m.group(1), m.start()) for m in DATE_RE.finditer(text)]
        if kind == "year":
            return [(m.group(1), m.start()) for m in YEAR_RE.finditer(text)]
        if kind == "number":
            return measures(text)
        # any: the first name after the attribute, else a date or a measure
        found = [(n, text.find(n)) for n in names_in(text) if norm(n) not in self.question_names
                 and not set(stems(n)) <= self.attribute_words(attribute)]
        if found:
            return found[:1]
        return [(m.group(1), m.start()) for m in DATE_RE.finditer(text)] or measures(text)

    def answer(self) -> str | None:
        answer = self.value(self.target) if isinstance(self.target, Attribute) else self.resolve(self.target)
        if not self.memory.searched and not self.memory.visited:
            # nothing read yet (a question it cannot parse): an answer needs evidence, so it searches first
            query = " ".join(names_in(self.question)[:2]) or " ".join(words(self.question))[:200]
            raise Need(ToolCall("search", {"query": [query]}),
                       f'I do not see how the question breaks down, so I search for "{query}" first.')
        return answer


def measures(text: str) -> list[tuple[str, int]]:
    """Numbers in `text` as written, with their unit when it is one ("2,317 m", "0.74 AU", "3:12",
    "about 58 minutes"), never a clock time cut to its hours; years are not measures."""
    out: list[tuple[str, int]] = []
    taken: list[tuple[int, int]] = []
    for match in re.finditer(r"(?:\b(?:about|approximately|around|some|c\.)\s+)?(?<![\d:])\d{1,3}:\d\d(?::\d\d)?"
                             r"(?![\d:])", text):
        out.append((match.group(0), match.start()))
        taken.append(match.span())
    pattern = re.compile(r"(?:\b(?P<q>about|approximately|around|some|over|c\.)\s+)?(?<![\w.,:])"
                         r"(?P<n>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w,:]|\.\d)"
                         r"(?:\s?(?P<u>square (?:kilometres|kilometers|miles)|[A-Za-z%°²]+[²2]?))?")
    for match in pattern.finditer(text):
        if any(a <= match.start("n") < b for a, b in taken) or YEAR_RE.fullmatch(match.group("n")):
            continue
        unit = match.group("u") or ""
        written = match.group("n") + (("" if unit == "%" else " ") + unit if MEASURE_UNITS.match(unit) else "")
        if match.group("q") and MEASURE_UNITS.match(unit):
            written = f"{match.group('q')} {written}"
        out.append((written, match.start()))
    return sorted(out, key=lambda v: v[1])


# --- the turn's words ------------------------------------------------------------------------------------

class Writer:
    """The `<think>` of a turn from the research's notes: what the last action showed, what is settled,
    what is still open, and what comes next."""

    def __init__(self, research: Research, last: ToolCall | None) -> None:
        self.research = research
        self.last = last

    def sources(self) -> set[str]:
        if self.last is None:
            return set()
        if self.last.name == "search":
            queries = self.last.arguments.get("query") or []
            return {"q:" + q for q in ([queries] if isinstance(queries, str) else queries)}
        urls = self.last.arguments.get("url") or []
        urls = [urls] if isinstance(urls, str) else urls
        return {"u:" + url for url in urls}

    def plan(self) -> str:
        """The first turn: what is asked and the conditions, in the question's words."""
        target = self.research.target
        if isinstance(target, Attribute):
            subject = target.subject
            asked = f"The question asks for the {attribute_phrase(target)} of {subject.described}"
        else:
            subject = target
            asked = f"The question asks for the {subject.head}" if subject.head else "The question asks for"
        phrases = constraint_phrases(subject)
        if phrases:
            numbered = "; ".join(f"({i}) {p}" for i, p in enumerate(phrases, 1))
            asked += f". It must meet {len(phrases)} condition{'s' if len(phrases) > 1 else ''}: {numbered}"
        anchors = self.research.anchors(subject) if subject.name is None else [subject.name]
        checks = [c.text for c in subject.checks if c.kind == "letter"]
        if checks:
            asked += f". {listing(checks)} only narrows the candidates down, it is nothing to search for"
        if anchors:
            asked += f". The name{'s' if len(anchors) > 1 else ''} it gives: {listing(anchors)}"
        return asked + "."

    def learnt(self, final: bool = False) -> list[str]:
        """Notes on what the last action showed; in the answering turn, also the reading of the value."""
        sources = self.sources()
        return [text for source, text in self.research.notes
                if source in sources or (final and source.startswith("a:"))]

    def open_checks(self) -> str | None:
        target = self.research.target
        entity = target.subject if isinstance(target, Attribute) else target
        checks = [c.text for c in entity.checks]
        if not checks or not self.research.candidates:
            return None
        return f"Each candidate still has to pass {listing(checks)}."

    def turn(self, next_step: str) -> str:
        parts = [] if self.last is not None else [self.plan()]
        parts += self.learnt()
        if self.research.found:
            parts.append("So far: " + "; ".join(dict.fromkeys(self.research.found)) + ".")
        parts.append(next_step)
        return "\n".join(parts)

    def final(self, answer: str) -> str:
        parts = self.learnt(final=True)
        kept = [c for c in self.research.candidates.values() if c.kept]
        dropped = [c.name for c in self.research.candidates.values() if not c.kept]
        if dropped:
            parts.append(f"Dropped: {listing(dropped)}.")
        if len(kept) > 1:
            parts.append(f"More than one candidate passed ({listing([c.name for c in kept])}); I take the one "
                         "whose page matches the question best.")
        if self.research.found:
            parts.append("So: " + "; ".join(dict.fromkeys(self.research.found)) + ".")
        target = self.research.target
        what = f"the {attribute_phrase(target)}" if isinstance(target, Attribute) else f"the {target.head or 'answer'}"
        parts.append(f"The evidence gives {what}: {answer}.")
        return "\n".join(parts)

    def guess(self, answer: str) -> str:
        parts = self.learnt(final=True)
        tried = list(self.research.candidates)
        if tried:
            parts.append(f"None of the candidates I checked ({listing(tried)}) passes every condition.")
        parts.append(f'I could not confirm an answer from the evidence; "{answer}" is my best guess, not a '
                     "verified one.")
        return "\n".join(parts)


class ScriptedSearchPolicy(Policy):
    """An offline search agent that answers from what the tools return (see the module docstring)."""

    name = "scripted"
    model = "scripted-search-2"

    def __init__(self, *, max_calls: int = 24) -> None:
        self.max_calls = max_calls  # it answers with its best guess after this many of its own calls

    async def respond(self, messages: list[dict], *, sample_index: int, **_: object) -> str:
        if messages[-1]["role"] == "user" and SYNTHESIS_MARK in messages[-1]["content"]:
            return self.synthesize(messages[-1]["content"])
        context_mode = len(messages) == 2 and messages[1]["content"].startswith("Question: ")
        last: ToolCall | None = None
        if context_mode:
            question, report, last_action, observation = parse_context_prompt(messages[1]["content"])
            memory = Memory.from_report(report)
            turn = parse_turn(last_action)
            if turn.call is not None and observation is not None:
                memory.learn(turn.call, observation)
                last = turn.call
        else:
            question = next(m["content"] for m in messages if m["role"] == "user")
            memory = Memory()
            for i, message in enumerate(messages):
                if message["role"] != "assistant" or i + 1 >= len(messages):
                    continue
                turn = parse_turn(message["content"])
                if turn.call is not None:
                    memory.learn(turn.call, observation_text(messages[i + 1]["content"]))
                    last = turn.call
        forced = "final answer now" in messages[-1]["content"]
        seed = zlib.crc32(question.encode())
        research = Research(question, memory, seed, sample_index)
        # a later sample also varies its effort: it may settle for its best guess sooner
        budget = self.max_calls if not sample_index else random.Random(seed ^ sample_index).randint(
            max(2, self.max_calls // 4), self.max_calls)
        report = memory.report() if context_mode else None
        calls = len(memory.searched) + len(memory.visited)
        writer = Writer(research, last)
        try:
            answer = research.answer()
        except Need as need:
            if not forced and calls < budget:
                return render_turn(writer.turn(need.why), call=need.call, report=report)
            answer = None
        if answer is None:
            answer = self.guess(research)
            return render_turn(writer.guess(answer), answer=answer, report=report)
        return render_turn(writer.final(answer), answer=answer, report=report)

    def synthesize(self, prompt: str) -> str:
        """Heavy mode's synthesis: the answer most agents gave (ties: the first agent's)."""
        answers = [a.strip() for a in re.findall(r"^Answer: (.*)$", prompt, flags=re.M) if not a.startswith("(no ")]
        if not answers:
            return render_turn("No agent found an answer.", answer="unknown")
        votes: dict[str, list[str]] = {}
        for answer in answers:
            votes.setdefault(norm(answer), []).append(answer)
        best = max(votes.values(), key=len)
        return render_turn(f"{len(best)} of {len(answers)} agents answered {best[0]}.", answer=best[0])

    def guess(self, research: Research) -> str:
        kept = [c.name for c in research.candidates.values() if c.kept]
        if kept:
            return kept[0]
        for text in research.memory.pages.values():
            for name in research.mentions(text):
                return name
        return "unknown"
