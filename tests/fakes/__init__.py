"""Fakes of third-party services for tests and benchmarks."""
