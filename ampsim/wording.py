"""How an error names what its caller gave: the command line's options (``--out``, ``--quick``) or the Python
API's arguments (``out=``, ``quick=True``).

A message that tells the user what to change ("give --quick another --out") is raised layers below the entry
point that took the setting (a sweep's folder check, its Ray connection, a run folder's lock, the hardware
file's lookup), so the entry point's :class:`Wording` travels with the call instead of as a parameter of every
function on the way: :func:`worded` sets it for the calls beneath it, :func:`wording` is what a message uses.
The outermost entry point's holds (``ampsim train`` runs through :func:`ampsim.train`, and its errors name
its options); with none set (a module's function called directly), the command line's. A process forked
beneath (a sweep's pool worker) inherits it. Where a setting comes from a file whichever entry point read it (a
sweep's points take their hardware file from the sweep file: neither ``ampsim sweep`` nor :func:`ampsim.sweep`
has a hardware option), :func:`reworded` replaces those words for the calls beneath it (:data:`SWEEP_HARDWARE`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Iterator

__all__ = ["Wording", "CLI", "API", "SWEEP_HARDWARE", "wording", "worded", "reworded"]


@dataclass(frozen=True)
class Wording:
    """The words for each setting a message may tell its user to change."""

    out: str  #: the output folder
    quick: str  #: a sweep's [quick] variant
    full: str  #: a sweep's full variant ("run {full} here")
    fresh: str  #: deleting a sweep's earlier results first
    jobs: str  #: a sweep's parallel points
    ray: str  #: a sweep on a local Ray instance
    ray_at: str  #: a sweep on the Ray cluster at an address: a template of ``address``
    hardware: str  #: the hardware file (``executor.hardware``)
    hardware_is: str  #: ... set to a file: a template of ``path``

    def ray_address(self, address: str) -> str:
        return self.ray_at.format(address=address)

    def hardware_file(self, path: str) -> str:
        return self.hardware_is.format(path=path)


#: the ``ampsim`` command line's options
CLI = Wording(out="--out", quick="--quick", full="without --quick", fresh="--fresh", jobs="--jobs", ray="--ray",
              ray_at="--ray {address}", hardware="--hardware", hardware_is="--hardware {path}")
#: the Python API's arguments (:mod:`ampsim.api`)
API = Wording(out="out=", quick="quick=True", full="with quick=False", fresh="fresh=True", jobs="jobs", ray="ray=True",
              ray_at="ray_address={address!r}", hardware="overrides executor.hardware",
              hardware_is="overrides {{'executor.hardware': {path!r}}}")

#: a sweep's points' hardware file: the sweep file's ``sweep.hardware``, from the command line or the API alike
SWEEP_HARDWARE = {"hardware": "sweep.hardware in the sweep file",
                  "hardware_is": "sweep.hardware = {path!r} in the sweep file"}

_WORDING: ContextVar[Wording | None] = ContextVar("ampsim_wording", default=None)


def wording() -> Wording:
    """The wording of the entry point this call came through (:data:`CLI` where none said)."""
    return _WORDING.get() or CLI


@contextmanager
def worded(words: Wording) -> Iterator[None]:
    """``words`` for the messages of the calls in the block, unless an outer entry point set its own."""
    token = _WORDING.set(words) if _WORDING.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _WORDING.reset(token)


@contextmanager
def reworded(**words: str) -> Iterator[None]:
    """The wording in force with ``words`` (fields of :class:`Wording`) in place, for the calls in the block."""
    token = _WORDING.set(replace(wording(), **words))
    try:
        yield
    finally:
        _WORDING.reset(token)
