"""The filter stage on real scripted-agent trajectories of the demo: judging, checks, screening, budget,
pass rates, the RL pool, SFT and CPT samples, and published versions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from filters.budget import next_wave
from filters.config import FilterConfig
from filters.filter_and_publish import filter_and_publish
from filters.rejection import accepted_per_level, filter_fingerprint
from storage import published
from storage.catalog import build_catalog
from storage.ids import content_id
from storage.store import Store
from synth.agent.synthesize import write_trajectories
from tests.conftest import SHARED, copy_root
from tests.openai_server import OpenAIServer, Reply

NO_BENCHMARKS = FilterConfig(decontaminate=False)


def sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(build_catalog(store), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def filtered(demo_trajectories: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The demo trajectories after one filter run with the default settings (benchmarks when present)."""
    root = copy_root(demo_trajectories.root, tmp_path_factory.mktemp("filtered"))
    store = Store(root)
    result = filter_and_publish(store, "filter-run")
    return SimpleNamespace(root=root, store=store, result=result)


def test_every_trajectory_is_accepted_or_rejected_with_a_reason(filtered: SimpleNamespace) -> None:
    store = filtered.store
    generated = store.count("trajectories")
    assert generated == 48
    rows = sql(store, "SELECT status, reason FROM trajectories")
    statuses = Counter(s for s, _ in rows)
    assert statuses["accepted"] + statuses["rejected"] == generated and statuses["accepted"] > 0
    assert all(reason for status, reason in rows if status == "rejected")
    # the judgment names the judge, and a rejection's reason is one the filter knows
    judged = sql(store, "SELECT DISTINCT judge FROM judgments")
    assert judged == [("match-1",)]
    reasons = {r for s, r in rows if s == "rejected"}
    assert reasons <= {"judge_incorrect", "no_answer", "format_error", "invalid_tool_call", "unknown_tool",
                       "invalid_arguments", "too_many_tool_calls", "too_few_tool_calls", "too_long", "inconsistent",
                       "task_contaminated", "task_duplicate", "over_budget"}, reasons


def test_accepted_trajectories_are_exactly_the_correct_and_well_formed_ones(filtered: SimpleNamespace) -> None:
    rows = sql(filtered.store, "SELECT j.verdict, j.failed_checks, t.status, t.termination FROM judgments j "
                               "JOIN trajectories t ON t.id = j.trajectory_id")
    for verdict, failed, status, termination in rows:
        assert (status == "accepted") == (verdict == "correct" and not failed and termination == "answer")
    # rollouts with no final answer are marked as such
    assert all(v == "no_answer" for v, _, _, term in rows if term != "answer" and v != "correct")


def test_pass_rates_and_the_rl_pool(filtered: SimpleNamespace) -> None:
    store = filtered.store
    rates = sql(store, "SELECT task_id, samples, correct, pass_rate FROM pass_rates")
    assert len(rates) == 24  # 8 tasks per level, every one judged
    assert all(samples == 2 and rate == correct / samples for _, samples, correct, rate in rates)
    pool = {t for (t,) in sql(store, "SELECT task_id FROM rl_tasks")}
    assert pool == {t for t, _, _, rate in rates if 0 < rate < 1}
    # bounds are configurable: a pool of everything some sample solved
    wider = FilterConfig(decontaminate=False, rl_max_pass_rate=1.0, rl_min_pass_rate=0.0)
    assert wider.fingerprint() != FilterConfig(decontaminate=False, rl_max_pass_rate=0.9).fingerprint()


def test_sft_samples_in_both_modes_train_only_on_assistant_turns(filtered: SimpleNamespace) -> None:
    store = filtered.store
    accepted = {t for (t,) in sql(store, "SELECT id FROM trajectories WHERE status = 'accepted'")}
    samples = list(store.rows("sft_samples"))
    assert {s["trajectory_id"] for s in samples} == accepted
    assert {s["mode"] for s in samples} == {"react", "context"}
    for sample in samples:
        for message in sample["messages"]:
            assert message["train"] == (message["role"] == "assistant")
        assert sample["parents"] == [sample["trajectory_id"]] or sample["trajectory_id"] in sample["parents"]


