"""Under ``forkserver`` a worker receives its sockets from the fork server (SCM_RIGHTS), under descriptor numbers of
its own, but a :class:`~ampsim.executors.multicore.transport.Channel` kept the number its socket had in the
controller, and the worker polled that one: a descriptor it did not have (POLLNVAL at once: every worker spun at
100% CPU while idle) or another of its own (a peer's data never seen: the run hung for ever). Found as a sweep of
multicore points under ``AMPSIM_MP_START=forkserver``, which never finished its first point."""

from __future__ import annotations

import io
import os
import pickle
import signal
import socket
import subprocess
import sys
import uuid

from mc_helpers import ROOT, none_with_env, pids_with_env

from ampsim.executors.multicore.transport import channel_pair

SWEEP = f"""
[sweep]
experiment = "{ROOT / "experiments" / "blobs_mlp.toml"}"
[fixed]
"data.n_train" = 64
"data.n_test" = 16
"model.hidden" = [8]
"train.epochs" = 1
"executor.kind" = "multicore"
"executor.workers" = 2
[grid]
"train.mak" = [1]
"""


def _as_a_fork_servers_child_gets_it(obj: object) -> object:
    """``obj`` pickled and unpickled with each socket in it arriving under another descriptor (a duplicate), as the
    fork server hands a worker its sockets."""
    def reduce_socket(s: socket.socket) -> tuple:
        return socket.socket, (s.family, s.type, s.proto, os.dup(s.fileno()))

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf)
    pickler.dispatch_table = {socket.socket: reduce_socket}
    pickler.dump(obj)
    return pickle.loads(buf.getvalue())


def test_a_channel_unpickled_under_another_descriptor_polls_that_one():
    a, b = channel_pair("a", "b")
    got = _as_a_fork_servers_child_gets_it(b)
    try:
        assert got.sock.fileno() != b.fd
        assert got.fd == got.sock.fileno()
        a.put("hello")
        assert a.flush()
        b.close()  # (the controller's copy: the worker's end is the one that reads)
        import select

        poller = select.poll()
        poller.register(got.fd, select.POLLIN)
        assert poller.poll(5000) == [(got.fd, select.POLLIN)]
        assert got.recv() == ["hello"]
    finally:
        for ch in (a, got):
            ch.close()


def test_a_sweep_of_multicore_points_under_forkserver_finishes(tmp_path):
    """Its pool worker, a child of one fork server, starts the point's workers through a fork server of its own."""
    (tmp_path / "s.toml").write_text(SWEEP)
    marker = uuid.uuid4().hex
    p = subprocess.Popen([sys.executable, "-m", "ampsim", "sweep", str(tmp_path / "s.toml"), "--out",
                          str(tmp_path / "out"), "--jobs", "1", "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         env=dict(os.environ, AMPSIM_MP_START="forkserver", AMPSIM_TEST_MARKER=marker))
    try:
        _, err = p.communicate(timeout=60)  # (seconds; it hung for good)
    except subprocess.TimeoutExpired:
        err = "the sweep did not end in 60 s"
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for pid in pids_with_env(marker) if p.returncode != 0 else []:
            os.kill(pid, signal.SIGKILL)
    assert p.returncode == 0, err
    assert (tmp_path / "out" / "table.csv").is_file() and none_with_env(marker)
