"""The phrase table (synth/tasks/phrases.toml) and the wording the template writer reads from it."""

from __future__ import annotations

import inspect
import re

import pytest

from drsynth.synth.graph import types as graph_types
from drsynth.synth.tasks import phrases
from drsynth.synth.tasks.phrases import (
    askable,
    attribute_question,
    class_noun,
    class_nouns,
    date_clause,
    fill,
    is_property,
    number_clause,
    phrasable,
    relation_phrase,
    table,
)

_PLACEHOLDERS = {"o", "s", "who", "whom", "k", "many", "noun", "verb", "be", "where", "np", "when", "base",
                 "nominal", "unit", "amount", "things", "value"}
_TYPES = set(graph_types.TYPES)


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{([a-z]+)\}(?!\})", template))


def test_the_table_loads_and_every_relation_row_is_well_formed() -> None:
    rows = table()["relation"]
    assert len(rows) > 40
    for row in rows:
        assert set(row) <= {"keys", "subject", "object", "out", "into", "noun", "front"}, row
        assert row["keys"] and all(k == " ".join(k.lower().split()) for k in row["keys"]), row
        assert row.get("subject", "person") in _TYPES and row.get("object", "person") in _TYPES, row
        # an out-phrase names the other end as {o}, an in-phrase as {s}; nothing else is left to fill
        assert "{o}" in row["out"] and "{s}" not in row["out"], row
        assert "{s}" in row["into"] and "{o}" not in row["into"], row
        assert _placeholders(row["out"]) <= {"o", "who", "whom"}, row
        assert _placeholders(row["into"]) | _placeholders(row.get("front", "")) <= {"s", "who", "whom"}, row
        assert not row.get("front") or "{s}" in row["front"]
        assert not set(row["keys"]) & phrases.NOT_PROPERTIES, row
    for name, form in table()["forms"].items():
        assert "{o}" in form["out"] and "{s}" in form["into"], name
    for section in ("date_forms", "number_forms", "text_forms"):
        for name, form in table()[section].items():
            for template in form.values():
                assert _placeholders(template) <= _PLACEHOLDERS, (section, name, template)
    for row in table()["date"]:
        assert "{np}" in row["question"] and "{when}" in row["clause"], row
    for row in table()["number"]:
        assert "{amount}" in row["clause"] and "{np}" in row["question"], row


def test_every_class_the_graph_can_give_has_a_reviewed_noun() -> None:
    rows = class_nouns()
    assert all(noun == "" or re.fullmatch(r"[A-Za-z][A-Za-z -]*", noun) for noun in rows.values()), rows
    subtypes = {sub for _, sub in graph_types._TEMPLATE_TYPES.values()} | set(graph_types._NOUN_TYPE)
    subtypes |= set(graph_types._GROUP_NOUNS) | {sub for *_, sub in graph_types._CATEGORY_CUES}
    subtypes |= {"musical artist", "musical group"}
    missing = sorted(s for s in subtypes if s not in rows and not any(r.endswith(f"/{s}") for r in rows))
    assert not missing, missing
    for entity_type in graph_types.TYPES:
        noun, cls = class_noun(entity_type)
        assert cls == entity_type and noun == ("entity" if entity_type == "thing" else entity_type)


def test_subtype_nouns_and_the_class_they_stand_for() -> None:
    assert class_noun("work", "single") == ("single", "single")
    assert class_noun("organization", "record label") == ("record label", "record label")
    assert class_noun("organization", "label") == ("record label", "label")
    assert class_noun("person", "musical artist") == ("musician", "musical artist")
    assert class_noun("group", "musical group") == ("band", "musical group")
    assert class_noun("place", "city") == ("city", "city")
    assert class_noun("place", "capital") == ("city", "capital")
    assert class_noun("person", "son") == ("person", "person")  # no noun of its own: the type's
    assert class_noun("thing", "ship") == ("ship", "ship")
    assert class_noun("thing", None) == ("entity", "thing")  # the last resort
    # a "type/subtype" row for a word two types share; an empty row falls back to the type
    assert class_noun("organization", "house") == ("publishing house", "house")
    assert class_noun("person", "biography") == ("person", "person")
    assert class_noun("work", "biography") == ("biography", "biography")
    assert class_noun("place", "settlement") == ("place", "place")
    assert class_noun("person", None) == ("person", "person")
    assert class_noun("work", "no such subtype") == ("work", "work")


