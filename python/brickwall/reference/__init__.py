"""Slow, obviously-correct pure-Python oracles, one module per core module.

The public API never calls these; tests check the Rust core against them and benchmarks
measure the core's speed-up over them.
"""
