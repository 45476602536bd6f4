"""The `drsynth` command: demo, run, filter, published, train, sql, trace, graph, audit, catalog, worker."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from drsynth.flows import lifeline
from drsynth.flows.cli_train import add_train_parser

DEMO_CRAWL = {
    # the bundled site is ours and local: crawl it briskly, and allow its loopback address
    "max_depth": 3,
    "rate_per_host": 50.0,
    "per_host_concurrency": 4,
    "allow_private": True,
}


def _config(path: str | None) -> dict:
    import tomllib

    from drsynth.synth.corpus.config import load_toml
    from drsynth.synth.sections import one_line
    from drsynth.synth.settings import Settings, pipeline_tables

    try:
        data = pipeline_tables(load_toml(path)) if path else {}
        Settings.from_dict(data)  # fail fast, before any flow starts, on a bad file
    except (OSError, tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
        raise UserError(f"config {path}: {one_line(exc)}") from exc
    return data


# the demo shows every stage in a minute or two: agents run on a fixed sample of the tasks
DEMO_AGENT = {"tasks_per_level": 20}


def _with_teacher(config: dict, args: argparse.Namespace) -> dict:
    """--teacher-url/--teacher-model: questions written by an OpenAI-compatible model instead of templates."""
    if not (args.teacher_url or args.teacher_model):
        return config
    if not (args.teacher_url and args.teacher_model):
        raise UserError("--teacher-url and --teacher-model go together")
    tasks = dict(config.get("tasks", {}))
    tasks["writer"] = "teacher"
    tasks["teacher"] = {**tasks.get("teacher", {}), "base_url": args.teacher_url, "model": args.teacher_model}
    teacher = {**config.get("teacher", {}), "base_urls": [args.teacher_url], "model": args.teacher_model}
    agent = {**config.get("agent", {}), "policy": "teacher"}
    return _checked({**config, "tasks": tasks, "teacher": teacher, "agent": agent}, "--teacher-url/--teacher-model")


def _checked(data: dict, where: str) -> dict:
    from drsynth.synth.sections import one_line
    from drsynth.synth.settings import Settings

    try:
        Settings.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{where}: {one_line(exc)}") from exc
    return data


def _summary(out: str) -> None:
    import duckdb

    from drsynth.storage.catalog import catalog_path
    from drsynth.storage.schemas import SCHEMAS
    from drsynth.storage.store import Store

    store = Store(out)
    catalog = catalog_path(store)
    con = duckdb.connect(catalog, read_only=True)
    print()
    print(f"Data:     {store.uri}")
    for view in SCHEMAS:
        print(f"  {view:<12} {con.execute(f'SELECT count(*) FROM {view}').fetchone()[0]:>8} rows")
    con.close()
    from drsynth.storage.published import publications

    newest = {p.dataset: p for p in publications(store)}
    if newest:
        print("Published:")
        for name in sorted(newest):
            print(f"  {newest[name].name:<36} {newest[name].rows:>8} rows")
    print(f"Catalog:  {catalog}")
    print("Explore:")
    print(f"  duckdb {catalog}            # the DuckDB CLI, if installed")
    print(f"  drsynth sql --out {out} \"SELECT title, url FROM documents LIMIT 10\"")
    print(f"  drsynth sql --out {out} \"SELECT stage, reason, count(*) FROM quarantine GROUP BY ALL\"")
    print(f"  drsynth sql --out {out} \"SELECT level, question, answer FROM tasks ORDER BY level LIMIT 12\"")
    print(f"  drsynth sql --out {out} \"SELECT level, status, reason, count(*) FROM trajectories GROUP BY ALL ORDER BY ALL\"")
    print(f"  drsynth published --out {out}        # the published training sets and their versions")


def cmd_demo(args: argparse.Namespace) -> int:
    from drsynth.flows.pipeline import pipeline
    from drsynth.synth.corpus.demo import DEMO_HOST
    from drsynth.synth.corpus.demo.server import DemoSiteServer

    config = _with_teacher(_config(args.config), args)
    with DemoSiteServer() as server:
        crawl = {**DEMO_CRAWL, **config.get("crawl", {}), "resolve": {DEMO_HOST: f"127.0.0.1:{server.port}"}}
        agent = {**DEMO_AGENT, **config.get("agent", {})}
        print(f"Serving the bundled demo site at {server.base_url} as http://{DEMO_HOST}/")
        result = pipeline(sources=[f"http://{DEMO_HOST}/"], out=args.out,
                          config={**config, "crawl": crawl, "agent": agent})
    _summary(args.out)
    _warnings(result)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from drsynth.flows.pipeline import pipeline

    sources = [s if s.startswith(("http://", "https://")) else os.path.abspath(s) for s in args.source]
    result = pipeline(sources=sources, out=args.out, config=_with_teacher(_config(args.config), args))
    _summary(args.out)
    _warnings(result)
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    from drsynth.flows.filter_and_publish import filter_and_publish

    _existing_store(args.out)
    result = filter_and_publish(out=args.out, config=_config(args.config))
    for version in sorted(result["published"].values()):
        print(f"published {version}")
    _warnings(result)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from drsynth.flows.worker import serve

    extra = args.prefect_args[1:] if args.prefect_args[:1] == ["--"] else args.prefect_args
    return serve(args.pool, extra, args.grace_period)


def _warnings(result: dict) -> None:
    """The run's warnings (a source that yielded nothing, no benchmark sets, nothing to publish), last."""
    for message in result.get("warnings") or []:
        print(f"warning: {message}")


