//! Property tests: the pool against a simple Vec-based reference model, under
//! random sequences of operations with a virtual clock.
//!
//! The model keeps pooled connections in plain vectors and finds candidates
//! by linear scans with the rules written out directly (LIFO = largest
//! sequence number, LRU = smallest). Every operation's result and every
//! counter must match. The model covers all four `http-reuse` modes, with
//! the eligibility rules written out per mode ([`Model::may_take`]). Also
//! checked on the real pool, independently of the model: `pooled <=
//! max_conn`, refused connections are the ones given, no connection is handed
//! back for closing twice, and under `Never` and `Safe` a first request never
//! gets anything from the pool.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use gwd_pool::{HttpReuse, Pool, PoolSettings, RefusedReason, ReleaseAs, SharedId};
use proptest::prelude::*;

type Key = u8;
type Conn = u32;

#[derive(Clone, Debug)]
enum Op {
    Acquire { key: Key, first: bool },
    Connect { key: Key },
    Release { pick: usize, how: ReleaseAs },
    Discard { pick: usize },
    Advance { ms: u64 },
    Purge,
    AddShared { key: Key, max: u32 },
    AcquireStream { key: Key, first: bool },
    ReleaseStream { pick: usize },
    RemoveShared { pick: usize },
    SetMax { pick: usize, max: u32 },
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..3;
    let how = prop_oneof![
        Just(ReleaseAs::Idle),
        Just(ReleaseAs::Safe),
        Just(ReleaseAs::NotReusable)
    ];
    prop_oneof![
        6 => (key.clone(), any::<bool>()).prop_map(|(key, first)| Op::Acquire { key, first }),
        5 => key.clone().prop_map(|key| Op::Connect { key }),
        8 => (any::<usize>(), how).prop_map(|(pick, how)| Op::Release { pick, how }),
        1 => any::<usize>().prop_map(|pick| Op::Discard { pick }),
        4 => (0u64..7000).prop_map(|ms| Op::Advance { ms }),
        3 => Just(Op::Purge),
        2 => (key.clone(), 0u32..4).prop_map(|(key, max)| Op::AddShared { key, max }),
        3 => (key, any::<bool>()).prop_map(|(key, first)| Op::AcquireStream { key, first }),
        3 => any::<usize>().prop_map(|pick| Op::ReleaseStream { pick }),
        1 => any::<usize>().prop_map(|pick| Op::RemoveShared { pick }),
        1 => (any::<usize>(), 0u32..4).prop_map(|(pick, max)| Op::SetMax { pick, max }),
        1 => Just(Op::Close),
    ]
}

fn settings() -> impl Strategy<Value = PoolSettings> {
    (
        prop_oneof![Just(None), (0usize..6).prop_map(Some)],
        0usize..3,
        prop_oneof![
            1 => Just(Duration::ZERO),
            4 => Just(Duration::from_secs(1)),
            4 => Just(Duration::from_secs(5)),
        ],
        prop_oneof![
            1 => Just(HttpReuse::Never),
            3 => Just(HttpReuse::Safe),
            3 => Just(HttpReuse::Aggressive),
            3 => Just(HttpReuse::Always),
        ],
        prop_oneof![
            Just(None),
            Just(Some(Duration::from_secs(3))),
            Just(Some(Duration::from_secs(10)))
        ],
    )
        .prop_map(
            |(max_conn, low_conn, purge_delay, reuse, idle_timeout)| PoolSettings {
                max_conn,
                low_conn,
                purge_delay,
                reuse,
                idle_timeout,
            },
        )
}

#[derive(Debug)]
struct Ex {
    id: Conn,
    key: Key,
    safe: bool,
    /// Order of entering the pool (LIFO and LRU both use it).
    seq: u64,
    last_used: Instant,
}

#[derive(Debug)]
struct Sh {
    id: Conn,
    sid: SharedId,
    key: Key,
    max: u32,
    active: u32,
    proven: bool,
    seq: u64,
    /// In the pool (no active streams): position in the LRU order.
    lru_seq: Option<u64>,
    last_used: Instant,
}

impl Sh {
    fn free(&self) -> u32 {
        self.max.saturating_sub(self.active)
    }
}

