//! Loading a node's configuration: the embedded default, a zkr TOML file, and checks that name
//! the offending key and file.

use std::path::{Path, PathBuf};

use zkr_actors::config::NodeConfig;

/// The configuration `zkr node` uses without arguments.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("config file {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (it names the key and line).
        message: String,
    },
    /// A key (or its value) that zkr refuses rather than ignore.
    #[error("config file {file}: key `{key}` is refused: {message}")]
    Refused {
        /// The file.
        file: String,
        /// The key, as written.
        key: String,
        /// Why, and what to do.
        message: String,
    },
    /// A value is out of range.
    #[error("config file {file}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The key, as `section.name`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Parses TOML text from `file` (a name for messages).
pub fn parse(text: &str, file: &str) -> Result<NodeConfig, ConfigError> {
    let config: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        file: file.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    validate(&config, file)?;
    Ok(config)
}

/// Largest configuration file read (zoo.cfg, its dynamic file, myid, TOML).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a configuration file as text, refusing more than [`MAX_CONFIG_BYTES`] (a path that
/// names a device or a huge file is a mistake, not a configuration).
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let err = |source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(err)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(err)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(err(std::io::Error::other(format!(
            "larger than {MAX_CONFIG_BYTES} bytes"
        ))));
    }
    Ok(text)
}

/// Reads and parses a TOML config file.
pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
    let text = read_text(path)?;
    parse(&text, &path.display().to_string())
}

/// The embedded default.
pub fn embedded_default() -> Result<NodeConfig, ConfigError> {
    parse(DEFAULT_TOML, "<embedded default>")
}

pub fn validate(c: &NodeConfig, file: &str) -> Result<(), ConfigError> {
    let bad = |key, message: String| {
        Err(ConfigError::Invalid {
            file: file.to_string(),
            key,
            message,
        })
    };
    if c.node.tick_time_ms == 0 {
        return bad("node.tick_time_ms", "must be greater than 0".into());
    }
    if c.node.min_session_timeout() > c.node.max_session_timeout() {
        return bad(
            "node.min_session_timeout_ms",
            format!(
                "{} is above node.max_session_timeout_ms ({})",
                c.node.min_session_timeout(),
                c.node.max_session_timeout()
            ),
        );
    }
    if c.node.jute_max_buffer_bytes < 1024 || c.node.jute_max_buffer_bytes > i32::MAX as usize {
        return bad(
            "node.jute_max_buffer_bytes",
            "must be between 1024 and 2147483647".into(),
        );
    }
    // A forwarded request or proposal must fit a peer frame with room to spare.
    let peer_limit = zkr_actors::peer::codec::MAX_PEER_FRAME_BYTES / 2;
    if c.ensemble.is_some() && c.node.jute_max_buffer_bytes > peer_limit {
        return bad(
            "node.jute_max_buffer_bytes",
            format!("an ensemble member accepts at most {peer_limit} (peer frames carry requests)"),
        );
    }
    if c.features.container_check_interval_ms == 0 {
        return bad(
            "features.container_check_interval_ms",
            "must be greater than 0".into(),
        );
    }
    if let Some(d) = &c.auth.super_digest {
        if d.split(':').count() != 2 {
            return bad(
                "auth.super_digest",
                "must be user:base64-sha1-digest".into(),
            );
        }
    }
    if let Some(e) = &c.ensemble {
        if e.peer_queue_bytes < 1 << 20 {
            return bad(
                "ensemble.peer_queue_bytes",
                "must be at least 1048576 (1 MiB)".into(),
            );
        }
    }
    if c.node.max_queued_reply_bytes < 64 << 10 {
        return bad(
            "node.max_queued_reply_bytes",
            "must be at least 65536".into(),
        );
    }
    if c.node.client_threads.is_some_and(|n| n > 256) {
        return bad(
            "node.client_threads",
            "must be at most 256 (connections are spread over these threads and the event loop)"
                .into(),
        );
    }
    if c.node.data_log_dir.as_deref() == Some(c.node.data_dir.as_path()) {
        return bad(
            "node.data_log_dir",
            "is the data directory itself; leave it out to keep the log there".into(),
        );
    }
    if c.storage.snap_count < 2 {
        return bad("storage.snap_count", "must be at least 2".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_standalone_on_2181() {
        let c = embedded_default().unwrap();
        assert_eq!(c.node.client_port, 2181);
        assert_eq!(c.node.data_dir, PathBuf::from("./zkr-data"));
        assert_eq!(c.node.id, 0);
    }

    #[test]
    fn shipped_standalone_example_parses() {
        let c = load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/standalone.toml"
        )))
        .unwrap();
        assert_eq!(c.node.tick_time_ms, 2000);
    }

    #[test]
    fn shipped_ensemble_examples_parse() {
        for f in ["node1", "node2", "node3", "node4-observer"] {
            let p = format!("{}/config/ensemble/{f}.toml", env!("CARGO_MANIFEST_DIR"));
            let c = load(Path::new(&p)).unwrap();
            let e = c.ensemble.expect("an ensemble");
            assert_eq!(e.servers.len(), 4);
            assert!(e.servers.iter().any(|s| s.id == c.node.id));
        }
    }

    #[test]
    fn unknown_key_names_the_key_and_file() {
        let e = parse("[node]\nclient_prot = 1\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("client_prot"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse("[node]\nclient_port = \"high\"\n", "y.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("y.toml") && e.contains("client_port"), "{e}");
    }

    #[test]
    fn out_of_range_value_names_the_key() {
        let e = parse("[node]\ntick_time_ms = 0\n", "z.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("z.toml") && e.contains("node.tick_time_ms"),
            "{e}"
        );
    }

    #[test]
    fn client_threads_default_to_one_per_4_cores_and_are_bounded() {
        let c = embedded_default().unwrap();
        assert_eq!(c.node.client_threads, None);
        assert_eq!(c.node.client_threads_for(2), 0, "2 cores: one event loop");
        assert_eq!(c.node.client_threads_for(3), 0);
        assert_eq!(c.node.client_threads_for(8), 2);
        let set = parse("[node]\nclient_threads = 3\n", "t.toml").unwrap();
        assert_eq!(set.node.client_threads_for(2), 3, "the setting wins");
        let e = parse("[node]\nclient_threads = 257\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("node.client_threads"), "{e}");
    }
}
