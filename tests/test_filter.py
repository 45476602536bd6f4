"""The filter stage on real scripted-agent trajectories of the demo: judging, checks, screening, budget,
pass rates, the RL pool, SFT and CPT samples, and published versions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from drsynth.filters.budget import next_wave
from drsynth.filters.config import FilterConfig
from drsynth.filters.filter_and_publish import filter_and_publish
from drsynth.filters.rejection import accepted_per_level, filter_fingerprint
from drsynth.filters.screen import screened_tasks
from drsynth.storage import published
from drsynth.storage.catalog import build_catalog
from drsynth.storage.ids import content_id
from drsynth.storage.store import Store
from drsynth.synth.agent.synthesize import write_trajectories
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
    assert judged == [("match-2",)]
    reasons = {r for s, r in rows if s == "rejected"}
    assert reasons <= {"judge_incorrect", "no_answer", "format_error", "invalid_tool_call", "unknown_tool",
                       "invalid_arguments", "too_many_tool_calls", "too_few_tool_calls", "too_long", "inconsistent",
                       "task_contaminated", "task_duplicate", "duplicate_trajectory", "unverified_answer", "over_budget"}, reasons


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
    # 8 tasks per level were sampled; one removed by screening was never judged, so it has no rate
    removed = screened_tasks(store, filtered.result.fingerprint)
    sampled = {t for (t,) in sql(store, "SELECT DISTINCT task_id FROM trajectories")}
    assert len(sampled) == 24 and {t for t, *_ in rates} == sampled - set(removed)
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
    from drsynth.filters.rejection import apply_budget, judgment_batches, run_judging
    from drsynth.filters.screen import screen_tasks
    from drsynth.synth.agent.synthesize import AgentConfig

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
    tried = {r["task_id"] for r in store.rows("trajectories", ["task_id"])}
    # each level stops at 3 accepted, or once all its tasks are tried (the baseline keeps few level-3 answers)
    for level in (1, 2, 3):
        level_tasks = {r["id"] for r in store.rows("tasks", ["id", "level"]) if r["level"] == level}
        assert accepted.get(level, 0) == 3 or (accepted.get(level, 0) < 3 and level_tasks <= tried), (level, accepted)
    assert accepted[1] == accepted[2] == 3
    # generation stopped: at levels 1 and 2 far fewer tasks were tried than exist
    easy = {r["id"] for r in store.rows("tasks", ["id", "level"]) if r["level"] in (1, 2)}
    assert len(tried & easy) < len(easy) / 2
    assert not next_wave(store, agent, config, fingerprint)
    over = [r for r in store.rows("judgments") if r["rejection"] == "over_budget"]
    assert all(r["judge"] == "budget" for r in over)


def test_an_unreachable_llm_judge_leaves_trajectories_pending_and_a_rerun_judges_them(
        demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    from drsynth.synth.teacher.config import TeacherConfig

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


def test_budgeted_waves_move_past_tasks_whose_agents_fail(
        demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    """A teacher that is down leaves every sample a retryable quarantine row and its task pending: planning
    the same tasks again would make the flow's wave loop run forever."""
    from drsynth.synth.agent.synthesize import AgentConfig
    from drsynth.synth.teacher.config import TeacherConfig

    store = Store(copy_root(demo_trajectories.root, tmp_path))
    config = FilterConfig(decontaminate=False, budget_per_level=2)
    agent = AgentConfig(policy="teacher", tasks_per_level=0, samples=2, today="2026-11-21", tasks_per_batch=4)
    fingerprint = filter_fingerprint(config)
    with OpenAIServer(lambda request: Reply(status=500, body={"error": {"message": "down"}})) as down:
        teacher = TeacherConfig(base_urls=[down.base_url], model="agent-model", max_retries=0, cache=False)
        first = next_wave(store, agent, config, fingerprint, teacher)
        for batch in first:
            write_trajectories(store, "wave-1", batch, agent, teacher, update_index=False)
        second = next_wave(store, agent, config, fingerprint, teacher)
    tried = {i for b in first for i in b.ids}
    failed = {r["source"] for r in store.rows("quarantine") if r["reason"] == "policy_error"}
    assert tried and failed == tried  # every sample failed, and each failure is a row
    assert second and not tried & {i for b in second for i in b.ids}


def _bad_inputs(store: Store) -> None:
    """Tasks and trajectories with holes: no gold answer, no level, no task_id, a task that does not exist."""
    from drsynth.synth.agent.format import system_prompt

    messages = [{"role": "system", "content": system_prompt([], "2026-01-01")}, {"role": "user", "content": "q"},
                {"role": "assistant", "content": "<think>sure</think><answer>Ann Lee</answer>"}]
    tasks = [("tA", "Who wrote the book about the long river in the north?", "Ann Lee", 1),
             ("tB", "Which town hosts the annual winter fair of the northern valley?", None, 2),
             ("tC", "Who painted the old mill on the hill above the harbour town?", "Ann Lee", None)]
    with store.writer("tasks", "bad") as writer:
        for task_id, question, answer, level in tasks:
            writer.write({"id": task_id, "parents": [], "question": question, "answer": answer, "aliases": None,
                          "answer_type": "entity", "level": level})
    rows = [("jA", "tA", 1), ("jB", "tB", 2), ("jC", "tC", None), ("jZ", "tZ", 1), ("jN", None, None)]
    with store.writer("trajectories", "bad") as writer:
        for trajectory_id, task_id, level in rows:
            writer.write({"id": trajectory_id, "parents": [task_id] if task_id else [], "task_id": task_id,
                          "mode": "react", "messages": messages, "answer": "Ann Lee", "termination": "answer",
                          "tool_calls": 0, "tokens": 20, "level": level, "status": "pending"})


