//! `cargo xtask`: the project's tasks (filled in below).
fn main() {}
