"""Inter-process channels of the multicore executor: framed pickles over non-blocking Unix socket pairs.

Every pair of processes that talks (controller ↔ worker, worker ↔ worker) gets its own ``socketpair``, so
the machine is *fully connected* and each byte stream is FIFO. A :class:`Channel` wraps one end:

* :meth:`Channel.put` pickles an object (protocol 5) into a length-prefixed frame and queues it in user
  space; :meth:`Channel.flush` writes as much as the kernel takes without blocking (``sendmsg`` gathers
  the queued frames into one system call) and returns whether the queue is empty.
* :meth:`Channel.recv` reads everything the kernel holds without blocking and returns the whole frames
  received so far (a partial frame waits for its remainder). End of stream raises :class:`ChannelClosed`.

Writes never block, so two processes that send to each other at the same time cannot deadlock on full
socket buffers; the caller polls for ``POLLOUT`` while :attr:`Channel.pending` is true.

Why sockets and not ``multiprocessing.Queue``: a Queue pickles in a feeder thread (GIL contention inside a
busy worker) and a ``Pipe`` blocks in ``send`` when the peer's buffer is full. Measured on the 2-core
development machine (round trip of a ``(key, state, payload)`` tuple): 15-30 µs for a socket pair with
this framing vs 40-65 µs for ``multiprocessing.Pipe``; 72 vs 110 µs with a 100 KB payload.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
import struct
from collections import deque
from select import POLLIN, POLLOUT
from typing import Any, Iterable

import numpy as np

from ampsim.errors import ConfigError

__all__ = ["Channel", "ChannelClosed", "channel_pair", "check_open_files", "pack_envelopes", "unpack_envelopes",
           "watch"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<Q")
#: kernel buffer requested per socket direction (the kernel may cap it at net.core.[rw]mem_max)
SOCKET_BUFFER_BYTES = 4 << 20
_RECV_CHUNK = 1 << 20
#: at most this many buffers per ``sendmsg`` call (IOV_MAX is 1024 on Linux)
_MAX_IOV = 512


class ChannelClosed(Exception):
    """The process at the other end closed its socket (it exited or was killed)."""


class Channel:
    """One end of a framed, non-blocking, FIFO byte stream between two processes."""

    def __init__(self, sock: socket.socket, name: str = "") -> None:
        self.sock = sock
        self.name = name
        self.fd = sock.fileno()
        self._out: deque[memoryview] = deque()
        self._out_bytes = 0
        self._in = bytearray()
        self.sent_bytes = 0
        self.sent_frames = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickled in a worker: its socket may have another descriptor number here (a fork server's child receives
        # it through SCM_RIGHTS), and the number is what the pollers watch; the parent's was polled before, a
        # descriptor the worker lacked (POLLNVAL: it spun) or one of its own (its peer's data never seen: a hang)
        self.__dict__.update(state)
        self.fd = self.sock.fileno()

    def configure(self) -> None:
        """Make the socket non-blocking with large buffers; call in the process that uses this end."""
        self.sock.setblocking(False)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER_BYTES)
            except OSError:  # pragma: no cover - kernel refused; the default size still works
                pass

    # -- sending -------------------------------------------------------------------------------------
    def put(self, obj: Any) -> int:
        """Queue ``obj`` as one frame; returns the frame's size in bytes. Nothing is written yet."""
        return self.put_pickled(pickle.dumps(obj, protocol=5))

    def put_pickled(self, data: bytes) -> int:
        """:meth:`put` of an object already pickled (one pickle sent to several channels)."""
        self._out.append(memoryview(_HEADER.pack(len(data))))
        self._out.append(memoryview(data))
        n = len(data) + _HEADER.size
        self._out_bytes += n
        self.sent_frames += 1
        return n

    @property
    def pending(self) -> bool:
        """True while queued bytes have not been handed to the kernel yet."""
        return self._out_bytes > 0

    def flush(self) -> bool:
        """Write queued bytes until done or the kernel buffer is full; True if nothing is left queued."""
        out = self._out
        while out:
            bufs = list(out) if len(out) <= _MAX_IOV else [out[i] for i in range(_MAX_IOV)]
            try:
                n = self.sock.sendmsg(bufs)
            except (BlockingIOError, InterruptedError):
                return False
            except (BrokenPipeError, ConnectionResetError) as e:
                raise ChannelClosed(f"{self.name}: peer closed ({e})") from None
            self._out_bytes -= n
            self.sent_bytes += n
            while n:
                head = out[0]
                if n >= len(head):
                    n -= len(head)
                    out.popleft()
                else:
                    out[0] = head[n:]
                    n = 0
        return True

    def flush_blocking(self, timeout_s: float) -> bool:
        """Flush, waiting up to ``timeout_s`` for buffer space; True if everything was written."""
        import select

        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        while not self.flush():
            if not poller.poll(timeout_s * 1000):
                return False
        return True

    # -- receiving -----------------------------------------------------------------------------------
    def recv(self) -> list[Any]:
        """Every whole frame that has arrived (possibly none), in order. Raises ChannelClosed at EOF."""
        buf = self._in
        eof = False
        while True:
            try:
                chunk = self.sock.recv(_RECV_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionResetError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            buf += chunk
            if len(chunk) < _RECV_CHUNK:
                break
        frames: list[Any] = []
        pos, size = 0, len(buf)
        if size >= _HEADER.size:
            with memoryview(buf) as view:
                while size - pos >= _HEADER.size:
                    (n,) = _HEADER.unpack_from(view, pos)
                    end = pos + _HEADER.size + n
                    if end > size:
                        break
                    frames.append(pickle.loads(view[pos + _HEADER.size:end]))
                    pos = end
            if pos:
                del buf[:pos]
        if eof and not frames:
            raise ChannelClosed(f"{self.name}: end of stream")
        return frames

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass


def channel_pair(name_a: str, name_b: str) -> tuple[Channel, Channel]:
    """Two connected channel ends (``name_a`` is used in errors raised at end a, and vice versa)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return Channel(a, name_a), Channel(b, name_b)


def watch(poller: Any, registered: dict[int, int], channels: Iterable[Channel]) -> None:
    """Have ``poller`` (a ``select.poll``) wake for each channel's input, and for its output while some is queued
    (:attr:`Channel.pending`); ``registered`` (descriptor -> mask) is what it has, so that only a change costs
    a system call."""
    for ch in channels:
        mask = POLLIN | (POLLOUT if ch.pending else 0)
        if registered.get(ch.fd) != mask:
            poller.register(ch.fd, mask)
            registered[ch.fd] = mask


# -- message envelopes between workers -------------------------------------------------------------------
_DTYPES: dict[str, np.dtype] = {}


def pack_envelopes(envs: list[tuple]) -> tuple[list[tuple], bytes]:
    """``[(node, backward, port, key, state, weight, payload)]`` → (headers, one bytes blob of payloads).

    Numpy's own pickling costs ~3.5 µs per small array; raw bytes and a header cost ~0.5 µs, which
    matters at hundreds of messages per Tree-LSTM instance. Payloads are 8-byte aligned in the blob.
    """
    heads: list[tuple] = []
    chunks: list[Any] = []
    off = 0
    for node, backward, port, key, state, weight, a in envs:
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        n = a.nbytes
        heads.append((node, backward, port, key, state, weight, a.dtype.str, a.shape, off))
        chunks.append(a)
        pad = -n % 8
        if pad:
            chunks.append(_PAD[:pad])
        off += n + pad
    return heads, b"".join(chunks)


_PAD = bytes(8)


def unpack_envelopes(frame: tuple[list[tuple], bytes]) -> list[tuple]:
    """The inverse of :func:`pack_envelopes`; payloads are writable views into one copy of the blob."""
    heads, blob = frame
    buf = bytearray(blob)
    out = []
    for node, backward, port, key, state, weight, dt, shape, off in heads:
        dtype = _DTYPES.get(dt)
        if dtype is None:
            dtype = _DTYPES[dt] = np.dtype(dt)
        count = math.prod(shape)
        a = (np.frombuffer(buf, dtype, count, off) if count else np.empty(0, dtype)).reshape(shape)
        out.append((node, backward, port, key, state, weight, a))
    return out


def check_open_files(workers: int, source: str) -> None:
    """Refuse, in one line, more multicore workers than this process can open sockets for: the controller
    creates a socket pair per worker and per pair of workers at start-up, ``n (n + 1)`` descriptors in all
    (1000 workers: a million), and would otherwise die of "Too many open files" with workers half started."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return
    try:
        base = len(os.listdir("/proc/self/fd")) + 16  # already open, plus a margin for the start-up's own
    except OSError:
        base = 64

    def need(n: int) -> int:  # the sockets, a pipe end or two per process, what is open already
        return n * (n + 1) + 2 * n + base

    if need(workers) > soft:
        # (need(n) > n², so no count beyond √soft fits: counting up to ``workers`` itself took a minute for 10**8
        # and never ended for 2**53)
        most = max((n for n in range(1, min(workers, math.isqrt(soft) + 1)) if need(n) <= soft), default=0)
        fewer = f"use at most {most} worker{'s' if most > 1 else ''} or raise the limit" if most else \
            f"raise the limit (one worker needs about {need(1):,})"  # ("0 workers" means one per core)
        raise ConfigError(f"{source}: executor.workers: {workers} worker{'s' if workers > 1 else ''} need"
                          f"{'' if workers > 1 else 's'} about {need(workers):,} open files (a socket pair per pair "
                          f"of processes), more than this process may open ({soft:,}, see `ulimit -n`); {fewer}")
