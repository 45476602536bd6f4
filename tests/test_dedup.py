"""Question dedup: normalization, exact keys, MinHash signatures, LSH, and find_duplicates semantics."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from drsynth.filters.dedup import (
    LSHIndex,
    MinHasher,
    find_duplicates,
    optimal_params,
    question_key,
    similarity,
)
from drsynth.filters.dedup.minhash import NO_SHINGLES, PRIME, WEIGHTS
from drsynth.filters.text import gram_hash, ngram_hashes, normalize, words
from tests.helpers import write_demo_tasks

# long multi-hop questions (about 50 words): one edit leaves about 90% of their shingles
LONG = [
    "If the composer of the concerto that premiered at the music festival founded by the violinist born in "
    "Varkholm in the 1890s had a teacher who studied at the national conservatory, in what year did that "
    "teacher first perform at the cathedral whose spire height is between 95 and 100 metres?",
    "Which newspaper, published in the island country where the National Gallery of Estavia is located and "
    "whose circulation is more than 90,000, reported the underground fire that took place in the mining "
    "town whose elevation is 610 metres, and who was its editor when the fire broke out?",
    "The astronomer who discovered a long-period comet at the observatory established in the 1790s was born "
    "in a port city; what is the population of that city according to the census taken in the decade after "
    "the astronomer received the gold medal of the national academy of sciences?",
    "Of the two films produced by the studio that was founded in the capital of Estavia after the September "
    "Revolution, which one has the longer running time, and by how many minutes does it exceed the other "
    "film that starred the actress who was born in the town of Dunmere?",
]
# one small edit of each: a word changed, inserted or dropped (true Jaccard 0.89-0.91)
NEAR = [
    LONG[0].replace("in what year", "in which year"),
    LONG[1].replace("Which newspaper", "What newspaper"),
    LONG[2].replace("born", "actually born", 1),
    LONG[3].replace(", ", " exactly, ", 1),
]


def true_jaccard(hasher: MinHasher, first: str, second: str) -> float:
    a, b = set(hasher.shingles(first)), set(hasher.shingles(second))
    return len(a & b) / len(a | b)


@pytest.fixture(scope="module")
def demo_questions(demo_subgraphs: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The demo's template task drafts (id, question, answer), written once from the session's subgraphs:
    the pool before selection, which still holds the questions two subgraphs worded alike."""
    store = write_demo_tasks(demo_subgraphs, os.fspath(tmp_path_factory.mktemp("dedup-demo") / "data"))
    return list(store.rows("task_drafts", ["id", "question", "answer"]))


def test_normalize_folds_case_unicode_diacritics_and_punctuation() -> None:
    assert (
        normalize("  Who  was   CEZARIA Jędrzejewiczowa’s\tfather?! ")
        == "who was cezaria jedrzejewiczowa s father"
    )
    assert normalize("ﬁve Ｆｕｌｌ-width Straße_Café") == "five full width strasse cafe"
    assert normalize("...?") == normalize(None) == normalize("") == ""
    assert words("The Lighthouse Keeper (film)") == ["the", "lighthouse", "keeper", "film"]


def test_question_key_is_the_same_for_variants_and_empty_for_no_words() -> None:
    base = question_key("When did Oskar Lindell die?")
    assert (
        base
        == question_key("when did OSKAR lindell die")
        == question_key(" When did Oskar Lindell — die ?? ")
    )
    assert base != question_key("When did Ivo Castell die?")
    assert question_key("") == question_key("  ?! ") == question_key(None) == ""
    assert len(base) == 32


def test_gram_hashes_do_not_depend_on_the_batch() -> None:
    docs = [["a", "b", "c", "d"], ["x"], [], ["b", "c", "d"]]
    hashes, owners = ngram_hashes(docs, 3)
    assert owners.tolist() == [0, 0, 3, 1]  # whole short docs come after the n-grams
    assert hashes[0] == gram_hash(["a", "b", "c"]) and hashes[1] == hashes[2] == gram_hash(["b", "c", "d"])
    assert hashes[3] == gram_hash(["x"]) != gram_hash(["x", "x"])
    alone, _ = ngram_hashes([["b", "c", "d"]], 3)
    assert alone[0] == hashes[1]
    none, _ = ngram_hashes(docs, 3, whole_if_shorter=False)
    assert len(none) == 3


