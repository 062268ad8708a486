//! Embeds every migration of each engine's folder (`migrations/sqlite`, `migrations/postgres`)
//! in the binary, so that a new file is applied without being listed by hand anywhere.
//! A file is named `NNNN_description.sql`; `NNNN` is its version.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
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
