//! mijian-collector: see the library crate and docs/collector.md.

/// mimalloc rather than glibc malloc: under ingest load (report-sized
/// buffers allocated and freed on many threads) glibc's malloc, free and
/// arena consolidation took ~16% of the collector's CPU in profiles.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(mijian_collector::cli::main());
}
