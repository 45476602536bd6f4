"""drsynth.filters.judges: the offline match judge's rules (numbers, dates, aliases, F1, sentences, hedges) and the
LLM judge over real HTTP through the `openai` SDK against the local test server."""

from __future__ import annotations

import asyncio
import json

import pytest

from drsynth.filters.judges import JUDGE_KINDS, LLMJudge, MatchJudge, Verdict, make_judge, verdict_counts
from drsynth.filters.judges.llm import JUDGE_SCHEMA, reply_json
from drsynth.filters.judges.normalize import final_answer, find_date_values, find_numbers, normalize, token_f1
from drsynth.storage.schemas import schema_for
from drsynth.synth.teacher import RequestLog, TeacherClient, TeacherConfig
from tests.openai_server import OpenAIServer, Reply

JUDGE = MatchJudge()


def task(answer: str, answer_type: str | None = "entity", aliases: list[str] | None = None, **extra) -> dict:
    return {"id": "task-1", "question": "Q?", "answer": answer, "aliases": aliases or [], "answer_type": answer_type,
            "level": 1, **extra}


def verdict(row: dict, answer: str | None, judge: MatchJudge = JUDGE) -> Verdict:
    return asyncio.run(judge.judge(row, answer))


# --- normalization ---------------------------------------------------------------------------------------------


def test_normalize_folds_case_punctuation_articles_and_diacritics() -> None:
    assert normalize("  The Zoë-Ångström  Øresund, Łódź! ") == "zoe angstrom oresund lodz"
    assert normalize("12,400") == normalize("12 400") == "12400"
    assert token_f1("Port Selva Harbour", "Port Selva") == pytest.approx(0.8)
    assert token_f1("", "x") == 0.0 and token_f1("a", "the") == 0.0  # nothing left to compare
    assert verdict(task("—"), "???").verdict == "incorrect"


@pytest.mark.parametrize(("text", "expected"), [
    ("The answer is 1891.", "1891"),
    ("Final answer: Port Selva", "Port Selva"),
    ("So it is \\boxed{42}", "42"),
    ("I found it: **Varkholm** after two searches", "Varkholm"),
    ('"Port Selva"', "Port Selva"),
    ("Port Selva", "Port Selva"),
])
def test_final_answer_out_of_a_sentence(text: str, expected: str) -> None:
    assert final_answer(text) == expected


def test_numbers_and_dates_are_found_in_text() -> None:
    values = [(q.value, q.unit) for q in find_numbers("12,400 people, 12 400, 1.2 million, 12.4k, 2,317 m, $46m")]
    assert values == [(12400, "people"), (12400, None), (1_200_000, None), (12400, None), (2317, "m"),
                      (46_000_000, "$")]
    assert [q.year_like for q in find_numbers("in 2021 about 2,021")] == [True, False]
    found = find_date_values("born 3 March 1891 (1891-03-03), died March 1957 or 1958; the 1890s")
    assert [str(d) for d in found.dates] == ["1891-03-03", "1891-03-03", "1957-03", "1958"]
    assert found.decades == [1890]


# --- the match judge ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gold", "answer", "correct", "reason"), [
    # numbers: tolerance, digit groups, units, scales
    ("12,437", "12,400", True, "number 12400 within 1% of 12437"),
    ("12,437", "12 400 people", True, "within 1%"),
    ("12,437", "about 12.4k", True, "within 1%"),
    ("12,437", "12,000", False, "number 12000 not within 1% of 12437"),
    ("1,200,000", "1.2 million", True, "within 1%"),
    ("1.2 million", "1,195,000 inhabitants", True, "within 1%"),
    ("1,200,000", "1.5 million", False, "not within 1%"),
    ("2,317 m", "2.317 km", True, "number 2.317 km within 1% of 2317 m"),
    ("2,317 m", "2,317 metres", True, "within 1%"),
    ("2,317 m", "2,317 kg", False, "not within 1%"),
    ("40%", "$40", False, "not within 1%"),
    ("12,400", "12,400 (2021 census)", True, "within 1%"),
    ("12,400", "12,400 in 2021", True, "within 1%"),
    ("12,400", "12,000 or 12,400", False, "several numbers"),
    ("3", "three", True, "within 1%"),
])
def test_numbers(gold: str, answer: str, correct: bool, reason: str) -> None:
    result = verdict(task(gold, "number"), answer)
    assert result.correct is correct and result.verdict == ("correct" if correct else "incorrect")
    assert reason in result.reason, result


