"""The scripted baseline agent on a small planted corpus: titles that need percent-encoding, masked names that
are checks rather than queries, values read with their units, explained `<think>` turns, samples that take
different routes, and the filter's rule that one task's identical samples are kept once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drsynth.filters.checks import check_trajectory
from drsynth.filters.config import FilterConfig
from drsynth.filters.filter_and_publish import filter_and_publish
from drsynth.storage.store import Store
from drsynth.synth.agent import ScriptedSearchPolicy, parse_turn, run_context, run_react
from drsynth.synth.agent.format import render_turn, system_prompt
from drsynth.synth.agent.scripted import UNVERIFIED, measures, visitable
from drsynth.synth.agent.scripted_question import Attribute, Entity, names_in, parse_question
from drsynth.synth.corpus.wikitext import title_url
from drsynth.synth.tools.toolbox import default_toolbox
from drsynth.synth.tools.visit import CorpusPages
from tests.helpers import run

WIKI = "https://en.wikipedia.org/wiki/"
PAGES = [  # (title, text, infobox); urls as MediaWiki writes them: "(" kept, "'" and "é" escaped
    ("Harbour Song (film)", "Harbour Song is a 1954 drama film directed by Ada Brunn. It was shot in Kellby.",
     [("Running time", "97 minutes"), ("Director", "Ada Brunn")]),
    ("Harbour Song (novel)", "Harbour Song is a novel by Ada Brunn published in 1931.", [("Pages", "312")]),
    ("Ada Brunn", "Ada Brunn (3 March 1901 – 9 October 1977) was a film director from Kellby. Her best-known "
                  "film is Harbour Song, a drama film, and her first novel was Harbour Song.", []),
    ("Kellby", "Kellby is a port town with 12,400 inhabitants.", [("Population", "12,400")]),
    ("Café Zürich", "Café Zürich is a song by the singer Ove Lind, released in 1962.", [("Length", "4:00")]),
    ("Ove Lind", "Ove Lind (1930–1999) was a singer. His songs include Café Zürich and Ove's Lament.", []),
    ("Ove's Lament", "Ove's Lament is a song by the singer Ove Lind, released in 1965.", [("Length", "2:48")]),
    ("Ruth Carver", "Ruth Carver was a painter born in Kellby in 1890. She painted the Kellby Harbour.", []),
    ("Tom Reed", "Tom Reed was a painter born in Kellby in 1922.", []),
]


def _documents() -> list[dict]:
    rows = []
    for title, text, infobox in PAGES:
        url = title_url(WIKI, title)
        links = [{"href": title_url(WIKI, other), "anchor": other.split(" (")[0], "context": text, "kind": "text",
                  "section": ""} for other, _, _ in PAGES if other != title and other.split(" (")[0] in text]
        rows.append({"id": f"doc-{len(rows)}", "url": url, "page_url": url, "title": title,
                     "text": f"{title}\n{text}", "lang": "en", "links": links,
                     "infobox": [{"key": k, "value": v} for k, v in infobox], "page_kind": "article"})
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = str(tmp_path_factory.mktemp("scripted") / "data")
    store = Store(root)
    with store.writer("documents", "plant") as writer:
        for row in _documents():
            writer.write(row)
    return store, default_toolbox(store, log=None)


def _react(task: dict, tools, sample_index: int = 0):
    return run(run_react(task, ScriptedSearchPolicy(), tools, sample_index=sample_index, today="2025-01-01"))


def _thinks(trajectory) -> list[str]:
    return [parse_turn(m["content"]).think for m in trajectory.messages if m["role"] == "assistant"]


def _calls(trajectory) -> list:
    return [parse_turn(m["content"]).call for m in trajectory.messages
            if m["role"] == "assistant" and parse_turn(m["content"]).call is not None]


def test_urls_are_stored_escaped_and_visit_finds_every_spelling(corpus) -> None:
    store, _ = corpus
    assert title_url(WIKI, "Ove's Lament") == WIKI + "Ove%27s_Lament"
    pages = CorpusPages(store)
    for spelling in (WIKI + "Harbour_Song_(film)", WIKI + "Harbour_Song_%28film%29", WIKI + "Ove's_Lament",
                     WIKI + "Ove%27s_Lament", WIKI + "Caf%C3%A9_Z%C3%BCrich", WIKI + "Café_Zürich"):
        assert pages.get(spelling) is not None, spelling
    assert pages.get(WIKI + "Harbour_Song_(play)") is None
    # the agent escapes what a URL cannot hold, and leaves escapes alone
    assert visitable(WIKI + "Café Zürich") == WIKI + "Caf%C3%A9%20Z%C3%BCrich"
    assert visitable(WIKI + "Ove%27s_Lament") == WIKI + "Ove%27s_Lament"


def test_the_agent_reaches_a_page_whose_title_has_parentheses(corpus) -> None:
    _, tools = corpus
    task = {"id": "t-film", "question": "What is the running time of Harbour Song (film)?", "level": 1}
    trajectory = _react(task, tools)
    visits = [c.arguments["url"][0] for c in _calls(trajectory) if c.name == "visit"]
    assert WIKI + "Harbour_Song_(film)" in visits
    assert not any("not in the corpus" in m["content"] for m in trajectory.messages if m["role"] == "user")
    assert trajectory.answer == "97 minutes"  # with its unit, as the page writes it


def test_non_ascii_and_apostrophe_titles_are_reached(corpus) -> None:
    _, tools = corpus
    for question, url, answer in (("What is the length of Café Zürich?", WIKI + "Caf%C3%A9_Z%C3%BCrich", "4:00"),
                                  ("What is the length of Ove's Lament?", WIKI + "Ove%27s_Lament", "2:48")):
        trajectory = _react({"id": question, "question": question, "level": 1}, tools)
        visits = [c.arguments["url"][0] for c in _calls(trajectory) if c.name == "visit"]
        assert url in visits, visits
        assert trajectory.answer == answer  # "4:00", never "4"


def test_values_keep_their_format_and_units() -> None:
    assert [v for v, _ in measures("Length: 4:00")] == ["4:00"]
    assert [v for v, _ in measures("an elevation of 2,317 m and about 58 minutes")] == ["2,317 m", "about 58 minutes"]
    assert [v for v, _ in measures("0.74 AU from the Sun in 1904")] == ["0.74 AU"]
    assert [v for v, _ in measures("it employs 5,200 people")] == ["5,200"]


def test_masked_names_are_checks_not_queries(corpus) -> None:
    question = "Who was the painter whose surname begins with C and who was born in Kellby?"
    target = parse_question(question)
    assert isinstance(target, Entity) and [c.value for c in target.checks] == ["surname:C"]
    assert names_in("the poet whose initials are R. C. and who was born in T") == []
    _, tools = corpus
    trajectory = _react({"id": "t-painter", "question": question, "level": 3}, tools)
    queries = [q for c in _calls(trajectory) if c.name == "search" for q in c.arguments["query"]]
    assert queries and all(len(re.sub(r"[\W_]", "", q)) > 3 for q in queries), queries
    assert trajectory.answer == "Ruth Carver"
    final = _thinks(trajectory)[-1]
    # the check is explained: the other painter born there is dropped for his surname
    assert "Tom Reed" in final or any("Tom Reed" in t and "drop" in t for t in _thinks(trajectory))


def test_thinking_says_what_was_observed_and_what_comes_next(corpus) -> None:
    _, tools = corpus
    question = "Who was the singer whose songs include Café Zürich?"
    trajectory = _react({"id": "t-singer", "question": question, "level": 1}, tools)
    thinks = _thinks(trajectory)
    assert trajectory.answer == "Ove Lind"
    assert "The question asks for the singer" in thinks[0] and '"Café Zürich"' in thinks[0]
    # every later turn quotes something the previous tool result showed: a title it listed or a page's words
    for think, observation in zip(thinks[1:], [m["content"] for m in trajectory.messages
                                               if m["role"] == "user" and "<tool_response>" in m["content"]],
                                  strict=False):
        quoted = re.findall(r'"([^"]{3,})"', think)
        assert any(q.rstrip("…") [:40] in observation for q in quoted), (think, observation[:300])
    assert len(set(thinks)) == len(thinks)


def test_attribute_questions_are_phrased_as_what_they_ask() -> None:
    target = parse_question("When did Ada Brunn die?")
    assert isinstance(target, Attribute) and target.subject.name == "Ada Brunn"
    from drsynth.synth.agent.scripted import attribute_phrase
    assert attribute_phrase(target) == "date of death"
    assert attribute_phrase(parse_question("How many people died in the Great Flood?")) == "number of people who died"


def test_samples_take_different_routes_reproducibly(corpus) -> None:
    _, tools = corpus
    task = {"id": "t-death", "question": "When did Ada Brunn die?", "level": 1}
    first, second, again = _react(task, tools, 0), _react(task, tools, 1), _react(task, tools, 1)
    assert first.answer == second.answer == "9 October 1977"
    assert first.messages != second.messages and second.messages == again.messages
    assert _calls(first)[0] != _calls(second)[0]  # a different first query


def test_context_mode_reads_the_same(corpus) -> None:
    _, tools = corpus
    task = {"id": "t-film", "question": "What is the running time of Harbour Song (film)?", "level": 1}
    context = run(run_context(task, ScriptedSearchPolicy(), tools, today="2025-01-01"))
    assert context.answer == "97 minutes"


def test_identical_samples_of_a_task_are_kept_once(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "data"))
    messages = [{"role": "system", "content": system_prompt([], "2026-01-01")},
                {"role": "user", "content": "Who wrote Harbour Song?"},
                {"role": "assistant", "content": "<think>The page says so.</think><answer>Ada Brunn</answer>"}]
    other = [*messages[:2], {"role": "assistant", "content": "<think>Its page says so.</think><answer>Ada Brunn</answer>"}]
    with store.writer("tasks", "plant") as writer:
        for task_id in ("tA", "tB"):
            writer.write({"id": task_id, "parents": [], "question": "Who wrote Harbour Song?", "answer": "Ada Brunn",
                          "aliases": None, "answer_type": "entity", "level": 1})
    rows = [("s0", "tA", 0, messages), ("s1", "tA", 1, messages), ("s2", "tA", 2, other), ("s3", "tB", 0, messages)]
    with store.writer("trajectories", "plant") as writer:
        for trajectory_id, task_id, index, body in rows:
            writer.write({"id": trajectory_id, "parents": [task_id], "task_id": task_id, "mode": "react",
                          "sample_index": index, "messages": body, "answer": "Ada Brunn", "termination": "answer",
                          "tool_calls": 0, "tokens": 20, "level": 1, "status": "pending"})
    filter_and_publish(store, "filter", FilterConfig(decontaminate=False, dedup=False, min_tool_calls=0))
    decided = {r["trajectory_id"]: (r["status"], r["rejection"], r["detail"]) for r in store.rows("judgments")}
    assert {k: v[:2] for k, v in decided.items()} == {
        "s0": ("accepted", None), "s1": ("rejected", "duplicate_trajectory"), "s2": ("accepted", None),
        "s3": ("accepted", None)}  # another task's identical messages are that task's own sample
    assert "s0" in decided["s1"][2]
    # the duplicate was still judged: it counts in the task's pass rate
    assert {r["task_id"]: (r["samples"], r["correct"]) for r in store.rows("pass_rates")}["tA"] == (3, 3)


def test_the_messages_digest_is_role_and_content() -> None:
    from drsynth.filters.rejection import messages_digest
    one = [{"role": "user", "content": "q"}]
    assert messages_digest(one) == messages_digest(json.loads(json.dumps(one)))
    assert messages_digest(one) != messages_digest([{"role": "assistant", "content": "q"}])


def test_the_type_test_reads_the_definitions_head_noun() -> None:
    from drsynth.synth.agent.scripted import defining_nouns
    assert defining_nouns("an island country in the Morrow Sea") == ["country"]  # no "sea"
    assert defining_nouns("an Estavian composer and teacher, widely regarded") == ["composer", "teacher"]
    assert defining_nouns("a long-period comet discovered at the Ostvale Observatory") == ["comet"]
    assert defining_nouns("one of the largest lakes in Estavia") == ["lakes"]


def test_every_constraint_is_checked_against_the_candidates_page(corpus) -> None:
    _, tools = corpus
    question = "Who was the painter whose surname begins with C and who was born in Kellby?"
    trajectory = _react({"id": "t-checks", "question": question, "level": 2}, tools)
    final = _thinks(trajectory)[-1]
    assert trajectory.answer == "Ruth Carver"
    # each condition on the answer, with what the page says: the type, the name, the birthplace
    line = next(x for x in final.splitlines() if x.startswith('"Ruth Carver" against each condition'))
    assert 'a painter: holds ("a painter born in Kellby in 1890.")' in line
    assert "whose surname begins with C: holds" in line
    assert 'who was born in Kellby: holds (its page says "Ruth Carver was a painter born in Kellby in 1890.")' in line
    assert "Unverified:" not in final
    # a film director is no painter: dropped for what its page says, quoted
    assert 'its page calls it a director: "a film director from Kellby."' in final
    row = {"mode": "react", "messages": trajectory.messages, "answer": trajectory.answer,
           "termination": trajectory.termination, "tool_calls": trajectory.tool_calls}
    assert check_trajectory(row, None) == []


def test_a_constraint_no_page_states_leaves_the_answer_unverified_and_the_filter_rejects_it(corpus) -> None:
    _, tools = corpus
    # no page gives a painter's death: the candidates are kept (never dropped for a missing statement) and
    # the answer is declared unverified, so a lucky guess never becomes training text
    question = "Who was the painter who was born in Kellby and who died in the 1950s?"
    trajectory = _react({"id": "t-open", "question": question, "level": 2}, tools)
    final = _thinks(trajectory)[-1]
    assert trajectory.answer in ("Ruth Carver", "Tom Reed")
    assert "died in the 1950s: not stated" in final
    notes = [x for t in _thinks(trajectory) for x in t.splitlines() if x.startswith(f'"{trajectory.answer}":')]
    assert notes and all(x.endswith("I keep it, unverified.") for x in notes), notes
    unverified = [x for x in final.splitlines() if x.startswith(UNVERIFIED)]
    assert unverified and "died in the 1950s" in unverified[0]
    row = {"mode": "react", "messages": trajectory.messages, "answer": trajectory.answer,
           "termination": trajectory.termination, "tool_calls": trajectory.tool_calls}
    assert [f.name for f in check_trajectory(row, None)] == ["unverified_answer"]
    # the marker counts only as a line of the last <think>: the word elsewhere is no declaration
    said = [*row["messages"][:-1], {"role": "assistant", "content": render_turn(
        "Every condition holds; nothing is unverified: here it is.", answer=trajectory.answer)}]
    assert check_trajectory({**row, "messages": said}, None) == []


def test_a_date_in_the_question_is_checked_on_the_line_that_gives_it(corpus) -> None:
    _, tools = corpus
    question = "Who was the film director who died on 9 October 1977?"
    target = parse_question(question)
    assert [(c.kind, c.value, c.about) for c in target.checks] == [("date", "9 October 1977", "died")]
    trajectory = _react({"id": "t-date", "question": question, "level": 1}, tools)
    final = _thinks(trajectory)[-1]
    if trajectory.answer == "Ada Brunn":
        assert "died on 9 October 1977: holds" in final and "(3 March 1901 – 9 October 1977)" in final
    else:  # found no route to her: then it must not claim a verified answer
        assert UNVERIFIED in final