struct Model {
    s: PoolSettings,
    ex: Vec<Ex>,
    sh: Vec<Sh>,
    used: usize,
    max_used: usize,
    est_need: usize,
    next_purge: Option<Instant>,
    seq: u64,
    closed: bool,
    /// Keys the pool keeps an entry for.
    keys: HashSet<Key>,
}

impl Model {
    fn new(s: PoolSettings) -> Self {
        Self {
            s,
            ex: Vec::new(),
            sh: Vec::new(),
            used: 0,
            max_used: 0,
            est_need: 0,
            next_purge: None,
            seq: 0,
            closed: false,
            keys: HashSet::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn disabled(&self) -> bool {
        self.s.reuse == HttpReuse::Never
            || self.s.max_conn == Some(0)
            || self.s.purge_delay.is_zero()
    }

    fn pooled(&self) -> usize {
        self.ex.len() + self.sh.iter().filter(|s| s.lru_seq.is_some()).count()
    }

    fn full(&self) -> bool {
        self.s.max_conn.is_some_and(|m| self.pooled() >= m)
    }

    fn use_one(&mut self) {
        self.used += 1;
        self.max_used = self.max_used.max(self.used);
    }

    fn arm(&mut self, now: Instant) {
        if self.next_purge.is_none() {
            self.next_purge = Some(now + self.s.purge_delay);
        }
    }

    /// Whether a request (the first of its client connection or not) may
    /// take a pooled connection that is proven (safe exclusive, or shared
    /// with a completed stream) or not (idle exclusive, fresh shared).
    fn may_take(&self, first: bool, proven: bool) -> bool {
        if self.closed {
            return false;
        }
        match self.s.reuse {
            HttpReuse::Never => false,
            // The first request always gets a connection of its own.
            HttpReuse::Safe => !first,
            // The first request may take a proven one only.
            HttpReuse::Aggressive => !first || proven,
            HttpReuse::Always => true,
        }
    }

    fn acquire(&mut self, key: Key, first: bool) -> Option<Conn> {
        let (i, _) = self
            .ex
            .iter()
            .enumerate()
            .filter(|(_, e)| e.key == key && self.may_take(first, e.safe))
            .max_by_key(|(_, e)| e.seq)?;
        let e = self.ex.remove(i);
        self.use_one();
        Some(e.id)
    }

    fn release(
        &mut self,
        key: Key,
        id: Conn,
        how: ReleaseAs,
        now: Instant,
    ) -> Result<(), RefusedReason> {
        self.used = self.used.saturating_sub(1);
        if how == ReleaseAs::NotReusable {
            return Err(RefusedReason::NotReusable);
        }
        if self.closed {
            return Err(RefusedReason::Closed);
        }
        if self.disabled() {
            return Err(RefusedReason::PoolingDisabled);
        }
        if self.full() {
            return Err(RefusedReason::Full);
        }
        let seq = self.tick();
        self.ex.push(Ex {
            id,
            key,
            safe: how == ReleaseAs::Safe,
            seq,
            last_used: now,
        });
        self.keys.insert(key);
        self.arm(now);
        Ok(())
    }

    /// Pooled connections, least recently used first: (is_shared, index).
    fn lru_order(&self) -> Vec<(bool, usize, u64)> {
        let mut v: Vec<_> = self
            .ex
            .iter()
            .enumerate()
            .map(|(i, e)| (false, i, e.seq))
            .chain(
                self.sh
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.lru_seq.map(|q| (true, i, q))),
            )
            .collect();
        v.sort_by_key(|x| x.2);
        v
    }

    fn take_pooled(&mut self, victims: Vec<(bool, usize, u64)>) -> Vec<Conn> {
        let out: Vec<Conn> = victims
            .iter()
            .map(|&(shared, i, _)| if shared { self.sh[i].id } else { self.ex[i].id })
            .collect();
        let gone: HashSet<Conn> = out.iter().copied().collect();
        self.ex.retain(|e| !gone.contains(&e.id));
        self.sh.retain(|s| !gone.contains(&s.id));
        out
    }

    fn purge(&mut self, now: Instant) -> Vec<Conn> {
        match self.next_purge {
            Some(t) if now >= t => {}
            _ => return Vec::new(),
        }
        let needed = self.max_used.max(self.est_need);
        let target = needed.saturating_sub(self.used).max(self.s.low_conn);
        let mut excess = self.pooled().saturating_sub(target);
        let mut victims = Vec::new();
        for (shared, i, q) in self.lru_order() {
            let last = if shared {
                self.sh[i].last_used
            } else {
                self.ex[i].last_used
            };
            let expired = self
                .s
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(last) >= t);
            if excess == 0 && !expired {
                break;
            }
            excess = excess.saturating_sub(1);
            victims.push((shared, i, q));
        }
        let out = self.take_pooled(victims);
        self.free_empty_keys();
        self.est_need = self.max_used.max((self.est_need + self.max_used) / 2);
        self.max_used = self.used;
        self.next_purge = (self.pooled() > 0).then(|| now + self.s.purge_delay);
        out
    }

