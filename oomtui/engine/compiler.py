"""A first run's compile, in worker processes, while the run goes on interpreted.

With an empty cache numba needs minutes of CPU to compile the kernels. BackgroundCompile
starts one worker process per part of the warm-up (engine/warmup.py: PARTS), each compiling
its part into numba's on-disk cache (the NUMBA_CACHE_DIR they inherit), on cores of their own;
meanwhile the engine runs its kernels as plain Python (kernels/jit.py: interpret), with the
same results. When the workers are done, warm_up() in this process loads what they compiled
and the engine switches to the compiled kernels.

It is safe to stop at any time and to run twice at once: numba writes each cache file to a
temporary name and renames it into place, so a killed worker leaves only whole entries, and
two workers compiling the same kernel each write a whole copy. The cache is marked complete
(warmup.mark_complete) once every worker has succeeded (or a warm_up() in one process has run
every part compiled).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading

from oomtui.engine.warmup import EXPECTED_KERNELS, PARTS, is_complete, mark_complete

_WORKER = [sys.executable, "-m", "oomtui.engine.warmup"]


class BackgroundCompile:
    """Worker processes compiling warm_up()'s parts. `compiling` holds the kernel each worker
    compiles now ("" once it is done), `compiled` how many distinct kernels have started
    compiling, out of the `expected` a first run compiles (warmup.EXPECTED_KERNELS). A worker
    that cannot start or fails is in `errors`: then ok() is False, and the kernels compile in
    the process that needs them, on first use, as they always could."""

    def __init__(self, parts: tuple[str, ...] = PARTS) -> None:
        self.expected = EXPECTED_KERNELS
        self._names: set[str] = set()
        self.compiling = ["" for _ in parts]
        self.logs: dict[str, dict] = {}  # part -> its CompileLog summary, once done
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._workers: list[subprocess.Popen] = []
        self._stderr: list = []  # each worker's, a file
        try:
            for part in parts:
                # stderr to a file: a pipe nobody reads while stdout is read could fill and stop
                # the worker
                errors = tempfile.TemporaryFile()
                self._workers.append(subprocess.Popen(
                    _WORKER + [part, str(os.getpid())], stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=errors, text=True))
                self._stderr.append(errors)
        except OSError as e:  # no process can start here: done at once, and failed
            for w in self._workers:
                w.kill()
                w.wait()
            self._workers, parts = [], ()
            self.errors.append(f"cannot start a worker: {e}")
        self._readers = [threading.Thread(target=self._read, args=(i, part, w), daemon=True)
                         for i, (part, w) in enumerate(zip(parts, self._workers))]
        for r in self._readers:
            r.start()

    def _read(self, i: int, part: str, worker: subprocess.Popen) -> None:
        """A worker's lines: a kernel's name as it starts compiling, then its summary (JSON)."""
        for line in worker.stdout:
            line = line.strip()
            with self._lock:
                if line.startswith("{"):
                    self.logs[part] = json.loads(line)
                elif line:
                    self._names.add(line)
                    self.compiling[i] = line
        worker.wait()
        error = _read_back(self._stderr[i])
        with self._lock:
            self.compiling[i] = ""
            if worker.returncode != 0:
                self.errors.append(f"{part}: exit {worker.returncode}"
                                   + (f": {error.splitlines()[-1]}" if error else ""))

    @property
    def compiled(self) -> int:
        return min(len(self._names), self.expected)

    def done(self) -> bool:
        return not any(r.is_alive() for r in self._readers)

    def ok(self) -> bool:
        """Every worker finished and said so (its summary line)."""
        return self.done() and not self.errors and len(self.logs) == len(self._workers)

    def wait(self) -> bool:
        """Wait for the workers; True (and the cache marked complete) if they all succeeded."""
        for r in self._readers:
            r.join()
        if self.ok() and not is_complete():  # the first run's logs are kept
            mark_complete(self.logs)
        return self.ok()

    def stop(self) -> None:
        """End the workers (the app quits before they are done); what they wrote stays."""
        for w in self._workers:
            if w.poll() is None:
                w.kill()
        for r in self._readers:
            r.join()

    def status(self) -> str:
        """The kernels being compiled now."""
        with self._lock:
            return ", ".join(n for n in self.compiling if n)


def _read_back(file) -> str:
    """What a worker wrote to its stderr file; the file is closed (and so gone)."""
    with file:
        file.seek(0)
        return file.read().decode(errors="replace").strip()


def compile_all() -> bool:
    """Before a run without the app (a test run, a headless command): if the cache is not
    complete, compile it in the workers, side by side, and wait. False if a worker failed:
    then the kernels compile on first use, in this process, as they always could."""
    if is_complete():
        return True
    print("oomtui: compiling the engine (on the first run only: about a minute)…",
          file=sys.stderr, flush=True)
    return BackgroundCompile().wait()
