//! Fuzzing of the configuration decoders (zoo.cfg and zkr's TOML) with zkr-actors' engine
//! ([`zkr_actors::fuzz`]): structure-aware seeds (every key of the zoo.cfg table with plausible
//! and hostile values, server lines, dynamic files; TOML written from random configurations),
//! byte-level mutations, and the same no-panic, no-hang and allocation bounds. A TOML
//! configuration that parses must write back to text that parses to the same configuration.
//!
//! CI runs 1,000,000 inputs of each on the debug build (scripts/test.sh; ~60 s of CPU for both,
//! TOML the slower at ~17,000 inputs/s with its parser optimised in debug builds, Cargo.toml).
//! TOML seeds leave out sections and keys at random (defaults apply), and a configuration whose
//! round trip was checked recently is not checked again.

#![cfg(test)]

use rand::rngs::SmallRng;
use rand::Rng;
use zkr_actors::config::{EnsembleSection, NodeConfig, ServerEntry};
use zkr_actors::fuzz::{inputs_from_env, no_fixed_bytes, run, seed_from_env, Target};

/// Where the fuzzed zoo.cfg pretends to live: relative paths (dataDir, dynamicConfigFile)
/// resolve under a directory that does not exist.
const CFG: &str = "/nonexistent-zkr-fuzz/zoo.cfg";

fn value(rng: &mut SmallRng) -> String {
    match rng.random_range(0..12) {
        0 => rng.random_range(0..100_000u32).to_string(),
        1 => ["true", "false", "yes", "no", "TRUE"][rng.random_range(0..5)].into(),
        2 => "data".into(),
        3 => "127.0.0.1".into(),
        4 => format!(
            "127.0.0.1:{}:{}{}",
            rng.random_range(1..65535),
            rng.random_range(1..65535),
            [
                ":participant",
                ":observer",
                "",
                ";2181",
                ":observer;127.0.0.1:2181"
            ][rng.random_range(0..5)]
        ),
        5 => "PEM".into(),
        6 => "JKS".into(),
        7 => "ks.jks".into(),
        8 => "need".into(),
        9 => String::new(),
        10 => "-1".into(),
        _ => "3".into(),
    }
}

fn zoo_cfg_seed(rng: &mut SmallRng) -> Vec<u8> {
    let keys = crate::zoocfg_keys::KEYS;
    let mut text = String::from("# a zoo.cfg\ndataDir=data\n");
    for _ in 0..rng.random_range(0..12) {
        let key = keys[rng.random_range(0..keys.len())]
            .name
            .replace(".N", &format!(".{}", rng.random_range(0..300)));
        if key == "dynamicConfigFile" {
            continue;
        }
        text.push_str(&format!("{key}={}\n", value(rng)));
        if rng.random_bool(0.1) {
            text.push_str("\n# comment\n");
        }
    }
    if rng.random_bool(0.3) {
        text.push_str("myid=1\nserver.1=127.0.0.1:2888:3888\n");
    }
    text.into_bytes()
}

/// zoo.cfg: [`crate::zoocfg::parse`].
const ZOO_CFG: Target = Target {
    name: "zoo_cfg",
    seed: zoo_cfg_seed,
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: |data| {
        let _ = crate::zoocfg::parse(&String::from_utf8_lossy(data), CFG);
    },
};

fn toml_seed(rng: &mut SmallRng) -> Vec<u8> {
    let mut c = NodeConfig::default();
    c.node.client_port = rng.random();
    c.node.tick_time_ms = rng.random_range(1..5000);
    c.node.global_outstanding_limit = rng.random_range(0..5000);
    c.node.four_letter_words = vec!["srvr".into(), "ruok".into()];
    c.auth.skip_acl = rng.random();
    c.storage.snap_count = rng.random_range(2..1_000_000);
    if rng.random_bool(0.5) {
        c.ensemble = Some(EnsembleSection {
            servers: (1..=rng.random_range(1..5u8))
                .map(|id| ServerEntry {
                    id,
                    host: "127.0.0.1".into(),
                    peer_port: 2888 + id as u16,
                    election_port: None,
                    client_port: Some(2181),
                    observer: rng.random_bool(0.2),
                })
                .collect(),
            ..Default::default()
        });
    }
    if rng.random_bool(0.3) {
        c.sasl.users.insert("u".into(), "p".into());
    }
    // Sections and keys left out take their defaults: the defaulting is exercised too, and the
    // inputs are a third of a whole configuration's length (the parse is the per-input cost).
    let Ok(mut doc) = toml::Table::try_from(&c) else {
        return Vec::new();
    };
    doc.retain(|_, section| {
        if let Some(keys) = section.as_table_mut() {
            keys.retain(|_, _| rng.random_bool(0.6));
        }
        rng.random_bool(0.6)
    });
    toml::to_string(&doc).unwrap_or_default().into_bytes()
}

/// zkr's TOML: [`crate::config::parse`]; a configuration that parses writes back the same.
const TOML: Target = Target {
    name: "toml",
    seed: toml_seed,
    fix_checksums: None,
    fixed_bytes: no_fixed_bytes,
    expansion: 0,
    run: |data| {
        let text = String::from_utf8_lossy(data);
        if let Ok(c) = crate::config::parse(&text, "fuzz.toml") {
            if CHECKED.with_borrow(|checked| checked.iter().any(|seen| **seen == c)) {
                return;
            }
            let again = toml::to_string(&c).expect("a parsed configuration writes");
            let back = crate::config::parse(&again, "again.toml").expect("and parses again");
            assert_eq!(back, c, "TOML round trip");
            CHECKED.with_borrow_mut(|checked| {
                if checked.len() == CHECKED_KEEP {
                    checked.pop_front();
                }
                checked.push_back(Box::new(c));
            });
        }
    },
};

/// Configurations recently seen to survive the round trip (writing and parsing are functions of
/// the configuration alone, so checking one again proves nothing new). Most inputs that parse
/// are their seed with a harmless change: of 50,000 inputs, 9,942 parsed and 8,308 of those
/// were a configuration already checked. Writing and re-parsing a whole configuration takes
/// ~330 µs in the debug build, so without this it was two thirds of the target's time.
const CHECKED_KEEP: usize = 512;

thread_local! {
    static CHECKED: std::cell::RefCell<std::collections::VecDeque<Box<NodeConfig>>> =
        std::cell::RefCell::new(std::collections::VecDeque::with_capacity(CHECKED_KEEP));
}

#[test]
fn fuzz_zoo_cfg() {
    println!("{}", run(&ZOO_CFG, inputs_from_env(), seed_from_env()));
}

#[test]
fn toml_seeds_are_valid_configurations_before_mutation() {
    use rand::SeedableRng;
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..200 {
        let seed = toml_seed(&mut rng);
        let text = String::from_utf8(seed).unwrap();
        assert!(crate::config::parse(&text, "seed.toml").is_ok(), "{text}");
    }
}

#[test]
fn fuzz_toml() {
    println!("{}", run(&TOML, inputs_from_env(), seed_from_env()));
}
