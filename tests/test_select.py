"""Task selection (synth/tasks/select.py), the level-3 search check and the leak rule: what reaches `tasks`."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.storage.store import Store
from drsynth.synth.tasks import TaskConfig, select_tasks, subgraph_batches, write_tasks
from drsynth.synth.tasks.checks import leaked_alias
from drsynth.synth.tasks.search_check import SearchCheck, default_k, queries_of
from drsynth.synth.tasks.select import choose, draft_id_of, task_id
from drsynth.synth.tools.search import SearchIndex


def _draft(n: int, question: str, answer: str, level: int = 1, *, relation: str = "born", entity: str = "",
           answer_type: str = "date") -> dict:
    subgraph = f"sg{n}"
    return {"id": draft_id_of(task_id(subgraph, level, "template", question)), "parents": [subgraph],
            "question": question, "answer": answer, "aliases": [], "answer_type": answer_type, "level": level,
            "hops": level, "operations": [], "formalization": [], "evidence_doc_ids": [], "evidence": [],
            "subgraph_id": subgraph, "target_entity_id": entity or f"e{n}", "writer": "template", "graph": "g",
            "relation": relation, "candidates": 1, "constraint_candidates": [], "search_queries": [],
            "search_rank": None, "search_k": None}


NAMES = ["Aurel Fennick", "Ivo Castell", "Oskar Lindell", "Magnus Orrevik", "Sofie Arnholt", "Piet Rannoch",
         "Edvard Lune", "Viktor Sandal", "Lina Marr", "Henrik Voss", "Karl Voss", "Nils Brandt"]


def test_exact_and_near_duplicates_never_both_chosen() -> None:
    drafts = [
        _draft(1, "When was Aurel Fennick born?", "1891"),
        _draft(2, "When was Aurel Fennick born?", "1891"),  # another subgraph wrote the same question
        _draft(3, "when was aurel fennick born", "1891"),  # the same after normalization
        _draft(4, "In which year was the composer whose notable works include the opera that premiered in Ostvale "
                  "in the 1920s and was dedicated to the flood born?", "1893", relation="born"),
        _draft(5, "In which year was the composer whose notable works include the opera that premiered in Ostvale "
                  "in the 1920s and was dedicated to the flood of 1894 born?", "1894", relation="born"),
    ]
    chosen, refused = choose(drafts, [], TaskConfig())
    reasons = Counter(r.reason for r in refused)
    assert reasons == {"duplicate": 2, "near_duplicate": 1}, refused
    questions = [r["question"] for r in chosen]
    assert len(questions) == len({q.lower().rstrip("?") for q in questions}) == 2
    # every refusal names the draft, and the task it yields to
    assert {r.draft_id for r in refused} <= {d["id"] for d in drafts}
    assert all("repeats task" in r.detail for r in refused)


def test_caps_per_answer_entity_and_relation_hold() -> None:
    config = TaskConfig(max_per_answer=2, max_per_entity=2, max_relation_share=0.2, min_per_relation=3)
    same_answer = [_draft(i, f"Question number {i} about {NAMES[i]}?", "1891", level=1 + i % 3) for i in range(6)]
    same_entity = [_draft(10 + i, f"Which person is described by clue {i} of {NAMES[i]}?", f"name {i}",
                          relation="spouse", answer_type="entity", entity="e-shared") for i in range(4)]
    one_relation = [_draft(20 + i, f"How many pages does book {NAMES[i]} have?", str(100 + i), relation="pages",
                           answer_type="number") for i in range(8)]
    chosen, refused = choose([*same_answer, *same_entity, *one_relation], [], config)
    answers = Counter(r["answer"] for r in chosen)
    assert answers["1891"] == 2
    assert sum(1 for r in chosen if r["target_entity_id"] == "e-shared") == 2
    # a share of the pool of 18, at least the floor of 3
    assert sum(1 for r in chosen if r["relation"] == "pages") == 3
    reasons = Counter(r.reason for r in refused)
    assert reasons == {"answer_cap": 4, "entity_cap": 2, "relation_cap": 5}
    # where a cap drops one of an answer's levels, the levels stay balanced
    assert sorted(r["level"] for r in chosen if r["answer"] == "1891") in ([1, 2], [1, 3], [2, 3])


def test_choice_does_not_depend_on_commit_order() -> None:
    drafts = [_draft(i, f"When was {NAMES[i % len(NAMES)]} born (variant {i // len(NAMES)})?", str(1900 + i % 4),
                     level=1 + i % 3) for i in range(30)]
    first, _ = choose(drafts, [], TaskConfig())
    again, _ = choose(list(reversed(drafts)), [], TaskConfig())
    assert [r["id"] for r in first] == [r["id"] for r in again]


def test_kept_tasks_count_against_caps_and_are_never_removed() -> None:
    kept = [{**_draft(1, "When was Aurel Fennick born?", "1891"), "id": "t1"},
            {**_draft(2, "Where was Aurel Fennick born?", "1891"), "id": "t2"}]
    chosen, refused = choose([_draft(3, "When was Aurel Fennick born?", "1891"),
                              _draft(4, "In what year was Ivo Castell born?", "1891")], kept, TaskConfig())
    assert not chosen and {r.reason for r in refused} == {"answer_cap"}


@pytest.fixture(scope="module")
def selected(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = os.fspath(tmp_path_factory.mktemp("select") / "data")
    shutil.copytree(demo_subgraphs.root, root)
    store, config = Store(root), TaskConfig()
    counts: Counter[str] = Counter()
    for batch in subgraph_batches(store, demo_subgraphs.graph, config.subgraphs_per_task):
        counts += write_tasks(store, "tasks-run", demo_subgraphs.graph, batch, config)
    counts += select_tasks(store, "tasks-run", demo_subgraphs.graph, config)
    return SimpleNamespace(root=root, store=store, graph=demo_subgraphs.graph, counts=counts, config=config,
                           tasks=list(store.rows("tasks")), drafts=list(store.rows("task_drafts")),
                           quarantine=list(store.rows("quarantine")))


def test_tasks_hold_no_duplicate_and_respect_the_caps(selected: SimpleNamespace) -> None:
    from drsynth.filters.dedup import find_duplicates

    tasks = selected.tasks
    assert tasks and len(tasks) < len(selected.drafts)
    assert not find_duplicates([(t["id"], t["question"]) for t in tasks])
    answers = Counter(" ".join(t["answer"].lower().split()) for t in tasks)
    assert max(answers.values()) <= selected.config.max_per_answer
    # distinct answers are most of the pool (the held-out target is 40%)
    assert len(answers) >= 0.4 * len(tasks)
    refused = [q for q in selected.quarantine if q["stage"] == "select"]
    # every draft is a task or a refusal, none both, none neither
    drafts = {d["id"] for d in selected.drafts}
    kept = {draft_id_of(t["id"]) for t in tasks}
    named = {p for q in refused for p in q["parents"]}
    assert kept | named == drafts and not kept & named


def test_selection_rerun_adds_nothing(selected: SimpleNamespace, tmp_path: Path) -> None:
    root = os.fspath(tmp_path / "copy")
    shutil.copytree(selected.root, root)
    store = Store(root)
    counts = select_tasks(store, "again", selected.graph, selected.config)
    assert not counts["tasks.added"] and not any(k.startswith("quarantine.") for k in counts)
    assert store.count("tasks") == len(selected.tasks)


def test_level3_tasks_fail_every_single_query(selected: SimpleNamespace) -> None:
    level3 = [t for t in selected.tasks if t["level"] == 3]
    assert level3
    k = default_k(selected.store.count("documents"))
    for task in level3:
        assert task["search_k"] == k and task["search_queries"]
        assert task["search_rank"] is None or task["search_rank"] > k, task["question"]
    searchable = [q for q in selected.quarantine if q["reason"] == "level3_searchable"]
    assert searchable, "on the demo some level-3 plans fall to one search and are re-planned or dropped"
    assert all("rank" in q["detail"] for q in searchable)


def test_a_wider_k_drops_more_level3_plans(demo_subgraphs: SimpleNamespace, tmp_path: Path) -> None:
    """A level-3 plan whose answer page one query finds within k is not kept as level 3."""
    root = os.fspath(tmp_path / "data")
    shutil.copytree(demo_subgraphs.root, root)
    store = Store(root)
    config = TaskConfig(level3_search_k=10)
    counts: Counter[str] = Counter()
    for batch in subgraph_batches(store, demo_subgraphs.graph, config.subgraphs_per_task):
        counts += write_tasks(store, "wide", demo_subgraphs.graph, batch, config)
    drafts = [d for d in store.rows("task_drafts") if d["level"] == 3]
    assert all(d["search_rank"] is None for d in drafts)
    assert counts["quarantine.tasks.level3_searchable"] > 0


def test_search_check_ranks_the_answer_page(tmp_path: Path) -> None:
    index = SearchIndex(tmp_path / "search.sqlite")
    index.add([
        {"id": "d1", "url": "http://x/Lina_Marr", "title": "Lina Marr", "text": "Lina Marr is a singer from Harwick."},
        {"id": "d2", "url": "http://x/Night_Ferry", "title": "Night Ferry", "text": "Night Ferry is a song by Lina Marr."},
        {"id": "d3", "url": "http://x/Harwick", "title": "Harwick", "text": "Harwick is a port town."},
    ])
    check = SearchCheck(index, k=1)
    found = check.run(["Lina Marr"], "Who sang Night Ferry?", {"d1"})
    assert found.rank == 1 and found.found
    hidden = check.run(["Harwick"], "Which port town?", {"d2"})
    assert hidden.rank is None or hidden.rank > 1
    assert queries_of(["Lina Marr", "Harwick", "lina marr"], "Q?") == ["Lina Marr", "Harwick", "Lina Marr Harwick lina marr", "Q?"]
    assert default_k(999) == 1 and default_k(1000) == 10


@pytest.mark.parametrize(("question", "answer", "aliases", "leak"), [
    ("In what year of the 1970s did the band form?", "1970", [], "1970"),
    ("In the 1970s?", "1975", [], None),
    ("Who was born in 19705?", "1970", [], None),
    ("Who designed the Voss-Hartmann house?", "Henrik Voss", ["Voss"], "Voss"),
    ("Which singer was born in Marrsville?", "Lina Marr", ["Marr"], "Marr"),
    ("Which port lies near Bayonne?", "Bay", [], None),
    ("How long is the song that lasts 3:12?", "12", [], "12"),
    ("On what date in 1962-03 was it released?", "1962", [], "1962"),
])
def test_leaks_inside_numbers_dates_and_longer_tokens(question: str, answer: str, aliases: list[str],
                                                      leak: str | None) -> None:
    assert leaked_alias(question, {"answer": answer, "aliases": aliases}) == leak


def test_walks_lean_away_from_answers_already_asked(demo_subgraphs: SimpleNamespace,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from drsynth.synth.graph import GraphView
    from drsynth.synth.tasks import sample as sampling

    view = GraphView.load(Store(demo_subgraphs.root), demo_subgraphs.graph)

    def targets() -> Counter[str]:
        return Counter(row["target"]["entity_id"] for outcome, row in sampling.sample(view, demo_subgraphs.graph,
                                                                                      TaskConfig())
                       if row is not None)

    leaning = targets()
    monkeypatch.setattr(sampling, "SEED_REDRAWS", 1)  # every first draw stands: no leaning
    plain = targets()
    # the same number of walks spreads over more answers, and the most asked answer is asked less
    assert len(leaning) > len(plain)
    assert max(leaning.values()) <= max(plain.values())


def test_no_question_describes_an_entity_by_no_class(selected: SimpleNamespace) -> None:
    # "the entity that followed the entity that followed Apollo 7": a kind the graph does not know is named
    assert not [t["question"] for t in selected.tasks if " the entity " in f" {t['question']} ".lower()]


def test_entities_whose_pages_say_others_exist_are_never_described(selected: SimpleNamespace) -> None:
    # "Lake Ivra is the largest lake in Estavia": other lakes exist beyond the corpus, and any might fit
    refused = [q for q in selected.quarantine if q["reason"] == "open_class"]
    assert refused and all("others of their kind" in q["detail"] for q in refused)
