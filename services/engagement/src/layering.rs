//! Guards the crate's layering (`docs/architecture.md`): `api → convert → domain ← store`,
//! `events → convert`, `store → events` (the outbox). The domain knows neither proto nor SQL, and
//! nothing below `api/` reaches back up into it, so no module cycle can form again.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// `file:line: needle` for each line of `text` that mentions a forbidden path.
fn offences(name: &str, text: &str, forbidden: &[&str]) -> Vec<String> {
    text.lines()
        .enumerate()
        .flat_map(|(i, line)| {
            forbidden
                .iter()
                .filter(move |needle| line.contains(*needle))
                .map(move |needle| format!("{name}:{}: {needle}", i + 1))
        })
        .collect()
}

/// The offences of every source file of `src/<module>` (a folder, or a single `.rs` file).
fn module_offences(module: &str, forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = src.join(module);
    let files = if dir.is_dir() {
        sources(&dir)
    } else {
        vec![src.join(format!("{module}.rs"))]
    };
    assert!(!files.is_empty(), "no sources under src/{module}");
    files
        .iter()
        .flat_map(|file| {
            let text =
                std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let name = file
                .strip_prefix(&src)
                .unwrap_or(file)
                .display()
                .to_string();
            offences(&name, &text, forbidden)
        })
        .collect()
}

#[test]
fn the_scanner_names_the_file_and_line_of_a_forbidden_import() {
    let text = "use crate::domain::Viewer;\nuse crate::api::viewer;\n";
    assert_eq!(
        offences("store/x.rs", text, &["crate::api"]),
        ["store/x.rs:2: crate::api"]
    );
    assert!(offences("store/x.rs", text, &["sqlx"]).is_empty());
}

#[test]
fn store_and_events_never_import_the_api() {
    for module in ["store", "events"] {
        let found = module_offences(module, &["crate::api", "super::api"]);
        assert!(found.is_empty(), "{module} imports the api: {found:#?}");
    }
}

#[test]
fn proto_conversion_depends_on_the_domain_only() {
    let found = module_offences(
        "convert",
        &["crate::api", "crate::store", "crate::events", "sqlx"],
    );
    assert!(
        found.is_empty(),
        "convert reaches beyond the domain: {found:#?}"
    );
}

#[test]
fn the_domain_knows_neither_proto_nor_sql() {
    let found = module_offences(
        "domain",
        &[
            "proto::",
            "sqlx",
            "crate::api",
            "crate::store",
            "crate::convert",
            "crate::events",
        ],
    );
    assert!(
        found.is_empty(),
        "the domain depends on outer layers: {found:#?}"
    );
}
