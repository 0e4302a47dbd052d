//! mijian-collector: see the library crate and docs/collector.md.

fn main() {
    std::process::exit(mijian_collector::cli::main());
}