def test_signatures_are_the_minimum_of_universal_hashes_mod_p() -> None:
    hasher = MinHasher(num_perm=16, seed=3, block=7, chunk=3)  # tiny blocks: texts straddle every boundary
    texts = [*LONG, "", "Paris", "Who directed X?", "  ?? ", LONG[0]]
    signatures = hasher.signatures(texts)
    assert signatures.shape == (len(texts), 16) and signatures.dtype == np.uint32
    a, b = hasher.a.tolist(), hasher.b.tolist()
    for text, row in zip(texts, signatures, strict=True):
        hashes, _ = ngram_hashes([hasher.tokens(text)], 3, whole_if_shorter=False)
        values = [int(h) >> 33 for h in hashes]
        expected = [
            min(((ai * x + bi) % PRIME for x in values), default=int(NO_SHINGLES))
            for ai, bi in zip(a, b, strict=True)
        ]
        assert row.tolist() == expected, text
    assert (signatures[0] == signatures[-1]).all()


def test_shingles_are_padded_word_trigrams() -> None:
    hasher = MinHasher()
    assert hasher.shingles("Who directed X?") == [
        "\x02 \x02 who",
        "\x02 who directed",
        "who directed x",
        "directed x \x03",
        "x \x03 \x03",
    ]
    assert len(hasher.shingles("Paris")) == 3  # a one-word text still has shingles
    assert hasher.shingles("?") == []


def test_estimated_jaccard_follows_the_true_one() -> None:
    hasher = MinHasher()
    pairs = [
        *zip(LONG, NEAR, strict=True),
        (LONG[0], LONG[0].replace(" the ", " a ")),
        (LONG[3], LONG[0]),
        ("Who directed X?", "Who directed Y?"),
    ]
    for first, second in pairs:
        one, two = hasher.signatures([first, second])
        assert abs(similarity(one, two) - true_jaccard(hasher, first, second)) < 0.15, (first, second)


def test_bands_and_rows_are_chosen_as_datasketch_does() -> None:
    assert optimal_params(0.8, 128) == (9, 13)  # datasketch's default weights
    assert optimal_params(0.8, 128, *WEIGHTS) == (12, 10)
    datasketch = pytest.importorskip("datasketch.lsh")
    for threshold, num_perm in ((0.5, 64), (0.9, 128)):
        for weights in ((0.5, 0.5), WEIGHTS):
            expected = datasketch._optimal_param(threshold, num_perm, *weights)
            assert optimal_params(threshold, num_perm, *weights) == expected, (threshold, num_perm, weights)
    with pytest.raises(ValueError):
        optimal_params(1.0, 128)


def test_lsh_index_returns_verified_keys_in_insertion_order() -> None:
    hasher = MinHasher()
    index = LSHIndex(threshold=0.8, num_perm=128)
    variants = [LONG[0], LONG[0].upper(), LONG[1]]
    index.add_many(["a", "b", "c"], hasher.signatures(variants))
    assert (
        len(index) == 3 and "b" in index and (index.signature("c") == hasher.signatures([LONG[1]])[0]).all()
    )
    query = hasher.signatures([NEAR[0]])[0]
    assert index.query(query) == ["a", "b"]
    assert [k for k, s in index.matches(query)] == ["a", "b"] and all(
        s >= 0.8 for _, s in index.matches(query)
    )
    assert index.query(hasher.signatures(["When did Oskar Lindell die?"])[0]) == []
    with pytest.raises(ValueError):
        index.insert("a", query)


def test_exact_duplicates_after_normalization() -> None:
    rows = [
        ("1", "When did Oskar Lindell die?"),
        ("2", "WHEN did oskar lindell die"),
        ("3", "When did Oskar Lindéll die ?"),
        ("4", "When did Ivo Castell die?"),
    ]
    found = find_duplicates(rows)
    assert [(d.id, d.of_id, d.kind, d.similarity) for d in found] == [
        ("2", "1", "exact", 1.0),
        ("3", "1", "exact", 1.0),
    ]


def test_planted_near_duplicates_are_caught() -> None:
    hasher = MinHasher()
    planted = {f"n{i}": q for i, q in enumerate(NEAR)}
    rows = [(f"o{i}", q) for i, q in enumerate(LONG)] + list(planted.items())
    found = {d.id: d for d in find_duplicates(rows)}
    assert set(found) == set(planted)
    for i, key in enumerate(planted):
        assert found[key].of_id == f"o{i}" and found[key].kind == "near"
        assert found[key].similarity >= 0.8 and true_jaccard(hasher, LONG[i], planted[key]) >= 0.88


