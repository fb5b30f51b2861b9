//! Property tests: every match kind against a plain list-scan model with
//! HAProxy's rules, under random add / add@ver / set / del / #id / clear /
//! prepare / commit sequences with lookups after every step.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use gwd_maps::{EntryId, MapError, MapRef, MatchKind, MatchSpec, Matcher, RefKind};
use proptest::prelude::*;

// ------------------------------------------------------------------ model

#[derive(Clone, Debug)]
struct MEntry {
    seq: u64,
    key: Vec<u8>,
    value: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    curr: u32,
    next: u32,
    versions: BTreeMap<u32, Vec<MEntry>>,
    next_seq: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            next_seq: 1,
            ..Default::default()
        }
    }
    fn open(&self, v: u32) -> bool {
        v >= self.curr && v <= self.next
    }
    fn all(&mut self) -> impl Iterator<Item = &mut MEntry> {
        self.versions.values_mut().flatten()
    }
    fn live(&self) -> &[MEntry] {
        self.versions.get(&self.curr).map_or(&[], |v| v)
    }
}

/// Parsed key data the model needs for typed kinds.
#[derive(Clone, Copy, Debug)]
enum IpK {
    V4 { net: u32, len: u8 },
    V6 { net: u128, len: u8 },
    Odd { net: u32, mask: u32 },
}

fn m4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}
fn m6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

fn parse_ipk(key: &[u8]) -> IpK {
    let s = std::str::from_utf8(key).unwrap();
    let (a, m) = s.split_once('/').unwrap();
    if let Ok(v4) = a.parse::<std::net::Ipv4Addr>() {
        let a = u32::from(v4);
        if let Ok(len) = m.parse::<u8>() {
            return IpK::V4 {
                net: a & m4(len),
                len,
            };
        }
        let mask = u32::from(m.parse::<std::net::Ipv4Addr>().unwrap());
        if mask.leading_ones() + mask.trailing_zeros() == 32 {
            let len = mask.leading_ones() as u8;
            return IpK::V4 { net: a & mask, len };
        }
        return IpK::Odd {
            net: a & mask,
            mask,
        };
    }
    let a = u128::from(a.parse::<Ipv6Addr>().unwrap());
    let len: u8 = m.parse().unwrap();
    IpK::V6 {
        net: a & m6(len),
        len,
    }
}

fn parse_intk(key: &[u8]) -> (i64, i64) {
    let s = std::str::from_utf8(key).unwrap();
    if let Some((a, b)) = s.split_once(':') {
        let lo = if a.is_empty() {
            i64::MIN
        } else {
            a.parse().unwrap()
        };
        let hi = if b.is_empty() {
            i64::MAX
        } else {
            b.parse().unwrap()
        };
        (lo, hi)
    } else {
        let v = s.parse().unwrap();
        (v, v)
    }
}

fn first(es: &[MEntry], f: impl Fn(&MEntry) -> bool) -> Option<&MEntry> {
    es.iter().filter(|e| f(e)).min_by_key(|e| e.seq)
}

/// Longest match by `len`, earliest seq among equals.
fn longest(es: &[MEntry], f: impl Fn(&MEntry) -> Option<u32>) -> Option<&MEntry> {
    es.iter()
        .filter_map(|e| f(e).map(|l| (l, e)))
        .min_by_key(|(l, e)| (std::cmp::Reverse(*l), e.seq))
        .map(|(_, e)| e)
}

