"""`drsynth audit`: the automatic signals, the broad leak rule, the unit rule and the review sheet."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from drsynth.flows.cli import main
from drsynth.storage.store import Store
from drsynth.synth.graph.view import GraphView
from drsynth.synth.tasks.audit import (
    TITLES,
    audit_signals,
    carries_unit,
    default_graph,
    load_tasks,
    sample_tasks,
    search_text,
    sheet_html,
    sheet_markdown,
    solver_text,
)
from drsynth.synth.tasks.checks import leaks

# --- leaks -----------------------------------------------------------------------------------------


def test_a_year_leaks_through_its_decade() -> None:
    assert leaks("In what year was the novel published in the 1970s?", "1970", []) == ["1970"]
    assert leaks("Which band formed in the mid-1970s?", "1970", []) == ["1970"]
    assert leaks("Which symphony is the 7th of its composer?", "7", []) == ["7"]


def test_a_number_never_leaks_from_inside_another_number() -> None:
    assert leaks("What crew sailed in the 1970s?", "19", []) == []
    assert leaks("How many people lived there in 1970?", "970", []) == []
    assert leaks("How many people lived there in 1975?", "1970", []) == []


def test_a_word_leaks_from_a_compound_name_not_from_a_common_word() -> None:
    assert leaks("Who founded the Voss-Hartmann Prize?", "Voss", []) == ["Voss"]
    assert leaks("Who wrote Voss's letters?", "Voss", []) == ["Voss"]
    assert leaks("Who founded Vosstown?", "Voss", []) == ["Voss"]
    assert leaks("Who sang at the wedding, a marriage of two families?", "Marr", []) == []
    assert leaks("Which port lies near Bayonne?", "Bay", []) == []  # three letters: too short to tell


def test_a_persons_surname_leaks_from_a_compound_name() -> None:
    question = "Who was the polar explorer who led the Aastad Polar Expedition?"
    assert leaks(question, "Rolf Aastad", [], person=True) == ["Aastad"]
    assert leaks(question, "Rolf Aastad", []) == []  # not a person: "Aastad" alone is no spelling of the answer
    assert leaks("Who endowed the Voss-Hartmann Prize?", "Karl Voss", [], person=True) == ["Voss"]
    assert leaks("Who was born in Vosstown?", "Karl Voss", [], person=True) == ["Voss"]
    assert leaks("Who was born in Harwick?", "Karl Voss", [], person=True) == []


def test_every_alias_spelling_is_checked() -> None:
    question = "Which mountain rises 1,140 metres above the sea?"
    # "1,140 m" leaks too: its number starts the longer "1,140 metres"
    assert leaks(question, "1,140 m", ["1,140", "1,140 metres"]) == ["1,140 m", "1,140", "1,140 metres"]
    assert leaks("What is the population, 12400 in all?", "12,400", []) == ["12,400"]
    assert leaks("Who painted Fog over the Selva?", "Eda Kallas", ["E. Kallas"]) == []


def test_units() -> None:
    assert not carries_unit("2", "duration", "s")
    assert carries_unit("2:24", "duration", "s")
    assert carries_unit("88 minutes", "duration", "s")
    assert not carries_unit("410", "quantity", "km2")
    assert carries_unit("410 km2", "quantity", "km2")
    assert carries_unit("410 km²", "quantity", "km2")
    assert carries_unit("410 square kilometres", "quantity", "km2")
    assert not carries_unit("about 410", "quantity", "km2")
    assert not carries_unit("12", "percent", None)
    assert carries_unit("12%", "percent", None)
    assert carries_unit("$2 million", "money", "USD")
    assert not carries_unit("2 million", "money", "USD")


# --- signals on a planted graph ----------------------------------------------------------------------

def _view() -> GraphView:
    entities = [
        {"id": "song", "name": "Night Ferry", "type": "work", "attributes": [
            {"key": "length", "value": "2:24", "kind": "duration", "normalized": "144", "unit": "s"},
            {"key": "released", "value": "1956", "kind": "year", "normalized": "1956"}]},
        {"id": "band", "name": "The Harbour Lights", "type": "group", "attributes": []},
        {"id": "town", "name": "Brennick", "type": "place", "attributes": [
            {"key": "area", "value": "410 km2", "kind": "quantity", "normalized": "410", "unit": "km2"}]},
    ]
    edges = [{"id": "e1", "src": "song", "dst": "band", "relation": "artist", "typed": True},
             {"id": "e2", "src": "band", "dst": "town", "relation": "links_to", "typed": False}]
    return GraphView.from_rows(entities, edges)


def _task(task_id: str, question: str, answer: str, formalization: list[tuple[str, str, str, str]], *,
          level: int = 1, answer_type: str = "entity", target: str = "band", **extra) -> dict:
    return {"id": task_id, "question": question, "answer": answer, "aliases": [], "answer_type": answer_type,
            "level": level, "target_entity_id": target, "operations": [], "evidence": [],
            "formalization": [{"subject": s, "predicate": p, "object": o, "object_kind": k}
                              for s, p, o, k in formalization], **extra}


def test_planted_defects_are_counted() -> None:
    long = ("What is the name of the long river that flows through the northern province of Aldra and ends "
            "in the Morrow Sea near the old harbour city of Brennick?")
    tasks = [
        _task("good", "Which group recorded Night Ferry?", "The Harbour Lights",
              [("Night Ferry", "artist", "?answer", "entity")]),
        _task("link", "Which group is linked from Brennick?", "The Harbour Lights",
              [("?answer", "links_to", "Brennick", "entity")]),
        _task("key", "Which group has a track listing of three?", "The Harbour Lights",
              [("?answer", "track listing", "3", "literal")]),
        _task("unit", "How long is Night Ferry?", "2", [("Night Ferry", "length", "?answer", "value")],
              answer_type="number", target="song"),
        _task("unit-ok", "How long is the song Night Ferry?", "2:24",
              [("Night Ferry", "length", "?answer", "value")], answer_type="number", target="song"),
        _task("area", "What is the area of Brennick?", "410", [("Brennick", "area", "?answer", "value")],
              answer_type="number", target="town"),
        _task("dup", "which group RECORDED Night Ferry", "The Harbour Lights",
              [("Night Ferry", "artist", "?answer", "entity")]),
        _task("long", long, "Selva", [("?answer", "type", "place", "type")], target="town"),
        _task("near", long.replace(" old", ""), "Selva", [("?answer", "type", "place", "type")], target="town"),
        _task("leak", "In what year of the 1950s was Night Ferry released?", "1956",
              [("Night Ferry", "released", "?answer", "value")], answer_type="year", target="song"),
    ]
    signals = audit_signals(tasks, _view())
    flagged = {name: {e["id"] for e in s["examples"]} for name, s in signals.items()}
    assert signals["non_property_relation"]["count"] == 2
    assert flagged["non_property_relation"] == {"link", "key"}
    assert signals["missing_unit"]["count"] == 2 and flagged["missing_unit"] == {"unit", "area"}
    assert signals["exact_duplicates"]["count"] == 1 and flagged["exact_duplicates"] == {"dup"}
    assert signals["near_duplicates"]["count"] == 1 and flagged["near_duplicates"] == {"near"}
    assert signals["near_duplicates"]["rate"] == pytest.approx(1 / len(tasks), abs=1e-4)
    assert signals["leaks"]["count"] == 0  # "1956" is not inside "1950s"
    # older rows: no solver or search columns at all
    assert signals["candidates"]["count"] is None and signals["level3_search"]["count"] is None
    assert signals["answers"]["max_tasks_per_answer"] == 4  # The Harbour Lights
    assert signals["answers"]["top_answers"][0] == ["The Harbour Lights", 4]
    assert signals["levels"]["levels"] == {"1": len(tasks)}


def test_solver_and_search_columns() -> None:
    base = [("?answer", "type", "place", "type")]
    tasks = [
        _task("a", "Q one?", "A", base, candidates=1, level=3, search_k=1, search_rank=None),
        _task("b", "Q two?", "B", base, candidates=2, level=3, search_k=1, search_rank=1),
        _task("c", "Q three?", "C", base, candidates=None, level=3, search_k=None, search_rank=None),
        _task("e", "Q five?", "E", base, candidates=1, level=3, search_k=1, search_rank=4),  # looked deeper
        _task("d", "Q four?", "D", base, candidates=0, level=2),
    ]
    signals = audit_signals(tasks, None)
    candidates, search = signals["candidates"], signals["level3_search"]
    assert candidates["count"] == 2 and {e["id"] for e in candidates["examples"]} == {"b", "d"}
    assert candidates["distribution"] == {"0": 1, "1": 2, "2": 1} and candidates["not_recorded"] == 1
    assert search["count"] == 1 and search["examples"][0]["id"] == "b"
    assert search["distribution"] == {"1": 1, "not in top k": 2} and search["not_recorded"] == 1
    assert search["ranked_beyond_k"] == 1
    assert search_text(tasks[3]) == "not in the top 1 (best rank 4)"
    assert search_text(tasks[1]) == "rank 1 of the top 1"
    assert solver_text(tasks[4]) == "0 candidate(s)" and solver_text(tasks[2]) == "not recorded"


def test_the_html_sheet_escapes_everything() -> None:
    task = _task("x<y", "Is <script>alert(1)</script> & co a question?", "<b>A</b>",
                 [("?answer", "type", "place", "type")], evidence=[{"doc_id": "d", "url": "http://h/a\"b",
                                                                    "text": "<i>said</i>"}])
    result = {"root": "/r<oot", "graph": "g", "tasks": 1}
    page = sheet_html({1: [task]}, result, 1, 0)
    assert "<script>" not in page and "<i>" not in page and "<b>A</b>" not in page and 'a"b' not in page
    assert "&lt;script&gt;" in page
    markdown = sheet_markdown({1: [task]}, result, 1, 0)
    assert "\\<script>" in markdown and not re.search(r"(?<!\\)<", markdown)  # every < escaped


# --- the command on the demo -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_tasks(demo_trajectories) -> list[dict]:
    store = Store(demo_trajectories.root)
    return load_tasks(store, default_graph(store))


def test_audit_command_on_the_demo(demo_trajectories, demo_tasks: list[dict], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "sheet" / "review.md"
    code = main(["audit", "--out", demo_trajectories.root, "--sample", "4", "--seed", "3",
                 "--sheet", str(sheet)])
    out = capsys.readouterr().out
    assert code == 0
    for name, title in TITLES.items():
        assert re.search(rf"## \[(defect|info)\] {re.escape(title)} \({name}\): ", out), name
    assert "DEFECTS (each should be 0)" in out and "INFORMATION" in out
    levels = Counter(int(t["level"]) for t in demo_tasks)
    assert set(levels) == {1, 2, 3}
    markdown = sheet.read_text()
    for level, count in levels.items():
        assert len(re.findall(rf"^### L{level}-\d\d ", markdown, re.M)) == min(4, count)
    page = (tmp_path / "sheet" / "review.html").read_text()
    assert page.count("<tr><td>") == sum(min(4, c) for c in levels.values())
    report = json.loads((tmp_path / "sheet" / "audit.json").read_text())
    assert report["tasks"] == len(demo_tasks)
    assert set(report["signals"]) == set(TITLES)
    assert report["signals"]["levels"]["levels"] == {str(k): levels[k] for k in sorted(levels)}
    # the same seed draws the same sample; the sheet is written outside the (read-only) root
    assert report["sample"]["ids"] == {str(k): [t["id"] for t in v]
                                       for k, v in sample_tasks(demo_tasks, 4, 3).items()}
    assert not (Path(demo_trajectories.root) / "_audit").exists()


def test_a_planted_duplicate_is_counted(demo_tasks: list[dict]) -> None:
    before = audit_signals(demo_tasks, None)["exact_duplicates"]["count"]
    copy = {**demo_tasks[0], "id": "planted", "question": demo_tasks[0]["question"].upper().rstrip("?") + " ?"}
    after = audit_signals([*demo_tasks, copy], None)["exact_duplicates"]
    assert after["count"] == before + 1


def test_audit_refuses_a_root_without_tasks(demo_subgraphs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--out", demo_subgraphs.root]) == 2
    assert "no tasks" in capsys.readouterr().err
