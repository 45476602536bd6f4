"""The Python sandbox's kernel layer and guard against the escapes a review found (chdir and dir_fd writes,
ctypes, spawned shells, processes that outlive the call, disk), and its refusal to run unprotected."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from drsynth.synth.tools import python_sandbox, sandbox_limits
from drsynth.synth.tools.base import ToolResult
from drsynth.synth.tools.python_sandbox import UNAVAILABLE, PythonInterpreter, SandboxLimits
from drsynth.synth.tools.sandbox_limits import NOBODY, UID_BASE, UID_SPAN

LIMITS = SandboxLimits(wall_s=8, cpu_s=4, memory_mb=512, max_disk_mb=8)
KERNEL = python_sandbox.isolation_layers("auto")
needs_kernel = pytest.mark.skipif(not KERNEL, reason="no bubblewrap or usable unshare on this machine")
needs_unshare = pytest.mark.skipif("unshare" not in KERNEL, reason="the unshare layer is not usable here")

# the Python guard removed: what the kernel layer holds on its own (as after a bypass of the audit hook)
NO_GUARD = ("import json, resource, sys\n"
            "for name, value in json.loads(sys.argv[1]).items():\n"
            "    resource.setrlimit(getattr(resource, name), (value, value))\n"
            "exec(compile(sys.stdin.read(), '<code>', 'exec'), {'__name__': '__main__'})\n")


def run(tool: PythonInterpreter, source: str) -> ToolResult:
    return asyncio.run(tool({"code": source}))


def make(tmp_path_factory: pytest.TempPathFactory, isolation: str = "auto") -> PythonInterpreter:
    return PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), isolation=isolation, limits=LIMITS,
                             cache=False)


@pytest.fixture(scope="module", params=["auto", "none"])
def tool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> PythonInterpreter:
    if request.param == "auto" and not KERNEL:
        pytest.skip("no kernel layer on this machine")
    return make(tmp_path_factory, request.param)


@pytest.fixture
def kernel_only(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> PythonInterpreter:
    if not KERNEL:
        pytest.skip("no kernel layer on this machine")
    monkeypatch.setattr(python_sandbox, "BOOTSTRAP", NO_GUARD)
    return make(tmp_path_factory)


@pytest.fixture
def host_marker() -> Iterator[str]:
    """A fresh name under the host's /tmp that the sandbox must not create."""
    name = f"drsynth-sandbox-escape-{uuid.uuid4().hex}"
    yield name
    escaped = [path for folder in ("/tmp", "/var/tmp", "/dev/shm") for suffix in ("", "-2")
               if (path := Path(folder, name + suffix)).exists()]
    for path in escaped:
        path.unlink()
    assert not escaped, f"the sandbox wrote {escaped} on the host"


def test_chdir_then_relative_write_is_refused(tool: PythonInterpreter, host_marker: str) -> None:
    result = run(tool, f"import os\nos.chdir('/tmp')\nopen({host_marker!r}, 'w').write('x')")
    assert result.error == "exit:1" and "writing outside the scratch directory" in result.text, result.text
    assert not Path("/tmp", host_marker).exists()


def test_dir_fd_write_is_refused(tool: PythonInterpreter, host_marker: str) -> None:
    result = run(tool, "import os\nd = os.open('/tmp', os.O_RDONLY)\n"
                       f"os.open({host_marker!r}, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d)")
    assert result.error == "exit:1" and "writing outside the scratch directory" in result.text, result.text
    assert not Path("/tmp", host_marker).exists()
    # changes relative to a dir_fd outside the scratch directory are refused too; inside it they work
    mkdir = run(tool, f"import os\nd = os.open('/tmp', os.O_RDONLY)\nos.mkdir({host_marker!r}, dir_fd=d)")
    assert mkdir.error == "exit:1" and "PermissionError" in mkdir.text
    inside = run(tool, "import os\nd = os.open('.', os.O_RDONLY)\nos.close(os.open('f', os.O_WRONLY | os.O_CREAT, "
                       "dir_fd=d))\nos.mkdir('g', dir_fd=d)\nprint(sorted(os.listdir('.')))")
    assert inside.error is None and inside.text.strip() == "['f', 'g']"


def test_parent_environment_is_refused_by_any_spelling(tool: PythonInterpreter) -> None:
    for spelling in [f"../../../../../../proc/{os.getpid()}/environ", f"//proc/{os.getpid()}/environ",
                     "/proc/self/../self/environ"]:
        result = run(tool, f"print(open({spelling!r}, 'rb').read()[:100])")
        assert result.error == "exit:1" and "reading process environments is disabled" in result.text, spelling


