"""Question dedup: our numpy MinHash LSH against datasketch's MinHash + MinHashLSH on the same data.

N synthetic multi-hop questions are generated offline from templates and made-up names (nested
descriptions give 5 to 40 words), and about 5% of them are planted near-duplicates: a copy of an
earlier question with one edit (case and punctuation, a filler word added, an article dropped, a
frame word changed, a clause inverted). Both sides run the same pipeline on the same questions in
the same process: exact dedup on the normalized hash, then MinHash (same num_perm, same shingles:
`MinHasher.shingles`, padded word 3-grams) and LSH at the same threshold, candidates verified by
estimated Jaccard, each duplicate attributed to the earliest kept question; LSH bands from the same
(false positive, false negative) weights. datasketch is used the fast way it documents: one
permutation set shared by every MinHash, `update_batch`.

Reported: throughput (questions/s, wall and CPU) of each and the ratio ours/datasketch, recall on
the planted pairs (all, and those whose true shingle Jaccard reaches the threshold), the true Jaccard
of what each flagged as near (precision), agreement between the two, and peak RSS of each phase.

    .venv/bin/python bench/dedup_minhash.py [--n 100000] [--threshold 0.8] [--out result.json]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, report, timed
from drsynth.filters.dedup import MinHasher, find_duplicates, question_key
from drsynth.filters.dedup.minhash import WEIGHTS

SYLLABLES = ["ka", "lo", "mer", "vin", "tes", "ra", "dun", "bel", "or", "sta", "quil", "fen", "ar", "mo",
             "zet", "hal", "rin", "bo", "cas", "tel", "vor", "ine", "ul", "pra", "dro", "gan", "sel", "wy",
             "thor", "ek"]
ROLES = ["director", "author", "founder", "spouse", "mother", "father", "composer", "architect", "publisher",
         "producer", "first president", "head coach", "lead singer", "chief engineer", "patron"]
KINDS = ["city", "town", "village", "river", "university", "company", "museum", "novel", "film", "opera",
         "newspaper", "ship", "bridge", "cathedral", "festival", "observatory", "orchestra", "island"]
ADJECTIVES = ["silent", "northern", "golden", "lost", "red", "hidden", "last", "eastern", "iron", "winter",
              "broken", "second", "quiet", "burning", "distant", "young", "old", "glass", "salt", "open"]
NOUNS = ["harbor", "lantern", "orchard", "season", "crown", "mirror", "voyage", "garden", "tower", "letter",
         "archive", "meadow", "signal", "shore", "bell", "kingdom", "map", "river", "storm", "choir"]
VERBS = ["founded", "designed", "directed", "written", "built", "published", "composed", "funded", "restored"]
FRAMES = [
    "Who was {d}?",
    "When was {d} born?",
    "In what year was {d} founded?",
    "What is the population of {d}?",
    "Which {k} did {d} attend?",
    "How many employees does {d} have?",
    "Where did {d} die?",
    "What award did {d} win in {y}?",
    "Who succeeded {d} in {y}?",
    "What language is spoken in {d}?",
]
FILLERS = ["exactly", "actually", "originally", "precisely", "really"]
FRAME_SWAPS = [
    ("who was", "who is"),
    ("in what year", "in which year"),
    ("what is", "what was"),
    ("how many", "about how many"),
    ("where did", "in what place did"),
]


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _description(rng: random.Random, depth: int) -> str:
    """A nested description of an entity: each level adds a relation to another one."""
    base = rng.choice(
        [
            lambda: f"{_name(rng)} {_name(rng)}",
            lambda: f"The {rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS).capitalize()}",
            lambda: f"the {rng.choice(KINDS)} of {_name(rng)}",
        ]
    )()
    for _ in range(depth):
        base = rng.choice(
            [
                lambda b: f"the {rng.choice(ROLES)} of {b}",
                lambda b: f"the {rng.choice(KINDS)} where {b} was born",
                lambda b: f"the {rng.choice(KINDS)} {rng.choice(VERBS)} by {b}",
                lambda b: f"the {rng.choice(KINDS)} that {b} visited in {rng.randint(1700, 2020)}",
            ]
        )(base)
    return base


def synthetic_question(rng: random.Random) -> str:
    frame = rng.choice(FRAMES)
    text = frame.format(
        d=_description(rng, rng.choice([1, 2, 2, 3, 3, 4, 5])), k=rng.choice(KINDS), y=rng.randint(1800, 2020)
    )
    return text[0].upper() + text[1:]


def plant(question: str, rng: random.Random) -> tuple[str, str]:
    """A near-duplicate of `question` by one small edit, and the name of the edit."""
    tokens = question[:-1].split()
    edit = rng.choice(["case_punct", "filler", "drop_article", "frame_word", "invert"])
    if edit == "case_punct":
        return question.lower().replace("?", " ?").replace(" the ", "  the "), edit
    if edit == "filler":
        tokens.insert(rng.randrange(1, len(tokens)), rng.choice(FILLERS))
    elif edit == "drop_article" and "the" in tokens[1:]:
        tokens.pop(1 + tokens[1:].index("the"))
    elif edit == "frame_word":
        low = question.lower()
        for old, new in FRAME_SWAPS:
            if low.startswith(old):
                return new.capitalize() + question[len(old) :], edit
        tokens.insert(1, "exactly")
    elif edit == "invert" and len(tokens) > 6:
        cut = rng.randrange(3, len(tokens) - 2)
        tokens = tokens[cut:] + tokens[:cut]
    return " ".join(tokens) + "?", edit


def dataset(
    n: int, seed: int = 7, planted_share: float = 0.05
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, str]]]:
    """n (id, question) pairs; the planted ones map to (id of the question they copy, edit).

    The copied question may itself be a planted copy: dedup attributes the new copy to the first of
    the chain, the recall below only asks whether it was flagged.
    """
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    planted: dict[str, tuple[str, str]] = {}
    for i in range(n):
        qid = f"q{i:07d}"
        if rows and rng.random() < planted_share:
            source_id, source = rows[rng.randrange(len(rows))]
            text, edit = plant(source, rng)
            planted[qid] = (source_id, edit)
            rows.append((qid, text))
        else:
            rows.append((qid, synthetic_question(rng)))
    return rows, planted


def datasketch_duplicates(
    rows: list[tuple[str, str]], threshold: float, num_perm: int, seed: int
) -> list[tuple[str, str, str]]:
    """(id, of_id, kind) by the same pipeline with datasketch's MinHash and MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    shingler = MinHasher(num_perm=num_perm, seed=seed)
    template = MinHash(num_perm=num_perm, seed=seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=WEIGHTS)
    kept: dict[str, tuple[int, MinHash]] = {}
    exact: dict[str, tuple[str, str]] = {}  # as ours: a near duplicate's exact copies point where it pointed
    out = []
    for qid, question in rows:
        key = question_key(question)
        if not key:
            out.append((qid, "", "empty"))
            continue
        if key in exact:
            out.append((qid, *exact[key]))
            continue
        minhash = MinHash(
            num_perm=num_perm, seed=seed, permutations=template.permutations, scheme=template.scheme
        )
        minhash.update_batch([s.encode("utf-8") for s in shingler.shingles(question)])
        verified = [c for c in lsh.query(minhash) if minhash.jaccard(kept[c][1]) >= threshold]
        if verified:
            exact[key] = (min(verified, key=lambda c: kept[c][0]), "near")
            out.append((qid, *exact[key]))
            continue
        exact[key] = (qid, "exact")
        kept[qid] = (len(kept), minhash)
        lsh.insert(qid, minhash)
    return out


