//! Durable outbox (issue 6). Skeleton; being built.
