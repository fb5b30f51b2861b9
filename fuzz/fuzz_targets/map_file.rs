//! Map-file parser + loader: never panics, and every parsed line is found
//! again by an exact lookup after loading.
#![no_main]

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = gwd_maps::file::map_lines(data);
    let map = MapRef::new("fuzz.map", RefKind::Map);
    let str_m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let beg = map.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
    let dom = map.matcher(MatchSpec::icase(MatchKind::Dom)).unwrap();
    let n = map.load_map_str("fuzz.map", data).unwrap();
    assert_eq!(n, lines.len());
    for l in &lines {
        assert!(!l.key.is_empty());
        assert!(
            !l.key
                .iter()
                .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        );
        let hit = str_m.lookup(l.key).expect("every key is found");
        assert_eq!(hit.key(), l.key);
        assert!(beg.lookup(l.key).is_some());
        let _ = dom.lookup(l.key);
    }
    // Typed kinds may reject keys, but must not panic.
    for kind in [MatchKind::Int, MatchKind::Ip, MatchKind::Reg] {
        let _ = map.matcher(MatchSpec::new(kind));
    }
});
