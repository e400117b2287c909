"""Consensus rules: synchronous, deterministic, free of I/O.

Chain parameters are always passed in; nothing here reads globals, configuration or clocks.
"""
