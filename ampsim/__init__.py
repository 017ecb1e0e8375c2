"""ampsim: asynchronous model-parallel (AMPNet) training on simulated and real multi-chip hardware.

The package is laid out along the data flow:
dataset (data/) -> IR (ir/, models/) -> placement -> executor (executors/) -> metrics -> results -> plots.
"""

__version__ = "0.1.0"
