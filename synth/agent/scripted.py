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
  read; when none is verified, the search hops from the best-matching ones (multi-hop questions); with no
  name at all it searches for the head noun and the clauses' content words and reads the hits;
- every candidate is tested on every constraint the question puts on it, against the page read: its type
  (the head noun of its page's definition, "X is a ... <noun>", or a kind of it: a single is a song; never
  any word further on: "an island country in the Morrow Sea" is no sea), its checks (name letters, a date
  or a year on the line that names the event, a number in a range), and its ties to the named entities of
  its clauses (a sentence of its page, or of the other entity's, naming both with the clause's words; an
  entity the clause only describes must be one of the pages read that fits that description). Each is
  `holds`, `fails` or `not stated`, with the page's words quoted. Only `fails` drops a candidate; a missing
  statement keeps it, unverified, and is never claimed to hold;
- the answer is a candidate every constraint holds for; when there is none (or more than one, which
  nothing read tells apart), it answers its best-supported candidate and its last `<think>` has a line
  starting `Unverified:` (`UNVERIFIED`) that says what is left open. The filter rejects such trajectories
  (`unverified_answer`, filters/checks/trajectory.py): a lucky guess is no training text;
- an attribute's value is read from the subject's page, from a `Key: value` line or the sentence that names
  the attribute (the value nearest that word), as the page writes it: a length "3:12", an elevation
  "2,317 m", a date "22 May 1904";
- `<think>` says what the last result showed (the pages a search found, the candidates a page mentions,
  each candidate's constraints with holds / fails / not stated and the page's words), what is still to be
  checked, and what it does next. The words come from the question and the tools' results only.

Samples: sample 0 takes the best-ranked route. A later sample (seeded by the question and its index, so
reruns reproduce it) explores: it may phrase its first searches differently (a name with the head noun),
read candidates in another order, take the runner-up among verified candidates, and give up sooner.

