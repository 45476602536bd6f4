"""Every dataset's schema, declared once.

The catalog contract (DESIGN §2) makes view and column names binding: columns may be added, never
renamed or removed. Every dataset starts with the lineage columns `id`, `run_id`, `parents`.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

LINEAGE_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("parents", pa.list_(pa.string()), nullable=False),
]

LINK = pa.struct(
    [
        ("href", pa.string()),
        ("anchor", pa.string()),
        ("context", pa.string()),
        # where the link sits: "text" (main content), "infobox" or "table"
        ("kind", pa.string()),
        # the heading of the section it sits in ("" for the lead), when the source has sections
        ("section", pa.string()),
    ]
)

INFOBOX_ENTRY = pa.struct(
    [
        ("key", pa.string()),
        ("value", pa.string()),
        ("links", pa.list_(pa.struct([("href", pa.string()), ("anchor", pa.string())]))),
        # which infobox of the page the row belongs to (0 = the first): a page can hold several, a song
        # and its cover version, a person and an office held; each describes its own subject
        ("box", pa.int32()),
        # the box's template when the source names it ("Infobox song", from wikitext), else null
        ("template", pa.string()),
        # the box's own title (its caption or "above" row, the wikitext `name`/`title`), else null
        ("subject", pa.string()),
    ]
)
# one heading of a document's section structure
SECTION = pa.struct([("title", pa.string()), ("level", pa.int32())])

TABLE = pa.struct(
    [
        ("caption", pa.string()),
        ("header", pa.list_(pa.string())),
        ("rows", pa.list_(pa.list_(pa.string()))),
    ]
)

# a typed fact about an entity, from an infobox row or a table cell
ATTRIBUTE = pa.struct(
    [
        ("key", pa.string()),  # normalized key: "born", "population", "founded"
        ("value", pa.string()),  # as written: "3 March 1891, Varkholm, Estavia"
        # date | year | span | number | quantity | duration | money | count | percent | format |
        # coordinates | identifier | place | person | organization | entity | text (see synth.graph.values)
        ("kind", pa.string()),
        ("normalized", pa.string()),  # ISO date "1891-03-03", year "1891", number "12400", seconds "192"
        ("unit", pa.string()),  # for quantities: "km", "m", "people", "s", "USD"
        ("qualifier", pa.string()),  # what qualifies the value: "c.", "(2021 census)", "estimate"
        ("entity_id", pa.string()),  # when the value names an entity of the graph
        ("source", pa.string()),  # infobox | table
        ("doc_id", pa.string()),
        # subjects the graph cannot see beside this one: for a table row's attribute, the rows of that table
        # that name no entity ("Symphony No. 1" in a works table beside a linked concerto); for an infobox
        # attribute, the page's other boxes about a subject of the same name (a cover version)
        ("unlisted_rows", pa.int32()),
    ]
)

SUBGRAPH_NODE = pa.struct([("id", pa.string()), ("name", pa.string()), ("type", pa.string())])
SUBGRAPH_EDGE = pa.struct(
    [
        ("id", pa.string()),
        ("src", pa.string()),
        ("dst", pa.string()),
        ("relation", pa.string()),
        ("evidence", pa.string()),
        ("doc_id", pa.string()),
    ]
)
# what a question built from the subgraph asks for: an entity, or one attribute of it
TARGET = pa.struct(
    [
        ("entity_id", pa.string()),
        ("name", pa.string()),
        ("attribute", pa.string()),  # null when the answer is the entity itself
        ("value", pa.string()),
    ]
)
# one uncertainty operation applied while writing a question
OPERATION = pa.struct(
    [
        ("op", pa.string()),  # vague_date | mask_name | number_range | shared_attribute | ...
        ("slot", pa.string()),  # the variable or constant it was applied to: "?x1"
        ("original", pa.string()),
        ("obfuscated", pa.string()),
    ]
)
# a formalization triple: subject and object are variables ("?x"), constants, or constraints
TRIPLE = pa.struct(
    [
        ("subject", pa.string()),
        ("predicate", pa.string()),
        ("object", pa.string()),
        ("object_kind", pa.string()),  # var | entity | literal | year_range | number_range | prefix | ...
    ]
)
# one chat message of a trajectory
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
# a chat message of a training sample: `train` marks the turns the loss is computed on
TRAIN_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string()), ("train", pa.bool_())])
EVIDENCE = pa.struct([("doc_id", pa.string()), ("url", pa.string()), ("text", pa.string())])
# what one constraint of a formalization does: the answers (entities or values) that satisfy or might
# satisfy the constraints up to and including this one, in formalization order
CONSTRAINT_COUNT = pa.struct([("constraint", pa.string()), ("candidates", pa.int32())])


def _schema(*fields: pa.Field) -> pa.Schema:
    return pa.schema([*LINEAGE_FIELDS, *fields])


TASKS = _schema(
    pa.field("question", pa.string()),
    pa.field("answer", pa.string()),
    pa.field("aliases", pa.list_(pa.string())),  # other accepted spellings of the answer
    pa.field("answer_type", pa.string()),  # entity | date | year | number | text
    pa.field("level", pa.int8()),  # 1 one lookup, 2 a clear multi-hop path, 3 obfuscated, no single query
    pa.field("hops", pa.int32()),
    pa.field("operations", pa.list_(OPERATION)),
    pa.field("formalization", pa.list_(TRIPLE)),
    pa.field("evidence_doc_ids", pa.list_(pa.string())),
    pa.field("evidence", pa.list_(EVIDENCE)),
    pa.field("subgraph_id", pa.string()),
    pa.field("target_entity_id", pa.string()),
    pa.field("writer", pa.string()),  # template | teacher:<model>
    pa.field("graph", pa.string()),
    # the relation the answer is read through (the attribute key, or the edge into the answer entity)
    pa.field("relation", pa.string()),
    # answers the solver admits over the whole graph (those that hold and those that might): 1 when unique
    pa.field("candidates", pa.int32()),
    pa.field("constraint_candidates", pa.list_(CONSTRAINT_COUNT)),
    # the level-3 search check: the single queries built from the question's constants, the best rank
    # of the answer's page among their top 10 results (null: not among them), and the k a level-3 task's
    # best rank must exceed
    pa.field("search_queries", pa.list_(pa.string())),
    pa.field("search_rank", pa.int32()),
    pa.field("search_k", pa.int32()),
)


SCHEMAS: dict[str, pa.Schema] = {
    # one row per successful fetch or read of a source item; the raw bytes travel in `body`
    "pages": _schema(
        pa.field("url", pa.string()),
        pa.field("final_url", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("headers", pa.string()),  # JSON object
        pa.field("fetched_at", TIMESTAMP),
        pa.field("body", pa.binary()),
        pa.field("body_sha256", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("depth", pa.int32()),
        pa.field("source", pa.string()),  # the seed URL, directory, WARC or corpus file it came from
        pa.field("source_kind", pa.string()),  # crawl | html_dir | warc | text
    ),
    "documents": _schema(
        pa.field("url", pa.string()),
        pa.field("page_url", pa.string()),  # the URL as requested, before redirects
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("date", pa.string()),  # ISO 8601 date as found in the page, or null
        pa.field("description", pa.string()),
        pa.field("links", pa.list_(LINK)),
        pa.field("infobox", pa.list_(INFOBOX_ENTRY)),
        pa.field("tables", pa.list_(TABLE)),
        pa.field("bold_terms", pa.list_(pa.string())),  # bold names in the lead: alias candidates
        pa.field("canonical_url", pa.string()),  # <link rel="canonical">: one URL for a page's copies
        pa.field("word_count", pa.int32()),
        pa.field("extractor", pa.string()),
        # what the page is: article | disambiguation | list | index | redirect | navigation | null
        # (unknown: a page from an ordinary website); only articles describe one entity
        pa.field("page_kind", pa.string()),
        pa.field("categories", pa.list_(pa.string())),  # the page's own categories, without "Category:"
        pa.field("sections", pa.list_(SECTION)),  # headings in order
    ),
    # bad input never disappears: it lands here with the stage that refused it and why
    "quarantine": _schema(
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),  # short code: oversize, binary, http_404, robots, ...
        pa.field("detail", pa.string()),  # human-readable explanation
        pa.field("source", pa.string()),  # URL or path of the offending input
        pa.field("input", pa.binary()),  # first bytes of the input, for debugging
        pa.field("input_size", pa.int64()),
        pa.field("at", TIMESTAMP),
    ),
    # one row per redirect hop the crawler saw: the source URL is an alias of the page it leads to
    "redirects": _schema(
        pa.field("url", pa.string()),
        pa.field("target", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("source", pa.string()),
        pa.field("at", TIMESTAMP),
    ),
    # --- the knowledge graph (synth/graph). A graph is a version: every entity and edge row names the
    # `graph` it belongs to, a hash of the document ids and settings it was built from, so a rebuild over
    # the same documents adds nothing and a rebuild over more documents is a new, complete graph.
    "entities": _schema(
        pa.field("name", pa.string()),  # the page title, disambiguator included: "Selva (river)"
        pa.field("label", pa.string()),  # the name without a trailing disambiguator: "Selva"
        pa.field("aliases", pa.list_(pa.string())),
        pa.field("description", pa.string()),  # one sentence
        pa.field("type", pa.string()),  # person | group | place | organization | work | event | thing
        pa.field("attributes", pa.list_(ATTRIBUTE)),
        # finer type ("song", "musical artist", "record label") and where the type came from:
        # infobox | lead | category | key (a stub typed by the infobox key that links to it) | none
        pa.field("subtype", pa.string()),
        pa.field("type_source", pa.string()),
        # a stub: linked from an infobox value, no page of its own in the corpus (name from the link)
        pa.field("stub", pa.bool_()),
        pa.field("key", pa.string()),  # the resolution key: stable across graph versions
        pa.field("urls", pa.list_(pa.string())),  # every normalized URL that names this entity
        pa.field("doc_ids", pa.list_(pa.string())),
        pa.field("graph", pa.string()),
        # the documents whose links and mentions become this entity's edges: one per distinct text, so
        # copies of a page served under other URLs (?ref=nav) do not double its edges
        pa.field("link_doc_ids", pa.list_(pa.string())),
    ),
    "edges": _schema(
        pa.field("src", pa.string()),  # entity id
        pa.field("dst", pa.string()),  # entity id
        pa.field("relation", pa.string()),  # infobox key or table header ("spouse"), else links_to / mentions
        pa.field("evidence", pa.string()),  # the sentence (or infobox line) that states it
        pa.field("kind", pa.string()),  # text | infobox | table | mention
        # whether `relation` is a property of src (an infobox key, a property column): only typed
        # edges are facts a question may state; links_to / mentions are untyped
        pa.field("typed", pa.bool_()),
        pa.field("anchor", pa.string()),  # the link text or the matched mention
        pa.field("doc_id", pa.string()),  # the document it was found in (also in parents)
        pa.field("graph", pa.string()),
    ),
    # --- tasks (synth/tasks)
    "subgraphs": _schema(
        pa.field("nodes", pa.list_(SUBGRAPH_NODE)),
        pa.field("edges", pa.list_(SUBGRAPH_EDGE)),
        pa.field("target", TARGET),
        pa.field("shape", pa.string()),  # Weisfeiler-Lehman hash of the topology: isomorphic = equal
        pa.field("seed_degree", pa.int32()),
        pa.field("graph", pa.string()),
    ),
    "tasks": TASKS,
    # every task that passed its checks, before selection: `tasks` holds those that are neither exact
    # nor near duplicates of another and fit the caps per answer and per relation (synth/tasks/select.py)
    "task_drafts": TASKS,
    # --- agent trajectories (synth/agent)
    "trajectories": _schema(
        pa.field("task_id", pa.string()),
        pa.field("mode", pa.string()),  # react | context | heavy
        pa.field("policy", pa.string()),  # teacher | scripted
        pa.field("model", pa.string()),  # the teacher model, or the scripted policy's name and version
        pa.field("sample_index", pa.int32()),  # which of the k samples of this task
        pa.field("messages", pa.list_(MESSAGE)),  # the whole conversation, system message first
        pa.field("answer", pa.string()),  # the text inside <answer>, or null
        pa.field("termination", pa.string()),  # answer | call_limit | token_limit | format_error | timeout | error
        pa.field("tool_calls", pa.int32()),
        pa.field("tokens", pa.int64()),  # the conversation's length in tokens (see `tokenizer`)
        pa.field("tokenizer", pa.string()),  # what counted `tokens`
        pa.field("duration_s", pa.float64()),
        pa.field("status", pa.string()),  # pending until judged: accepted | rejected
        pa.field("reason", pa.string()),  # why rejected (filters), or why it ended abnormally
        pa.field("question", pa.string()),
        pa.field("level", pa.int8()),
        pa.field("config", pa.string()),  # JSON: limits and settings that made it
    ),
    # one row per teacher or tool call, cached or not
    "requests": _schema(
        pa.field("kind", pa.string()),  # llm | tool
        pa.field("endpoint", pa.string()),  # base URL (never with credentials) or local index path
        pa.field("name", pa.string()),  # model name for llm calls, tool name for tool calls
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("latency_ms", pa.float64()),
        pa.field("retries", pa.int32()),
        pa.field("cache_hit", pa.bool_()),
        pa.field("error", pa.string()),  # null when the call succeeded
        pa.field("request_hash", pa.string()),  # the cache key
        pa.field("purpose", pa.string()),  # what asked: question_writer, agent, summarizer, judge, ...
        pa.field("at", TIMESTAMP),
    ),
    # one row per judged trajectory per filter setting: the verdict of the judge, the checks, the decision
    "judgments": _schema(
        pa.field("trajectory_id", pa.string()),
        pa.field("task_id", pa.string()),
        pa.field("level", pa.int8()),
        pa.field("judge", pa.string()),  # match-2 | llm:<model>
        pa.field("verdict", pa.string()),  # correct | incorrect | no_answer | error
        pa.field("score", pa.float64()),  # the judge's confidence or token F1, 0..1
        pa.field("reason", pa.string()),  # the judge's reason
        pa.field("failed_checks", pa.list_(pa.string())),  # trajectory checks that failed
        pa.field("status", pa.string()),  # accepted | rejected
        pa.field("rejection", pa.string()),  # null when accepted: judge_incorrect, no_answer, format_error, ...
        pa.field("detail", pa.string()),  # human-readable explanation of the decision
        pa.field("filter", pa.string()),  # hash of the filter settings that decided
        pa.field("at", TIMESTAMP),
    ),
    # the pass rate of every judged task under one filter setting
    "pass_rates": _schema(
        pa.field("task_id", pa.string()),
        pa.field("level", pa.int8()),
        pa.field("samples", pa.int32()),
        pa.field("correct", pa.int32()),  # samples the judge found correct
        pa.field("accepted", pa.int32()),  # samples that passed the judge and every check
        pa.field("no_answer", pa.int32()),  # rollouts without a final answer
        pa.field("pass_rate", pa.float64()),  # correct / samples
        pa.field("filter", pa.string()),
        pa.field("at", TIMESTAMP),
    ),
    # chat samples ready for a chat template; `train` marks the assistant turns the loss covers
    "sft_samples": _schema(
        pa.field("mode", pa.string()),  # react | context
        pa.field("messages", pa.list_(TRAIN_MESSAGE)),
        pa.field("trajectory_id", pa.string()),
        pa.field("task_id", pa.string()),
        pa.field("level", pa.int8()),
        pa.field("round", pa.int32()),  # context mode: which round of the trajectory (else null)
        pa.field("policy", pa.string()),
        pa.field("model", pa.string()),
        pa.field("tokens", pa.int64()),
        pa.field("tokenizer", pa.string()),
    ),
    # the RL task pool: tasks some but not all samples solve
    "rl_tasks": _schema(
        pa.field("task_id", pa.string()),
        pa.field("question", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("aliases", pa.list_(pa.string())),
        pa.field("answer_type", pa.string()),
        pa.field("level", pa.int8()),
        pa.field("pass_rate", pa.float64()),
        pa.field("samples", pa.int32()),
    ),
    # agentic continual pre-training text
    "cpt_samples": _schema(
        pa.field("kind", pa.string()),  # planning | reasoning | decision
        pa.field("text", pa.string()),
        pa.field("task_id", pa.string()),
        pa.field("trajectory_id", pa.string()),  # decision samples: the trajectory rewritten
        pa.field("level", pa.int8()),
        pa.field("stage", pa.string()),  # short | long: the CPT stage by length
        pa.field("tokens", pa.int64()),
        pa.field("tokenizer", pa.string()),
        pa.field("writer", pa.string()),  # what wrote it: template-1 or llm:<model>
    ),
    # an event log: one row per state change of a run; the `runs` view shows the latest
    "runs": _schema(
        pa.field("flow", pa.string()),
        pa.field("parameters", pa.string()),  # JSON object
        pa.field("code_version", pa.string()),
        pa.field("started_at", TIMESTAMP),
        pa.field("ended_at", TIMESTAMP),
        # running | completed | failed | crashed (its process gone without an end: see storage.runs)
        pa.field("status", pa.string()),
        pa.field("counts", pa.string()),  # JSON object: dataset -> rows added, quarantine reasons, ...
        pa.field("flow_run_id", pa.string()),
        pa.field("error", pa.string()),
        pa.field("updated_at", TIMESTAMP),
        # JSON {"read": {dataset: version}, "published": {dataset: version}}: the exact published
        # versions a run read (training) or made (filter_and_publish)
        pa.field("datasets", pa.string()),
        # the process that ran it (`storage.processes`): a later run tells a killed one from a live one
        pa.field("host", pa.string()),
        pa.field("pid", pa.int64()),
        pa.field("process_start", pa.string()),
    ),
}


def schema_for(dataset: str) -> pa.Schema:
    try:
        return SCHEMAS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; declared: {sorted(SCHEMAS)}") from None
