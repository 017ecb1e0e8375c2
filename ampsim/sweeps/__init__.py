"""What-if sweeps: sweep files (spec), running their points on a pool or Ray (run), the CLI (cli)."""