def phase(run: Callable[[], list]) -> tuple[list, dict]:
    before = psutil.Process().memory_info().rss
    result, timing = timed(run)
    return result, {
        "wall_s": round(timing.wall_s, 2),
        "cpu_s": round(timing.cpu_s, 2),
        "peak_rss_mib": timing.peak_rss_mib,
        "rss_before_mib": round(before / 2**20),  # the questions and what the benchmark holds already
    }


def true_jaccard(shingler: MinHasher, first: str, second: str) -> float:
    a, b = set(shingler.shingles(first)), set(shingler.shingles(second))
    return len(a & b) / len(a | b) if a | b else 1.0


BANDS = [(0.0, 0.7), (0.7, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 1.0), (1.0, 1.01)]


def quality(
    found: list[tuple[str, str, str]],
    planted: dict[str, tuple[str, str]],
    jaccards: dict[str, float],
    threshold: float,
    texts: dict[str, str],
    shingler: MinHasher,
) -> dict:
    flagged = {qid for qid, _, kind in found if kind != "empty"}
    detectable = {qid for qid, j in jaccards.items() if j >= threshold}
    near = [(qid, of) for qid, of, kind in found if kind == "near"]
    near_true = [true_jaccard(shingler, texts[qid], texts[of]) for qid, of in near]
    by_edit: Counter[str] = Counter()
    caught_by_edit: Counter[str] = Counter()
    for qid, (_, edit) in planted.items():
        by_edit[edit] += 1
        caught_by_edit[edit] += qid in flagged
    return {
        "duplicates": len(flagged),
        "exact": sum(k == "exact" for _, _, k in found),
        "near": len(near),
        "recall_planted": round(len(flagged & planted.keys()) / max(1, len(planted)), 4),
        "recall_planted_detectable": round(len(flagged & detectable) / max(1, len(detectable)), 4),
        "recall_by_edit": {e: round(caught_by_edit[e] / by_edit[e], 3) for e in sorted(by_edit)},
        # recall against the planted pair's true Jaccard: MinHash LSH's S-curve around the threshold
        "recall_by_true_jaccard": {
            f"{lo:.2f}-{min(hi, 1.0):.2f}": f"{sum(q in flagged for q in band)}/{len(band)}"
            for lo, hi in BANDS
            if (band := [q for q, j in jaccards.items() if lo <= j < hi])
        },
        "near_true_jaccard_min": round(min(near_true), 3) if near_true else None,
        "near_true_jaccard": {
            f"{lo:.2f}-{min(hi, 1.0):.2f}": n
            for lo, hi in BANDS
            if (n := sum(lo <= j < hi for j in near_true))
        },
        "near_precision": round(sum(j >= threshold for j in near_true) / len(near_true), 4)
        if near_true
        else None,
        "flagged_not_planted": len(flagged - planted.keys()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="questions")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="also write the JSON result here")
    args = parser.parse_args()

    rows, planted = dataset(args.n)
    texts = dict(rows)
    shingler = MinHasher(num_perm=args.num_perm, seed=args.seed)
    jaccards = {
        qid: true_jaccard(shingler, texts[qid], texts[source]) for qid, (source, _) in planted.items()
    }
    detectable = {qid for qid, j in jaccards.items() if j >= args.threshold}

    ours_found, ours_time = phase(
        lambda: [
            (d.id, d.of_id, d.kind)
            for d in find_duplicates(rows, threshold=args.threshold, num_perm=args.num_perm, seed=args.seed)
        ]
    )
    theirs_found, theirs_time = phase(
        lambda: datasketch_duplicates(rows, args.threshold, args.num_perm, args.seed)
    )

    ours_dropped = {qid for qid, _, _ in ours_found}
    theirs_dropped = {qid for qid, _, _ in theirs_found}
    same_source = {qid: of for qid, of, _ in ours_found}
    result = {
        "questions": len(rows),
        "planted": len(planted),
        "planted_detectable": len(detectable),
        "planted_true_jaccard_by_edit": {
            edit: round(
                sum(jaccards[q] for q, (_, e) in planted.items() if e == edit)
                / max(1, sum(e == edit for _, e in planted.values())),
                3,
            )
            for edit in sorted({e for _, e in planted.values()})
        },
        "threshold": args.threshold,
        "num_perm": args.num_perm,
        **machine(),
        "ours": {
            **ours_time,
            "questions_per_s": round(len(rows) / ours_time["wall_s"]),
            "questions_per_cpu_s": round(len(rows) / ours_time["cpu_s"]),
            **quality(ours_found, planted, jaccards, args.threshold, texts, shingler),
        },
        "datasketch": {
            **theirs_time,
            "questions_per_s": round(len(rows) / theirs_time["wall_s"]),
            "questions_per_cpu_s": round(len(rows) / theirs_time["cpu_s"]),
            **quality(theirs_found, planted, jaccards, args.threshold, texts, shingler),
        },
        "agreement": {
            "same_decision": round(1 - len(ours_dropped ^ theirs_dropped) / len(rows), 5),
            "dropped_jaccard": round(
                len(ours_dropped & theirs_dropped) / max(1, len(ours_dropped | theirs_dropped)), 4
            ),
            "only_ours": len(ours_dropped - theirs_dropped),
            "only_datasketch": len(theirs_dropped - ours_dropped),
            "same_of_id": round(
                sum(same_source.get(q) == of for q, of, _ in theirs_found) / max(1, len(theirs_found)), 4
            ),
        },
    }
    result["speedup_wall"] = round(
        result["ours"]["questions_per_s"] / result["datasketch"]["questions_per_s"], 2
    )
    result["speedup_cpu"] = round(
        result["ours"]["questions_per_cpu_s"] / result["datasketch"]["questions_per_cpu_s"], 2
    )
    report(result, args.out)
    print()
    print("| | q/s (wall) | q/s (CPU) | peak RSS MiB | recall planted | recall detectable | near precision |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ("ours", "datasketch"):
        r = result[name]
        print(
            f"| {name} | {r['questions_per_s']:,} | {r['questions_per_cpu_s']:,} | {r['peak_rss_mib']} | "
            f"{r['recall_planted']} | {r['recall_planted_detectable']} | {r['near_precision']} |"
        )
    print(
        f"\nours/datasketch: {result['speedup_wall']}x wall, {result['speedup_cpu']}x CPU; same decision on "
        f"{result['agreement']['same_decision']:.3%} of questions"
    )


if __name__ == "__main__":
    main()