    fn free_empty_keys(&mut self) {
        let live: HashSet<Key> = self
            .ex
            .iter()
            .map(|e| e.key)
            .chain(self.sh.iter().map(|s| s.key))
            .collect();
        self.keys.retain(|k| live.contains(k));
    }

    fn close(&mut self) -> Vec<Conn> {
        self.closed = true;
        self.next_purge = None;
        let all = self.lru_order();
        self.take_pooled(all)
    }

    fn add_shared(&mut self, max: u32) -> Result<(), RefusedReason> {
        if self.closed {
            Err(RefusedReason::Closed)
        } else if self.disabled() {
            Err(RefusedReason::PoolingDisabled)
        } else if max == 0 {
            Err(RefusedReason::NoStreams)
        } else {
            Ok(())
        }
    }

    fn push_shared(&mut self, id: Conn, sid: SharedId, key: Key, max: u32, now: Instant) {
        let seq = self.tick();
        self.sh.push(Sh {
            id,
            sid,
            key,
            max,
            active: 1,
            proven: false,
            seq,
            lru_seq: None,
            last_used: now,
        });
        self.keys.insert(key);
        self.use_one();
    }

    fn acquire_stream(&mut self, key: Key, first: bool) -> Option<(SharedId, Conn)> {
        let i = self
            .sh
            .iter()
            .enumerate()
            .filter(|(_, s)| s.key == key && s.free() > 0 && self.may_take(first, s.proven))
            .max_by_key(|(_, s)| (s.free(), s.seq))?
            .0;
        if self.sh[i].active == 0 {
            self.sh[i].lru_seq = None;
            self.use_one();
        }
        let seq = self.tick();
        let s = &mut self.sh[i];
        s.active += 1;
        s.seq = seq;
        Some((s.sid, s.id))
    }

    fn find(&self, sid: SharedId) -> Option<usize> {
        self.sh.iter().position(|s| s.sid == sid)
    }

    fn release_stream(&mut self, sid: SharedId, now: Instant) -> Option<Conn> {
        let i = self.find(sid)?;
        if self.sh[i].active == 0 {
            return None;
        }
        let seq = self.tick();
        let s = &mut self.sh[i];
        s.seq = seq;
        s.active -= 1;
        s.proven = true;
        if s.active == 0 {
            let no_streams = s.max == 0;
            self.used = self.used.saturating_sub(1);
            if self.closed || no_streams || self.full() {
                return Some(self.sh.remove(i).id);
            }
            self.sh[i].lru_seq = Some(seq);
            self.sh[i].last_used = now;
            self.arm(now);
        }
        None
    }

    fn remove_shared(&mut self, sid: SharedId) -> Option<Conn> {
        let i = self.find(sid)?;
        let s = self.sh.remove(i);
        if s.active > 0 {
            self.used = self.used.saturating_sub(1);
        }
        Some(s.id)
    }

    fn set_max(&mut self, sid: SharedId, max: u32) -> bool {
        match self.find(sid) {
            Some(i) => {
                self.sh[i].max = max;
                true
            }
            None => false,
        }
    }
}

