"""Process plumbing of the multicore executor: start method, worker-process setup, orderly shutdown.

Start method (:func:`start_method`, the one rule for every process ampsim starts, the sweep pool's too):
``AMPSIM_MP_START`` if set, else ``fork`` on Linux while the process runs a single thread (a worker starts in
milliseconds and inherits the model and the dataset without pickling), else ``spawn`` (each worker then receives
its nodes pickled). Whatever the method, every worker:

* runs a single-threaded BLAS (its GEMMs are one instance's rows, and the cores belong to the workers):
  ``OPENBLAS_NUM_THREADS`` etc. are set to 1 and, for a forked child whose BLAS is already loaded, the
  library's ``set_num_threads`` is called through ctypes;
* ignores SIGINT (the controller handles Ctrl-C and stops the workers itself);
* asks Linux to SIGKILL it if the controller process dies (``PR_SET_PDEATHSIG``), so no worker outlives
  a killed controller, and it also exits when its controller socket reaches end of stream. (The kernel's rule
  follows the *thread* that started the worker: a thread other than the main one has its processes started
  by one that lasts as long as the process, see :func:`start_process`.)

:func:`worker_main` is a worker process's entry point; :func:`die_with_parent` is that parent-death rule
on its own (the sweep's process pool uses it too), and :func:`process_state` reads a process's run state
and CPU time (the controller's watchdog).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ampsim.blas import limit_blas_threads  # noqa: F401 - workers call it; re-exported

if TYPE_CHECKING:
    from ampsim.executors.multicore.spec import WorkerSpec

__all__ = ["RERAN_SCRIPT_STATUS", "StopsHeld", "check_not_rerun", "exit_description", "limit_blas_threads",
           "parent_pid_of_children", "process_state", "rerun_error", "setup_worker_process", "start_method",
           "start_process", "stop_processes", "threads_running", "worker_main", "WORKER_NAME_PREFIX"]

log = logging.getLogger(__name__)

START_METHODS = ("fork", "forkserver", "spawn")
_PR_SET_PDEATHSIG = 1


def start_method() -> str:
    """How ampsim starts its child processes, the sweep pool's workers and the multicore executor's (and
    calibration's) alike: ``AMPSIM_MP_START`` if set (fork, forkserver or spawn), else fork on Linux while this
    process runs a single thread (fast: a worker starts in milliseconds with everything the caller loaded), else
    spawn.

    Why not fork beside other threads: the child gets a copy of every lock they held, and none of the threads
    that would release them, nor the state of native libraries that run their own (Ray's gRPC core, after a Ray
    sweep in the same process; a notebook kernel's; a BLAS pool where ``OPENBLAS_NUM_THREADS`` asks for more than
    one). A child that touches one hangs or crashes; spawn costs a worker about a second of imports instead.
    ampsim itself starts no thread in a sweep's process (its progress bar runs without tqdm's monitor thread)."""
    method = os.environ.get("AMPSIM_MP_START", "")
    if method:
        if method not in START_METHODS:
            from ampsim.errors import ConfigError

            raise ConfigError(f"AMPSIM_MP_START: must be one of {', '.join(START_METHODS)}, got {method!r}")
        return method
    if not (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()):
        return "spawn"
    n = threads_running()
    if n > 1:
        log.debug("%d threads run in this process: its child processes are spawned, not forked", n)
        return "spawn"
    return "fork"


def threads_running() -> int:
    """How many threads this process runs: the interpreter's and those native libraries started, which
    :func:`threading.active_count` does not see (Linux's ``/proc/self/task``; elsewhere, the interpreter's)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # pragma: no cover - not Linux
        return threading.active_count()


#: the exit status of an ampsim worker process that found itself, spawned, running its parent's script's work again
#: (:func:`check_not_rerun`): the process that started it raises :func:`rerun_error` for it
RERAN_SCRIPT_STATUS = 86

#: how the name of a worker process ampsim starts begins (the executor's, the sweep pool's): such a worker, spawned
#: into an unguarded script, exits with :data:`RERAN_SCRIPT_STATUS`, and its parent must look for that status
WORKER_NAME_PREFIX = "ampsim-"