def cmd_published(args: argparse.Namespace) -> int:
    from drsynth.storage.published import publications

    store = _existing_store(args.out)
    found = publications(store, args.dataset)
    if not found:
        raise UserError(f"{args.out} has no published {args.dataset or 'dataset'} yet: run `drsynth filter` first")
    for p in found:
        print(f"{p.created_at}  {p.name:<36} {p.rows:>8} rows  run {p.run_id}")
    return 0


class UserError(Exception):
    """A mistake the user can fix; printed as one line, no traceback."""


class Stopped(BaseException):
    """SIGTERM or SIGHUP: the run stops (recorded as failed, with this reason) and the CLI exits 128 + signal.
    A BaseException, so that no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


# after SIGTERM, how long the shutdown may take (threads finishing their batch, the Prefect server
# stopping) before the process exits anyway; a second SIGTERM exits at once
STOP_GRACE_S = 30.0


def _stop(signum: int, _frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)
    timer = threading.Timer(STOP_GRACE_S, os._exit, (128 + signum,))
    timer.daemon = True
    timer.start()
    raise Stopped(signum)


def _handle_stop_signals() -> None:
    """SIGTERM/SIGHUP raise `Stopped` in the main thread. Inside a flow Prefect's own SIGTERM handler comes
    first (the flow run is marked crashed and `runs` records the failure), then re-sends the signal to
    this one."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)


def _existing_store(out: str):
    from drsynth.storage.store import Store

    if "://" not in out and not os.path.isdir(out):
        raise UserError(f"{out} does not exist: give the --out of an earlier run")
    return Store(out)


