//! ZooKeeper path rules (`PathUtils.validatePath`) and path helpers.
//!
//! A valid path starts with `/`, is `/` or does not end with `/`, has no empty segment, no
//! `.`/`..` segment, and no UTF-16 code unit in the invalid ranges (NUL, controls, surrogates and
//! the private-use area, U+FFF0..U+FFFF). Characters outside the BMP are surrogate pairs in
//! Java, hence invalid here too.

/// Why a path is invalid (the server answers `BadArguments`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {path:?}: {reason}")]
pub struct InvalidPath {
    /// The path.
    pub path: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

fn invalid_char(c: char) -> bool {
    let u = c as u32;
    u <= 0x1f || (0x7f..=0x9f).contains(&u) || (0xd800..=0xf8ff).contains(&u) || u >= 0xfff0
}

/// Checks `path` against ZooKeeper's rules.
pub fn validate(path: &str) -> Result<(), InvalidPath> {
    let bad = |reason| {
        Err(InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("path length must be > 0");
    }
    if !path.starts_with('/') {
        return bad("path must start with / character");
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return bad("path must not end with / character");
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return bad("empty node name specified");
        }
        if segment == "." || segment == ".." {
            return bad("relative paths not allowed");
        }
    }
    if path.chars().any(invalid_char) {
        return bad("invalid character");
    }
    Ok(())
}

/// The parent of `path` as ZooKeeper computes it: everything before the last `/`, with the root
/// spelled `/` (ZooKeeper's "" key). `None` if there is no `/`.
pub fn parent(path: &str) -> Option<&str> {
    let i = last_slash(path)?;
    Some(if i == 0 { "/" } else { &path[..i] })
}

/// The last segment of `path`.
pub fn name(path: &str) -> &str {
    match last_slash(path) {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Where the last `/` is (a byte scan: paths are short, and `/` is ASCII).
fn last_slash(path: &str) -> Option<usize> {
    path.bytes().rposition(|b| b == b'/')
}

/// `parent` + `/` + `child`, without doubling the root's slash.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// Paths that can never be deleted.
pub fn is_special(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// The strict ancestors of `path`, nearest first, ending with `/`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = path;
    std::iter::from_fn(move || {
        if cur == "/" {
            return None;
        }
        let p = parent(cur)?;
        cur = p;
        Some(p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_paths() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/...", "/a/0000000001", "/ü"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/a/..",
            "/a\u{0}",
            "/a\u{1f}",
            "/\u{7f}",
            "/\u{e000}",
            "/\u{fff5}",
            "/\u{1F600}",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parents_and_ancestors() {
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("a"), None);
        assert_eq!(
            ancestors("/a/b/c").collect::<Vec<_>>(),
            vec!["/a/b", "/a", "/"]
        );
        assert_eq!(ancestors("/").count(), 0);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(name("/a/b"), "b");
    }
}