fn eqf(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn bounded(key: &[u8], input: &[u8], delims: &[u8], fold: bool) -> bool {
    let d = |b: &u8| delims.contains(b);
    let s = key.iter().position(|b| !d(b));
    let Some(s) = s else { return false };
    let e = key.iter().rposition(|b| !d(b)).unwrap() + 1;
    let k = &key[s..e];
    if k.len() > input.len() {
        return false;
    }
    (0..=input.len() - k.len()).any(|p| {
        (p == 0 || d(&input[p - 1]))
            && eqf(&input[p..p + k.len()], k, fold)
            && (p + k.len() == input.len() || d(&input[p + k.len()]))
    })
}

fn int_input(s: &[u8]) -> i64 {
    let (neg, r) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &b in r.iter().take_while(|b| b.is_ascii_digit()) {
        let d = i64::from(b - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

fn ip_input(s: &[u8]) -> Option<(bool, u128)> {
    let t = std::str::from_utf8(s).ok()?;
    // Generated v4 inputs are dotted quads, possibly zero-padded, possibly
    // followed by text that is ignored ("10.0.0.0/8").
    let head = t
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("");
    let parts: Vec<&str> = head.split('.').collect();
    if parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let mut a = 0u32;
        for p in parts {
            let o: u32 = p.parse().ok()?;
            if o > 255 {
                return None;
            }
            a = a << 8 | o;
        }
        return Some((false, u128::from(a)));
    }
    t.parse::<Ipv6Addr>().ok().map(|a| (true, u128::from(a)))
}

fn model_lookup(spec: MatchSpec, es: &[MEntry], input: &[u8]) -> Option<u64> {
    let fold = spec.icase;
    let hit = match spec.kind {
        MatchKind::Str => first(es, |e| eqf(&e.key, input, fold)),
        MatchKind::Beg if !fold => longest(es, |e| {
            input.starts_with(&e.key).then_some(e.key.len() as u32)
        }),
        MatchKind::Beg => first(es, |e| {
            e.key.len() <= input.len() && eqf(&input[..e.key.len()], &e.key, true)
        }),
        MatchKind::End => first(es, |e| {
            e.key.len() <= input.len() && eqf(&input[input.len() - e.key.len()..], &e.key, fold)
        }),
        MatchKind::Sub => first(es, |e| {
            e.key.is_empty()
                || (e.key.len() <= input.len()
                    && input.windows(e.key.len()).any(|w| eqf(w, &e.key, fold)))
        }),
        MatchKind::Dom => first(es, |e| bounded(&e.key, input, b"/?.:", fold)),
        MatchKind::Dir => first(es, |e| bounded(&e.key, input, b"/?", fold)),
        MatchKind::Reg | MatchKind::Regm => first(es, |e| {
            regex::bytes::RegexBuilder::new(std::str::from_utf8(&e.key).unwrap())
                .unicode(false)
                .case_insensitive(fold)
                .build()
                .unwrap()
                .is_match(input)
        }),
        MatchKind::Int | MatchKind::Len => {
            let v = if spec.kind == MatchKind::Len {
                input.len() as i64
            } else {
                int_input(input)
            };
            first(es, |e| {
                let (lo, hi) = parse_intk(&e.key);
                lo <= v && v <= hi
            })
        }
        MatchKind::Ip => {
            let (v6, a) = ip_input(input)?;
            let ks: Vec<(IpK, &MEntry)> = es.iter().map(|e| (parse_ipk(&e.key), e)).collect();
            let v4_steps = |a: u32| -> Option<&MEntry> {
                let best = ks
                    .iter()
                    .filter_map(|(k, e)| match k {
                        IpK::V4 { net, len } if a & m4(*len) == *net => Some((*len, e.seq, *e)),
                        _ => None,
                    })
                    .min_by_key(|(l, s, _)| (std::cmp::Reverse(*l), *s));
                best.map(|x| x.2)
            };
            let odd = |a: u32| -> Option<&MEntry> {
                ks.iter()
                    .filter(|(k, _)| matches!(k, IpK::Odd { net, mask } if a & mask == *net))
                    .map(|(_, e)| *e)
                    .min_by_key(|e| e.seq)
            };
            let v6_step = |a: u128| -> Option<&MEntry> {
                ks.iter()
                    .filter_map(|(k, e)| match k {
                        IpK::V6 { net, len } if a & m6(*len) == *net => Some((*len, e.seq, *e)),
                        _ => None,
                    })
                    .min_by_key(|(l, s, _)| (std::cmp::Reverse(*l), *s))
                    .map(|x| x.2)
            };
            if !v6 {
                let a4 = a as u32;
                v4_steps(a4)
                    .or_else(|| v6_step(0xffff_u128 << 32 | u128::from(a4)))
                    .or_else(|| odd(a4))
            } else {
                v6_step(a).or_else(|| {
                    let v4 = if a >> 32 == 0xffff || a >> 32 == 0 {
                        Some(a as u32)
                    } else if (a >> 112) as u16 == 0x2002 {
                        Some((a >> 80) as u32)
                    } else {
                        None
                    };
                    v4.and_then(|v4| v4_steps(v4).or_else(|| odd(v4)))
                })
            }
        }
        MatchKind::Found => None,
    };
    hit.map(|e| e.seq)
}

// ------------------------------------------------------------------ generators

#[derive(Clone, Debug)]
enum Op {
    Add(Vec<u8>, Vec<u8>),
    AddAt(u32, Vec<u8>, Vec<u8>),
    Set(Vec<u8>, Vec<u8>),
    Del(Vec<u8>),
    SetId(usize, Vec<u8>),
    DelId(usize),
    Upsert(Vec<u8>, Vec<u8>),
    Clear,
    ClearAt(u32),
    Prepare,
    Commit(u32),
    Lookup(Vec<Vec<u8>>),
}

fn str_key() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"abAB./?:".to_vec()), 0..4).boxed()
}

