"""Exact and near-duplicate (MinHash LSH) removal of questions."""

from drsynth.filters.dedup.exact import question_key, words_key
from drsynth.filters.dedup.minhash import LSHIndex, MinHasher, optimal_params, similarity
from drsynth.filters.dedup.questions import Duplicate, QuestionDeduper, find_duplicates

__all__ = [
    "Duplicate",
    "LSHIndex",
    "MinHasher",
    "QuestionDeduper",
    "find_duplicates",
    "optimal_params",
    "question_key",
    "similarity",
    "words_key",
]
