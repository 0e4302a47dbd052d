//! Collector storage (issue 7). Skeleton; being built.
