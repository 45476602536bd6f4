"""Task synthesis (synth.tasks): sampling, shapes, uncertainty operations, solving, writers, checks."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import socket
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.storage.store import Store
from drsynth.synth.graph import GraphView
from drsynth.synth.tasks import (
    QuestionWriter,
    TaskConfig,
    TaskDraft,
    TemplateWriter,
    WrittenQuestion,
    check_task,
    hops_of,
    level_from,
    make_writer,
    sample_subgraphs,
    select_tasks,
    solve,
    subgraph_batches,
    wl_hash,
    write_tasks,
)
from drsynth.synth.tasks.checks import expected_answer, leaked_alias, named_next_to_answer
from drsynth.synth.tasks.formal import Triple
from drsynth.synth.tasks.operations import in_number_range, mask_name, number_range, vague_date
from drsynth.synth.tasks.phrases import (
    attribute_question,
    base_form,
    date_clause,
    number_clause,
    phrasable,
    relation_phrase,
)
from drsynth.synth.tasks.sample import sample
from drsynth.synth.tasks.synthesize import SUBGRAPH_COLUMNS
from drsynth.synth.tasks.writers import WriterError, parse_reply
from tests.openai_server import OpenAIServer

# --- a hand-built graph ------------------------------------------------------------------------------


def _attr(key: str, value: str, kind: str, normalized: str | None = None, unit: str | None = None,
          entity_id: str | None = None, doc: str = "") -> dict:
    return {"key": key, "value": value, "kind": kind, "normalized": normalized, "unit": unit,
            "entity_id": entity_id, "source": "infobox", "doc_id": doc}


def _entity(eid: str, name: str, etype: str, description: str, attributes: list[dict], aliases=(),
            subtype: str | None = None) -> dict:
    return {"id": eid, "name": name, "label": name.split(" (")[0], "type": etype, "aliases": list(aliases),
            "description": description, "attributes": attributes, "doc_ids": [f"doc-{eid}"], "urls": [],
            "subtype": subtype}


def _edge(eid: str, src: str, dst: str, relation: str, evidence: str, kind: str = "infobox") -> dict:
    # as the graph makes them: an infobox row is a typed fact of its source, a link or mention is not
    return {"id": eid, "src": src, "dst": dst, "relation": relation, "evidence": evidence, "kind": kind,
            "doc_id": f"doc-{src}", "typed": kind == "infobox"}


@pytest.fixture(scope="module")
def toy() -> GraphView:
    entities = [
        _entity("anna", "Anna Berg", "person", "Anna Berg (1 May 1891 – 2 June 1950) was a composer and teacher.",
                [_attr("born", "1 May 1891, Oldtown", "date", "1891-05-01", doc="doc-anna"),
                 _attr("born", "Oldtown", "place", entity_id="old", doc="doc-anna"),
                 _attr("died", "2 June 1950", "date", "1950-06-02", doc="doc-anna")], aliases=["A. Berg"],
                subtype="composer"),
        _entity("carl", "Carl Dahl", "person", "Carl Dahl (3 April 1893 – 1960) was a violinist.",
                [_attr("born", "3 April 1893", "date", "1893-04-03", doc="doc-carl")], subtype="violinist"),
        _entity("opera", "Sea Opera", "work", "Sea Opera is an opera in three acts by Anna Berg.",
                [_attr("premiere", "2 March 1931", "date", "1931-03-02", doc="doc-opera"),
                 _attr("acts", "3", "number", "3", doc="doc-opera")], subtype="opera"),
        _entity("song", "Night Song", "work", "Night Song is a song by Anna Berg.",
                [_attr("premiere", "1925", "year", "1925", doc="doc-song")], subtype="song"),
        _entity("old", "Oldtown", "place", "Oldtown is a port city with 2,350 inhabitants.",
                [_attr("population", "2,350", "number", "2350", doc="doc-old"),
                 _attr("elevation", "2,317 m", "quantity", "2317", unit="m", doc="doc-old")], subtype="city"),
        _entity("new", "Newtown", "place", "Newtown is a town on the coast.",
                [_attr("population", "40,100", "number", "40100", doc="doc-new")], subtype="town"),
    ]
    edges = [
        _edge("e1", "opera", "anna", "composer", "Composer: Anna Berg"),
        _edge("e2", "song", "anna", "composer", "Composer: Anna Berg"),
        _edge("e3", "anna", "carl", "spouse", "Spouse: Carl Dahl (m. 1919)"),
        _edge("e4", "anna", "old", "born", "Born: 1 May 1891, Oldtown"),
        _edge("e5", "carl", "old", "born", "Born: 3 April 1893, Oldtown"),
        _edge("e6", "opera", "new", "links_to", "Sea Opera was first staged in Newtown.", kind="text"),
        _edge("e7", "opera", "new", "premiere", "Premiere: 2 March 1931, Newtown"),
    ]
    return GraphView.from_rows(entities, edges)


def T(subject: str, predicate: str, obj: str, kind: str) -> dict:
    return {"subject": subject, "predicate": predicate, "object": obj, "object_kind": kind}


# --- configuration ---------------------------------------------------------------------------------


def test_config_from_dict_checks_keys_and_ranges() -> None:
    config = TaskConfig.from_dict({"subgraphs": 10, "jump_back": 0.5, "teacher": {"model": "m", "timeout_s": 5}})
    assert config.subgraphs == 10 and config.teacher.model == "m" and config.teacher.timeout_s == 5.0
    assert config.teacher.api_key_env == "DRSYNTH_TEACHER_API_KEY"
    for bad in ({"subgraph": 3}, {"min_edges": 4, "max_edges": 3}, {"jump_back": 1.5}, {"writer": "llm"},
                {"teacher": {"temperature": 9}}, {"teacher": {"api_key": "secret"}}, {"subgraphs": "many"},
                {"max_per_shape": 0}, {"teacher": "x"}):
        with pytest.raises(ValueError):
            TaskConfig.from_dict(bad)


# --- uncertainty operations ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "granularity", "phrase", "span"), [
    ("1891-03-03", "decade_part", "the early 1890s", "1890..1893"),
    ("1895", "decade_part", "the mid-1890s", "1894..1896"),
    ("1898-12-01", "decade_part", "the late 1890s", "1897..1899"),
    ("1923", "decade", "the 1920s", "1920..1929"),
    ("1812-06-01", "century", "the early 19th century", "1800..1832"),
    ("1850", "century", "the mid 19th century", "1833..1866"),
    ("1891", "century", "the late 19th century", "1867..1899"),
    ("2001", "century", "the early 21st century", "2000..2032"),
])
def test_vague_date(value: str, granularity: str, phrase: str, span: str) -> None:
    vague = vague_date(value, granularity, "born")
    assert vague is not None
    assert (vague.phrase, vague.object, vague.object_kind) == (phrase, span, "year_range")


def test_vague_date_needs_a_year() -> None:
    assert vague_date("spring", "decade") is None
    with pytest.raises(ValueError):
        vague_date("1900", "millennium")


def test_number_range() -> None:
    between = number_range("2317", "m")
    assert between is not None and between.phrase == "between 2,000 and 2,500 metres"
    assert between.object == "2000..2500" and in_number_range(2317, between.object)
    more = number_range("47", None, "more_than")
    assert more is not None and more.phrase == "more than 40" and more.object == ">40"
    assert in_number_range(47, ">40") and not in_number_range(40, ">40")
    small = number_range("3", None)
    assert small is not None and small.phrase == "between 2 and 4" and in_number_range(3, small.object)
    people = number_range("12400", "people")
    assert people is not None and people.phrase == "between 10,000 and 15,000"
    assert number_range("0", None) is None and number_range("n/a", None) is None
    assert in_number_range(5, "..10") and in_number_range(5, "5..") and not in_number_range(11, "..10")


def test_mask_name() -> None:
    surname = mask_name("Aurel Fennick", person=True)
    assert surname is not None and surname.phrase == "whose surname begins with F"
    assert (surname.predicate, surname.object, surname.object_kind) == ("surname", "F", "prefix")
    initials = mask_name("Aurel Fennick", person=True, mode="initials")
    assert initials is not None and initials.phrase == "whose initials are A. F." and initials.object == "A. F."
    place = mask_name("The Salt Orchard", person=False)
    assert place is not None and place.phrase == "whose name begins with S"


# --- shapes ----------------------------------------------------------------------------------------


def test_wl_hash_isomorphic_relabelled_graphs_hash_equal() -> None:
    nodes = ["a", "b", "c", "d", "e"]
    edges = [("a", "b", "spouse"), ("b", "c", "born"), ("c", "a", "links_to"), ("c", "d", "country"),
             ("e", "c", "mentions")]
    base = wl_hash(nodes, edges, "a")
    rng = random.Random(7)
    for _ in range(5):
        names = dict(zip(nodes, rng.sample([f"n{i}" for i in range(9)], len(nodes)), strict=True))
        relabelled = [(names[s], names[d], {"spouse": "composer", "born": "author"}.get(r, r)) for s, d, r in edges]
        rng.shuffle(relabelled)
        assert wl_hash(list(names.values()), relabelled, names["a"]) == base


def test_wl_hash_non_isomorphic_graphs_differ() -> None:
    chain = wl_hash("abcd", [("a", "b", "r"), ("b", "c", "r"), ("c", "d", "r")], "a")
    star = wl_hash("abcd", [("a", "b", "r"), ("a", "c", "r"), ("a", "d", "r")], "a")
    chain_target_inside = wl_hash("abcd", [("a", "b", "r"), ("b", "c", "r"), ("c", "d", "r")], "b")
    reversed_edge = wl_hash("abcd", [("b", "a", "r"), ("b", "c", "r"), ("c", "d", "r")], "a")
    attribute_target = wl_hash("abcd", [("a", "b", "r"), ("b", "c", "r"), ("c", "d", "r")], "a",
                               attribute_target=True)
    hashes = [chain, star, chain_target_inside, reversed_edge, attribute_target]
    assert len(set(hashes)) == len(hashes)


# --- phrases ---------------------------------------------------------------------------------------


def test_relation_phrases_are_english() -> None:
    assert relation_phrase("spouse").noun == "spouse"
    assert relation_phrase("capital").out == "whose capital is {o}"
    assert relation_phrase("capital").into == "{who} is the capital of {s}"
    assert relation_phrase("notable works").out == "whose notable works include {o}"
    assert relation_phrase("directed by").out == "directed by {o}"
    assert relation_phrase("flows into").into == "{whom} {s} flows into"
    assert relation_phrase("restored", "person").out == "restored by {o}"
    assert relation_phrase("restored", "place").out == "restored in {o}"
    assert attribute_question("born", "date", "Aurel Fennick") == "When was Aurel Fennick born?"
    assert attribute_question("founded", "year", "the company") == "In what year was the company founded?"
    assert attribute_question("acts", "number", "the opera") == "How many acts does the opera have?"
    assert attribute_question("homes destroyed", "number", "the flood") == "How many homes were destroyed in the flood?"


def test_verb_keys_take_their_own_auxiliary() -> None:
    # "assumed office" is something the subject did: "did ... assume", never "was ... assumed office"
    assert attribute_question("assumed office", "date", "Greta Holm") == "When did Greta Holm assume office?"
    assert attribute_question("took office", "year", "the mayor") == "In what year did the mayor take office?"
    assert date_clause("assumed office", "in the 2010s", True) == "who assumed office in the 2010s"
    assert attribute_question("premiered", "date", "the film") == "When did the film premiere?"
    assert date_clause("premiered", "in 1931", False) == "that premiered in 1931"
    # passive participles keep "was"; a leading "date"/"year" is only a label
    assert attribute_question("established", "year", "the academy") == "In what year was the academy established?"
    assert attribute_question("date founded", "date", "the club") == "When was the club founded?"
    assert attribute_question("first performed", "date", "the opera") == "When was the opera first performed?"
    # a noun and a participle: the noun is the thing the verb happened to
    assert attribute_question("republic proclaimed", "date", "Estavia") == "When was the republic of Estavia proclaimed?"
    assert date_clause("republic proclaimed", "in the 1920s", False) == "whose republic was proclaimed in the 1920s"
    assert attribute_question("construction began", "year", "the bridge") == (
        "In what year did the construction of the bridge begin?")
    assert [base_form(w) for w in ("assumed", "took", "retired", "married", "stopped", "joined", "debuted")] == [
        "assume", "take", "retire", "marry", "stop", "join", "debut"]


def test_attribute_questions_do_not_repeat_the_verb() -> None:
    assert attribute_question("born", "date", "the historian born in Estavia") == (
        "What is the birth date of the historian born in Estavia?")
    assert attribute_question("founded", "year", "the studio founded by Nils Farrand") == (
        "What is the founding year of the studio founded by Nils Farrand?")
    assert attribute_question("died", "date", "the painter who died in Varkholm") == (
        "What is the death date of the painter who died in Varkholm?")
    # after a relative clause the verb would be stranded at the end: the nominal form reads at once
    assert attribute_question("born", "date", "the painter who died in Varkholm") == (
        "What is the birth date of the painter who died in Varkholm?")
    assert attribute_question("born", "date", "the Varkholm painter") == "When was the Varkholm painter born?"


def test_relation_keys_that_name_a_class_or_an_event() -> None:
    # "Building: 1889, by Edvard Lune" on a school's page: Lune is not "the building" of anything
    building = relation_phrase("building", "person", "organization")
    assert building.noun == "" and "is the building" not in building.into
    assert building.into == "involved in the building of {s}" and building.out == "whose building involved {o}"
    # "Instrument: violin (made by Oskar Lindell)": the row says the two are connected, never how; no
    # question words it (it used to read "associated with the instrument of")
    assert not phrasable("instrument", "person", "person") and phrasable("instrument", "thing", "person")
    assert phrasable("building", "person", "organization") and phrasable("composer", "person", "work")
    assert "associated" not in relation_phrase("instrument", "person", "person").into
    assert relation_phrase("composer", "person", "work").noun == "composer"  # agent nouns still read as roles
    assert relation_phrase("head of state", "person", "place").noun == "head of state"
    # a person's infobox listing works by their class: one of several
    listed = relation_phrase("building", "organization", "person")
    assert listed.out == "whose buildings include {o}" and listed.into == "{who} is among the buildings of {s}"
    assert listed.noun == ""
    assert relation_phrase("notable works", "work", "person").into == "{who} is among the notable works of {s}"
    # "Republic proclaimed: ... (September Revolution)": never "the republic proclaimed of Estavia"
    proclaimed = relation_phrase("republic proclaimed", "event", "place")
    assert proclaimed.into == "in which the republic of {s} was proclaimed" and proclaimed.noun == ""
    assert proclaimed.out == "whose republic was proclaimed in {o}"
    assert relation_phrase("republic proclaimed", "person", "place").into == "by {whom} the republic of {s} was proclaimed"
    # events take place; things are located
    assert relation_phrase("location", "place", "event").out == "that took place in {o}"
    assert relation_phrase("location", "place", "organization").out == "located in {o}"
    assert number_clause("deaths", "between 3 and 5 dead", False) == "in which between 3 and 5 people died"


def _mention(name: str, noun: str, etype: str, var: str | None = None, clauses=()) -> object:
    from drsynth.synth.tasks.draft import Mention

    return Mention(entity_id=name, var=var, name=name, display=name, noun=noun, person=etype == "person",
                   keyword=True, type=etype, past=etype in ("person", "event"), clauses=list(clauses))


def _edge_clause(relation: str, other, outgoing: bool) -> object:
    from drsynth.synth.tasks.draft import Clause

    return Clause(kind="edge", relation=relation, outgoing=outgoing, other=other)


def _question(root) -> str:
    from drsynth.synth.tasks import render
    from drsynth.synth.tasks.draft import TaskDraft as Draft

    draft = Draft(subgraph_id="s", graph="g", level=1, root=root, answer="x", aliases=[], answer_type="entity",
                  expected="x", target_entity_id=root.entity_id, attribute=None)
    return render.question(draft)


def test_rendered_reverse_readings() -> None:
    from drsynth.synth.tasks.draft import Clause

    school = _mention("the Varkholm Conservatory", "national school", "organization")
    architect = _mention("Edvard Lune", "architect", "person", "?answer", [_edge_clause("building", school, False)])
    assert _question(architect) == "Who was the architect involved in the building of the Varkholm Conservatory?"
    # the edge's object (a person) picks the verb's voice: "who restored", not "where ... was restored"
    church = _mention("the Cathedral of Saint Orla", "cathedral", "place")
    restorer = _mention("Edvard Lune", "architect", "person", "?answer", [_edge_clause("restored", church, False)])
    assert _question(restorer) == "Who was the architect who restored the Cathedral of Saint Orla?"
    estavia = _mention("Estavia", "island country", "place")
    uprising = _mention("September Revolution", "peaceful uprising", "event", "?answer",
                        [_edge_clause("republic proclaimed", estavia, False)])
    assert _question(uprising) == "What was the peaceful uprising in which the republic of Estavia was proclaimed?"
    # "where the museum where X is located is located": a long description goes last
    painting = _mention("Fog over the Selva", "oil painting", "work")
    museum = _mention("National Gallery", "art museum", "organization", "?x1", [
        _edge_clause("location", painting, False),
        Clause(kind="attribute", relation="visitors", text="with more than 600,000 visitors")])
    country = _mention("Estavia", "island country", "place", "?answer", [_edge_clause("location", museum, False)])
    assert _question(country) == ("What is the island country that is home to the art museum with more than "
                                  "600,000 visitors and where Fog over the Selva is located?")
    # one verb said once; a relative clause after a named entity is joined with "and"
    flood = _mention("Great Flood", "flood", "event", "?answer", [
        Clause(kind="attribute", relation="date", text="that took place in the 1890s"),
        _edge_clause("location", _mention("Varkholm", "capital", "place"), True),
        Clause(kind="name", relation="name", text="whose name begins with G")])
    assert _question(flood) == ("What was the flood whose name begins with G and that took place in Varkholm and "
                                "in the 1890s?")
    festival = _mention("Selva Music Festival", "music festival", "event", "?answer", [
        _edge_clause("produced by", _mention("Selva Film Studios", "studio", "organization"), True),
        Clause(kind="name", relation="name", text="whose name begins with S")])
    # a participle is never coordinated with a relative clause: both read as relative clauses
    assert _question(festival) == ("What was the music festival that was produced by Selva Film Studios and "
                                   "whose name begins with S?")


def test_paths_avoid_leaving_a_node_twice_by_one_relation() -> None:
    from drsynth.synth.graph.view import Edge
    from drsynth.synth.tasks.plan import _repeats

    def edge(src: str, dst: str, relation: str) -> Edge:
        return Edge(id=f"{src}-{dst}", src=src, dst=dst, relation=relation, evidence="", kind="infobox", doc_id="")

    # town <-born- geologist -born-> province: "where the geologist born in a place was born"
    assert _repeats([(edge("geo", "town", "born"), "geo"), (edge("geo", "prov", "born"), "prov")], "town") == 1
    assert _repeats([(edge("geo", "town", "born"), "geo"), (edge("geo", "x", "died"), "x")], "town") == 0
    assert _repeats([(edge("a", "town", "born"), "a"), (edge("b", "a", "born"), "b")], "town") == 0


# --- the solver and levels -------------------------------------------------------------------------


def test_solve_edges_attributes_and_constraints(toy: GraphView) -> None:
    assert solve([T("Anna Berg", "spouse", "?answer", "var")], toy) == {"carl"}
    assert solve([T("?answer", "composer", "Anna Berg", "entity")], toy) == {"opera", "song"}
    assert solve([T("?answer", "composer", "Anna Berg", "entity"),
                  T("?answer", "premiere", "1930..1939", "year_range")], toy) == {"opera"}
    # a described spouse: the person born in the early 1890s whose spouse is the answer
    assert solve([T("?x1", "spouse", "?answer", "var"), T("?x1", "born", "1890..1893", "year_range"),
                  T("?x1", "type", "person", "type")], toy) == {"carl"}
    assert solve([T("Anna Berg", "born", "?answer", "value")], toy) == {"1891-05-01"}
    assert solve([T("?answer", "surname", "D", "prefix"), T("?answer", "type", "person", "type")], toy) == {"carl"}
    assert solve([T("?answer", "initials", "A. B.", "initials")], toy) == {"anna"}
    assert solve([T("?answer", "population", "2000..2500", "number_range")], toy) == {"old"}
    assert solve([T("?answer", "population", ">40000", "number_range")], toy) == {"new"}
    assert solve([T("?answer", "description", "opera", "keyword")], toy) == {"opera"}
    assert solve([T("?answer", "acts", "3", "literal")], toy) == {"opera"}
    # a hyperlink (Sea Opera -> Newtown, untyped) states no relation: the solver never reads it
    assert solve([T("?answer", "links_to", "Newtown", "entity")], toy) == set()
    assert solve([T("?answer", "premiere", "Newtown", "entity")], toy) == {"opera"}
    # shared attribute: born in the same city as Anna Berg, someone other than her
    shared = [T("?answer", "born", "?s1", "var"), T("Anna Berg", "born", "?s1", "var"),
              T("?answer", "different_from", "Anna Berg", "distinct")]
    assert solve(shared, toy) == {"carl"}
    assert solve(shared[:2], toy) == {"anna", "carl"}
    assert solve([T("Nobody", "spouse", "?answer", "var")], toy) == set()
    with pytest.raises(ValueError):
        solve([T("?answer", "x", "y", "telepathy")], toy)


def _brute_force(formalization: list[dict], view: GraphView) -> set[str]:
    """Every assignment of every variable, checked triple by triple: slow, obviously right."""
    from itertools import product

    from drsynth.synth.tasks.formal import attribute_values, holds

    triples = [Triple.of(t) for t in formalization]
    values = {t.object for t in triples if t.object_kind == "value"}
    variables = sorted({x for t in triples for x in (t.subject, t.object)
                        if x.startswith("?") and x not in values and (x == t.subject or t.object_kind in ("var", "distinct"))})
    by_name = {e.name: e.id for e in view.entities.values()}
    linked = {(e.src, e.dst, e.relation) for e in view.edges.values() if e.typed}
    found: set[str] = set()
    for choice in product(sorted(view.entities), repeat=len(variables)):
        bound = dict(zip(variables, choice, strict=True))

        def term(x: str, bound: dict = bound) -> str | None:
            return bound.get(x) if x.startswith("?") else by_name.get(x)

        ok, collected = True, {}
        for t in triples:
            s = term(t.subject)
            if t.object_kind in ("var", "entity"):
                o = term(t.object)
                ok = (s, o, t.predicate) in linked
            elif t.object_kind == "distinct":
                ok = s != term(t.object)
            elif t.object_kind == "value":
                got = attribute_values(view.entities[s], t.predicate)
                collected[t.object] = got if t.object not in collected else collected[t.object] & got
                ok = bool(collected[t.object])
            else:
                ok = s is not None and holds(view.entities[s], t)
            if not ok:
                break
        if ok:
            found |= collected.get("?answer", {bound.get("?answer")} - {None})
    return found


def test_solve_agrees_with_brute_force(toy: GraphView) -> None:
    cases = [
        [T("?x1", "spouse", "?answer", "var"), T("?x2", "composer", "?x1", "var")],
        [T("?answer", "born", "?s", "var"), T("?x1", "born", "?s", "var"), T("?x1", "composer", "?x1", "var")],
        [T("?answer", "born", "?s", "var"), T("?x1", "born", "?s", "var"),
         T("?answer", "different_from", "?x1", "distinct")],
        [T("?x1", "links_to", "?answer", "var"), T("?x1", "type", "work", "type")],
        [T("?x1", "premiere", "?answer", "var"), T("?x1", "type", "work", "type")],
        [T("?x1", "composer", "?x2", "var"), T("?x2", "born", "?answer", "value")],
        [T("?x1", "composer", "?x2", "var"), T("?x1", "premiere", "?answer", "value"),
         T("?x2", "spouse", "Carl Dahl", "entity")],
        [T("?answer", "population", ">1000", "number_range"), T("?x1", "born", "?answer", "var"),
         T("?x1", "died", "1940..1960", "year_range")],
        [T("?answer", "composer", "?x1", "var"), T("?x1", "spouse", "?x2", "var"), T("?x2", "born", "?x3", "var"),
         T("?x1", "born", "?x3", "var")],
    ]
    for formalization in cases:
        assert solve(formalization, toy) == _brute_force(formalization, toy), formalization


def test_hops_and_levels() -> None:
    one = [T("Anna Berg", "spouse", "?answer", "var")]
    assert hops_of(one) == 1 and level_from(one, []) == 1
    assert level_from(one, ["vague_date"]) == 0
    attribute = [T("Anna Berg", "born", "?answer", "value")]
    assert hops_of(attribute) == 1 and level_from(attribute, []) == 1
    two = [T("?x1", "spouse", "?answer", "var"), T("Sea Opera", "composer", "?x1", "var")]
    assert hops_of(two) == 2 and level_from(two, []) == 2 and level_from(two, ["mask_name"]) == 2
    assert level_from(two, ["shared_attribute"]) == 0  # not a light operation
    assert level_from(two, ["vague_date", "mask_name"]) == 3
    attribute_two = [T("?x1", "born", "?answer", "value"), T("Sea Opera", "composer", "?x1", "var")]
    assert hops_of(attribute_two) == 2 and level_from(attribute_two, []) == 2
    # level 3 may not name anything next to the answer's entity
    assert level_from(attribute_two, ["vague_date", "mask_name"]) == 0
    unnamed = [T("?x1", "spouse", "?answer", "var"), T("?x2", "composer", "?x1", "var"),
               T("?x2", "premiere", "1930..1939", "year_range"), T("?x1", "surname", "B", "prefix")]
    assert hops_of(unnamed) == 2 and level_from(unnamed, ["vague_date", "mask_name"]) == 3


def _toy_task(**changes) -> dict:
    task = {
        "question": "Who is the spouse of Anna Berg?", "answer": "Carl Dahl", "aliases": [],
        "answer_type": "entity", "level": 1, "hops": 1, "operations": [],
        "formalization": [T("Anna Berg", "spouse", "?answer", "var"), T("?answer", "type", "person", "type")],
        "evidence_doc_ids": ["doc-anna"],
        "evidence": [{"doc_id": "doc-anna", "url": "", "text": "Spouse: Carl Dahl (m. 1919)"}],
        "target_entity_id": "carl",
    }
    task.update(changes)
    return task


def test_checks_name_every_failure(toy: GraphView) -> None:
    docs = {"doc-anna", "doc-carl"}
    assert check_task(_toy_task(), toy, docs) == []

    def reasons(**changes) -> set[str]:
        return {reason for reason, _ in check_task(_toy_task(**changes), toy, docs)}

    assert reasons(question="Is it Carl Dahl, the spouse of Anna Berg?") == {"answer_leak"}
    assert reasons(question="Who married Anna Berg, CARL DAHL?") == {"answer_leak"}  # folded
    # a name inside a longer name leaks (a surname inside a compound); a name inside a common word does not
    assert reasons(aliases=["Carl"], question="Who is the spouse of Anna Berg, Carlsson's rival?") == {"answer_leak"}
    assert reasons(aliases=["Carl"], question="Who is the spouse of Anna Berg, a carload's owner?") == set()
    assert reasons(evidence=[{"doc_id": "doc-anna", "url": "", "text": "Spouse: unknown"}]) == {"answer_unsupported"}
    assert reasons(evidence_doc_ids=["doc-gone"]) == {"missing_evidence"}
    assert reasons(level=2) == {"level_mismatch"}
    assert reasons(hops=3) == {"level_mismatch"}
    assert reasons(target_entity_id="anna") == {"formalization_mismatch"}
    composer = [T("?answer", "composer", "Anna Berg", "entity")]
    assert reasons(formalization=composer, target_entity_id="opera", answer="Sea Opera",
                   evidence=[{"doc_id": "doc-anna", "url": "", "text": "Sea Opera"}]) == {"ambiguous"}
    level3 = _toy_task(level=3, hops=2, operations=[{"op": "vague_date"}, {"op": "mask_name"}],
                       formalization=[T("?answer", "born", "?s1", "var"), T("?x1", "born", "?s1", "var"),
                                      T("?x1", "spouse", "Carl Dahl", "entity")])
    assert named_next_to_answer({**level3, "target_entity_id": "anna"}, toy) == ["Carl Dahl"]


def _toy_subgraph(toy: GraphView, target: str, edge_ids: list[str], attribute: str | None = None) -> dict:
    edges = [toy.edges[e] for e in edge_ids]
    nodes = sorted({n for e in edges for n in (e.src, e.dst)})
    value = None
    if attribute:
        value = next(a["normalized"] for a in toy.entities[target].attributes if a["key"] == attribute)
    return {"id": f"sg-{target}-{attribute}", "graph": "toy", "nodes": [{"id": n} for n in nodes],
            "edges": [{"id": e.id} for e in edges],
            "target": {"entity_id": target, "attribute": attribute, "value": value}}


def test_planner_levels_on_a_toy_graph(toy: GraphView) -> None:
    from drsynth.synth.tasks.plan import Planner

    planner = Planner(toy, {"doc-anna": "http://x/anna"})
    row = _toy_subgraph(toy, "carl", ["e3", "e1", "e4", "e5"])
    one = planner.plan(row, 1).draft
    # the formalization checks the class "violinist": the question says it ("the spouse of Anna Berg" would not)
    assert one is not None and TemplateWriter().write(one).question == "Who is the violinist married to Anna Berg?"
    assert one.answer == "Carl Dahl" and one.evidence_doc_ids[0] == "doc-carl" and one.hops == 1
    assert {"doc_id": "doc-anna", "url": "http://x/anna", "text": "Spouse: Carl Dahl (m. 1919)"} in one.evidence
    two = planner.plan(row, 2).draft
    assert two is not None and two.hops >= 2 and len(two.operations) <= 1
    assert solve(two.formalization, toy) == {"carl"}
    dated = planner.plan(_toy_subgraph(toy, "anna", ["e3", "e4"], "born"), 1).draft
    assert dated is not None and TemplateWriter().write(dated).question == "When was Anna Berg born?"
    assert dated.answer == "1 May 1891" and {"May 1, 1891", "1891-05-01"} <= set(dated.aliases)


def test_shared_attribute_operation(toy: GraphView) -> None:
    from drsynth.synth.tasks.draft import TaskDraft as Draft
    from drsynth.synth.tasks.plan import Planner, _Context

    planner = Planner(toy)
    row = _toy_subgraph(toy, "carl", ["e3", "e4", "e5"])
    ctx = planner.context(row, 3)
    assert isinstance(ctx, _Context)
    root = planner.mention("carl", "?answer")
    draft = Draft(subgraph_id=row["id"], graph="toy", level=3, root=root, answer="Carl Dahl", aliases=[],
                  answer_type="entity", expected="carl", target_entity_id="carl", attribute=None)
    additions = planner.shared_clauses(ctx, root, {"carl"})
    assert additions and additions[0](draft)
    planner.finalize(draft)
    question = TemplateWriter().write(draft).question
    assert question == "Who is the violinist born in the same city as Anna Berg?"
    ops = [o.row() for o in draft.operations]
    assert ops == [{"op": "shared_attribute", "slot": "?s1", "original": "Oldtown",
                    "obfuscated": "born in the same city as Anna Berg"}]
    assert solve(draft.formalization, toy) == {"carl"}  # Anna herself is excluded by "distinct"
    assert {"Born: 1 May 1891, Oldtown", "Born: 3 April 1893, Oldtown"} <= {e["text"] for e in draft.evidence}


# --- writers ---------------------------------------------------------------------------------------


def test_parse_reply_is_defensive() -> None:
    assert parse_reply('{"question": "Who wrote it?"}') == "Who wrote it?"
    assert parse_reply('```json\n{"question": "Who  wrote\\nit"}\n```') == "Who wrote it?"
    assert parse_reply('Sure! Here it is: {"question": "Which one?"} Hope it helps.') == "Which one?"
    for bad in (None, "", "no json here", '{"question": ""}', '{"q": "x"}', "{broken", '["question"]',
                json.dumps({"question": "x" * 700})):
        with pytest.raises(WriterError) as error:
            parse_reply(bad)
        assert error.value.reason == "writer_malformed"


# --- the demo corpus, end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_graph(demo_subgraphs: SimpleNamespace) -> SimpleNamespace:
    """The demo graph and its subgraphs, built once; tests copy `root` before writing to it."""
    return SimpleNamespace(root=demo_subgraphs.root, graph=demo_subgraphs.graph, config=TaskConfig(),
                           sample_counts=demo_subgraphs.sample_counts,
                           view=GraphView.load(Store(demo_subgraphs.root), demo_subgraphs.graph))


def _copy(demo_graph: SimpleNamespace, tmp_path: Path) -> Store:
    root = os.fspath(tmp_path / "copy")
    shutil.copytree(demo_graph.root, root)
    return Store(root)


@pytest.fixture(scope="module")
def demo_tasks(demo_graph: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = os.fspath(tmp_path_factory.mktemp("tasks-written") / "data")
    shutil.copytree(demo_graph.root, root)
    store = Store(root)
    counts: Counter[str] = Counter()
    for batch in subgraph_batches(store, demo_graph.graph, demo_graph.config.subgraphs_per_task):
        counts += write_tasks(store, "tasks-run", demo_graph.graph, batch, demo_graph.config)
    counts += select_tasks(store, "tasks-run", demo_graph.graph, demo_graph.config)
    return SimpleNamespace(store=store, counts=counts, tasks=list(store.rows("tasks")),
                           drafts=list(store.rows("task_drafts")),
                           subgraphs=list(store.rows("subgraphs")), quarantine=list(store.rows("quarantine")))


def test_subgraphs_are_dense_low_degree_and_deduplicated(demo_graph: SimpleNamespace, demo_tasks) -> None:
    subgraphs = demo_tasks.subgraphs
    assert demo_graph.sample_counts["subgraphs.sampled"] == demo_graph.config.subgraphs
    assert len(subgraphs) == demo_graph.sample_counts["subgraphs.added"] >= 100
    config = demo_graph.config
    assert all(config.min_edges <= len(s["edges"]) <= config.max_edges for s in subgraphs)
    # not all chains: some node touches three or more of its subgraph's edges
    branching = [s for s in subgraphs if max(Counter(n for e in s["edges"] for n in (e["src"], e["dst"])).values()) >= 3]
    assert len(branching) >= len(subgraphs) // 4
    cyclic = [s for s in subgraphs if len(s["edges"]) >= len(s["nodes"])]
    assert cyclic, "jumps back should close some cycles"
    assert max(Counter(s["shape"] for s in subgraphs).values()) <= config.max_per_shape
    assert all(e["evidence"] and e["doc_id"] for s in subgraphs for e in s["edges"])
    # walks step along typed edges only (they used to prefer them over links): a link is no fact
    assert all(demo_graph.view.edges[e["id"]].typed for s in subgraphs for e in s["edges"])
    assert any(not e.typed for e in demo_graph.view.edges.values())
    # seeds lean to low degree: the median seed degree is below the graph's median degree
    seed_degrees = sorted(s["seed_degree"] for s in subgraphs)
    degrees = sorted(demo_graph.view.degree(e) for e in demo_graph.view.entities)
    assert seed_degrees[len(seed_degrees) // 2] < degrees[len(degrees) // 2]
    assert all(set(s["parents"]) == {n["id"] for n in s["nodes"]} | {e["id"] for e in s["edges"]} for s in subgraphs)
    targets = Counter(s["target"]["attribute"] is None for s in subgraphs)
    assert targets[True] and targets[False], "both entity and attribute targets"


def test_shape_cap_is_enforced(demo_graph: SimpleNamespace) -> None:
    config = TaskConfig(subgraphs=120, max_per_shape=1, min_edges=2, max_edges=2)
    outcomes = Counter(outcome for outcome, _ in sample(demo_graph.view, demo_graph.graph, config))
    assert outcomes["duplicate_shape"] > 0
    shapes = Counter(row["shape"] for outcome, row in sample(demo_graph.view, demo_graph.graph, config) if row)
    assert set(shapes.values()) == {1}


def test_sampling_is_deterministic(demo_graph: SimpleNamespace) -> None:
    first = [row["id"] for _, row in sample(demo_graph.view, demo_graph.graph, demo_graph.config) if row]
    again = [row["id"] for _, row in sample(demo_graph.view, demo_graph.graph, demo_graph.config) if row]
    other_seed = TaskConfig(seed=1)
    other = [row["id"] for _, row in sample(demo_graph.view, demo_graph.graph, other_seed) if row]
    assert first == again and first != other


def test_every_level_produced_with_checked_tasks(demo_graph: SimpleNamespace, demo_tasks) -> None:
    tasks = demo_tasks.tasks
    levels = Counter(t["level"] for t in tasks)
    # (a task is kept only when no other entity even might answer it, stubs included: fewer, and valid;
    # subjects a table or a list names without a page count as candidates too: 58/19/12 measured)
    assert levels[1] >= 40 and levels[2] >= 15 and levels[3] >= 9, levels
    assert demo_tasks.counts["tasks.added"] == len(tasks) and demo_tasks.counts["task_drafts.added"] == len(demo_tasks.drafts)
    document_ids, _ = demo_tasks.store.committed_ids("documents")
    for task in tasks:
        assert leaked_alias(task["question"], task) is None, task["question"]
        assert task["evidence_doc_ids"] and set(task["evidence_doc_ids"]) <= document_ids
        assert {e["doc_id"] for e in task["evidence"]} == set(task["evidence_doc_ids"])
        assert all(e["url"].startswith("http://") for e in task["evidence"])
        solutions = solve(task["formalization"], demo_graph.view)
        assert len(solutions) == 1 and expected_answer(task, solutions, demo_graph.view), task
        assert check_task(task, demo_graph.view, document_ids) == []
        assert task["parents"] == [task["subgraph_id"]] and task["writer"] == "template"
        assert task["graph"] == demo_graph.graph
    for task in tasks:
        ops = [o["op"] for o in task["operations"]]
        if task["level"] == 1:
            assert task["hops"] == 1 and not ops
        elif task["level"] == 2:
            assert task["hops"] >= 2 and len(ops) <= 1
        else:
            assert task["hops"] >= 2 and len(ops) >= 2
    all_ops = Counter(o["op"] for t in tasks for o in t["operations"])
    assert {"vague_date", "mask_name", "number_range", "describe_by_attributes"} <= set(all_ops)
    answer_types = Counter(t["answer_type"] for t in tasks)
    assert {"entity", "date", "year", "number"} <= set(answer_types)
    # every subgraph is accounted for: a draft or a tasks-stage quarantine row names it
    named = {t["subgraph_id"] for t in demo_tasks.drafts} | {p for q in demo_tasks.quarantine if q["stage"] == "tasks"
                                                for p in q["parents"]}
    assert named == {s["id"] for s in demo_tasks.subgraphs}


def test_date_answers_have_other_spellings(demo_tasks) -> None:
    dated = [t for t in demo_tasks.tasks if t["answer_type"] == "date"]
    assert dated
    for task in dated:
        spellings = [task["answer"], *task["aliases"]]
        assert any(s[:4].isdigit() and s[4] == "-" for s in spellings), spellings  # ISO
        assert any(s.split()[0].isalpha() for s in spellings)
        if any(len(s) == 10 and s[4] == "-" for s in spellings):  # a day, not only a month ("February 1956")
            assert any(s.split()[0].isdigit() for s in spellings), spellings
    entity_tasks = [t for t in demo_tasks.tasks if t["answer_type"] == "entity"]
    fennick = [t for t in entity_tasks if t["answer"] == "Aurel Fennick"]
    assert all("Aurelius Anton Fennick" in t["aliases"] for t in fennick)


def test_template_questions_read_as_english(demo_tasks) -> None:
    for task in demo_tasks.tasks:
        question = task["question"]
        assert question[0].isupper() and question.endswith("?") and "  " not in question
        assert "_" not in question and "links_to" not in question and "mentions" not in question
        assert "{" not in question and "?x" not in question and "entity whose" not in question
        words = question.lower().split()
        assert not any(a == b and a in ("a", "the", "of", "in") for a, b in itertools.pairwise(words)), question


def test_questions_state_typed_edges_only(demo_graph: SimpleNamespace, demo_tasks) -> None:
    """A hyperlink, a table link or a mention says two entities are connected, never how: no subgraph walks
    one, no plan states one, no evidence cites one, and no question reads "associated with"."""
    from drsynth.synth.tasks.plan import Planner

    view = demo_graph.view
    typed = {e.relation for e in view.edges.values() if e.typed}
    # what a task may cite: typed edges' rows, entities' descriptions, attributes' rows
    citable = {(e.doc_id, e.evidence) for e in view.edges.values() if e.typed}
    citable |= {(x.doc_ids[0], x.description) for x in view.entities.values() if x.doc_ids}
    planner = Planner(view)
    for entity in view.entities.values():
        citable |= {(i["doc_id"], i["text"]) for a in entity.attributes
                    for i in [planner.attribute_evidence(entity, a)]}
    links = {(e.doc_id, e.evidence) for e in view.edges.values() if not e.typed} - citable
    assert links
    subgraphs = {s["id"]: s for s in demo_tasks.subgraphs}
    for task in demo_tasks.tasks:
        assert "associated with" not in task["question"], task["question"]
        assert all(view.edges[e["id"]].typed for e in subgraphs[task["subgraph_id"]]["edges"])
        for triple in task["formalization"]:
            if triple["object_kind"] in ("var", "entity"):
                assert triple["predicate"] in typed, triple
        for item in task["evidence"]:
            assert (item["doc_id"], item["text"]) in citable and (item["doc_id"], item["text"]) not in links, item
    stated = 0
    for row in demo_tasks.subgraphs:
        for level in (1, 2, 3):
            draft = planner.plan(row, level).draft
            for mention in draft.root.walk() if draft is not None else []:
                for clause in mention.clauses:
                    if clause.kind == "edge":
                        assert view.edges[clause.edge_id].typed
                        stated += 1
    assert stated > 80  # 100 measured: plans that stay unique against table rows and list items


def test_a_duration_is_asked_and_answered_as_written(demo_graph: SimpleNamespace, demo_tasks) -> None:
    from drsynth.synth.tasks.plan import Planner
    from drsynth.synth.tasks.synthesize import task_row

    view = demo_graph.view

    def duration(task: dict) -> dict | None:
        keys = {t["predicate"] for t in task["formalization"] if t["object"] == "?answer" and t["object_kind"] == "value"}
        return next((a for a in view.entities[task["target_entity_id"]].attributes
                     if a["key"] in keys and a["kind"] == "duration"), None)

    asked = [(t, a) for t in demo_tasks.tasks if (a := duration(t)) is not None]
    assert asked, "some running time, length or duration is asked on the demo"
    for task, attribute in asked:
        # "How long is ...?" -> "88 minutes" (as the page writes it), "1 hour 28 minutes", ...
        assert task["question"].startswith(("How long is ", f"What is the {attribute['key']} of ")), task["question"]
        assert task["answer"] in attribute["value"], (task["answer"], attribute)
        assert any("minute" in a for a in [task["answer"], *task["aliases"]]), task
    # the song's length, "3:12", asked of the song by name: a level-1 lookup
    song = next(e for e in view.entities.values() if e.name == "Gellan Bay Blues")
    edge = next(e for e, _ in view.neighbors(song.id) if e.typed and e.src == song.id)
    row = {"id": "sg-length", "graph": demo_graph.graph, "nodes": [{"id": edge.src}, {"id": edge.dst}],
           "edges": [{"id": edge.id}], "target": {"entity_id": song.id, "attribute": "length", "value": "192"}}
    draft = Planner(view).plan(row, 1).draft
    assert draft is not None and draft.answer == "3:12"
    assert {"3 minutes 12 seconds", "3 min 12 s"} <= set(draft.aliases)
    written = TemplateWriter().write(draft)
    assert written.question == "How long is Gellan Bay Blues?"
    document_ids, _ = demo_tasks.store.committed_ids("documents")
    assert check_task(task_row(draft, written), view, document_ids) == []


def test_a_stub_is_an_answer_never_an_attribute_target(demo_graph: SimpleNamespace, demo_tasks) -> None:
    """A stub (a record label, a child named only in an infobox) answers by its name, cited by the infobox
    row that links to it; it has no page, description or attribute to ask."""
    from drsynth.synth.tasks.text import contains_phrase

    view = demo_graph.view
    stubs = {e.id for e in view.entities.values() if e.stub}
    assert stubs and all(not view.entities[s].doc_ids and not view.entities[s].description for s in stubs)
    assert all(s["target"]["attribute"] is None for s in demo_tasks.subgraphs if s["target"]["entity_id"] in stubs)
    answered = [t for t in demo_tasks.tasks if t["target_entity_id"] in stubs]
    assert {t["answer"] for t in answered} >= {"Gullwing Records", "Karl Voss"}
    for task in answered:
        assert task["answer_type"] == "entity" and task["evidence_doc_ids"]
        stub = view.entities[task["target_entity_id"]]
        linking = {e.doc_id for e, _ in view.neighbors(stub.id) if e.typed and e.dst == stub.id}
        assert any(item["doc_id"] in linking and contains_phrase(item["text"], task["answer"])
                   for item in task["evidence"]), task["evidence"]


def test_a_corpus_of_mentions_only_gives_single_entity_questions() -> None:
    """Text corpora link by name mentions only: no edge is a fact, so each entity with an askable attribute is
    a subgraph of its own, asked at level 1; nothing is written at levels 2 and 3."""
    from drsynth.synth.tasks.plan import Planner

    entities = [
        _entity("old", "Oldtown", "place", "Oldtown is a port city.",
                [_attr("population", "2,350", "number", "2350", doc="doc-old")]),
        _entity("new", "Newtown", "place", "Newtown is a town on the coast.",
                [_attr("population", "40,100", "number", "40100", doc="doc-new")]),
        _entity("opera", "Sea Opera", "work", "Sea Opera is an opera.", []),
    ]
    edges = [_edge("m1", "old", "new", "mentions", "Oldtown lies north of Newtown.", kind="text"),
             _edge("m2", "opera", "old", "mentions", "Sea Opera is set in Oldtown.", kind="text")]
    view = GraphView.from_rows(entities, edges)
    rows = [row for _, row in sample(view, "g", TaskConfig(subgraphs=20)) if row]
    assert {r["target"]["entity_id"] for r in rows} == {"old", "new"}
    assert all(not r["edges"] and r["target"]["attribute"] == "population" for r in rows)
    planner = Planner(view)
    for row in rows:
        one = planner.plan(row, 1).draft
        assert one is not None and one.hops == 1
        assert TemplateWriter().write(one).question.startswith("What is the population of ")
        assert planner.plan(row, 2).draft is None and planner.plan(row, 3).draft is None


def test_a_link_in_a_subgraph_is_never_stated(toy: GraphView) -> None:
    from drsynth.synth.tasks.plan import Planner

    planner = Planner(toy)
    # a subgraph written before links were told from facts: its link (e6) is skipped, the fact (e7) used
    assert planner.plan(_toy_subgraph(toy, "opera", ["e6"]), 1).draft is None
    draft = planner.plan(_toy_subgraph(toy, "opera", ["e6", "e7"]), 1).draft
    assert draft is not None and "premiere" in {t.predicate for t in draft.formalization}
    with pytest.raises(ValueError):
        planner.edge_clause(planner.mention("opera", "?answer"), toy.edges["e6"], planner.mention("new", None))


def test_rerun_adds_nothing(demo_graph: SimpleNamespace, demo_tasks) -> None:
    store = demo_tasks.store
    again = sample_subgraphs(store, "rerun", demo_graph.graph, demo_graph.config)
    assert again["subgraphs.added"] == 0 and again["subgraphs.already_present"] > 0
    assert subgraph_batches(store, demo_graph.graph, 64) == []
    before = (store.count("tasks"), store.count("quarantine"))
    # an explicit rerun of a finished batch writes the same ids, hence nothing
    rows = list(store.rows("subgraphs", ["id"]))
    file = store.files("subgraphs")[0]
    groups = tuple(range(len(list(store.row_group_ids(file)))))
    from drsynth.synth.tasks.synthesize import SubgraphBatch
    counts = write_tasks(store, "rerun", demo_graph.graph, SubgraphBatch(file, groups, tuple(r["id"] for r in rows)),
                         demo_graph.config)
    assert counts["task_drafts.added"] == 0 and counts["task_drafts.already_present"] == len(demo_tasks.drafts)
    assert (store.count("tasks"), store.count("quarantine")) == before


def test_batches_resume_where_a_run_stopped(demo_graph: SimpleNamespace, tmp_path: Path) -> None:
    store = _copy(demo_graph, tmp_path)
    batches = subgraph_batches(store, demo_graph.graph, 10)
    assert sum(len(b.ids) for b in batches) == store.count("subgraphs") and all(len(b.ids) <= 10 for b in batches)
    write_tasks(store, "part", demo_graph.graph, batches[0], demo_graph.config)
    left = subgraph_batches(store, demo_graph.graph, 10)
    assert {i for b in left for i in b.ids} == {i for b in batches[1:] for i in b.ids}
    assert subgraph_batches(store, "another-graph", 10) == []


class _PlantingWriter(QuestionWriter):
    """Writes the template question, then breaks one thing per draft so that a check must catch it."""

    name = "template"

    def __init__(self) -> None:
        self.count = 0
        self.template = TemplateWriter()

    def write(self, draft: TaskDraft) -> WrittenQuestion:
        self.count += 1
        question = self.template.write(draft).question
        if self.count % 3 == 1:
            return WrittenQuestion(f"{question[:-1]}, that is {draft.answer}?", self.name)
        if self.count % 3 == 2:
            draft.evidence = [{**e, "text": "nothing to see"} for e in draft.evidence]
            return WrittenQuestion(question, self.name)
        draft.evidence = [{**e, "doc_id": "no-such-document"} for e in draft.evidence]
        return WrittenQuestion(question, self.name)


def test_check_failures_become_quarantine_rows(demo_graph: SimpleNamespace, tmp_path: Path) -> None:
    store = _copy(demo_graph, tmp_path)
    batch = subgraph_batches(store, demo_graph.graph, 12)[0]
    writer = _PlantingWriter()
    counts = write_tasks(store, "planted", demo_graph.graph, batch, demo_graph.config, writer=writer)
    assert counts["task_drafts.added"] == 0
    rows = [q for q in store.rows("quarantine") if q["stage"] == "tasks"]
    reasons = Counter(q["reason"] for q in rows)
    assert reasons["answer_leak"] and reasons["answer_unsupported"] and reasons["missing_evidence"]
    # every planted fault is caught (planning may refuse a leak of its own besides)
    assert sum(reasons[r] for r in ("answer_leak", "answer_unsupported", "missing_evidence")) >= writer.count
    planted_leaks = (writer.count + 2) // 3  # every third draft from the first
    assert reasons["answer_unsupported"] + reasons["missing_evidence"] == writer.count - planted_leaks
    for row in rows:
        assert row["parents"] and row["parents"][0] in batch.ids and row["detail"]
        planted = json.loads(row["input"]) if row["reason"] in ("answer_leak", "answer_unsupported",
                                                                 "missing_evidence") else {}
        if "question" in planted:  # a written question (planning's own refusals carry the draft)
            assert planted["subgraph_id"] == row["parents"][0] and planted["question"].endswith("?")


def test_stale_subgraph_is_quarantined(demo_graph: SimpleNamespace, tmp_path: Path) -> None:
    store = _copy(demo_graph, tmp_path)
    row = next(store.rows("subgraphs", SUBGRAPH_COLUMNS))
    stale = {**row, "id": "stale-subgraph", "parents": [],
             "edges": [{**row["edges"][0], "id": "edge-of-another-graph"}, *row["edges"][1:]]}
    with store.writer("subgraphs", "planted") as writer:
        writer.write(stale)
    batch = next(b for b in subgraph_batches(store, demo_graph.graph, 1000) if "stale-subgraph" in b.ids)
    counts = write_tasks(store, "stale", demo_graph.graph, batch, demo_graph.config)
    assert counts["quarantine.tasks.stale_subgraph"] == 1 and counts["task_drafts.added"] == 0
    quarantined = [q for q in store.rows("quarantine") if q["parents"] == ["stale-subgraph"]]
    assert {q["reason"] for q in quarantined} == {"stale_subgraph"}
    assert "stale-subgraph" not in {i for b in subgraph_batches(store, demo_graph.graph, 1000) for i in b.ids}


# --- the teacher writer through the real openai SDK --------------------------------------------------


def _teacher_config(base_url: str, **teacher) -> TaskConfig:
    settings = {"base_url": base_url, "model": "tiny-teacher", "timeout_s": 10, "max_retries": 0,
                "concurrency": 2, **teacher}
    return TaskConfig.from_dict({"writer": "teacher", "teacher": settings})


def test_teacher_writer_through_the_openai_sdk(demo_graph: SimpleNamespace, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-4f1d9c0e7b"
    monkeypatch.setenv("DRSYNTH_TEACHER_API_KEY", secret)

    def responder(request: dict) -> str:
        prompt = json.loads(request["messages"][-1]["content"])
        assert prompt["answer"] and prompt["constraints"] and prompt["evidence"]
        question = prompt["draft_question"]
        return json.dumps({"question": "In this puzzle: " + question[0].lower() + question[1:]})

    store = _copy(demo_graph, tmp_path)
    batch = subgraph_batches(store, demo_graph.graph, 5)[0]
    with OpenAIServer(responder) as server:
        config = _teacher_config(server.base_url)
        writer = make_writer(config)
        assert writer.name == "teacher:tiny-teacher"
        counts = write_tasks(store, "teacher-run", demo_graph.graph, batch, config, writer=writer)
        writer.close()
        chats = server.chat_requests()
    assert chats and all(r.headers["authorization"] == f"Bearer {secret}" for r in chats)
    assert all(r.body["model"] == "tiny-teacher" and r.body["messages"][0]["role"] == "system" for r in chats)
    tasks = list(store.rows("task_drafts"))
    assert tasks and counts["task_drafts.added"] == len(tasks) == len(chats) - sum(
        v for k, v in counts.items() if k.startswith("quarantine.tasks.writer"))
    assert all(t["writer"] == "teacher:tiny-teacher" and t["question"].startswith("In this puzzle: ") for t in tasks)
    # the key went over the wire and nowhere else: no row, commit or shard under the root holds it
    for path in Path(store.root.path).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    for dataset in store.datasets():
        for row in store.rows(dataset):
            assert secret not in json.dumps(row, default=str)


def test_teacher_failures_become_quarantine_rows(demo_graph: SimpleNamespace, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRSYNTH_TEACHER_API_KEY", "sk-another-secret")
    store = _copy(demo_graph, tmp_path)
    batches = subgraph_batches(store, demo_graph.graph, 3)
    replies = iter(["this is not json", '{"answer": "no question key"}', '{"question": ""}'] * 20)
    with OpenAIServer(lambda request: next(replies)) as server:
        counts = write_tasks(store, "bad-teacher", demo_graph.graph, batches[0], _teacher_config(server.base_url))
    assert counts["task_drafts.added"] == 0 and counts["quarantine.tasks.writer_malformed"] > 0

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    counts = write_tasks(store, "dead-teacher", demo_graph.graph, batches[1], _teacher_config(dead, timeout_s=2))
    assert counts["task_drafts.added"] == 0 and counts["quarantine.tasks.writer_error"] > 0
    rows = [q for q in store.rows("quarantine") if q["reason"] in ("writer_error", "writer_malformed")]
    assert rows and all(q["stage"] == "tasks" and q["parents"] for q in rows)
    assert all("sk-another-secret" not in (q["detail"] + q["input"].decode()) for q in rows)
    # a reply that came back unusable is final (a rerun gets the same cached reply); an unreachable teacher
    # leaves its subgraphs pending for the next run
    pending = {i for b in subgraph_batches(store, demo_graph.graph, 3) for i in b.ids}
    assert not set(batches[0].ids) & pending
    assert {q["parents"][0] for q in rows if q["reason"] == "writer_error"} <= pending


def test_openai_server_serves_models_and_records_requests() -> None:
    import openai

    with OpenAIServer(lambda request: {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                                    "finish_reason": "stop"}]}, model="m") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        assert [m.id for m in client.models.list()] == ["m"]
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content == "hi"
        client.close()
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]
    assert server.requests[1].body["messages"][0]["content"] == "hello"


# --- review fixes: bad data never fails a batch --------------------------------------------------------


@pytest.mark.parametrize("relation", ["{{{birth_place}}}", "founded {}", "{o} by", "{s}ed", "{when}", "}{"])
@pytest.mark.parametrize("other_type", ["", "person", "place"])
def test_braces_in_a_relation_are_text_not_placeholders(relation: str, other_type: str) -> None:
    from drsynth.synth.tasks.phrases import fill

    phrase = relation_phrase(relation, other_type, "person")
    out = fill(phrase.out, person=True, o="Xavier")
    into = fill(phrase.into, person=False, s="Yarrow")
    assert "Xavier" in out and "Yarrow" in into
    key = " ".join(relation.replace("_", " ").split())
    assert any(key in text or key.split()[0] in text for text in (out, into)), (out, into)
    assert fill(phrase.out, o="X").count("{") == relation.count("{")  # nothing eaten, nothing added


def test_braces_in_date_keys_and_values() -> None:
    assert date_clause("{x} founded", "in 1900", True) == "whose {x} was founded in 1900"
    assert date_clause("founded", "in {o} 1900", False) == "founded in {o} 1900"
    assert attribute_question("{np} proclaimed", "date", "Zed") == "When was the {np} of Zed proclaimed?"
    assert attribute_question("founded {}", "date", "Zed") == "When did Zed found {}?"


def test_a_brace_relation_plans_and_words_a_question() -> None:
    from drsynth.synth.tasks.plan import Planner

    view = GraphView.from_rows(
        [_entity("alpha", "Alpha Lind", "person", "Alpha Lind was a painter.", []),
         _entity("beta", "Betatown", "place", "Betatown is a town on the coast.", [])],
        [_edge("b1", "alpha", "beta", "{{{birth_place}}}", "{{{birth_place}}}: Betatown")])
    row = {"id": "sg-brace", "graph": "toy", "nodes": [{"id": "alpha"}, {"id": "beta"}], "edges": [{"id": "b1"}],
           "target": {"entity_id": "alpha", "attribute": None, "value": None}}
    draft = Planner(view).plan(row, 1).draft
    assert draft is not None
    question = TemplateWriter().write(draft).question
    assert "whose {{{birth place}}} is Betatown" in question, question


def _entity_named_like_a_variable() -> GraphView:
    return GraphView.from_rows(
        [_entity("q", "?answer", "person", "?answer is a band leader.", []),
         _entity("oryx", "?Oryx", "person", "?Oryx is a singer.", []),
         _entity("carl", "Carl Dahl", "person", "Carl Dahl was a violinist.", []),
         _entity("dora", "Dora Eck", "person", "Dora Eck was a cellist.", [])],
        [_edge("s1", "q", "carl", "spouse", "Spouse: Carl Dahl"),
         _edge("s2", "oryx", "dora", "spouse", "Spouse: Dora Eck")])


def test_entity_names_that_look_like_variables_are_constants() -> None:
    from drsynth.synth.tasks.formal import constant, is_var, name_of
    from drsynth.synth.tasks.plan import Planner

    assert is_var("?answer") and is_var("?x1") and is_var("?s2")
    assert not is_var("?Oryx") and not is_var("?") and not is_var("? x") and not is_var("\\?answer")
    for name in ("?answer", "?x1", "\\?answer", "\\", "?Oryx", "Carl Dahl"):
        assert name_of(constant(name)) == name and not is_var(constant(name))
    assert constant("?answer") == "\\?answer" and constant("?Oryx") == "?Oryx"
    view = _entity_named_like_a_variable()
    assert solve([T(constant("?answer"), "spouse", "?answer", "var")], view) == {"carl"}
    assert solve([T("?Oryx", "spouse", "?answer", "var")], view) == {"dora"}
    assert solve([T("?answer", "spouse", constant("?answer"), "entity")], view) == set()
    assert hops_of([T(constant("?answer"), "spouse", "?answer", "var")]) == 1
    planner = Planner(view)
    for target, edge, anchor in (("carl", "s1", "\\?answer"), ("dora", "s2", "?Oryx")):
        row = {"id": f"sg-{target}", "graph": "toy", "nodes": [], "edges": [{"id": edge}],
               "target": {"entity_id": target, "attribute": None, "value": None}}
        draft = planner.plan(row, 1).draft
        assert draft is not None and solve(draft.formalization, view) == {target}
        assert anchor in {t.subject for t in draft.formalization}
        task = {**_toy_task(), "formalization": [t.row() for t in draft.formalization], "answer": draft.answer,
                "target_entity_id": target, "evidence": draft.evidence, "evidence_doc_ids": draft.evidence_doc_ids,
                "question": TemplateWriter().write(draft).question}
        assert check_task(task, view, set(draft.evidence_doc_ids)) == []


def test_a_planner_exception_quarantines_one_subgraph_and_the_batch_goes_on(
        demo_graph: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.synth.tasks.plan import Planner

    store = _copy(demo_graph, tmp_path)
    batch = subgraph_batches(store, demo_graph.graph, 12)[0]
    bad = batch.ids[0]
    plan = Planner.plan

    def flaky(self, row: dict, level: int):
        if row["id"] == bad and level != 1:
            raise KeyError("planted")
        return plan(self, row, level)

    monkeypatch.setattr(Planner, "plan", flaky)
    counts = write_tasks(store, "flaky", demo_graph.graph, batch, demo_graph.config)
    assert counts["quarantine.tasks.planner_error"] == 2 and counts["task_drafts.added"] > 0
    errors = [q for q in store.rows("quarantine") if q["reason"] == "planner_error"]
    assert {q["parents"][0] for q in errors} == {bad} and len({q["id"] for q in errors}) == 2
    assert all("KeyError: 'planted'" in q["detail"] and "test_tasks.py" in q["detail"] for q in errors)
    assert {t["subgraph_id"] for t in store.rows("task_drafts")} - {bad}  # the other subgraphs got their tasks
    left = {i for b in subgraph_batches(store, demo_graph.graph, 1000) for i in b.ids}
    assert not left & set(batch.ids)


class _BrokenWriter(TemplateWriter):
    """Raises (not a WriterError) on the drafts of one subgraph."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def write(self, draft: TaskDraft) -> WrittenQuestion:
        if draft.subgraph_id == self.bad:
            raise IndexError("planted")
        return super().write(draft)


