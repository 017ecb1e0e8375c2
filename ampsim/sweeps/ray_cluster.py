"""Getting a sweep onto Ray: connecting to a cluster that may not answer, starting a local instance.

:func:`connect_ray` fails in one line, :class:`~ampsim.errors.RunError` ``--ray ADDRESS: ...``
(``ray_address='ADDRESS': ...`` from the API: :mod:`ampsim.wording`), instead
of letting ``ray.init`` retry for minutes while it ignores SIGTERM and Ctrl-C:

* a ``host:port`` (or ``ray://host:port``) address is probed first: nothing listening fails at once; a
  listener that does not answer the HTTP/2 connection preface with a SETTINGS frame within
  :data:`PROBE_S` (every Ray endpoint is a gRPC server, and a gRPC server always answers it) fails then,
  before Ray starts retrying and printing warnings;
* ``ray.init`` then runs in a daemon thread, joined for at most ``timeout_s``; the main thread stays in
  Python, where Ctrl-C and SIGTERM are handled. A thread that does not return is left behind (it cannot
  be stopped) and dies with the process. While it connects, file descriptor 2 goes to a temporary file
  (:func:`_stderr_aside`): Ray's C++ client writes a warning there for every retry (20 lines in 20 s where
  a gRPC server that is no Ray cluster answers, as an egress proxy does for any address), and the one error
  line must stand alone; what it wrote is logged at debug level.

:func:`start_local_ray` starts a new local instance (``address="local"``: never a cluster that happens to
run on this machine) in a daemon thread too, and shuts down whatever it had started if that fails, or kills
it if a Ctrl-C or SIGTERM comes meanwhile. Both keep the caller's SIGTERM handler (``ray.init`` installs its
own, see :func:`_restore_sigterm`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ampsim.errors import RunError, Terminated, first_line
from ampsim.wording import wording

if TYPE_CHECKING:
    from ampsim.sweeps.reaper import Reaper

__all__ = ["connect_ray", "start_local_ray", "shutdown_ray", "task_modules_env", "PROBE_S", "RAY_HEAD"]

log = logging.getLogger(__name__)

#: the executables of a local Ray instance's head, which its shutdown needs alive (:meth:`.reaper.Reaper.kill_now`)
RAY_HEAD = (b"gcs_server", b"raylet")
#: how long the probe waits for a connection, then for the server's first frame
PROBE_S = 5.0
#: the client's HTTP/2 connection preface and an empty SETTINGS frame (RFC 9113, section 3.4)
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4


def connect_ray(ray: Any, address: str, timeout_s: float) -> None:
    """``ray.init(address=address)``, or a one-line RunError within ``PROBE_S`` + ``timeout_s``."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if host and port.isdigit():
        problem = _probe(host.strip("[]"), int(port))
        if problem:
            raise RunError(f"{wording().ray_address(address)}: no Ray cluster answers at this address ({problem})")
    failed: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            failed.append(e)

    sigterm = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=connect, name="ampsim-ray-connect", daemon=True)
    try:
        with _stderr_aside():
            thread.start()
            thread.join(timeout_s)
    finally:
        _restore_sigterm(sigterm)
    if thread.is_alive():
        raise RunError(f"{wording().ray_address(address)}: the Ray cluster did not answer within {timeout_s:g} s")
    if failed:
        raise RunError(f"{wording().ray_address(address)}: {first_line(failed[0])}")


@contextmanager
def _stderr_aside() -> Iterator[None]:
    """File descriptor 2 into a temporary file for the block (what C code writes there too), then back; what
    was written is logged at debug level."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as aside:
        os.dup2(aside.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            aside.seek(0)
            text = aside.read().decode(errors="replace").strip()
            if text:
                log.debug("while connecting to Ray, stderr had: %s", text)


def _probe(host: str, port: int) -> str:
    """Why ``host:port`` is not a gRPC server ('' if it answers like one)."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_S) as sock:
            sock.settimeout(PROBE_S)
            sock.sendall(_PREFACE)
            head = b""
            while len(head) < 9:
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    return "it closed the connection"
                head += chunk
    except socket.timeout:
        return f"no answer within {PROBE_S:g} s"
    except OSError as e:
        return e.strerror or type(e).__name__
    return "" if head[3] == _SETTINGS else "it does not speak gRPC"


