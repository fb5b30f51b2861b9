//! Every example in the tables of docs/SAMPLES.md must parse.

use gwd_sample::{Acls, Expr, LogFormat, MemoryMaps, ParseEnv};

const DOC: &str = include_str!("../../../docs/SAMPLES.md");

/// (heading, example) for each table row, example = first backticked text
/// of the last cell.
fn examples() -> Vec<(String, String)> {
    let mut heading = String::new();
    let mut out = Vec::new();
    for line in DOC.lines() {
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_string();
            continue;
        }
        if !line.starts_with("| `") {
            continue;
        }
        let last = line
            .trim_end()
            .trim_end_matches('|')
            .rsplit(" | ")
            .next()
            .unwrap_or("");
        let mut parts = last.split('`');
        parts.next();
        if let Some(ex) = parts.next() {
            out.push((heading.clone(), ex.to_string()));
        }
    }
    out
}

#[test]
fn table_examples_parse() {
    let ex = examples();
    let mut checked = 0;
    for (heading, e) in &ex {
        let res = match heading.as_str() {
            "Fetches" | "Converters" => Expr::parse(e).map(drop),
            "ACLs" if e.contains("-f ") || e.contains("-u ") => {
                let mut maps =
                    MemoryMaps::new([("maps/blocked.acl", "10.0.0.1"), ("maps/hosts.map", "a b")]);
                Acls::new().define_in("x", e, &mut ParseEnv::with_maps(&mut maps))
            }
            "ACLs" | "Match methods" | "Shorthands" => Acls::new().define("x", e),
            "Log formats" => LogFormat::parse(e).map(drop),
            "Map converters" => {
                let file = e.split(['(', ',', ')']).find(|w| w.starts_with("maps/"));
                let file = file.expect("map example names maps/<file>");
                let key = if e.contains("map_ip") {
                    "10.0.0.0/8"
                } else {
                    "1"
                };
                let value = if e.contains("_ip(") { "1.2.3.4" } else { "2" };
                let text = format!("{key} {value}");
                let text = text.as_str();
                let mut maps = MemoryMaps::new([(file, text)]);
                Expr::parse_in(e, &mut ParseEnv::with_maps(&mut maps)).map(drop)
            }
            _ => continue,
        };
        res.unwrap_or_else(|err| panic!("[{heading}] `{e}`: {err}"));
        checked += 1;
    }
    assert!(checked >= 75, "only {checked} examples found");
}

#[test]
fn every_fetch_and_converter_is_documented() {
    for name in gwd_sample::fetch_names().chain(gwd_sample::converter_names()) {
        assert!(
            DOC.contains(&format!("`{name}")),
            "{name} missing from SAMPLES.md"
        );
    }
}
