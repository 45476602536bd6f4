"""Decontamination: benchmark loading, n-gram and word-overlap indexes, and the three rules."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from drsynth.filters.decontam import BenchmarkItem, Decontaminator, NgramIndex, load_benchmarks
from drsynth.filters.text import normalize
from tests.conftest import shared_path
from tests.helpers import write_demo_tasks

EXPECTED_COUNTS = {"frames": 824, "bamboogle": 125, "2wiki": 500, "musique": 500, "hotpotqa_500": 500}

# (benchmark, index, text planted among synthetic questions): verbatim or lightly paraphrased questions
# of the real files
PLANTED = [
    ("2wiki", 0, "Who is Ahmose-Henutemipet's paternal grandmother?"),
    ("2wiki", 0, "who was the paternal grandmother of Ahmose Henutemipet"),  # reordered, a word changed
    ("2wiki", 1, "WHEN did Cezaria Jedrzejewiczowa's father die"),  # case, accents, punctuation
    ("bamboogle", 0, "Who was president of the United States in the year that Citibank was founded?"),
    (
        "bamboogle",
        0,
        "In the year Citibank was founded, who was the president of the United States?",
    ),  # clause moved
    (
        "frames",
        0,
        "If my future wife has the same first name as the 15th first lady of the United States' mother "
        "and her surname is the same as the second assassinated president's mother's maiden name, what "
        "is my future wife's name?",
    ),
    (
        "frames",
        2,
        "How many years earlier would Punxsutawney Phil need to be canonically alive to have made a "
        "Groundhog Day prediction in the same state as the US capital?",
    ),  # two words changed
    ("musique", 0, "For what was the director of Addicted to Love nominated?"),  # reordered
    (
        "musique",
        2,
        "Who did the performer of Night Rocker play on The Young and the Restless?",
    ),  # words added
    ("hotpotqa_500", 1, "Which party campaigned for the Irish Home Rule movement?"),  # a word changed
    (
        "hotpotqa_500",
        0,
        "In the 1973 NFL season, the Pro Bowl took place at what football stadium that is part "
        "of the Truman Sports Complex, and which other stadium is part of it?",
    ),  # ending rewritten
]


@pytest.fixture(scope="module")
def decontaminator() -> Decontaminator:
    return Decontaminator.from_paths([shared_path("benchmarks")])


@pytest.fixture(scope="module")
def demo_tasks(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The demo's template tasks, written once from the session's subgraphs."""
    store = write_demo_tasks(demo_subgraphs, os.fspath(tmp_path_factory.mktemp("decontam-demo") / "data"))
    return list(store.rows("tasks", ["id", "question", "answer", "aliases"]))


def item_question(decontaminator: Decontaminator, benchmark: str, index: int) -> str:
    return next(i.question for i in decontaminator.items if (i.benchmark, i.index) == (benchmark, index))


def test_every_shared_benchmark_loads_with_its_item_count() -> None:
    loaded = load_benchmarks([shared_path("benchmarks")])
    assert loaded.problems == []
    assert loaded.counts() == EXPECTED_COUNTS
    assert all(item.question and item.answers for item in loaded.items)
    frames = [i for i in loaded.items if i.benchmark == "frames"]
    assert frames[0].answers == ("Jane Ballou",)  # `Answer` and `answer: [..]` merged, not repeated
    assert [i.index for i in frames] == list(range(824))


def test_field_variants_are_normalized_and_bad_input_is_reported(tmp_path: Path) -> None:
    (tmp_path / "prompts.json").write_text(
        json.dumps(
            {
                "data": [
                    {"Prompt": "Which river flows through Varkholm?", "answers": ["Selva", "the Selva"]},
                    {
                        "QUESTION": "How tall is the spire?",
                        "possible_answers": '["97 m", "318 ft"]',
                        "Answer": 97,
                    },
                    {"question": "   ", "answer": "x"},
                    "not a record",
                ]
            }
        )
    )
    (tmp_path / "lines.jsonl").write_text(
        '{"question": "Who founded the festival?", "answer": "Marta Lindell"}\n'
        "{broken\n\n"
        '{"query": "When did it open?", "golden_answers": ["1991"]}\n'
    )
    (tmp_path / "broken.json").write_text('[{"question": ')
    (tmp_path / "notes.txt").write_text("ignored: not .json/.jsonl")
    loaded = load_benchmarks([tmp_path, tmp_path / "missing.json"])
    assert [(i.benchmark, i.index, i.question, i.answers) for i in loaded.items] == [
        ("lines", 0, "Who founded the festival?", ("Marta Lindell",)),
        ("lines", 2, "When did it open?", ("1991",)),
        ("prompts", 0, "Which river flows through Varkholm?", ("Selva", "the Selva")),
        ("prompts", 1, "How tall is the spire?", ("97", "97 m", "318 ft")),
    ]
    reasons = sorted((Path(p.path).name, p.index, p.reason.split(":")[0]) for p in loaded.problems)
    assert reasons == [
        ("broken.json", None, "invalid JSON"),
        ("lines.jsonl", 1, "invalid JSON line"),
        ("missing.json", None, "absent"),
        ("prompts.json", 2, "no question"),
        ("prompts.json", 3, "not an object but str"),
    ]
    decontaminator = Decontaminator.from_paths([tmp_path])
    assert len(decontaminator.items) == 4 and len(decontaminator.problems) == 4
    found = decontaminator.check("which river flows through varkholm")
    assert found is not None and (found.benchmark, found.index) == ("prompts", 0)


def test_no_benchmarks_flags_nothing_and_says_why(tmp_path: Path) -> None:
    loaded = load_benchmarks([tmp_path / "absent"])
    assert loaded.items == [] and "absent" in str(loaded.problems[0])
    empty = Decontaminator(loaded.items, problems=loaded.problems)
    assert empty.check("Who is Ahmose-Henutemipet's paternal grandmother?", "Tetisheri") is None
    assert list(empty.check_many([("a", "anything", None)])) == []