def start_local_ray(ray: Any, jobs: int, reaper: Reaper | None = None) -> None:
    """A new local Ray instance with ``jobs`` CPUs (never a cluster found on this machine, which may be
    someone else's or, after a ``ray start`` that was killed, gone); on a failure, what it had started is shut
    down, and the failure is one line.

    ``ray.init`` runs in a daemon thread while the main thread waits in Python, where Ctrl-C and SIGTERM are
    handled at once. In the main thread, a SIGTERM to the sweep's process group as Ray started (it kills the
    GCS server Ray had just started, before that wrote its port) ended the sweep 30 s later, with exit status
    15 and nothing said (Ray's own handler's ``sys.exit``): Ray waited for the port with the GIL held (see
    :func:`_port_wait_in_slices`), no handler could run, and a Ctrl-C into it once ended in a segmentation
    fault. A Ctrl-C or SIGTERM while it starts now abandons the start (:func:`_abandon`) and is raised at once:
    the instance's processes are killed through ``reaper`` (the :class:`~.reaper.Reaper` started before it,
    whose marker every process Ray starts carries), and the thread dies with the process."""
    sigterm = signal.getsignal(signal.SIGTERM)
    failed: list[BaseException] = []
    # results travel as files, so the local object store can stay small on a shared machine
    # Ray's own INFO and WARNING lines ("Started a local Ray instance", its token notice) only with -v:
    # a sweep's stderr is its progress and, on failure, one line
    quiet = log.getEffectiveLevel() > logging.INFO

    done, keep = threading.Event(), threading.Event()

    def start() -> None:
        try:
            ray.init(address="local", num_cpus=jobs, include_dashboard=False, log_to_driver=False,
                     object_store_memory=256 * 1024**2, logging_level=logging.ERROR if quiet else logging.INFO)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            failed.append(e)
            done.set()
            return
        # Ray starts its head with PR_SET_PDEATHSIG, which fires when the *thread* that started a process ends
        # (a sweep's GCS server and raylet were killed as this thread returned): it lives on until the instance
        # is shut down (shutdown_ray), or the process ends
        _KEEPERS.append(keep)
        done.set()
        keep.wait()

    if quiet:  # (as ray.init sets it, but before its warning that in a thread it sets no SIGTERM handler:
        logging.getLogger("ray").setLevel(logging.ERROR)  # ours is the one that must stay, and it does)
    unpatch = _port_wait_in_slices(ray)
    try:
        threading.Thread(target=start, name="ampsim-ray-start", daemon=True).start()
        # an Event, not Thread.join: a signal's exception inside join marks the thread stopped (Python 3.11's
        # _wait_for_tstate_lock releases the lock the running thread holds), and is_alive() then lies
        while not done.wait(0.05):  # a signal's handler runs between two waits, at the latest
            pass
    except BaseException:  # Ctrl-C or SIGTERM (Terminated) while it starts
        _restore_sigterm(sigterm)  # first: Ray's crash handler may be in place (a stack dump per SIGTERM)
        if not done.is_set():
            _abandon(ray, reaper)  # (the port wait stays sliced: the thread may yet reach it)
        else:  # (up meanwhile: it goes down as any started instance)
            unpatch()
            shutdown_ray(ray)
        raise
    finally:
        _restore_sigterm(sigterm)
    unpatch()
    if failed:
        ray.shutdown()
        e = failed[0]
        if isinstance(e, Exception):
            raise RunError(f"{wording().ray}: could not start a local Ray instance ({first_line(e)})") from e
        if isinstance(e, SystemExit) and e.code == signal.SIGTERM:  # Ray's own SIGTERM handler's sys.exit(15)
            raise Terminated() from None  # (it sets it only in the main thread): a SIGTERM as any other
        raise e