fn str_input() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"abAB./?:".to_vec()), 0..9).boxed()
}

fn reg_key() -> BoxedStrategy<Vec<u8>> {
    prop::sample::select(vec![
        "a", "^a", "b$", "a|b", "[ab]b", "a*b", "A", "^$", ".", "ab", "a.b", "^b", "",
    ])
    .prop_map(|s| s.as_bytes().to_vec())
    .boxed()
}

fn int_key() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (0i64..12).prop_map(|v| v.to_string()),
        (0i64..12, 0i64..6).prop_map(|(a, d)| format!("{a}:{}", a + d)),
        (0i64..12).prop_map(|a| format!("{a}:")),
        (0i64..12).prop_map(|b| format!(":{b}")),
    ]
    .prop_map(String::into_bytes)
    .boxed()
}

fn int_input_s() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (-2i64..16).prop_map(|v| v.to_string().into_bytes()),
        Just(b"7abc".to_vec()),
        Just(b"abc".to_vec()),
    ]
    .boxed()
}

fn v4(x: u8, y: u8, z: u8) -> String {
    format!("10.{x}.{y}.{z}")
}

fn ip_key() -> BoxedStrategy<Vec<u8>> {
    let o = || 0u8..3;
    prop_oneof![
        (
            o(),
            o(),
            o(),
            prop::sample::select(vec![0u8, 8, 15, 16, 24, 31, 32])
        )
            .prop_map(|(x, y, z, l)| format!("{}/{l}", v4(x, y, z))),
        (
            o(),
            o(),
            o(),
            prop::sample::select(vec![96u8, 104, 112, 120, 128])
        )
            .prop_map(|(x, y, z, l)| format!("::ffff:{}/{l}", v4(x, y, z))),
        (o(), o(), prop::sample::select(vec![104u8, 112, 128]))
            .prop_map(|(x, y, l)| format!("::{}/{l}", v4(x, y, 0))),
        (o(), prop::sample::select(vec![32u8, 64, 128]))
            .prop_map(|(x, l)| format!("2001:db8::{x}/{l}")),
        (
            o(),
            o(),
            prop::sample::select(vec!["255.0.255.0", "255.255.0.255", "255.0.0.0"])
        )
            .prop_map(|(x, z, m)| format!("{}/{m}", v4(x, 1, z))),
    ]
    .prop_map(String::into_bytes)
    .boxed()
}

