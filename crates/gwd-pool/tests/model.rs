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

use gwd_pool::{HttpReuse, Pool, PoolSettings, RefusedReason, ReleaseAs};
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

struct Model {
    s: PoolSettings,
    ex: Vec<Ex>,
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
        self.ex.len()
    }

    fn full(&self) -> bool {
        self.s.max_conn.is_some_and(|m| self.pooled() >= m)
    }

    fn use_one(&mut self) {
        self.used += 1;
        self.max_used = self.max_used.max(self.used);
        self.est_need = self.est_need.max(self.used);
    }

    fn arm(&mut self, now: Instant) {
        if self.next_purge.is_none() {
            self.next_purge = Some(now + self.s.purge_delay);
        }
    }

    /// Whether a request (the first of its client connection or not) may
    /// take a pooled connection that is proven (safe) or not (idle).
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
        // Kept when nothing of its class is pooled (no proven one, and for
        // an unproven one no unproven one either); otherwise only while
        // everything open, this one included, fits the estimate.
        let safe = how == ReleaseAs::Safe;
        let pooled_safe = self.ex.iter().filter(|e| e.safe).count();
        let pooled_idle = self.ex.len() - pooled_safe;
        let first_of_class = pooled_safe == 0 && (safe || pooled_idle == 0);
        let open = self.used + 1 + self.ex.len();
        if !first_of_class && open > (self.used + 1).max(self.est_need) + self.s.low_conn {
            return Err(RefusedReason::Surplus);
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

    /// Pooled connections, least recently used first: indexes into `ex`.
    fn lru_order(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.ex.len()).collect();
        v.sort_by_key(|&i| self.ex[i].seq);
        v
    }

    fn take_pooled(&mut self, victims: Vec<usize>) -> Vec<Conn> {
        let out: Vec<Conn> = victims.iter().map(|&i| self.ex[i].id).collect();
        let gone: HashSet<Conn> = out.iter().copied().collect();
        self.ex.retain(|e| !gone.contains(&e.id));
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
        for i in self.lru_order() {
            let last = self.ex[i].last_used;
            let expired = self
                .s
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(last) >= t);
            if excess == 0 && !expired {
                break;
            }
            excess = excess.saturating_sub(1);
            victims.push(i);
        }
        let out = self.take_pooled(victims);
        self.free_empty_keys();
        self.est_need = self.max_used.max((self.est_need + self.max_used) / 2);
        self.max_used = self.used;
        self.next_purge = (self.pooled() > 0).then(|| now + self.s.purge_delay);
        out
    }

    fn free_empty_keys(&mut self) {
        let live: HashSet<Key> = self.ex.iter().map(|e| e.key).collect();
        self.keys.retain(|k| live.contains(k));
    }

    fn close(&mut self) -> Vec<Conn> {
        self.closed = true;
        self.next_purge = None;
        let all = self.lru_order();
        self.take_pooled(all)
    }
}

fn check_counts(p: &Pool<Key, Conn>, m: &Model) {
    let idle = m.ex.iter().filter(|e| !e.safe).count();
    let safe = m.ex.iter().filter(|e| e.safe).count();
    assert_eq!(p.idle_len(), idle, "idle");
    assert_eq!(p.safe_len(), safe, "safe");
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
    let rest = p.close();
    finish(&rest);
    assert_eq!(p.used_len(), 0);
    assert_eq!(p.pooled_len(), 0);
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
            7 | 8 => Op::Acquire {
                key,
                first: i % 3 == 0,
            },
            9 => Op::Discard { pick: i },
            _ => Op::Acquire { key, first: false },
        });
    }
    run(settings, ops);
}
