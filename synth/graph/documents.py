"""What the graph reads off one document: its lead sentence, label, alias candidates, and whether it
is about a real-world entity at all (navigation hubs, link lists and site boilerplate are not)."""

from __future__ import annotations

import re

from drsynth.synth.corpus.extract import sentence_bounds
from drsynth.synth.graph.urls import fold, is_site_root

_DISAMBIGUATOR = re.compile(r"\s*\([^()]+\)\s*$")
_QUOTES = "\"'“”‘’«»„‟‹›`"
_COPULA = re.compile(r"\b(?:is|was|are|were|refers? to)\b", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_SENTENCE_CLOSERS = ".!?:;\"”’)]…"
_STOPWORDS = frozenset({"a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "by", "with", "from",
                        "de", "la", "le", "von", "van", "der"})
MAX_DESCRIPTION_CHARS = 400
MIN_LEAD_WORDS = 6
# a page is a link list when it has more than this many text links per word...
MAX_LINKS_PER_WORD = 0.25
MIN_LINKS_FOR_DENSITY = 5
# ...and a stub of boilerplate when it is this short and has neither infobox nor bold lead term
MIN_ENTITY_WORDS = 50


def label_of(title: str) -> str:
    """The title without a trailing disambiguator: "The Salt Orchard (film)" -> "The Salt Orchard"."""
    label = _DISAMBIGUATOR.sub("", title).strip()
    return label or title.strip()


def clean_term(term: str | None) -> str:
    """A bold term or anchor as a name: enclosing quotes and stray punctuation stripped."""
    term = " ".join((term or "").split()).strip(" ,;:")
    while len(term) > 1 and term[0] in _QUOTES and term[-1] in _QUOTES:
        term = term[1:-1].strip(" ,;:")
    return term


def _paragraphs(text: str, max_lines: int) -> list[str]:
    """The opening paragraphs, with lines that source wrapping broke mid-sentence joined again."""
    out: list[str] = []
    for i, raw in enumerate(text.split("\n")):
        if i >= max_lines:
            break
        line = " ".join(raw.split())
        if not line:
            continue
        if out and out[-1][-1] not in _SENTENCE_CLOSERS and line[0].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def lead_paragraph(text: str, title: str | None = None, max_lines: int = 16) -> str:
    """The paragraph that defines the subject: the first of the opening lines (headings, hatnotes and
    coordinates skipped) that reads as a defining sentence ("X is/was ..."), else the first long one."""
    title_fold = fold(title or "")
    first_long = ""
    for line in _paragraphs(text, max_lines):
        if len(line.split()) < MIN_LEAD_WORDS or fold(line) == title_fold:
            continue
        if _COPULA.search(line[:300]):
            return line
        first_long = first_long or line
    return first_long


def first_sentence(paragraph: str) -> str:
    if not paragraph:
        return ""
    bounds = sentence_bounds(paragraph)
    sentence = paragraph[: bounds[1]] if len(bounds) > 1 else paragraph
    sentence = sentence.strip()
    if len(sentence) > MAX_DESCRIPTION_CHARS:
        cut = sentence.rfind(" ", 0, MAX_DESCRIPTION_CHARS)
        sentence = sentence[: cut if cut > 0 else MAX_DESCRIPTION_CHARS].rstrip(" ,;:") + " …"
    return sentence


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(fold(text)) if w not in _STOPWORDS and len(w) > 1}


def names_subject(sentence: str, names: list[str]) -> bool:
    """True when the sentence names the page's subject: most words of the title (or of a bold name)."""
    words = _content_words(sentence)
    for name in names:
        wanted = _content_words(name)
        if wanted and len(wanted & words) * 2 >= len(wanted):
            return True
    return False


def description(lead_sentence: str, meta_description: str | None, names: list[str]) -> str:
    """One sentence about the subject: the lead sentence when it names it, else the page's own
    description (its first sentence), else whatever lead there is."""
    if lead_sentence and names_subject(lead_sentence, names):
        return lead_sentence
    meta = first_sentence(" ".join((meta_description or "").split()))
    return meta or lead_sentence


def non_entity_signals(
    *, url: str | None, title: str, lead_sentence: str, word_count: int, text_links: int, has_infobox: bool,
    bold_terms: list[str],
) -> list[str]:
    """Why a web page is not about one real-world entity; empty when it is.

    An infobox settles it. Otherwise a site's home page, a page that is mostly links (an index), or a
    page with no bold lead term that is either very short or whose opening does not name its own title
    (contact, disclaimer and "random article" pages) is not an entity.
    """
    if has_infobox:
        return []
    decisive: list[str] = []
    if is_site_root(url):
        decisive.append("the site's home page")
    if text_links >= MIN_LINKS_FOR_DENSITY and text_links > MAX_LINKS_PER_WORD * max(word_count, 1):
        decisive.append(f"link list ({text_links} links in {word_count} words)")
    if not bold_terms:
        if word_count < MIN_ENTITY_WORDS:
            decisive.append(f"short ({word_count} words) with no bold lead term")
        elif not names_subject(lead_sentence, [label_of(title)] if title else []):
            decisive.append("no bold lead term, and the opening sentence does not name the title")
    if not decisive:
        return []
    return [*decisive, "no infobox"]