def test_ctypes_is_refused_without_a_kernel_layer(tmp_path_factory: pytest.TempPathFactory) -> None:
    tool = make(tmp_path_factory, "none")
    for source in ["import ctypes", "import _ctypes", "from ctypes import CDLL",
                   "import importlib\nimportlib.import_module('ctypes')", "import _xxsubinterpreters"]:
        result = run(tool, source)
        assert result.error == "exit:1" and "ModuleNotFoundError" in result.text and "disabled in the sandbox" \
            in result.text, source
    # libraries that fall back when ctypes is missing still work
    assert run(tool, "import json, subprocess\nprint(json.dumps([1]))").text.strip() == "[1]"


@needs_kernel
def test_ctypes_process_calls_are_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    tool = make(tmp_path_factory)
    result = run(tool, "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.posix_spawnp")
    assert result.error == "exit:1" and "calling posix_spawnp through ctypes is disabled" in result.text


@needs_kernel
def test_a_spawned_shell_is_contained(kernel_only: PythonInterpreter, host_marker: str) -> None:
    # without the guard, a shell starts; it runs as nobody, without network, and writes nowhere on the host
    shell = (f"id -u; echo x > /tmp/{host_marker}; echo x > /var/tmp/{host_marker}; echo x > /dev/shm/{host_marker};"
             " echo x > /etc/drsynth-escape || echo etc-refused;"
             " python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 80), timeout=2)' 2>/dev/null"
             " || echo net-refused")
    result = run(kernel_only, "import ctypes, os\nlibc = ctypes.CDLL(None)\npid = ctypes.c_int()\n"
                              f"argv = (ctypes.c_char_p * 4)(b'sh', b'-c', {shell.encode()!r}, None)\n"
                              "assert libc.posix_spawnp(ctypes.byref(pid), b'sh', None, None, argv, None) == 0\n"
                              "os.waitpid(pid.value, 0)")
    assert result.error is None, result.text
    uid, *refusals = result.text.split()[:3]
    # nobody, or the sandbox's own uid (from a range no account uses): not root, not the caller
    assert int(uid) in (NOBODY, *range(UID_BASE, UID_BASE + UID_SPAN)) and int(uid) != os.getuid(), uid
    assert refusals == ["etc-refused", "net-refused"], result.text
    assert not Path("/etc/drsynth-escape").exists()


@needs_kernel
def test_the_file_system_is_read_only_but_for_scratch(kernel_only: PythonInterpreter, host_marker: str) -> None:
    # a world-writable directory on the host's root file system: the read-only remount still refuses it
    open_dir = tempfile.mkdtemp(prefix=".sandbox-open-", dir=Path(__file__).resolve().parent)
    try:
        os.chmod(open_dir, 0o777)
        result = run(kernel_only, "import os\n"
                                  f"for d in ['/tmp', '/var/tmp', '/dev/shm', {open_dir!r}]:\n"
                                  "    try:\n"
                                  f"        open(os.path.join(d, {host_marker!r}), 'w').write('x')\n"
                                  "        print('wrote', d)\n"
                                  "    except OSError as exc:\n"
                                  "        print('refused', d, exc.strerror)\n"
                                  "os.chdir('/tmp')\n"
                                  f"os.close(os.open({host_marker + '-2'!r}, os.O_WRONLY | os.O_CREAT))\n"
                                  "open('/dev/null', 'w').write('x')\nprint('scratch ok', open(os.environ['HOME'] "
                                  "+ '/f', 'w').write('x'))")
        assert result.error is None, result.text
        assert f"refused {open_dir} Read-only file system" in result.text and "scratch ok 1" in result.text
        assert os.listdir(open_dir) == []
        assert not Path("/tmp", host_marker + "-2").exists()
    finally:
        shutil.rmtree(open_dir, ignore_errors=True)