def _open_catalog(out: str):
    """A read-only connection to an existing root's catalog (built first if missing)."""
    import duckdb

    from drsynth.storage.catalog import build_catalog, catalog_path

    store = _existing_store(out)
    path = catalog_path(store)
    if not os.path.exists(path):
        build_catalog(store)
    con = duckdb.connect(path, read_only=True)
    if not store.root.is_local:
        con.register_filesystem(store.root.fs)
    return con


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    con = _open_catalog(args.out)
    try:
        result = con.sql(args.query)
        if result is not None:  # statements such as SET return no relation
            result.show(max_rows=args.max_rows, max_width=args.max_width)
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from drsynth.storage.lineage import describe, find_dataset, walk

    con = _open_catalog(args.out)
    try:
        dataset = find_dataset(con, args.id)
        if dataset is None:
            raise UserError(f"{args.id} appears in no lineage edge of {args.out}")
        print(f"{dataset} {args.id}  {describe(con, dataset, args.id)}")
        for depth, rid, ds, _via in walk(con, args.id, forward=args.forward):
            print(f"{'  ' * depth}{'->' if args.forward else '<-'} {ds} {rid}  {describe(con, ds, rid)}")
    finally:
        con.close()
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from drsynth.flows.synthesize_tasks import newest_graph
    from drsynth.synth.graph import graph_report, report_markdown

    store = _existing_store(args.out)
    version = args.graph or newest_graph(store)
    if version is None:
        raise UserError(f"{args.out} has no knowledge graph yet: run `drsynth demo` or `drsynth run` first")
    print(report_markdown(graph_report(store, version)))
    from drsynth.synth.tasks.audit import run_audit

    with contextlib.suppress(LookupError):  # (no task of this graph yet)
        # the task pool of this graph: distinct answers, top answers, duplicates
        print("\n## Tasks\n\n" + run_audit(store, graph=version, write=False).text)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from drsynth.synth.tasks.audit import run_audit

    store = _existing_store(args.out)
    if args.sample < 1:
        raise UserError("--sample must be at least 1")
    try:
        audit = run_audit(store, graph=args.graph, sample=args.sample, seed=args.seed, sheet=args.sheet)
    except LookupError as exc:
        raise UserError(f"{exc}: run `drsynth demo` or `drsynth run` first") from exc
    print(audit.text)
    print()
    for kind, path in audit.result["files"].items():
        print(f"{kind + ':':<10}{path}")
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from drsynth.storage.catalog import build_catalog
    from drsynth.storage.runs import mark_crashed

    store = _existing_store(args.out)
    for run_id in mark_crashed(store):  # runs whose process is gone show as crashed, not running
        print(f"run {run_id} crashed: its process is gone")
    if args.vacuum:
        for path in store.vacuum(min_age_s=args.grace):
            print(f"removed uncommitted {path}")
    print(build_catalog(store))
    return 0


