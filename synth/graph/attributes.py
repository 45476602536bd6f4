"""Typed attributes (storage.schemas.ATTRIBUTE) from infobox rows, data-table rows and lead sentences.

A row can state several facts: "Born: 3 March 1891, Varkholm, Estavia" is a date and a place. Values
that link to an entity of the graph become `person`/`place` (or plain `entity`) attributes carrying
its id; a link to a page of the same site that the corpus lacks still names a person or place when
the key says so ("Capital", "Spouse"); scalars are typed by `values.parse_value`; the rest is text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drsynth.synth.graph.urls import host_of
from drsynth.synth.graph.values import Value, find_dates, life_dates, parse_value, strip_parentheticals

# href -> (entity id, entity type) for links into the graph, None otherwise
Resolver = Callable[[str], tuple[str, str] | None]

PLACE_KEYS = re.compile(
    r"^(?:born|died|birth ?place|place of (?:birth|death)|death ?place|location|locations|headquarters|"
    r"capital|largest city|capital and largest city|city|town|country|countries|resting place|venue|site|"
    r"province|region|state|county|hometown|residence|seat|mouth|source|discovery site|settlements|towns)\b",
    re.IGNORECASE,
)
PERSON_KEYS = re.compile(
    r"^(?:spouses?|spouse\(s\)|partners?|children|parents?|parent\(s\)|relatives|founders?|founded by|director|"
    r"directed by|author|authors|composer|artist|leader|mayor|president|chairman|ceo|key people|starring|"
    r"music by|written by|lyrics|librettist|soloist|conductor|principal conductor|succeeded by|preceded by|"
    r"monarch|prime minister|governor|governor-general|discovered by|designer|architect|editor|producer|produced by|producers?|"
    r"writers?|songwriters?|lyricists?|performers?|narrated by|presented by|screenplay by|story by|"
    r"cinematography|edited by|creators?|created by|illustrators?|translators?|commanders?|coach(?:es)?|"
    r"(?:doctoral |academic )?advisors?|doctoral students|notable students|authority|vice ?president|"
    r"predecessors?|successors?|senators?|representatives?|deputy|nominator|appointer|opponents?|crew members?|influenced by)\b",
    re.IGNORECASE,
)
# a name that is a company's, whatever key it sits under ("Founder: Netscape Communications Corporation")
_ORGANIZATION_NAME = re.compile(r"\b(?:Corporation|Corp|Company|Co|Inc|Ltd|LLC|GmbH|AG|SA|plc|Group|Foundation|"
                                r"University|Institute|Society|Association|Studios?|Press|Records)\b\.?$")
ORGANIZATION_KEYS = re.compile(
    r"^(?:label|labels|record label|publisher|published by|studio|production companies|production company|"
    r"distributor|distributed by|network|original network|broadcaster|employer|political party|party|"
    r"manufacturer|developer|owner|owners|operator|parent|parent company|school|alma mater|university|"
    r"club|team|current team|league|affiliation|affiliations)\b",
    re.IGNORECASE,
)
# columns that describe a row's person in relation to the page (a tenure, a role), not the person alone
_RELATIONAL_COLUMNS = re.compile(r"^(?:years?|tenure|term|period|role|roles|position|positions|notes?|relation|"
                                 r"connection)$")
# columns that place a row within its table ("Rank" in a list of the largest towns): the table's, not the row's
_TABLE_COLUMNS = re.compile(r"^(?:rank|ranking|no\.?|#|pos\.?|position)$")
_FOOTNOTE = re.compile(r"\[[^\]]{1,12}\]")
_NUMBERED = re.compile(r"(?<=[a-z])\d{1,2}$")
# the generic {{Infobox}}'s numbered rows: label7 names what data7 holds
_GENERIC_ROWS = re.compile(r"^(?:label|data|header|above|below|image|caption)\d+$")
_BY_BEFORE = re.compile(r"\bby\s+$")
_DATING_VALUE = re.compile(r"^\(?\d{4}\)?(?:\s+(?:est\.?|estimate|census))?$", re.IGNORECASE)
_OFFSET_AFTER = re.compile(r"^\s?[+−–-]\s?\d")
# a link right after "by" or "<noun> of" sits inside a longer phrase about something else
_PART_BEFORE = re.compile(r"\bby\s+$|\b[a-z]+\s+of\s+(?:the\s+)?$")
# the box's own furniture and the labels of paired rows; matched against normalized keys
_NOT_PROPERTIES = re.compile(
    r"^(?:name|caption|alt|image|logo|signature|map|footnotes?|notes?|module|embed|child|background|header|"
    r"(?:label|data|header|above|below|image|caption)\d+|above|below|title|subheader|image map|pushpin.*|coordinates display|display parents|"
    r"subdivision ranks|lat[dms]|latns|long[dms]|longew|coord.*|mapsize|image size|imagesize|logo size|"
    r"align|width|color|colour|bgcolor|style|class|leader title|subdivision type|established event|"
    r"seat type|bgcolou?r|label map|common name|status system|footnotes? ?[a-z]?|symbol type|sovereignty type|"
    r"established date|trend|.* (?:label|caption|alt|image|size|style|ref|refs|note|notes|footnote|footnotes|"
    r"system|link|change))$|"
    r"(?:^| )(?:image|caption|alt)\b"
)
_OPTIONAL_PLURAL = re.compile(r"\(s\)|\(es\)", re.IGNORECASE)
_NAME_CHARS = re.compile(r"[^\w]+")
_DISAMBIGUATOR = re.compile(r"\s*\([^()]+\)\s*$")
_KEY_WS = re.compile(r"\s+")


def normalize_key(key: str) -> str:
    """An infobox key or table header as a relation name: "Notable works:" -> "notable works",
    "Writer(s)" -> "writer", "birth_place" -> "birth place", "timezone2" -> "timezone" (a template's
    numbered repeat of one parameter)."""
    key = _FOOTNOTE.sub("", key or "").replace("_", " ")
    key = _OPTIONAL_PLURAL.sub("", key)
    key = _KEY_WS.sub(" ", key).strip(" :·•").lower()
    return key if _GENERIC_ROWS.match(key) else _NUMBERED.sub("", key)


def is_property(key: str) -> bool:
    """Whether an infobox key names a property of the subject, not the box's own furniture: its
    caption, image, map, alt text, coordinates parts, the labels of numbered rows ("leader title")."""
    return bool(key) and not _NOT_PROPERTIES.search(key)


def linked_as_value(key: str, value: str, anchor: str) -> bool:
    """Whether a link in an infobox value names the key's value itself, not something inside it.
    "Based on: A Boyhood on Rook by [Rolf Aastad]" links the book's author, not what the opera is based
    on; "Known for: Geological survey of [Mount Orrin]" the surveyed mountain; "Currency: New Zealand
    dollar ($) ([NZD])" and "Alma mater: ... ([diploma] in history)" gloss a part in parentheses. Keys
    that say "by" themselves ("Directed by") are the exception to the first rule."""
    at = value.find(anchor)
    if at < 0:
        return True
    if at == 0:
        return not _OFFSET_AFTER.match(value[len(anchor):])
    before = value[:at]
    if before.count("(") > before.count(")") or _OFFSET_AFTER.match(value[at + len(anchor):]):
        return False  # a gloss in parentheses; "[UTC]+12", "[UTC] −5" link the reference, not the zone
    if key.endswith(" by"):
        return True
    if PLACE_KEYS.search(key):
        # "Location: West coast of [Estavia]", "Source: North face of [Mount Orrin]": a part of a place
        # is still in it; only "by" hands the value to someone else
        return not _BY_BEFORE.search(before)
    return not _PART_BEFORE.search(before)


def property_rows(entries: list[dict] | None) -> list[tuple[str, str, list[dict]]]:
    """(normalized key, value, links naming the value) of the infobox rows that state a property: the
    box's own furniture is skipped, and so is a year parameter that only dates a sibling's value
    ("population census year" beside "population census")."""
    rows = []
    keys = set()
    for entry in entries or []:
        key = normalize_key(entry.get("key") or "")
        value = " ".join((entry.get("value") or "").split())
        if is_property(key) and value:
            rows.append((key, value, entry))
            keys.add(key)
    out = []
    for key, value, entry in rows:
        if key.endswith(" year") and any(k != key and k.startswith(key[:-5]) for k in keys):
            continue
        if _DATING_VALUE.match(value) and any(k.startswith(key + " – ") for k in keys):
            continue  # a section header row ("GDP (PPP): 2018 estimate") only dates the rows below it
        links = [link for link in entry.get("links") or [] if linked_as_value(key, value, link.get("anchor") or "")]
        out.append((key, value, links))
    return out


def _fold_name(text: str | None) -> str:
    return " ".join(_NAME_CHARS.sub(" ", (text or "").casefold()).split())


def own_box(entries: list[dict], title: str | None) -> int | None:
    """Which infobox of a page describes the page's own subject: the first whose title is the page's
    (or that has none). A later box with the same title is another subject of that name, a cover
    version of the song; a box titled otherwise is an office held, a ship's namesake. None when the
    page has no infobox."""
    boxes: dict[int, str | None] = {}
    for entry in entries:
        box = entry.get("box") or 0
        if box not in boxes or (boxes[box] is None and entry.get("subject")):
            boxes[box] = entry.get("subject")
    if not boxes:
        return None
    label = _fold_name(_DISAMBIGUATOR.sub("", title or ""))
    for box in sorted(boxes):
        subject = _fold_name(boxes[box])
        if not subject or not label or subject == label or subject in label or label in subject:
            return box
    return min(boxes)


# a nested box headed by what it is rather than its name: "Single by The Harbour Lights" on the song's page
_VERSION_BOX = re.compile(r"^(?:single|song|album|ep|cover|version|recording|release|film|soundtrack)\b.*\bby\b",
                          re.IGNORECASE)


def other_versions(entries: list[dict] | None, title: str | None) -> int:
    """How many boxes besides the page's own describe another subject of the page's name: a cover version
    of the song, with its own writers, label and date. Such a subject exists, and the graph holds no entity
    for it."""
    entries = [e for e in entries or [] if e]
    own = own_box(entries, title)
    label = _fold_name(_DISAMBIGUATOR.sub("", title or ""))
    subjects: dict[int, str] = {}
    for entry in entries:
        box = entry.get("box") or 0
        if box != own and entry.get("subject"):
            subjects.setdefault(box, _fold_name(entry["subject"]))
    return sum(1 for subject in subjects.values()
               if (label and (subject == label or label in subject)) or _VERSION_BOX.match(subject))


def own_entries(entries: list[dict] | None, title: str | None) -> list[dict]:
    """The rows of the page's own infobox; rows of the boxes about other subjects are left out."""
    entries = [e for e in entries or [] if e]
    box = own_box(entries, title)
    return [e for e in entries if (e.get("box") or 0) == box]


