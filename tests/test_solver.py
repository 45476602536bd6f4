"""The formalization solver on small planted graphs: three-valued constraints, entity-level matching,
units and granularity, the class hierarchy, closed-world edges, the trace, the budget."""

from __future__ import annotations

import itertools

import pytest

from drsynth.synth.graph import GraphView
from drsynth.synth.graph import types as entity_types
from drsynth.synth.graph.classes import ancestors, is_class, lineage, membership
from drsynth.synth.tasks import formal
from drsynth.synth.tasks.formal import UNKNOWN_VALUE, Triple, Truth, analyze, evaluate, solve

# --- planted graphs ----------------------------------------------------------------------------------


def _attr(key: str, value: str, kind: str, normalized: str | None = None, unit: str | None = None,
          entity_id: str | None = None) -> dict:
    return {"key": key, "value": value, "kind": kind, "normalized": normalized, "unit": unit,
            "entity_id": entity_id, "source": "infobox", "doc_id": ""}


def _entity(eid: str, name: str, etype: str, description: str = "", attributes: list[dict] | None = None,
            aliases: tuple[str, ...] = (), subtype: str | None = None, stub: bool = False) -> dict:
    return {"id": eid, "name": name, "label": name.split(" (")[0], "type": etype, "aliases": list(aliases),
            "description": description, "attributes": attributes or [], "doc_ids": [] if stub else [f"doc-{eid}"],
            "urls": [], "subtype": subtype, "stub": stub}


def _edge(src: str, dst: str, relation: str) -> dict:
    return {"id": f"{src}-{relation}-{dst}", "src": src, "dst": dst, "relation": relation,
            "evidence": f"{relation}: {dst}", "kind": "infobox", "doc_id": f"doc-{src}", "typed": True}


def T(subject: str, predicate: str, obj: str, kind: str) -> Triple:
    return Triple(subject, predicate, obj, kind)


@pytest.fixture(scope="module")
def records() -> GraphView:
    """Two songs on one label: one links it, the other names it by an alias only."""
    entities = [
        _entity("atl", "Atlantic Records", "organization", "Atlantic Records is an American record label.",
                aliases=("Atlantic",), subtype="record label"),
        _entity("ocean", "Atlantic Ocean", "place", "The Atlantic Ocean is an ocean.", subtype="ocean"),
        _entity("s1", "Night Ferry", "work", "Night Ferry is a 1956 single.", subtype="single",
                attributes=[_attr("label", "Atlantic Records", "organization", entity_id="atl"),
                            _attr("released", "4 June 1956", "date", "1956-06-04")]),
        _entity("s2", "Harbour Lights", "work", "Harbour Lights is a 1956 song.", subtype="song",
                attributes=[_attr("label", "Atlantic", "organization"),
                            _attr("released", "1956", "year", "1956")]),
        _entity("s3", "Winter Song", "work", "Winter Song is a 1957 single.", subtype="single",
                attributes=[_attr("label", "Gullwing", "organization"),
                            _attr("released", "1957", "year", "1957")]),
    ]
    return GraphView.from_rows(entities, [_edge("s1", "atl", "label")])


@pytest.fixture(scope="module")
def people() -> GraphView:
    """Anna and Carl were born in Oldtown; Karl Voss is a stub (a name in an infobox, no page)."""
    entities = [
        _entity("anna", "Anna Berg", "person", "Anna Berg was a composer.", subtype="composer",
                attributes=[_attr("born", "1 May 1891", "date", "1891-05-01"),
                            _attr("spouse", "Carl Dahl", "person", entity_id="carl")]),
        _entity("carl", "Carl Dahl", "person", "Carl Dahl was a violinist.", subtype="violinist",
                attributes=[_attr("born", "3 April 1893", "date", "1893-04-03")]),
        _entity("karl", "Karl Voss", "person", stub=True),
        _entity("old", "Oldtown", "place", "Oldtown is a port city.", subtype="city",
                attributes=[_attr("population", "2,350", "number", "2350")]),
        _entity("new", "Newtown", "place", "Newtown is a town.", subtype="town"),
        _entity("opera", "Sea Opera", "work", "Sea Opera is an opera.", subtype="opera",
                attributes=[_attr("premiere", "2 March 1931", "date", "1931-03-02"),
                            _attr("length", "2:10:00", "duration", "7800", unit="s")]),
        _entity("song", "Night Song", "work", "Night Song is a song.", subtype="song"),
    ]
    edges = [_edge("anna", "old", "born"), _edge("carl", "old", "born"), _edge("anna", "carl", "spouse"),
             _edge("opera", "anna", "composer"), _edge("song", "anna", "composer")]
    return GraphView.from_rows(entities, edges)


