"""`taxsms worker --processes N`: N worker processes on one host, one supervisor in front of them.

A worker is one asyncio loop on one core; a host with more cores runs more of them. They need nothing from
each other: each is a consumer of its own in the same groups (reclaim covers a dead one) and they share the
link's `--tps` through the Redis rate limiter, so N processes send no faster than one contract allows. The
supervisor starts them with the same command line (each with its own consumer name and metrics port), passes
SIGTERM and SIGINT on, and when one ends on its own it stops the others and exits with that code, so that the
service manager (systemd, a container runtime) restarts the whole unit; what the stopped ones held stays
pending for the restarted ones.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

STOP_GRACE_S = 10.0  # a worker ends within its own stop timeout (3 s by default); after this it is killed


def child_argv(argv: Sequence[str], index: int, *, consumer: str, metrics_port: int) -> list[str]:
    """The command line of worker `index`: argv without --processes, its own consumer name and metrics port."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--processes", "--consumer", "--metrics-port"):
            skip = "=" not in arg
            continue
        out.append(arg)
    out += ["--processes", "1", "--consumer", f"{consumer or socket.gethostname()}-p{index}"]
    if metrics_port:
        out += ["--metrics-port", str(metrics_port + index)]
    return out


def supervise(argv: Sequence[str], processes: int, *, consumer: str = "", metrics_port: int = 0) -> int:
    """Run `processes` workers with `argv` (the `taxsms worker ...` command line without the program name) until
    they end; their exit code."""
    command = [sys.executable, "-m", "taxsms"]
    children = [
        subprocess.Popen([*command, *child_argv(argv, i, consumer=consumer, metrics_port=metrics_port)])
        for i in range(processes)
    ]
    stopping = False

    def stop(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = 0
        while any(child.poll() is None for child in children):
            for child in children:
                if child.poll() is not None and not stopping:
                    code = child.returncode  # one ended on its own: stop the rest, report it
                    stop()
            time.sleep(0.1)
            if stopping:
                _reap(children)
        if not stopping:
            code = max(child.returncode for child in children)
        return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _reap(children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
