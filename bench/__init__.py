"""Benchmarks: the peer comparison harness, scale runs, ingest and cold reads (see README.md)."""