def attribute(key: str, value: str, kind: str, *, normalized: str | None = None, unit: str | None = None,
              qualifier: str | None = None, entity_id: str | None = None, source: str, doc_id: str) -> dict:
    return {"key": key, "value": value, "kind": kind, "normalized": normalized, "unit": unit,
            "qualifier": qualifier, "entity_id": entity_id, "source": source, "doc_id": doc_id}


def _hint(key: str) -> str | None:
    # a sub-row ("Government – Prime Minister") is typed by its own name, after its section's
    for part in dict.fromkeys((key, key.rsplit(" – ", 1)[-1])):
        if PLACE_KEYS.search(part):
            return "place"
        if PERSON_KEYS.search(part):
            return "person"
    return None


def stub_type(key: str, anchor: str) -> str:
    """The type of an entity known only from an infobox link to it, by the key it sits under:
    `label` -> organization, `birth place` -> place, `writer` -> person."""
    key = normalize_key(key)
    if ORGANIZATION_KEYS.search(key.rsplit(" – ", 1)[-1]) or _ORGANIZATION_NAME.search(anchor):
        return "organization"
    return _hint(key) or "thing"


# what an infobox key says its linked entity is, finer than its type: "Label: [Gullwing Records]" names a
# record label (a class of synth.graph.classes), so a stub is never "might be a newspaper"
_STUB_SUBTYPES: dict[str, str] = {
    "label": "record label", "labels": "record label", "record label": "record label",
    "publisher": "publisher", "published by": "publisher", "studio": "studio", "network": "network",
    "original network": "network", "broadcaster": "broadcaster", "political party": "political party",
    "party": "political party", "manufacturer": "manufacturer", "university": "university", "school": "school",
    "club": "club", "team": "team", "current team": "team",
}


