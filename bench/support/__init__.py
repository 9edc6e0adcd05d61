"""Helpers the benchmarks share (not benchmarks themselves: they print no figures)."""
