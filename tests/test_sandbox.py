"""The Python sandbox's kernel layer and guard against the escapes a review found (chdir and dir_fd writes,
ctypes, spawned shells, processes that outlive the call, disk), and its refusal to run unprotected."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from synth.tools import python_sandbox
from synth.tools.base import ToolResult
from synth.tools.python_sandbox import UNAVAILABLE, PythonInterpreter, SandboxLimits

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
    assert result.text.split()[:3] == ["65534", "etc-refused", "net-refused"], result.text
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
