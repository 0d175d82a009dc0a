"""Vendor simulators: fakes of the upstream video APIs for tests, benchmarks and the embedded default."""
