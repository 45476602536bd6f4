"""What kind of thing an entity is: person, place, organization, work, event or thing.

An infobox template decides first when the source names it (`classify`); then infobox keys (a "Born" row makes a person, "Population" a place, "Founded" an
organization, "Directed by" a work, "Date" with "Location" an event); the defining sentence of the
lead ("X was an Estavian composer") decides when there is no infobox or it says nothing. These are
generic cues of encyclopedic writing, not lists of known titles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

TYPES = ("person", "group", "place", "organization", "work", "event", "thing")

# infobox key (lower-cased, exact or as a prefix word) -> (type, weight)
_KEY_CUES: dict[str, tuple[str, float]] = {
    # people
    "born": ("person", 3), "died": ("person", 2), "date of birth": ("person", 3), "birth date": ("person", 3),
    "place of birth": ("person", 3), "birth place": ("person", 3), "date of death": ("person", 2),
    "spouse": ("person", 2), "spouses": ("person", 2), "spouse(s)": ("person", 2), "children": ("person", 2),
    "parents": ("person", 2), "parent": ("person", 2), "parent(s)": ("person", 2), "relatives": ("person", 2),
    "nationality": ("person", 2), "citizenship": ("person", 2), "occupation": ("person", 2),
    "occupations": ("person", 2), "alma mater": ("person", 1), "education": ("person", 1),
    "resting place": ("person", 2), "years active": ("person", 1), "other names": ("person", 1),
    "instrument": ("person", 1), "instruments": ("person", 1), "fields": ("person", 1),
    "doctoral advisor": ("person", 2), "height": ("person", 0.5), "political party": ("person", 1),
    "in office": ("person", 1), "assumed office": ("person", 2), "preceded by": ("person", 0.5),
    "succeeded by": ("person", 0.5), "awards": ("person", 0.5), "employer": ("person", 1),
    "movement": ("person", 0.5), "notable works": ("person", 1), "known for": ("person", 0.5),
    # places
    "population": ("place", 2), "coordinates": ("place", 3), "elevation": ("place", 2), "area": ("place", 1),
    "capital": ("place", 2), "largest city": ("place", 2), "capital and largest city": ("place", 3),
    "time zone": ("place", 2), "mayor": ("place", 2), "province": ("place", 1), "state": ("place", 0.5),
    "country": ("place", 1), "continent": ("place", 2), "highest point": ("place", 2),
    "official language": ("place", 2), "official languages": ("place", 2), "currency": ("place", 1),
    "postal code": ("place", 2), "area code": ("place", 2), "demonym": ("place", 2), "demonym(s)": ("place", 2),
    "mouth": ("place", 2), "source": ("place", 1), "basin size": ("place", 2), "discharge": ("place", 2),
    "inflow": ("place", 2), "outflow": ("place", 2), "max. depth": ("place", 1.5), "surface elevation": ("place", 2),
    "settlements": ("place", 1.5), "islands": ("place", 1), "towns": ("place", 1), "first ascent": ("place", 2),
    "prominence": ("place", 2), "geology": ("place", 1), "ocean": ("place", 1), "countries": ("place", 1),
    "town charter": ("place", 2), "first recorded": ("place", 1), "lighthouse": ("place", 0.5),
    "spire height": ("place", 1.5), "construction": ("place", 1), "restored": ("place", 1),
    "architectural style": ("place", 1.5), "style": ("place", 0.5), "opened": ("place", 0.5),
    # organizations
    "founded": ("organization", 2), "founder": ("organization", 2), "founders": ("organization", 2),
    "founded by": ("organization", 1), "headquarters": ("organization", 3), "industry": ("organization", 3),
    "key people": ("organization", 3), "employees": ("organization", 2), "products": ("organization", 2),
    "revenue": ("organization", 2), "defunct": ("organization", 2), "subsidiaries": ("organization", 2),
    "parent organisation": ("organization", 2), "parent organization": ("organization", 2),
    "divisions": ("organization", 2), "established": ("organization", 2), "students": ("organization", 2),
    "members": ("organization", 1), "circulation": ("organization", 2), "principal conductor": ("organization", 2),
    "concert hall": ("organization", 2), "former name": ("organization", 1), "later name": ("organization", 1),
    "website": ("organization", 0.5), "owner": ("organization", 1), "publisher": ("work", 1),
    "affiliated institutions": ("organization", 1), "collection size": ("organization", 2),
    "visitors": ("organization", 1), "main telescope": ("organization", 1), "network": ("organization", 1),
    "type": ("organization", 0.25),
    # works
    "author": ("work", 3), "authors": ("work", 3), "director": ("work", 2), "directed by": ("work", 3),
    "composer": ("work", 3), "composed": ("work", 2), "published": ("work", 2), "release date": ("work", 3),
    "released": ("work", 2), "written by": ("work", 3), "starring": ("work", 3), "produced by": ("work", 2),
    "music by": ("work", 2), "based on": ("work", 2), "running time": ("work", 3), "premiere": ("work", 2),
    "isbn": ("work", 3), "pages": ("work", 2), "genre": ("work", 1), "artist": ("work", 2), "medium": ("work", 2),
    "dimensions": ("work", 1.5), "librettist": ("work", 3), "lyrics": ("work", 2), "music": ("work", 1),
    "movements": ("work", 1), "dedication": ("work", 1), "label": ("work", 1), "recorded": ("work", 2),
    "length": ("work", 0.25), "production company": ("work", 2), "cinematography": ("work", 2),
    "adopted": ("work", 1), "volumes": ("work", 1), "subject": ("work", 1), "acquired": ("work", 1),
    "scoring": ("work", 2), "occasion": ("work", 1), "stanzas": ("work", 2), "acts": ("work", 2),
    "key": ("work", 1), "soloist": ("work", 2), "setting": ("work", 1), "signatories": ("work", 2),
    "signed": ("work", 1.5), "parties": ("work", 1),
    # events
    "casualties": ("event", 3), "deaths": ("event", 2), "injuries": ("event", 3), "outcome": ("event", 2),
    "result": ("event", 2), "belligerents": ("event", 3), "participants": ("event", 2), "cause": ("event", 2),
    "dates": ("event", 1.5), "attendance": ("event", 1), "leader": ("event", 0.5), "homes destroyed": ("event", 2),
    "peak water level": ("event", 2), "farthest north": ("event", 2), "crew": ("event", 0.5),
    "sponsor": ("event", 1), "operator": ("event", 0.5),
}

# head nouns of a defining sentence ("... was an Estavian composer and teacher")
_NOUNS = {
    "person": "person man woman composer painter writer author poet novelist playwright politician "
              "statesman actor actress singer musician violinist pianist conductor songwriter rapper "
              "footballer player athlete cricketer boxer wrestler coach scientist physicist chemist "
              "astronomer mathematician engineer architect geologist explorer lawyer judge bishop priest "
              "pope monk nun saint king queen prince princess emperor empress duke duchess count countess "
              "earl lord lady margrave baron knight sultan pharaoh general officer soldier admiral "
              "businessman businesswoman entrepreneur banker merchant economist philosopher historian "
              "journalist editor publisher photographer director producer screenwriter dancer "
              "choreographer designer model teacher professor physician surgeon nurse inventor "
              "diplomat president minister governor mayor senator activist artist sculptor "
              "illustrator cartoonist comedian presenter broadcaster chef missionary theologian "
              "linguist sociologist psychologist biologist botanist zoologist astronaut pilot "
              "sailor navigator spy criminal daughter son wife husband consort heir regent mistress",
    "place": "city town village hamlet municipality commune county district province region state "
             "country nation republic kingdom island archipelago river lake sea ocean bay gulf strait "
             "mountain peak hill volcano valley glacier desert forest park reserve capital suburb "
             "neighbourhood neighborhood borough parish settlement port harbour harbor street road "
             "square bridge cathedral church temple mosque castle palace fortress tower building "
             "stadium airport station canal dam peninsula cape coast beach waterfall cave plateau "
             "territory prefecture voivodeship gmina oblast canton department locality "
             "census-designated inlet fjord lagoon marsh",
    "organization": "company corporation firm business organisation organization association society "
                    "institution institute university college school academy conservatory orchestra "
                    "choir club team party agency ministry department council committee "
                    "union federation league foundation charity museum gallery library newspaper "
                    "magazine publisher label studio studios brand manufacturer bank airline railway "
                    "railways network broadcaster channel station observatory hospital order army "
                    "navy regiment group conglomerate cooperative enterprise shipyard shipyards "
                    "publishing house",
    "work": "film movie novel book novella story poem play opera symphony concerto sonata song single "
            "album ep anthem painting sculpture series episode show programme program sitcom "
            "documentary game video work composition requiem mass cantata ballet musical comic manga "
            "magazine article essay treatise treaty anthology soundtrack score libretto track record "
            "drama thriller comedy biography memoir agreement pact accord",
    "event": "battle war siege revolution uprising rebellion election referendum disaster flood "
             "earthquake eruption fire famine epidemic pandemic storm hurricane cyclone massacre "
             "attack bombing crash accident expedition voyage festival tournament championship "
             "cup olympics games season race match conference summit strike protest coup treaty "
             "ceremony",
    # things: the sentence names the kind even where no cue gives a type ("a long-period comet", "a
    # steam barque"), so the thing has a class a question can state and the solver can rule out
    "thing": "comet asteroid planet galaxy moon ship barque steamship schooner vessel boat submarine "
             "spacecraft locomotive language dialect species genus mineral disease currency",
}
_NOUN_TYPE: dict[str, str] = {}
for _type, _words in _NOUNS.items():
    for _word in _words.split():
        _NOUN_TYPE.setdefault(_word, _type)
_MULTIWORD = {"publishing house": "organization", "record label": "organization", "sports team": "organization",
              "television series": "work", "video game": "work", "census-designated place": "place"}
_COPULA = re.compile(r"\b(?:is|was|are|were)\s+(?:(?:an?|the|one of the)\s+)?(?P<phrase>[^.;:()]{0,120})",
                     re.IGNORECASE)
_PHRASE_END = re.compile(r"\b(?:of|in|from|by|who|that|which|whose|for|with|at|on|near|to|between|than|and|or|"
                         r"located|based|founded|written|directed|produced|published|released|built|made|"
                         r"created|established|developed|designed|owned|operated|named|set|held|composed|formed|"
                         r"painted|situated|known|born|starring|featuring|consisting|best|where|when|discovered|launched|"
                         r"commissioned|recorded|performed|premiered|completed|opened|erected|constructed|"
                         r"invented|dedicated|captured|sunk|wrecked|scrapped|used|sung|signed|fought|led)\b|"
                         r"[,\u2013\u2014]")
_LIFE_PARENS = re.compile(r"\([^()]*\b(?:born|died|b\.|d\.)\s", re.IGNORECASE)


def _key_cue(key: str) -> tuple[str, float] | None:
    folded = " ".join(key.lower().replace(":", " ").split())
    if folded in _KEY_CUES:
        return _KEY_CUES[folded]
    head = folded.split(" – ")[0].split(" (")[0]
    return _KEY_CUES.get(head)


def type_from_infobox(keys: Iterable[str]) -> str | None:
    scores: dict[str, float] = {}
    folded = {" ".join(k.lower().split()) for k in keys if k}
    for key in folded:
        cue = _key_cue(key)
        if cue:
            scores[cue[0]] = scores.get(cue[0], 0.0) + cue[1]
    if {"date", "location"} <= folded or ("date" in folded and scores.get("event")):
        scores["event"] = scores.get("event", 0.0) + 4
    if not scores:
        return None
    best = max(scores.values())
    if best < 1:
        return None
    return next(t for t in TYPES if scores.get(t) == best)


def _noun_phrase(phrase: str) -> str:
    """The predicate up to its first preposition, clause or participle, lower-cased. A comma between
    adjectives ("a wooden, ice-strengthened steam barque") does not end it: a piece with no head noun
    yet runs on to the next cut."""
    taken = ""
    while True:
        cut = _PHRASE_END.search(phrase)
        taken += phrase[: cut.start()] if cut else phrase
        words = re.findall(r"[a-z][a-z-]*", taken.lower())
        if cut is None or cut.group() != "," or (words and (words[-1] in _NOUN_TYPE
                                                             or words[-1].rstrip("s") in _NOUN_TYPE)):
            return taken.lower()
        taken += " "
        phrase = phrase[cut.end():]


def type_from_sentence(sentence: str) -> str | None:
    """The type a defining sentence names: the head noun of "is/was a ..." up to its first
    preposition or clause; a "(born ...)"/"(died ...)" parenthetical marks a person."""
    if not sentence:
        return None
    match = _COPULA.search(sentence)
    if match:
        phrase = _noun_phrase(match.group("phrase"))
        for words, kind in _MULTIWORD.items():
            if words in phrase:
                return kind
        words = re.findall(r"[a-z][a-z-]*", phrase)
        if words:
            head = words[-1]
            head = head if head in _NOUN_TYPE else head.rstrip("s")  # "a series of films" is cut above
            if head in _NOUN_TYPE:
                return _NOUN_TYPE[head]
    if _LIFE_PARENS.search(sentence[:200]):
        return "person"
    return None


def entity_type(infobox_keys: Iterable[str], sentence: str | None) -> str:
    return type_from_infobox(infobox_keys) or type_from_sentence(sentence or "") or "thing"


# --- templates, groups and categories -------------------------------------------------------------

# Wikipedia's infobox templates name the kind of thing outright ("Infobox song"): the strongest cue
# there is. Keys are the template name without "Infobox", folded; values are (type, subtype).
_TEMPLATE_TYPES: dict[str, tuple[str, str]] = {}
for _type, _names in {
    "person": "person|biography|officeholder|politician|president|prime minister|royalty|monarch|noble|"
              "scientist|writer|poet|artist|architect|actor|comedian|model|journalist|philosopher|"
              "military person|religious biography|saint|christian leader|pope|cardinal|bishop|judge|"
              "sportsperson|football biography|basketball biography|baseball biography|cricketer|tennis player|"
              "boxer|athlete|swimmer|cyclist|racing driver|golfer|ice hockey player|wrestler|chess player|"
              "astronaut|engineer|economist|criminal|spy|murderer|presenter|youtube personality|dancer|"
              "chef|medical person|fashion designer|classical composer|composer|scholar|academic",
    "group": "musical group|band|choir|comedy group",
    "organization": "company|organization|organisation|record label|university|college|school|"
                    "political party|government agency|newspaper|magazine|publisher|sports team|"
                    "football club|club|orchestra|museum|library|airline|bank|broadcasting network|"
                    "television channel|radio station|military unit|brand|website|non-profit|union|"
                    "religious organization|legislature|court|ministry|company ",
    "place": "settlement|country|former country|city|town|village|uk place|us state|state|province|"
             "region|island|islands|river|lake|body of water|mountain|mountain range|volcano|valley|"
             "protected area|park|building|church|religious building|historic building|castle|stadium|"
             "venue|airport|station|bridge|road|street|dam|lighthouse|historic site|nrhp|landform|"
             "desert|glacier|cave|waterfall|archipelago|continent|ocean|sea|uk district|german location|"
             "french commune|italian comune|indian jurisdiction|australian place|canadian city",
    "work": "song|single|album|film|book|novel|short story|poem|play|opera|musical|television|"
            "television episode|television season|video game|artwork|painting|sculpture|comic|"
            "manga|anime|musical composition|hymn|anthem|national anthem|podcast|website work|"
            "software|programming language|journal|film series|book series|concert tour|tour",
    "event": "military conflict|battle|war|event|election|sports event|tournament|competition|"
             "olympics|earthquake|hurricane|storm|disaster|flood|festival|awards|award ceremony|"
             "treaty|protest|civil conflict|aircraft occurrence|rail accident|terrorist attack|"
             "historical event|pandemic|epidemic|summit|conference",
    "thing": "taxobox|speciesbox|automatic taxobox|chembox|drugbox|element|mineral|disease|"
             "medical condition|gene|protein|language|language family|ethnic group|religion|currency|ship|"
             "aircraft|economy|martial art|sport|philosophy|school of thought|theory|algorithm|"
             "automobile|weapon|award|food|dog breed|horse|planet|galaxy|star|comet|asteroid",
}.items():
    for _name in _names.split("|"):
        _TEMPLATE_TYPES.setdefault(_name.strip(), (_type, _name.strip()))

# a musical artist's infobox says whether it is a person or a group in its `background` field; its
# rows do too: groups have members, persons are born
_GROUP_KEYS = frozenset({"past members", "current members", "former members", "founding members"})
_GROUP_NOUNS = frozenset({"band", "duo", "trio", "quartet", "quintet", "sextet", "octet", "ensemble",
                          "girl group", "boy band", "supergroup", "collective"})
_GROUP_PHRASE = re.compile(r"\b(?:girl|boy|vocal|pop|rock|musical|music|r&b|soul|hip hop|folk|comedy)\s+"
                           r"(?:group|band|duo|trio|quartet)\b|\bboy band\b|\b(?:band|duo|trio|quartet)\b",
                           re.IGNORECASE)
_GROUP_PHRASE_END = re.compile(r"\b(?:who|that|which|whose|formed|founded|from|based|in|by|of|with)\b|[,;]")
# categories are the last resort: "1962 songs", "American male singers", "Record labels established in 1947"
_CATEGORY_CUES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind, subtype) for pattern, kind, subtype in (
        (r"\bsongs\b", "work", "song"), (r"\bsingles\b", "work", "single"), (r"\balbums\b", "work", "album"),
        (r"\bfilms\b", "work", "film"), (r"\bnovels\b", "work", "novel"), (r"\bbooks\b", "work", "book"),
        (r"\boperas\b", "work", "opera"), (r"\bmusical groups\b|\bbands\b|\bgirl groups\b", "group", "musical group"),
        (r"\brecord labels\b", "organization", "record label"), (r"\bcompanies\b", "organization", "company"),
        (r"\b(?:singers|musicians|actors|actresses|writers|politicians|people|births|deaths|composers|"
         r"rappers|songwriters|players|painters|poets)\b", "person", "person"),
        (r"\b(?:cities|towns|villages|populated places|rivers|lakes|mountains|islands|countries)\b", "place", "place"),
        (r"\b(?:battles|wars|elections|disasters|festivals|earthquakes)\b", "event", "event"),
    ))


@dataclass(frozen=True)
class EntityType:
    type: str
    subtype: str | None
    source: str  # infobox | lead | category | key | none


def template_type(template: str | None) -> tuple[str, str] | None:
    """(type, subtype) that an infobox template names: "Infobox musical artist" is not decided here
    (a person or a group: see `classify`)."""
    if not template:
        return None
    name = " ".join(template.replace("_", " ").lower().split())
    name = re.sub(r"^infobox\s*", "", name).strip()
    if not name:
        return None
    if name in _TEMPLATE_TYPES:
        return _TEMPLATE_TYPES[name]
    # "Infobox French commune" and "Infobox settlement/alt": the last words, then the first
    words = name.replace("/", " ").split()
    for n in range(len(words), 0, -1):
        if " ".join(words[-n:]) in _TEMPLATE_TYPES:
            return _TEMPLATE_TYPES[" ".join(words[-n:])]
    return _TEMPLATE_TYPES.get(words[0])


def _group_keys(keys: set[str], values: dict[str, str]) -> bool:
    """A band's infobox lists its members by name; an academy's "Members: 120 fellows" is a count."""
    if keys & _GROUP_KEYS:
        return True
    members = values.get("members")
    return members is not None and not re.search(r"\d", members) and bool({"genres", "genre", "origin"} & keys)


def _is_group(keys: set[str], values: dict[str, str], sentence: str) -> bool:
    background = values.get("background", "").lower()
    if background:
        return "group" in background or "band" in background
    if _group_keys(keys, values):
        return True
    match = _COPULA.search(sentence or "")
    if match:
        # "an American doo-wop and R&B/soul vocal group": "and" joins genres here, so only a clause cuts
        phrase = match.group("phrase")
        cut = _GROUP_PHRASE_END.search(phrase)
        phrase = phrase[: cut.start()] if cut else phrase
        return bool(_GROUP_PHRASE.search(phrase))
    return False


def subtype_from_sentence(sentence: str) -> str | None:
    """The head noun of the defining sentence: "a 1961 single" -> "single"."""
    match = _COPULA.search(sentence or "")
    if not match:
        return None
    words = re.findall(r"[a-z][a-z-]*", _noun_phrase(match.group("phrase")))
    if not words:
        return None
    head = words[-1] if words[-1] in _NOUN_TYPE else words[-1].rstrip("s")
    return head if head in _NOUN_TYPE or head in _GROUP_NOUNS else None


# a page about what happened to someone: its lead sentence speaks of the person ("Garry Hoy (1955 - 1993)
# was a lawyer ..."), yet the subject is the event
_EVENT_TITLE = re.compile(r"^(?:Death|Assassination|Murder|Killing|Execution|Disappearance|Kidnapping|"
                          r"Funeral|Trial|Burial|Abduction|Shooting) of\s", re.IGNORECASE)


def classify(keys: Iterable[str], sentence: str | None, *, template: str | None = None,
             values: dict[str, str] | None = None, categories: Iterable[str] = (), title: str = "") -> EntityType:
    """The entity's type from its title when it names an event befalling someone ("Death of X"), else
    its infobox template, then the infobox's keys and the lead sentence's predicate, then its categories.
    Groups (bands, duos) are never persons."""
    if _EVENT_TITLE.match(title):
        return EntityType("event", None, "title")
    keys = {" ".join(k.lower().split()) for k in keys if k}
    values = {" ".join(k.lower().replace("_", " ").split()): v for k, v in (values or {}).items()}
    sentence = sentence or ""
    named = template_type(template)
    musical = bool(template) and "musical artist" in template.lower()
    grouped = _group_keys(keys, values)
    if musical or (named and named[0] in ("person", "group")) or (named is None and grouped):
        if _is_group(keys, values, sentence):
            return EntityType("group", "musical group" if musical or grouped else "group",
                              "infobox" if template or keys else "lead")
        if musical:
            return EntityType("person", "musical artist", "infobox")
    if named is not None:
        return EntityType(named[0], named[1], "infobox")
    subtype = subtype_from_sentence(sentence)
    if template and not musical:
        # a template we do not know names a kind of thing all the same ("Infobox economy", "Infobox
        # martial art"): its keys are that kind's own vocabulary, which the generic key cues misread
        # ("Country of origin" is no place), so the defining sentence speaks first
        by_sentence = type_from_sentence(sentence)
        if by_sentence is not None:
            return EntityType(by_sentence, subtype, "lead")
    by_keys = type_from_infobox(keys)
    if by_keys is not None:
        return EntityType(by_keys, subtype if subtype and _NOUN_TYPE.get(subtype) == by_keys else None, "infobox")
    if subtype in _GROUP_NOUNS or _is_group(set(), {}, sentence):
        return EntityType("group", subtype, "lead")
    by_sentence = type_from_sentence(sentence)
    if by_sentence is not None:
        return EntityType(by_sentence, subtype, "lead")
    for category in categories:
        for pattern, kind, sub in _CATEGORY_CUES:
            if pattern.search(category or ""):
                return EntityType(kind, sub, "category")
    return EntityType("thing", None, "none")
