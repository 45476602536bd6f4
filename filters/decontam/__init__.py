"""Decontamination of synthetic questions and answers against benchmark sets (n-gram overlap)."""

from drsynth.filters.decontam.benchmarks import BenchmarkItem, BenchmarkProblem, Benchmarks, load_benchmarks
from drsynth.filters.decontam.decontaminate import Contamination, Decontaminator
from drsynth.filters.decontam.ngrams import NgramIndex, WordOverlapIndex

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
