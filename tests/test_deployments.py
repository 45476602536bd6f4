"""infra/prefect.yaml as an operator and a CI job use it: a real `prefect server start` (SQLite, its own
PREFECT_HOME, a free port, its UI), a process work pool, `prefect deploy`, a worker, `prefect deployment run
--watch`, the deployments page in headless Chromium. Also the deployment steps on their own
(flows/deployment_steps.py): the variable check and the code pull."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from drsynth.flows.deployment_steps import FOLDERS, MARKER, MissingEnvironment, require_env, use_code

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
DRSYNTH = str(Path(sys.executable).with_name("drsynth"))
DEPLOY = [PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml"]
POOL = "drsynth-cpu"
SETS = {"sft_samples", "rl_tasks", "cpt_samples"}


# -- the steps, without a server ---------------------------------------------------------------------------

def test_require_env_names_every_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRSYNTH_OUT", raising=False)
    monkeypatch.setenv("DRSYNTH_SEED_URL", "")
    with pytest.raises(MissingEnvironment) as caught:
        require_env(["DRSYNTH_OUT", "DRSYNTH_SEED_URL"])
    assert "DRSYNTH_OUT, DRSYNTH_SEED_URL" in str(caught.value.code)
    # a SystemExit: `prefect deploy` prints the message alone and exits 1, instead of a traceback
    assert isinstance(caught.value, SystemExit)


@pytest.mark.parametrize("value", ["data", "./data", "/srv/data/"])
def test_require_env_refuses_a_root_the_worker_would_read_elsewhere(monkeypatch: pytest.MonkeyPatch,
                                                                    value: str) -> None:
    monkeypatch.setenv("DRSYNTH_OUT", value)
    with pytest.raises(MissingEnvironment, match="absolute path or a URL"):
        require_env(["DRSYNTH_OUT"], absolute=["DRSYNTH_OUT"])


@pytest.mark.parametrize("value", ["/srv/data", "s3://bucket/drsynth"])
def test_require_env_returns_the_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DRSYNTH_OUT", value)
    assert require_env(["DRSYNTH_OUT"], absolute=["DRSYNTH_OUT"]) == {"DRSYNTH_OUT": value}


def test_use_code_defaults_to_the_installed_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DRSYNTH_GIT_URL", raising=False)
    monkeypatch.delenv("DRSYNTH_CODE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert use_code() == {"directory": str(REPO)}
    assert Path.cwd() == REPO


def test_use_code_refuses_a_directory_without_the_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DRSYNTH_GIT_URL", raising=False)
    monkeypatch.setenv("DRSYNTH_CODE_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="DRSYNTH_CODE_DIR"):
        use_code()


def test_use_code_runs_a_git_clone_ahead_of_the_installed_code(tmp_path: Path) -> None:
    """DRSYNTH_GIT_URL: the clone's modules are the ones imported, even those already loaded."""
    repo = tmp_path / "repo"
    for folder in FOLDERS:
        (repo / folder).mkdir(parents=True)
        (repo / folder / "__init__.py").write_text("")
    (repo / MARKER).write_text("WHERE = 'clone'\n")
    (repo / "storage" / "store.py").write_text("WHERE = 'clone'\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "code"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    work = tmp_path / "run"
    work.mkdir()
    # a fresh interpreter: the step rewrites sys.modules and sys.path, which this process must keep
    probe = ("from drsynth.flows.deployment_steps import use_code; d = use_code(); "
             "import drsynth.flows.pipeline as p; print(d['directory'], p.WHERE, p.__file__)")
    child = "import drsynth.storage.store as s; print(s.WHERE)"
    env = {**os.environ, "DRSYNTH_GIT_URL": repo.as_uri(), "DRSYNTH_GIT_REF": "main"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=work, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    directory, where, module = result.stdout.split()[-3:]
    assert where == "clone"
    assert Path(directory).parent == work and Path(module).resolve().is_relative_to(directory)
    # a process the run starts (an extraction worker, a training rank) imports the clone's code too
    probe = probe.replace("print(", "import subprocess, sys; subprocess.run([sys.executable, '-c', "
                          f"{child!r}], check=True); print(", 1)
    result = subprocess.run([sys.executable, "-c", probe], cwd=work, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[0] == "clone"


# -- the deployment files, read ----------------------------------------------------------------------------

DEPLOYMENT_FILES = ("infra/prefect.yaml", "infra/prefect-train.yaml")
ENV_PLACEHOLDER = re.compile(r"{{\s*\$(\w+)\s*}}")


def _deployments(path: str) -> list[dict]:
    return yaml.safe_load((REPO / path).read_text())["deployments"]


@pytest.mark.parametrize("path", DEPLOYMENT_FILES)
def test_every_variable_a_deployment_uses_is_required_by_its_build(path: str) -> None:
    """A `{{ $VAR }}` that no require_env step names would be saved as '' when unset: the bug this guards."""
    for deployment in _deployments(path):
        used = set(ENV_PLACEHOLDER.findall(yaml.safe_dump({k: v for k, v in deployment.items() if k != "build"})))
        required = {name for step in deployment.get("build") or []
                    for name in step.get("drsynth.flows.deployment_steps.require_env", {}).get("names", [])}
        assert used <= required, f"{deployment['name']}: {sorted(used - required)} used but not required"
        # an entrypoint is a flow of the installed package, never a path into one checkout
        module, name = deployment["entrypoint"].split(":")
        assert module.startswith("drsynth.flows.") and hasattr(importlib.import_module(module), name), module


def test_training_runs_take_the_version_and_root_from_the_event() -> None:
    for deployment in _deployments("infra/prefect-train.yaml"):
        (trigger,) = deployment["triggers"]
        assert trigger["expect"] == ["drsynth.dataset.published"]
        assert trigger["parameters"] == {"version": "{{ event.payload.version }}", "data": "{{ event.payload.root }}"}


def test_the_cpu_file_needs_no_gpu_pool() -> None:
    """CI deploys infra/prefect.yaml --all with only drsynth-cpu created."""
    assert {d["work_pool"]["name"] for d in _deployments("infra/prefect.yaml")} == {POOL}


# -- a real server ----------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """The process and everything it started, also flow runs in sessions of their own. A Prefect worker
    takes its first SIGTERM as a request to drain (it may keep running), so the rest are killed."""
    with contextlib.suppress(psutil.NoSuchProcess):
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(family, timeout=10)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=10)
    proc.wait(timeout=10)


def _cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-6000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Prefect server with the `drsynth-cpu` process pool; yields the environment that talks to it."""
    base = tmp_path_factory.mktemp("prefect-server")
    url = f"http://127.0.0.1:{_free_port()}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRSYNTH_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(base / "home"), PREFECT_API_URL=url, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="true", PREFECT_WORKER_QUERY_SECONDS="2", PYTHONUNBUFFERED="1",
               COLUMNS="250",  # the CLI's console wraps at 80 columns without a terminal
               # as infra/README.md sets up a server: `--watch` then streams the run's log, its error included
               PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED="true", PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED="true")
    port = url.rsplit(":", 1)[1].split("/")[0]
    with open(base / "server.log", "w") as log:
        proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
                                cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    break
            assert proc.poll() is None, (base / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no healthy Prefect server in 180 s"
            time.sleep(1)
        created = _cli(env, PREFECT, "work-pool", "create", POOL, "--type", "process")
        assert created.returncode == 0, _output(created)
        yield env
    finally:
        _stop(proc)


@pytest.mark.slow
def test_deploy_fails_naming_the_missing_variable(server: dict[str, str]) -> None:
    result = _cli(server, *DEPLOY)
    assert result.returncode != 0
    assert "set the environment variable DRSYNTH_OUT" in _output(result)
    assert "Traceback" not in _output(result)
    listed = _cli(server, PREFECT, "deployment", "ls")
    assert listed.returncode == 0, _output(listed)
    assert "demo" not in listed.stdout  # nothing saved with an empty root


@pytest.fixture(scope="module")
def worker(server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """Every deployment of infra/prefect.yaml deployed as the operator guide says, and a worker on the pool."""
    out = tmp_path_factory.mktemp("deployed") / "data"
    # the seed is never crawled here: the nightly deployment only needs one to deploy
    env = {**server, "DRSYNTH_OUT": str(out), "DRSYNTH_SEED_URL": "http://127.0.0.1:9/"}
    deployed = _cli(env, *DEPLOY)
    assert deployed.returncode == 0, _output(deployed)
    with open(out.parent / "worker.log", "w") as log:
        proc = subprocess.Popen([PREFECT, "worker", "start", "--pool", POOL], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        yield env, out
    finally:
        _stop(proc)


@pytest.mark.slow
def test_demo_deployment_runs_and_publishes(worker: tuple[dict[str, str], Path]) -> None:
    from drsynth.storage.published import publications
    from drsynth.storage.store import Store

    env, out = worker
    result = _cli(env, PREFECT, "deployment", "run", "pipeline/demo", "--watch", timeout=420)
    assert result.returncode == 0, _output(result) + (out.parent / "worker.log").read_text()[-4000:]
    published = {p.dataset: p for p in publications(Store(str(out / "demo")))}
    assert set(published) == SETS
    assert all(p.rows > 0 for p in published.values()), published


@pytest.mark.slow
def test_a_run_with_a_missing_source_fails_with_the_reason(worker: tuple[dict[str, str], Path],
                                                           tmp_path: Path) -> None:
    env, _ = worker
    missing = tmp_path / "no-such-corpus"
    result = _cli(env, PREFECT, "deployment", "run", "ingest/ingest-on-demand", "-p", f'sources=["{missing}"]',
                  "--watch", timeout=300)
    assert result.returncode != 0, _output(result)
    # the reason, from the run's log: not the parameters echoed when the run is created
    reason = [line for line in _output(result).splitlines() if "yielded no pages" in line]
    assert reason and str(missing) in reason[-1], _output(result)


def _daily_cron_as_the_ui_says_it(cron: str) -> str:
    """How the UI (cronstrue) words a once-a-day cron: '0 2 * * *' is 'At 02:00 AM every day'."""
    minute, hour, *rest = cron.split()
    assert rest == ["*", "*", "*"] and minute.isdigit() and hour.isdigit(), f"not a daily cron: {cron!r}"
    return f"At {dt.time(int(hour), int(minute)):%I:%M %p} every day"


@pytest.mark.slow
def test_the_ui_lists_every_deployment_with_the_nightly_schedule(worker: tuple[dict[str, str], Path],
                                                                 tmp_path: Path) -> None:
    """The deployments page of the server's UI, rendered in headless Chromium, as an operator opens it:
    every deployment of infra/prefect.yaml, and the nightly one with its schedule in its row."""
    from tests.browser import Chromium, chromium_binary

    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary found (Debian: apt-get install -y chromium)")
    env, _ = worker
    deployments = _deployments("infra/prefect.yaml")
    names = sorted(d["name"] for d in deployments)
    [nightly] = [d for d in deployments if d["name"] == "nightly"]
    [schedule] = nightly["schedules"]
    shown = _daily_cron_as_the_ui_says_it(schedule["cron"])
    base = env["PREFECT_API_URL"].removesuffix("/api")
    chromium = Chromium(binary, tmp_path / "chromium-profile")
    try:
        chromium.goto(f"{base}/deployments")
        text = chromium.wait_for(f"{len(names)} Deployments", *names, shown)
        chromium.screenshot(tmp_path / "deployments.png")
    finally:
        chromium.close()
    assert f"{len(names)} Deployments" in text, text[-3000:]
    # a row's text runs from its deployment's name to the next name, whatever the order
    lines = [line.strip() for line in text.splitlines()]
    assert not [n for n in names if n not in lines], (names, text[-3000:])
    starts = sorted(lines.index(n) for n in names)
    rows = {lines[a]: lines[a:b] for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)}
    assert shown in rows["nightly"], (shown, rows["nightly"])
    assert not [n for n, row in rows.items() if n != "nightly" and any(r.startswith("At ") for r in row)], rows


def _api(env: dict[str, str], path: str, body: dict | None = None) -> dict | list:
    """One call to the server's REST API (POST when `body` is given)."""
    request = urllib.request.Request(f"{env['PREFECT_API_URL']}/{path}", method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _flow_runs(env: dict[str, str], deployment: str) -> list[dict]:
    """The flow runs of `deployment` ('flow/name') on the server, read from its API."""
    deployment_id = _api(env, f"deployments/name/{deployment}")["id"]
    return _api(env, "flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})


@pytest.mark.slow
def test_a_bad_setting_is_refused_before_a_run_starts(worker: tuple[dict[str, str], Path]) -> None:
    """The deployment's parameter schema is the settings model's: a value of the wrong type or out of its
    range is refused when the run is asked for (no run is created); a rule across keys, which a JSON schema
    cannot state, fails the run as its parameters are validated, before any stage, naming the keys."""
    env, out = worker
    before = len(_flow_runs(env, "build_graph/graph-on-demand"))
    # a wrong type, a value out of range, a value not among the choices, an unknown key (a typo)
    for key, bad in (("min_alias_chars", '"four"'), ("docs_per_task", "0"), ("mention_linking", '"sometimes"'),
                     ("mention_linkin", '"never"')):
        result = _cli(env, PREFECT, "deployment", "run", "build_graph/graph-on-demand", "-p",
                      f'config={{"graph": {{"{key}": {bad}}}}}')
        assert result.returncode != 0, _output(result)
        assert key in _output(result), _output(result)
    assert len(_flow_runs(env, "build_graph/graph-on-demand")) == before

    result = _cli(env, PREFECT, "deployment", "run", "synthesize_tasks/tasks-on-demand", "-p",
                  'config={"tasks": {"min_edges": 5, "max_edges": 2}}', "--watch", timeout=300)
    assert result.returncode != 0, _output(result)
    [run] = _flow_runs(env, "synthesize_tasks/tasks-on-demand")
    assert run["state"]["type"] == "FAILED" and "max_edges" in run["state"]["message"], run["state"]
    assert not (out / "tasks").exists()


@pytest.mark.slow
def test_the_ui_renders_the_settings_form_with_defaults_and_descriptions(worker: tuple[dict[str, str], Path],
                                                                         tmp_path: Path) -> None:
    """The demo deployment's custom-run page, rendered in headless Chromium: its `config` parameter is a form
    of the settings model, each section with its description and each key with its own."""
    from drsynth.synth.corpus.crawler import CrawlConfig
    from drsynth.synth.settings import Settings
    from tests.browser import Chromium, chromium_binary

    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary found (Debian: apt-get install -y chromium)")
    env, _ = worker
    url = env["PREFECT_API_URL"]
    deployment = _api(env, "deployments/name/pipeline/demo")
    # the schema the server checks runs against holds every default: what the form is filled with
    definitions = deployment["parameter_openapi_schema"]["definitions"]
    assert definitions["CrawlConfig"]["properties"]["max_pages"]["default"] == CrawlConfig().max_pages
    sections = [field.description.splitlines()[0] for field in Settings.model_fields.values()]
    keys = [CrawlConfig.model_fields[name].description.splitlines()[0] for name in ("max_depth", "max_pages")]
    chromium = Chromium(binary, tmp_path / "chromium-profile")
    try:
        chromium.goto(f"{url.removesuffix('/api')}/deployments/deployment/{deployment['id']}/run")
        text = chromium.wait_for("config (Optional)", *sections, *keys)
        chromium.screenshot(tmp_path / "custom-run.png")
    finally:
        chromium.close()
    assert Settings.__doc__.split()[0] in text
    assert not [s for s in sections + keys if s not in text], text[-3000:]


@pytest.mark.slow
def test_drsynth_worker_stops_on_sigterm_once_its_run_finishes(server: dict[str, str], tmp_path: Path) -> None:
    """`drsynth worker` (what infra/ runs): one SIGTERM while a run is in flight, and the worker takes no
    new run, lets that one complete, and exits 0 leaving no process (`prefect worker start` alone, with
    nothing in flight, keeps running after one)."""
    from drsynth.synth.corpus.demo import SITE_DIR

    pool = "drsynth-stop"
    created = _cli(server, PREFECT, "work-pool", "create", pool, "--type", "process")
    assert created.returncode == 0, _output(created)
    flow_id = _api(server, "flows/", {"name": "ingest"})["id"]
    deployment = _api(server, "deployments/", {
        "name": "stop-check", "flow_id": flow_id, "work_pool_name": pool,
        "entrypoint": "drsynth.flows.ingest:ingest", "path": str(REPO),
        "parameters": {"sources": [str(SITE_DIR / "wiki")], "out": str(tmp_path / "data"),
                       "config": {"extract": {"workers": 1}}}})
    run = _api(server, f"deployments/{deployment['id']}/create_flow_run", {})
    with open(tmp_path / "worker.log", "w") as log:
        proc = subprocess.Popen([DRSYNTH, "worker", "--pool", pool, "--grace-period", "240"], cwd=tmp_path,
                                env=server, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while _api(server, f"flow_runs/{run['id']}")["state"]["type"] != "RUNNING":
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        family = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-4000:]
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert _api(server, f"flow_runs/{run['id']}")["state"]["type"] == "COMPLETED"
    left = [psutil.Process(pid) for pid in family if psutil.pid_exists(pid)]
    _, alive = psutil.wait_procs(left, timeout=15)
    assert not [p.cmdline() for p in alive if p.status() != psutil.STATUS_ZOMBIE]
