"""Figures, drawn from finished runs (the layer above sweeps; nothing below imports it).

labels     axis labels with units, legend entries
selection  the rows of a sweep table a figure keeps, and its lines (hue groups)
canvas     matplotlib without a display, the common size, atomic PNG + PDF
lines      ``curves``, ``xy`` and ``bar`` figures
trace      ``heatmap`` (utilization) and ``timeline`` (one run's trace) figures
draw       the drawing function of each figure kind; a sweep's declared figures, drawn and saved
runs       curves of run folders
cli        ``ampsim plot``

What a sweep file may declare (``[[figure]]``) is :mod:`ampsim.sweeps.figspec`.
"""

__all__: list[str] = []
