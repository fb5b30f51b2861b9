//! Property tests: `field`/`word` against simple models, parsers never panic.

mod common;

use common::Ctx;
use gwd_sample::{Acls, Condition, Expr, LogFormat, Sample};
use proptest::prelude::*;

fn field_model(s: &str, index: i64, count: i64) -> Option<String> {
    let f: Vec<&str> = s.split('/').collect();
    let n = f.len() as i64;
    let (first, last) = if index > 0 {
        let k = index - 1;
        if k >= n {
            return None;
        }
        (
            k,
            if count == 0 {
                n - 1
            } else {
                (k + count - 1).min(n - 1)
            },
        )
    } else {
        let k = n + index;
        if k < 0 {
            return None;
        }
        (
            if count == 0 {
                0
            } else {
                (k - count + 1).max(0)
            },
            k,
        )
    };
    Some(f[first as usize..=last as usize].join("/"))
}

fn eval(expr: &str, path: &str) -> Option<String> {
    let mut c = Ctx::get("/");
    c.path = Some(path.to_string());
    Expr::parse(expr)
        .unwrap()
        .eval(&c)
        .map(|s: Sample<'_>| s.to_string())
}

proptest! {
    #[test]
    fn field_matches_model(s in "[ab/]{0,12}", index in -6i64..6, count in 0i64..4) {
        prop_assume!(index != 0);
        let got = eval(&format!("path,field({index},/,{count})"), &s);
        prop_assert_eq!(got, field_model(&s, index, count));
    }

    #[test]
    fn word_matches_model(s in "[ab/]{0,12}", index in -6i64..6, count in 0i64..4) {
        prop_assume!(index != 0);
        let words: Vec<&str> = s.split('/').filter(|w| !w.is_empty()).collect();
        let n = words.len() as i64;
        let k = if index > 0 { index - 1 } else { n + index };
        let got = eval(&format!("path,word({index},/,{count})"), &s);
        if k < 0 || k >= n {
            prop_assert_eq!(got, None);
        } else {
            let (first, last) = match (index > 0, count) {
                (true, 0) => (k, n - 1),
                (true, _) => (k, (k + count - 1).min(n - 1)),
                (false, 0) => (0, k),
                (false, _) => ((k - count + 1).max(0), k),
            };
            let got = got.expect("word exists");
            prop_assert!(!got.starts_with('/') && !got.ends_with('/'));
            let got_words: Vec<&str> = got.split('/').filter(|w| !w.is_empty()).collect();
            prop_assert_eq!(got_words, words[first as usize..=last as usize].to_vec());
        }
    }

    #[test]
    fn parsers_never_panic_and_columns_stay_in_range(s in "[a-z_.(),{}!|%\\[\\] \"'\\\\:/0-9-]{0,40}") {
        let max = s.chars().count() + 1;
        let mut acls = Acls::new();
        if let Err(e) = Expr::parse(&s) { prop_assert!(e.column >= 1 && e.column <= max, "{e:?}"); }
        if let Err(e) = acls.define("x", &s) { prop_assert!(e.column >= 1 && e.column <= max, "{e:?}"); }
        if let Err(e) = Condition::parse(&s, &acls) { prop_assert!(e.column >= 1 && e.column <= max, "{e:?}"); }
        if let Err(e) = LogFormat::parse(&s) { prop_assert!(e.column >= 1 && e.column <= max, "{e:?}"); }
    }

    #[test]
    fn unicode_input_never_panics(s in "\\PC{0,30}") {
        let max = s.chars().count() + 1;
        for r in [Expr::parse(&s).err(), Acls::new().define("x", &s).err(), Condition::parse(&s, &Acls::new()).err(), LogFormat::parse(&s).err()].into_iter().flatten() {
            prop_assert!(r.column >= 1 && r.column <= max, "{r:?}");
        }
    }
}