fn ip_input_s() -> BoxedStrategy<Vec<u8>> {
    let o = || 0u8..3;
    prop_oneof![
        (o(), o(), o()).prop_map(|(x, y, z)| v4(x, y, z)),
        (o(), o(), o()).prop_map(|(x, y, z)| format!("010.00{x}.{y}.00{z}")),
        (o(), o(), o()).prop_map(|(x, y, z)| format!("::ffff:{}", v4(x, y, z))),
        (o(), o(), o()).prop_map(|(x, y, z)| format!("::{}", v4(x, y, z))),
        (o(), o()).prop_map(|(x, y)| format!("2002:0a0{x}:0{y}01::")),
        o().prop_map(|x| format!("2001:db8::{x}")),
        Just("nope".to_string()),
    ]
    .prop_map(String::into_bytes)
    .boxed()
}

fn gens(kind: MatchKind) -> (BoxedStrategy<Vec<u8>>, BoxedStrategy<Vec<u8>>) {
    match kind {
        MatchKind::Reg | MatchKind::Regm => (reg_key(), str_input()),
        MatchKind::Int | MatchKind::Len => (int_key(), int_input_s()),
        MatchKind::Ip => (ip_key(), ip_input_s()),
        _ => (str_key(), str_input()),
    }
}

fn ops(kind: MatchKind, max: usize) -> impl Strategy<Value = Vec<Op>> {
    let (k, i) = gens(kind);
    let v = || {
        prop::sample::select(vec![
            b"v1".to_vec(),
            b"v2".to_vec(),
            b"".to_vec(),
            b"x y".to_vec(),
        ])
    };
    let op = prop_oneof![
        12 => (k.clone(), v()).prop_map(|(k, v)| Op::Add(k, v)),
        3 => (0u32..3, k.clone(), v()).prop_map(|(o, k, v)| Op::AddAt(o, k, v)),
        3 => (k.clone(), v()).prop_map(|(k, v)| Op::Set(k, v)),
        3 => k.clone().prop_map(Op::Del),
        2 => (any::<usize>(), v()).prop_map(|(i, v)| Op::SetId(i, v)),
        2 => any::<usize>().prop_map(Op::DelId),
        2 => (k, v()).prop_map(|(k, v)| Op::Upsert(k, v)),
        1 => Just(Op::Clear),
        1 => (0u32..3).prop_map(Op::ClearAt),
        2 => Just(Op::Prepare),
        2 => (0u32..3).prop_map(Op::Commit),
        8 => prop::collection::vec(i, 1..6).prop_map(Op::Lookup),
    ];
    prop::collection::vec(op, 1..max)
}

// ------------------------------------------------------------------ runner

fn check_lookups(
    spec: MatchSpec,
    m: &Matcher,
    model: &Model,
    inputs: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    let live = model.live();
    let mut all_inputs: Vec<Vec<u8>> = inputs.to_vec();
    // Also probe with every live key, alone and embedded.
    for e in live.iter().take(8) {
        all_inputs.push(e.key.clone());
        let mut x = b"a.".to_vec();
        x.extend_from_slice(&e.key);
        x.extend_from_slice(b"/b");
        all_inputs.push(x);
    }
    for input in &all_inputs {
        let want = model_lookup(spec, live, input);
        let got = m.lookup(input).map(|e| e.id().seq());
        prop_assert_eq!(
            got,
            want,
            "spec {:?} input {:?} live {:?}",
            spec,
            String::from_utf8_lossy(input),
            live
        );
        if let Some(hit) = m.lookup(input) {
            let me = live.iter().find(|e| e.seq == hit.id().seq()).unwrap();
            prop_assert_eq!(hit.key(), &me.key[..]);
            prop_assert_eq!(hit.value(), &me.value[..]);
        }
        if spec.kind == MatchKind::Regm {
            // regm: the same entry, with the groups of its own regex.
            let got = m.lookup_regm(input);
            prop_assert_eq!(got.as_ref().map(|h| h.entry.id().seq()), want);
            if let Some(h) = got {
                let re =
                    regex::bytes::Regex::new(std::str::from_utf8(h.entry.key()).unwrap()).unwrap();
                let m0 = re.find(input).unwrap();
                prop_assert_eq!(h.group(0), Some(m0.range()));
            }
        }
    }
    Ok(())
}