def _host_processes_with(needle: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path("/proc", entry, "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry))
            except OSError:
                continue
    return found


@needs_kernel
def test_a_grandchild_does_not_outlive_the_call(kernel_only: PythonInterpreter) -> None:
    # a new session escapes the kill of the process group; the pid namespace takes it down anyway
    seconds = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}"
    try:
        result = run(kernel_only, f"import os\nprint(os.posix_spawn('/bin/sleep', ['sleep', {seconds!r}], {{}}, "
                                  "setsid=True))")
        assert result.error is None and result.text.strip().isdigit(), result.text
        assert _host_processes_with(f"sleep\0{seconds}") == []
    finally:
        for pid in _host_processes_with(f"sleep\0{seconds}"):
            os.kill(pid, 9)


def test_process_creation_is_refused_by_the_guard(tool: PythonInterpreter) -> None:
    for source in ["import os\nos.posix_spawnp('sh', ['sh', '-c', 'true'], {})",
                   "import _posixsubprocess\n_posixsubprocess.fork_exec()",
                   "import os\nos.execv('/bin/sh', ['sh'])"]:
        result = run(tool, source)
        assert result.error == "exit:1" and "starting processes is disabled in the sandbox" in result.text, source


@needs_unshare
def test_scratch_disk_is_limited(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = make(tmp_path_factory)  # max_disk_mb=8: three 4 MB files do not fit, though each is under max_file_mb
    result = run(tool, "for i in range(3):\n    open(f'f{i}', 'wb').write(b'x' * (4 << 20))")
    assert result.error == "exit:1" and "No space left on device" in result.text, result.text
    monkeypatch.setattr(python_sandbox, "BOOTSTRAP", NO_GUARD)  # the private /tmp is as small, guard or not
    tmp = run(tool, "for i in range(3):\n    open(f'/tmp/f{i}', 'wb').write(b'x' * (4 << 20))")
    assert tmp.error == "exit:1" and "No space left on device" in tmp.text, tmp.text


@needs_kernel
def test_cpu_limit_is_reported_through_the_namespace(tmp_path_factory: pytest.TempPathFactory) -> None:
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), cache=False,
                             limits=SandboxLimits(wall_s=8, cpu_s=1, memory_mb=512))
    assert run(tool, "while True:\n    pass").error == "signal:SIGXCPU"
    # a large exit status is not mistaken for a signal
    assert run(tool, "import sys\nsys.exit(137)").error == "exit:1"
    assert run(tool, "import sys\nsys.exit(3)").error == "exit:3"


def test_refuses_to_run_without_a_kernel_layer(tmp_path_factory: pytest.TempPathFactory,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_sandbox, "_works", lambda *command: False)  # neither bwrap nor unshare works
    tool = make(tmp_path_factory)
    assert tool.layers == [] and not tool.available
    result = run(tool, "print('ran')")
    assert result.error == "sandbox_unavailable" and "ran" not in result.text
    assert UNAVAILABLE in result.text and "isolation='none'" in result.text
    weak = make(tmp_path_factory, "none")  # the explicit opt-in runs with the guard alone
    assert weak.available and run(weak, "print('ran')").text.strip() == "ran"
    with pytest.raises(ValueError, match="isolation must be one of"):
        make(tmp_path_factory, "bwrap-please")


def test_scratch_is_removed_off_the_event_loop(tmp_path_factory: pytest.TempPathFactory,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tool = make(tmp_path_factory, "none")
    assert tool.available  # the self-test's scratch directory is not this call's
    threads: list[bool] = []
    real_rmtree = shutil.rmtree

    def rmtree(path: str, **kwargs: object) -> None:
        threads.append(threading.current_thread() is threading.main_thread())
        real_rmtree(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(python_sandbox.shutil, "rmtree", rmtree)
    assert run(tool, "open('f', 'w').write('x')").error is None
    assert threads == [False]
    assert os.listdir(tool.scratch_root) == []


@needs_kernel
def test_raw_dlsym_of_a_process_call_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`_ctypes.dlsym(handle, "fork")` raises the "ctypes.dlsym/handle" audit event, not "ctypes.dlsym"."""
    result = run(make(tmp_path_factory), "import _ctypes\nh = _ctypes.dlopen(None)\nprint(_ctypes.dlsym(h, 'fork'))")
    assert result.error and "calling fork through ctypes is disabled" in result.text


# --- issue 14: an interpreter under /tmp, a truthful `available`, limits per sandbox ---------------------


@pytest.fixture(scope="module")
def tmp_venv() -> Iterator[str]:
    """A virtualenv under the host's /tmp with its own copy of the interpreter, as on CI machines."""
    root = tempfile.mkdtemp(prefix="drsynth-sandbox-venv-", dir="/tmp")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--copies", "--system-site-packages", "--without-pip",
                        os.path.join(root, "venv")], check=True, capture_output=True, timeout=60)
        Path(root, "beside-the-venv").write_text("host secret")
        yield os.path.join(root, "venv", "bin", "python")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@needs_kernel
