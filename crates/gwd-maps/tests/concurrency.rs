//! Readers racing a writer: every read sees the old or the new value of an
//! entry (never a torn or older-than-seen state), and a committed version
//! appears all at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};

const KEYS: usize = 200;

fn key(i: usize) -> Vec<u8> {
    format!("/k{i}").into_bytes()
}

/// Value format: `<generation>:<key>`; returns the generation after checking
/// the key part.
fn gen_of(value: &[u8], key: &[u8]) -> u64 {
    let s = std::str::from_utf8(value).expect("utf8 value");
    let (g, k) = s.split_once(':').expect("value has a generation");
    assert_eq!(
        k.as_bytes(),
        key,
        "value belongs to another key (torn read)"
    );
    g.parse().expect("numeric generation")
}

#[test]
fn set_is_atomic_per_entry_and_monotonic() {
    let map = MapRef::new("c", RefKind::Map);
    let m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let beg = map.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
    let mut text = Vec::new();
    for i in 0..KEYS {
        text.extend_from_slice(&key(i));
        text.extend_from_slice(format!(" 0:/k{i}\n").as_bytes());
    }
    map.load_map_str("c", &text).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (m, beg, done, reads) = (m.clone(), beg.clone(), done.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut last = vec![0u64; KEYS];
                let mut i = r;
                let mut n = 0u64;
                while !done.load(Ordering::Acquire) || n < 1000 {
                    let k = key(i % KEYS);
                    let hit = m.lookup(&k).expect("key always present");
                    let g = gen_of(hit.value(), &k);
                    assert!(
                        g >= last[i % KEYS],
                        "went back in time: {g} < {}",
                        last[i % KEYS]
                    );
                    last[i % KEYS] = g;
                    // beg on the same reference: a longer input resolves to the same entry.
                    let mut long = k.clone();
                    long.extend_from_slice(b"/x");
                    let bh = beg.lookup(&long).expect("prefix present");
                    let bg = gen_of(bh.value(), bh.key());
                    if bh.key() == &k[..] {
                        assert!(bg >= g);
                        last[i % KEYS] = bg;
                    }
                    i = i.wrapping_mul(31).wrapping_add(7);
                    n += 1;
                }
                reads.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    for g in 1..=200u64 {
        for i in 0..KEYS {
            let k = key(i);
            map.set(&k, format!("{g}:/k{i}").as_bytes()).unwrap();
        }
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) >= 2000);
    for i in 0..KEYS {
        assert_eq!(gen_of(m.lookup(&key(i)).unwrap().value(), &key(i)), 200);
    }
}

#[test]
fn commit_switches_whole_versions() {
    let map = MapRef::new("v", RefKind::Map);
    let m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let text_for = |g: u64| {
        let mut t = Vec::new();
        for i in 0..KEYS {
            t.extend_from_slice(format!("/k{i} {g}:/k{i}\n").as_bytes());
        }
        t
    };
    map.load_map_str("v", &text_for(0)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (m, map, done) = (m.clone(), map.clone(), done.clone());
            std::thread::spawn(move || {
                let mut floor = 0u64;
                let mut n = 0u64;
                let mut i = r;
                while !done.load(Ordering::Acquire) || n < 500 {
                    let k = key(i % KEYS);
                    let g = gen_of(m.lookup(&k).expect("never a partial version").value(), &k);
                    // Versions are switched whole: once a generation was seen
                    // on any key, no key shows an older one.
                    assert!(g >= floor, "saw generation {g} after {floor}");
                    floor = g;
                    if n.is_multiple_of(64) {
                        let all = map.entries();
                        assert_eq!(all.len(), KEYS, "show saw a partial version");
                        let g0 = gen_of(all[0].value(), all[0].key());
                        assert!(
                            all.iter().all(|e| gen_of(e.value(), e.key()) == g0),
                            "mixed versions"
                        );
                        assert!(g0 >= floor);
                        floor = g0;
                    }
                    i = i.wrapping_mul(17).wrapping_add(3);
                    n += 1;
                }
            })
        })
        .collect();
    for g in 1..=60u64 {
        let v = map.prepare();
        map.load_map_str_at(v, "v", &text_for(g)).unwrap();
        map.commit(v).unwrap();
        map.reclaim();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(map.versions().entry_cnt, KEYS);
}
