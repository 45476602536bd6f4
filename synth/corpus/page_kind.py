"""What a wiki page is, from its title, categories and the markers its source carries.

One rule for every way Wikipedia arrives (an XML dump's wikitext, a ZIM's HTML, a saved or crawled
page), so that a disambiguation page is not an entity whichever reader saw it. Only an `article`
describes one real-world entity; list, index and disambiguation pages link to many (their links may
still name those entities), and a redirect is an alias of its target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PAGE_KINDS = ("article", "disambiguation", "list", "index", "redirect", "navigation")

_DISAMBIGUATION_TITLE = re.compile(r"\(disambiguation\)\s*$", re.IGNORECASE)
# "List of ...", "Lists of ...", "Bob Dylan discography", "... filmography", "... bibliography", "... videography"
_LIST_TITLE = re.compile(r"^lists? of\b|\b(?:discography|filmography|bibliography|videography)\s*$",
                         re.IGNORECASE)
_INDEX_TITLE = re.compile(r"^(?:index|outline|glossary) of\b", re.IGNORECASE)
_DISAMBIGUATION_CATEGORY = re.compile(r"\bdisambiguation pages\b|^set index articles\b", re.IGNORECASE)
_LIST_CATEGORY = re.compile(r"^lists? of\b|\bdiscographies\b|\bfilmographies\b|\bbibliographies\b",
                            re.IGNORECASE)
# namespaces of wiki pages that are site machinery, not articles ("Portal:Music", "Template:Navbox ...")
_NAVIGATION_TITLE = re.compile(r"^(?:portal|template|category|wikipedia|help|special|file|mediawiki|module|"
                               r"draft|user|talk|[a-z ]+ talk):", re.IGNORECASE)


def page_kind(title: str | None, categories: Iterable[str] = (), *, disambiguation: bool = False,
              redirect: bool = False) -> str:
    """article | disambiguation | list | index | redirect | navigation.

    `disambiguation` is the source's own marker (a `{{disambiguation}}` template, a `#disambigbox`);
    `redirect` a `#REDIRECT` page or a ZIM redirect entry.
    """
    title = " ".join((title or "").split())
    categories = [" ".join(c.split()) for c in categories if c]
    if redirect:
        return "redirect"
    if _NAVIGATION_TITLE.match(title):
        return "navigation"
    if disambiguation or _DISAMBIGUATION_TITLE.search(title) or any(_DISAMBIGUATION_CATEGORY.search(c)
                                                                    for c in categories):
        return "disambiguation"
    if _INDEX_TITLE.match(title):
        return "index"
    if _LIST_TITLE.search(title) or any(_LIST_CATEGORY.search(c) for c in categories):
        return "list"
    return "article"


def describes_one_entity(kind: str | None) -> bool:
    """Whether a page of this kind is about one entity: articles are, and pages of unknown kind (an
    ordinary website's) are left to the graph's own signals."""
    return kind in (None, "", "article")