fn check_counts(p: &Pool<Key, Conn>, m: &Model) {
    let idle = m.ex.iter().filter(|e| !e.safe).count();
    let safe = m.ex.iter().filter(|e| e.safe).count();
    let shared_idle = m.sh.iter().filter(|s| s.lru_seq.is_some()).count();
    assert_eq!(p.idle_len(), idle, "idle");
    assert_eq!(p.safe_len(), safe, "safe");
    assert_eq!(p.shared_len(), m.sh.len(), "shared");
    assert_eq!(p.shared_idle_len(), shared_idle, "shared idle");
    assert_eq!(p.pooled_len(), m.pooled(), "pooled");
    assert_eq!(p.used_len(), m.used, "used");
    assert_eq!(p.stats().max_used, m.max_used, "max_used");
    assert_eq!(p.stats().est_need, m.est_need, "est_need");
    assert_eq!(p.next_purge_at(), m.next_purge, "next purge");
    assert_eq!(p.is_closed(), m.closed);
    if let Some(cap) = m.s.max_conn {
        assert!(p.pooled_len() <= cap, "cap exceeded");
    }
    assert_eq!(p.key_count(), m.keys.len(), "keys");
    for s in &m.sh {
        assert_eq!(p.shared(s.sid), Some(&s.id));
        assert_eq!(p.active_streams(s.sid), Some(s.active));
    }
}

/// Checked on the real pool alone: under `Never`, and under `Safe` for the
/// first request of a client connection, nothing comes from the pool.
fn check_first_request_rule<T: std::fmt::Debug>(reuse: HttpReuse, first: bool, got: &Option<T>) {
    let forbidden = match reuse {
        HttpReuse::Never => true,
        HttpReuse::Safe => first,
        HttpReuse::Aggressive | HttpReuse::Always => false,
    };
    assert!(
        !(forbidden && got.is_some()),
        "{reuse:?} handed {got:?} to a request (first: {first})"
    );
}