It is a baseline, not a teacher: it reads no more than a regex can, so its accuracy falls with the level.
On the demo tasks (every task of `drsynth demo`, 2 samples each, the filter's match judge), correct answers
and, of those, the ones it verified (the rest end `Unverified:` and are rejected):

    level 1  99/126 correct, 93 verified   one lookup: a named subject's page, or the entities it mentions
    level 2  55/122 correct, 31 verified   a hop through a described entity
    level 3  24/114 correct,  3 verified   masked names, periods and ranges that only a chain of hops resolves

(scripted-search-2, before every constraint was checked: its answers were right about as often, but it
presented ties and guesses settled by "the one whose page matches best" as found.)
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

from drsynth.filters.judges.normalize import find_durations, find_numbers
from drsynth.synth.agent.format import (
    UNVERIFIED_MARK,
    ToolCall,
    observation_text,
    parse_context_prompt,
    parse_turn,
    render_turn,
)
from drsynth.synth.agent.policy import Policy
from drsynth.synth.agent.runner import SYNTHESIS_MARK
from drsynth.synth.agent.scripted_question import (
    DATE_RE,
    YEAR_RE,
    Attribute,
    Check,
    Entity,
    constraint_phrases,
    is_initials,
    names_in,
    norm,
    own_clauses,
    parse_question,
    parse_subject,
    stem,
    stems,
    without_checks,
    words,
)
from drsynth.synth.tasks.operations import bare_name, initials, surname

HIT_RE = re.compile(r"^\s*(?:\d+\.\s*|-\s*)?\[(.+?)\]\((\S+)\)\s*$", re.M)
RESULTS_RE = re.compile(r"^(?:A search for '(.*)' found \d+ results:|No results found for '(.*)'\.)", re.M)
SYNONYMS = {"die": ("died", "death", "dead", "killing", "killed"), "born": ("born", "birth"), "found": ("founded", "established"),
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
    if " " in attribute or target.kind == "any":  # "discovery date", "founder": already a noun phrase
        return attribute
    for key, noun in _ATTRIBUTE_NOUNS.items():
        if attribute.casefold().startswith(key):
            if target.kind == "year":
                return f"year of {noun.removeprefix('date of ').removesuffix(' date')}"
            return noun if noun.startswith("date") or noun.endswith("date") else f"date of {noun}"
    return attribute


_MONTH_NUMBER = {m[:3].casefold(): i for i, m in enumerate(("January", "February", "March", "April", "May", "June",
                                                            "July", "August", "September", "October",
                                                            "November", "December"), 1)}


def _day(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a date as DATE_RE finds it: "12 June 1957", "June 12, 1957", "1957-06-12"."""
    iso = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", text.strip())
    if iso:
        return int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    month = next((_MONTH_NUMBER[w[:3].casefold()] for w in re.findall(r"[A-Za-z]+", text)
                  if w[:3].casefold() in _MONTH_NUMBER), None)
    if month is None or len(numbers) < 2:
        return None
    day, year = (numbers[0], numbers[1]) if numbers[0] <= 31 and numbers[1] > 31 else (numbers[1], numbers[0])
    return year, month, day


class Need(Exception):
    """What the agent must do before it can go on, and why (in the words of its notes)."""

    def __init__(self, call: ToolCall, why: str) -> None:
        super().__init__(why)
        self.call = call
        self.why = why


HOLDS, FAILS, NOT_STATED = "holds", "fails", "not stated"
# relation words that say no more than a mention does ("located in Ostvale", "that is ...")
_WEAK_RELATION = {"locat", "located", "situat", "based", "that", "which", "where", "its", "one"}
# the final <think>'s line for an answer that some constraint does not back: the filter's `unverified_answer`
# check (filters/checks/trajectory.py) rejects a trajectory whose last <think> has a line starting with it
UNVERIFIED = UNVERIFIED_MARK  # (synth.agent.format: the trajectory check reads the same marker)


@dataclass(frozen=True)
class Finding:
    """One constraint of the question tested on a candidate's page: holds, fails or not stated, and the
    page's words that say so (or what is missing)."""
    constraint: str
    status: str
    evidence: str

    def text(self) -> str:
        return f"{self.constraint}: {self.status} ({self.evidence})"


@dataclass
class Candidate:
    name: str
    entity: Entity  # the description it was tested against
    findings: list[Finding]

    @property
    def kept(self) -> bool:
        """Nothing its page says contradicts the question (a missing statement never drops it)."""
        return all(f.status != FAILS for f in self.findings)

    @property
    def verified(self) -> bool:
        return all(f.status == HOLDS for f in self.findings)

    @property
    def open(self) -> list[Finding]:
        return [f for f in self.findings if f.status != HOLDS]

    def support(self) -> tuple[int, int]:
        """Orders the kept: fewest constraints left open, then most that hold."""
        return (-len(self.open), sum(f.status == HOLDS for f in self.findings))


# the word a definition's noun phrase ends before ("an island country in the Morrow Sea": "country")
_DEFINITION_STOP = {"in", "of", "on", "at", "by", "for", "with", "from", "to", "that", "which", "who", "whose",
                    "where", "when", "located", "based", "known", "near", "between", "about", "during", "since",
                    "under", "over", "than", "is", "was", "are", "were", "written", "directed", "composed", "set",
                    "made", "born", "built", "led", "held", "run", "sung", "shot", "painted", "first", "into",
                    "after", "before", "as", "best", "widely", "also", "founded", "named"}
# a class and the kinds of thing that are members of it (a single is a song, a novel is a work)
_KINDS = {"song": {"single"}, "work": {"novel", "film", "opera", "painting", "song", "single", "poem", "symphony",
                                      "book", "collection", "album", "play", "concerto", "anthem", "sculpture"},
          "organization": {"company", "label", "publisher", "university", "academy", "society", "club",
                           "institute", "observatory", "museum", "studio", "shipyard", "press", "firm"},
          "person": {"composer", "painter", "poet", "writer", "novelist", "singer", "actor", "actress", "explorer",
                     "astronomer", "geologist", "politician", "director", "journalist", "violinist"},
          "city": {"town", "capital", "port"}, "town": {"city"}}


def defining_nouns(defined: str) -> list[str]:
    """The head nouns of a definition's noun phrase ("an Estavian composer and teacher, widely ..." ->
    composer, teacher): the type test reads these, never any word further on."""
    text = defined.strip()
    for _ in range(3):
        text = re.sub(r"^(?:one of (?:the )?|an?\s+|the\s+)", "", text, flags=re.I)
    text = re.split(r"[,;:()\[\]—–]| - ", text)[0]
    chunk: list[str] = []
    for token in re.findall(r"[A-Za-z][\w\-']*|\d+", text):
        low = token.casefold()
        if low in _DEFINITION_STOP or (chunk and low.endswith("ed") and len(low) > 4):
            break
        chunk.append(low)
    parts = " ".join(chunk).split(" and ")
    return [p.split()[-1] for p in (" ".join(p.split(" or ")[-1:]) for p in parts) if p.split()]


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
        self.candidates: dict[tuple[str, Entity], Candidate] = {}
        self.found: list[str] = []  # what was settled on the way ("the painter is Eda Kallas")
        self.inner: dict[Entity, str] = {}
        self.via: dict[str, str] = {}  # a candidate -> the entity whose page or search led to it
        self._bridging = 0  # how deep `through` is looking for an entity in between  # a described entity -> the name found for the one it describes
        # what the answer rests on that no page confirmed (empty: every constraint holds on a page read)
        self.doubts: list[str] = []
        self.chosen: Candidate | None = None
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
        """How well the page's definition matches the head noun phrase: 0 unless the definition's own head
        noun ("X is a ... <noun>") is the question's noun or a kind of it, else the share of the phrase's
        words found in the definition; and the definition it read (None: the page does not say)."""
        defined = self.definition(name, text)
        if not head:
            return 1.0, defined
        wanted = [stem(w) for w in head.split()]
        if defined is None:
            title = self.memory.title(self.url_for(name) or "") or name
            last = (re.sub(r"\s*\([^)]*\)$", "", title).split() or [""])[-1]
            if wanted[-1] == stem(last):
                return 1.0, f"its title, {title}, names it"  # "Aastad Polar Expedition" is an expedition
            return 0.0, None
        nouns = {stem(n) for n in defining_nouns(defined)}
        kinds = {stem(k) for k in _KINDS.get(head.split()[-1].casefold(), ())}
        if wanted[-1] not in nouns and not nouns & kinds:
            return 0.0, defined
        found = {stem(w) for w in re.findall(r"[A-Za-z\-]+", defined)} | {wanted[-1]}
        share = sum(w in found for w in wanted) / len(wanted)
        # and its modifiers: a "film director" is no "museum director"
        if share < (1.0 if len(wanted) <= 2 else 0.6):
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
                    self.inner[entity] = found
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
                    self.via.setdefault(m, name)
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
                        self.via.setdefault(title, name)
            for url, text in self.memory.pages.items():  # pages that mention the anchors themselves
                title = self.memory.title(url)
                if title and norm(title) not in seen and any(norm(a) in norm(text) for a in frontier):
                    scores[title] = scores.get(title, 0.0) + 1.0
                    self.via.setdefault(title, next(a for a in frontier if norm(a) in norm(text)))
            ranked = sorted(scores, key=lambda n: (-scores[n], n))[: self.width + 1]
            if not ranked:
                break
            for name in ranked:  # judged as soon as its page is read, so the next turn says what it showed
                url = self.url_for(name)
                if url in self.memory.pages:
                    self.judge(name, self.memory.pages[url], entity)
            left = [n for n in ranked if (n, entity) not in self.candidates]
            remaining = ("the last candidate left to check" if len(left) == 1 else
                         f"one of the {len(left)} candidates left to check ({listing(left, 6)})")
            checked = self.pages(ranked, f"{remaining}, to see whether it is the {entity.head}" if left else
                                 f"to see whether it is the {entity.head}")
            for name in ranked:
                if name in checked:
                    self.judge(name, checked[name], entity)
            verified = [n for n in ranked if n in checked and self.candidates[n, entity].verified]
            if verified:
                return self.choose(verified, entity, scores)
            seen |= {norm(n) for n in ranked}
            frontier = [n for n in ranked if n in checked][: self.width]
            if not frontier:
                break
        return self.choose([], entity, {})

    def choose(self, verified: list[str], entity: Entity, scores: dict[str, float]) -> str | None:
        """The answer among the candidates: one that every constraint holds for; else the best-supported one
        nothing contradicts, with what is left open recorded as doubts (the final <think> says so)."""
        if verified:
            # "Clara Osterling at the Ostvale Observatory" and "Clara Osterling": one page, one candidate
            by_page = {self.url_for(n) or n: n for n in sorted(verified, key=lambda n: scores.get(n, 0.0))}
            ranked = sorted(by_page.values(), key=lambda n: -scores.get(n, 0.0))
            chosen = self.pick(ranked) if len(ranked) > 1 else ranked[0]
            if len(ranked) > 1:
                self.doubts.append(f"{listing(ranked)} all pass every check I could make, and nothing I read "
                                   f"tells them apart")
        else:
            kept = [c for c in self.candidates.values() if c.entity == entity and c.kept and c.findings]
            if not kept:
                return None
            best = max(kept, key=lambda c: c.support())
            chosen = best.name
            self.doubts.append(f'for "{chosen}", ' + "; ".join(f"{f.constraint}: {f.status}" for f in best.open))
        self.chosen = self.candidates.get((chosen, entity))
        title = self.memory.title(self.url_for(chosen) or "") or chosen
        return re.sub(r"\s*\([^)]*\)$", "", title)

    def judge(self, name: str, text: str, entity: Entity) -> Candidate:
        """Test a candidate on every constraint of the question against its page: its type (the head noun
        of its page's definition), the entity's checks (name letters, dates, periods, numbers) and its
        relations to the named entities in the clauses. A missing statement is "not stated": it keeps the
        candidate, unverified; only what the page says against the question drops it."""
        if (name, entity) in self.candidates:
            return self.candidates[name, entity]
        url = self.url_for(name) or ""
        findings: list[Finding] = []
        if entity.head:
            article = "an" if entity.head[:1] in "aeiou" else "a"
            constraint = f"{article} {entity.head}"
            score, defined = self.type_score(name, text, entity.head)
            if defined is None:
                findings.append(Finding(constraint, NOT_STATED, "its page does not say what it is"))
            elif score > 0:
                findings.append(Finding(constraint, HOLDS, f'"{quoted(defined, 90)}"'))
            else:
                nouns = defining_nouns(defined)
                what = f"a {nouns[0]}" if nouns else "something else"
                findings.append(Finding(constraint, FAILS, f'its page calls it {what}: "{quoted(defined, 90)}"'))
        for check in entity.checks:
            ok, why = self.check(name, text, check)
            findings.append(Finding(check.text, {True: HOLDS, False: FAILS, None: NOT_STATED}[ok], why))
        findings += self.relations(name, text, entity)
        candidate = Candidate(name, entity, findings)
        if self._bridging:  # tested as the entity in between, not as an answer
            verdict = (f"so it is the {entity.head}" if candidate.verified else f"so it may be the {entity.head}"
                       if candidate.kept else f"so it is not the {entity.head}")
            self.note("u:" + url, f'"{name}", as the {entity.head}: ' + "; ".join(f.text() for f in findings)
                      + f"; {verdict}.")
        else:
            verdict = ("I keep it" if candidate.verified else "I keep it, unverified" if candidate.kept
                       else "I drop it")
            self.note("u:" + url, f'"{name}": ' + "; ".join(f.text() for f in findings) + f". {verdict}.")
        self.candidates[name, entity] = candidate
        return candidate

    def relations(self, name: str, text: str, entity: Entity) -> list[Finding]:
        """The clauses that tie the entity to another one ("whose label is Gullwing Records", "whose notable
        works include the opera with a libretto by Ivo Castell"), each tested on the candidate's page and on
        the other entity's page. Through a described entity: the one the search reached the candidate from
        must itself fit that description (judged the same way) and be tied to the candidate."""
        out = []
        check_texts = [c.text for c in entity.checks]
        own = own_clauses(entity.clauses)
        phrases = constraint_phrases(Entity(head=entity.head, clauses=own))
        for i, phrase in enumerate(phrases):
            rest = phrase
            for check_text in check_texts:
                rest = rest.replace(check_text, " ")
            if own != entity.clauses and i == len(phrases) - 1:
                # the clause goes on to describe another entity ("the opera with a libretto by Ivo Castell")
                described = entity.clauses[len(own):].strip()
                if not self.relation_words(rest, []) and re.search(r"\b(?:where|when|in which|for which)\b", rest):
                    # "where the astronomer ... worked": the verb that ties them ends the description
                    rest = f"{rest} {described.split()[-1]}"
                out.append(self.through(name, text, f"{phrase} {described}".strip(), rest, described, entity))
                continue
            others = [n for n in names_in(without_checks(rest)) if not is_initials(n)]
            for other in others[:2]:
                out.append(self.relation(name, text, phrase, other, self.relation_words(rest, [other])))
        return out

    def relation_words(self, text: str, names: list[str]) -> set[str]:
        """The words that say how two entities are tied ("label", "libretto", "born" and its synonyms); a
        bare "located in"/"is" ties them by a mention alone."""
        for name in names:
            text = text.replace(name, " ")
        found = self.attribute_words(" ".join(words(text)))
        return {w for w in found if w not in _WEAK_RELATION and len(w) >= 3}

    def through(self, name: str, text: str, constraint: str, rest: str, described: str, entity: Entity) -> Finding:
        inner = self.inner.get(entity)
        if inner is not None:  # resolved on the way: the tie to it is what is left to test
            return self.relation(name, text, constraint, inner, self.relation_words(rest, []))
        inner_entity = parse_subject(described)
        of_name = re.fullmatch(r"of (?:the )?([A-Z][^,]*?)", inner_entity.clauses.strip())
        if inner_entity.name is not None or (of_name and not re.search(r"\b(?:whose|who|that|which|where|with)\b",
                                                                      of_name.group(1))):
            # "the words of Our Island, Our Light", "the performers of Symphony No. 2 (Fennick)": a tie to that
            # name, said by the noun
            other = inner_entity.name or of_name.group(1).strip()
            return self.relation(name, text, constraint, other,
                                 self.relation_words(f"{rest} {inner_entity.head}", [other]))
        if self._bridging >= 2:
            return Finding(constraint, NOT_STATED, f"I have not identified the {inner_entity.head} it describes")
        # the entity in between: a page I read that fits the description and is tied to the candidate
        named = {norm(n) for n in names_in(described)} | self.question_names | {norm(name)}
        via = self.via.get(name)
        bridges = [via] if via and norm(via) not in named else []
        bridges += [t for t in (self.memory.title(u) for u in self.memory.pages)
                    if t and norm(t) not in named and t not in bridges and norm(t) != "main page"]
        relation = self.relation_words(rest, [])
        partial = None
        self._bridging += 1
        try:
            for bridge in bridges:
                bridge_text = self.memory.pages.get(self.url_for(bridge) or "")
                if bridge_text is None:
                    continue
                tie = self.relation(name, text, constraint, bridge, relation)
                if tie.status != HOLDS:
                    continue
                fits = self.judge(bridge, bridge_text, inner_entity)
                said = "; ".join(f.text() for f in fits.findings)
                if fits.verified:
                    return Finding(constraint, HOLDS, f'"{bridge}" is the {inner_entity.head} ({said}), and '
                                                      f"{tie.evidence}")
                if fits.kept and partial is None:
                    partial = Finding(constraint, NOT_STATED, f'"{bridge}" may be the {inner_entity.head} '
                                                              f"({said}), and {tie.evidence}")
        finally:
            self._bridging -= 1
        return partial or Finding(constraint, NOT_STATED,
                                  f"I have not identified the {inner_entity.head or 'entity'} it describes")

    def relation(self, name: str, text: str, constraint: str, other: str, relation: set[str]) -> Finding:
        """Holds where a sentence of the candidate's page (or of the other's) names the other (the
        candidate) with the relation's words; fails where the candidate's `Key: value` for the relation
        names someone else; else not stated."""
        def says(line: str, what: str) -> bool:
            if norm(what) not in norm(line):
                return False
            line_stems = [stem(w) for w in re.findall(r"[A-Za-z]+", line)]
            return not relation or any(s.startswith(w) or w.startswith(s) for s in line_stems for w in relation
                                       if len(s) >= 3 and len(w) >= 3)
        for line in sentences(text):
            if says(line, other):
                return Finding(constraint, HOLDS, f'its page says "{quoted(line)}"')
        other_url = self.url_for(other)
        for line in sentences(self.memory.pages.get(other_url or "", "")):
            if says(line, name):
                return Finding(constraint, HOLDS, f'the page on "{other}" says "{quoted(line)}"')
        for line in sentences(text):
            keyed = re.match(r"^\s*([^:]{1,40}):\s*(.+)$", line)
            if keyed and relation and relation <= {stem(w) for w in re.findall(r"[A-Za-z]+", keyed.group(1))} \
                    and norm(other) not in norm(keyed.group(2)):
                return Finding(constraint, FAILS, f'its page says "{quoted(line)}"')
        return Finding(constraint, NOT_STATED, f'neither its page nor the page on "{other}" ties it to "{other}"'
                       if other_url in self.memory.pages else f'its page does not tie it to "{other}"')

    def check(self, name: str, text: str, check: Check) -> tuple[bool | None, str]:
        """(passes: True, fails: False, cannot tell: None, and why in words) for one check on a candidate."""
        if check.kind == "letter":
            part, letters = check.value.split(":")
            # read as the question writer masked it (synth.tasks.operations), so a check never disagrees
            # with the mask it undoes: "Jan de Vries" is J. d. V., "A Winter Tale" begins with W
            plain = re.sub(r"\s*\([^)]*\)$", "", name)
            if part == "surname":
                got = surname(bare_name(plain))[:1].upper()
            elif part == "initials":
                got = "".join(c for c in initials(plain) if c.isalpha()).upper()
            else:
                got = bare_name(plain)[:1].upper()
            ok = got == "".join(c for c in letters if c.isalpha()).upper()
            what = {"surname": "its surname", "initials": "its initials", "name": "its name"}[part]
            return ok, f'{what} "{name}" {"starts with" if part != "initials" else "gives"} {got or "nothing"}'
        if check.kind in ("period", "date"):
            return self.check_time(text, check)
        value = self.measure(text, check.about)
        if value is None:
            return None, f"its page gives no {check.about}"
        number, written = value
        ok = (check.low is None or number >= check.low) and (check.high is None or number <= check.high)
        return ok, f'its page gives {check.about} "{written}"'

    def check_time(self, text: str, check: Check) -> tuple[bool | None, str]:
        """A date or year the question ties to a word ("died", "founded"): read only from the page's lines
        with that word (or its `Key:`), or the lead's "(3 March 1891 – 12 June 1957)" for birth and death."""
        wanted = self.attribute_words(check.about) if check.about else set()
        lines = []
        for line in sentences(text):
            line_stems = [stem(w) for w in re.findall(r"[A-Za-z]+", line)]
            if not wanted or any(s.startswith(w) or w.startswith(s) for s in line_stems for w in wanted
                                 if len(s) >= 3 and len(w) >= 3):
                lines.append((line, line))
        lead = re.search(rf"\({DATE_RE.pattern}\s*[–-]\s*{DATE_RE.pattern}\)", text)
        if lead and wanted & {"born", "birth", "die", "died", "death", "dead"}:
            dates = [m.group(1) for m in DATE_RE.finditer(lead.group(0))]
            lines.insert(0, (dates[-1] if wanted & {"die", "died", "death", "dead"} else dates[0], lead.group(0)))
        if check.kind == "date":
            day = _day(check.value)
            for line, shown in lines:
                if any(_day(m.group(1)) == day for m in DATE_RE.finditer(line)):
                    return True, f'its page says "{quoted(shown)}"'
            for line, shown in lines:
                if DATE_RE.search(line):
                    return False, f'its page says "{quoted(shown)}"'
            return None, f"its page gives no date {check.about}".rstrip()
        for line, shown in lines:
            years = [int(y) for y in YEAR_RE.findall(line)]
            if any(lo <= y <= hi for y in years for lo, hi in check.years):
                return True, f'its page says "{quoted(shown)}"'
        for line, shown in lines:
            if YEAR_RE.search(line):
                return False, f'its page says "{quoted(shown)}"'
        return None, f"its page gives no year {check.about}".rstrip()

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
        verified = []
        for url in self.memory.results.get(query, [])[:5]:
            title, snippet = self.memory.hits.get(url, ("", ""))
            if not title:
                continue
            if url not in self.memory.pages and url not in self.memory.visited \
                    and self.type_score(title, snippet, entity.head)[0] > 0:
                # the snippet shows the kind of thing; the other conditions are checked on its page
                self.pages([title], f"to check it against every condition on the {entity.head}")
            if self.judge(title, self.memory.pages.get(url, snippet), entity).verified:
                verified.append(title)
        return self.choose(verified[:1], entity, {})

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
        # "acquisition year": a line about the acquisition, not any "Year:" (the year it was painted)
        wanted = (wanted - {"year", "date"}) or wanted
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
            # in a sentence, the value nearest the word that names the attribute ("Founded in 1883, it opened
            # in 1887": 1883 is the founding)
            at = [m.start() for m in re.finditer(r"[A-Za-z]+", body)
                  if any(stem(m.group(0)).startswith(w) or w.startswith(stem(m.group(0))) for w in wanted
                         if len(stem(m.group(0))) >= 3)] if not key_match else []
            for value, position in self.values(body, target.kind, target.attribute):
                distance = min((abs(position - a) for a in at), default=position)
                score = (3.0 if key_match else 1.0) - distance / (len(body) + 1)
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
        """The answering turn: each constraint on the chosen candidate with what its page says (holds, fails,
        not stated), and an `Unverified:` line when any of them, or a step on the way, is not backed."""
        research = self.research
        parts = self.learnt(final=True)
        chosen = research.chosen
        dropped = [c for c in research.candidates.values() if not c.kept and c is not chosen
                   and (chosen is None or c.entity == chosen.entity)]
        if dropped:
            parts.append("Dropped: " + "; ".join(
                f'"{c.name}" ({next(f for f in c.findings if f.status == FAILS).text()})' for c in dropped[:6])
                + (f"; and {len(dropped) - 6} more" if len(dropped) > 6 else "") + ".")
        if chosen is not None and chosen.findings:
            numbered = "; ".join(f"({i}) {f.text()}" for i, f in enumerate(chosen.findings, 1))
            parts.append(f'"{chosen.name}" against each condition: {numbered}.')
        if research.found:
            parts.append("So: " + "; ".join(dict.fromkeys(research.found)) + ".")
        target = research.target
        what = f"the {attribute_phrase(target)}" if isinstance(target, Attribute) else f"the {target.head or 'answer'}"
        if research.doubts:
            parts.append(f"{UNVERIFIED} " + "; ".join(dict.fromkeys(research.doubts)) + ".")
            parts.append(f"My best-supported answer for {what} is {answer}, but the pages I read do not confirm it.")
        else:
            parts.append(f"The evidence gives {what}: {answer}.")
        return "\n".join(parts)

    def guess(self, answer: str) -> str:
        parts = self.learnt(final=True)
        tried = list(dict.fromkeys(c.name for c in self.research.candidates.values()))
        doubts = list(dict.fromkeys(self.research.doubts))
        if tried:
            doubts.append(f"none of the candidates I checked ({listing(tried)}) passes every condition")
        doubts.append("I could not confirm an answer from the evidence")
        parts.append(f"{UNVERIFIED} " + "; ".join(doubts) + ".")
        parts.append(f'"{answer}" is my best guess, not a verified one.')
        return "\n".join(parts)


class ScriptedSearchPolicy(Policy):
    """An offline search agent that answers from what the tools return (see the module docstring)."""

    name = "scripted"
    model = "scripted-search-3"

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