def test_runs_from_an_interpreter_under_tmp(tmp_path_factory: pytest.TempPathFactory, tmp_venv: str) -> None:
    venv = os.path.dirname(os.path.dirname(tmp_venv))
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=LIMITS, python=tmp_venv,
                             cache=False)
    assert tool.available
    beside = os.path.join(os.path.dirname(venv), "beside-the-venv")
    result = run(tool, f"import os, sys\nprint(sys.prefix)\nprint(os.path.exists({beside!r}))")
    assert result.error is None, result.text
    # the venv is seen (read-only: the kernel layer's test below); the rest of the host's /tmp is not
    assert result.text.split() == [venv, "False"], result.text


@needs_kernel
def test_the_interpreter_under_tmp_is_read_only(kernel_only: PythonInterpreter, tmp_venv: str) -> None:
    kernel_only.python = tmp_venv
    target = os.path.join(os.path.dirname(tmp_venv), "planted")
    result = run(kernel_only, f"try:\n    open({target!r}, 'w')\nexcept OSError as exc:\n    print(exc.strerror)")
    assert result.error is None and result.text.strip() == "Read-only file system", result.text
    assert not os.path.exists(target)


@pytest.mark.parametrize("isolation", ["auto", "none"])
def test_available_runs_code_to_say_so(tmp_path_factory: pytest.TempPathFactory, isolation: str) -> None:
    if isolation == "auto" and not KERNEL:
        pytest.skip("no kernel layer on this machine")
    missing = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=LIMITS, cache=False,
                                python="/nonexistent/bin/python3", isolation=isolation)
    assert not missing.available
    result = run(missing, "print('ran')")
    assert result.error == "sandbox_unavailable" and "/nonexistent/bin/python3" in result.text, result.text
    # a relative interpreter path is the caller's, not the scratch directory's
    relative = os.path.relpath(sys.executable)
    works = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=LIMITS, cache=False,
                              python=relative, isolation=isolation)
    assert works.available and run(works, "print(6 * 7)").text.strip() == "42"


