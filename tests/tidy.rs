//! Tidy checks on the source tree (in the manner of TigerBeetle's `tidy.zig`): the shape the
//! code must keep, checked as text.
//!
//! * Layering: the module table of `docs/architecture.md` lists `zkr-actors`' modules from the
//!   top (`node`) down; a module imports only modules listed below it, and only those its row
//!   allows. Every top-level module of `actors/src/lib.rs` has a row.
//! * Pure cores: the modules the table marks `core` (and the pure files it names inside shells)
//!   import no actix, no tokio, no `std::fs`, no `std::net`, and read no clock.
//! * Size and purpose: every Rust file is at most [`MAX_LINES`] lines (test suites excepted)
//!   and starts with a module doc (`//!`) saying its one job.
//!
//! Comments are ignored (a doc link to a module above is not an import).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest file allowed, in lines.
const MAX_LINES: usize = 800;

/// What a core may not use: (needle, why). A needle matches at a path boundary.
const NOT_IN_CORES: [(&str, &str); 9] = [
    ("actix", "actix"),
    ("actix_rt", "actix"),
    ("tokio::", "tokio"),
    ("use tokio;", "tokio"),
    ("std::fs", "file IO"),
    ("std::net", "sockets"),
    ("Instant::now", "the clock"),
    ("SystemTime::now", "the clock"),
    ("crate::clock", "the clock"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every `.rs` file below `dir` (build outputs excluded).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// One row of the module table.
#[derive(Debug)]
struct Row {
    /// Its position, 0 at the top.
    rank: usize,
    /// `core`, `shell`, `leaf`, `test` or `top`.
    kind: String,
    /// The modules it may import; `None`: every module below it.
    may_import: Option<BTreeSet<String>>,
}

/// The module table and the pure files inside shells, from `docs/architecture.md`.
fn module_table() -> (BTreeMap<String, Row>, Vec<String>) {
    let doc = read(&root().join("docs/architecture.md"));
    let section = doc
        .split("\n## Modules")
        .nth(1)
        .expect("docs/architecture.md has a `## Modules` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = BTreeMap::new();
    let mut pure_files = Vec::new();
    for line in section.lines() {
        if let Some(rest) = line.strip_prefix("Pure files inside shell modules:") {
            pure_files = backticked(rest);
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        if cells.len() < 4 {
            continue;
        }
        let Some(name) = backticked(cells[0]).into_iter().next() else {
            continue;
        };
        let allowed = cells[cells.len() - 1].trim();
        let may_import = if allowed == "all below" {
            None
        } else {
            Some(backticked(allowed).into_iter().collect())
        };
        let rank = rows.len();
        rows.insert(
            name,
            Row {
                rank,
                kind: cells[1].trim().to_string(),
                may_import,
            },
        );
    }
    assert!(
        rows.len() > 10,
        "the module table was not found or is empty"
    );
    (rows, pure_files)
}

/// The `words` in backticks of `s`.
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// `text` without its comments (line and block comments; string contents are kept).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let (mut i, mut in_str, mut block) = (0, false, 0usize);
    while i < b.len() {
        let c = b[i];
        if block > 0 {
            if b[i..].starts_with(b"*/") {
                block -= 1;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        if in_str {
            out.push(c as char);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1] as char);
                i += 2;
                continue;
            }
            in_str = c != b'"';
            i += 1;
            continue;
        }
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b[i..].starts_with(b"/*") {
            block += 1;
            i += 2;
            continue;
        }
        // A char literal holding a quote is not a string.
        if b[i..].starts_with(b"'\"'") {
            out.push_str("'\"'");
            i += 3;
            continue;
        }
        in_str = c == b'"';
        out.push(c as char);
        i += 1;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a file of module `module` (its path inside the crate, e.g.
/// `["pipeline", "syncs"]`; a `mod.rs` is its folder's module) refers to, through `crate::`
/// and `super::` paths.
fn referenced_modules(code: &str, module: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let at_boundary = i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':';
        if !at_boundary {
            i += 1;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        let (mut depth, mut j) = if rest.starts_with("crate::") {
            (None, i + 7)
        } else if rest.starts_with("super::") {
            let mut up = 0;
            let mut j = i;
            while chars[j..].iter().take(7).collect::<String>() == "super::" {
                up += 1;
                j += 7;
            }
            (Some(up), j)
        } else {
            i += 1;
            continue;
        };
        // Where the path starts: the crate root, or an ancestor of this module.
        let base: Vec<String> = match depth.take() {
            None => Vec::new(),
            Some(up) => module[..module.len().saturating_sub(up)].to_vec(),
        };
        let mut names = Vec::new();
        if chars.get(j) == Some(&'{') {
            // A group: `crate::{a, b::c}`: the first name of each member.
            let mut level = 0;
            let mut word = String::new();
            let mut first = true;
            j += 1;
            while j < chars.len() {
                let c = chars[j];
                if is_ident(c) {
                    word.push(c);
                    j += 1;
                    continue;
                }
                if first && !word.is_empty() {
                    names.push(std::mem::take(&mut word));
                    first = false;
                }
                word.clear();
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => first = true,
                    _ => {}
                }
                j += 1;
            }
        } else {
            let word: String = chars[j..].iter().take_while(|c| is_ident(**c)).collect();
            names.push(word);
        }
        for n in names {
            let top = base.first().cloned().unwrap_or(n);
            if !top.is_empty() && top != "self" {
                found.insert(top);
            }
        }
        i = j.max(i + 1);
    }
    found
}

/// The module path of a file of `actors/src` (`pipeline/syncs.rs` -> `[pipeline, syncs]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Does `code` use `needle` at a path boundary (not as part of a longer name)?
fn uses(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + needle.len()..].chars().next();
        let clean_before = before.is_none_or(|c| !is_ident(c));
        let clean_after =
            needle.ends_with(':') || needle.ends_with(';') || after.is_none_or(|c| !is_ident(c));
        clean_before && clean_after
    })
}

#[test]
fn tidy_no_module_imports_one_above_it() {
    let (rows, _) = module_table();
    let lib = strip_comments(&read(&root().join("actors/src/lib.rs")));
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect();
    let missing: Vec<&String> = declared.iter().filter(|m| !rows.contains_key(*m)).collect();
    assert!(
        missing.is_empty(),
        "modules without a row in docs/architecture.md's table: {missing:?}"
    );
    let src = root().join("actors/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut edges = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).expect("below actors/src");
        let module = module_path(rel);
        let Some(me) = module.first() else { continue };
        let row = &rows[me];
        for used in referenced_modules(&strip_comments(&read(f)), &module) {
            if used == *me || !declared.contains(&used) {
                continue; // itself, or an item of the crate root such as an exported macro
            }
            edges += 1;
            let other = &rows[&used];
            let below = other.rank > row.rank;
            let listed = row.may_import.as_ref().is_none_or(|m| m.contains(&used));
            if !below || !listed {
                wrong.push(format!(
                    "{} ({me}) imports `{used}`, {}",
                    rel.display(),
                    if below {
                        "which its row does not list"
                    } else {
                        "which is above it"
                    }
                ));
            }
        }
    }
    assert!(
        edges > 100,
        "only {edges} imports found: the scanner is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports against the module table:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn tidy_cores_do_no_io_and_read_no_clock() {
    let (rows, pure_files) = module_table();
    let src = root().join("actors/src");
    let mut files = Vec::new();
    for (name, row) in &rows {
        if row.kind == "core" || row.kind == "test" {
            let dir = src.join(name);
            rust_files(&dir, &mut files);
            let file = src.join(format!("{name}.rs"));
            if file.exists() {
                files.push(file);
            }
        }
    }
    assert!(!pure_files.is_empty(), "no pure files listed inside shells");
    for p in &pure_files {
        let f = src.join(p);
        assert!(f.exists(), "{p} is listed as pure but does not exist");
        files.push(f);
    }
    let mut wrong = Vec::new();
    for f in &files {
        let code = strip_comments(&read(f));
        for (needle, what) in NOT_IN_CORES {
            if uses(&code, needle) {
                wrong.push(format!("{} uses {what} (`{needle}`)", f.display()));
            }
        }
    }
    assert!(files.len() > 30, "only {} core files found", files.len());
    assert!(
        wrong.is_empty(),
        "pure cores doing IO:\n{}",
        wrong.join("\n")
    );
}

/// Test suites may be long: integration tests and the test modules of `actors/src`.
fn is_test_suite(rel: &Path) -> bool {
    let name = rel.file_name().map(|n| n.to_string_lossy().to_string());
    rel.starts_with("tests") || name.is_some_and(|n| n.ends_with("tests.rs") || n == "scenarios.rs")
}

#[test]
fn tidy_files_are_short_and_say_their_job() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["actors/src", "src", "tests", "benches", "fuzz"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "only {} files found", files.len());
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).expect("below the root");
        let text = read(f);
        if !text.starts_with("//!") {
            wrong.push(format!("{}: no module doc (`//!`) first", rel.display()));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES && !is_test_suite(rel) {
            wrong.push(format!(
                "{}: {lines} lines (at most {MAX_LINES})",
                rel.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn tidy_scanner_finds_crate_and_super_paths() {
    let m = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let code = strip_comments(
        "use crate::{proto::Id, tree};\n// crate::node is a comment\nlet s = \"a // b\"; \
         use super::super::x; /* crate::peer */ crate::metrics::STORE_QUEUE.sent(); \
         my_crate::store::x(); use super::syncs;",
    );
    let found = referenced_modules(&code, &m(&["pipeline", "io", "deep"]));
    let expected: BTreeSet<String> = ["proto", "tree", "pipeline", "metrics"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);
    assert!(uses("use tokio::sync;", "tokio::"));
    assert!(!uses("use tokio_util::codec;", "tokio::"));
    assert!(!uses("let my_actix = 1;", "actix"));
}
