//! mijian-collector (skeleton; issue 7 builds it).
fn main() {}