# --- the second answer --------------------------------------------------------------------------------


def test_an_alias_names_a_second_candidate(records: GraphView) -> None:
    question = [T("?answer", "label", "Atlantic Records", "entity"), T("?answer", "type", "song", "type")]
    result = analyze(question, records)
    # the literal reading finds one song; "Label: Atlantic" on the other names the same company
    assert solve(question, records) == {"s1"}
    assert result.definite == {"s1"} and result.possible == {"s1", "s2"} and not result.unique
    # a constant written as the alias stands for the entity too
    by_alias = analyze([T("?answer", "label", "Atlantic", "entity")], records, trace=False)
    assert {"s1", "s2"} <= by_alias.possible
    # a label named by nothing of Atlantic's does not: Gullwing's song stays out
    assert "s3" not in result.possible


def test_a_stub_is_a_second_candidate() -> None:
    entities = [
        _entity("anna", "Anna Berg", "person", "Anna Berg was a composer.", subtype="composer"),
        _entity("carl", "Carl Dahl", "person", "Carl Dahl was a violinist.", subtype="violinist"),
        _entity("karl", "Karl Voss", "person", stub=True),
        _entity("old", "Oldtown", "place", "Oldtown is a port city.", subtype="city"),
    ]
    edges = [_edge("anna", "carl", "child"), _edge("anna", "karl", "child"), _edge("carl", "old", "born"),
             _edge("anna", "old", "born")]
    view = GraphView.from_rows(entities, edges)
    question = [T("Anna Berg", "child", "?answer", "var"), T("?answer", "born", "Oldtown", "entity"),
                T("?answer", "type", "person", "type")]
    result = analyze(question, view)
    # Karl Voss has no page: he is a child of Anna's, and where he was born is unknown, so he might be it
    assert result.definite == {"carl"} and result.possible == {"carl", "karl"} and not result.unique
    # and as someone's parent: a stub's children are unknown, so anyone born in Oldtown might be one
    loose = analyze([T("?x1", "child", "?answer", "var"), *question[1:]], view)
    assert loose.possible == {"anna", "carl", "karl"}


def test_a_candidate_the_graph_says_nothing_about_is_no_alternative() -> None:
    entities = [
        _entity("anna", "Anna Berg", "person", "Anna Berg was a composer.", subtype="composer"),
        _entity("per", "Per Lund", "person", "Per Lund was a man from the north."),
        _entity("karl", "Karl Voss", "person", stub=True),
        _entity("old", "Oldtown", "place", "Oldtown is a port city.", subtype="city"),
    ]
    view = GraphView.from_rows(entities, [_edge("anna", "old", "born")])
    question = [T("?answer", "born", "Oldtown", "entity"), T("?answer", "type", "composer", "type")]
    # Per has a page that states nothing the question asks (no birthplace, no occupation): a reader does
    # not weigh him, or every question about a person would have him as a second answer. The stub is
    # another matter: known to exist, known to no page, he might be anything
    assert evaluate(view.entities["per"], question[1]) is Truth.MIGHT
    result = analyze(question, view)
    assert result.definite == {"anna"} and result.possible == {"anna", "karl"}


def test_a_missing_attribute_is_a_second_candidate(people: GraphView) -> None:
    question = [T("?answer", "composer", "Anna Berg", "entity"), T("?answer", "premiere", "1930..1939", "year_range"),
                T("?answer", "type", "work", "type")]
    result = analyze(question, people)
    assert result.definite == {"opera"} and result.possible == {"opera", "song"}
    # asked for the value, the work without it makes the answer unknown
    value = analyze([T("?x1", "composer", "Anna Berg", "entity"), T("?x1", "type", "work", "type"),
                     T("?x1", "premiere", "?answer", "value")], people)
    assert value.definite == {"1931-03-02"} and value.possible == {"1931-03-02", UNKNOWN_VALUE}
    assert not value.unique


def test_a_unique_task_stays_unique(people: GraphView) -> None:
    # Anna states her spouse: no one else might be it, the stub included
    result = analyze([T("Anna Berg", "spouse", "?answer", "var"), T("?answer", "type", "person", "type")], people)
    assert result.definite == result.possible == {"carl"} and result.unique and result.complete