def _teacher_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--teacher-url", help="an OpenAI-compatible endpoint (e.g. vllm serve) that writes the "
                                               "questions and drives the agents; its API key comes from "
                                               "$DRSYNTH_TEACHER_API_KEY")
    command.add_argument("--teacher-model", help="the model name to ask at --teacher-url")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="drsynth", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the whole pipeline on the bundled demo corpus, crawled from a local server")
    demo.add_argument("--out", default="data", help="output root (default: ./data)")
    demo.add_argument("--config", help="TOML settings file (see README)")
    _teacher_arguments(demo)
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="the whole pipeline on your sources")
    run.add_argument("--source", action="append", required=True,
                     help=("a directory of HTML, a .warc/.warc.gz, a .json/.jsonl text corpus, a MediaWiki XML dump "
                           "(.xml/.xml.bz2/.xml.gz), a Kiwix .zim file, or an http(s) seed URL; repeatable"))
    run.add_argument("--out", required=True, help="output root: a local path or an fsspec URL")
    run.add_argument("--config", help="TOML settings file (see README)")
    _teacher_arguments(run)
    run.set_defaults(func=cmd_run)

    filt = sub.add_parser("filter", help="judge, screen and publish the training sets of an output root again "
                                          "(e.g. with other [filter] settings)")
    filt.add_argument("--out", default="data")
    filt.add_argument("--config", help="TOML settings file (see README)")
    filt.set_defaults(func=cmd_filter)

    pub = sub.add_parser("published", help="the published versions of sft_samples, rl_tasks and cpt_samples")
    pub.add_argument("--out", default="data")
    pub.add_argument("--dataset", choices=["sft_samples", "rl_tasks", "cpt_samples"])
    pub.set_defaults(func=cmd_published)

    add_train_parser(sub)

    sql = sub.add_parser("sql", help="query the catalog of an output root")
    sql.add_argument("--out", default="data")
    sql.add_argument("--max-rows", type=int, default=40)
    sql.add_argument("--max-width", type=int, default=160)
    sql.add_argument("query")
    sql.set_defaults(func=cmd_sql)

    trace = sub.add_parser("trace", help="a record's lineage: back to its source URL, or --forward to what it fed")
    trace.add_argument("id")
    trace.add_argument("--out", default="data")
    trace.add_argument("--forward", action="store_true")
    trace.set_defaults(func=cmd_trace)

    graph = sub.add_parser("graph", help="the knowledge graph report: counts, degrees, components, hubs")
    graph.add_argument("--out", default="data")
    graph.add_argument("--graph", help="a graph version (default: the newest)")
    graph.set_defaults(func=cmd_graph)

    audit = sub.add_parser("audit", help="the task audit: defect and diversity signals, and a review sheet "
                                          "(Markdown and HTML) of sampled tasks to mark by hand")
    audit.add_argument("--out", default="data")
    audit.add_argument("--sample", type=int, default=30, help="tasks per level on the review sheet (default 30)")
    audit.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    audit.add_argument("--graph", help="a graph version (default: the newest with tasks)")
    audit.add_argument("--sheet", help="the Markdown sheet's path; the .html and audit.json go beside it "
                                       "(default: DIR/_audit/review.md)")
    audit.set_defaults(func=cmd_audit)

    cat = sub.add_parser("catalog", help="rebuild the DuckDB catalog from the manifests")
    cat.add_argument("--out", default="data")
    cat.add_argument("--vacuum", action="store_true",
                     help="first delete shard files no commit names (only while no run writes to DIR)")
    cat.add_argument("--grace", type=float, default=3600.0,
                     help="with --vacuum: keep unnamed files younger than this many seconds (default 3600)")
    cat.set_defaults(func=cmd_catalog)

    worker = sub.add_parser("worker", help="a Prefect process worker on a pool that stops on SIGTERM once its runs in flight end "
                                           "(at most --grace-period seconds; infra/README.md)")
    worker.add_argument("--pool", required=True, help="the work pool (e.g. drsynth-cpu)")
    worker.add_argument("--grace-period", type=float, default=60.0,
                        help="seconds the runs in flight get to finish once asked to stop (default 60)")
    worker.add_argument("prefect_args", nargs=argparse.REMAINDER,
                        help="after --: more `prefect worker start` options (--limit N, --name NAME, ...)")
    worker.set_defaults(func=cmd_worker)
    return top


def main(argv: Sequence[str] | None = None, guard: bool | None = None) -> int:
    """The CLI. As a program (`argv` None, or `guard`) its child processes end with it (`flows.lifeline`)
    and SIGTERM stops it cleanly; called in-process (tests) it leaves the caller's signals alone."""
    args = parser().parse_args(argv)
    if guard is None:
        guard = argv is None
    if guard:
        lifeline.start()
        _handle_stop_signals()
    # the server's telemetry heartbeat phones home (there is no network here) and, on the ephemeral
    # server's fresh SQLite file, races its migrations into a "database is locked" traceback
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the ephemeral server migrates a fresh SQLite database first: on a busy two-core machine that
    # takes longer than Prefect's 20 s default
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if getattr(args, "out", None) and "://" not in args.out:
        args.out = str(Path(args.out).resolve())
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Stopped as exc:
        print(f"error: {exc} (a run it stopped is recorded as failed in `runs`; a rerun resumes it)", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("error: interrupted (a run it stopped is recorded as failed in `runs`; a rerun resumes it)",
              file=sys.stderr)
        return 128 + signal.SIGINT
    except Exception as exc:
        if os.environ.get("DRSYNTH_DEBUG"):
            raise
        # the flow's own log above holds the traceback; the run is recorded as failed in `runs`
        print(f"error: {type(exc).__name__}: {exc} (set DRSYNTH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
