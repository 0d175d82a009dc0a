"""Vidgate's benchmark suite (issue 5): `python -m bench [NAME ...] [--quick]` rewrites BENCHMARKS.md."""