def stub_subtype(key: str) -> str | None:
    """The class an infobox key makes the entity it links to, where the key says more than a type."""
    return _STUB_SUBTYPES.get(normalize_key(key).rsplit(" – ", 1)[-1])


def _scalar(key: str, value: str, found: Value, source: str, doc_id: str) -> dict:
    # `value` stays the row as written (the surface form a question quotes); the parse is in the others
    return attribute(key, value, found.kind, normalized=found.normalized, unit=found.unit,
                     qualifier=found.qualifier, source=source, doc_id=doc_id)


def value_attributes(
    key: str, value: str, links: list[dict], resolve: Resolver, *, source: str, doc_id: str, page_url: str | None,
    own_id: str | None = None,
) -> list[dict]:
    """The attributes one infobox row (or one table cell) states; `links` are its [{href, anchor}]."""
    out: list[dict] = []
    hint = _hint(key)
    seen: set[str] = set()
    linked_kinds: set[str] = set()
    page_host = host_of(page_url)
    for link in links:
        anchor = " ".join((link.get("anchor") or "").split())
        href = link.get("href") or ""
        if not anchor or not anchor[0].isalpha():
            continue  # coordinates, footnote numbers
        target = resolve(href)
        if target is not None:
            entity_id, entity_type = target
            if entity_id in seen or entity_id == own_id:
                continue
            seen.add(entity_id)
            kind = entity_type if entity_type in ("person", "place", "organization", "group") else "entity"
            out.append(attribute(key, anchor, kind, entity_id=entity_id, source=source, doc_id=doc_id))
        elif page_host and host_of(href) == page_host and anchor not in seen and not anchor[0].islower():
            # a page of the same site the corpus does not hold: still a name, typed by the key
            seen.add(anchor)
            kind = "entity" if hint == "person" and _ORGANIZATION_NAME.search(anchor) else hint or "entity"
            out.append(attribute(key, anchor, kind, source=source, doc_id=doc_id))
        else:
            continue
        linked_kinds.add(out[-1]["kind"])
    if seen:
        out.extend(_unlinked_items(key, value, seen | {a["value"] for a in out}, out[0]["kind"], source, doc_id))
    found = parse_value(key, value)
    if found is not None:
        out.append(_scalar(key, value, found, source, doc_id))
    if hint and hint not in linked_kinds:
        # "3 March 1891, Varkholm, Estavia" without links: the words after the date name the place
        rest = strip_parentheticals(value)
        for date in find_dates(rest)[:1]:
            rest = (rest[: date.start] + rest[date.end:]).strip(" ,;")
        if found is not None and found.kind in ("number", "quantity"):
            rest = ""
        if rest and rest[0].isalpha() and len(rest.split()) <= 8 and (found is not None or not linked_kinds):
            out.append(attribute(key, rest, hint, source=source, doc_id=doc_id))
            return out
    if not out:
        out.append(attribute(key, value, "text", source=source, doc_id=doc_id))
    return out