def test_cpt_samples_of_every_kind(filtered: SimpleNamespace) -> None:
    kinds = dict(sql(filtered.store, "SELECT kind, count(*) FROM cpt_samples GROUP BY ALL"))
    assert set(kinds) == {"planning", "reasoning", "decision"} and all(kinds.values())
    assert sql(filtered.store, "SELECT count(*) FROM cpt_samples WHERE length(text) < 40 OR stage NOT IN "
                               "('short', 'long')") == [(0,)]


def test_published_versions_are_exact_named_in_the_catalog_and_stable_on_rerun(filtered: SimpleNamespace) -> None:
    store, result = filtered.store, filtered.result
    for dataset in ("sft_samples", "rl_tasks", "cpt_samples"):
        version = result.publications[dataset]
        assert published.resolve(store, dataset).version == version.version
        table = published.read_publication(store, version)
        assert table.num_rows == version.rows > 0
    before = {d: store.count(d) for d in ("judgments", "pass_rates", "sft_samples", "rl_tasks", "cpt_samples",
                                          "quarantine")}
    again = filter_and_publish(store, "filter-rerun")
    assert {d: store.count(d) for d in before} == before
    assert {d: p.name for d, p in again.publications.items()} == {d: p.name for d, p in result.publications.items()}
    assert len(published.publications(store)) == 3


def _plant_task(store: Store, template: dict, question: str, answer: str, *, trajectory: dict | None) -> str:
    task = {**template, "question": question, "answer": answer}
    task["id"] = content_id("planted", question, answer)
    with store.writer("tasks", "planted") as writer:
        writer.write(task)
    if trajectory is not None:
        row = {**trajectory, "task_id": task["id"], "parents": [task["id"]],
               "id": content_id("planted-trajectory", task["id"], trajectory["id"])}
        with store.writer("trajectories", "planted") as writer:
            writer.write(row)
    return task["id"]


