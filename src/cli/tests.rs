//! Tests of `zkr cli`'s argument parsing (`mod.rs`).

use super::*;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn options_come_before_the_positional_arguments() {
    let (o, p) = options(&words("-s -v 3 /a data"), &["-v"]);
    assert_eq!(
        o,
        vec![("-s".into(), None), ("-v".into(), Some("3".into()))]
    );
    assert_eq!(p, vec!["/a", "data"]);
    let (o, p) = options(&words("/a -1"), &["-v"]);
    assert!(o.is_empty());
    assert_eq!(
        p,
        vec!["/a", "-1"],
        "a negative datum after the path is data"
    );
}

#[test]
fn server_entries_get_their_prefix() {
    assert_eq!(prefix_server("5=h:1:2;3"), "server.5=h:1:2;3");
    assert_eq!(prefix_server("server.5=h:1:2"), "server.5=h:1:2");
}
