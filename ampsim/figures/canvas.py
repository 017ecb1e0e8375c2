"""The figures' common canvas: matplotlib without a display, one size and resolution, atomic saving.

:func:`new_figure` gives every figure the same size and resolution, which keeps a PNG well under
300 KB; :func:`save_figure` writes PNG and PDF through a temporary file (:func:`ampsim.outputs.write_figure`,
every figure's writer), so a figure on disk is whole.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, TypeVar

from ampsim.outputs import check_output_file, write_figure

__all__ = ["pyplot", "new_figure", "closing_on_error", "save_figure", "save_image", "check_figure_files"]
T = TypeVar("T")


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def closing_on_error(draw: Callable[..., T]) -> Callable[..., T]:
    """``draw`` with the figures it opened closed where it raises: pyplot keeps every figure until it is
    closed, so a notebook (or a test session) whose drawings were refused kept each one (matplotlib warns past
    20)."""

    @functools.wraps(draw)
    def drawing(*args, **kwargs) -> T:
        plt = pyplot()
        before = set(plt.get_fignums())
        try:
            return draw(*args, **kwargs)
        except BaseException:
            for n in set(plt.get_fignums()) - before:
                plt.close(n)
            raise

    return drawing


def new_figure(size: tuple[float, float] = (6.0, 4.0)):
    """A figure with one axes at the figures' common size and resolution (PNG well under 300 KB)."""
    return pyplot().subplots(figsize=size, dpi=120)


def check_figure_files(out_stem: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> None:
    """One ConfigError line if any of the files :func:`save_figure` writes for ``out_stem`` cannot be written
    (a folder named ``<stem>.pdf``): checked before either is, the PNG was written and then the PDF refused."""
    out_stem = Path(out_stem)
    for fmt in formats:
        check_output_file(out_stem.with_name(f"{out_stem.name}.{fmt}"))


def save_figure(fig, out_stem: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``<out_stem>.<format>`` for each of ``formats``, by default a .png and a .pdf (atomically; every one
    checked first), and close the figure; returns the paths."""
    plt = pyplot()
    out_stem = Path(out_stem)
    paths = []
    try:
        check_figure_files(out_stem, formats)  # (the folder: made by write_figure, and taken back if it fails)
        for fmt in formats:
            meta = {"Title": out_stem.name} if fmt in ("png", "pdf") else None
            paths.append(write_figure(fig, out_stem.with_name(f"{out_stem.name}.{fmt}"), format=fmt, metadata=meta))
    finally:
        plt.close(fig)
    return paths


def save_image(fig, out: str | Path) -> Path:
    """Write ``fig`` at ``out`` in the image kind its suffix names (.png or .pdf: one file), atomically, and
    close it (``ampsim plot``'s ``--out``; :func:`save_figure` writes a sweep figure's pair)."""
    try:
        return write_figure(fig, out)
    finally:
        pyplot().close(fig)