# what the task writer makes of a length, an amount, a percentage and a measure (synth/tasks/plan.py answer_of)
LENGTH = task("4:00", "number", ["4 minutes", "4 min"])
SONG = task("3:12", "number", ["3 minutes 12 seconds", "3 min 12 s"])
MONEY = task("$2 million", "number", ["2,000,000 USD"])
PERCENT = task("45%", "number", ["45 per cent", "45 percent"])
HEIGHT = task("2,317 m", "number", ["2,317", "2317", "2,317 metres"])  # bare-number aliases included


@pytest.mark.parametrize(("row", "answer", "correct", "reason"), [
    # a length: a bare number is not one, every spelling of the same length is
    (LENGTH, "4", False, "4 is not a length of time"),
    (LENGTH, "2", False, "is not a length of time"),
    (LENGTH, "4 m", False, "is not a length of time"),  # metres
    (LENGTH, "4:00", True, "length 4:00 matches gold '4:00'"),
    (LENGTH, "four minutes", True, "length 4:00 matches gold '4:00'"),
    (LENGTH, "4 minutes", True, "matches gold"),
    (LENGTH, "4 min", True, "matches gold"),
    (LENGTH, "It runs 240 seconds.", True, "length 4:00 matches gold"),
    (LENGTH, "3:59", False, "length 3:59 does not match gold '4:00'"),
    (LENGTH, "4:00 or 3:00", False, "several lengths"),
    (SONG, "2", False, "is not a length of time"),
    (SONG, "3", False, "is not a length of time"),
    (SONG, "3 min 12 sec", True, "length 3:12 matches gold"),
    (SONG, "three minutes and twelve seconds", True, "length 3:12 matches gold"),
    (SONG, "3 minutes", False, "length 3:00 does not match gold '3:12'"),
    # money: the currency is part of the answer
    (MONEY, "2", False, "a bare number (2) is not an amount of money"),
    (MONEY, "2 million", False, "is not an amount of money"),
    (MONEY, "2,000,000", False, "is not an amount of money"),
    (MONEY, "$2 million", True, "within 1%"),
    (MONEY, "US$2 million", True, "within 1%"),
    (MONEY, "2 million dollars", True, "within 1%"),
    (MONEY, "€2 million", False, "not within 1%"),
    (MONEY, "$3 million", False, "not within 1%"),
    # a percentage
    (PERCENT, "45", False, "a bare number (45) is not a percentage"),
    (PERCENT, "45 per cent", True, "within 1%"),
    (PERCENT, "forty-five percent", True, "within 1%"),
    (PERCENT, "46%", False, "not within 1%"),
    # a measure: its bare-number aliases do not make a bare number right
    (HEIGHT, "2317", False, "is not a measured quantity"),
    (HEIGHT, "2,317", False, "is not a measured quantity"),
    (HEIGHT, "2.317 km", True, "within 1%"),
    (HEIGHT, "2,317 kg", False, "not within 1%"),
    # a plain count takes its bare number
    (task("24 episodes", "number", ["24"]), "24", True, "alias '24'"),
    (task("24 episodes", "number", ["24"]), "twenty-four", True, "within 1%"),
    (task("12,400", "number", ["12,400 people"]), "12,400", True, "exact match"),
])
def test_a_gold_with_a_unit_needs_the_unit(row: dict, answer: str, correct: bool, reason: str) -> None:
    result = verdict(row, answer)
    assert result.correct is correct and reason in result.reason, result


def test_a_question_that_names_the_unit_takes_the_bare_number() -> None:
    assert verdict({**PERCENT, "question": "What percentage of the vote did Nils Farrand get?"}, "45").correct
    assert verdict({**HEIGHT, "question": "How many metres high is Mount Kell?"}, "2317").correct
    assert verdict({**LENGTH, "question": "How many minutes long is Night Train?"}, "4").correct
    assert not verdict({**LENGTH, "question": "How many minutes long is Night Train?"}, "3").correct
    assert not verdict({**HEIGHT, "question": "What is the elevation of Mount Kell?"}, "2317").correct
    # without an answer type a length is still a number
    assert not verdict({**LENGTH, "answer_type": None}, "4").correct
    assert verdict({**LENGTH, "answer_type": None}, "four minutes").correct


