"""A whole Vidgate stack as real processes, for the fault-injection suite and the benchmarks."""
