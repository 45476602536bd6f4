"""Classes of entities and their hierarchy: a single is a song is a musical work is a work.

The hierarchy is data: `_CHILDREN` lists, under each class, its direct subclasses (one line per parent,
as a reviewer reads it), and `_SYNONYMS` folds spellings onto one class ("movie" is "film"). The top
classes are synth.graph.types.TYPES; every subtype synth.graph.types can give an entity (the head nouns
of defining sentences, infobox template names, category cues, group nouns) is a class here (a test
holds this), so a question may name any of them ("the record label", "the single").

Membership is three-valued because the graph often knows an entity only coarsely: a work with no
subtype may well be a single, and nothing says it is not. `membership` answers True (the entity's
class is the asked class or below it), None (unknown: the entity's most specific known class lies
above the asked one, or the entity is a "thing"), False (the classes exclude each other).

A person's subclasses are roles, not kinds: a composer may also be a conductor, so two person classes
neither of which is above the other give None, not False (`_OVERLAPPING`).
"""

from __future__ import annotations

import functools

from drsynth.synth.graph.types import TYPES

# parent -> its direct subclasses, "|"-separated (class names may have spaces)
_CHILDREN: dict[str, str] = {
    # --- persons: roles --------------------------------------------------------------------------
    "person": "musical artist|writer|artist|scientist|scholar|politician|royalty|noble|cleric|saint|"
              "sportsperson|military person|actor|performer|businessperson|engineer|architect|explorer|"
              "lawyer|judge|physician|nurse|teacher|inventor|activist|chef|criminal|murderer|spy|pilot|astronaut|"
              "sailor|journalist|editor|broadcaster|presenter|designer|model|director|producer|"
              "man|woman|daughter|son|wife|husband|consort|heir|regent|mistress|youtube personality|"
              "medical person|religious biography|officeholder",
    "musical artist": "musician|singer|rapper|songwriter|composer|conductor|violinist|pianist",
    "composer": "classical composer",
    "writer": "author|novelist|poet|playwright|screenwriter|essayist",
    "artist": "painter|sculptor|illustrator|cartoonist|photographer|fashion designer",
    "scientist": "physicist|chemist|astronomer|mathematician|geologist|biologist|botanist|zoologist|"
                 "psychologist|sociologist|linguist|economist",
    "scholar": "academic|professor|historian|philosopher|theologian",
    "politician": "statesman|president|prime minister|senator|governor|mayor|minister|diplomat",
    "royalty": "monarch|prince|princess",
    "monarch": "king|queen|emperor|empress|sultan|pharaoh",
    "noble": "duke|duchess|count|countess|earl|baron|margrave|lord|lady|knight",
    "cleric": "pope|cardinal|bishop|priest|monk|nun|missionary|christian leader",
    "sportsperson": "athlete|player|coach|footballer|cricketer|boxer|wrestler|swimmer|cyclist|golfer|"
                    "tennis player|ice hockey player|racing driver|chess player|football biography|"
                    "basketball biography|baseball biography",
    "military person": "soldier|officer|general|admiral|navigator",
    "actor": "actress",
    "performer": "comedian|dancer|choreographer",
    "businessperson": "businessman|businesswoman|entrepreneur|banker|merchant",
    "physician": "surgeon",
    # --- groups ------------------------------------------------------------------------------------
    "group": "musical group|comedy group",
    "musical group": "band|duo|trio|quartet|quintet|sextet|octet|ensemble|supergroup|collective|choir",
    "band": "boy band|girl group",
    # --- organizations ---------------------------------------------------------------------------
    "organization": "company|educational institution|media organization|government body|military unit|"
                    "team|political party|club|museum|gallery|library|observatory|hospital|foundation|"
                    "association|union|league|order|orchestra|institution|legislature|court|"
                    "religious organization|website|house",
    "company": "corporation|firm|business|enterprise|conglomerate|cooperative|manufacturer|brand|"
               "record label|publishing house|airline|bank|railway|shipyard|studio",
    "publishing house": "publisher|publishing",
    "educational institution": "university|college|school|academy|conservatory|institute",
    "media organization": "newspaper|broadcasting network|network|television channel|radio station|channel",
    "government body": "agency|government agency|ministry|council|committee",
    "military unit": "army|navy|regiment",
    "team": "sports team",
    "sports team": "football club",
    "foundation": "charity|non-profit",
    "association": "society|federation",
    # --- places ------------------------------------------------------------------------------------
    "place": "settlement|region|body of water|landform|structure|protected area|historic site|"
             "locality|street|road|square|venue",
    "settlement": "city|town|village|hamlet|municipality|commune|suburb|borough|neighborhood|"
                  "census-designated place|port",
    "city": "capital|canadian city",
    "commune": "french commune|italian comune",
    "region": "country|state|province|county|district|territory|prefecture|voivodeship|gmina|oblast|"
              "canton|department|parish|continent|uk district|uk place|indian jurisdiction|australian place|"
              "german location",
    "country": "nation|republic|kingdom|former country",
    "state": "us state",
    "body of water": "river|lake|sea|ocean|bay|gulf|strait|fjord|inlet|lagoon|canal|waterfall|marsh",
    "landform": "mountain|mountain range|peak|hill|volcano|valley|glacier|desert|forest|plateau|cape|coast|"
                "beach|peninsula|cave|island|archipelago",
    "island": "islands",
    "structure": "building|bridge|dam|tower|lighthouse|stadium|airport|station",
    "building": "religious building|historic building|castle|palace|fortress",
    "religious building": "church|cathedral|temple|mosque",
    "protected area": "park|reserve",
    "historic site": "nrhp",
    # --- works -------------------------------------------------------------------------------------
    "work": "musical work|film|written work|television work|artwork|video game|software|periodical|"
            "drama|thriller|comedy|treaty|tour|podcast|record|website work",
    "musical work": "song|album|musical composition|opera|musical|ballet|soundtrack|score|anthem|hymn",
    "song": "single|track",
    "album": "ep",
    "musical composition": "composition|symphony|concerto|sonata|cantata|requiem|mass",
    "anthem": "national anthem",
    "film": "documentary|film series",
    "written work": "book|poem|play|essay|article|treatise|libretto|story|comic|biography",
    "book": "novel|novella|anthology|memoir|book series",
    "story": "short story",
    "comic": "manga",
    "television work": "television|series|television series|episode|television episode|television season|"
                       "show|program|sitcom|anime",
    "artwork": "painting|sculpture",
    "video game": "game",
    "software": "programming language",
    "periodical": "magazine|journal",
    "tour": "concert tour",
    # --- events ------------------------------------------------------------------------------------
    "event": "conflict|disaster|competition|election|referendum|festival|ceremony|conference|summit|"
             "expedition|protest|strike|historical event",
    "conflict": "war|battle|siege|military conflict|civil conflict|revolution|uprising|rebellion|coup|"
                "massacre|attack",
    "attack": "bombing|terrorist attack",
    "disaster": "flood|earthquake|eruption|fire|famine|epidemic|pandemic|storm|accident",
    "storm": "hurricane|cyclone",
    "accident": "crash|rail accident|aircraft occurrence",
    "competition": "tournament|championship|cup|olympics|games|sports event|race|match|season",
    "ceremony": "award ceremony|awards",
    "expedition": "voyage",
    # --- things ------------------------------------------------------------------------------------
    "thing": "taxon|chemical|disease|gene|protein|language|ethnic group|religion|currency|vehicle|economy|"
             "martial art|sport|philosophy|school of thought|theory|algorithm|weapon|award|food|dog breed|"
             "horse|astronomical object|mineral|element",
    "taxon": "taxobox|speciesbox|automatic taxobox|species|genus",
    "chemical": "chembox|drugbox",
    "disease": "medical condition",
    "language": "language family|dialect",
    "vehicle": "ship|aircraft|automobile|spacecraft|locomotive",
    "ship": "barque|steamship|schooner|boat|submarine",
    "astronomical object": "planet|galaxy|star|comet|asteroid|moon",
}

