"""The scripted search agent: an offline policy that researches a question with the real tools.

It reads only the conversation (the question and its tool results), never a task's answer or evidence,
and writes the same message format as a model. Each turn it replays what it has learnt (search hits, visited
pages) and asks what is still missing to answer:

- the question is parsed into a target: an entity described by a head noun and clauses ("the long-period
  comet discovered at the Ostvale Observatory"), or an attribute (a date, year, number or related entity)
  of a subject that is named or itself described ("the discovery date of the comet for which ... is known");
- a description is resolved from its named entities outwards: their pages are searched for and visited,
  the entities those pages mention are ranked by how well their sentences match the question's words, and
  the best ones are visited to check their type (the head noun in their lead); when none has the type, the
  search hops from the best-matching ones (multi-hop questions);
- attribute values are read from the subject's page by regex for the kind of value asked (dates, years,
  numbers) near the attribute's words, or from `Key: value` lines;
- constraints ("whose name begins with F", "in the 1890s") are checked on the candidates.

Deterministic for a given sample index (the index varies how many candidates are examined per hop and how
queries are phrased).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import zlib
from dataclasses import dataclass, field

from synth.agent.format import (
    ToolCall,
    observation_text,
    parse_context_prompt,
    parse_turn,
    render_turn,
)
from synth.agent.policy import Policy
from synth.agent.runner import SYNTHESIS_MARK

MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
DATE_RE = re.compile(rf"\b(\d{{1,2}} (?:{MONTHS})\.? \d{{3,4}}|(?:{MONTHS})\.? \d{{1,2}}, \d{{3,4}}|\d{{4}}-\d\d-\d\d)\b")
YEAR_RE = re.compile(r"(?<![\d,.])(1[0-9]{3}|20[0-9]{2})(?![\d,])")
NUMBER_RE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w,]|\.\d)")
HIT_RE = re.compile(r"^\s*(?:\d+\.\s*)?\[([^\]\n]+)\]\((\S+?)\)\s*$", re.M)
CONNECTORS = {"of", "the", "over", "on", "at", "for", "to", "and", "de", "von", "van", "la", "le", "del", "du"}
NAME_RE = re.compile(r"[A-Z][\w'’.\-/]*(?:,? +(?:(?:of|the|over|on|at|for|to|and|de|von|van|la|le|del|du) +)*"
                     r"(?:[A-Z][\w'’.\-/]*|No\. *\d+|\d+\b))*")
QUESTION_WORDS = {"what", "who", "when", "where", "which", "how", "in", "whose", "whom", "is", "was", "the", "a",
                  "an", "did", "does", "do", "are", "were"}
STOPWORDS = QUESTION_WORDS | {"of", "on", "at", "by", "for", "with", "from", "to", "and", "that", "this", "it",
                              "its", "his", "her", "their", "as", "be", "been", "has", "have", "had", "there",
                              "than", "more", "less", "between", "into", "among", "include", "includes",
                              "associated", "known", "one", "also", "after", "before", "about"}
HEAD_STOP = {"whose", "that", "which", "who", "whom", "where", "when", "of", "in", "on", "at", "by", "for", "with",
             "from", "to", "associated", "among", "and", "based", "known", "after", "during", "about"}
SYNONYMS = {"die": ("died", "death", "dead"), "born": ("born", "birth"), "found": ("founded", "established"),
            "establish": ("established", "founded", "founding"), "open": ("opened", "inaugurated"),
            "discover": ("discovered", "discovery"), "publish": ("published", "publication"),
            "release": ("released", "release"), "build": ("built", "construction"), "launch": ("launched",),
            "acquire": ("acquired", "bought", "acquisition"), "complete": ("completed", "completion")}
MAX_HOPS = 3
# samples after the first explore, like a policy sampled at a temperature: with this probability a choice
# between candidates takes the runner-up, so k samples of a task can disagree and pass rates are informative
EXPLORE = 0.4


_DISAMBIGUATOR = re.compile(r"\s*\([^)]*\)\s*$")  # "The Salt Orchard (film)"
_PUNCTUATION = re.compile(r"[^\w\s]")


@functools.lru_cache(maxsize=1 << 16)  # the same titles are compared over and over while researching
def _norm(text: str) -> str:
    text = _DISAMBIGUATOR.sub("", text or "")
    words = _PUNCTUATION.sub(" ", text.casefold()).split()
    return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)


def _stem(word: str) -> str:
    word = word.casefold()
    for suffix in ("ings", "ing", "ied", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word[:6] if len(word) > 6 else word


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'\-]+|\d+", text) if w.casefold() not in STOPWORDS]


@functools.lru_cache(maxsize=1 << 16)
def _stems(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _words(text))


def names_in(text: str) -> list[str]:
    """Capitalized phrases (and quoted titles) in a text, question words and sentence starts dropped."""
    found = [m.strip() for m in re.findall(r"\"([^\"]+)\"|“([^”]+)”", text) for m in m if m]
    for match in NAME_RE.finditer(text):
        name = match.group(0).strip(" ,.")
        words = name.split()
        while words and (words[0].casefold() in QUESTION_WORDS or words[0].casefold() in CONNECTORS):
            words = words[1:]
        while words and words[-1].casefold() in CONNECTORS:
            words = words[:-1]
        name = " ".join(words).strip(" ,.")
        if name and not name.isdigit() and (len(name) > 2 or name.isupper()) and not re.fullmatch(r"[\d,.]+", name):
            found.append(name)
    return list(dict.fromkeys(found))


# --- the question ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entity:
    """An entity to find: a head noun ("polar explorer") with clauses, or a name."""
    head: str = ""
    clauses: str = ""
    name: str | None = None


@dataclass(frozen=True)
class Attribute:
    attribute: str
    subject: Entity
    kind: str  # date | year | number | any


@dataclass(frozen=True)
class Constraints:
    initial: str | None = None
    decades: tuple[int, ...] = ()


def parse_subject(phrase: str) -> Entity:
    phrase = phrase.strip(" ,.?")
    match = re.match(r"(?:the|a|an)\s+([a-z][\w\-]*(?:\s+[a-z][\w\-]*)*)(.*)$", phrase)
    if match is None:
        return Entity(name=re.sub(r"^(?:the|The)\s+(?=[A-Z])", "", phrase).strip() or phrase)
    words = (match.group(1) + match.group(2)).split()
    head: list[str] = []
    for i, word in enumerate(words):
        if word in HEAD_STOP or (head and word.endswith("ed") and word not in ("red",)) or not word[0].islower():
            rest = " ".join(words[i:])
            return Entity(head=" ".join(head), clauses=rest)
        head.append(word)
    return Entity(head=" ".join(head))


def parse_question(question: str) -> tuple[Entity | Attribute, Constraints]:
    text = " ".join(question.split()).rstrip(" ?.")
    initial = re.search(r"\b(?:begins|starts|beginning|starting) with (?:the letter )?\"?([A-Z])\b", text)
    decades = tuple(int(d) for d in re.findall(r"\b(1\d{2}0|20\d0)s\b", text))
    constraints = Constraints(initial.group(1) if initial else None, decades)
    patterns = [
        (r"^when (?:did|was|were|is|does) (.+?) (\w+)$", "date"),
        (r"^(?:in )?(?:what|which) year (?:did|was|were|is|does) (.+?) (\w+)$", "year"),
        (r"^how (?:many|much) (.+?) (?:does|did|do|has|had|is|was) (.+?)(?: have| has| had)?$", "number"),
        # "how many people died in the flood ...": the count, then a verb and the subject it happened in
        (r"^how (?:many|much) (\w+ \w+) (?:in|at|on|during|of|by) (.+)$", "number"),
    ]
    for pattern, kind in patterns:
        match = re.match(pattern, text, flags=re.I)
        if match:
            if kind == "number":
                return Attribute(match.group(1), parse_subject(match.group(2)), kind), constraints
            return Attribute(match.group(2), parse_subject(match.group(1)), kind), constraints
    match = re.match(r"^(?:what|who|which)(?: \w+)? (?:is|was|are|were) (.+)$", text, flags=re.I)
    body = match.group(1) if match else text
    described = parse_subject(body)
    if described.name is None and described.clauses.startswith("of ") and len(described.head.split()) <= 3:
        kind = "date" if "date" in described.head.split() else "any"
        return Attribute(described.head, parse_subject(described.clauses[3:]), kind), constraints
    return described, constraints


# --- what the agent knows --------------------------------------------------------------------------------

@dataclass
class Memory:
    searched: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    hits: dict[str, tuple[str, str]] = field(default_factory=dict)  # url -> (title, snippet)
    pages: dict[str, str] = field(default_factory=dict)  # url -> what the visit returned

    def learn(self, call: ToolCall, observation: str) -> None:
        if call.name == "search":
            queries = call.arguments.get("query") or []
            self.searched += [queries] if isinstance(queries, str) else list(queries)
            for title, url, snippet in parse_hits(observation):
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
                 "Visited: " + json.dumps(self.visited, ensure_ascii=False), "", "## Search results"]
        lines += [f"[{title}]({url})\n{snippet}" for url, (title, snippet) in self.hits.items()]
        lines.append("")
        lines.append("## Pages read")
        for url, text in self.pages.items():
            lines.append(f"### {url}\n{text.strip()}\n### end")
        return "\n".join(lines)

    @classmethod
    def from_report(cls, report: str) -> Memory:
        memory = cls()
        for key, attr in (("Searched", "searched"), ("Visited", "visited")):
            found = re.search(rf"^{key}: (.*)$", report, flags=re.M)
            if found:
                with contextlib.suppress(json.JSONDecodeError, TypeError):
                    setattr(memory, attr, list(json.loads(found.group(1))))
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
    link_lines = "\n".join(f"[{t}]({u})" for t, u, _ in parse_hits(links.replace("\n- [", "\n[")))
    return text.strip() + ("\n" + link_lines if link_lines else "")


def parse_hits(text: str) -> list[tuple[str, str, str]]:
    """(title, url, snippet) of every `[title](url)` result line, the lines below it being its snippet."""
    matches = list(HIT_RE.finditer(text))
    hits = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        snippet = " ".join(text[match.end():end].split())
        hits.append((match.group(1).strip(), match.group(2).strip(), snippet))
    return hits


class Need(Exception):
    """What the agent must do before it can go on."""

    def __init__(self, call: ToolCall, why: str) -> None:
        super().__init__(why)
        self.call = call
        self.why = why


# --- the research ------------------------------------------------------------------------------------------

class Research:
    def __init__(self, question: str, memory: Memory, rng: random.Random, explore: float = 0.0) -> None:
        self.question = question
        self.rng = rng
        self.explore = explore
        self.memory = memory
        self.target, self.constraints = parse_question(question)
        self.question_names = {_norm(n) for n in names_in(question)}
        self.question_stems = _stems(question)
        self.width = rng.choice((4, 5))
        self.notes: list[str] = []
        self._urls: dict[str, tuple[int, str | None]] = {}

    # pages ---------------------------------------------------------------------------------------
    def url_for(self, name: str) -> str | None:
        key = _norm(name)
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
            if _norm(title) == key:
                return url
        for url, (title, _) in self.memory.hits.items():
            t = _norm(title)
            if key and (t.startswith(key + " ") or key.startswith(t + " ")) and len(t) > 3:
                return url
        return None

    def pages(self, names: list[str], why: str) -> dict[str, str]:
        """name -> page text of those of `names` that can be found; asks for the searches and visits missing."""
        missing = [n for n in names if self.url_for(n) is None and n not in self.memory.searched]
        if missing:
            raise Need(ToolCall("search", {"query": missing[:5]}), f"I search for {', '.join(missing[:5])} ({why}).")
        out: dict[str, str] = {}
        for name in names:
            url = self.url_for(name)
            if url is None:
                continue
            if url not in self.memory.pages:
                if url in self.memory.visited:
                    continue
                goal = f"{self.question} (about {name})"
                raise Need(ToolCall("visit", {"url": [url], "goal": goal}), f"I read the page on {name} ({why}).")
            out[name] = self.memory.pages[url]
        return out

    # entities ------------------------------------------------------------------------------------
    def type_score(self, name: str, text: str, head: str) -> float:
        """How well the page's definition ("X is a long-period comet ...") matches the head noun phrase: the
        share of its words found there, 0 unless the last (the noun itself) is."""
        if not head:
            return 1.0
        snippet = self.memory.hits.get(self.url_for(name) or "", ("", ""))[1]
        scores = []
        for source in (text, snippet):
            sentences = [x for x in re.split(r"(?<=[.!?])\s+|\n+", source.replace("**", "")) if x.strip()]
            for sentence in sentences[:6]:
                defined = re.search(r"\b(?:is|was|are|were)\b\s+(?:an?|the|one)?\b(.*)", sentence)
                if defined is None:
                    continue
                words = {_stem(w) for w in re.findall(r"[A-Za-z\-]+", defined.group(1)[:160])}
                wanted = [_stem(w) for w in head.split()]
                if wanted[-1] in words:
                    scores.append(sum(w in words for w in wanted) / len(wanted))
                break
        return max(scores, default=0.0)

    def mentions(self, text: str) -> dict[str, float]:
        """Entities a page mentions (known result titles, capitalized phrases), scored by the overlap of the
        sentences they occur in with the question's words."""
        scores: dict[str, float] = {}
        text = re.sub(r"\]\([^)\s]*\)", "]", text)  # link targets are not names
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
            overlap = len(_stems(sentence) & self.question_stems)
            for name in names_in(sentence):
                key = _norm(name)
                if not key or key in self.question_names or len(key) < 3:
                    continue
                known = self.url_for(name) is not None  # a page we can open, not just a capitalized word
                if not known and " " not in name:
                    continue
                scores[name] = max(scores.get(name, 0.0), overlap + 0.1 + (1.5 if known else 0.0))
        return scores

    def resolve(self, entity: Entity, depth: int = 0) -> str | None:
        if entity.name is not None:
            return entity.name
        anchors = [n for n in names_in(entity.clauses)]
        if not anchors:
            inner = re.search(r"\b(?:the|a|an) [a-z].*$", entity.clauses)
            if inner and depth < MAX_HOPS:
                found = self.resolve(parse_subject(inner.group(0)), depth + 1)
                anchors = [found] if found else []
        if not anchors:
            return self.search_typed(entity)
        frontier = anchors
        seen = {_norm(a) for a in anchors}
        for hop in range(MAX_HOPS):
            texts = self.pages(frontier, f"to find the {entity.head}" if hop == 0 else "to follow a lead")
            scores: dict[str, float] = {}
            for text in texts.values():
                for mentioned, score in self.mentions(text).items():
                    if _norm(mentioned) not in seen:
                        scores[mentioned] = scores.get(mentioned, 0.0) + score
            for url, text in self.memory.pages.items():  # pages that mention the anchors themselves
                title = self.memory.title(url)
                if title and _norm(title) not in seen and any(_norm(a) in _norm(text) for a in frontier):
                    scores[title] = scores.get(title, 0.0) + 1.0
            ranked = sorted(scores, key=lambda n: (-scores[n], n))[: self.width + 1]
            if not ranked:
                return None
            candidates = self.pages(ranked, f"to check whether it is the {entity.head}")
            typing = {n: self.type_score(n, candidates[n], entity.head) for n in ranked if n in candidates}
            good = sorted((n for n in typing if typing[n] > 0 and self.fits(n, candidates[n])),
                          key=lambda n: (-typing[n], -scores[n]))
            if good:
                chosen = self.pick(good)
                title = self.memory.title(self.url_for(chosen) or "") or chosen
                return re.sub(r"\s*\([^)]*\)$", "", title)
            seen |= {_norm(n) for n in ranked}
            frontier = [n for n in ranked if n in candidates][: self.width]
            if not frontier:
                return None
        return None

    def pick(self, ranked: list[str]) -> str:
        """The best candidate; while exploring, sometimes the runner-up."""
        if len(ranked) > 1 and self.explore and self.rng.random() < self.explore:
            return ranked[1]
        return ranked[0]

    def search_typed(self, entity: Entity) -> str | None:
        query = " ".join(_words(f"{entity.head} {entity.clauses}"))[:200]
        if query not in self.memory.searched:
            raise Need(ToolCall("search", {"query": [query]}), f"No name to start from: I search for {query}.")
        for title, snippet in self.memory.hits.values():
            if self.type_score(title, snippet, entity.head) > 0 and self.fits(title, snippet):
                return re.sub(r"\s*\([^)]*\)$", "", title)
        return None

    def fits(self, name: str, text: str) -> bool:
        """The question's constraints on the answer itself: its initial; a decade it names must appear in the
        candidate's page (when that page says any year at all)."""
        if self.constraints.initial and not re.sub(r"^the\s+", "", name, flags=re.I).upper().startswith(
                self.constraints.initial):
            return False
        years = {int(y) for y in YEAR_RE.findall(text)}
        return not (self.constraints.decades and years
                    and not any(d <= y < d + 10 for d in self.constraints.decades for y in years))

    # attribute values ----------------------------------------------------------------------------
    def attribute_words(self, attribute: str) -> set[str]:
        words = set()
        for word in attribute.split():
            stem = _stem(word)
            if stem in STOPWORDS or word in STOPWORDS:
                continue
            words.add(stem)
            for key, synonyms in SYNONYMS.items():
                if stem.startswith(key) or word.startswith(key):
                    words |= {_stem(s) for s in synonyms}
        return words

    def value(self, target: Attribute) -> str | None:
        subject = self.resolve(target.subject)
        if subject is None:
            return None
        self.notes.append(f"The {target.subject.head or 'subject'} is {subject}.")
        texts = self.pages([subject], f"to find its {target.attribute}")
        text = texts.get(subject)
        if text is None:
            return None
        wanted = self.attribute_words(target.attribute)
        found: dict[str, float] = {}
        for line in re.split(r"(?<=[.!?])\s+|\n+", text):
            stems = [_stem(w) for w in re.findall(r"[A-Za-z]+", line)]
            hits = [i for i, s in enumerate(stems) if any(s.startswith(w) or w.startswith(s) for w in wanted if
                                                             len(s) >= 3)]
            keyed = re.match(r"^\s*([^:]{1,40}):\s*(.+)$", line)
            key_match = bool(keyed) and bool(_stems(keyed.group(1)) & wanted)
            if not hits and not key_match:
                continue
            body = keyed.group(2) if key_match else line
            for value, position in self.values(body, target.kind, target.attribute):
                score = (3.0 if key_match else 1.0) - position / (len(body) + 1)
                if score > found.get(value, float("-inf")):
                    found[value] = score
        if not found and target.kind in ("date", "year"):
            lead = re.search(rf"\(({DATE_RE.pattern})\s*[–-]\s*({DATE_RE.pattern})\)", text)
            if lead:
                dead = wanted & {"die", "died", "death"}
                date = lead.group(2) if dead else lead.group(1)
                return YEAR_RE.search(date).group(1) if target.kind == "year" else date
        return self.pick(sorted(found, key=lambda v: -found[v])) if found else None

    def values(self, text: str, kind: str, attribute: str) -> list[tuple[str, int]]:
        if kind == "date":
            return [(m.group(1), m.start()) for m in DATE_RE.finditer(text)]
        if kind == "year":
            return [(m.group(1), m.start()) for m in YEAR_RE.finditer(text)]
        if kind == "number":
            return [(m.group(1), m.start()) for m in NUMBER_RE.finditer(text) if not YEAR_RE.fullmatch(m.group(1))]
        # any: the first name after the attribute, else a date or a number
        after = text
        found = [(n, text.find(n)) for n in names_in(after) if _norm(n) not in self.question_names
                 and not set(_stems(n)) <= self.attribute_words(attribute)]
        if found:
            return found[:1]
        dates = [(m.group(1), m.start()) for m in DATE_RE.finditer(text)]
        numbers = [(m.group(1), m.start()) for m in NUMBER_RE.finditer(text)]
        return dates or numbers

    def answer(self) -> str | None:
        if isinstance(self.target, Attribute):
            return self.value(self.target)
        return self.resolve(self.target)