fn run(spec: MatchSpec, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let map = MapRef::new("prop", RefKind::Map);
    let m = map.matcher(spec).unwrap();
    // A second index on the same reference must not disturb the first.
    let _other = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Add(k, v) => {
                let id = map.add(&k, &v).unwrap();
                prop_assert_eq!(id.seq(), model.next_seq);
                let s = model.next_seq;
                model.next_seq += 1;
                let curr = model.curr;
                model.versions.entry(curr).or_default().push(MEntry {
                    seq: s,
                    key: k,
                    value: v,
                });
            }
            Op::AddAt(off, k, v) => {
                let ver = model.curr.wrapping_add(off);
                let r = map.add_at(ver, &k, &v);
                if model.open(ver) {
                    prop_assert_eq!(r.unwrap().seq(), model.next_seq);
                    let s = model.next_seq;
                    model.next_seq += 1;
                    model.versions.entry(ver).or_default().push(MEntry {
                        seq: s,
                        key: k,
                        value: v,
                    });
                } else {
                    prop_assert_eq!(r, Err(MapError::VersionOutOfRange));
                }
            }
            Op::Set(k, v) => {
                let mut n = 0;
                for e in model.all().filter(|e| e.key == k) {
                    e.value = v.clone();
                    n += 1;
                }
                let r = map.set(&k, &v);
                if n == 0 {
                    prop_assert_eq!(r, Err(MapError::EntryNotFound));
                } else {
                    prop_assert_eq!(r, Ok(n));
                }
            }
            Op::Upsert(k, v) => {
                let mut n = 0;
                for e in model.all().filter(|e| e.key == k) {
                    e.value = v.clone();
                    n += 1;
                }
                if n == 0 {
                    let s = model.next_seq;
                    model.next_seq += 1;
                    let curr = model.curr;
                    model.versions.entry(curr).or_default().push(MEntry {
                        seq: s,
                        key: k.clone(),
                        value: v.clone(),
                    });
                }
                map.upsert(&k, &v).unwrap();
            }
            Op::Del(k) => {
                let before: usize = model.versions.values().map(Vec::len).sum();
                for es in model.versions.values_mut() {
                    es.retain(|e| e.key != k);
                }
                let n = before - model.versions.values().map(Vec::len).sum::<usize>();
                let r = map.del(&k);
                if n == 0 {
                    prop_assert_eq!(r, Err(MapError::KeyNotFound));
                } else {
                    prop_assert_eq!(r, Ok(n));
                }
            }
            Op::SetId(..) | Op::DelId(_) if model.live().is_empty() => {
                let bogus = EntryId::parse("0x0000000000000000ffffffffffffffff").unwrap();
                prop_assert_eq!(map.del_id(bogus), Err(MapError::KeyNotFound));
            }
            Op::SetId(i, v) => {
                let ids: Vec<_> = map.entries().iter().map(|e| e.id()).collect();
                let id = ids[i % ids.len()];
                let curr = model.curr;
                for e in model.versions.get_mut(&curr).unwrap().iter_mut() {
                    if e.seq == id.seq() {
                        e.value = v.clone();
                    }
                }
                map.set_id(id, &v).unwrap();
            }
            Op::DelId(i) => {
                let ids: Vec<_> = map.entries().iter().map(|e| e.id()).collect();
                let id = ids[i % ids.len()];
                let curr = model.curr;
                model
                    .versions
                    .get_mut(&curr)
                    .unwrap()
                    .retain(|e| e.seq != id.seq());
                map.del_id(id).unwrap();
                // A deleted id is stale: not found any more.
                prop_assert_eq!(map.del_id(id), Err(MapError::KeyNotFound));
            }
            Op::Clear => {
                let curr = model.curr;
                model.versions.remove(&curr);
                map.clear();
            }
            Op::ClearAt(off) => {
                let ver = model.curr.wrapping_add(off);
                let r = map.clear_at(ver);
                if model.open(ver) {
                    model.versions.remove(&ver);
                    prop_assert_eq!(r, Ok(()));
                } else {
                    prop_assert_eq!(r, Err(MapError::VersionOutOfRange));
                }
            }
            Op::Prepare => {
                model.next += 1;
                prop_assert_eq!(map.prepare(), model.next);
            }
            Op::Commit(off) => {
                let ver = model.curr.wrapping_add(off);
                let r = map.commit(ver);
                if ver > model.curr && ver <= model.next {
                    model.curr = ver;
                    model.versions.retain(|v, _| *v >= ver);
                    prop_assert_eq!(r, Ok(()));
                } else {
                    prop_assert_eq!(r, Err(MapError::VersionOutOfRange));
                }
            }
            Op::Lookup(inputs) => check_lookups(spec, &m, &model, &inputs)?,
        }
        // show: file order, same content.
        let shown: Vec<u64> = map.entries().iter().map(|e| e.id().seq()).collect();
        let want: Vec<u64> = model.live().iter().map(|e| e.seq).collect();
        prop_assert_eq!(shown, want);
        let info = map.versions();
        prop_assert_eq!((info.curr, info.next), (model.curr, model.next));
        prop_assert_eq!(
            info.entry_cnt,
            model.versions.values().map(Vec::len).sum::<usize>()
        );
    }
    check_lookups(spec, &m, &model, &[])
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