def test_planted_benchmark_questions_and_near_duplicates_are_removed_with_reasons(
        demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    bamboogle = SHARED / "benchmarks" / "bamboogle.json"
    if not bamboogle.exists():
        pytest.skip(f"{bamboogle} is absent: the shared benchmark sets live beside the checkout (../shared)")
    store = Store(copy_root(demo_trajectories.root, tmp_path))
    items = json.loads(bamboogle.read_text())
    item = items[3]
    question = item.get("Question") or item["question"]
    answer = item["answer"][0] if isinstance(item["answer"], list) else item["answer"]
    trajectories = sorted(store.rows("trajectories"), key=lambda t: t["id"])
    accepted_like = next(t for t in trajectories if t["termination"] == "answer")
    template = next(t for t in store.rows("tasks") if t["id"] == accepted_like["task_id"])
    verbatim = _plant_task(store, template, question, answer, trajectory=accepted_like)
    words = question.rstrip("?").split()
    paraphrase = _plant_task(store, template, " ".join(["Tell", "me:", *words[:-1], "exactly", words[-1]]) + "?",
                             "something else", trajectory=None)
    # a near duplicate: one word of the longest question changed (word 3-gram Jaccard ~0.83)
    longest = max(store.rows("tasks"), key=lambda t: (len(t["question"].split()), t["id"]))
    assert len(longest["question"].split()) >= 28
    changed = longest["question"].split()
    changed[len(changed) // 2] = "quite" if changed[len(changed) // 2] != "quite" else "rather"
    near = _plant_task(store, longest, " ".join(changed), longest["answer"], trajectory=None)
    result = filter_and_publish(store, "filter-run")
    quarantined = {row["source"]: row for row in store.rows("quarantine") if row["stage"] in ("decontaminate", "dedup")}
    assert quarantined[verbatim]["reason"] == "contaminated" and "bamboogle" in quarantined[verbatim]["detail"]
    assert quarantined[paraphrase]["reason"] == "contaminated"
    assert quarantined[near]["reason"] == "near_duplicate" and longest["id"] in quarantined[near]["detail"]
    assert longest["id"] not in quarantined  # the earlier task is kept
    # the planted task's trajectory is rejected for its task's contamination, and nothing of it is published
    (status, reason), = sql(store, "SELECT status, reason FROM trajectories WHERE task_id = ?", [verbatim])
    assert (status, reason) == ("rejected", "task_contaminated")
    for dataset in ("sft_samples", "rl_tasks", "cpt_samples"):
        table = published.read_publication(store, result.publications[dataset], ["task_id"])
        assert not {verbatim, paraphrase, near} & set(table["task_id"].to_pylist())
    assert result.counts["decontaminate.contaminated"] >= 2 and result.counts["dedup.near_duplicate"] >= 1


def test_dedup_against_what_is_already_published(demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    store = Store(copy_root(demo_trajectories.root, tmp_path))
    first = filter_and_publish(store, "first", NO_BENCHMARKS)
    published_task = published.read_publication(store, first.publications["rl_tasks"])["task_id"][0].as_py()
    template = next(t for t in store.rows("tasks") if t["id"] == published_task)
    # a later run brings an exact copy (after normalisation) of a published question
    copy = _plant_task(store, template, "  " + template["question"].upper() + "  ", template["answer"], trajectory=None)
    filter_and_publish(store, "second", NO_BENCHMARKS)
    reasons = {(r["source"], r["reason"]) for r in store.rows("quarantine") if r["stage"] == "dedup"}
    assert (copy, "duplicate") in reasons and not any(s == published_task for s, _ in reasons)


def test_budgeted_mode_stops_generating_once_n_per_level_are_accepted(
        demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    from filters.rejection import apply_budget, judgment_batches, run_judging
    from filters.screen import screen_tasks
    from synth.agent.synthesize import AgentConfig

    store = Store(copy_root(demo_trajectories.root, tmp_path))
    config = FilterConfig(decontaminate=False, budget_per_level=3)
    agent = AgentConfig(tasks_per_level=0, samples=2, today="2026-11-21", tasks_per_batch=4)
    fingerprint = filter_fingerprint(config)
    screen_tasks(store, "budget", config, fingerprint)
    waves = 0
    while True:
        for batch in judgment_batches(store, config, fingerprint):
            run_judging(store, "budget", batch, config, fingerprint)
        batches = next_wave(store, agent, config, fingerprint)
        if not batches:
            break
        waves += 1
        for batch in batches:
            write_trajectories(store, "budget", batch, agent, update_index=False)
    apply_budget(store, "budget", config, fingerprint)
    accepted = accepted_per_level(store, fingerprint)
    assert accepted == {1: 3, 2: 3, 3: 3}
    # generation stopped: far fewer tasks were tried than exist
    tried = {r["task_id"] for r in store.rows("trajectories", ["task_id"])}
    assert len(tried) < store.count("tasks") / 2
    assert not next_wave(store, agent, config, fingerprint)
    over = [r for r in store.rows("judgments") if r["rejection"] == "over_budget"]
    assert all(r["judge"] == "budget" for r in over)


def test_an_unreachable_llm_judge_leaves_trajectories_pending_and_a_rerun_judges_them(
        demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    from synth.teacher.config import TeacherConfig

    store = Store(copy_root(demo_trajectories.root, tmp_path))
    config = FilterConfig(judge="llm", decontaminate=False)
    with OpenAIServer(lambda request: Reply(status=500, body={"error": {"message": "down"}})) as down:
        teacher = TeacherConfig(base_urls=[down.base_url], model="judge-model", max_retries=0, cache=False)
        filter_and_publish(store, "outage", config, teacher)
    # what needed the judge stays pending (a judge_error row each); what did not is decided
    statuses = Counter(s for (s,) in sql(store, "SELECT status FROM trajectories"))
    errors = Counter(r["reason"] for r in store.rows("quarantine") if r["stage"] == "judge")
    assert statuses["pending"] == errors["judge_error"] > 30 and "accepted" not in statuses
    assert {r for (r,) in sql(store, "SELECT DISTINCT reason FROM trajectories WHERE status = 'rejected'")} <= \
        {"no_answer", "task_duplicate"}

    def grade(request: dict) -> str:
        return json.dumps({"verdict": "correct", "reason": "looks right", "confidence": 0.9})

    with OpenAIServer(grade) as up:
        teacher = TeacherConfig(base_urls=[up.base_url], model="judge-model", cache=False)
        result = filter_and_publish(store, "recovered", config, teacher)
    statuses = Counter(s for (s,) in sql(store, "SELECT status FROM trajectories"))
    assert statuses["pending"] == 0 and statuses["accepted"] + statuses["rejected"] == 48
    assert {j for (j,) in sql(store, "SELECT DISTINCT judge FROM judgments")} == {"llm:judge-model"}
    assert sql(store, "SELECT count(*) FROM requests WHERE purpose = 'judge' AND error IS NULL")[0][0] > 0
    assert result.publications["sft_samples"].rows > 0