def _drafting(batch, demo_tasks) -> list[str]:
    """The batch's subgraphs that yield at least one draft (so a writer or check is called for them)."""
    producing = {d["subgraph_id"] for d in demo_tasks.drafts}
    return [i for i in batch.ids if i in producing]


def test_a_writer_or_check_exception_is_one_subgraphs_problem(
        demo_graph: SimpleNamespace, demo_tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.synth.tasks import synthesize

    store = _copy(demo_graph, tmp_path)
    batch = subgraph_batches(store, demo_graph.graph, 12)[0]
    broken, flaky = _drafting(batch, demo_tasks)[:2]
    check = synthesize.check_task

    def flaky_check(row: dict, view: GraphView, document_ids: set[str]) -> list:
        if row["subgraph_id"] == flaky:
            raise RuntimeError("planted check")
        return check(row, view, document_ids)

    monkeypatch.setattr(synthesize, "check_task", flaky_check)
    counts = write_tasks(store, "flaky", demo_graph.graph, batch, demo_graph.config, writer=_BrokenWriter(broken))
    assert counts["task_drafts.added"] > 0 and counts["quarantine.tasks.planner_error"] >= 2
    errors = [q for q in store.rows("quarantine") if q["reason"] == "planner_error"]
    assert {q["parents"][0] for q in errors} == {broken, flaky}
    assert any("IndexError: 'planted'" in q["detail"] or "IndexError: planted" in q["detail"] for q in errors)
    assert any("RuntimeError: planted check" in q["detail"] for q in errors)


def test_a_task_row_the_schema_refuses_names_its_subgraph(
        demo_graph: SimpleNamespace, demo_tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.synth.tasks import synthesize

    store = _copy(demo_graph, tmp_path)
    batch = subgraph_batches(store, demo_graph.graph, 12)[0]
    bad = _drafting(batch, demo_tasks)[0]
    make_row = synthesize.task_row

    def broken_row(draft: TaskDraft, written: WrittenQuestion) -> dict:
        row = make_row(draft, written)
        if row["subgraph_id"] == bad:
            row["writer"] = 12345  # not a string: the tasks schema refuses it
        return row

    monkeypatch.setattr(synthesize, "task_row", broken_row)
    counts = write_tasks(store, "invalid", demo_graph.graph, batch, demo_graph.config)
    assert counts["quarantine.tasks.invalid_row"] >= 1 and counts["task_drafts.already_present"] == 0
    invalid = [q for q in store.rows("quarantine") if q["reason"] == "invalid_row"]
    assert invalid and all(q["parents"] == [bad] and q["stage"] == "tasks" for q in invalid)
    assert bad not in {t["subgraph_id"] for t in store.rows("task_drafts")}
    assert bad not in {i for b in subgraph_batches(store, demo_graph.graph, 1000) for i in b.ids}
    assert counts["task_drafts.added"] == store.count("task_drafts")


# --- review fixes: scale and memory ---------------------------------------------------------------------


class _CountingDict(dict):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.scans = 0

    def values(self):
        self.scans += 1
        return super().values()


def test_named_next_to_answer_indexes_names_once_and_is_order_free() -> None:
    twins = [_entity("t-near", "Twin", "person", "Twin is a twin.", []),
             _entity("t-far", "Twin", "person", "Twin is a twin.", [])]
    rest = [_entity("ans", "Answer Person", "person", "Answer Person is a person.", []),
            _entity("mid", "Middle Person", "person", "Middle Person is a person.", [])]
    edges = [_edge("n1", "ans", "t-near", "spouse", "Spouse: Twin"), _edge("n2", "mid", "t-far", "spouse", "x"),
             _edge("n3", "ans", "mid", "teacher", "Teacher: Middle Person")]
    task = {"target_entity_id": "ans", "formalization": [T("?x1", "spouse", "Twin", "entity")]}
    for order in (twins, twins[::-1]):
        view = GraphView.from_rows([*rest, *order], edges)
        assert named_next_to_answer(task, view) == ["Twin"]
    view = GraphView.from_rows([*rest, *twins], edges)
    view.entities = _CountingDict(view.entities)
    for _ in range(5):
        named_next_to_answer(task, view)
    assert view.entities.scans <= 1


def test_planner_counts_labels_once_per_view(toy: GraphView) -> None:
    from drsynth.synth.tasks.plan import Planner

    assert Planner(toy)._labels is Planner(toy, seed=3)._labels


def test_evidence_urls_are_looked_up_for_the_cited_documents_only(
        demo_graph: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.synth.tasks.synthesize import evidence_documents

    store = _copy(demo_graph, tmp_path)
    documents = {r["id"]: r["url"] for r in store.rows("documents", ["id", "url"])}
    some = sorted(documents)[:3]
    assert evidence_documents(store, [*some, "no-such-document", ""]) == {d: documents[d] for d in some}
    scans: list[tuple] = []
    scan = Store.scan

    def spy(self, dataset, columns=None, **kwargs):
        scans.append((dataset, columns, kwargs.get("ids")))
        return scan(self, dataset, columns, **kwargs)

    committed_ids = Store.committed_ids

    def no_full_id_set(self, dataset: str):
        assert dataset != "documents", "every document id read into a set"
        return committed_ids(self, dataset)

    monkeypatch.setattr(Store, "scan", spy)
    monkeypatch.setattr(Store, "committed_ids", no_full_id_set)
    batch = subgraph_batches(store, demo_graph.graph, 12)[0]
    counts = write_tasks(store, "urls", demo_graph.graph, batch, demo_graph.config)
    assert counts["task_drafts.added"] > 0
    document_scans = [s for s in scans if s[0] == "documents"]
    assert document_scans and all(cols == ["id", "url"] and ids for _, cols, ids in document_scans)
    cited = {d for t in store.rows("task_drafts") for d in t["evidence_doc_ids"]}
    assert cited and set().union(*(set(ids) for *_, ids in document_scans)) >= cited
    for task in store.rows("task_drafts"):
        assert all(e["url"] == documents[e["doc_id"]] for e in task["evidence"])


def test_teacher_writer_rerun_is_served_from_the_root_cache(demo_graph: SimpleNamespace, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRSYNTH_TEACHER_API_KEY", "sk-cache-test")

    def responder(request: dict) -> str:
        question = json.loads(request["messages"][-1]["content"])["draft_question"]
        return json.dumps({"question": "Cached: " + question[0].lower() + question[1:]})

    store = _copy(demo_graph, tmp_path)
    batch = subgraph_batches(store, demo_graph.graph, 4)[0]
    with OpenAIServer(responder) as server:
        config = _teacher_config(server.base_url)
        first = write_tasks(store, "cache-1", demo_graph.graph, batch, config)
        sent = len(server.chat_requests())
        again = write_tasks(store, "cache-2", demo_graph.graph, batch, config)  # an explicit rerun of the batch
        assert len(server.chat_requests()) == sent  # every reply came from <root>/_cache
    assert sent > 0 and first["requests.added"] == sent
    assert again["task_drafts.added"] == 0 and again["requests.added"] == sent
    hits = [r["cache_hit"] for r in store.rows("requests", ["cache_hit"])]
    assert hits.count(True) == sent and hits.count(False) == sent


# --- typed values: durations, money, identifiers, years ----------------------------------------------


@pytest.fixture(scope="module")
def records() -> GraphView:
    entities = [
        _entity("single", "Blue Harbour (song)", "work", "Blue Harbour is a song by Anna Berg.",
                [_attr("length", "3:12", "duration", "192", unit="s", doc="doc-single"),
                 _attr("label", "Atlantic 8025", "identifier", "Atlantic 8025", doc="doc-single"),
                 _attr("format", '7" single', "format", "7-inch single", doc="doc-single"),
                 _attr("recorded", "1954–1960", "span", "1954/1960", doc="doc-single"),
                 _attr("released", "1962", "year", "1962", doc="doc-single")]),
        _entity("film", "Salt Road", "work", "Salt Road is a film.",
                [_attr("budget", "$2 million", "money", "2000000", unit="USD", doc="doc-film"),
                 _attr("population census year", "2011", "number", "2011", doc="doc-film")]),
    ]
    return GraphView.from_rows(entities, [])


def _find(view: GraphView, entity_id: str, key: str) -> dict:
    return next(a for a in view.entities[entity_id].attributes if a["key"] == key)


def test_a_duration_range_is_worded_with_its_unit(records: GraphView) -> None:
    from drsynth.synth.tasks.formal import holds
    from drsynth.synth.tasks.operations import amount_range
    from drsynth.synth.tasks.plan import Planner

    song = amount_range("duration", "192", "s")
    assert song is not None and song.phrase == "between 3 and 4 minutes" and song.object == "180..240"
    film = amount_range("duration", "5820", "s")
    assert film is not None and film.phrase == "between 90 and 100 minutes" and in_number_range(5820, film.object)
    budget = amount_range("money", "2000000", "USD")
    assert budget is not None and budget.phrase == "between $2 million and $2.5 million"
    planner = Planner(records)
    length = _find(records, "single", "length")
    answer, aliases, _, expected = planner.answer_of(records.entities["single"], length)
    assert (answer, expected) == ("3:12", "192")
    assert {"3 minutes 12 seconds", "3 min 12 s"} <= set(aliases) and "3" not in aliases
    mention = planner.mention("single", "?x1")
    clause = planner.attribute_clause(mention, length, obfuscate=True, rng=random.Random(0))
    assert clause is not None and "between 3 and 4 minutes" in clause.text
    assert holds(records.entities["single"], Triple.of(clause.triples[0]))
    exact = planner.attribute_clause(mention, length, obfuscate=False, rng=random.Random(0))
    assert exact is not None and "3:12" in exact.text


def test_an_identifier_format_or_span_is_never_ranged(records: GraphView) -> None:
    from drsynth.synth.tasks.operations import amount_range
    from drsynth.synth.tasks.phrases import askable
    from drsynth.synth.tasks.plan import Planner

    planner = Planner(records)
    mention = planner.mention("single", "?x1")
    for key, kind in (("label", "identifier"), ("format", "format"), ("recorded", "span")):
        attribute = _find(records, "single", key)
        assert amount_range(kind, attribute["normalized"], None) is None
        assert not askable(key, kind)
        for obfuscate in (True, False):
            assert planner.attribute_clause(mention, attribute, obfuscate=obfuscate, rng=random.Random(1)) is None
    assert amount_range("number", "8025", None, key="catalogue number") is None


def test_a_year_is_never_printed_with_a_thousands_separator(records: GraphView) -> None:
    from drsynth.synth.tasks.plan import Planner

    planner = Planner(records)
    released = _find(records, "single", "released")
    answer, aliases, _, _ = planner.answer_of(records.entities["single"], released)
    assert answer == "1962" and not any("," in a for a in aliases)
    clause = planner.attribute_clause(planner.mention("single", "?x1"), released, obfuscate=False,
                                      rng=random.Random(0))
    assert clause is not None and "1962" in clause.text and "1,962" not in clause.text
    census = _find(records, "film", "population census year")
    answer, aliases, _, _ = planner.answer_of(records.entities["film"], census)
    assert answer == "2011" and "2,011" not in aliases