def _abandon(ray: Any, reaper: Reaper | None) -> None:
    """Give up a ``ray.init`` still running in its thread: kill every process the instance started (its head
    too: nothing will talk to it) and keep Ray's exit hook (``ray.shutdown()``, registered with ``atexit``)
    from touching the half-made state the thread left; the thread itself dies with the process."""
    import atexit

    atexit.unregister(ray.shutdown)
    if reaper is not None:
        reaper.kill_now()
    log.debug("interrupted while the local Ray instance started: its processes were killed")


#: what keeps the threads that started local Ray instances alive (:func:`start_local_ray`); set by shutdown_ray
_KEEPERS: list[threading.Event] = []
#: the longest ``wait_for_persisted_port`` holds the GIL at a time (:func:`_port_wait_in_slices`)
PORT_WAIT_SLICE_MS = 100


def _port_wait_in_slices(ray: Any) -> Callable[[], None]:
    """Make ``ray.init``'s wait for the GCS server's port file give the GIL back every
    :data:`PORT_WAIT_SLICE_MS`; returns what undoes it. Ray's ``wait_for_persisted_port`` (C++) holds the GIL
    for the whole wait, up to 30 s where the GCS server died before it wrote the file, as a SIGTERM to the
    sweep's process group kills it: no Python ran in any thread meanwhile, the main thread's signal handler
    included (measured: the one line came 30 s after the SIGTERM, and ``ray.init`` then raised the wait's
    RuntimeError). Called in slices (each its own short wait, the same deadline in all), it ends as it did, and
    the handler runs between two. A Ray without that function (another version) is left as it is."""
    node = getattr(getattr(ray, "_private", None), "node", None)  # (none in a stand-in for Ray: tests)
    whole = getattr(node, "wait_for_persisted_port", None)
    if whole is None or getattr(whole, "sliced", False):
        return lambda: None

    def sliced(*args: Any, timeout_ms: int = 30000, **kwargs: Any) -> Any:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                return whole(*args, timeout_ms=min(left_ms, PORT_WAIT_SLICE_MS), **kwargs)
            except RuntimeError as e:  # "Timed out waiting for file ...": the whole wait's, once its time is up
                if left_ms <= PORT_WAIT_SLICE_MS or "timed out" not in str(e).lower():
                    raise  # (any other failure at once: retried, it took the whole 30 s)

    sliced.sliced = True  # type: ignore[attr-defined]
    node.wait_for_persisted_port = sliced
    return lambda: setattr(node, "wait_for_persisted_port", whole)


def shutdown_ray(ray: Any) -> None:
    """``ray.shutdown()``, this process's SIGTERM handler put back after it: shutting down resets SIGTERM to
    the default at the C level (Python's ``signal.getsignal`` still names the handler), and a SIGTERM after it
    killed the sweep silently. A SIGTERM *during* it (about a second) still ends the process by the signal:
    blocking the signal in this thread leaves it to Ray's threads, and blocking it from ``ray.init`` on passes
    the mask to Ray's processes, whose shutdown then waits seconds. So the sweep writes its table before Ray
    shuts down (:func:`ampsim.sweeps.run.run_sweep`): such a SIGTERM costs no result, only the line saying so
    (the next run takes over the lock file it leaves)."""
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.shutdown()
    finally:
        _restore_sigterm(sigterm)
        while _KEEPERS:  # the instance is down: the threads that started it may end
            _KEEPERS.pop().set()


def _restore_sigterm(handler: Any) -> None:
    """Install ``handler`` for SIGTERM again. ``ray.init`` replaces it: in the main thread with a Python
    handler that calls ``sys.exit``, and in any thread, at the C level, with a crash handler that prints a
    stack dump before it chains to ours (setting the handler again removes that one too)."""
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def task_modules_env(address: str | None) -> dict[str, Any]:
    """The Ray options that hand a cluster's workers the driver's task modules (``AMPSIM_TASK_MODULES``, see
    :mod:`ampsim.schemas.outside`), which they import as the sweep's process did: a local instance's workers
    inherit this process's environment, a cluster's started with their node's. Nothing where it is not set."""
    from ampsim.schemas.outside import MODULES_VAR

    value = os.environ.get(MODULES_VAR)
    return {"runtime_env": {"env_vars": {MODULES_VAR: value}}} if address and value else {}