# --- one-entity constraints ------------------------------------------------------------------------------


def _truth(attributes: list[dict], triple: Triple, view: GraphView | None = None) -> Truth:
    entity = GraphView.from_rows([_entity("x", "X", "work", "X is a work.", attributes=attributes)], []).entities["x"]
    return evaluate(entity, triple, view)


def test_dates_compare_at_the_granularity_each_side_knows() -> None:
    full = [_attr("released", "1 March 1962", "date", "1962-03-01")]
    year = [_attr("released", "1962", "year", "1962")]
    assert _truth(full, T("?x", "released", "1962", "literal")) is Truth.HOLDS  # a year asked of a full date
    assert _truth(full, T("?x", "released", "1962-03", "literal")) is Truth.HOLDS
    assert _truth(full, T("?x", "released", "March 1, 1962", "literal")) is Truth.HOLDS  # as written
    assert _truth(full, T("?x", "released", "1962-03-02", "literal")) is Truth.FAILS
    assert _truth(full, T("?x", "released", "1963", "literal")) is Truth.FAILS
    assert _truth(year, T("?x", "released", "1962-03-01", "literal")) is Truth.MIGHT  # known to the year only
    assert _truth(year, T("?x", "released", "1961-03-01", "literal")) is Truth.FAILS
    assert _truth([], T("?x", "released", "1962", "literal")) is Truth.MIGHT
    span = [_attr("years active", "1954–1960", "span", "1954/1960")]
    assert _truth(span, T("?x", "years active", "1950..1969", "year_range")) is Truth.HOLDS
    assert _truth(span, T("?x", "years active", "1958..1965", "year_range")) is Truth.MIGHT  # overlaps
    assert _truth(span, T("?x", "years active", "1961..1969", "year_range")) is Truth.FAILS
    bc = [_attr("founded", "44 BC", "year", "-0044")]
    assert _truth(bc, T("?x", "founded", "-50..-40", "year_range")) is Truth.HOLDS
    assert _truth(bc, T("?x", "founded", "40..50", "year_range")) is Truth.FAILS


def test_durations_money_and_quantities_compare_in_units() -> None:
    length = [_attr("length", "3:12", "duration", "192", unit="s")]
    assert _truth(length, T("?x", "length", "192", "literal")) is Truth.HOLDS
    assert _truth(length, T("?x", "length", "3:12", "literal")) is Truth.HOLDS  # as written
    assert _truth(length, T("?x", "length", "3 min 12 s", "literal")) is Truth.HOLDS
    assert _truth(length, T("?x", "length", "3:13", "literal")) is Truth.FAILS
    assert _truth(length, T("?x", "length", "180..240", "number_range")) is Truth.HOLDS
    assert _truth(length, T("?x", "length", "3..4 min", "number_range")) is Truth.HOLDS
    assert _truth(length, T("?x", "length", ">200", "number_range")) is Truth.FAILS
    budget = [_attr("budget", "£2 million", "money", "2000000", unit="GBP")]
    assert _truth(budget, T("?x", "budget", "2000000", "literal")) is Truth.HOLDS
    assert _truth(budget, T("?x", "budget", "2000000 GBP", "literal")) is Truth.HOLDS
    assert _truth(budget, T("?x", "budget", "$2 million", "literal")) is Truth.FAILS  # another currency
    crowns = [_attr("budget", "2 million crowns", "money", "2000000", unit="crowns")]
    assert _truth(crowns, T("?x", "budget", "2000000 SEK", "literal")) is Truth.MIGHT  # which crowns?
    height = [_attr("elevation", "2,317 m", "quantity", "2317", unit="m")]
    assert _truth(height, T("?x", "elevation", "7602 ft", "literal")) is Truth.HOLDS
    assert _truth(height, T("?x", "elevation", "7000..8000 ft", "number_range")) is Truth.HOLDS
    assert _truth(height, T("?x", "elevation", "2000..2500 kg", "number_range")) is Truth.FAILS
    assert _truth(height, T("?x", "elevation", "7000..8000", "number_range")) is Truth.FAILS


def test_a_range_without_its_unit_might_be_in_another_unit_of_the_graph() -> None:
    rows = [_entity("m", "Mount M", "place", "M is a mountain.", [_attr("elevation", "2,317 m", "quantity", "2317", unit="m")]),
            _entity("f", "Mount F", "place", "F is a mountain.", [_attr("elevation", "7,602 ft", "quantity", "7602", unit="ft")])]
    view = GraphView.from_rows(rows, [])
    result = analyze([T("?answer", "elevation", "7000..8000", "number_range")], view)
    # the range was made from the feet; the metres might be the same height written otherwise
    assert result.definite == {"f"} and result.possible == {"f", "m"}


