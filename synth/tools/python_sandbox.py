"""`PythonInterpreter`: the agent's code run in a sandboxed subprocess.

The kernel enforces the sandbox; a Python-level guard only adds clear error messages. Kernel layers, one
of which must be available (else the tool refuses to run, unless built with isolation="none"):
- bubblewrap (`bwrap`): private network and pid namespaces, the system bound read-only, a fresh /tmp,
  only the scratch directory writable;
- else, as root, `unshare` + `setpriv`: new mount, network and pid namespaces (`unshare -m -n -p -f
  --mount-proc`); inside, before dropping privileges, a wrapper script mounts fresh size-limited tmpfs
  over /tmp, /var/tmp and /dev/shm, makes the scratch directory its own tmpfs (the total-disk limit,
  `max_disk_mb`), remounts / (and, as far as they allow it, the other mounts) read-only, then runs the
  interpreter as `nobody` with no capabilities and no-new-privs. The pid namespace kills whatever the
  code started when the interpreter ends, and hides the parent's /proc entries;
- with bwrap as root, `setpriv` drops to `nobody` as well.
isolation="none" keeps only the Python guard, which is advisory: a determined script can get around it.
Always, inside the child before the agent's code runs: resource limits (CPU, address space, processes,
file size, open files) and the guard — `socket.socket` replaced, `ctypes` (and the modules that reach
around the guard) refused at import, and an audit hook that refuses network, process creation and
writes outside the scratch directory with a PermissionError.
The limits are set by the child's bootstrap rather than in `preexec_fn`, which is unsafe in a process
with threads (and the tools run beside threads); the child cannot raise a hard limit once lowered.
RLIMIT_NPROC counts every process *and thread* of the child's real user (for `nobody`: all sandboxes at
once; without setpriv: all of the calling user's), so it is set high enough for thread pools (256); fork
bombs are contained by the pid namespace and the guard rather than by this limit.
The environment is empty but for PATH, LANG and HOME/TMPDIR = the scratch directory; the working
directory is a fresh scratch directory, removed afterwards (off the event loop). Wall time is enforced by
killing the child's whole process group; output beyond the limit is cut, and the child killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from synth.tools.base import Tool, ToolError, ToolResult

NOBODY = 65534

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
    sys.stderr.flush()
    os._exit(1)
'''

# Runs as root inside the new mount, network and pid namespaces (`unshare`), before privileges are dropped:
# $1 the scratch directory, $2 the size in MB of it and of each fresh /tmp, then the command to run.
# The interpreter runs as a child of this shell (pid 1 of the namespace), not exec'd into its place: the
# kernel ignores SIGXCPU and SIGXFSZ sent to a namespace's pid 1. Its status comes back as 128 + signal.
MOUNT_SCRIPT = r'''
set -e
scratch=$1; size=$2; shift 2
for dir in /tmp /var/tmp /dev/shm; do
    if [ -d "$dir" ]; then mount -t tmpfs -o "size=${size}m,mode=1777,nosuid,nodev" sandbox-tmp "$dir"; fi
done
mkdir -p "$scratch"
mount -t tmpfs -o "size=${size}m,mode=0700,uid=65534,gid=65534,nosuid,nodev" sandbox-scratch "$scratch"
mount -o remount,bind,ro /
while read -r _ _ _ _ point _; do
    case "$point" in
        /|/proc|/proc/*|/tmp|/var/tmp|/dev/shm|"$scratch") ;;
        *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;;
    esac
done < /proc/self/mountinfo
cd "$scratch"
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
    -- "$@"
exit $?
'''


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 30.0
    cpu_s: int = 20
    memory_mb: int = 1024  # address space; numpy and friends need a few hundred MB of it
    # RLIMIT_NPROC counts every process and thread of the child's real user (see the module's docstring):
    # high enough for thread pools; fork bombs are held by the pid namespace and the guard
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


@dataclass
class RunOutcome:
    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool = False
    output_cut: bool = False


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
        self.python = python or sys.executable
        self.isolation = isolation
        self.layers = isolation_layers(isolation)

    @property
    def endpoint(self) -> str:
        return "sandbox:" + ("+".join(self.layers) or "python-guard")

    @property
    def available(self) -> bool:
        """Whether the kernel enforces the sandbox here, or the caller accepted the guard alone."""
        return bool(self.layers) or self.isolation == "none"

    def cache_identity(self) -> dict:
        return {"limits": self.limits.__dict__, "python": self.python}

    def command(self, scratch: str) -> list[str]:
        import json

        # ctypes reaches around any Python guard: refused where the guard is all there is; allowed where the
        # kernel contains what it can do (pandas, polars and fsspec import it on their way in)
        options = {"block_ctypes": not self.layers}
        inner = [self.python, "-I", "-B", "-c", BOOTSTRAP, json.dumps(self.limits.rlimits()), json.dumps(options)]
        if "unshare" in self.layers:  # the wrapper script mounts, then drops to nobody itself
            return [*UNSHARE, "sh", "-c", MOUNT_SCRIPT, "sandbox-mounts", scratch, str(self.limits.max_disk_mb),
                    *inner]
        if "setpriv" in self.layers:
            inner = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                     "--inh-caps=-all", "--bounding-set=-all", "--", *inner]
        if "bwrap" in self.layers:
            return ["bwrap", "--unshare-net", "--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/",
                    "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
                    "--bind", scratch, scratch, "--chdir", scratch, "--", *inner]
        return inner

    async def run(self, arguments: dict) -> ToolResult:
        if not self.available:
            return ToolResult(f"Error: {UNAVAILABLE}.", error="sandbox_unavailable")
        code = arguments["code"]
        scratch = await asyncio.to_thread(self._make_scratch)
        try:
            outcome = await self.execute(code, scratch)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, ignore_errors=True)
        return self.render(outcome)

    def _make_scratch(self) -> str:
        scratch = tempfile.mkdtemp(prefix="pysandbox-", dir=self.scratch_root)
        if "setpriv" in self.layers:
            os.chown(scratch, NOBODY, NOBODY)
        return scratch

    async def execute(self, code: str, scratch: str) -> RunOutcome:
        # one-thread math libraries: every sandbox runs as the same uid, whose process limit they share
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": scratch, "TMPDIR": scratch,
               "PYTHONIOENCODING": "utf-8"}
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command(scratch), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=scratch, env=env, start_new_session=True)
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
            reason = {signal.SIGXCPU: f"it used more than {self.limits.cpu_s} s of CPU time",
                      signal.SIGKILL: "it was killed (memory or time limit)",
                      signal.SIGSEGV: "it crashed (segmentation fault; often the memory limit)",
                      signal.SIGXFSZ: f"it wrote a file larger than {self.limits.max_file_mb} MB"}.get(sig, error)
            parts.append(f"Error: the code was stopped: {reason}.")
        elif code:
            error = f"exit:{code}"
            if not stderr.strip():
                parts.append(f"Exit status {code}.")
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
