"""A question read as a reader reads it: the descriptions it nests and the names it states, from its text only.

Planning samples must teach what a question states and never what it hides, so this reads nothing but the
question: no formalization, no operations, no answer. A description is an article and a lower-case head
("the historian whose notable works include ..."); it runs to the next description nested in it, and the
innermost one takes the rest of the question, as English attaches trailing clauses to the nearest noun
("the capital where X was born and whose population is ..."). A question that ends on its main verb
("When was the architect ... born?", "How many students does the school ... have?") keeps that verb for its
last step.

    What was the underground fire associated with the historian whose notable works include A History
    of Estavia?
    -> 1. the historian whose notable works include A History of Estavia (x1)
       2. the underground fire associated with x1 (the answer)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drsynth.synth.tasks.text import MONTHS

# an article opening a description: not "the same ... as" (a comparison), not a period ("the early 1830s",
# "the mid 20th century", "the 1940s") and not a name ("the Varkholm Herald"); nor (_ATTRIBUTE) an attribute
# the noun before has: in "the city with a population of more than 400,000", "a population of" constrains the
# city, it is not a thing to find ("associated with the historian ..." is)
_START = re.compile(r"\b(?:the|a|an)\s+(?!(?:same|early|mid|late|letter)\b|mid-|\d)(?=[a-z])")
_ATTRIBUTE = re.compile(r"(?<=\bwith )(?:a|an|the)\s+[a-z]+\s+(?:of|by)\s")  # "with a population of ..."
# questions that end on their main verb: (pattern, how the last step reads with the subject as {x})
_VERB_LAST = [
    (re.compile(r"^(?P<wh>When|In (?:what|which) year) (?P<aux>was|were|did|is|does|do) (?P<body>.+) "
                r"(?P<verb>[a-z]+)$"), "{wh} {aux} {x} {verb}?"),
    (re.compile(r"^How (?P<much>many|much) (?P<what>.+?) (?P<aux>does|do|did|has|had|is|was) (?P<body>.+?) "
                r"(?P<verb>have|has|had)$"), "How {much} {what} {aux} {x} {verb}?"),
]
_COPULA = re.compile(r"^(?P<wh>What|Who|Which)(?P<noun> [a-z]+)? (?P<aux>is|was|are|were) (?P<body>.+)$")
_NAME = re.compile(r"[A-Z][\w'’.\-]*(?:\s+(?:(?:of|the|for|at|on|in|and|over|under|to|de|von|van|la|le|del|du)\s+)*"
                   r"[A-Z0-9][\w'’.\-]*)*")
_QUESTION_WORDS = frozenset({"what", "who", "when", "where", "which", "how", "in", "whose", "is", "was", "did",
                             "does", "do", "are", "were"})
_MONTHS = frozenset(m.casefold() for m in MONTHS)
_KNOWN = re.compile(r"\s((?:is|was|are|were) (?:best )?known)$")
_INITIALS = re.compile(r"^(?:[A-Z]\.?\s?)+$")


@dataclass(frozen=True)
class Step:
    text: str  # the description or question of this step, later ones naming earlier ones by label
    label: str  # "x1", ... or "the answer"
    names: tuple[str, ...]  # the names the question states in this step's own words


def names_in(text: str) -> list[str]:
    """The names a text states: capitalized phrases ("A History of Estavia", "Winter at Kellmar"), not a
    question word opening it, not a letter or initials ("whose name begins with E", "I. C.")."""
    found: list[str] = []
    for match in _NAME.finditer(text):
        words = match.group(0).strip(" ,.").split()
        while words and match.start() == 0 and words[0].casefold() in _QUESTION_WORDS:
            words = words[1:]  # "In what year was ...": "In" opens the question
        name = " ".join(words).strip(" ,.")
        if words and words[0].casefold() in _MONTHS and len(words) <= 2:
            continue  # "March 1955" is a date, not a name to search for
        if len(name) > 2 and not _INITIALS.match(name):
            found.append(name)
    return list(dict.fromkeys(found))


def _outer(question: str) -> tuple[str, str | None]:
    """(the part of the question that describes, the last step's question with {x} for it) ; None: the body
    itself is what is asked ("What was the underground fire ...?")."""
    text = " ".join(question.split()).rstrip(" ?.")
    for pattern, shape in _VERB_LAST:
        match = pattern.match(text)
        if match:
            fields = {k: v for k, v in match.groupdict().items() if k != "body"}
            return match.group("body"), shape.format(x="{x}", **fields)
    match = _COPULA.match(text)
    if match:
        return match.group("body"), None
    return text, "{x}?"


def decompose(question: str) -> list[Step]:
    """The steps that answer `question`, innermost description first; the last one yields the answer."""
    body, last = _outer(question)
    starts = [m.start() for m in _START.finditer(body) if not _ATTRIBUTE.match(body, m.start())]
    if last is None and (not starts or starts[0] != 0):
        starts = [0, *starts]  # "What is Gellan Bay Blues?" asks for the whole body
    if not starts:
        return [Step(" ".join(question.split()), "the answer", tuple(names_in(body)))]
    pieces = [body[a:b].strip() for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]
    opener = next((i for i in range(len(pieces) - 2, -1, -1) if pieces[i].endswith(" which")), None)
    if opener is not None and (known := _KNOWN.search(pieces[-1])):
        # "the film for which the actress ... is known": "is known" closes the clause "for which" opened, with
        # the description right after it (its step's label) as its subject
        pieces[-1] = pieces[-1][: known.start()].strip()
        pieces[opener] = f"{pieces[opener]} {{x}} {known.group(1)}"
    head = body[: starts[0]].strip()  # words before the first description ("Gellan Bay Blues of ...")
    steps: list[Step] = []
    inner = ""
    for depth, piece in enumerate(reversed(pieces), 1):
        text = piece.replace("{x}", inner) if "{x}" in piece else f"{piece} {inner}".strip() if inner else piece
        is_answer = depth == len(pieces) and last is None and not head
        label = "the answer" if is_answer else f"x{depth}"
        steps.append(Step(text, label, tuple(names_in(piece))))
        inner = label
    if last is not None or head:
        subject = f"{head} {inner}".strip() if head else inner
        shape = last or "{x}?"
        text = shape.format(x=subject)
        steps.append(Step(text[0].upper() + text[1:], "the answer", tuple(names_in(head))))
    return steps


def question_names(question: str) -> list[str]:
    """The names of the question, innermost description's first: where a search starts."""
    out: list[str] = []
    for step in decompose(question):
        out.extend(n for n in step.names if n not in out)
    return out or names_in(_outer(question)[0])
