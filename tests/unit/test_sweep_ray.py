"""Sweeps on Ray: an address that does not answer, or answers as no Ray cluster does, fails in one line; a local
instance goes with the sweep (SIGTERM, SIGKILL) and keeps Ray's own lines off stderr; a signal while it starts
ends the sweep at once (see also test_ray_start_signals.py). Helpers: test_sweep_interrupt's."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest
from test_sweep_interrupt import SIM, alive, cleanup, finished, start_sweep, wait_until

from ampsim.errors import RunError


def test_a_ray_address_that_does_not_answer_fails_in_one_line_within_30_s(tmp_path):
    path = tmp_path / "sim.toml"
    path.write_text(SIM)
    t0 = time.monotonic()
    proc, seen = start_sweep(path, tmp_path / "out", "--ray", "127.0.0.1:1"), set()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        cleanup(proc, seen)
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ampsim: error: --ray 127.0.0.1:1: no Ray cluster answers"), err


def test_a_listener_that_is_not_a_ray_cluster_fails_in_one_line_within_the_probe_time(monkeypatch):
    import socket

    from ampsim.sweeps import ray_cluster
    from ampsim.sweeps.ray_cluster import connect_ray

    monkeypatch.setattr(ray_cluster, "PROBE_S", 0.5)

    class NoRay:  # ray.init must never be reached
        def init(self, **kw):
            raise AssertionError("ray.init was called")

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(RunError) as err:
            connect_ray(NoRay(), address, timeout_s=1.0)
    assert str(err.value) == f"--ray {address}: no Ray cluster answers at this address (no answer within 0.5 s)"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_local_ray_instance_goes_with_the_sweep(tmp_path, sig):
    """SIGTERM: the sweep shuts Ray down and exits 143; SIGKILL: its reaper kills what Ray left."""
    path = tmp_path / "sim.toml"
    path.write_text(SIM)
    out = tmp_path / "out"
    proc, seen = start_sweep(path, out, "--jobs", "2", "--ray"), set()
    try:
        wait_until(proc, seen, lambda: len(finished(out)) >= 1, timeout_s=120)
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 5.0
        while any(alive(p) for p in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:60] for p in seen if alive(p)}
    finally:
        cleanup(proc, seen)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert len(seen) >= 4 and left == {}  # raylet, GCS, workers, agents, the reaper
    assert len(finished(out)) >= 1 and not (out / "table.csv").exists()


def test_what_ray_writes_to_stderr_while_it_connects_is_kept_off_the_one_error_line(monkeypatch, capfd):
    """A gRPC server that is no Ray cluster passes the probe (an egress proxy answers any address so); Ray's C++
    client then writes a warning per retry straight to file descriptor 2 before ray.init fails: none of it
    reaches the terminal, and the error is one line."""
    import os
    import socket
    import threading

    from ampsim.sweeps.ray_cluster import connect_ray

    class Chatty:  # writes as Ray's C++ client does: to the descriptor, not through sys.stderr
        def init(self, **kw):
            for i in range(3):
                os.write(2, f"[W gcs_client.cc:210] Failed to get cluster ID (retry {i})\n".encode())
            raise ConnectionError("Failed to connect to Ray cluster")

    with socket.socket() as grpc_like:
        grpc_like.bind(("127.0.0.1", 0))
        grpc_like.listen(1)

        def answer():  # the HTTP/2 preface answered with an empty SETTINGS frame
            conn, _ = grpc_like.accept()
            with conn:
                conn.recv(64)
                conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))

        server = threading.Thread(target=answer, daemon=True)
        server.start()
        address = f"127.0.0.1:{grpc_like.getsockname()[1]}"
        with pytest.raises(RunError) as err:
            connect_ray(Chatty(), address, timeout_s=5.0)
        server.join(5)
    assert str(err.value) == f"--ray {address}: ConnectionError: Failed to connect to Ray cluster"
    out, stderr = capfd.readouterr()
    assert "gcs_client" not in stderr and "gcs_client" not in out
    os.write(2, b"after\n")  # the descriptor is back
    assert capfd.readouterr().err == "after\n"


def test_a_sigterm_while_ray_starts_is_a_sigterm_not_rays_silent_exit_15():
    """Ray's ``init`` puts in its own SIGTERM handler (``sys.exit(15)``) while it starts: a sweep killed then
    exited 15 with nothing said. It is the Terminated every other SIGTERM is (one line, exit 143), and what
    Ray had started is shut down."""
    from ampsim.errors import Terminated
    from ampsim.sweeps.ray_cluster import start_local_ray

    calls = []

    class StartingRay:
        def init(self, **kwargs):
            calls.append("init")
            raise SystemExit(signal.SIGTERM)

        def shutdown(self):
            calls.append("shutdown")

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        start_local_ray(StartingRay(), 2)
    assert calls == ["init", "shutdown"] and signal.getsignal(signal.SIGTERM) is before


def test_rays_own_info_and_warning_lines_are_kept_off_stderr_unless_verbose():
    """Every local ``--ray`` sweep printed Ray's "Started a local Ray instance." and its token notice."""

    from ampsim.sweeps.ray_cluster import log, shutdown_ray, start_local_ray

    class Ray:
        def init(self, **kwargs):
            self.level = kwargs["logging_level"]

        def shutdown(self):
            pass

    ray, level = Ray(), log.level
    try:
        start_local_ray(ray, 2)
        assert ray.level == logging.ERROR
        log.setLevel(logging.INFO)  # `ampsim -v`
        start_local_ray(ray, 2)
        assert ray.level == logging.INFO
    finally:
        log.setLevel(level)
        shutdown_ray(ray)  # (ends the threads that started the instances: a thread left running here made the
        # later tests' local sweeps spawn their workers, not fork them: ampsim.sweeps.pool.start_method)


def test_a_ctrl_c_while_ray_starts_abandons_the_start_at_once_and_kills_what_it_started():
    """A Ctrl-C into a half-started Ray instance once ended the sweep in a segmentation fault: ``ray.init`` runs
    in a thread, and the Ctrl-C, raised in the main thread at once, kills what the start had made (through the
    reaper) instead of shutting down a half-made instance; the handlers are as before."""
    import signal
    import threading

    from ampsim.sweeps.ray_cluster import shutdown_ray, start_local_ray

    release = threading.Event()

    class Ray:
        shut = False

        def init(self, **_):
            os.kill(os.getpid(), signal.SIGINT)
            release.wait(10)  # (still starting when the Ctrl-C is raised)

        def shutdown(self):
            self.shut = True

    class Reaper:
        killed = False

        def kill_now(self, spare=()):
            self.killed = True

    ray, reaper = Ray(), Reaper()
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # (a runner in the background ignores it)
    try:
        with pytest.raises(KeyboardInterrupt):
            start_local_ray(ray, 1, reaper)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        release.set()
        signal.signal(signal.SIGINT, before)
    assert reaper.killed and not ray.shut
    deadline = time.monotonic() + 10  # the released start thread waits for a shutdown, as after any start
    while any(t.name == "ampsim-ray-start" for t in threading.enumerate()) and time.monotonic() < deadline:
        shutdown_ray(ray)
        time.sleep(0.02)