fn run(settings: PoolSettings, ops: Vec<Op>) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut p: Pool<Key, Conn> = Pool::new(settings);
    let mut m = Model::new(settings);
    let mut next_id: Conn = 0;
    // Exclusive connections the test holds: (key, id).
    let mut held: Vec<(Key, Conn)> = Vec::new();
    // Streams the test holds (ids may have gone stale).
    let mut streams: Vec<SharedId> = Vec::new();
    // Every shared id ever issued, to exercise stale ids.
    let mut sids: Vec<SharedId> = Vec::new();
    // Connections handed back for closing: each at most once.
    let mut finished: HashSet<Conn> = HashSet::new();
    let mut finish = |ids: &[Conn]| {
        for id in ids {
            assert!(finished.insert(*id), "connection {id} handed back twice");
        }
    };

    for op in ops {
        match op {
            Op::Acquire { key, first } => {
                let got = p.acquire(&key, first);
                check_first_request_rule(settings.reuse, first, &got);
                assert_eq!(got, m.acquire(key, first), "acquire({key}, {first})");
                if let Some(id) = got {
                    held.push((key, id));
                }
            }
            Op::Connect { key } => {
                p.connected();
                m.use_one();
                next_id += 1;
                held.push((key, next_id));
            }
            Op::Release { pick, how } => {
                if held.is_empty() {
                    continue;
                }
                let (key, id) = held.swap_remove(pick % held.len());
                let got = p.release(&key, id, how, now);
                let want = m.release(key, id, how, now);
                match (got, want) {
                    (Ok(()), Ok(())) => {}
                    (Err(e), Err(r)) => {
                        assert_eq!(e.reason(), r);
                        let back = e.into_inner();
                        assert_eq!(back, id, "refused insert hands back the same connection");
                        finish(&[back]);
                    }
                    (got, want) => panic!("release: got {got:?}, want {want:?}"),
                }
            }
            Op::Discard { pick } => {
                if held.is_empty() {
                    continue;
                }
                let (_, id) = held.swap_remove(pick % held.len());
                p.discard();
                m.used = m.used.saturating_sub(1);
                finish(&[id]);
            }
            Op::Advance { ms } => now += Duration::from_millis(ms),
            Op::Purge => {
                let got = p.purge(now);
                assert_eq!(got, m.purge(now), "purge");
                finish(&got);
            }
            Op::AddShared { key, max } => {
                next_id += 1;
                let got = p.add_shared(&key, next_id, max, now);
                match (got, m.add_shared(max)) {
                    (Ok(sid), Ok(())) => {
                        m.push_shared(next_id, sid, key, max, now);
                        streams.push(sid);
                        sids.push(sid);
                    }
                    (Err(e), Err(r)) => {
                        assert_eq!(e.reason(), r);
                        assert_eq!(e.into_inner(), next_id);
                        finish(&[next_id]);
                    }
                    (got, want) => panic!("add_shared: got {got:?}, want {want:?}"),
                }
            }
            Op::AcquireStream { key, first } => {
                let got = p.acquire_stream(&key, first);
                check_first_request_rule(settings.reuse, first, &got);
                assert_eq!(got, m.acquire_stream(key, first), "acquire_stream");
                if let Some((sid, _)) = got {
                    streams.push(sid);
                }
            }
            Op::ReleaseStream { pick } => {
                if streams.is_empty() {
                    continue;
                }
                let sid = streams.swap_remove(pick % streams.len());
                let got = p.release_stream(sid, now);
                assert_eq!(got, m.release_stream(sid, now), "release_stream");
                if let Some(id) = got {
                    finish(&[id]);
                }
            }
            Op::RemoveShared { pick } => {
                if sids.is_empty() {
                    continue;
                }
                let sid = sids[pick % sids.len()];
                let got = p.remove_shared(sid);
                assert_eq!(got, m.remove_shared(sid), "remove_shared");
                if let Some(id) = got {
                    finish(&[id]);
                }
            }
            Op::SetMax { pick, max } => {
                if sids.is_empty() {
                    continue;
                }
                let sid = sids[pick % sids.len()];
                assert_eq!(p.set_max_streams(sid, max), m.set_max(sid, max));
            }
            Op::Close => {
                let got = p.close();
                assert_eq!(got, m.close(), "close");
                finish(&got);
            }
        }
        if m.closed {
            // A closed pool frees emptied entries at once.
            m.free_empty_keys();
        }
        check_counts(&p, &m);
    }

    // Drain: everything in use comes back, then the pool closes; every
    // connection ever opened ends up handed back exactly once or still held
    // by nobody.
    for (key, id) in held.drain(..) {
        if let Err(e) = p.release(&key, id, ReleaseAs::Safe, now) {
            finish(&[e.into_inner()]);
        }
    }
    for sid in streams.drain(..) {
        if let Some(id) = p.release_stream(sid, now) {
            finish(&[id]);
        }
    }
    let rest = p.close();
    finish(&rest);
    assert_eq!(p.used_len(), 0);
    assert_eq!(p.pooled_len(), 0);
    assert_eq!(p.shared_len(), 0);
    assert_eq!(p.key_count(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_model(settings in settings(), ops in prop::collection::vec(op(), 1..200)) {
        run(settings, ops);
    }
}

/// A fixed, long run per reuse mode so the test does not depend on
/// proptest's shrinking to cover deep states.
#[test]
fn long_fixed_run() {
    for reuse in [
        HttpReuse::Never,
        HttpReuse::Safe,
        HttpReuse::Aggressive,
        HttpReuse::Always,
    ] {
        long_fixed_run_with(reuse);
    }
}

fn long_fixed_run_with(reuse: HttpReuse) {
    let settings = PoolSettings {
        max_conn: Some(4),
        low_conn: 1,
        purge_delay: Duration::from_secs(1),
        reuse,
        idle_timeout: Some(Duration::from_secs(3)),
    };
    let mut ops = Vec::new();
    for i in 0..2000usize {
        let key = (i % 3) as u8;
        ops.push(match i % 11 {
            0 | 1 => Op::Connect { key },
            2 => Op::Acquire {
                key,
                first: i % 2 == 0,
            },
            3 | 4 => Op::Release {
                pick: i,
                how: if i % 5 == 0 {
                    ReleaseAs::NotReusable
                } else if i % 7 == 0 {
                    ReleaseAs::Safe
                } else {
                    ReleaseAs::Idle
                },
            },
            5 => Op::Advance {
                ms: (i as u64 * 37) % 1500,
            },
            6 => Op::Purge,
            7 => Op::AddShared { key, max: 2 },
            8 => Op::AcquireStream {
                key,
                first: i % 3 == 0,
            },
            9 => Op::ReleaseStream { pick: i },
            _ => Op::Acquire { key, first: false },
        });
    }
    run(settings, ops);
}
