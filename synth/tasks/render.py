"""Template wording of a draft: English noun phrases and questions from the mention tree."""

from __future__ import annotations

import re

from drsynth.synth.tasks.draft import Clause, Mention, TaskDraft
from drsynth.synth.tasks.phrases import RelationPhrase, article, attribute_question, fill, relation_phrase

# "who ...", "whose ...", "on whom ...", "in which ...": a clause with its own relative pronoun
_RELATIVE = re.compile(r"^(?:who|that|whose|where|which|whom|when)\b|^[a-z]+ (?:whom|which)\b")
_RELATIVE_INSIDE = re.compile(r"\b(?:who|whom|which|that|where|whose)\b")
# participles that describe a state ("located in"), as opposed to an event ("born in", "founded by")
_STATIVE = frozenset({"located", "associated", "based", "held", "known", "named", "buried", "employed", "owned",
                      "part", "set", "housed", "situated"})


def disambiguated(label: str, title: str, kind: str) -> str:
    """A page title's disambiguator as English: "The Salt Orchard (film)" -> "the film The Salt Orchard",
    "Symphony No. 2 (Fennick)" -> "Fennick's Symphony No. 2", "Springfield (Illinois)" -> "Springfield,
    Illinois". A question never shows the parentheses of a page title, and keeps what they tell apart."""
    qualifier = title[len(label):].strip().strip("()").strip() if title.startswith(label) else ""
    if not qualifier:
        return title
    if not qualifier[0].isupper():
        return f"the {qualifier} {label}"  # "the 1951 film X", "the bishop George Mason"
    if kind == "work":
        return f"{qualifier}'s {label}"
    if kind == "place":
        return f"{label}, {qualifier}"
    return title


def is_relative(text: str) -> bool:
    return _RELATIVE.match(text) is not None


def as_relative(text: str, person: bool) -> str:
    """"born in X" -> "who was born in X"; "with music by X" -> "that has music by X"."""
    if is_relative(text):
        return text
    who = "who" if person else "that"
    first = text.split(" ", 1)[0]
    if first == "with":
        return f"{who} has {text[len('with '):]}"
    if first == "starring":
        return f"{who} stars {text[len('starring '):]}"
    if first == "by":
        return f"{who} is {text}"
    if first == "lasting":
        return f"{who} lasts {text[len('lasting '):]}"
    return f"{who} {'is' if first in _STATIVE else 'was'} {text}"


def clause_text(mention: Mention, clause: Clause) -> str:
    if clause.kind == "edge" and clause.other is not None:
        phrase = _phrase(mention, clause)
        other = noun_phrase(clause.other)
        if clause.outgoing:
            return fill(phrase.out, person=mention.person, o=other)
        if phrase.front and _RELATIVE_INSIDE.search(other):
            # "where the art museum where X is located is located": put the long description last
            return fill(phrase.front, person=mention.person, s=other)
        return fill(phrase.into, person=mention.person, s=other)
    if clause.kind == "shared" and clause.other is not None:
        subject, obj = (mention.type, clause.shared_type) if clause.outgoing else (clause.shared_type, mention.type)
        phrase = relation_phrase(clause.relation, obj, subject)
        same = f"the same {clause.shared_noun} as {noun_phrase(clause.other)}"
        if clause.outgoing:
            return fill(phrase.out, person=mention.person, o=same)
        return fill(phrase.into, person=mention.person, s=same)
    return clause.text


def _phrase(mention: Mention, clause: Clause) -> RelationPhrase:
    """The relation's phrase, given the types at both ends of the edge (the edge's object picks
    prepositions, its subject how a location or a listed work reads)."""
    assert clause.other is not None
    if clause.outgoing:
        return relation_phrase(clause.relation, clause.other.type, mention.type)
    return relation_phrase(clause.relation, mention.type, clause.other.type)