def test_template_questions_about_other_entities_are_not_merged(demo_questions: list[dict]) -> None:
    rows = [
        ("a", "When did Oskar Lindell die?"),
        ("b", "When did Ivo Castell die?"),
        ("c", "What is the work whose occasion is the underground fire that took place in Dunmere?"),
        ("d", "What is the work whose occasion is the underground fire that took place in Aldra?"),
        ("e", "Who directed The Salt Orchard?"),
        ("f", "Who directed The Lighthouse Keeper?"),
    ]
    assert find_duplicates(rows) == []
    # the demo's 400-odd template questions: only questions equal after normalization are duplicates
    found = find_duplicates([(t["id"], t["question"]) for t in demo_questions])
    questions = {t["id"]: t["question"] for t in demo_questions}
    assert found and all(d.kind == "exact" for d in found)
    assert all(normalize(questions[d.id]) == normalize(questions[d.of_id]) for d in found)
    kept = len(demo_questions) - len(found)
    assert kept == len({normalize(q) for q in questions.values()})


def test_existing_questions_are_matched_never_reported() -> None:
    existing = [("p1", LONG[0]), ("p2", LONG[1]), ("p3", LONG[1])]
    new = [
        ("p1", LONG[0]),  # a rerun sees its own published task: same record, not a duplicate
        ("x1", LONG[0].upper()),
        ("x2", NEAR[1]),
        ("x3", LONG[2]),
        ("x3", LONG[2]),  # a repeated id is one record
        ("x4", LONG[2] + " "),
        ("x5", LONG[3]),
    ]
    found = [(d.id, d.of_id, d.kind) for d in find_duplicates(new, existing)]
    assert found == [("x1", "p1", "exact"), ("x2", "p2", "near"), ("x4", "x3", "exact")]


def test_copies_of_a_near_duplicate_point_where_it_pointed() -> None:
    found = find_duplicates([("a", LONG[0]), ("b", NEAR[0]), ("c", NEAR[0].lower())])
    assert [(d.id, d.of_id, d.kind) for d in found] == [("b", "a", "near"), ("c", "a", "near")]
    assert found[0].similarity == found[1].similarity


def test_empty_questions_are_reported_not_dropped() -> None:
    rows = [("a", ""), ("b", "   "), ("c", "?!"), ("d", None), ("e", "Who directed X?")]
    found = find_duplicates(rows)  # type: ignore[arg-type]
    assert [(d.id, d.of_id, d.kind) for d in found] == [
        ("a", "", "empty"),
        ("b", "", "empty"),
        ("c", "", "empty"),
        ("d", "", "empty"),
    ]


def test_deterministic_for_a_seed() -> None:
    rows = [(f"o{i}", q) for i, q in enumerate(LONG)] + [("n", NEAR[1])]
    assert find_duplicates(rows) == find_duplicates(list(rows))
    assert (MinHasher(seed=5).signatures(LONG) == MinHasher(seed=5).signatures(LONG)).all()
    assert not (MinHasher(seed=5).signatures(LONG) == MinHasher(seed=6).signatures(LONG)).all()


def test_agreement_with_datasketch_on_a_small_set() -> None:
    datasketch = pytest.importorskip("datasketch")
    hasher = MinHasher()
    texts = [
        *LONG,
        *NEAR,
        LONG[0].replace(" the ", " a "),
        "Who directed X?",
        "Who directed Y?",
        "When did Oskar Lindell die?",
    ]
    ours = hasher.signatures(texts)
    theirs = []
    for text in texts:
        minhash = datasketch.MinHash(num_perm=128, seed=1)
        minhash.update_batch([s.encode() for s in hasher.shingles(text)])
        theirs.append(minhash)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            truth = true_jaccard(hasher, texts[i], texts[j])
            assert abs(similarity(ours[i], ours[j]) - truth) < 0.15
            assert abs(theirs[i].jaccard(theirs[j]) - truth) < 0.15
    lsh = datasketch.MinHashLSH(threshold=0.8, num_perm=128, weights=WEIGHTS)
    index = LSHIndex(threshold=0.8, num_perm=128)
    assert (lsh.b, lsh.r) == (index.bands, index.rows)
    rows = [(str(i), t) for i, t in enumerate(texts)]
    flagged_theirs = set()
    for (key, _), minhash in zip(rows, theirs, strict=True):
        if any(minhash.jaccard(theirs[int(c)]) >= 0.8 for c in lsh.query(minhash)):
            flagged_theirs.add(key)
        else:
            lsh.insert(key, minhash)
    assert {d.id for d in find_duplicates(rows)} == flagged_theirs == {"4", "5", "6", "7"}