class PeakRss:
    """The peak total memory of the host's processes named `name`, sampled every 20 ms: `peak` sums their
    proportional set sizes (a page shared by forked processes counted once, as a cgroup counts it),
    `peak_rss` their resident sets (shared pages counted in each)."""

    def __init__(self, name: str) -> None:
        self.name, self.peak, self.peak_rss, self._stop = name, 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            pss = rss = 0
            for proc in psutil.process_iter(["name"]):
                if proc.info["name"] == self.name:
                    with contextlib.suppress(psutil.Error):
                        full = proc.memory_full_info()
                        pss, rss = pss + full.pss, rss + full.rss
            self.peak, self.peak_rss = max(self.peak, pss), max(self.peak_rss, rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def memory_bomb(name: str, children: int, mb: int, hold_s: float = 1.5) -> str:
    """Code (for a sandbox without the guard) that forks `children` processes each holding `mb` MB, named
    `name` for PeakRss; it prints how each child ended (an exit status or -signal)."""
    return ("import os, time\n"
            f"open('/proc/self/comm', 'w').write({name!r})\n"
            "pids = []\n"
            f"for _ in range({children}):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        try:\n"
            f"            held = b'x' * ({mb} << 20)\n"
            f"            time.sleep({hold_s})\n"
            "        finally:\n"
            "            os._exit(0)\n"
            "    pids.append(pid)\n"
            "ends = []\n"
            "for pid in pids:\n"
            "    status = os.waitpid(pid, 0)[1]\n"
            "    ends.append(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))\n"
            "print(sorted(ends))\n")


@needs_kernel
def test_the_memory_limit_holds_across_processes(tmp_path_factory: pytest.TempPathFactory,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Four forked children of 150 MB each under memory_mb=256: 600 MB with a limit per process."""
    monkeypatch.setattr(python_sandbox, "BOOTSTRAP", NO_GUARD)  # forking needs the guard out of the way
    limits = SandboxLimits(wall_s=20, cpu_s=10, memory_mb=256)
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=limits, cache=False)
    name = f"bomb{uuid.uuid4().hex[:8]}"
    with PeakRss(name) as sampler:
        result = run(tool, memory_bomb(name, children=4, mb=150))
    assert result.error is None, result.text
    ends = ast.literal_eval(result.text.splitlines()[0])
    if tool.memory_layer.startswith("cgroup"):
        # slack: shared libraries' pages, counted in each process's PSS, are charged to whichever cgroup
        # read them first
        assert sampler.peak <= (256 + 32) << 20, (sampler.peak >> 20, result.text)
        assert -signal.SIGKILL in ends, ends  # the kernel's OOM killer, inside the sandbox's cgroup
    else:  # an address-space limit per process, times the per-sandbox process cap
        assert sampler.peak <= (256 << 20) * limits.max_processes


@needs_kernel
@pytest.mark.parametrize("layer", ["cgroup", "rlimit"])
def test_the_process_cap_is_per_sandbox(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                        layer: str) -> None:
    if layer == "rlimit":  # no cgroup: the cap is RLIMIT_NPROC of the sandbox's own uid
        monkeypatch.setattr(python_sandbox, "cgroup_parent", lambda: None)
    elif sandbox_limits.cgroup_parent() is None:
        pytest.skip("no cgroup this process may create children in")
    limits = SandboxLimits(wall_s=15, cpu_s=5, memory_mb=512, max_processes=16)
    tool = PythonInterpreter(scratch_root=tmp_path_factory.mktemp("scratch"), limits=limits, cache=False)
    assert tool.memory_layer.startswith(layer) and tool.endpoint.endswith("+" + tool.memory_layer)

    def threads(n: int) -> str:
        return (f"import threading, time\nts = [threading.Thread(target=time.sleep, args=(2,)) for _ in range({n})]\n"
                "for t in ts:\n    t.start()\nfor t in ts:\n    t.join()\nprint('ok')")

    async def both() -> list[ToolResult]:  # 2 x 11 threads at once: over 16 if the cap were shared
        return list(await asyncio.gather(tool({"code": threads(10)}), tool({"code": threads(10)})))

    assert [r.text.strip() for r in asyncio.run(both())] == ["ok", "ok"]
    over = run(tool, threads(30))  # one sandbox alone is still held
    assert over.error == "exit:1" and "can't start new thread" in over.text, over.text


def test_a_delegated_cgroup_v2_gets_its_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cgroup v2 file protocol, on a stand-in directory (this machine's memory controller may be v1's)."""
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    monkeypatch.setenv(sandbox_limits.CGROUP_ENV, str(tmp_path))
    parent = sandbox_limits._v2_parent()
    assert parent is not None and parent.layer == "cgroup-v2" and parent.memory_base == tmp_path
    cgroup = parent.create(256 << 20, 20)
    assert cgroup.dirs == [cgroup.memory_dir] and cgroup.memory_dir.parent == tmp_path
    assert [(cgroup.memory_dir / f).read_text() for f in ("memory.max", "memory.swap.max", "pids.max")] == \
        [str(256 << 20), "0", "20"]
    (cgroup.memory_dir / "memory.peak").write_text("1234\n")
    (cgroup.memory_dir / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    assert cgroup.report() == sandbox_limits.CgroupReport(1234, 2)
    # the launcher joins before it execs: the command runs as the pid written into cgroup.procs
    procs = cgroup.memory_dir / "cgroup.procs"
    out = subprocess.run(sandbox_limits.launcher(cgroup, ["sh", "-c", "echo $$"]), capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == procs.read_text().strip()
    # a cgroup it cannot join: the command does not run
    procs.unlink()
    procs.mkdir()
    refused = subprocess.run(sandbox_limits.launcher(cgroup, ["echo", "ran"]), capture_output=True, text=True)
    assert refused.returncode == 125 and "ran" not in refused.stdout and "could not join" in refused.stderr
    # no memory controller to give: no v2 layer
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    assert sandbox_limits._v2_parent() is None


@needs_kernel
def test_no_cgroup_is_left_behind(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = sandbox_limits.cgroup_parent()
    if parent is None:
        pytest.skip("no cgroup this process may create children in")
    monkeypatch.setattr(python_sandbox, "BOOTSTRAP", NO_GUARD)
    tool = make(tmp_path_factory)
    # a child in a session of its own, still running when the call ends: killed with the cgroup
    result = run(tool, "import os\nos.posix_spawn('/bin/sleep', ['sleep', '600'], {}, setsid=True)\nprint('ok')")
    assert result.text.strip() == "ok"
    ours = [c for base in {parent.memory_base, parent.pids_base} - {None}
            for c in base.iterdir() if c.name.startswith(f"{sandbox_limits.PREFIX}{os.getpid()}-")]  # type: ignore[union-attr]
    assert ours == []


def test_output_printed_before_an_exception_is_kept(tool: PythonInterpreter) -> None:
    result = run(tool, "print('before the error')\n1 / 0")
    assert result.error == "exit:1" and "before the error" in result.text and "ZeroDivisionError" in result.text
