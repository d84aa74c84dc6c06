//! `iptables -L` layout, byte for byte against what iptables 1.8.9 (nf_tables)
//! printed for `data/list_ruleset.rules` (restored with counters) in a scratch
//! network namespace, for the usual flag combinations.

use crate::rules::{ListFormat, Ruleset, TableKind};

const RULES: &str = include_str!("data/list_ruleset.rules");

/// (file, table, -v, -n, -x, --line-numbers, what iptables printed)
const CASES: &[(&str, TableKind, bool, bool, bool, bool, &str)] = &[
    (
        "filter -L -v -n -x",
        TableKind::Filter,
        true,
        true,
        true,
        false,
        include_str!("data/list_filter_v_n_x.txt"),
    ),
    (
        "filter -L -v -n",
        TableKind::Filter,
        true,
        true,
        false,
        false,
        include_str!("data/list_filter_v_n.txt"),
    ),
    (
        "filter -L -n",
        TableKind::Filter,
        false,
        true,
        false,
        false,
        include_str!("data/list_filter_n.txt"),
    ),
    (
        "filter -L -n --line-numbers",
        TableKind::Filter,
        false,
        true,
        false,
        true,
        include_str!("data/list_filter_n_line_numbers.txt"),
    ),
    (
        "filter -L -v",
        TableKind::Filter,
        true,
        false,
        false,
        false,
        include_str!("data/list_filter_v.txt"),
    ),
    (
        "filter -L",
        TableKind::Filter,
        false,
        false,
        false,
        false,
        include_str!("data/list_filter.txt"),
    ),
    (
        "filter -L -v -x --line-numbers",
        TableKind::Filter,
        true,
        false,
        true,
        true,
        include_str!("data/list_filter_v_x_line_numbers.txt"),
    ),
    (
        "raw -L -v -n -x",
        TableKind::Raw,
        true,
        true,
        true,
        false,
        include_str!("data/list_raw_v_n_x.txt"),
    ),
    (
        "raw -L -v -n",
        TableKind::Raw,
        true,
        true,
        false,
        false,
        include_str!("data/list_raw_v_n.txt"),
    ),
    (
        "raw -L -n",
        TableKind::Raw,
        false,
        true,
        false,
        false,
        include_str!("data/list_raw_n.txt"),
    ),
    (
        "raw -L -n --line-numbers",
        TableKind::Raw,
        false,
        true,
        false,
        true,
        include_str!("data/list_raw_n_line_numbers.txt"),
    ),
    (
        "raw -L -v",
        TableKind::Raw,
        true,
        false,
        false,
        false,
        include_str!("data/list_raw_v.txt"),
    ),
    (
        "raw -L",
        TableKind::Raw,
        false,
        false,
        false,
        false,
        include_str!("data/list_raw.txt"),
    ),
    (
        "raw -L -v -x --line-numbers",
        TableKind::Raw,
        true,
        false,
        true,
        true,
        include_str!("data/list_raw_v_x_line_numbers.txt"),
    ),
];

#[test]
fn listings_match_iptables_byte_for_byte() {
    let r = Ruleset::parse_with_counters(RULES).unwrap_or_else(|e| panic!("{e}"));
    for &(what, table, verbose, numeric, exact, line_numbers, want) in CASES {
        let f = ListFormat {
            verbose,
            numeric,
            exact,
            line_numbers,
        };
        let got = r.list_table(table, &f).unwrap();
        if got != want {
            for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
                assert_eq!(g, w, "{what}: line {}", i + 1);
            }
            assert_eq!(got, want, "{what}");
        }
    }
}

#[test]
fn the_filter_shortcut_and_single_chains() {
    let r = Ruleset::parse_with_counters(RULES).unwrap();
    assert_eq!(r.list(true, true, true), CASES[0].6);
    let f = ListFormat {
        verbose: true,
        numeric: true,
        exact: true,
        line_numbers: false,
    };
    let chain = r.list_chain(TableKind::Filter, "mychain", &f).unwrap();
    assert_eq!(
        chain,
        "Chain mychain (2 references)\n    pkts      bytes target     prot opt in     out     source               destination         \n       0        0 RETURN     0    --  *      *       0.0.0.0/0            0.0.0.0/0           \n"
    );
    assert!(r.list_chain(TableKind::Filter, "nope", &f).is_none());
}

#[test]
fn the_listed_ruleset_saves_back_as_iptables_save_printed_it() {
    let r = Ruleset::parse_with_counters(RULES).unwrap();
    assert_eq!(r.save(true), RULES);
}
