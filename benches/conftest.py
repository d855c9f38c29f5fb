"""Benchmarks: core vs numpy vs the pure-Python reference.

`pytest benches` runs each benchmark once as a smoke test (benchmarks are disabled by default in
pyproject). Measure with `pytest benches --benchmark-enable`; `python -m benches.report` prints
the ratios in one run.
"""
