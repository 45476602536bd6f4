"""`PythonInterpreter`: the agent's code run in a sandboxed subprocess.

The kernel enforces the sandbox; a Python-level guard only adds clear error messages. Kernel layers, one
of which must be available (else the tool refuses to run, unless built with isolation="none"):
- bubblewrap (`bwrap`): private network and pid namespaces, the system bound read-only, a fresh /tmp,
  only the scratch directory writable;
- else, as root, `unshare` + `setpriv`: new mount, network and pid namespaces (`unshare -m -n -p -f
  --mount-proc`); inside, before dropping privileges, a wrapper script mounts fresh size-limited tmpfs
  over /tmp, /var/tmp and /dev/shm, makes the scratch directory its own tmpfs (the total-disk limit,
  `max_disk_mb`), remounts / (and, as far as they allow it, the other mounts) read-only, then runs the
  interpreter as an unprivileged uid with no capabilities and no-new-privs. The pid namespace kills
  whatever the code started when the interpreter ends, and hides the parent's /proc entries;
- with bwrap as root, `setpriv` drops privileges as well.
As root, each call runs as its own uid (`sandbox_limits.sandbox_uid`: a high range no account uses; `nobody`
where the user namespace maps no such range), so that the process cap is per sandbox.
What the interpreter needs from the host's /tmp, /var/tmp or /dev/shm (a virtualenv there, as on CI
machines and in containers: `interpreter_paths`) is bound back read-only over the fresh mounts; nothing
else of them is seen.
Memory and processes are limited per sandbox across all its processes by the resource layer
(`sandbox_limits`: a cgroup v2, else v1, child per call; else the address-space limit per process with
the per-uid process cap); `memory_layer` says which holds here.
`available` is a self-test: a real call (the kernel layer, the cgroup, the interpreter) that must print
its answer, made once per tool before its first call.
isolation="none" keeps only the Python guard, which is advisory: a determined script can get around it.
Always, inside the child before the agent's code runs: resource limits (CPU, address space, processes,
file size, open files) and the guard — `socket.socket` replaced, `ctypes` (and the modules that reach
around the guard) refused at import, and an audit hook that refuses network, process creation and
writes outside the scratch directory with a PermissionError.
The limits are set by the child's bootstrap rather than in `preexec_fn`, which is unsafe in a process
with threads (and the tools run beside threads); the child cannot raise a hard limit once lowered.
RLIMIT_NPROC counts every process *and thread* of the child's real user (with a uid per sandbox: that
sandbox's; without setpriv: all of the calling user's), so it is set high enough for thread pools (256);
a cgroup's pids.max holds the same cap per sandbox.
The environment is empty but for PATH, LANG and HOME/TMPDIR = the scratch directory; the working
directory is a fresh scratch directory, removed afterwards (off the event loop). Wall time is enforced by
killing the child's whole process group; output beyond the limit is cut, and the child killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from drsynth.synth.tools.base import Tool, ToolError, ToolResult
from drsynth.synth.tools.sandbox_limits import (
    LAUNCHER_TASKS,
    NOBODY,
    SandboxCgroup,
    cgroup_parent,
    launcher,
    sandbox_uid,
)

# Runs in the child, before the agent's code (read from stdin). Limits and guard options come in argv as JSON.
BOOTSTRAP = r'''
import json, os, re, resource, sys
limits, options = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name, value in limits.items():
    # CPU: the soft limit sends SIGXCPU (a clear reason), the hard one a second later SIGKILL
    hard = value + 1 if name == "RLIMIT_CPU" else value
    with __import__("contextlib").suppress(ValueError, OSError):
        resource.setrlimit(getattr(resource, name), (value, hard))
code = sys.stdin.read()
SCRATCH = os.path.realpath(os.getcwd())
NET = "network access is disabled in the sandbox"
PROC = "starting processes is disabled in the sandbox"
import socket
class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        raise PermissionError(NET)
socket.socket = _NoSocket
socket.SocketType = _NoSocket
def _no_process(*args, **kwargs):
    raise PermissionError(PROC)
import _posixsubprocess, posix
_posixsubprocess.fork_exec = _no_process  # the fork+exec under subprocess; it raises no audit event
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn",
                   "os.spawn", "pty.spawn", "os.startfile"}
# event: (indices of the paths it changes, index of the dir_fd each is relative to or None), as in 3.11
_PATH_EVENTS = {"os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.chmod": ((0, 2),),
                "os.chown": ((0, 3),), "os.rename": ((0, 2), (1, 3)), "os.link": ((1, 3),),
                "os.symlink": ((1, 2),), "os.truncate": ((0, None),), "os.utime": ((0, 3),),
                "shutil.rmtree": ((0, 1),), "shutil.move": ((0, None), (1, None)),
                "shutil.copyfile": ((1, None),)}
# modules that reach around this guard: subinterpreters (which have no audit hooks), test helpers that poke
# at memory, and — where no kernel layer contains what it does — ctypes; refused at import (an ImportError,
# which libraries treat as "not available")
_BLOCKED_MODULES = {"_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels", "_testcapi",
                    "_testinternalcapi", "_testmultiphase", "_testclinic", "_testbuffer"}
if options["block_ctypes"]:
    _BLOCKED_MODULES |= {"ctypes", "_ctypes"}
# libc functions that start processes, open sockets or change privileges or mounts: refused when looked up
# through ctypes (where ctypes is allowed at all) — a clearer message; the kernel layer is what holds
_DANGEROUS_SYMBOLS = {"fork", "vfork", "_Fork", "__libc_fork", "clone", "clone3", "daemon", "forkpty",
                      "system", "popen", "posix_spawn", "posix_spawnp", "execve", "execv", "execvp", "execvpe",
                      "execl", "execlp", "execle", "fexecve", "execveat", "socket", "socketpair", "connect",
                      "setuid", "setreuid", "setresuid", "kill", "ptrace", "syscall", "unshare", "setns",
                      "mount", "umount", "umount2", "chroot", "prctl"}
_ENVIRON = re.compile(r"/proc/[^/]+(/task/[^/]+)?/environ")
_realpath, _readlink, _getcwd, _fspath, _fsdecode = (os.path.realpath, os.readlink, os.getcwd, os.fspath,
                                                     os.fsdecode)
def _resolve(path, dir_fd=None):
    if isinstance(path, int):  # an open descriptor: what it points to
        target = _readlink(f"/proc/self/fd/{path}")
        return _realpath(target) if target.startswith("/") else None  # a pipe, a socket: no file
    path = _fsdecode(_fspath(path))
    if not path.startswith("/"):
        base = _getcwd() if dir_fd is None else _readlink(f"/proc/self/fd/{dir_fd}")
        path = base + "/" + path
    return _realpath(path)
def _inside(path, dir_fd=None):
    try:
        real = _resolve(path, dir_fd)
    except (OSError, TypeError, ValueError):
        return False
    return real is None or real == SCRATCH or real.startswith(SCRATCH + "/") or real == "/dev/null"
def _hook(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        if isinstance(path, int):
            return
        try:
            real = _resolve(path)
        except (OSError, TypeError, ValueError):
            real = ""
        if _ENVIRON.fullmatch(real) or _ENVIRON.fullmatch(_fsdecode(_fspath(path))):
            raise PermissionError("reading process environments is disabled in the sandbox")
        writing = bool(mode and any(c in str(mode) for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        if writing and not _inside(path):
            raise PermissionError(f"writing outside the scratch directory is disabled in the sandbox: {path!r}")
    elif event == "import":
        if args and str(args[0]).partition(".")[0] in _BLOCKED_MODULES:
            raise ModuleNotFoundError(f"the module {args[0]} is disabled in the sandbox")
    elif event.startswith("socket.") and event != "socket.gethostname":
        raise PermissionError(NET)
    elif event in _PROCESS_EVENTS:
        raise PermissionError(PROC)
    elif event in ("os.kill", "os.killpg") and args and args[0] not in (os.getpid(), 0):
        raise PermissionError("signalling other processes is disabled in the sandbox")
    elif event in _PATH_EVENTS:
        for where, fd_at in _PATH_EVENTS[event]:
            path = args[where] if where < len(args) else None
            dir_fd = args[fd_at] if fd_at is not None and fd_at < len(args) else None
            dir_fd = dir_fd if isinstance(dir_fd, int) and dir_fd >= 0 else None  # -1: none given
            if path is not None and not _inside(path, dir_fd):
                raise PermissionError("changing files outside the scratch directory is disabled in the sandbox")
    elif event in ("ctypes.dlsym", "ctypes.dlsym/handle") and len(args) > 1 and str(args[1]) in _DANGEROUS_SYMBOLS:
        raise PermissionError(f"calling {args[1]} through ctypes is disabled in the sandbox")
    elif event == "cpython.PyInterpreterState_New":
        raise PermissionError("subinterpreters are disabled in the sandbox")
_os_open = os.open
def _open(path, flags, mode=0o777, *, dir_fd=None):
    # the "open" audit event does not carry dir_fd: a write relative to one is checked here
    if dir_fd is not None and flags & _WRITE_FLAGS and not _inside(path, dir_fd):
        raise PermissionError(f"writing outside the scratch directory is disabled in the sandbox: {path!r}")
    return _os_open(path, flags, mode, dir_fd=dir_fd)
os.open = posix.open = _open
os.supports_dir_fd.add(_open)
sys.addaudithook(_hook)
del json, resource, limits, options
__main = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    exec(compile(code, "<code>", "exec"), __main)
except SystemExit as exc:
    # statuses above 125 would read as "killed by a signal" through the sandbox's wrapper shell
    if isinstance(exc.code, int) and not 0 <= exc.code <= 125:
        raise SystemExit(1) from None
    raise
except BaseException as exc:
    # the traceback of the agent's code only, without this bootstrap's frames
    import traceback
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    report.stack = traceback.StackSummary.from_list([f for f in report.stack if f.filename != "<string>"])
    sys.stderr.write("".join(report.format()))
    for stream in (sys.stdout, sys.stderr):  # os._exit flushes nothing: what was printed before would be lost
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(1)
'''

# Runs as root inside the new mount, network and pid namespaces (`unshare`), before privileges are dropped:
# $1 the scratch directory, $2 the size in MB of it and of each fresh /tmp, $3 the uid (and gid) to run as,
# $4 the host paths under /tmp, /var/tmp and /dev/shm to keep (`interpreter_paths`, one a line), then the
# command to run. Each fresh mount hides the host's directory, which stays reachable as this shell's working
# directory: a kept path is bound back, read-only, by its path relative to it (`mount -c`: as given, not
# resolved again through the fresh mount).
# The interpreter runs as a child of this shell (pid 1 of the namespace), not exec'd into its place: the
# kernel ignores SIGXCPU and SIGXFSZ sent to a namespace's pid 1. Its status comes back as 128 + signal.
MOUNT_SCRIPT = r'''
set -e
scratch=$1; size=$2; uid=$3; keep=$4; shift 4
for dir in /tmp /var/tmp /dev/shm; do
    [ -d "$dir" ] || continue
    cd "$dir"
    mount -t tmpfs -o "size=${size}m,mode=1777,nosuid,nodev" sandbox-tmp "$dir"
    printf '%s\n' "$keep" | while IFS= read -r path; do
        case "$path" in
            "$dir"/*)
                relative="./${path#"$dir"/}"
                if [ -d "$relative" ]; then mkdir -p "$path"; else mkdir -p "${path%/*}"; : > "$path"; fi
                mount -c --rbind "$relative" "$path"
                mount -o remount,bind,ro "$path" ;;
        esac
    done
done
cd /
mkdir -p "$scratch"
mount -t tmpfs -o "size=${size}m,mode=0700,uid=$uid,gid=$uid,nosuid,nodev" sandbox-scratch "$scratch"
mount -o remount,bind,ro /
while read -r _ _ _ _ point _; do
    case "$point" in
        /|/proc|/proc/*|/tmp|/var/tmp|/dev/shm|"$scratch") ;;
        *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;;
    esac
done < /proc/self/mountinfo
cd "$scratch"
set +e
setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
    -- "$@"
exit $?
'''


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 30.0
    cpu_s: int = 20
    # the sandbox's memory, all its processes (and its tmpfs files) together where a cgroup holds it
    # (`memory_layer`), and each process's address space always; numpy and friends need a few hundred MB
    memory_mb: int = 1024
    # processes and threads of one sandbox (pids.max of its cgroup, RLIMIT_NPROC of its uid): high enough
    # for thread pools; fork bombs stop here
    max_processes: int = 256
    max_file_mb: int = 16
    max_disk_mb: int = 64  # the scratch directory and each fresh /tmp (a tmpfs each; unshare layer)
    max_open_files: int = 64
    max_output_chars: int = 20_000

    def rlimits(self) -> dict[str, int]:
        return {"RLIMIT_CPU": self.cpu_s, "RLIMIT_AS": self.memory_mb << 20, "RLIMIT_NPROC": self.max_processes,
                "RLIMIT_FSIZE": self.max_file_mb << 20, "RLIMIT_NOFILE": self.max_open_files, "RLIMIT_CORE": 0}


@functools.cache
def _works(*command: str) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=10, env={"PATH": os.defpath}).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


UNSHARE = ("unshare", "-m", "-n", "-p", "-f", "--mount-proc", "--propagation", "private", "--")
ISOLATIONS = ("auto", "none")
UNAVAILABLE = ("the Python sandbox needs bubblewrap or unshare on this machine; set isolation='none' to accept "
               "a weaker, audit-hook-only sandbox")


def isolation_layers(prefer: str = "auto") -> list[str]:
    """The kernel-level layers this machine offers: ["bwrap"], ["bwrap", "setpriv"] (as root),
    ["unshare", "setpriv"] (as root), or [] (none, or `prefer`="none")."""
    if prefer not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {ISOLATIONS}, not {prefer!r}")
    if prefer == "none":
        return []
    root = os.geteuid() == 0
    setpriv = root and bool(shutil.which("setpriv")) and _works(
        "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
        "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", "0")
    if shutil.which("bwrap") and _works("bwrap", "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/",
                                        "--proc", "/proc", "--tmpfs", "/tmp", "true"):
        return ["bwrap", "setpriv"] if setpriv else ["bwrap"]
    # unshare alone leaves the code root, able to undo the read-only mounts: it counts only with setpriv
    if setpriv and shutil.which("unshare") and _works(
            *UNSHARE, "sh", "-c", "mount -t tmpfs -o size=1m sandbox-probe /tmp && mount -o remount,bind,ro /"):
        return ["unshare", "setpriv"]
    return []


SHADOWED = ("/tmp", "/var/tmp", "/dev/shm")  # the directories the kernel layers replace with fresh mounts
_PATHS_PROBE = ("import json, sys\n"
                "print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]))")


@functools.cache
def interpreter_paths(python: str) -> tuple[str, ...]:
    """The host paths under /tmp, /var/tmp or /dev/shm that `python` needs to start and import (the
    directories of its symlinks' hops, its prefixes, its import path), fewest first: the sandbox binds them
    back, read-only, over its fresh mounts there."""
    paths, hop = set(), python
    for _ in range(40):  # a symlink loop ends here; the self-test reports the interpreter that does not run
        paths.add(os.path.dirname(hop))
        if os.path.dirname(hop) in SHADOWED and not os.path.islink(hop):
            paths.add(hop)  # an interpreter right in /tmp: the file alone, not the whole directory
        if not os.path.islink(hop):
            break
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        probe = subprocess.run([python, "-I", "-c", _PATHS_PROBE], capture_output=True, timeout=30, check=True,
                               env={"PATH": os.defpath})
        paths.update(p for p in json.loads(probe.stdout) if isinstance(p, str))
    paths |= {os.path.realpath(p) for p in paths if p}
    wanted = sorted(os.path.normpath(p) for p in paths
                    if p.startswith("/") and "\n" not in p and os.path.exists(p)
                    and any(p.startswith(d + "/") for d in SHADOWED))
    kept: list[str] = []
    for path in wanted:  # sorted: a directory comes before what is under it
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


SELF_TEST = ("print(6 * 7)", "42")


@dataclass
class RunOutcome:
    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool = False
    output_cut: bool = False
    memory_peak_mb: float | None = None  # the sandbox's peak, all its processes together (cgroup layers)
    oom_kills: int = 0  # processes the kernel killed at the sandbox's memory limit


class PythonInterpreter(Tool):
    name = "PythonInterpreter"
    description = ("Executes Python code in a sandbox (no network, no secrets, limited CPU time and memory) "
                   "and returns its printed output. Use print() to see values. The code goes inside "
                   "<code></code> tags after the tool call's JSON.")
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"code": {"type": "string", "minLength": 1, "description": "The Python code to run."}},
        "required": ["code"],
    }

    def __init__(self, *, scratch_root: str | os.PathLike | None = None, limits: SandboxLimits | None = None,
                 python: str | None = None, isolation: str = "auto", **kwargs: Any) -> None:
        self.limits = limits or SandboxLimits()
        kwargs.setdefault("timeout_s", self.limits.wall_s + 15.0)
        kwargs.setdefault("retries", 0)  # a run that fails will fail again
        super().__init__(**kwargs)
        self.scratch_root = os.fspath(scratch_root) if scratch_root else None
        if self.scratch_root:
            os.makedirs(self.scratch_root, exist_ok=True)
        # absolute, for the sandbox starts in its scratch directory; not resolved, for a virtualenv's
        # interpreter finds its environment by the path it was started as
        self.python = os.path.abspath(python or sys.executable)
        self.isolation = isolation
        self.layers = isolation_layers(isolation)
        self._cgroups = cgroup_parent()
        self._self_test: str | None = None
        self._self_tested = False
        self._self_test_lock = threading.Lock()

    @property
    def memory_layer(self) -> str:
        """What holds the sandbox's memory across its processes: "cgroup-v2", "cgroup-v1" or "rlimit"."""
        return self._cgroups.layer if self._cgroups else "rlimit"

    @property
    def endpoint(self) -> str:
        return "sandbox:" + ("+".join(self.layers) or "python-guard") + "+" + self.memory_layer

    @property
    def available(self) -> bool:
        """Whether the sandbox really runs code here (a self-test, once), with the kernel enforcing it or the
        caller having accepted the guard alone."""
        return self.self_test() is None

    def self_test(self) -> str | None:
        """None where a test call in the sandbox prints its answer, else why the sandbox does not run here."""
        with self._self_test_lock:
            if not self._self_tested:
                self._self_test, self._self_tested = self._run_self_test(), True
            return self._self_test

    def _run_self_test(self) -> str | None:
        if not self.layers and self.isolation != "none":
            return UNAVAILABLE
        interpreter_paths(self.python)  # here, off the event loop, before `command` needs it
        code, answer = SELF_TEST
        with ThreadPoolExecutor(1) as pool:  # a loop of its own: `available` may be read inside one
            try:
                outcome = pool.submit(asyncio.run, self.run_code(code)).result()
            except ToolError as exc:
                return str(exc)
        if outcome.returncode == 0 and outcome.stdout.strip() == answer:
            return None
        said = (outcome.stderr.strip() or outcome.stdout.strip())[-500:] or "no output"
        status = "timed out" if outcome.timed_out else f"exit status {outcome.returncode}"
        return f"a test call of {self.python} in the sandbox failed ({status}): {said}"

    def cache_identity(self) -> dict:
        return {"limits": self.limits.__dict__, "python": self.python}

    def command(self, scratch: str, uid: int = NOBODY) -> list[str]:
        # ctypes reaches around any Python guard: refused where the guard is all there is; allowed where the
        # kernel contains what it can do (pandas, polars and fsspec import it on their way in)
        options = {"block_ctypes": not self.layers}
        inner = [self.python, "-I", "-B", "-c", BOOTSTRAP, json.dumps(self.limits.rlimits()), json.dumps(options)]
        if "unshare" in self.layers:  # the wrapper script mounts, then drops to `uid` itself
            return [*UNSHARE, "sh", "-c", MOUNT_SCRIPT, "sandbox-mounts", scratch, str(self.limits.max_disk_mb),
                    str(uid), "\n".join(interpreter_paths(self.python)), *inner]
        if "setpriv" in self.layers:
            inner = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                     "--inh-caps=-all", "--bounding-set=-all", "--", *inner]
        if "bwrap" in self.layers:
            keep = [arg for path in interpreter_paths(self.python) for arg in ("--ro-bind", path, path)]
            return ["bwrap", "--unshare-net", "--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/",
                    "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", *keep,
                    "--bind", scratch, scratch, "--chdir", scratch, "--", *inner]
        return inner

    async def run(self, arguments: dict) -> ToolResult:
        reason = await asyncio.to_thread(self.self_test)
        if reason == UNAVAILABLE:
            return ToolResult(f"Error: {UNAVAILABLE}.", error="sandbox_unavailable")
        if reason is not None:
            return ToolResult(f"Error: the Python sandbox does not run here: {reason}", error="sandbox_unavailable")
        return self.render(await self.run_code(arguments["code"]))

    async def run_code(self, code: str) -> RunOutcome:
        """One call in a fresh scratch directory: its raw outcome (no self-test, no rendering)."""
        uid = sandbox_uid() if "setpriv" in self.layers else NOBODY
        scratch = await asyncio.to_thread(self._make_scratch, uid)
        try:
            return await self.execute(code, scratch, uid)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, ignore_errors=True)

    def _make_scratch(self, uid: int = NOBODY) -> str:
        scratch = tempfile.mkdtemp(prefix="pysandbox-", dir=self.scratch_root)
        if "setpriv" in self.layers:
            os.chown(scratch, uid, uid)
        return scratch

    async def execute(self, code: str, scratch: str, uid: int = NOBODY) -> RunOutcome:
        cgroup: SandboxCgroup | None = None
        if self._cgroups is not None:
            try:
                cgroup = await asyncio.to_thread(self._cgroups.create, self.limits.memory_mb << 20,
                                                 self.limits.max_processes + LAUNCHER_TASKS)
            except OSError as exc:  # never run without the limits: the call fails instead
                raise ToolError(f"the sandbox could not make its cgroup: {exc}") from None
        try:
            outcome = await self._execute(code, scratch, uid, cgroup)
        finally:
            report = await asyncio.to_thread(cgroup.close) if cgroup else None  # whatever is left: killed
        if report is not None:
            outcome.memory_peak_mb = None if report.peak_bytes is None else round(report.peak_bytes / 2**20, 1)
            outcome.oom_kills = report.oom_kills
        return outcome

    async def _execute(self, code: str, scratch: str, uid: int, cgroup: SandboxCgroup | None) -> RunOutcome:
        # one-thread math libraries: threads count against the sandbox's process cap. USER and LOGNAME: a
        # sandbox uid has no account, and getpass.getuser() would fail without them
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch, "TMPDIR": scratch,
               "PYTHONIOENCODING": "utf-8", "USER": "sandbox", "LOGNAME": "sandbox"}
        try:
            proc = await asyncio.create_subprocess_exec(
                *launcher(cgroup, self.command(scratch, uid)), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=scratch, env=env,
                start_new_session=True)
        except OSError as exc:
            raise ToolError(f"the sandbox could not start: {exc}") from None
        limit = self.limits.max_output_chars
        cut = asyncio.Event()

        async def drain(stream: asyncio.StreamReader, sink: bytearray) -> None:
            while chunk := await stream.read(65536):
                if len(sink) < limit * 4:
                    sink.extend(chunk)
                if len(sink) >= limit * 4:
                    cut.set()  # a flood of output: stop the code rather than read it all
                    _kill_group(proc.pid)

        out, err = bytearray(), bytearray()
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(code.encode("utf-8"))
            await proc.stdin.drain()
            proc.stdin.close()
        timed_out = False
        readers = asyncio.gather(drain(proc.stdout, out), drain(proc.stderr, err), proc.wait())
        try:
            await asyncio.wait_for(asyncio.shield(readers), self.limits.wall_s)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(readers, 5.0)
        except asyncio.CancelledError:
            _kill_group(proc.pid)
            raise
        finally:
            _kill_group(proc.pid)  # whatever the code left behind in its group
        returncode = proc.returncode
        if "unshare" in self.layers and returncode is not None and 128 < returncode <= 128 + 64:
            returncode = 128 - returncode  # the wrapper shell's "killed by signal N", as Popen reports it
        return RunOutcome(out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), returncode,
                          timed_out=timed_out, output_cut=cut.is_set())

    def render(self, outcome: RunOutcome) -> ToolResult:
        limit = self.limits.max_output_chars
        stdout, stderr = outcome.stdout, outcome.stderr
        parts, error = [], None
        if stdout:
            parts.append(_clip(stdout, limit, head=True))
        if stderr.strip():
            parts.append("stderr:\n" + _clip(stderr, limit // 2, head=False))
        code = outcome.returncode
        if outcome.timed_out:
            error = "timeout"
            parts.append(f"Error: the code ran past the {self.limits.wall_s:g} s time limit and was stopped.")
        elif outcome.output_cut:
            error = "output_limit"
            parts.append(f"Error: the code printed more than {limit * 4} characters and was stopped.")
        elif code is not None and code < 0:
            sig = -code
            error = f"signal:{signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig}"
            killed = (f"it used more than {self.limits.memory_mb} MB of memory (all its processes together)"
                      if outcome.oom_kills else "it was killed (memory or time limit)")
            reason = {signal.SIGXCPU: f"it used more than {self.limits.cpu_s} s of CPU time",
                      signal.SIGKILL: killed,
                      signal.SIGSEGV: "it crashed (segmentation fault; often the memory limit)",
                      signal.SIGXFSZ: f"it wrote a file larger than {self.limits.max_file_mb} MB"}.get(sig, error)
            parts.append(f"Error: the code was stopped: {reason}.")
        elif code:
            error = f"exit:{code}"
            if not stderr.strip():
                parts.append(f"Exit status {code}.")
        if outcome.oom_kills and not (code is not None and code < 0):
            parts.append(f"Note: {outcome.oom_kills} of its processes used more than the sandbox's "
                         f"{self.limits.memory_mb} MB of memory and were killed.")
        if not parts:
            parts.append("Finished execution with no output. Use print() to show values.")
        return ToolResult("\n".join(parts), error=error)


def _clip(text: str, limit: int, *, head: bool) -> str:
    if len(text) <= limit:
        return text
    note = f"\n... [output cut: {len(text) - limit} more characters] ...\n"
    return text[:limit] + note if head else note + text[-limit:]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