def test_no_class_noun_is_derived_from_a_description() -> None:
    # the API takes no description at all, and the planner's noun is the table's whatever the lead says
    from drsynth.synth.graph.view import Entity, GraphView
    from drsynth.synth.tasks.plan import Planner

    assert "description" not in inspect.signature(class_noun).parameters
    assert not hasattr(phrases, "type_noun")
    lead = "Aardvark is a medium-sized, burrowing, nocturnal mammal native to Africa."
    entity = Entity(id="a", name="Aardvark", label="Aardvark", type="thing", aliases=[], description=lead,
                    attributes=[], doc_ids=[], subtype="speciesbox")
    bare = Entity(id="b", name="Title", label="Title", type="work", aliases=[],
                  description="Title is the title released by X in 1961.", attributes=[], doc_ids=[])
    planner = Planner(GraphView({"a": entity, "b": bare}, {}))
    mention = planner.mention("a", "?x1")
    assert (mention.noun, mention.cls, mention.keyword) == ("species", "speciesbox", False)
    other = planner.mention("b", "?x2")
    assert (other.noun, other.cls) == ("work", "work")  # never "title"


def test_relations_read_in_both_directions() -> None:
    song = relation_phrase("written by", "person", "work")
    assert fill(song.out, o="Lina Marr") == "written by Lina Marr"
    writer = relation_phrase("author", "person", "work")
    assert fill(writer.into, person=True, s="the novel") == "who wrote the novel" and writer.noun == "author"
    born = relation_phrase("birth place", "place", "person")
    assert fill(born.into, s="Aurel Fennick") == "where Aurel Fennick was born"
    # the subject's type picks the row: an event takes place, a company is located
    assert relation_phrase("location", "place", "event").out == "that took place in {o}"
    assert relation_phrase("location", "place", "organization").out == "located in {o}"
    # a song's artist performs it, nobody painted it
    assert "painted" not in relation_phrase("artist", "person", "work").out
    # rows for keys a real dump abbreviates
    assert relation_phrase("official lang", "thing", "place").into == "{who} is an official language of {s}"


def test_keys_that_name_no_property_are_never_worded_nor_asked() -> None:
    for key in ("see also", "external links", "type", "tz2where", "honorific prefix", "orbit per iaps is"):
        assert not is_property(key)
        assert not phrasable(key, "thing", "person") and not phrasable(key, "place", "place")
        for kind in ("text", "number", "date"):
            assert not askable(key, kind)
    assert is_property("label") and phrasable("label", "organization", "work")


@pytest.mark.parametrize(("key", "amount", "kind", "clause"), [
    ("length", "3:12", "duration", "lasting 3:12"),
    ("running time", "between 100 and 110 minutes", "", "lasting between 100 and 110 minutes"),
    ("population", "12,400", "number", "with a population of 12,400"),
    ("population", "between 150,000 and 200,000", "", "with a population of between 150,000 and 200,000"),
    ("budget", "$2 million", "money", "whose budget is $2 million"),
    ("area", "between 400 and 450 square kilometres", "quantity",
     "whose area is between 400 and 450 square kilometres"),
    ("acts", "between 2 and 4", "count", "with between 2 and 4 acts"),
    ("deaths", "between 3 and 5 dead", "count", "in which between 3 and 5 people died"),
])
def test_amounts_read_with_their_units(key: str, amount: str, kind: str, clause: str) -> None:
    assert number_clause(key, amount, False, kind) == clause


def test_a_river_length_is_no_duration() -> None:
    assert number_clause("length", "between 300 and 350 kilometres", False, "quantity") == (
        "whose length is between 300 and 350 kilometres")
    assert attribute_question("length", "duration", "the song") == "How long is the song?"
    assert attribute_question("length", "quantity", "the river") == "What is the length of the river?"
    assert attribute_question("population", "number", "Brennick") == "What is the population of Brennick?"


def test_a_date_noun_names_the_day_itself() -> None:
    assert date_clause("release date", "on 12 October 1951", False) == "whose release date was 12 October 1951"
    assert date_clause("release date", "in the 1930s", False) == "whose release date was in the 1930s"
    assert date_clause("born", "on 1 May 1891", True) == "born on 1 May 1891"


def test_rendered_class_nouns_and_mixed_modifiers() -> None:
    from drsynth.synth.tasks import render
    from drsynth.synth.tasks.draft import Clause, Mention, TaskDraft

    label = Mention(entity_id="l", var=None, name="Gullwing Records", display="Gullwing Records",
                    noun="record label", person=False, keyword=False, type="organization", cls="record label")
    single = Mention(entity_id="s", var="?answer", name="Night Ferry", display="Night Ferry", noun="single",
                     person=False, keyword=False, type="work", cls="single", clauses=[
                         Clause(kind="edge", relation="label", outgoing=True, other=label),
                         Clause(kind="attribute", relation="length", text="lasting 3:12"),
                         Clause(kind="attribute", relation="released", text="released in 1961")])
    draft = TaskDraft(subgraph_id="x", graph="g", level=1, root=single, answer="Night Ferry", aliases=[],
                      answer_type="entity", expected="s", target_entity_id="s", attribute=None)
    question = render.question(draft)
    # a participle never hangs before a relative clause ("released in 1961 and that lasts ...")
    assert question == ("What is the single that lasts 3:12 and that was released in 1961 and whose label is "
                        "Gullwing Records?"), question