def test_names_keywords_and_text_values() -> None:
    view = GraphView.from_rows([_entity("atl", "Atlantic Records", "organization", "A label.", aliases=("Atlantic",))], [])
    named = [_attr("label", "Atlantic", "text")]
    linked = [_attr("label", "Atlantic", "organization", entity_id="atl")]
    assert _truth(named, T("?x", "label", "Atlantic", "literal")) is Truth.HOLDS
    assert _truth(named, T("?x", "label", "Atlantic Records", "literal"), view) is Truth.MIGHT
    assert _truth(named, T("?x", "label", "Atlantic Records", "literal")) is Truth.FAILS  # no graph to ask
    assert _truth(linked, T("?x", "label", "Atlantic Records", "literal"), view) is Truth.HOLDS
    assert _truth([_attr("label", "Gullwing, Atlantic", "text")], T("?x", "label", "Atlantic", "literal")) is Truth.MIGHT
    entity = view.entities["atl"]
    assert evaluate(entity, T("?x", "description", "label", "keyword")) is Truth.HOLDS
    assert evaluate(entity, T("?x", "description", "newspaper", "keyword")) is Truth.FAILS
    bare = GraphView.from_rows([_entity("k", "Karl Voss", "person", stub=True, aliases=("Carl Voss",))], []).entities["k"]
    assert evaluate(bare, T("?x", "description", "banker", "keyword")) is Truth.MIGHT  # no description
    assert evaluate(bare, T("?x", "surname", "V", "prefix")) is Truth.HOLDS
    assert evaluate(bare, T("?x", "name", "C", "prefix")) is Truth.MIGHT  # an alias begins so
    assert evaluate(bare, T("?x", "name", "Q", "prefix")) is Truth.FAILS


# --- classes -------------------------------------------------------------------------------------------


def test_class_hierarchy() -> None:
    assert ancestors("single") == ("single", "song", "musical work", "work")
    assert ancestors("record label")[-2:] == ("company", "organization")
    assert ancestors("city") == ("city", "settlement", "place")
    assert ancestors("musical artist") == ("musical artist", "person")
    assert ancestors("Movie") == ("film", "work")
    assert membership("work", "single", "song") is True  # a single is a song
    assert membership("work", "single", "work") is True
    assert membership("work", "song", "single") is None  # a song might be a single
    assert membership("work", None, "single") is None  # a work known no further might be anything
    assert membership("work", "album", "single") is False
    assert membership("work", "album", "person") is False
    assert membership("thing", None, "person") is None and membership("gadget", None, "city") is None
    assert membership("organization", "label", "company") is True  # "label" is a record label
    assert membership("person", "composer", "conductor") is None  # roles, not kinds
    assert membership("person", "publisher", "company") is False  # a person's subtype, not the company
    assert lineage("person", "publisher") == ("person",)
    assert membership("work", "drama", "no such class") is False


def test_every_subtype_the_typer_gives_is_a_class() -> None:
    produced: dict[str, set[str]] = {}
    for noun, kind in entity_types._NOUN_TYPE.items():
        produced.setdefault(noun, set()).add(kind)
    for kind, subtype in entity_types._TEMPLATE_TYPES.values():
        produced.setdefault(subtype, set()).add(kind)
    for _, kind, subtype in entity_types._CATEGORY_CUES:
        produced.setdefault(subtype, set()).add(kind)
    for noun in entity_types._GROUP_NOUNS:
        produced.setdefault(noun, set()).add("group")
    for words, kind in entity_types._MULTIWORD.items():
        produced.setdefault(words, set()).add(kind)
    produced.setdefault("musical artist", set()).add("person")
    missing = sorted(name for name in produced if not is_class(name))
    assert not missing, missing
    for name in produced:
        assert ancestors(name)[-1] in entity_types.TYPES, name
    # where the typer and the hierarchy agree on the top type, the subtype counts as that class
    agreeing = [n for n, kinds in produced.items() if ancestors(n)[-1] in kinds]
    assert len(agreeing) >= 0.95 * len(produced)
    for name in agreeing:
        assert membership(ancestors(name)[-1], name, name) is True


