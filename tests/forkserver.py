"""Run `ctcasr` commands as real child processes forked from a process that has imported the heavy libraries.

A command in a fresh interpreter spends 4-20 s importing torch and Lightning before it does anything; the tests
run a few hundred. `python tests/forkserver.py` imports them once (and runs no torch operation, so no OpenMP
thread pool exists to be broken by fork), then for each request on stdin — one JSON line `{"args", "cwd",
"timeout", "env"}` — forks a child that runs `python -m ctcasr.cli ARGS` exactly as the interpreter would
(`runpy`, `SystemExit` codes, a traceback and exit code 1 for an uncaught exception, atexit handlers), its
stdin /dev/null and stdout/stderr in files, in its own process group (killed whole at the time limit). The
answer is one JSON line `{"returncode", "stdout", "stderr", "timed_out"}` on the descriptor that was stdout.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import runpy
import shutil
import signal
import sys
import tempfile
import time
import traceback

PRELOAD = ("numpy", "soundfile", "torch", "lightning", "yaml", "ctcasr.cli", "ctcasr.checkpoint", "ctcasr.config",
           "ctcasr.decoding", "ctcasr.decoding.lm", "ctcasr.training", "ctcasr.transcribe", "ctcasr.evaluation",
           "ctcasr.tune_lm", "ctcasr.units", "ctcasr.data.manifest", "ctcasr.data.corpora")


def _child(args: list[str], cwd: str | None, env: dict, out: str, err: str, answer_fd: int) -> None:
    """Become `python -m ctcasr.cli ARGS`; never returns."""
    code = 1
    try:
        os.setsid()
        os.close(answer_fd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(out, os.O_WRONLY), 1)
        os.dup2(os.open(err, os.O_WRONLY), 2)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the process ends with os._exit
        os.environ.update(env)
        if cwd:
            os.chdir(cwd)
        sys.path[0] = os.getcwd()  # as `python -m` has it (here it was this script's folder)
        sys.argv = [sys.executable, *args]
        sys.modules.pop("ctcasr.cli", None)  # as under `python -m`: the module runs as __main__ only
        try:
            runpy.run_module("ctcasr.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
            traceback.print_exc()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def run(request: dict, answer_fd: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="ctcasr-fork-")  # not TemporaryDirectory: its finalizer would run in the child
    try:
        out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        for name in (out, err):
            open(name, "w").close()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request["args"], request.get("cwd"), request.get("env") or {}, out, err, answer_fd)
        deadline = time.monotonic() + float(request.get("timeout") or 600)
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.005)
        with open(out, errors="replace") as o, open(err, errors="replace") as e:
            return {"returncode": os.waitstatus_to_exitcode(status), "stdout": o.read(), "stderr": e.read(),
                    "timed_out": timed_out}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a library prints on import goes to stderr, not into the answers
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what the CLI sets for everything but training
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    answer.write("ready\n")
    answer.flush()
    for line in sys.stdin:
        answer.write(json.dumps(run(json.loads(line), answer.fileno())) + "\n")
        answer.flush()


if __name__ == "__main__":
    main()