# other spellings of a class, and nouns that name one ("the movie", "the organisation")
_SYNONYMS: dict[str, str] = {
    "movie": "film", "organisation": "organization", "programme": "program", "harbour": "port",
    "harbor": "port", "neighbourhood": "neighborhood", "railways": "railway", "studios": "studio",
    "shipyards": "shipyard", "label": "record label", "vessel": "ship", "agreement": "treaty",
    "pact": "treaty", "accord": "treaty", "census-designated": "census-designated place",
    "people": "person", "video": "film", "party": "political party",
    "business company": "company", "singer-songwriter": "singer",
}

# classes whose subclasses are roles an entity can hold together (see the module docstring)
_OVERLAPPING = frozenset({"person"})


def _parents() -> dict[str, str]:
    parents: dict[str, str] = {}
    for parent, children in _CHILDREN.items():
        for child in filter(None, (c.strip() for c in children.split("|"))):
            if child in parents and parents[child] != parent:
                raise ValueError(f"class {child!r} has two parents: {parents[child]!r} and {parent!r}")
            parents[child] = parent
    return parents


PARENT: dict[str, str] = _parents()
_CLASSES = frozenset({*TYPES, *PARENT, *_CHILDREN})


def canonical(name: str | None) -> str:
    """The class a name stands for: lower case, spaces collapsed, synonyms folded ("Movie" -> "film")."""
    folded = " ".join((name or "").replace("_", " ").lower().split())
    return _SYNONYMS.get(folded, folded)


def is_class(name: str | None) -> bool:
    return canonical(name) in _CLASSES


@functools.lru_cache(maxsize=4096)
def ancestors(cls: str) -> tuple[str, ...]:
    """The class itself, then its parent, up to a top type ("single" -> single, song, musical work,
    work); a name that is no class is only itself."""
    chain = [canonical(cls)]
    while chain[-1] in PARENT:
        chain.append(PARENT[chain[-1]])
    return tuple(chain)


def lineage(entity_type: str | None, entity_subtype: str | None) -> tuple[str, ...]:
    """The classes an entity is known to belong to, most specific first, ending at its type. A subtype
    that is no class, or whose hierarchy leads to another top type than the entity's own ("publisher"
    on a person, where the class is a company), says nothing the hierarchy can use."""
    top = canonical(entity_type)
    top = top if top in TYPES else "thing"
    sub = canonical(entity_subtype) if entity_subtype else ""
    if not sub or sub == top or sub not in _CLASSES:
        return (top,)
    chain = ancestors(sub)
    return chain if chain[-1] == top else (top,)


@functools.lru_cache(maxsize=65536)
def membership(entity_type: str | None, entity_subtype: str | None, cls: str) -> bool | None:
    """Whether an entity of this type and subtype belongs to `cls`: True, False, or None (unknown).

    A class name the hierarchy does not hold is true only of an entity with exactly that subtype."""
    wanted = canonical(cls)
    known = lineage(entity_type, entity_subtype)
    if wanted in known or (entity_subtype and wanted == canonical(entity_subtype)):
        return True
    if known == ("thing",):
        return None  # nothing is known of what it is
    if wanted not in _CLASSES:
        return False
    above = ancestors(wanted)
    if known[0] in above:
        return None  # known only coarsely: a song may be a single, a work may be anything
    if above[-1] == known[-1] and any(c in _OVERLAPPING for c in set(above) & set(known)):
        return None  # two roles of a person
    return False
