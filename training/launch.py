"""The `deepspeed` launcher: its exact command line for one node or many (through a hostfile), and a
run of it as a subprocess whose output streams line by line to a callback and to `OUT/launcher.log`.

One node: `deepspeed --num_nodes 1 --num_gpus G --master_port P --module training.run MODE ...` starts G
ranks (on CPU, with DS_ACCELERATOR=cpu, G processes). Many nodes: `--hostfile H --num_nodes N` and
`--master_addr` (the first host unless given); DeepSpeed reaches the hosts over passwordless ssh (pdsh by
default) or through another multi-node backend (`launcher`: openmpi, slurm, ...); the openmpi, mvapich,
mpich and impi backends run a rank on every slot of the hostfile, which must then name exactly the nodes and
slots wanted; under slurm, openmpi and mvapich the ranks find each other through MPI (mpi4py, see
`training.engine.init_distributed`). Ranks are not bound to cores by default (`bind_cores` asks DeepSpeed
to, with numactl, for multi-rank CPU runs).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from drsynth.synth.sections import Section

REPO = Path(__file__).resolve().parent.parent
LAUNCHER_LOG = "launcher.log"
Launcher = Literal["pdsh", "openmpi", "mvapich", "slurm", "mpich", "impi"]
LAUNCHERS: tuple[str, ...] = get_args(Launcher)
# backends that start a rank on every slot of the hostfile and refuse --num_nodes / --num_gpus
WHOLE_HOSTFILE = ("openmpi", "mvapich", "mpich", "impi")
HOSTFILE_LINE = re.compile(r"^(?P<host>[A-Za-z0-9_.:\-\[\]]+)\s+slots=(?P<slots>\d+)\s*$")


class LaunchError(RuntimeError):
    """The launcher could not start, or a rank failed."""


class LaunchSpec(Section):
    """`launch`: how many ranks the `deepspeed` launcher starts, on which nodes, and how they meet."""

    num_gpus: int = Field(1, ge=1)
    """Ranks per node: one per GPU (on CPU, processes per node)."""
    num_nodes: int = Field(1, ge=1)
    """Nodes to train on; more than 1 needs a hostfile naming them."""
    hostfile: str | None = None
    """Multi-node: a DeepSpeed hostfile on the launching machine, one 'HOST slots=N' line per node (N >=
    num_gpus); None: this machine only."""
    master_addr: str | None = None
    """Multi-node: the address the ranks meet at; None: the hostfile's first host."""
    master_port: int | None = Field(None, ge=0, le=65535)
    """The rendezvous port; None or 0: a free local port."""
    launcher: Launcher = "pdsh"
    """DeepSpeed's multi-node backend: pdsh (ssh to each host), slurm (srun), or openmpi, mvapich, mpich,
    impi (these start a rank on every slot of the hostfile, which must name exactly the nodes and slots
    wanted)."""
    bind_cores: bool = False
    """Bind each rank to its share of the CPU cores with numactl (multi-rank CPU runs)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.num_nodes > 1 and not self.hostfile:
            raise ValueError(f"launch: {self.num_nodes} nodes need a hostfile naming them")
        if self.hostfile:
            self.hosts()  # a hostfile that cannot hold the nodes and ranks asked for fails before anything runs
        return self

    def hosts(self) -> dict[str, int]:
        """The hostfile's {host: slots}, checked against num_nodes and num_gpus."""
        assert self.hostfile
        hosts = read_hostfile(self.hostfile)
        if len(hosts) < self.num_nodes:
            raise ValueError(f"{self.hostfile} names {len(hosts)} host(s), {self.num_nodes} nodes wanted")
        short = [h for h, slots in list(hosts.items())[:self.num_nodes] if slots < self.num_gpus]
        if short:
            raise ValueError(f"{self.hostfile}: {short} have fewer than {self.num_gpus} slots")
        if self.launcher in WHOLE_HOSTFILE and (len(hosts) != self.num_nodes or set(hosts.values()) != {self.num_gpus}):
            raise ValueError(f"the {self.launcher} backend starts a rank on every slot of {self.hostfile}: it must "
                             f"name exactly {self.num_nodes} host(s) of {self.num_gpus} slots each")
        return hosts


