"""What-if sweeps: sweep files (spec) and their declared figures (figspec), running their points on a
pool or Ray into a table (run), the ``ampsim sweep`` command (cli)."""

__all__: list[str] = []