def test_number_tolerance_is_configurable() -> None:
    loose = MatchJudge(number_tolerance=0.05)
    assert not verdict(task("12,437", "number"), "12,000").correct
    result = verdict(task("12,437", "number"), "12,000", loose)
    assert result.correct and "within 5% of 12437" in result.reason
    with pytest.raises(ValueError, match="number_tolerance"):
        MatchJudge(number_tolerance=-0.1)


FULL_DATE = task("3 March 1891", "date", ["March 3, 1891", "1891-03-03", "3 Mar 1891"])


@pytest.mark.parametrize(("row", "answer", "correct", "reason"), [
    # a gold year accepts any date in that year
    (task("1891", "year"), "3 March 1891", True, "date 1891-03-03 matches gold year 1891"),
    (task("1891", "year"), "March 1891", True, "matches gold year"),
    (task("1891", "year"), "He was born in 1891.", True, "date 1891 matches gold year 1891"),
    (task("1891", "year"), "1892", False, "date 1892 does not match gold year 1891"),
    (task("1891", "year"), "the 1890s", False, "decade 1890s is too coarse"),
    (task("1891", "year"), "1890 or 1891", False, "several dates"),
    (task("1891", "year"), "1891-1893", False, "several dates"),
    # a gold full date needs the same day; a bare year is too coarse
    (FULL_DATE, "1891-03-03", True, "alias '1891-03-03'"),
    (FULL_DATE, "He was born on March 3, 1891 in Varkholm.", True, "date 1891-03-03 matches gold day"),
    (FULL_DATE, "3rd March 1891", True, "matches gold day 1891-03-03"),
    (FULL_DATE, "1891", False, "date 1891 is too coarse for gold day 1891-03-03"),
    (FULL_DATE, "March 1891", False, "too coarse"),
    (FULL_DATE, "4 March 1891", False, "date 1891-03-04 does not match gold day 1891-03-03"),
    # a gold month needs year and month
    (task("March 1891", "date"), "14 March 1891", True, "matches gold month 1891-03"),
    (task("1891-03", "date"), "March 1891", True, "matches gold month"),
    (task("1891-03", "date"), "April 1891", False, "does not match gold month 1891-03"),
    (task("1891-03", "date"), "1891", False, "too coarse for gold month"),
])
def test_dates_at_the_gold_granularity(row: dict, answer: str, correct: bool, reason: str) -> None:
    result = verdict(row, answer)
    assert result.correct is correct and reason in result.reason, result


def test_a_year_task_with_a_month_alias_accepts_by_its_year() -> None:
    # what the task writer makes of a month-precise attribute: answer "1891", aliases at month precision
    row = task("1891", "year", ["1891-03", "March 1891"])
    assert verdict(row, "April 1891").correct
    assert verdict(row, "March 1891").reason == "alias 'March 1891'"


@pytest.mark.parametrize(("answer", "correct", "reason"), [
    ("port selva", True, "exact match"),
    ("PORT-SELVA!", True, "exact match"),
    ("Selva", True, "alias 'Selva'"),
    ("the city of Selva", True, "answer contains 'Selva'"),
    ("The answer is Port Selva.", True, "exact match"),
    ("It was Port Selva, Estavia.", True, "answer contains 'Port Selva'"),
    ("Port Selva Harbour", True, "F1 0.80 >= 0.8"),
    ("Varkholm", False, "F1 0.00 < 0.8"),
])
def test_entities_aliases_and_sentences(answer: str, correct: bool, reason: str) -> None:
    result = verdict(task("Port Selva", aliases=["Selva"]), answer)
    assert result.correct is correct and reason in result.reason, result


@pytest.mark.parametrize("answer", [
    "Varkholm, Port Selva, Ostvale, Brennick",
    "Varkholm or Port Selva",
    "Varkholm, Port Selva",
    "Port Selva; Varkholm",
    "Probably Port Selva",
    "Port Selva and Varkholm",
    "It is not Port Selva",
    "Port Selva is the answer as far as the sources I could find in the archive go",
])
def test_many_candidates_or_hedges_are_not_rewarded(answer: str) -> None:
    result = verdict(task("Port Selva"), answer)
    assert not result.correct and result.verdict == "incorrect", result
    assert any(word in result.reason for word in ("hedges", "candidate", "too long")), result