class ScriptedSearchPolicy(Policy):
    """An offline search agent that answers from what the tools return (see the module docstring)."""

    name = "scripted"
    model = "scripted-search-1"

    def __init__(self, *, max_calls: int = 24) -> None:
        self.max_calls = max_calls  # it answers with its best guess after this many of its own calls

    async def respond(self, messages: list[dict], *, sample_index: int, **_: object) -> str:
        if messages[-1]["role"] == "user" and SYNTHESIS_MARK in messages[-1]["content"]:
            return self.synthesize(messages[-1]["content"])
        context_mode = len(messages) == 2 and messages[1]["content"].startswith("Question: ")
        if context_mode:
            question, report, last_action, observation = parse_context_prompt(messages[1]["content"])
            memory = Memory.from_report(report)
            turn = parse_turn(last_action)
            if turn.call is not None and observation is not None:
                memory.learn(turn.call, observation)
        else:
            question = next(m["content"] for m in messages if m["role"] == "user")
            memory = Memory()
            for i, message in enumerate(messages):
                if message["role"] != "assistant" or i + 1 >= len(messages):
                    continue
                turn = parse_turn(message["content"])
                if turn.call is not None:
                    memory.learn(turn.call, observation_text(messages[i + 1]["content"]))
        forced = "final answer now" in messages[-1]["content"]
        seed = zlib.crc32(question.encode()) ^ (sample_index * 0x9E3779B1)
        rng = random.Random(seed)
        research = Research(question, memory, rng, explore=EXPLORE if sample_index else 0.0)
        # a later sample also varies its effort: it may settle for its best guess sooner
        budget = self.max_calls if not sample_index else rng.randint(max(2, self.max_calls // 4), self.max_calls)
        report = memory.report() if context_mode else None
        calls = len(memory.searched) + len(memory.visited)
        try:
            answer = research.answer()
        except Need as need:
            if not forced and calls < budget:
                think = f"{' '.join(research.notes)} {need.why}".strip()
                return render_turn(think, call=need.call, report=report)
            answer = None
        if answer is None:
            answer = self.guess(research)
            think = "I could not confirm the answer from the evidence; this is my best guess."
        else:
            think = f"{' '.join(research.notes)} The evidence points to {answer}.".strip()
        return render_turn(think, answer=answer, report=report)

    def synthesize(self, prompt: str) -> str:
        """Heavy mode's synthesis: the answer most agents gave (ties: the first agent's)."""
        answers = [a.strip() for a in re.findall(r"^Answer: (.*)$", prompt, flags=re.M) if not a.startswith("(no ")]
        if not answers:
            return render_turn("No agent found an answer.", answer="unknown")
        votes: dict[str, list[str]] = {}
        for answer in answers:
            votes.setdefault(_norm(answer), []).append(answer)
        best = max(votes.values(), key=len)
        return render_turn(f"{len(best)} of {len(answers)} agents answered {best[0]}.", answer=best[0])

    def guess(self, research: Research) -> str:
        for text in research.memory.pages.values():
            for name in research.mentions(text):
                return name
        return "unknown"
