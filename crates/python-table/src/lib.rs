//! The README's "Python to Rust" table, row by row, as a program that depends on `rustures`
//! alone writes it (`tests/table.rs`). CI lints it with `cargo clippy --all-targets -- -D
//! warnings` (so the idioms the docs teach stay clippy-clean) and runs it with `cargo test`.