def check_not_rerun() -> None:
    """Called before ampsim starts processes or a sweep: is this process, spawned (or forkserver's), still importing
    its parent's script (multiprocessing's ``_inheriting``, as its own check of a start then)? Then the script runs
    its work outside ``if __name__ == "__main__":``, and every worker would run it again. An ampsim worker (its name
    begins :data:`WORKER_NAME_PREFIX`) exits at once, printing nothing (each printed multiprocessing's traceback, or
    its own sweep's, which found the folder locked), and its parent raises the one line; another process raises it."""
    me = mp.current_process()
    if not getattr(me, "_inheriting", False):
        return
    if me.name.startswith(WORKER_NAME_PREFIX):
        os._exit(RERAN_SCRIPT_STATUS)  # (no exception: the script's own try/except or finally would run on)
    raise rerun_error()


def rerun_error() -> Exception:
    """The one line for an unguarded script whose spawned workers ran it again (:func:`check_not_rerun`)."""
    from ampsim.errors import ConfigError

    script = getattr(sys.modules.get("__main__"), "__file__", None) or "the calling script"
    return ConfigError(f"{script}: ampsim's worker processes are spawned (AMPSIM_MP_START, or other threads run in "
                       "this process) and each runs this script again as it starts: put what the script runs under "
                       'if __name__ == "__main__":')


def die_with_parent(parent_pid: int) -> None:
    """Make this (child) process end as soon as ``parent_pid``, the process that started it, is gone.

    Linux: ``PR_SET_PDEATHSIG`` SIGKILL, so the kernel kills this process the moment its parent dies, even
    in the middle of a long computation. The parent may have died before the request took effect (the
    kernel then never sends the signal): this process has been re-parented already, so it exits at once.
    Without prctl (not Linux) a daemon thread polls ``os.getppid()`` twice a second instead; Linux gets no
    thread, because a process with threads must not fork (the multicore workers are forked).

    The kernel sends the signal when the parent's *thread* that started this process ends: :func:`start_process`
    starts a thread's children from one that lasts as long as the process.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):  # pragma: no cover
            pass
    if os.getppid() != parent_pid:  # the parent died before we asked
        os._exit(1)
    if not armed:  # pragma: no cover - not Linux
        import threading

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="ampsim-parent-watch", daemon=True).start()


def parent_pid_of_children(method: str | None = None) -> int:
    """The pid a child started by this process with ``method`` (default :func:`start_method`) should watch
    (:func:`die_with_parent`): this process's, or 0 under ``forkserver``, whose children the server forks
    (their parent is the server: watching this pid, they found it gone and exited at once); 0 means their
    parent at start, as :func:`setup_worker_process` reads it."""
    return 0 if (method or start_method()) == "forkserver" else os.getpid()


def start_process(p: mp.Process) -> None:
    """Start ``p`` with SIGINT and SIGTERM blocked until it has set its own handlers
    (:func:`setup_worker_process` unblocks them): a forked child runs the parent's handlers until then, and a
    signal in between (Ctrl-C as the workers start) printed their tracebacks, or ended a worker with a status
    the controller then reported as the failure. The parent gets the signals it was sent as ``p`` has started.
    That covers ``fork`` (the default), ``spawn`` (an exec'd child keeps the mask; the resource tracker,
    which unblocks them as it starts, is started first) and ``forkserver``, whose children the server forks
    with its own mask: ``p.start()`` starts the server the first time, here, blocked (it ignores SIGINT anyway
    and ends with this process); a server started unblocked elsewhere first would give children that are not.

    Called from a thread other than the main one, the start is made by :func:`_starter`'s thread, which ends only
    with the process: the kernel's parent-death signal (:func:`die_with_parent`) follows the thread that
    started a child, so the workers of an executor built in a thread (a thread pool's task) were killed as it
    ended; and SIGUSR1 in SIGKILL's place (acted on only once the process was gone) was merely held pending by a
    SIGSTOPped worker, which outlived the killed process."""
    import threading

    check_not_rerun()
    if threading.current_thread() is threading.main_thread():
        _start_blocked(p)
    else:
        _starter().submit(_start_blocked, p).result()


def _start_blocked(p: mp.Process) -> None:
    if getattr(p, "_start_method", None) in ("spawn", "forkserver"):  # (its start unblocks both signals)
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STARTUP_SIGNALS)
    try:
        p.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


_STARTUP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


_STARTER: Any = None  # a concurrent.futures.ThreadPoolExecutor of one thread, made on first use
_STARTER_LOCK = threading.Lock()


def _starter() -> Any:
    """The one thread, in this process, that starts a thread's child processes (see :func:`start_process`): an
    executor's thread lives until the executor is shut down, here when the process exits."""
    global _STARTER
    with _STARTER_LOCK:
        if _STARTER is None:
            from concurrent.futures import ThreadPoolExecutor

            _STARTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ampsim-process-starter")
        return _STARTER


def _forget_starter() -> None:
    """In a forked child: the parent's starter thread is not the child's (an executor that has run a call would
    take the next for its idle thread's, and it would never run), nor its lock."""
    global _STARTER, _STARTER_LOCK
    _STARTER, _STARTER_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_starter)