def test_type_constraints_use_the_hierarchy() -> None:
    rows = [_entity(i, name, "work", f"{name} is a record.", subtype=sub, attributes=[_attr("label", "X", "text")])
            for i, name, sub in (("a", "A", "single"), ("b", "B", "song"), ("c", "C", None), ("d", "D", "album"))]
    view = GraphView.from_rows(rows, [])
    on_x = T("?answer", "label", "X", "literal")
    single = analyze([T("?answer", "type", "single", "type"), on_x], view)
    assert single.definite == {"a"} and single.possible == {"a", "b", "c"}
    song = analyze([T("?answer", "type", "song", "type"), on_x], view)
    assert song.definite == {"a", "b"} and song.possible == {"a", "b", "c"}
    # asked nothing but the class, only what is known to be of it counts
    assert analyze([T("?answer", "type", "single", "type")], view).possible == {"a"}
    assert solve([T("?answer", "type", "work", "type")], view) == {"a", "b", "c", "d"}


# --- edges ---------------------------------------------------------------------------------------------


def test_edges_are_closed_world_where_the_subject_states_the_relation(people: GraphView) -> None:
    # Carl states where he was born (Oldtown): Newtown fails for him; the stub might be from anywhere
    newtown = analyze([T("?answer", "born", "Newtown", "entity")], people)
    assert newtown.definite == set() and "carl" not in newtown.possible and "anna" not in newtown.possible
    assert "karl" in newtown.possible  # the stub might be from anywhere
    # a birth date says nothing of the place: a painter with only "Born: <date>" might be from Newtown
    dated = GraphView.from_rows([_entity("p", "Per", "person", "Per was a painter.",
                                         [_attr("born", "1 May 1891", "date", "1891-05-01")]),
                                 _entity("new", "Newtown", "place", "A town.")], [])
    assert analyze([T("?answer", "born", "Newtown", "entity"), T("?answer", "description", "painter", "keyword")],
                   dated).possible == {"p"}
    # links and mentions state no relation, under either reading
    assert analyze([T("?answer", "links_to", "Oldtown", "entity")], people).possible == set()


def test_an_unlinked_value_names_what_it_says(records: GraphView) -> None:
    forward = analyze([T("Harbour Lights", "label", "?answer", "var")], records)
    # the song states its label (unlinked): the entity it names might be it, nothing else
    assert forward.definite == set() and forward.possible == {"atl"}


# --- the trace and the budget --------------------------------------------------------------------------


def test_the_trace_counts_candidates_constraint_by_constraint(people: GraphView) -> None:
    question = [T("?answer", "type", "person", "type"), T("?answer", "born", "Oldtown", "entity"),
                T("?answer", "description", "violinist", "keyword")]
    result = analyze(question, people)
    # persons the graph states a birthplace or an occupation of, and the stub; born there or unknown; a
    # violinist or unknown
    assert [n for _, n in result.trace] == [3, 3, 2]
    assert [t for t, _ in result.trace] == question
    assert result.constraint_candidates()[1] == {"constraint": "?answer born Oldtown", "candidates": 3}
    attribute = analyze([T("?x1", "composer", "Anna Berg", "entity"), T("?x1", "type", "work", "type"),
                         T("?x1", "length", "?answer", "value")], people)
    # before its value triple, an attribute question counts the entities that might own the value: those
    # that state a composer or a length (the two works), and the stub; the works are both composed by her
    assert [n for _, n in attribute.trace] == [3, 2, 2] and attribute.possible == {"7800", UNKNOWN_VALUE}
    assert analyze(question, people, trace=False).trace == []


def test_out_of_budget_errs_towards_ambiguous(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_entity(f"p{i}", f"Person {i}", "person", f"Person {i} was a painter.") for i in range(30)]
    edges = [_edge(f"p{i}", f"p{(i + 1) % 30}", "teacher") for i in range(30)]
    view = GraphView.from_rows(rows, edges)
    # a cycle (the search runs) over persons that all state their teacher
    question = [T("?answer", "teacher", "?x1", "var"), T("?x1", "teacher", "?x2", "var"),
                T("?x2", "teacher", "?answer", "var")]
    assert analyze(question, view).possible == set()
    monkeypatch.setattr(formal, "MAX_BINDINGS", 5)
    result = analyze(question, view, trace=False)
    assert not result.complete and len(result.possible) > 1


# --- against brute force --------------------------------------------------------------------------------


