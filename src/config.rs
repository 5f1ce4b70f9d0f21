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

/// Reads and parses a TOML config file.
pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
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
    let peer_limit = zkr_actors::peer::link::MAX_PEER_FRAME_BYTES / 2;
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
}