def test_f1_threshold() -> None:
    row = task("Port Selva Harbour Authority")
    default = verdict(row, "Port Selva Harbour")  # precision 1, recall 3/4: F1 0.857
    assert default.correct and default.reason.startswith("F1 0.86 >= 0.8") and default.score == pytest.approx(0.857, abs=1e-3)
    strict = verdict(row, "Port Selva Harbour", MatchJudge(f1_threshold=0.9))
    assert not strict.correct and strict.reason == "F1 0.86 < 0.9"
    assert not verdict(row, "Port Selva").correct  # F1 0.67
    assert verdict(row, "Port Selva", MatchJudge(f1_threshold=0.6)).correct


def test_text_answers_do_not_use_containment() -> None:
    row = task("sandstone", "text")
    assert verdict(row, "Sandstone").correct
    assert not verdict(row, "it is made of red sandstone and granite").correct


def test_no_answer_error_and_type_inference() -> None:
    for blank in (None, "", "   \n"):
        assert verdict(task("Port Selva"), blank) == Verdict("no_answer", 0.0, "no answer given", "match-2")
    broken = verdict({"id": "t", "question": "Q?", "answer": None, "aliases": None}, "x")
    assert broken.verdict == "error" and "no gold answer" in broken.reason
    # without an answer_type the gold's look decides
    assert verdict(task("3 March 1891", None), "1891").reason.endswith("too coarse for gold day 1891-03-03")
    assert verdict(task("12,437", None), "12,400").correct
    assert verdict(task("1891", "bogus"), "March 1891").correct


def test_judge_many_keeps_order_and_counts() -> None:
    items = [(task("1891", "year"), "1891"), (task("1891", "year"), None), (task("1891", "year"), "1900")]
    verdicts = asyncio.run(JUDGE.judge_many(items))
    assert [v.verdict for v in verdicts] == ["correct", "no_answer", "incorrect"]
    assert verdict_counts(verdicts) == {"correct": 1, "incorrect": 1, "no_answer": 1, "error": 0}
    assert JUDGE.drain_requests() == []
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict("maybe", 0.5, "", "x")


def test_make_judge() -> None:
    assert JUDGE_KINDS == ("match", "llm")
    judge = make_judge("match", f1_threshold=0.5, number_tolerance=0.02)
    assert isinstance(judge, MatchJudge) and judge.name == "match-2" and judge.f1_threshold == 0.5
    with pytest.raises(ValueError, match="needs a TeacherClient"):
        make_judge("llm")
    with pytest.raises(ValueError, match="judge must be one of"):
        make_judge("oracle")
    client = TeacherClient(TeacherConfig(base_urls=("http://127.0.0.1:9/v1",), model="grader-7b"))
    assert make_judge("llm", client).name == "llm:grader-7b"
    assert make_judge("llm", client, name="llm:custom").name == "llm:custom"


# --- the LLM judge over HTTP ----------------------------------------------------------------------------------


def grader(request: dict) -> str:
    """A test grader: correct when the prediction line names the gold answer, as a fenced JSON reply half the
    time, the way chat models like to answer."""
    prompt = request["messages"][-1]["content"]
    gold = prompt.split("Gold answer: ")[1].split("\n")[0]
    predicted = prompt.split("Predicted answer: ")[1]
    correct = gold.lower() in predicted.lower() and " or " not in predicted
    body = json.dumps({"verdict": "correct" if correct else "incorrect",
                       "reason": "same city" if correct else "another answer", "confidence": 0.9})
    return f"```json\n{body}\n```" if "fenced" in prompt else body


def llm_judge(server: OpenAIServer, **overrides) -> LLMJudge:
    settings = dict(base_urls=(server.base_url,), model="grader", timeout_s=2.0, max_retries=1,
                    backoff_base_s=0.01, backoff_max_s=0.02, retry_budget_s=10.0, cache=False)
    settings.update(overrides)
    return LLMJudge(TeacherClient(TeacherConfig(**settings), log=RequestLog()))