def _relational(mention: Mention) -> str | None:
    """"the composer of X" when a mention's only clause is an in-edge with a relational noun."""
    if len(mention.clauses) != 1:
        return None
    clause = mention.clauses[0]
    if clause.kind != "edge" or clause.outgoing or clause.other is None:
        return None
    noun = _phrase(mention, clause).noun
    if not noun or (mention.cls and mention.cls != mention.type and mention.noun != noun):
        # "the songwriter of X" would drop "poet", a class the formalization checks that may be what
        # makes the answer unique (X has two songwriters): the question must say all it checks
        return None
    return f"the {noun} of {noun_phrase(clause.other)}"


def _heavy(clause: Clause) -> bool:
    """Whether a clause ends in a described entity: a modifier after it would read as that entity's."""
    return clause.other is not None and clause.other.var is not None


def describe(mention: Mention, determiner: str = "a") -> str:
    """The noun and every clause: "a composer born in the early 1890s whose surname begins with F".

    Light participles come first, then relative clauses, then clauses holding a described entity, so
    that a nested description's own modifiers end the phrase instead of floating between ours.
    """
    texts = [(clause_text(mention, c), _heavy(c)) for c in mention.clauses]
    light = sorted((t for t, heavy in texts if not heavy), key=lambda t: (is_relative(t), len(t)))
    heavy = sorted((t for t, h in texts if h), key=len)
    participles = [t for t in light if not is_relative(t)]
    tail = [t for t in light if is_relative(t)] + heavy
    head = article(mention.noun) if determiner == "a" else f"the {mention.noun}"
    if len(tail) == 1 and not is_relative(tail[0]):
        # "first performed in the 1920s and at the capital where ...": one verb, said once
        modifiers = _merge([*participles, tail[0]])
    elif tail and any(not t.startswith("with ") for t in participles):
        # "the school completed in 1889 and that is among ..." joins a participle to a relative clause:
        # verbs become relative clauses too, "the school that was completed in 1889 and that is among ...";
        # "with more than 600,000 visitors and where ..." reads well as it is
        kept = [t for t in participles if t.startswith("with ")]
        verbs = [as_relative(t, mention.person) for t in participles if not t.startswith("with ")]
        modifiers = _merge(kept) + _merge([*verbs, *(as_relative(t, mention.person) for t in tail)])
    else:
        modifiers = _merge(participles) + _merge([as_relative(t, mention.person) for t in tail])
    # a relative clause straight after "produced by Selva Film Studios" would read as the studio's,
    # so every modifier after the first is joined with "and"
    return " ".join([head, " and ".join(modifiers)]) if modifiers else head


_PREPOSITIONS = frozenset({"in", "on", "at", "by", "for", "with", "from", "to", "into", "after", "under"})


def _merge(texts: list[str]) -> list[str]:
    """"that took place in the 1890s", "that took place in Varkholm" -> "that took place in the 1890s and
    in Varkholm": one verb said once."""
    out: list[str] = []
    for text in texts:
        if out:
            a, b = out[-1].split(), text.split()
            common = 0
            while common < min(len(a), len(b)) - 1 and a[common] == b[common]:
                common += 1
            cut = max((j for j in range(1, common + 1) if b[j] in _PREPOSITIONS), default=0)
            if cut and not any(w in ("and", "whose") for w in b[:cut]):
                out[-1] = f"{out[-1]} and {' '.join(b[cut:])}"
                continue
        out.append(text)
    return out


def noun_phrase(mention: Mention, determiner: str = "the") -> str:
    if mention.var is None:
        return mention.display
    relational = _relational(mention)
    if relational:
        return relational
    # "the" only where the clauses pin the entity down through another one; "a town" otherwise
    return describe(mention, determiner if _has_edge(mention) else "a")


def _has_edge(mention: Mention) -> bool:
    return any(c.kind in ("edge", "shared") for c in mention.clauses)


def question(draft: TaskDraft) -> str:
    root = draft.root
    if draft.attribute is not None:
        np = noun_phrase(root) if root.var else root.display
        text = attribute_question(draft.attribute["key"], draft.attribute.get("kind", ""), np)
    else:
        wh = "Who" if root.person else "What"
        be = "was" if root.past else "is"
        relational = _relational(root)
        text = f"{wh} {be} {relational or describe(root, 'the')}?"
    return _tidy(text)


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]