def test_bad_tasks_and_trajectories_become_rejections_with_reasons(tmp_path: Path) -> None:
    from drsynth.filters.report import filter_report

    store = Store(str(tmp_path / "data"))
    _bad_inputs(store)
    result = filter_and_publish(store, "bad", NO_BENCHMARKS)
    decided = {r["trajectory_id"]: (r["status"], r["rejection"]) for r in store.rows("judgments")}
    assert decided == {"jA": ("accepted", None), "jB": ("rejected", "task_no_answer"), "jC": ("accepted", None),
                       "jZ": ("rejected", "missing_task"), "jN": ("rejected", "missing_task")}
    # a task without a gold answer is decided, not left pending for a judge that can never decide it
    assert not [r for r in store.rows("quarantine") if r["reason"] == "judge_error"]
    # pass rates only for tasks whose samples were judged
    assert {r["task_id"]: r["pass_rate"] for r in store.rows("pass_rates")} == {"tA": 1.0, "tC": 1.0}
    report = filter_report(store, result.fingerprint, result.counts, {})
    assert "| None | 2 | 1 | 1 |" in report  # trajectories without a level are reported, last
    before = {d: store.count(d) for d in ("judgments", "pass_rates", "quarantine", "sft_samples")}
    filter_and_publish(store, "bad-again", NO_BENCHMARKS)
    assert {d: store.count(d) for d in before} == before


def test_latest_is_the_version_the_last_run_published(tmp_path: Path) -> None:
    """Settings A, then B, then A again: the third run publishes A's rows again, an existing version, and
    that version (not B's, though B's manifest is newer) is what training reads as latest."""
    store = Store(str(tmp_path / "data"))
    with store.writer("rl_tasks", "r1") as writer:
        writer.write_many([{"id": f"rl{i}", "parents": [f"task{i}"], "task_id": f"task{i}", "question": "q?",
                            "answer": "a", "aliases": [], "answer_type": "text", "level": 1, "pass_rate": 0.5,
                            "samples": 2} for i in range(3)])
    a = published.publish(store, "rl_tasks", ["rl0", "rl1"], "run-a")
    b = published.publish(store, "rl_tasks", ["rl2"], "run-b")
    assert published.resolve(store, "rl_tasks").version == b.version
    again = published.publish(store, "rl_tasks", ["rl1", "rl0"], "run-a2")
    assert again == a  # the manifest is not rewritten
    assert published.resolve(store, "rl_tasks").version == a.version
    assert [p.version for p in published.publications(store, "rl_tasks")] == [a.version, b.version]


def test_dedup_matches_every_published_version_not_only_the_latest(
        demo_trajectories: SimpleNamespace, tmp_path: Path) -> None:
    from drsynth.filters.screen import published_task_ids

    store = Store(copy_root(demo_trajectories.root, tmp_path))
    first = filter_and_publish(store, "first", NO_BENCHMARKS)
    everything = published_task_ids(store)
    rows = published.read_publication(store, first.publications["rl_tasks"], ["id", "task_id"])
    dropped = min(rows["task_id"].to_pylist())
    assert dropped in everything
    # later versions drop a task (and the other sets shrink to nothing): it was still published once
    pairs = zip(rows["id"].to_pylist(), rows["task_id"].to_pylist(), strict=True)
    kept = [i for i, t in pairs if t != dropped]
    published.publish(store, "rl_tasks", kept, "narrower")
    for dataset in ("sft_samples", "cpt_samples"):
        published.publish(store, dataset, [], "narrower")
    assert published_task_ids(store) == everything


def test_a_sample_row_the_schema_refuses_is_quarantined_not_published(tmp_path: Path) -> None:
    from drsynth.filters.publish import _committed
    from drsynth.synth.corpus.stage_output import StageOutput

    store = Store(str(tmp_path / "data"))
    good = {"id": "s-good", "parents": ["t"], "mode": "react", "messages": [], "trajectory_id": "t", "level": 1}
    bad = {**good, "id": "s-bad", "level": "not a level"}
    with StageOutput(store, "sft", "sft_samples", stage="sft", meta={}) as out:
        for row in (good, bad):
            out.write("sft_samples", row)
    ids = _committed(out, "sft_samples", ["s-good", "s-bad"])
    assert ids == ["s-good"]
    assert published.publish(store, "sft_samples", ids, "sft").rows == 1
    assert [r["source"] for r in store.rows("quarantine") if r["reason"] == "invalid_row"] == ["s-bad"]
