"""Benchmark sets that synthetic data must never leak into, read into one shape whatever their fields.

The default is every `.json` / `.jsonl` file in `../shared/benchmarks` beside the checkout. Files
name their fields differently (`Question` / `question` / `Prompt`, `answer` / `Answer` / `answers` /
`possible_answers`, a string or a list of aliases, sometimes a list written as a JSON string); all
become `BenchmarkItem`s. The benchmark's name is its file's stem; `index` is the record's 0-based
position in its file. A file or record that cannot be read becomes a `BenchmarkProblem`, never an
exception: decontamination then runs against what could be read, and says what could not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO.parent / "shared" / "benchmarks"
SUFFIXES = (".json", ".jsonl")
# field names, compared case-insensitively, in order of preference
QUESTION_FIELDS = ("question", "prompt", "query", "problem", "input")
ANSWER_FIELDS = (
    "answer",
    "answers",
    "possible_answers",
    "golden_answers",
    "gold_answers",
    "answer_aliases",
    "aliases",
    "ground_truth",
    "target",
)
# where a JSON object keeps its list of records
RECORD_LISTS = ("data", "examples", "items", "questions", "records", "test", "validation", "dev")


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    index: int
    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class BenchmarkProblem:
    path: str
    index: int | None  # the record, or None for the whole file
    reason: str

    def __str__(self) -> str:
        where = self.path if self.index is None else f"{self.path} record {self.index}"
        return f"{where}: {self.reason}"


@dataclass
class Benchmarks:
    items: list[BenchmarkItem] = field(default_factory=list)
    problems: list[BenchmarkProblem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Items per benchmark."""
        out: dict[str, int] = {}
        for item in self.items:
            out[item.benchmark] = out.get(item.benchmark, 0) + 1
        return out


def benchmark_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[BenchmarkProblem]]:
    """Files to read: each path itself, or the .json/.jsonl files in it when it is a directory."""
    files: list[Path] = []
    problems: list[BenchmarkProblem] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(BenchmarkProblem(str(path), None, "absent: no benchmark file or directory there"))
    return files, problems


def load_benchmarks(paths: Iterable[str | Path] | None = None) -> Benchmarks:
    """Every item of the benchmark files at `paths` (default: ../shared/benchmarks), with what failed."""
    files, problems = benchmark_files([DEFAULT_DIR] if paths is None else paths)
    loaded = Benchmarks(problems=problems)
    for path in files:
        items, file_problems = read_benchmark_file(path)
        loaded.items.extend(items)
        loaded.problems.extend(file_problems)
    return loaded


def read_benchmark_file(path: str | Path) -> tuple[list[BenchmarkItem], list[BenchmarkProblem]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [], [BenchmarkProblem(str(path), None, f"unreadable: {error}")]
    records, problems = _records(str(path), text)
    items = []
    for index, record in records:
        item = to_item(path.stem, index, record)
        if isinstance(item, str):
            problems.append(BenchmarkProblem(str(path), index, item))
        else:
            items.append(item)
    return items, problems


def to_item(benchmark: str, index: int, record: Any) -> BenchmarkItem | str:
    """The item a record holds, or why it holds none."""
    if not isinstance(record, dict):
        return f"not an object but {type(record).__name__}"
    fields = {str(k).casefold(): v for k, v in record.items()}
    question = next((fields[k] for k in QUESTION_FIELDS if k in fields), None)
    if not isinstance(question, str) or not question.strip():
        return f"no question: none of the fields {', '.join(QUESTION_FIELDS)} holds text"
    answers: list[str] = []
    for key in ANSWER_FIELDS:
        for answer in _strings(fields.get(key)):
            if answer not in answers:
                answers.append(answer)
    return BenchmarkItem(benchmark, index, question.strip(), tuple(answers))


def _records(path: str, text: str) -> tuple[list[tuple[int, Any]], list[BenchmarkProblem]]:
    if path.endswith(".jsonl"):
        return _json_lines(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # JSON lines under a .json name
            return _json_lines(path, text)
        return [], [BenchmarkProblem(path, None, f"invalid JSON: {error}")]
    if isinstance(data, dict):
        lists = [data[k] for k in RECORD_LISTS if isinstance(data.get(k), list)]
        if lists:
            data = lists[0]
        elif data and all(isinstance(v, dict) for v in data.values()):
            data = list(data.values())  # {id: record}
    if not isinstance(data, list):
        return [], [BenchmarkProblem(path, None, f"no list of records (top level is {type(data).__name__})")]
    return list(enumerate(data)), []


def _json_lines(path: str, text: str) -> tuple[list[tuple[int, Any]], list[BenchmarkProblem]]:
    records, problems = [], []
    lines = [line for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        try:
            records.append((index, json.loads(line)))
        except json.JSONDecodeError as error:
            problems.append(BenchmarkProblem(path, index, f"invalid JSON line: {error}"))
    return records, problems


def _strings(value: Any) -> list[str]:
    """Answer strings in a field: a string, a number, a list of them, or a list written as JSON text."""
    if value is None:
        return []
    if isinstance(value, bool):  # StrategyQA-style true/false answers
        return ["yes" if value else "no"]
    if isinstance(value, int | float):
        return [str(value)]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return _strings(parsed)
        return [text] if text else []
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return _strings(value.get("text") or value.get("answer") or value.get("value"))
    return []