macro_rules! prop_kind {
    ($name:ident, $spec:expr, $max:expr) => {
        proptest! {
            #![proptest_config(cfg())]
            #[test]
            fn $name(ops in ops($spec.kind, $max)) {
                run($spec, ops)?;
            }
        }
    };
}

prop_kind!(str_exact, MatchSpec::new(MatchKind::Str), 80);
prop_kind!(str_icase, MatchSpec::icase(MatchKind::Str), 80);
prop_kind!(beg_longest, MatchSpec::new(MatchKind::Beg), 80);
prop_kind!(beg_icase_first, MatchSpec::icase(MatchKind::Beg), 80);
prop_kind!(end_first, MatchSpec::new(MatchKind::End), 80);
prop_kind!(end_icase, MatchSpec::icase(MatchKind::End), 80);
prop_kind!(sub_first, MatchSpec::new(MatchKind::Sub), 250);
prop_kind!(sub_icase, MatchSpec::icase(MatchKind::Sub), 250);
prop_kind!(dom_first, MatchSpec::new(MatchKind::Dom), 80);
prop_kind!(dom_icase, MatchSpec::icase(MatchKind::Dom), 80);
prop_kind!(dir_first, MatchSpec::new(MatchKind::Dir), 80);
prop_kind!(dir_icase, MatchSpec::icase(MatchKind::Dir), 80);
prop_kind!(reg_first, MatchSpec::new(MatchKind::Reg), 250);
prop_kind!(reg_icase, MatchSpec::icase(MatchKind::Reg), 120);
prop_kind!(regm_first, MatchSpec::new(MatchKind::Regm), 250);
prop_kind!(int_ranges, MatchSpec::new(MatchKind::Int), 250);
prop_kind!(len_ranges, MatchSpec::new(MatchKind::Len), 80);
prop_kind!(ip_longest, MatchSpec::new(MatchKind::Ip), 120);

#[test]
fn found_matches_any_sample() {
    let map = MapRef::new("f", RefKind::Acl);
    let m = map.matcher(MatchSpec::new(MatchKind::Found)).unwrap();
    assert!(m.matches(b"x"));
    map.add(b"k", b"").unwrap();
    assert!(m.matches(b""));
    assert!(m.lookup(b"k").is_none());
}