def judge_all(judge: LLMJudge, items: list[tuple[dict, str | None]]) -> list[Verdict]:
    async def go() -> list[Verdict]:
        try:
            return await judge.judge_many(items)
        finally:
            await judge.client.aclose()

    return asyncio.run(go())


def test_llm_judge_grades_over_http_and_logs_requests() -> None:
    row = task("Port Selva", aliases=["Selva"], question="Which port?")
    fenced = {**row, "id": "task-2", "question": "fenced please"}
    with OpenAIServer(grader) as server:
        judge = llm_judge(server)
        verdicts = judge_all(judge, [(row, "port selva"), (row, "Varkholm or Port Selva"), (fenced, "Port Selva"),
                                     (row, None)])
        requests = server.chat_requests()
    assert [v.verdict for v in verdicts] == ["correct", "incorrect", "correct", "no_answer"]
    assert verdicts[0] == Verdict("correct", 0.9, "same city", "llm:grader")
    assert len(requests) == 3  # no request for a missing answer
    # the three calls run concurrently: pick the one for the first item by its content
    body = next(r.body for r in requests if "Predicted answer: port selva" in r.body["messages"][-1]["content"])
    assert body["temperature"] == 0 and body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == JUDGE_SCHEMA
    prompt = body["messages"][-1]["content"]
    assert "Gold answer: Port Selva" in prompt and "Also accepted: Selva" in prompt and "Question: Which port?" in prompt
    assert "paraphrases" in body["messages"][0]["content"] and "several candidates" in body["messages"][0]["content"]
    rows = judge.drain_requests()
    assert len(rows) == 3 and {r["purpose"] for r in rows} == {"judge"} and {r["name"] for r in rows} == {"grader"}
    assert sorted(tuple(r["parents"]) for r in rows) == [("task-1",), ("task-1",), ("task-2",)]
    assert all(r["error"] is None and r["kind"] == "llm" for r in rows)
    assert {*rows[0], "run_id"} == set(schema_for("requests").names)  # rows fit the dataset
    assert judge.drain_requests() == []


@pytest.mark.parametrize(("reply", "reason"), [
    ("I think it is right.", "no JSON object"),
    ('{"verdict": "maybe", "reason": "x", "confidence": 0.5}', "verdict 'maybe'"),
    ('{"verdict": "correct", "reason": "x", "confidence": "high"}', "confidence 'high'"),
])
def test_llm_judge_malformed_reply_is_an_error_verdict(reply: str, reason: str) -> None:
    with OpenAIServer(lambda request: reply) as server:
        judge = llm_judge(server)
        [result] = judge_all(judge, [(task("Port Selva"), "Port Selva")])
    assert result.verdict == "error" and not result.correct and reason in result.reason, result
    assert result.judge == "llm:grader" and result.score == 0.0
    assert [r["purpose"] for r in judge.drain_requests()] == ["judge"]


def test_llm_judge_server_error_is_an_error_verdict_with_its_row() -> None:
    with OpenAIServer(lambda request: Reply(status=500, body={"error": {"message": "grader down"}})) as server:
        judge = llm_judge(server)
        [result] = judge_all(judge, [(task("Port Selva"), "Port Selva")])
        attempts = len(server.chat_requests())
    assert result.verdict == "error" and "HTTP 500" in result.reason and "grader down" in result.reason
    assert attempts == 2  # one retry, then the error verdict
    [row] = judge.drain_requests()
    assert row["purpose"] == "judge" and "HTTP 500" in row["error"] and row["retries"] == 1


def test_llm_judge_without_structured_output_and_reply_parsing() -> None:
    # a server without response_format: the client falls back to the schema in the prompt
    with OpenAIServer(grader, response_formats={"text"}) as server:
        judge = llm_judge(server)
        [result] = judge_all(judge, [(task("Port Selva"), "Port Selva")])
    assert result.correct
    assert reply_json('<think>{"verdict": "no"}</think> Here: {"verdict": "incorrect", "reason": "r"} done') == {
        "verdict": "incorrect", "reason": "r"}
    parsed = LLMJudge.parse(judge, '{"verdict": "Correct", "reason": "", "confidence": 85}')
    assert parsed == Verdict("correct", 0.85, "(no reason given)", "llm:grader")