def worker_main(spec: WorkerSpec) -> None:
    """A worker process's entry point (the multiprocessing target): set the process up, close the inherited
    ends of other processes' channels, run a :class:`~ampsim.executors.multicore.worker.Worker` until STOP."""
    setup_worker_process(spec.parent_pid or None)  # first: the signals wait, blocked, until then
    from ampsim.executors.multicore.worker import Worker  # here: the sweeps' pool imports this module too

    for ch in spec.close_fds:
        ch.close()
    spec.close_fds.clear()  # (the list, not the field: the spec is frozen)
    Worker(spec).run()


def setup_worker_process(parent_pid: int | None = None) -> None:
    """Signals, parent-death signal and BLAS threads for a freshly started worker of ``parent_pid``
    (None or 0: this process's parent now): SIGINT ignored (the parent handles Ctrl-C and stops its children),
    SIGTERM ends it at once, SIGHUP too (unless ignored: nohup), the signals :func:`start_process` blocked
    unblocked (a SIGTERM sent meanwhile ends it now, quietly); a fork server's child lets go of the server
    (:func:`_leave_fork_server`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # (the CLI's handler, inherited through fork)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STARTUP_SIGNALS)
    die_with_parent(parent_pid or os.getppid())  # (0: as None, see parent_pid_of_children)
    _leave_fork_server()
    limit_blas_threads()


def _leave_fork_server() -> None:
    """In a child of a multiprocessing fork server: close this process's copy of the pipe end the server runs
    until every holder has closed (the process that started it, and each child the server forked, which may
    start processes through it too). The children's parent is the server and they die with it
    (:func:`die_with_parent`); holding that end, a child deaf to its controller's end of stream (SIGSTOPped, or in
    a long step) kept the server, and so itself, alive after a SIGKILL of the controller."""
    fs = sys.modules.get("multiprocessing.forkserver")  # (imported by the server, whose children are forks)
    server = getattr(fs, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None and server._forkserver_pid is None:  # (a server's child: a client's fork knows the pid)
        os.close(fd)
        server._forkserver_alive_fd = None


def process_state(pid: int) -> tuple[str, int] | None:
    """``(state, cpu ticks)`` of a live process from ``/proc/<pid>/stat`` (state ``T`` = stopped, e.g. by
    SIGSTOP; ticks = user + system CPU time); None if it is gone or there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[11]) + int(fields[12])


def stop_processes(procs: Sequence[mp.Process], grace_s: float = 2.0) -> None:
    """Wait up to ``grace_s`` for ``procs`` to exit, then SIGTERM, then SIGKILL; reap them all."""
    deadline = time.monotonic() + grace_s
    for p in procs:
        if p.pid is not None:
            p.join(max(0.0, deadline - time.monotonic()))
    for sig_fn in ("terminate", "kill"):
        alive = [p for p in procs if p.pid is not None and p.exitcode is None]
        if not alive:
            break
        for p in alive:
            try:
                getattr(p, sig_fn)()
                if sig_fn == "terminate":  # a stopped process (SIGSTOP) acts on SIGTERM only once continued
                    os.kill(p.pid, signal.SIGCONT)
            except (OSError, ValueError):  # pragma: no cover - already gone
                pass
        deadline = time.monotonic() + 1.0
        for p in alive:
            p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.pid is not None and p.exitcode is None:  # pragma: no cover - unkillable
            log.warning("worker process %s did not exit", p.pid)