def read_hostfile(path: str | os.PathLike[str]) -> dict[str, int]:
    """`host slots=N` lines (blank lines and # comments skipped) -> {host: slots}; malformed is an error."""
    hosts: dict[str, int] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = HOSTFILE_LINE.match(line)
        if not match or int(match["slots"]) < 1:
            raise ValueError(f"{path}:{number}: expected 'HOST slots=N' with N >= 1, got {raw!r}")
        if match["host"] in hosts:
            raise ValueError(f"{path}:{number}: host {match['host']} appears twice")
        hosts[match["host"]] = int(match["slots"])
    if not hosts:
        raise ValueError(f"{path} names no host")
    return hosts


def write_hostfile(hosts: Mapping[str, int], path: str | os.PathLike[str]) -> str:
    """A hostfile for `hosts` ({host: slots}), checked by reading it back."""
    Path(path).write_text("".join(f"{host} slots={slots}\n" for host, slots in hosts.items()))
    read_hostfile(path)
    return os.fspath(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def deepspeed_executable() -> str:
    """The `deepspeed` script beside this Python (a virtualenv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "deepspeed"
    if beside.exists():
        return os.fspath(beside)
    found = shutil.which("deepspeed")
    if found is None:
        raise LaunchError("the deepspeed launcher is not installed (pip install 'drsynth[train]')")
    return found


def train_args(mode: str, *, data: str, version: str, model: str, out: str, config: str | None) -> list[str]:
    """What every rank runs: `python -m drsynth.training.run MODE ...`."""
    args = ["drsynth.training.run", mode, "--data", data, "--version", version, "--model", model, "--out", out]
    return [*args, "--config", config] if config else args


def launch_command(spec: LaunchSpec, args: Sequence[str], *, executable: str | None = None) -> list[str]:
    """The exact `deepspeed` command line for `spec` running the module invocation `args`."""
    cmd = [executable or deepspeed_executable()]
    if spec.hostfile:
        hosts = spec.hosts()
        cmd += ["--hostfile", os.fspath(spec.hostfile), "--launcher", spec.launcher,
                "--master_addr", spec.master_addr or next(iter(hosts))]
        if spec.launcher == "slurm":
            cmd.append("--no_ssh_check")  # srun starts the ranks: the nodes need not accept ssh
    if not (spec.hostfile and spec.launcher in WHOLE_HOSTFILE):  # those refuse the flags (checked above)
        cmd += ["--num_nodes", str(spec.num_nodes), "--num_gpus", str(spec.num_gpus)]
    cmd += ["--master_port", str(spec.master_port or free_port())]
    if spec.bind_cores:
        cmd.append("--bind_cores_to_rank")
    if spec.hostfile and spec.launcher == "slurm":
        # DeepSpeed's slurm backend runs `python -u SCRIPT` under srun and ignores --module: name the file
        return [*cmd, os.fspath(REPO / "training" / "run.py"), *args[1:]]
    return [*cmd, "--module", *args]


def run_launcher(cmd: Sequence[str], out: str | os.PathLike[str], on_line: Callable[[str], None] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
    """Run `cmd`, streaming each output line to `on_line` and `out/launcher.log`; a non-zero exit raises
    LaunchError with the log's last lines."""
    Path(out).mkdir(parents=True, exist_ok=True)
    log_path = Path(out) / LAUNCHER_LOG
    environ = dict(os.environ if env is None else env)
    environ["PYTHONUNBUFFERED"] = "1"
    tail: deque[str] = deque(maxlen=30)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        try:
            process = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       errors="replace", bufsize=1, env=environ, cwd=REPO)
        except OSError as exc:
            raise LaunchError(f"could not start {cmd[0]}: {exc}") from exc
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            log.write(line + "\n")
            log.flush()
            tail.append(line)
            if on_line is not None:
                on_line(line)
        code = process.wait()
    if code != 0:
        last = "\n".join(tail)
        raise LaunchError(f"the training launcher exited with status {code} (full log: {log_path}); last lines:\n{last}")