def _brute_force(question: list[Triple], view: GraphView) -> tuple[set[str], set[str]]:
    """(definite, possible) by trying every assignment, each constraint read by its plain definition; a
    possible assignment binds each variable to an entity the graph states something asked of."""
    index = formal._index(view)
    values = {t.object for t in question if t.object_kind == "value"}
    variables = sorted({x for t in question for x in (t.subject, t.object) if formal.is_var(x) and x not in values
                        and (x == t.subject or t.object_kind in ("var", "distinct"))})
    constants = sorted({x for t in question for x in (t.subject, t.object) if not formal.is_var(x)
                        and (x == t.subject or t.object_kind in ("entity", "distinct"))})

    def edge_truth(s: str, relation: str, o: str) -> Truth:
        if relation in ("links_to", "mentions"):
            return Truth.FAILS
        if o in index.targets(s, relation):
            return Truth.HOLDS
        if not index.has_key(s, relation):
            return Truth.MIGHT
        return Truth.MIGHT if o in index.named_targets(s, relation) else Truth.FAILS

    def supported(var: str, e: str) -> bool:
        """The graph states something the question asks of `e` in the place of `var` (besides its type),
        or `e` is a stub (whatever it is might fit)."""
        entity = view.entities[e]
        if entity.stub:
            return True
        keys = {a.get("key") for a in entity.attributes}
        for t in question:
            if t.subject == var and t.object_kind == "type":
                if t.object not in entity_types.TYPES and membership(entity.type, entity.subtype, t.object):
                    return True
            elif t.subject == var and t.object_kind in ("literal", "year_range", "number_range", "value"):
                if t.predicate in keys:
                    return True
            elif t.subject == var and t.object_kind in ("prefix", "initials", "keyword"):
                if evaluate(entity, t, view) is Truth.HOLDS:
                    return True
            elif t.object_kind in ("var", "entity"):
                if t.subject == var and index.has_key(e, t.predicate):
                    return True
                if t.object == var and index.sources(e, t.predicate):
                    return True
        return False

    definite: set[str] = set()
    possible: set[str] = set()
    for relaxed in (False, True):
        choices = [sorted(view.entities)] * len(variables)
        choices += [sorted(index.resolve(c, relaxed)) for c in constants]
        for picked in itertools.product(*choices):
            bound = dict(zip(variables + constants, picked, strict=True))
            if relaxed and not all(supported(v, bound[v]) for v in variables):
                continue
            truth, values_of = Truth.HOLDS, {}
            for t in question:
                s = bound[t.subject]
                if t.object_kind in ("var", "entity"):
                    truth = min(truth, edge_truth(s, t.predicate, bound[t.object]))
                elif t.object_kind == "distinct":
                    truth = min(truth, Truth.FAILS if s == bound[t.object] else Truth.HOLDS)
                elif t.object_kind == "value":
                    found = formal.attribute_values(view.entities[s], t.predicate)
                    values_of[t.object] = found or {UNKNOWN_VALUE}
                    truth = min(truth, Truth.HOLDS if found else Truth.MIGHT)
                else:
                    truth = min(truth, evaluate(view.entities[s], t, view))
            floor = Truth.MIGHT if relaxed else Truth.HOLDS
            if truth >= floor:
                found = values_of.get("?answer", {bound.get("?answer")} - {None})
                (possible if relaxed else definite).update(found)
    return definite, possible


@pytest.mark.parametrize("question", [
    [T("?answer", "born", "Oldtown", "entity"), T("?answer", "type", "person", "type")],
    [T("?x1", "spouse", "?answer", "var"), T("?x1", "born", "1890..1893", "year_range")],
    [T("?answer", "composer", "?x1", "var"), T("?x1", "born", "Oldtown", "entity"),
     T("?answer", "type", "opera", "type")],
    [T("?x1", "composer", "Anna Berg", "entity"), T("?x1", "premiere", "?answer", "value")],
    [T("?answer", "born", "?s", "var"), T("Anna Berg", "born", "?s", "var"),
     T("?answer", "different_from", "Anna Berg", "distinct")],
    [T("?answer", "spouse", "?x1", "var"), T("?x1", "spouse", "?answer", "var")],
    [T("?x1", "born", "?answer", "var"), T("?x1", "description", "violinist", "keyword")],
])
def test_analyze_agrees_with_brute_force(people: GraphView, question: list[Triple]) -> None:
    definite, possible = _brute_force(question, people)
    result = analyze(question, people, trace=False)
    assert (result.definite, result.possible) == (definite, possible)
