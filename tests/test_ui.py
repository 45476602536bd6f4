"""The story a pipeline run tells in the Prefect UI: its stages as subflow runs, batch task runs named `k/N`,
progress, counts, report and link artifacts keyed by the data root; and the UI itself, rendered by a real
`prefect server start` in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from drsynth.synth.corpus.demo import SITE_DIR
from tests.browser import Chromium, chromium_binary

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "build_graph", "synthesize_tasks", "synthesize_trajectories", "filter_and_publish")
BATCH_TASKS = ("extract-batch", "link-batch", "write-questions", "run-agents", "judge-batch", "build-sft",
               "build-cpt")
PROGRESS = ("extract", "graph-edges", "tasks", "trajectories", "filter")
# small, but more than one batch in each long stage
CONFIG = {"extract": {"workers": 1, "pages_per_task": 32}, "graph": {"docs_per_task": 32},
          "tasks": {"subgraphs": 24, "subgraphs_per_task": 8},
          "agent": {"tasks_per_level": 2, "tasks_per_batch": 3, "samples": 1},
          "filter": {"trajectories_per_batch": 3, "decontaminate": False}}
CONFIG_TOML = """[extract]\nworkers = 1\npages_per_task = 32\n[graph]\ndocs_per_task = 32\n
[tasks]\nsubgraphs = 24\nsubgraphs_per_task = 8\n[agent]\ntasks_per_level = 2\ntasks_per_batch = 3\nsamples = 1\n
[filter]\ntrajectories_per_batch = 3\ndecontaminate = false\n"""


def test_root_slug_is_key_safe_short_and_distinct_per_root(tmp_path: Path) -> None:
    from drsynth.flows.ui import artifact_key, root_slug

    a, b = root_slug(str(tmp_path / "x" / "My Data_1")), root_slug(str(tmp_path / "y" / "My Data_1"))
    assert re.fullmatch(r"[a-z0-9-]+", a) and a.startswith("my-data-1-") and a != b
    assert root_slug(str(tmp_path / "x" / "My Data_1")) == a  # stable
    assert artifact_key("filter_and_publish-counts", str(tmp_path / "x" / "My Data_1")) == f"filter-and-publish-counts-{a}"
    assert re.fullmatch(r"[a-z0-9-]+", root_slug("memory://"))


def test_counts_are_a_table_per_stage_with_warnings_first() -> None:
    from drsynth.flows.ui import counts_markdown

    text = counts_markdown("pipeline run r", {"ingest": {"documents": 3, "pages.added": 4, "zero": 0},
                                              "build_graph": {"graph": "g1"}, "synthesize_tasks": {}},
                           ["no benchmark sets loaded"])
    assert text.index("## Warnings") < text.index("## ingest") < text.index("## build_graph")
    assert "| documents | 3 |" in text and "| graph | g1 |" in text and "zero" not in text
    assert "## synthesize_tasks\n\nnothing to do" in text


def _pipeline_story(out: str) -> dict:
    """What the Prefect API holds of the pipeline run of `out`."""
    from prefect.client.orchestration import get_client

    async def read() -> dict:
        async with get_client() as client:
            flows = {f.id: f.name for f in await client.read_flows(limit=50)}
            runs = await client.read_flow_runs(limit=50)
            tasks = await client.read_task_runs(limit=200)
            artifacts = await client.read_artifacts(limit=200)
        by_id = {t.id: t for t in tasks}
        named = [(flows[r.flow_id], r) for r in runs]
        [pipeline_run] = [r for name, r in named if name == "pipeline"]
        children = {name: by_id[r.parent_task_run_id].flow_run_id if r.parent_task_run_id in by_id else None
                    for name, r in named if name != "pipeline"}
        return {"pipeline": pipeline_run, "children": children, "tasks": [t.name for t in tasks],
                "artifacts": {a.key: a for a in artifacts if a.key}}

    return asyncio.run(read())


@pytest.mark.slow
def test_pipeline_stages_are_subflows_with_batches_named_and_artifacts_keyed_by_root(tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from drsynth.flows.pipeline import pipeline
    from drsynth.flows.ui import root_slug
    from drsynth.storage.runs import latest_events
    from drsynth.storage.store import Store

    out = str(tmp_path / "data")
    with prefect_test_harness(server_startup_timeout=180):
        result = pipeline(sources=[str(SITE_DIR / "wiki")], out=out, config=CONFIG)
        story = _pipeline_story(out)
    assert result["published"], result
    # every stage a child flow run of the pipeline's run, and the stages recorded into its one `runs` row
    assert story["children"] == dict.fromkeys(STAGES, story["pipeline"].id)
    assert [r["flow"] for r in latest_events(Store(out)).values()] == ["pipeline"]
    # every batch task run says which batch of how many
    batch_runs = [n for n in story["tasks"] if n.split(" ", 1)[0] in BATCH_TASKS]
    for name in batch_runs:
        match = re.fullmatch(r"[a-z-]+ (?:wave \d+ )?(\d+)/(\d+)", name)
        assert match and 1 <= int(match[1]) <= int(match[2]), name
    for task in BATCH_TASKS[:5]:
        assert any(n.startswith(f"{task} ") for n in batch_runs), (task, batch_runs)
    assert {"extract-batch 1/3", "extract-batch 3/3"} <= set(batch_runs)  # 78 pages in batches of 32
    # artifacts keyed by the root: progress of each long stage (done), counts per stage, reports, links
    slug, artifacts = root_slug(out), story["artifacts"]
    for stage in PROGRESS:
        progress = artifacts[f"{stage}-progress-{slug}"]
        assert progress.type == "progress" and float(progress.data) == 100.0, (stage, progress.data)
    counts = artifacts[f"pipeline-counts-{slug}"]
    assert counts.type == "markdown"
    assert [line[3:] for line in counts.data.splitlines() if line.startswith("## ") and line != "## Warnings"] == \
        list(STAGES)
    assert "| documents | 78 |" in counts.data
    for stage in STAGES:
        assert artifacts[f"{stage.replace('_', '-')}-counts-{slug}"].type == "markdown"
    for report in ("graph-report", "task-report", "filter-report", "published"):
        assert artifacts[f"{report}-{slug}"].type == "markdown", report
    catalog = artifacts[f"catalog-{slug}"]
    # (Prefect stores a link artifact as markdown: `[text](link)`)
    assert re.fullmatch(r"\[catalog of .+\]\(file:///.+/catalog\.duckdb\)", catalog.data), catalog.data
    published = artifacts[f"published-{slug}"].data
    assert all(name in published for name in result["published"].values())


# -- the UI in a browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `prefect server start` (SQLite, its own PREFECT_HOME, a free port) with its UI."""
    from tests.test_deployments import _free_port, _stop

    base = tmp_path_factory.mktemp("prefect-ui")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRSYNTH_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(base / "home"), PREFECT_API_URL=url, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="true", PYTHONUNBUFFERED="1")
    with open(base / "server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (base / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no healthy Prefect server in 120 s"
            time.sleep(1)
        yield env
    finally:
        _stop(proc)


def _api(env: dict[str, str], path: str, body: dict) -> list[dict]:
    request = urllib.request.Request(f"{env['PREFECT_API_URL']}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_the_ui_shows_a_pipeline_run_with_its_stage_subflows_and_artifacts(ui_server: dict[str, str],
                                                                           tmp_path: Path) -> None:
    browser = chromium_binary()
    if browser is None:
        pytest.skip("no chromium binary found (Debian: apt-get install -y chromium)")
    from drsynth.flows.ui import root_slug

    config, out = tmp_path / "drsynth.toml", tmp_path / "data"
    config.write_text(CONFIG_TOML)
    run = subprocess.run([sys.executable, "-m", "drsynth.flows.cli", "run", "--source", str(SITE_DIR / "wiki"), "--out", str(out),
                          "--config", str(config)], cwd=REPO, env=ui_server, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    flows = {f["id"]: f["name"] for f in _api(ui_server, "/flows/filter", {})}
    runs = _api(ui_server, "/flow_runs/filter", {})
    [pipeline_run] = [r for r in runs if flows[r["flow_id"]] == "pipeline"]
    children = {flows[r["flow_id"]]: r["name"] for r in runs if r["id"] != pipeline_run["id"]}
    assert set(children) == set(STAGES)
    base = ui_server["PREFECT_API_URL"].removesuffix("/api")

    slug = root_slug(str(out))
    chromium = Chromium(browser, tmp_path / "chromium-profile")
    try:
        # the run's page: its graph, and the stages under Subflow Runs, each by flow and run name
        chromium.goto(f"{base}/runs/flow-run/{pipeline_run['id']}")
        chromium.wait_for(pipeline_run["name"], "Subflow Runs")
        chromium.click("Subflow Runs")
        text = chromium.wait_for(*STAGES, *children.values())
        chromium.screenshot(tmp_path / "pipeline-subflows.png")
        missing = [s for s in (*STAGES, *children.values()) if s not in text]
        assert not missing, (missing, text[-3000:])
        # its artifacts: the counts per stage, the catalog and the published versions, keyed by the root
        chromium.click("Artifacts")
        keys = [f"pipeline-counts-{slug}", f"catalog-{slug}", f"published-{slug}"]
        text = chromium.wait_for(*keys)
        chromium.screenshot(tmp_path / "pipeline-artifacts.png")
        assert all(k in text for k in keys), (keys, text[-3000:])
        # the Artifacts page: the stages' progress and reports of this root, beside the others
        chromium.goto(f"{base}/artifacts")
        keys = [f"{stage}-progress-{slug}" for stage in PROGRESS] + [f"filter-report-{slug}", f"graph-report-{slug}"]
        text = chromium.wait_for(*keys)
        chromium.screenshot(tmp_path / "artifacts.png")
        assert all(k in text for k in keys), (keys, text[-3000:])
    finally:
        chromium.close()
