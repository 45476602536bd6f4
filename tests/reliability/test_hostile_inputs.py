"""Hostile inputs: every one ends as a document or a quarantine row with a reason, and the run goes on.

A generated corpus (hostile_corpus.py) of every kind of source drsynth reads (a directory of HTML
files, JSON/JSONL/.jsonl.gz corpora, WARC/.warc.gz archives, MediaWiki XML dumps, ZIM archives, and
crawl traps served by a local HTTP server) goes through the real ingest flow, in a subprocess as
`drsynth run` would run it. The test then accounts for each input by its token: the outcome it
expects (documents, quarantine rows with the reasons it allows, or both), no row that belongs to no
input, nothing of the file an outside symlink points at in any row, and the ingest process's peak
memory under a bound.

FAST (CI): a subset of every source kind; FULL (`make reliability`): all of them (> 100).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import pytest

from drsynth.storage.store import Store
from tests.reliability.conftest import FULL, figure
from tests.reliability.hostile_corpus import ANY, DOC, MIXED, ROW, TOKEN, TRAP_CRAWL, Corpus, TrapSite, build

REPO = Path(__file__).resolve().parents[2]

# Peak resident memory of the ingest process (the flow, the readers, the crawler) and of the largest
# extraction worker, measured on this corpus (the figures printed): FAST 512-527 MB / 141-361 MB alone,
# FULL 672-696 MB / 415-482 MB. A JSONL line is held up to max_record_bytes (64 MiB) before it is known to
# be too long, by each of the four acquiring threads at once, so the peak grows with how many overlap: on a
# 2-core machine busy with another test run, FAST peaked at 928 MB and once at 1,080 MB. The bound leaves
# room for that, not for reading a bomb whole: both settings hold a 1 GB gzipped line, which read whole
# would be 1,073 MB on top of the process's own ~500 MB.
MAX_INGEST_RSS = 1280 * 2**20
MAX_WORKER_RSS = (768 if FULL else 640) * 2**20

_INGEST = textwrap.dedent("""
    import json, os, resource, sys
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from drsynth.flows.ingest import ingest
    out, sources, config = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    result = ingest(sources=sources, out=out, config=config)
    print("INGEST-RESULT " + json.dumps({"counts": result["counts"],
          "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
""")


class _PeakRSS:
    """Samples the resident memory of a process tree every 50 ms: the largest single process other than
    the root, and the root alone (getrusage tells the root's exact peak; this catches its children)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.worker = 0
        self.tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                children = self.root.children(recursive=True)
                sizes = []
                for child in children:
                    try:
                        if "uvicorn" in " ".join(child.cmdline()):
                            continue  # Prefect's API server: not ingest
                        sizes.append(child.memory_info().rss)
                    except psutil.Error:
                        continue
                self.worker = max([self.worker, *sizes])
                self.tree = max(self.tree, self.root.memory_info().rss + sum(sizes))
            except psutil.Error:
                pass
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _run_ingest(out: Path, sources: list[str], config: dict, timeout: float) -> tuple[int, str, dict, _PeakRSS]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", _INGEST, str(out), json.dumps(sources), json.dumps(config)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: whatever it starts goes down with it below
    )
    peak = _PeakRSS(process.pid)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"ingest ran over {timeout} s:\n{output[-4000:]}")
    finally:
        peak.stop()
        # the Prefect server or a forkserver the flow left behind: they are in the group it leads
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    result = {}
    for line in output.splitlines():
        if line.startswith("INGEST-RESULT "):
            result = json.loads(line.removeprefix("INGEST-RESULT "))
    return process.returncode, output, result, peak


def _outcomes(store: Store) -> tuple[dict[str, Counter[str]], list[str], list[str]]:
    """token -> Counter of "document" and "quarantine:<reason>"; rows no token explains; every text
    any row holds (to look for the secret)."""
    pages = {row["id"]: row for row in store.rows("pages", ["id", "url", "source", "body"])}
    found: dict[str, Counter[str]] = defaultdict(Counter)
    orphans: list[str] = []
    texts: list[str] = [row["body"].decode("utf-8", "replace") for row in pages.values() if row["body"]]

    def token_of(*strings: str | None) -> str | None:
        for string in strings:
            match = TOKEN.search(string or "")
            if match:
                return match.group(0)
        return None

    for doc in store.rows("documents", ["parents", "url", "page_url", "title", "text"]):
        parent = pages.get(doc["parents"][0], {}) if doc["parents"] else {}
        token = token_of(doc["page_url"], doc["url"], parent.get("url"), parent.get("source"))
        texts.append(doc["text"] or "")
        if token is None:
            orphans.append(f"document {doc['url']}")
        else:
            found[token]["document"] += 1
    for row in store.rows("quarantine", ["parents", "stage", "reason", "source", "detail", "input"]):
        parent = pages.get(row["parents"][0], {}) if row["parents"] else {}
        token = token_of(row["source"], parent.get("url"), parent.get("source"))
        texts.append((row["input"] or b"").decode("utf-8", "replace"))
        assert row["reason"], row
        if token is None:
            orphans.append(f"quarantine {row['stage']}:{row['reason']} {row['source']}: {row['detail']}")
        else:
            found[token][f"quarantine:{row['reason']}"] += 1
    return found, orphans, texts


def _account(corpus: Corpus, found: dict[str, Counter[str]]) -> list[str]:
    """What each input ended as, against what it should: a list of mismatches (empty when all is well)."""
    wrong = []
    for hostile in corpus.inputs:
        outcome = found.get(hostile.token, Counter())
        documents = outcome["document"]
        reasons = {key.removeprefix("quarantine:") for key in outcome if key.startswith("quarantine:")}
        ok = {
            DOC: documents > 0,
            ROW: documents == 0 and bool(reasons),
            MIXED: documents > 0 and bool(reasons),
            ANY: documents > 0 or bool(reasons),
        }[hostile.expect]
        allowed = hostile.reasons if (hostile.reasons or hostile.expect != ANY) else reasons
        if ok and reasons <= allowed:
            continue
        wrong.append(f"{hostile.name} ({hostile.kind}): expected {hostile.expect}"
                     f"{' with ' + ', '.join(sorted(hostile.reasons)) if hostile.reasons else ''}, got "
                     f"{dict(outcome) or 'nothing'}")
    return wrong


def test_hostile_inputs_each_end_as_a_document_or_a_row(tmp_path: Path) -> None:
    internal = TrapSite({})  # a service on the crawled host's other port: must never be reached
    corpus = build(tmp_path / "inputs", full=FULL, internal_port=internal.port)
    site = TrapSite(corpus.routes)
    sources = [*corpus.sources, site.url + corpus.crawl_seed_path]
    crawl = {**TRAP_CRAWL, "private_hosts": [f"127.0.0.1:{site.port}"]}
    config = {"crawl": crawl, "extract": {"workers": 2}}
    out = tmp_path / "out"
    started = time.monotonic()
    try:
        rc, output, result, peak = _run_ingest(out, sources, config, timeout=900 if FULL else 300)
    finally:
        site.stop()
        internal.stop()
    elapsed = time.monotonic() - started
    assert rc == 0, output[-6000:]
    assert result, output[-6000:]

    found, orphans, texts = _outcomes(Store(out))
    kinds = Counter(hostile.kind for hostile in corpus.inputs)
    reasons = Counter(key for outcome in found.values() for key, n in outcome.items() for _ in range(n))
    figure("hostile inputs", f"{len(corpus.inputs)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    figure("hostile documents", reasons.pop("document", 0))
    figure("hostile rows per reason", ", ".join(f"{k.removeprefix('quarantine:')} {n}"
                                                for k, n in sorted(reasons.items())))
    figure("hostile ingest peak RSS (MB)", round(result["maxrss"] / 2**20))
    figure("hostile largest worker peak RSS (MB)", round(peak.worker / 2**20))
    figure("hostile ingest wall time (s)", round(elapsed, 1))

    assert set(kinds) == {"html", "text", "warc", "wikidump", "zim", "crawl"}
    assert len(corpus.inputs) >= (100 if FULL else 30)
    assert not orphans, "rows no input explains:\n" + "\n".join(orphans[:20])
    wrong = _account(corpus, found)
    assert not wrong, "inputs that did not end as expected:\n" + "\n".join(wrong)
    assert internal.hits == [], "the crawl reached a port of 127.0.0.1 that private_hosts does not exempt"
    secret = Path("/etc/passwd").read_text().splitlines()[0]
    assert not any(secret in text for text in texts), "the outside symlink's target was read"
    assert result["maxrss"] < MAX_INGEST_RSS, result["maxrss"]
    assert peak.worker < MAX_WORKER_RSS, peak.worker


def test_a_million_character_name_does_not_crash_the_mention_automaton() -> None:
    """pyahocorasick frees its trie recursively: a 1M-character key overflowed the C stack at exit
    (rc 139). Names longer than a name can be never reach the automaton."""
    script = textwrap.dedent("""
        from drsynth.synth.graph.mentions import MentionMatcher
        matcher = MentionMatcher([("e1", ["T" + "t" * 1_000_000]), ("e2", ["Aldra"])])
        assert matcher.counts["forms.too_long"] == 1 and matcher.size == 1, matcher.counts
        assert [m.entity_id for m in matcher.find("Aldra is a town.")] == ["e2"]
        del matcher
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