def test_ngram_index_holds_short_questions_whole() -> None:
    docs = [
        ["who", "directed", "the", "salt", "orchard"],
        ["who", "wrote", "it"],
        ["when", "did", "it", "open"],
    ]
    index = NgramIndex(docs, n=4)
    assert index.short_lengths == [3]
    queries = [
        ["tell", "me", "who", "wrote", "it", "please"],
        ["who", "directed", "a", "salt", "orchard"],
        ["and", "who", "directed", "the", "salt", "orchard"],
        ["when", "did", "it", "open"],
        [],
    ]
    assert index.pairs(queries) == [(0, 1), (2, 0), (3, 2)]
    assert index.shared_gram(queries[0], 1) == "who wrote it"
    assert index.shared_gram(queries[2], 0, telling=lambda w: w == "orchard") == "directed the salt orchard"


def test_planted_benchmark_questions_are_caught(decontaminator: Decontaminator) -> None:
    records = [(f"p{i}", text, None) for i, (_, _, text) in enumerate(PLANTED)]
    found = dict(decontaminator.check_many(records))
    for i, (benchmark, index, text) in enumerate(PLANTED):
        hit = found.get(f"p{i}")
        assert hit is not None, text
        assert (hit.benchmark, hit.index, hit.field) == (benchmark, index, "question"), (text, hit)
        original = normalize(item_question(decontaminator, benchmark, index))
        assert hit.ngram and hit.ngram in original and hit.ngram in normalize(text), (text, hit)
    verbatim = found["p0"]
    assert verbatim.rule == "ngram" and verbatim.ngram == "who is ahmose henutemipet s paternal grandmother"
    assert found["p1"].rule == "paraphrase" and found["p1"].score >= 0.7


def test_a_benchmark_question_inside_a_longer_one_is_caught(decontaminator: Decontaminator) -> None:
    question = (
        "Who was president of the United States in the year that Citibank was founded, and which party "
        "did he belong to when he took office?"
    )
    found = decontaminator.check(question)
    assert found is not None and (found.benchmark, found.index, found.rule) == ("bamboogle", 0, "ngram")
    assert "citibank" in found.ngram or found.ngram in normalize(question)


def test_unrelated_questions_are_not_flagged(decontaminator: Decontaminator, demo_tasks: list[dict]) -> None:
    records = [(t["id"], t["question"], [t["answer"], *(t["aliases"] or [])]) for t in demo_tasks]
    assert len(records) > 80  # 89 demo tasks measured
    assert list(decontaminator.check_many(records)) == []
    # the benchmarks' own templates about other entities share 8-grams with them, and are still not copies
    templated = [
        "What is the place of birth of the director of film The Salt Orchard?",
        "Which film has the director who was born later, The Lighthouse Keeper or Winter at Kellmar?",
        "Who was the president of the United States when the Dunmere Mine Disaster happened?",
        "Are Aurel Fennick and Clara Osterling both from the same country?",
    ]
    assert [decontaminator.check(q, "yes") for q in templated] == [None] * 4


def test_a_short_answer_alone_does_not_contaminate(decontaminator: Decontaminator) -> None:
    assert decontaminator.check("What is the capital of France?", "Paris") is None
    assert decontaminator.check("Who was the mother of the first queen of Estavia?", "Tetisheri") is None
    assert (
        decontaminator.check("Which year did the Varkholm Herald first appear?", ["1999", "the year 1999"])
        is None
    )
    assert decontaminator.check("Are the Selva and the Ivra both rivers of the same country?", "yes") is None
    # the same answer AND a telling phrase of that very benchmark question: the fact leaked
    leak = decontaminator.check(
        "Records say Cezaria Jędrzejewiczowa's father was a doctor; on which day did he "
        "pass away, according to the parish register?",
        "3 November 1929",
    )
    assert leak is not None and (leak.benchmark, leak.index, leak.field, leak.rule) == (
        "2wiki",
        1,
        "answer",
        "answer",
    )
    assert "jedrzejewiczowa" in leak.ngram and len(leak.ngram.split()) == 4
    # the phrase without the answer is not enough
    assert (
        decontaminator.check(
            "Records say Cezaria Jędrzejewiczowa's father was a doctor; on which day did he "
            "pass away, according to the parish register?",
            "1931",
        )
        is None
    )


def test_batch_agrees_with_single_checks_and_survives_bad_input(decontaminator: Decontaminator) -> None:
    records = [
        ("a", PLANTED[0][2], None),
        ("b", "What is the capital of France?", "Paris"),
        ("c", None, None),
        ("d", "", ""),
        ("e", PLANTED[4][2], ["x", 3]),
        ("f", 12, "Tetisheri"),
        ("g", PLANTED[2][2], 1929),
        (
            "h",
            "Cezaria Jedrzejewiczowa's father died on what day of 1929, the parish register says?",
            {"x": 1},
        ),
    ]
    batch = dict(decontaminator.check_many(records))  # type: ignore[arg-type]
    assert set(batch) == {"a", "e", "g"}
    for record_id, question, answer in records:
        text = question if isinstance(question, str) else ""
        assert decontaminator.check(text, answer) == batch.get(record_id)  # type: ignore[arg-type]
    small = Decontaminator(
        [BenchmarkItem("toy", 0, "Who founded the Selva Music Festival in Varkholm?", ("Marta",))], batch=2
    )
    many = [(str(i), "Who founded the Selva Music Festival in Varkholm, and when?", None) for i in range(5)]
    assert [i for i, _ in small.check_many(many)] == ["0", "1", "2", "3", "4"]