_LIST_SEPARATORS = re.compile(r"\s*[,;•·]\s*|\n")


def _unlinked_items(key: str, value: str, linked: set[str], kind: str, source: str, doc_id: str) -> list[dict]:
    """The items of a list value beside its links that link nowhere: "Notable works: [A History of Estavia]
    (1978), Orrevik: A Life (1985)" names a second work, of the linked one's kind. Kept as values naming no
    entity, so that "the work among her notable works" is seen to have two candidates."""
    folded = {name.casefold() for name in linked}
    out = []
    for item in _LIST_SEPARATORS.split(strip_parentheticals(value)):
        item = item.strip(" .")
        if (not item or not item[0].isupper() or item.casefold() in folded or len(item.split()) > 8
                or find_dates(item) or not any(ch.isalpha() for ch in item)
                or any(item.casefold() in name or name in item.casefold() for name in folded)):
            continue
        folded.add(item.casefold())
        out.append(attribute(key, item, kind, source=source, doc_id=doc_id))
    return out


def infobox_attributes(entries: list[dict], resolve: Resolver, *, doc_id: str, page_url: str | None,
                       own_id: str | None = None) -> list[dict]:
    out: list[dict] = []
    for key, value, links in property_rows(entries):
        out.extend(value_attributes(key, value, links, resolve, source="infobox",
                                    doc_id=doc_id, page_url=page_url, own_id=own_id))
    return out


