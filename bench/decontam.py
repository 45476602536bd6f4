"""Decontamination throughput: N synthetic questions, some planted from benchmarks, against all of them.

The questions are the multi-hop template questions of `bench/dedup_minhash.py` (made-up names), a
share of questions written in the benchmarks' own templates about made-up entities ("What is the
place of birth of the director of film Kalomer?": they share 8-grams with 2WikiMultihopQA and must not
be flagged), with answers that are sometimes common benchmark answers ("1999", "United States").
Planted among them, from the real benchmark files: verbatim questions, light paraphrases (case and
punctuation, a filler word, a frame word changed, words rotated around a cut point) and answer leaks
(a benchmark answer with a question that reuses a distinctive phrase of its benchmark question).

Reported: index build time, check time, questions/s, peak RSS, how many were flagged, and how many
plants of each kind were caught (and false flags among the synthetic questions).

    .venv/bin/python bench/decontam.py [--n 100000] [--plants 300] [--out result.json]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, report, timed
from bench.dedup_minhash import _name, synthetic_question
from drsynth.filters.decontam import Benchmarks, Decontaminator, load_benchmarks
from drsynth.filters.decontam.benchmarks import DEFAULT_DIR
from drsynth.filters.text import words

BENCHMARK_TEMPLATES = [
    "What is the place of birth of the director of film {a}?",
    "Which film has the director who was born later, {a} or {b}?",
    "Who is the paternal grandfather of {a} {b}?",
    "When did the director of film {a} die?",
    "Are {a} and {b} both from the same country?",
    "Who was the president of the United States when {a} {b} was founded?",
]
COMMON_ANSWERS = ["1999", "United States", "yes", "London", "American", "1981", "five"]
FILLERS = ["exactly", "actually", "originally"]
FRAME_SWAPS = [
    ("Who is", "Who was"),
    ("What is", "What was"),
    ("Who was", "Who is"),
    ("When did", "When exactly did"),
    ("Which", "What"),
]


def paraphrase(question: str, rng: random.Random) -> str:
    edit = rng.choice(["case_punct", "filler", "frame_word", "rotate"])
    if edit == "case_punct":
        return question.lower().rstrip("?").replace(",", " ,")
    if edit == "frame_word":
        for old, new in FRAME_SWAPS:
            if question.startswith(old):
                return new + question[len(old) :]
    tokens = question.split()
    if edit == "rotate" and len(tokens) > 6:
        cut = rng.randrange(2, len(tokens) - 2)
        return " ".join(tokens[cut:] + tokens[:cut])
    tokens.insert(rng.randrange(1, len(tokens)), rng.choice(FILLERS))
    return " ".join(tokens)


def answer_leak(decontaminator: Decontaminator, rng: random.Random) -> tuple[str, str, str] | None:
    """A made-up question reusing a distinctive 4-gram of a benchmark question, with that item's answer."""
    item = rng.randrange(len(decontaminator.items))
    answers = [a for a in decontaminator.items[item].answers if words(a) and words(a)[0] not in ("yes", "no")]
    grams = sorted(decontaminator.telling_grams(item))
    if not answers or not grams:
        return None
    keeper = f"{_name(rng)} {_name(rng)}"
    question = f"According to the records kept by {keeper}, what do we know about {rng.choice(grams)}?"
    return question, answers[0], decontaminator.items[item].benchmark


def dataset(
    n: int, plants: int, decontaminator: Decontaminator, seed: int = 11
) -> tuple[list, dict[str, str]]:
    """n (id, question, answer) records; planted ids map to their kind."""
    rng = random.Random(seed)
    items = decontaminator.items
    records: list[tuple[str, str, str]] = []
    planted: dict[str, str] = {}
    kinds = ["verbatim", "paraphrase", "answer"]
    plant_at = set(rng.sample(range(n), min(n, plants)))
    for i in range(n):
        rid = f"t{i:07d}"
        if i in plant_at:
            kind = kinds[len(planted) % len(kinds)]
            item = items[rng.randrange(len(items))]
            if kind == "verbatim":
                records.append((rid, item.question, item.answers[0] if item.answers else ""))
            elif kind == "paraphrase":
                records.append((rid, paraphrase(item.question, rng), ""))
            else:
                leak = answer_leak(decontaminator, rng)
                while leak is None:
                    leak = answer_leak(decontaminator, rng)
                records.append((rid, leak[0], leak[1]))
            planted[rid] = kind
        elif rng.random() < 0.2:
            template = rng.choice(BENCHMARK_TEMPLATES)
            records.append((rid, template.format(a=_name(rng), b=_name(rng)), rng.choice(COMMON_ANSWERS)))
        else:
            records.append((rid, synthetic_question(rng), rng.choice([*COMMON_ANSWERS, _name(rng)])))
    return records, planted


def build_index(paths: list[str] | None) -> tuple[Benchmarks, Decontaminator]:
    """The benchmark files at `paths` and the decontaminator over their items."""
    loaded = load_benchmarks(paths)
    return loaded, Decontaminator(loaded.items, problems=loaded.problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="questions")
    parser.add_argument("--plants", type=int, default=300, help="planted benchmark questions and answers")
    parser.add_argument(
        "--benchmarks", nargs="*", help=f"benchmark files or directories (default {DEFAULT_DIR})"
    )
    parser.add_argument("--out", help="also write the JSON result here")
    args = parser.parse_args()

    (loaded, decontaminator), build = timed(lambda: build_index(args.benchmarks))
    if not decontaminator.items:
        raise SystemExit(f"no benchmark items: {[str(p) for p in loaded.problems]}")
    records, planted = dataset(args.n, args.plants, decontaminator)

    flagged, check = timed(lambda: dict(decontaminator.check_many(records)))

    caught = Counter(kind for rid, kind in planted.items() if rid in flagged)
    kinds = Counter(planted.values())
    false_flags = [rid for rid in flagged if rid not in planted]
    result = {
        "questions": len(records),
        "benchmark_items": len(decontaminator.items),
        "benchmarks": loaded.counts(),
        "problems": [str(p) for p in loaded.problems],
        "build_s": round(build.wall_s, 2),
        "build_peak_rss_mib": build.peak_rss_mib,
        "check_wall_s": round(check.wall_s, 2),
        "check_cpu_s": round(check.cpu_s, 2),
        "questions_per_s": round(len(records) / check.wall_s),
        "questions_per_cpu_s": round(len(records) / check.cpu_s),
        "peak_rss_mib": check.peak_rss_mib,
        **machine(),
        "flagged": len(flagged),
        "flagged_by_rule": dict(Counter(c.rule for c in flagged.values())),
        "planted": dict(kinds),
        "planted_caught": {k: caught[k] for k in kinds},
        "false_flags": len(false_flags),
        "false_flag_examples": [
            (next(q for r, q, _ in records if r == rid), flagged[rid].ngram) for rid in false_flags[:5]
        ],
        "examples": [{"question": q, **vars(flagged[rid])} for rid, q, _ in records if rid in flagged][:3],
    }
    report(result, args.out)
    print()
    print(
        "| questions | benchmark items | build s | check s | questions/s | peak RSS MiB | flagged "
        "| planted caught | false flags |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {len(records):,} | {len(decontaminator.items):,} | {result['build_s']} | "
        f"{result['check_wall_s']} | {result['questions_per_s']:,} | {result['peak_rss_mib']} | "
        f"{len(flagged)} | {sum(caught.values())}/{len(planted)} | {len(false_flags)} |"
    )


if __name__ == "__main__":
    main()
