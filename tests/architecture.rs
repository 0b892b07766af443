//! Boundaries that must hold mechanically (ARCHITECTURE.md, "Invariants").

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `domain` is pure: no clock, no randomness, no IO, no async runtime, no storage.
#[test]
fn domain_reads_no_clock_and_does_no_io() {
    let forbidden = [
        "Utc::now",
        "Local::now",
        "SystemTime",
        "Instant::now",
        "std::fs",
        "std::net",
        "std::env",
        "std::thread",
        "tokio",
        "sled",
        "rand::",
        "getrandom",
    ];
    let mut files = Vec::new();
    rust_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/crates/domain/src")),
        &mut files,
    );
    assert!(files.len() > 3, "domain sources not found");
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if code.contains(word) {
                    offences.push(format!("{}:{}: {word}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "domain must stay pure:\n{}",
        offences.join("\n")
    );
}

/// The domain's manifest names no IO or runtime crate either.
#[test]
fn domain_manifest_has_no_io_dependencies() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/domain/Cargo.toml"
    ))
    .unwrap();
    let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or("");
    let dependencies = dependencies.split("\n[").next().unwrap_or("");
    for crate_name in [
        "tokio",
        "sled",
        "axum",
        "reqwest",
        "hyper",
        "rand",
        "getrandom",
    ] {
        assert!(
            !dependencies
                .lines()
                .any(|l| l.trim_start().starts_with(crate_name)),
            "crates/domain depends on {crate_name}"
        );
    }
}
