//! ACL-file parser and typed pattern parsers (int, ip, reg) with arbitrary
//! lookups: never panics.
#![no_main]

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, input) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let lines = gwd_maps::file::acl_lines(text);
    for kind in MatchKind::ALL {
        for icase in [false, true] {
            let acl = MapRef::new("fuzz.acl", RefKind::Acl);
            let spec = if icase {
                MatchSpec::icase(kind)
            } else {
                MatchSpec::new(kind)
            };
            let m = acl.matcher(spec).unwrap();
            if acl.load_acl_str("fuzz.acl", text).is_ok() {
                assert_eq!(acl.len(), lines.len());
                let _ = m.lookup(input);
                let _ = m.get(input).acl_line();
                if let Some(l) = lines.first() {
                    let _ = acl.del(l.pattern);
                    let _ = m.lookup(input);
                }
            }
        }
    }
});
