"""Figures: declared in sweep files (base), drawn as lines/bars (lines) or from traces (trace); run curves (runs)."""
