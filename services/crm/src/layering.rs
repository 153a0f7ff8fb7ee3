//! Guards the layering of the architecture: `api → convert → domain`, `store → domain`,
//! `events → convert → domain`. Proto ↔ domain conversion lives in `convert` only, so neither
//! `store` nor `events` reaches into `api`, and the domain stays free of proto, gRPC and SQL.
//! The check reads the source text, so a new circle fails here instead of in review.

use std::path::{Path, PathBuf};

/// Paths of the `.rs` files under `src/<dir>`, recursively.
fn sources(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out = Vec::new();
    walk(&root, &mut out);
    assert!(!out.is_empty(), "no sources under {}", root.display());
    out
}

/// `(file, line number, line)` for every line of `dir`'s sources naming one of `forbidden`.
fn offending_lines(dir: &str, forbidden: &[&str]) -> Vec<String> {
    sources(dir)
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            text.lines()
                .enumerate()
                .filter(|(_, line)| {
                    let code = line.trim_start();
                    !code.starts_with("//") && forbidden.iter().any(|f| code.contains(f))
                })
                .map(|(n, line)| format!("{}:{}: {}", path.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn assert_none(dir: &str, forbidden: &[&str]) {
    let found = offending_lines(dir, forbidden);
    assert!(
        found.is_empty(),
        "src/{dir} must not use {forbidden:?}:\n{}",
        found.join("\n")
    );
}

#[test]
fn store_never_imports_the_api_nor_the_wire_types() {
    // Event payloads are built in `events`; the store only writes them to the outbox.
    assert_none(
        "store",
        &["crate::api", "super::api", "proto::", "crate::convert"],
    );
}

#[test]
fn events_never_import_the_api() {
    assert_none("events", &["crate::api", "super::api"]);
}

#[test]
fn conversion_depends_on_the_domain_only() {
    assert_none(
        "convert",
        &[
            "crate::api",
            "crate::store",
            "crate::events",
            "sqlx",
            "tonic",
        ],
    );
}

#[test]
fn the_domain_knows_neither_proto_nor_grpc_nor_sql() {
    assert_none(
        "domain",
        &[
            "proto::",
            "prost",
            "tonic",
            "sqlx",
            "crate::api",
            "crate::convert",
            "crate::store",
            "crate::events",
        ],
    );
}

#[test]
fn the_guard_finds_a_forbidden_import() {
    // The checks above must be able to fail: the scan sees real lines (the store's module list).
    assert!(!offending_lines("store", &["pub mod"]).is_empty());
}