class StopsHeld:
    """A ``with`` block during which Ctrl-C (and SIGTERM, SIGHUP where they have a Python handler: the CLI's raises)
    is noted instead of raised, so the stop of the workers it guards runs to its end: a second Ctrl-C, as the
    stop after the first went on, was raised inside it, cut it short (workers deaf to STOP, in a long node step,
    ran on) and left ``close()`` done for good. At the block's end each signal noted is handed to its handler, once,
    in the order they came, the block raising or not (Ctrl-C: KeyboardInterrupt; a handler that raises ends the
    round), but a Ctrl-C in a block entered while handling a KeyboardInterrupt: that is the same request, and it goes
    on. Main thread only: Python raises signals nowhere else.
    """

    def __init__(self) -> None:
        self.noted: list[int] = []
        self._previous: dict[int, Callable] = {}
        self._after_interrupt = False

    def __enter__(self) -> StopsHeld:
        import threading

        self._after_interrupt = isinstance(sys.exc_info()[1], KeyboardInterrupt)  # (the caller's, in its except)
        if threading.current_thread() is threading.main_thread():
            try:
                for signum in _STARTUP_SIGNALS:
                    handler = signal.getsignal(signum)
                    if callable(handler):
                        self._previous[signum] = signal.signal(signum, lambda n, _frame: self.noted.append(n))
            except BaseException:  # (a handler of one not swapped yet ran between two and raised: no __exit__ then,
                self._restore()  # and those swapped already would note their signals for good)
                raise
        return self

    def _restore(self) -> dict[int, Callable]:
        """Put back the handlers swapped; returns them."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        return previous

    def __exit__(self, *_: object) -> None:
        previous = self._restore()
        # every one, not the first alone: a Ctrl-C after a SIGTERM whose handler only notes it (a service's) was
        # dropped, and after a first Ctrl-C so was a SIGTERM (a request of its own: the CLI's handler takes it for the
        # same stop, within its grace, but an API caller's may not); and after the block raised too (a handler that
        # only notes never ran; one that raises replaces the error, as it would have raised inside the block)
        for signum in dict.fromkeys(self.noted):
            if not (self._after_interrupt and signum == signal.SIGINT):
                previous[signum](signum, None)


def exit_description(p: mp.Process) -> str:
    """'exited with status 3' or 'was killed by signal SIGKILL'.

    A ``forkserver`` child's status comes from its server (its parent) over a socket: with the server gone
    (killed: ``ps`` shows it as one more worker) multiprocessing says 255 for every child, which the kernel
    SIGKILLed as their parent ended (:func:`die_with_parent`); that is what the line says, and how the
    server ended.
    """
    code = p.exitcode
    if code is None:
        return "stopped responding"
    if code == 255 and getattr(p, "_start_method", None) == "forkserver":
        server = _fork_server_end()
        if server is not None:
            return f"{_status_words(-signal.SIGKILL)} (its fork server, {server})"
    return _status_words(code)


def _status_words(code: int) -> str:
    """A multiprocessing exit code in words (negative: the signal that ended the process).

    >>> _status_words(-9), _status_words(3)
    ('was killed by signal SIGKILL', 'exited with status 3')
    """
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _fork_server_end() -> str | None:
    """How this process's multiprocessing fork server ended ('pid 7, was killed by signal SIGKILL'), or None
    while it runs (or if there is none). Its status is read without reaping it: multiprocessing reaps it as
    it starts the next one."""
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid is None:
        return None
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # not ours to wait for (reaped already): gone or not is all there is to say
        return None if process_state(pid) is not None else f"pid {pid}, ended"
    except (AttributeError, OSError):  # pragma: no cover - no waitid
        return None
    if info is None:
        return None
    killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
    return f"pid {pid}, {_status_words(-info.si_status if killed else info.si_status)}"
