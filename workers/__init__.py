"""Background work: RQ workers, their runtime and jobs."""
