//! Embeds every migration of each engine's folder (`migrations/sqlite`, `migrations/postgres`)
//! in the binary, so that a new file is applied without being listed by hand anywhere.
//! A file is named `NNNN_description.sql`; `NNNN` is its version.
//!
//! It also names the commit the binary is built from (`PROXYCALL_COMMIT`, shown by
//! `proxycall --version`), so that an operator can tell which code a server runs.

use std::fmt::Write as _;
use std::path::Path;

/// The short hash of the commit checked out; `unknown` outside a git checkout (a source
/// archive). Uncommitted changes are not flagged: telling would mean running this script
/// again on every change of any file, for every build.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    // Rebuilt when HEAD moves: a new commit, or another branch checked out.
    if let Some(p) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={p}");
    }
    if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &head])
    {
        println!("cargo:rerun-if-changed={p}");
    }
    git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
}

fn main() {
    println!("cargo:rustc-env=PROXYCALL_COMMIT={}", commit());
    println!("cargo:rerun-if-changed=migrations");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for engine in ["sqlite", "postgres"] {
        let dir = Path::new("migrations").join(engine);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable migrations folder").path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .map(|path| {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                let (version, name) = stem
                    .split_once('_')
                    .unwrap_or_else(|| panic!("{}: expected NNNN_description.sql", path.display()));
                let version: i64 = version.parse().unwrap_or_else(|_| {
                    panic!("{}: the name must start with a number", path.display())
                });
                let absolute = std::fs::canonicalize(&path).unwrap();
                (version, name.to_owned(), absolute.display().to_string())
            })
            .collect();
        files.sort();
        for pair in files.windows(2) {
            assert!(
                pair[0].0 != pair[1].0,
                "two migrations of {engine} share version {}",
                pair[0].0
            );
        }
        let mut code = String::from("&[\n");
        for (version, name, path) in &files {
            writeln!(code, "    ({version}, {name:?}, include_str!({path:?})),").unwrap();
        }
        code.push_str("]\n");
        std::fs::write(
            Path::new(&out).join(format!("migrations_{engine}.rs")),
            code,
        )
        .unwrap();
    }
}