def lead_attributes(sentence: str, *, doc_id: str) -> list[dict]:
    """Birth and death dates from a person's lead sentence: "X ( died 11 November 875) was ...". A year the
    sentence marks as approximate ("(c. 1055 – 1124)") keeps its mark in the value as written."""
    return [
        attribute(key, found.surface if found.qualifier else found.normalized, found.kind,
                  normalized=found.normalized, qualifier=found.qualifier, source="text", doc_id=doc_id)
        for key, found in life_dates(sentence).items()
    ]


# --- data tables ---------------------------------------------------------------------------------


def row_context(header: list[str], row: list[str]) -> str:
    """The context the extractor gives a table link: "Year: 1922; Title: ...", mirroring
    synth.corpus.html_structure, so that a link finds its row."""
    if header:
        return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, row, strict=False) if c)
    return " | ".join(c for c in row if c)


def _cells(values: list | None) -> list[str]:
    """A header or row with null cells as empty ones (the schema allows nulls)."""
    return ["" if v is None else str(v) for v in values or []]


def table_rows(table: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a table, null cells empty and null rows skipped."""
    return _cells(table.get("header")), [_cells(row) for row in table.get("rows") or [] if row is not None]


def _cell_of(row: list[str], anchor: str) -> int | None:
    """The column whose cell is the anchor, else the first that contains it."""
    folded = anchor.casefold()
    for i, cell in enumerate(row):
        if (cell or "").casefold() == folded:
            return i
    for i, cell in enumerate(row):
        if folded and folded in (cell or "").casefold():
            return i
    return None


def table_cells(table: dict, links: list[dict]) -> list[tuple[list[str], dict[int, list[dict]]]]:
    """Each row of a table with its links by column: [(cells, {column: [link, ...]})]."""
    header, table_rows_ = table_rows(table)
    by_context: dict[str, list[dict]] = {}
    for link in links:
        if link.get("kind") == "table":
            by_context.setdefault(link.get("context") or "", []).append(link)
    rows = []
    for cells in table_rows_:
        placed: dict[int, list[dict]] = {}
        for link in by_context.get(row_context(header, cells), []):
            col = _cell_of(cells, link.get("anchor") or "")
            if col is not None:
                placed.setdefault(col, []).append(link)
        rows.append((cells, placed))
    return rows


def _name_column(rows: list[tuple[list[str], dict]], votes: dict[int, int]) -> int | None:
    """The leftmost column of link cells whose values tell rows apart (a city repeated down a list
    of buildings is not what the rows are about)."""
    for col in sorted(votes):
        values = [cells[col].casefold() for cells, _ in rows if col < len(cells) and cells[col]]
        if values and len(set(values)) >= 0.8 * len(values):
            return col
    return None


@dataclass(frozen=True)
class RowSubject:
    """A row of a data table whose name cell links nowhere: a subject the page lists (Symphony No. 1 in a
    composer's table of works beside linked ones) that the graph cannot otherwise see. It becomes a stub
    entity with the row's cells as attributes, so that uniqueness weighs it as a candidate."""

    name: str
    type: str  # the top type most linked rows of its table have
    attributes: tuple[dict, ...]


def table_attributes(
    table: dict, links: list[dict], resolve: Resolver, *, doc_id: str, page_url: str | None, own_id: str | None,
) -> tuple[list[tuple[str, dict]], list[RowSubject]]:
    """(entity id, attribute) for the rows of a data table whose name column links to an entity: the
    other cells of the row are that entity's attributes, keyed by their column header; and the rows whose
    name links nowhere, as `RowSubject`s."""
    header = [normalize_key(h) for h in table_rows(table)[0]]
    if not header:
        return [], []
    rows = table_cells(table, links)
    # candidates for the name column: columns whose cells are exactly a link to an entity
    votes: dict[int, int] = {}
    targets: list[dict[int, tuple[str, str]]] = []
    for cells, placed in rows:
        row_targets: dict[int, tuple[str, str]] = {}
        for col, col_links in placed.items():
            for link in col_links:
                target = resolve(link.get("href") or "")
                if target is not None:
                    row_targets.setdefault(col, target)
                    if (link.get("anchor") or "").casefold() == cells[col].casefold():
                        votes[col] = votes.get(col, 0) + 1
        targets.append(row_targets)
    name_col = _name_column(rows, votes)
    if name_col is None:
        return [], []
    # rows whose name is no entity: their subjects exist (the page lists them) but the graph cannot see them
    unseen = [(cells, placed) for (cells, placed), row_targets in zip(rows, targets, strict=True)
              if name_col not in row_targets and name_col < len(cells) and cells[name_col].strip()]
    unlisted = len(unseen)
    out: list[tuple[str, dict]] = []
    types: Counter[str] = Counter()
    for (cells, placed), row_targets in zip(rows, targets, strict=True):
        target = row_targets.get(name_col)
        if target is None or target[0] == own_id:
            continue
        types[target[1]] += 1
        for _, attr in _row_attributes(header, cells, placed, name_col, target[1], resolve, doc_id=doc_id,
                                       page_url=page_url, own_id=target[0]):
            out.append((target[0], {**attr, "unlisted_rows": unlisted}))
    subjects = []
    if types:
        kind = types.most_common(1)[0][0]
        for cells, placed in unseen:
            attributes = tuple(attr for _, attr in _row_attributes(header, cells, placed, name_col, kind, resolve,
                                                                   doc_id=doc_id, page_url=page_url, own_id=None))
            subjects.append(RowSubject(" ".join(cells[name_col].split()), kind, attributes))
    return out, subjects


def _row_attributes(header: list[str], cells: list[str], placed: dict[int, list[dict]], name_col: int, kind: str,
                    resolve: Resolver, *, doc_id: str, page_url: str | None,
                    own_id: str | None) -> Iterator[tuple[int, dict]]:
    """The attributes a table row states of its subject (of top type `kind`), by column."""
    for col, cell in enumerate(cells):
        if col == name_col or col >= len(header) or not header[col] or not cell:
            continue
        if _TABLE_COLUMNS.match(header[col]) or (kind in ("person", "group")
                                                  and _RELATIONAL_COLUMNS.match(header[col])):
            continue  # "Years" in a university's table of alumni: her years there, not her own fact
        for attr in value_attributes(header[col], cell, placed.get(col, []), resolve, source="table",
                                     doc_id=doc_id, page_url=page_url, own_id=own_id):
            yield col, attr
