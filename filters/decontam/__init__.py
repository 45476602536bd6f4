"""Decontamination of synthetic questions and answers against benchmark sets (n-gram overlap)."""

from filters.decontam.benchmarks import BenchmarkItem, BenchmarkProblem, Benchmarks, load_benchmarks
from filters.decontam.decontaminate import Contamination, Decontaminator
from filters.decontam.ngrams import NgramIndex, WordOverlapIndex

__all__ = [
    "BenchmarkItem",
    "BenchmarkProblem",
    "Benchmarks",
    "Contamination",
    "Decontaminator",
    "NgramIndex",
    "WordOverlapIndex",
    "load_benchmarks",
]
