"""Sandbox escapes: each attempt made with the Python guard out of the way (or, for the audit-hook bypass,
taken out by the code itself), so what holds is the kernel layer; each asserts its own containment and
that the host is unharmed (no process, cgroup or file left behind, the canary process alive).

Figures: attempts, contained, the layers in use, the memory bomb's peak. FAST: small bombs (memory_mb=256,
4 x 150 MB; a 32-process cap); FULL: the issue's sizes (memory_mb=1024, 6 x 800 MB; the default cap of
256) and repetitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from drsynth.synth.tools import python_sandbox
from drsynth.synth.tools.python_sandbox import PythonInterpreter, RunOutcome, SandboxLimits
from drsynth.synth.tools.sandbox_limits import PREFIX, cgroup_parent
from tests.reliability.conftest import FULL, figure
from tests.test_sandbox import NO_GUARD, PeakRss, memory_bomb

KERNEL = python_sandbox.isolation_layers("auto")
pytestmark = pytest.mark.skipif(not KERNEL, reason="no kernel layer (bubblewrap, or unshare + setpriv as root)")

REPEAT = 3 if FULL else 1
BOMB = (1024, 6, 800) if FULL else (256, 4, 150)  # memory_mb, children, MB each
MAX_PROCESSES = 256 if FULL else 32
DISK_MB = 64 if FULL else 16
LIMITS = SandboxLimits(wall_s=20, cpu_s=10, memory_mb=512, max_processes=MAX_PROCESSES, max_disk_mb=DISK_MB,
                       max_file_mb=8)

ATTEMPTED: list[str] = []
CONTAINED: list[str] = []
FIGURES: dict[str, object] = {}


def attempt(name: str) -> None:
    ATTEMPTED.append(name)


def contained(name: str) -> None:
    assert name in ATTEMPTED
    CONTAINED.append(name)


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    figure("sandbox escape attempts", len(ATTEMPTED))
    figure("sandbox escapes contained", f"{len(CONTAINED)} of {len(ATTEMPTED)}")
    for name, value in FIGURES.items():
        figure(name, value)


@pytest.fixture(scope="module")
def canary() -> Iterator[subprocess.Popen]:
    """A host process of `nobody` (the uid every sandbox once shared): no sandbox may signal it."""
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture(autouse=True)
def host_stays_healthy(canary: subprocess.Popen) -> Iterator[str]:
    """A fresh marker for the attempt; afterwards nothing of it on the host, no cgroup left, the canary alive."""
    marker = f"esc{uuid.uuid4().hex[:10]}"
    yield marker
    deadline = time.monotonic() + 10
    while (left := _processes_marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes outlived the sandbox: {left}"
    planted = [p for d in ("/tmp", "/var/tmp", "/dev/shm", "/etc") if (p := Path(d, marker)).exists()]
    for path in planted:
        path.unlink()
    assert not planted, f"the sandbox wrote {planted} on the host"
    parent = cgroup_parent()
    if parent is not None:
        bases = {parent.memory_base, parent.pids_base} - {None}
        left_cgroups = [c for base in bases for c in base.iterdir()  # type: ignore[union-attr]
                        if c.name.startswith(f"{PREFIX}{os.getpid()}-")]
        assert not left_cgroups, left_cgroups
    assert canary.poll() is None, "the canary process was killed"
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the host can still start processes


def _processes_marked(marker: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == marker[:15] or marker in " ".join(proc.info["cmdline"] or []):
                found.append(proc.pid)
    return found


@pytest.fixture
def bare(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
         ) -> Callable[..., PythonInterpreter]:
    """Sandboxes without the Python guard: what the kernel layer holds on its own."""
    monkeypatch.setattr(python_sandbox, "BOOTSTRAP", NO_GUARD)

    def make(limits: SandboxLimits = LIMITS) -> PythonInterpreter:
        return PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=limits, cache=False)
    return make


def call(tool: PythonInterpreter, code: str) -> RunOutcome:
    outcome = asyncio.run(tool.run_code(code))
    assert outcome.returncode == 0 and not outcome.timed_out, (outcome.returncode, outcome.stderr[-2000:])
    return outcome


def lines(outcome: RunOutcome) -> list:
    return [json.loads(line) for line in outcome.stdout.splitlines() if line.strip()]


@pytest.fixture
def secret_dir() -> Iterator[Path]:
    """A root-only directory on the host's root file system (not under /tmp), with a secret in it."""
    path = Path(tempfile.mkdtemp(prefix=".sandbox-secret-", dir=Path(__file__).resolve().parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_network(bare: Callable[..., PythonInterpreter]) -> None:
    accepted: list[str] = []
    server = socket.create_server(("0.0.0.0", 0))
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_name = f"\0drsynth-escape-{uuid.uuid4().hex}"
    abstract.bind(abstract_name)
    abstract.listen()
    for listener in (server, abstract):
        listener.settimeout(0.2)

    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            for listener in (server, abstract):
                with contextlib.suppress(TimeoutError):
                    conn, _ = listener.accept()
                    accepted.append(str(listener.family))
                    conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("10.255.255.255", 1))  # no packet: the route's source address, the host's own
    host_ip = probe.getsockname()[0]
    probe.close()
    targets = {"tcp loopback": ["AF_INET", ["127.0.0.1", port]], "tcp host address": ["AF_INET", [host_ip, port]],
               "abstract unix socket": ["AF_UNIX", abstract_name],
               "tcp outside": ["AF_INET", ["1.1.1.1", 80]]}
    try:
        # the listeners answer the host: the test's own connection proves they would accept one
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        deadline = time.monotonic() + 5
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert accepted, "the test's server does not answer"
        accepted.clear()
        code = ("import errno, json, socket\n"
                f"for name, (family, address) in {json.dumps(targets)}.items():\n"
                "    s = socket.socket(getattr(socket, family), socket.SOCK_STREAM)\n"
                "    s.settimeout(3)\n"
                "    try:\n"
                "        s.connect(tuple(address) if family == 'AF_INET' else address)\n"
                "        print(json.dumps([name, 'connected']))\n"
                "    except OSError as exc:\n"
                "        print(json.dumps([name, errno.errorcode.get(exc.errno, str(exc))]))\n")
        for name in targets:
            attempt(f"network: {name}")
        results = dict(lines(call(bare(), code)))
        time.sleep(0.3)
        assert accepted == [], accepted
        for name in targets:
            # a network namespace of its own: no route (its loopback is down), no listener of the host's
            assert results[name] in ("ENETUNREACH", "ECONNREFUSED"), (name, results)
            contained(f"network: {name}")
    finally:
        stop.set()
        thread.join()
        server.close()
        abstract.close()


def test_reading_outside(bare: Callable[..., PythonInterpreter], secret_dir: Path, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    under_tmp = tmp_path / "secret.txt"  # the host's /tmp: not in the sandbox's view at all
    under_tmp.write_text(token)
    on_root = secret_dir / "secret.txt"  # the host's root file system: root's alone
    on_root.write_text(token)
    on_root.chmod(0o600)
    secret_dir.chmod(0o700)
    targets = {"a secret under /tmp": (str(under_tmp), "ENOENT"),
               "a root-only secret": (str(on_root), "EACCES"),
               "/etc/shadow": ("/etc/shadow", "EACCES")}
    code = ("import errno, json\n"
            f"for name, (path, _) in {json.dumps(targets)}.items():\n"
            "    try:\n"
            "        print(json.dumps([name, open(path).read()]))\n"
            "    except OSError as exc:\n"
            "        print(json.dumps([name, errno.errorcode[exc.errno]]))\n")
    for name in targets:
        attempt(f"read: {name}")
    outcome = call(bare(), code)
    assert token not in outcome.stdout + outcome.stderr
    results = dict(lines(outcome))
    for name, (_, expected) in targets.items():
        assert results[name] == expected, (name, results)
        contained(f"read: {name}")


def test_writing_outside_scratch(bare: Callable[..., PythonInterpreter], host_stays_healthy: str,
                                 tmp_path: Path) -> None:
    marker = host_stays_healthy
    open_dir = Path(tempfile.mkdtemp(prefix=".sandbox-open-", dir=Path(__file__).resolve().parent))
    open_dir.chmod(0o777)  # world-writable on the host: the read-only mount must refuse it anyway
    tmp_path.chmod(0o777)
    tool = bare()
    targets = {"/etc": f"/etc/{marker}", "a world-writable directory": f"{open_dir}/{marker}",
               "the scratch root": f"{tool.scratch_root}/{marker}", "a world-writable dir under /tmp":
               f"{tmp_path}/{marker}", "/tmp": f"/tmp/{marker}", "/var/tmp": f"/var/tmp/{marker}",
               "/dev/shm": f"/dev/shm/{marker}", "the interpreter": f"{os.path.dirname(tool.python)}/{marker}"}
    code = ("import errno, json\n"
            f"for name, path in {json.dumps(targets)}.items():\n"
            "    try:\n"
            "        open(path, 'w').write('x')\n"
            "        print(json.dumps([name, 'written']))\n"
            "    except OSError as exc:\n"
            "        print(json.dumps([name, errno.errorcode[exc.errno]]))\n")
    try:
        for name in targets:
            attempt(f"write: {name}")
        results = dict(lines(call(tool, code)))
        for name, path in targets.items():
            # written: only into the sandbox's own fresh /tmp, /var/tmp or /dev/shm, gone with it
            assert results[name] in ("EROFS", "EACCES", "ENOENT") or (
                results[name] == "written" and path.startswith(("/tmp/", "/var/tmp/", "/dev/shm/"))), results
            assert not os.path.exists(path), f"{name}: {path} written on the host"
            contained(f"write: {name}")
    finally:
        shutil.rmtree(open_dir, ignore_errors=True)


def test_environment_and_proc(bare: Callable[..., PythonInterpreter], monkeypatch: pytest.MonkeyPatch) -> None:
    token = uuid.uuid4().hex
    monkeypatch.setenv("DRSYNTH_ESCAPE_SECRET", token)
    code = ("import json, os\n"
            "print(json.dumps(['environ', dict(os.environ)]))\n"
            "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "print(json.dumps(['pids', pids]))\n"
            "seen = {}\n"
            f"for pid in pids + [{os.getpid()}, {os.getppid()}]:\n"
            "    for what in ('environ', 'cmdline'):\n"
            "        try:\n"
            "            seen[f'{pid}/{what}'] = open(f'/proc/{pid}/{what}', 'rb').read().decode(errors='replace')\n"
            "        except OSError as exc:\n"
            "            seen[f'{pid}/{what}'] = exc.strerror\n"
            "print(json.dumps(['proc', seen]))\n")
    for name in ("environment: a planted variable", "/proc: the host's processes", "/proc: other environments"):
        attempt(name)
    outcome = call(bare(), code)
    assert token not in outcome.stdout + outcome.stderr
    results = dict(lines(outcome))
    assert "DRSYNTH_ESCAPE_SECRET" not in results["environ"]
    contained("environment: a planted variable")
    # a pid namespace of its own: its init shell and the interpreter, nothing of the host's
    assert len(results["pids"]) <= 3, results["pids"]
    host = {Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") for pid in (os.getpid(), os.getppid())}
    assert not host & set(results["proc"].values()), results["proc"]
    contained("/proc: the host's processes")
    assert not any(key.endswith("environ") and "DRSYNTH" in text for key, text in results["proc"].items())
    contained("/proc: other environments")


def test_signals(bare: Callable[..., PythonInterpreter], canary: subprocess.Popen) -> None:
    targets = {"the parent": "os.getppid()", "the test process": str(os.getpid()), "a nobody process": str(canary.pid),
               "the namespace's init": "1"}
    code = ("import errno, json, os, signal\n"
            "results = {}\n"
            f"for name, pid in {json.dumps(targets)}.items():\n"
            "    try:\n"
            "        os.kill(eval(pid), signal.SIGKILL)\n"
            "        results[name] = 'sent'\n"
            "    except OSError as exc:\n"
            "        results[name] = errno.errorcode[exc.errno]\n"
            "try:\n"
            "    os.kill(-1, signal.SIGKILL)\n"  # everything it may signal, itself excepted
            "    results['every process'] = 'sent'\n"
            "except OSError as exc:\n"
            "    results['every process'] = errno.errorcode[exc.errno]\n"
            "print(json.dumps(results))\n")
    for name in [*targets, "every process"]:
        attempt(f"signal: {name}")
    results = lines(call(bare(), code))[0]
    assert canary.poll() is None
    for name in targets:
        # root's processes refuse it; the host's are not in its pid namespace
        assert results[name] in ("EPERM", "ESRCH"), (name, results)
        contained(f"signal: {name}")
    assert results["every process"] in ("sent", "ESRCH") and canary.poll() is None
    contained("signal: every process")


def test_fork_bomb(bare: Callable[..., PythonInterpreter], host_stays_healthy: str) -> None:
    marker = host_stays_healthy
    code = ("import errno, os, time\n"
            f"open('/proc/self/comm', 'w').write({marker!r})\n"
            "made, refused = 0, None\n"
            f"for _ in range({MAX_PROCESSES * 4}):\n"
            "    try:\n"
            "        pid = os.fork()\n"
            "    except OSError as exc:\n"
            "        refused = errno.errorcode[exc.errno]\n"
            "        break\n"
            "    if pid == 0:\n"
            "        time.sleep(600)\n"
            "        os._exit(0)\n"
            "    made += 1\n"
            "print(made, refused)\n")
    for run in range(REPEAT):
        attempt(f"fork bomb #{run + 1}")
        made, refused = call(bare(), code).stdout.split()
        # the per-sandbox cap (pids.max, and RLIMIT_NPROC of its own uid) stops it; the children die with it
        assert refused == "EAGAIN" and int(made) < MAX_PROCESSES, (made, refused)
        deadline = time.monotonic() + 10
        while _processes_marked(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _processes_marked(marker)
        contained(f"fork bomb #{run + 1}")
        FIGURES["sandbox fork bomb"] = f"{made} processes of a {MAX_PROCESSES} cap, then {refused}"


def test_memory_bomb_across_processes(bare: Callable[..., PythonInterpreter], host_stays_healthy: str) -> None:
    memory_mb, children, mb = BOMB
    tool = bare(SandboxLimits(wall_s=30, cpu_s=20, memory_mb=memory_mb))
    peaks = []
    for run in range(REPEAT):
        attempt(f"memory bomb #{run + 1}")
        with PeakRss(host_stays_healthy) as sampler:
            outcome = call(tool, memory_bomb(host_stays_healthy, children=children, mb=mb))
        ends = json.loads(outcome.stdout.splitlines()[0])
        if tool.memory_layer.startswith("cgroup"):
            # one limit for all of them: the kernel kills inside the sandbox once their sum reaches it
            assert outcome.memory_peak_mb is not None and outcome.memory_peak_mb <= memory_mb, outcome
            assert outcome.oom_kills >= 1 and -signal.SIGKILL in ends, (outcome, ends)
            # slack: shared libraries' pages are in each process's PSS but charged where first read
            assert sampler.peak <= (memory_mb + 32) << 20, sampler.peak >> 20
        else:  # the address-space limit of each process, times the per-sandbox process cap
            assert sampler.peak <= (memory_mb << 20) * tool.limits.max_processes
        peaks.append((sampler.peak >> 20, sampler.peak_rss >> 20, outcome.memory_peak_mb))
        contained(f"memory bomb #{run + 1}")
    pss, rss, cgroup = max(peaks)
    FIGURES["sandbox memory bomb peak"] = (
        f"{pss} MB in all (PSS; {rss} MB summed RSS; cgroup peak {cgroup} MB) for {children} forked "
        f"processes x {mb} MB under memory_mb={memory_mb} ({tool.memory_layer})")


def test_disk_flood(bare: Callable[..., PythonInterpreter]) -> None:
    tool = bare()
    if "unshare" not in tool.layers:
        pytest.skip("the disk limit (a tmpfs of max_disk_mb) is the unshare layer's")
    code = ("import errno, json, os\n"
            "try:\n"
            f"    open('big', 'wb').write(b'x' * ({LIMITS.max_file_mb + 1} << 20))\n"
            "    print(json.dumps(['one big file', 0, 'no limit']))\n"
            "except OSError as exc:\n"
            "    print(json.dumps(['one big file', 0, errno.errorcode[exc.errno]]))\n"
            "os.remove('big')\n"
            "for where in ['.', '/tmp', '/var/tmp', '/dev/shm']:\n"
            "    made = 0\n"
            "    try:\n"
            "        for i in range(100_000):\n"
            "            with open(f'{where}/f{i}', 'wb') as f:\n"
            "                f.write(b'x' * (1 << 20))\n"
            "            made += 1\n"
            "        print(json.dumps([where, made, 'no limit']))\n"
            "    except OSError as exc:\n"
            "        print(json.dumps([where, made, errno.errorcode[exc.errno]]))\n")
    for where in (".", "/tmp", "/var/tmp", "/dev/shm", "one big file"):
        attempt(f"disk flood: {where}")
    for where, made, stopped in lines(call(tool, code)):
        if where == "one big file":
            assert stopped == "EFBIG"  # RLIMIT_FSIZE (Python ignores SIGXFSZ: the write fails instead)
        else:
            assert stopped == "ENOSPC" and made <= DISK_MB, (where, made, stopped)
        contained(f"disk flood: {where}")


def test_output_flood(tmp_path_factory: pytest.TempPathFactory) -> None:
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=LIMITS, cache=False)
    limit = LIMITS.max_output_chars
    for stream in ("stdout", "stderr"):
        attempt(f"output flood: {stream}")
        started = time.monotonic()
        result = asyncio.run(tool({"code": f"import sys\nwhile True:\n    sys.{stream}.write('x' * 65536)"}))
        # stopped at 4 x the limit (not at the wall time), what is shown cut to the limit with a note
        assert result.error == "output_limit" and time.monotonic() - started < LIMITS.wall_s / 2, result.error
        assert "[output cut:" in result.text and len(result.text) < limit + 500, len(result.text)
        contained(f"output flood: {stream}")


def test_audit_hook_bypass_through_sys_modules(tmp_path_factory: pytest.TempPathFactory, host_stays_healthy: str,
                                               secret_dir: Path, canary: subprocess.Popen) -> None:
    """With the guard on: the code reaches the guard's own tables through sys.modules['__main__'] and empties
    them, so starting processes is no longer refused; what the shell it starts can do is the kernel's."""
    marker = host_stays_healthy
    secret = secret_dir / "secret.txt"
    token = uuid.uuid4().hex
    secret.write_text(token)
    secret.chmod(0o600)
    secret_dir.chmod(0o700)
    shell = (f"(echo x > /etc/{marker}) 2>/dev/null && echo etc-written || echo etc-refused; "
             f"cat {secret} 2>/dev/null || echo secret-refused; "
             f"kill -9 {canary.pid} 2>/dev/null && echo killed || echo kill-refused; "
             f"{sys.executable} -I -c 'import socket; socket.create_connection((\"1.1.1.1\", 80), timeout=2)' "
             "2>/dev/null && echo connected || echo net-refused")
    code = ("import os, sys\n"
            "guard = sys.modules['__main__'].__dict__\n"
            "for table in ('_PROCESS_EVENTS', '_BLOCKED_MODULES', '_DANGEROUS_SYMBOLS'):\n"
            "    guard[table].clear()\n"
            "guard['SCRATCH'] = '/'\n"  # "everything is inside the scratch directory"
            f"pid = os.posix_spawnp('sh', ['sh', '-c', {shell!r}], {{}})\n"
            "print('guard-bypassed', flush=True)\n"
            "os.waitpid(pid, 0)\n")
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=LIMITS, cache=False)
    names = ("/etc", "a root-only secret", "signal the canary", "network")
    for name in names:
        attempt(f"audit-hook bypass: {name}")
    result = asyncio.run(tool({"code": code}))
    if "guard-bypassed" not in result.text:  # a guard that holds against this needs no kernel to contain it
        assert result.error == "exit:1" and "disabled in the sandbox" in result.text, result.text
    else:
        assert result.error is None, result.text
        assert sorted(result.text.split()) == ["etc-refused", "guard-bypassed", "kill-refused", "net-refused",
                                               "secret-refused"], result.text
    assert token not in result.text and canary.poll() is None
    for name in names:
        contained(f"audit-hook bypass: {name}")


def test_layers_in_use(tmp_path_factory: pytest.TempPathFactory) -> None:
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=LIMITS, cache=False)
    assert tool.available
    assert tool.endpoint == "sandbox:" + "+".join([*tool.layers, tool.memory_layer])
    FIGURES["sandbox layers"] = f"{'+'.join(tool.layers)}, memory held by {tool.memory_layer}"
