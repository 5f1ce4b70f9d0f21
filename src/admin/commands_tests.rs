//! Tests of the admin server's commands (`commands.rs`).

use super::*;

#[test]
fn every_alias_finds_its_command() {
    for c in COMMANDS {
        for n in c.names {
            assert_eq!(find(n).map(|x| x.names[0]), Some(c.names[0]));
        }
    }
    assert!(find("restore").is_none());
    assert_eq!(find("mntr").map(|c| c.names[0]), Some("monitor"));
}

#[test]
fn values_keep_their_json_types() {
    assert_eq!(number("12"), json!(12));
    assert_eq!(number("0.5"), json!(0.5));
    assert_eq!(number("-1"), json!(-1));
    assert_eq!(number("leader"), json!("leader"));
    assert_eq!(number("0x1f"), json!("0x1f"));
    assert_eq!(number("NaN"), json!("NaN"));
}
