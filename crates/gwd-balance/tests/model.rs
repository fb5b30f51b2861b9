//! Model tests: random sequences of state changes, choices and releases
//! against a plain reference model of HAProxy's rules, and the consistency
//! properties of the hashing algorithms.

use gwd_balance::{
    Admin, Algorithm, Ask, Balancer, NoPick, Pick, ServerId, ServerSpec, ServerState, Usable,
    WeightError,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Up(usize, bool),
    Admin(usize, Admin),
    Weight(usize, u32),
    /// `hold`: keep the pick (a request in flight) or drop it at once.
    Choose {
        key: Option<u8>,
        random: u64,
        avoid: Option<usize>,
        hold: bool,
    },
    Take(usize),
    /// Releases the held pick at this position (modulo their number).
    Release(usize),
}

/// The reference model of one server.
#[derive(Debug, Clone)]
struct Model {
    admin: Admin,
    up: bool,
    weight: u32,
    initial: u32,
    backup: bool,
    maxconn: Option<u32>,
    held: u32,
}

impl Model {
    fn usable(&self) -> bool {
        self.admin == Admin::Ready && self.up && self.weight > 0
    }

    fn free(&self) -> bool {
        match self.maxconn {
            None | Some(0) => true,
            Some(m) => self.held < m,
        }
    }
}

/// The candidate set: usable primaries, else the first usable backup (all
/// of them with allbackups).
fn candidates(ms: &[Model], all_backups: bool) -> Vec<usize> {
    let primaries: Vec<usize> = (0..ms.len())
        .filter(|&i| !ms[i].backup && ms[i].usable())
        .collect();
    if !primaries.is_empty() {
        return primaries;
    }
    let mut backups: Vec<usize> = (0..ms.len())
        .filter(|&i| ms[i].backup && ms[i].usable())
        .collect();
    if !all_backups {
        backups.truncate(1);
    }
    backups
}

fn admin() -> impl Strategy<Value = Admin> {
    prop_oneof![
        2 => Just(Admin::Ready),
        1 => Just(Admin::Drain),
        1 => Just(Admin::Maint)
    ]
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::RoundRobin),
        Just(Algorithm::StaticRr),
        Just(Algorithm::LeastConn),
        Just(Algorithm::First),
        (0u32..4).prop_map(|draws| Algorithm::Random { draws }),
        any::<bool>().prop_map(|consistent| Algorithm::Hash { consistent }),
    ]
}

fn spec() -> impl Strategy<Value = ServerSpec> {
    (
        prop_oneof![4 => 1u32..=4, 1 => Just(0u32)],
        prop::bool::weighted(0.3),
        prop_oneof![Just(None), Just(Some(0)), (1u32..=3).prop_map(Some)],
        admin(),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(weight, backup, maxconn, admin, up)| ServerSpec {
            weight,
            backup,
            maxconn,
            admin,
            up,
        })
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..n, prop::bool::weighted(0.6)).prop_map(|(i, up)| Op::Up(i, up)),
        1 => (0..n, admin()).prop_map(|(i, a)| Op::Admin(i, a)),
        1 => (0..n, prop_oneof![4 => 0u32..=4, 1 => Just(256u32), 1 => 250u32..=300])
            .prop_map(|(i, w)| Op::Weight(i, w)),
        6 => (
            prop::option::of(any::<u8>()),
            any::<u64>(),
            prop::option::weighted(0.3, 0..n),
            prop::bool::weighted(0.7),
        )
            .prop_map(|(key, random, avoid, hold)| Op::Choose { key, random, avoid, hold }),
        1 => (0..n).prop_map(Op::Take),
        3 => any::<usize>().prop_map(Op::Release),
    ]
}

fn case() -> impl Strategy<Value = (Algorithm, bool, Vec<ServerSpec>, Vec<Op>)> {
    case_of(algorithm(), 1..8, 1..80)
}

fn case_of(
    algorithm: impl Strategy<Value = Algorithm>,
    servers: std::ops::Range<usize>,
    ops: std::ops::Range<usize>,
) -> impl Strategy<Value = (Algorithm, bool, Vec<ServerSpec>, Vec<Op>)> {
    (
        algorithm,
        any::<bool>(),
        prop::collection::vec(spec(), servers),
    )
        .prop_flat_map(move |(algorithm, all_backups, specs)| {
            let n = specs.len();
            (
                Just(algorithm),
                Just(all_backups),
                Just(specs),
                prop::collection::vec(op(n), ops.clone()),
            )
        })
}

/// Checks a choice's outcome against the model (before the choice).
fn check_choice(
    algorithm: Algorithm,
    ms: &[Model],
    cands: &[usize],
    keyed: bool,
    avoid: Option<usize>,
    got: &Result<Pick, NoPick>,
) -> Result<(), TestCaseError> {
    let avoid = avoid.filter(|a| cands.len() > 1 && cands.contains(a));
    // Candidates the algorithm may pick before falling back to `avoid`.
    let others: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&c| Some(c) != avoid && ms[c].free())
        .collect();
    match got {
        Err(NoPick::NoServer) => {
            prop_assert!(cands.is_empty(), "NoServer with candidates {cands:?}")
        }
        Err(NoPick::Full) => {
            prop_assert!(!cands.is_empty(), "Full without candidates");
            if algorithm == (Algorithm::Hash { consistent: false }) && keyed {
                // Map-based keeps a key on its full server.
                prop_assert!(cands.iter().any(|&c| !ms[c].free()));
            } else {
                prop_assert!(
                    cands.iter().all(|&c| !ms[c].free()),
                    "Full with a free candidate: {cands:?}"
                );
            }
        }
        Ok(pick) => {
            let p = pick.server().index();
            prop_assert!(cands.contains(&p), "picked {p} outside {cands:?}");
            prop_assert!(ms[p].free(), "picked {p} at its maxconn");
            if Some(p) == avoid {
                prop_assert!(
                    others.is_empty(),
                    "picked avoided {p}, free others {others:?}"
                );
            }
            match algorithm {
                Algorithm::First if !others.is_empty() => {
                    prop_assert_eq!(p, others[0], "first: not the lowest free id");
                }
                Algorithm::LeastConn if !others.is_empty() => {
                    // HAProxy's key: 0 when idle (whatever the weight),
                    // else (in flight + 1) / weight.
                    let load = |i: usize| {
                        let n = u64::from(ms[i].held);
                        (if n == 0 { 0 } else { n + 1 }, u64::from(ms[i].weight))
                    };
                    let (pl, pw) = load(p);
                    for &o in &others {
                        let (ol, ow) = load(o);
                        prop_assert!(pl * ow <= ol * pw, "leastconn: {p} busier than {o}");
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn run_case(
    algorithm: Algorithm,
    all_backups: bool,
    specs: Vec<ServerSpec>,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut ms: Vec<Model> = specs
        .iter()
        .map(|s| Model {
            admin: s.admin,
            up: s.up,
            weight: s.weight,
            initial: s.weight,
            backup: s.backup,
            maxconn: s.maxconn,
            held: 0,
        })
        .collect();
    let lb = Balancer::new(algorithm, all_backups, specs);
    let mut held: Vec<Pick> = Vec::new();
    for op in ops {
        match op {
            Op::Up(i, up) => {
                let changed = lb.set_up(ServerId::new(i as u32), up);
                prop_assert_eq!(changed, ms[i].up != up);
                ms[i].up = up;
            }
            Op::Admin(i, a) => {
                let prev = lb.set_admin(ServerId::new(i as u32), a);
                prop_assert_eq!(prev, ms[i].admin);
                ms[i].admin = a;
            }
            Op::Weight(i, w) => {
                let got = lb.set_weight(ServerId::new(i as u32), w);
                let want = if w > 256 {
                    Err(WeightError::TooLarge)
                } else if !algorithm.is_dynamic() && w != 0 && w != ms[i].initial {
                    Err(WeightError::Static)
                } else {
                    Ok(ms[i].weight)
                };
                prop_assert_eq!(got, want);
                if got.is_ok() {
                    ms[i].weight = w;
                }
            }
            Op::Choose {
                key,
                random,
                avoid,
                hold,
            } => {
                let cands = candidates(&ms, all_backups);
                let key_bytes = key.map(|k| [k]);
                let ask = Ask {
                    key: key_bytes.as_ref().map(|k| k.as_slice()),
                    random,
                    avoid: avoid.map(|a| ServerId::new(a as u32)),
                };
                let got = lb.choose(&ask);
                check_choice(algorithm, &ms, &cands, key.is_some(), avoid, &got)?;
                if let Ok(pick) = got
                    && hold
                {
                    ms[pick.server().index()].held += 1;
                    held.push(pick);
                }
            }
            Op::Take(i) => {
                let got = lb.take(ServerId::new(i as u32));
                let m = &ms[i];
                if !m.up || m.admin == Admin::Maint {
                    prop_assert_eq!(got.unwrap_err(), NoPick::NoServer);
                } else if !m.free() {
                    prop_assert_eq!(got.unwrap_err(), NoPick::Full);
                } else {
                    let pick = got.map_err(|e| TestCaseError::fail(format!("take {i}: {e}")))?;
                    prop_assert_eq!(pick.server().index(), i);
                    ms[i].held += 1;
                    held.push(pick);
                }
            }
            Op::Release(k) => {
                if !held.is_empty() {
                    let pick = held.swap_remove(k % held.len());
                    ms[pick.server().index()].held -= 1;
                }
            }
        }
        // After every step: counts, states and the usable summary agree.
        for (i, m) in ms.iter().enumerate() {
            let id = ServerId::new(i as u32);
            prop_assert_eq!(lb.in_flight(id), m.held, "in flight on {}", i);
            if let Some(max) = m.maxconn.filter(|&c| c > 0) {
                prop_assert!(m.held <= max);
            }
            prop_assert_eq!(
                lb.server(id),
                ServerState {
                    admin: m.admin,
                    up: m.up,
                    weight: m.weight,
                    initial_weight: m.initial,
                    backup: m.backup,
                    maxconn: m.maxconn,
                    in_flight: m.held,
                }
            );
        }
        let usable = Usable {
            active: ms.iter().filter(|m| !m.backup && m.usable()).count() as u32,
            backup: ms.iter().filter(|m| m.backup && m.usable()).count() as u32,
        };
        prop_assert_eq!(lb.usable(), usable);
    }
    drop(held);
    for i in 0..ms.len() {
        prop_assert_eq!(lb.in_flight(ServerId::new(i as u32)), 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn choices_follow_the_rules((algorithm, all_backups, specs, ops) in case()) {
        run_case(algorithm, all_backups, specs, ops)?;
    }

    /// Least connections over more servers than it looks at before a full
    /// scan, with longer histories: the lowest load it remembers between
    /// choices must follow every take, release and change.
    #[test]
    fn leastconn_follows_the_rules_over_many_servers(
        (algorithm, all_backups, specs, ops) in case_of(Just(Algorithm::LeastConn), 1..40, 1..300)
    ) {
        run_case(algorithm, all_backups, specs, ops)?;
    }
}

/// Every key's server, choosing and releasing.
fn mapping(lb: &Balancer, keys: &[Vec<u8>]) -> Vec<ServerId> {
    keys.iter()
        .map(|k| {
            let ask = Ask {
                key: Some(k),
                ..Ask::default()
            };
            lb.choose(&ask).expect("a server").server()
        })
        .collect()
}

fn keys(n: usize, salt: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("192.0.2.{}:{}-{salt}", i % 256, 1024 + i).into_bytes())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn consistent_hashing_moves_only_the_removed_servers_keys(
        weights in prop::collection::vec(1u32..=3, 5..50),
        victim in any::<prop::sample::Index>(),
        maint in any::<bool>(),
        salt in any::<u64>(),
    ) {
        let n = weights.len();
        let specs = weights
            .iter()
            .map(|&weight| ServerSpec { weight, ..ServerSpec::default() })
            .collect();
        let lb = Balancer::new(Algorithm::Hash { consistent: true }, false, specs);
        let keys = keys(2000, salt);
        let before = mapping(&lb, &keys);
        let victim = ServerId::new(victim.index(n) as u32);
        if maint {
            lb.set_admin(victim, Admin::Maint);
        } else {
            lb.set_up(victim, false);
        }
        let during = mapping(&lb, &keys);
        for (b, d) in before.iter().zip(&during) {
            prop_assert_ne!(*d, victim);
            if *b != victim {
                prop_assert_eq!(b, d, "a key moved off a server that stayed");
            }
        }
        if maint {
            lb.set_admin(victim, Admin::Ready);
        } else {
            lb.set_up(victim, true);
        }
        prop_assert_eq!(mapping(&lb, &keys), before);
    }

    #[test]
    fn map_based_keeps_each_key_on_one_server(
        weights in prop::collection::vec(0u32..=4, 1..20),
        salt in any::<u64>(),
    ) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let specs = weights
            .iter()
            .map(|&weight| ServerSpec { weight, ..ServerSpec::default() })
            .collect();
        let lb = Balancer::new(Algorithm::Hash { consistent: false }, false, specs);
        let keys = keys(500, salt);
        let first = mapping(&lb, &keys);
        for s in &first {
            prop_assert!(weights[s.index()] > 0);
        }
        // Other traffic in between (keyless round robin) changes nothing.
        for _ in 0..7 {
            drop(lb.choose(&Ask::default()));
        }
        let mut reversed = keys.clone();
        reversed.reverse();
        let mut again = mapping(&lb, &reversed);
        again.reverse();
        prop_assert_eq!(&again, &first);
        // A server that goes down and comes back restores the same table.
        lb.set_up(first[0], false);
        lb.set_up(first[0], true);
        prop_assert_eq!(mapping(&lb, &keys), first);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Weighted round robin (dynamic or static): from a fresh balancer,
    /// every run of `sum of weights` choices gives each server exactly its
    /// weight (HAProxy's proportions), whatever the weights.
    #[test]
    fn round_robin_gives_each_server_its_weight_per_cycle(
        weights in prop::collection::vec(1u32..=8, 1..12),
        dynamic in any::<bool>(),
        cycles in 1usize..4,
    ) {
        let algorithm = if dynamic { Algorithm::RoundRobin } else { Algorithm::StaticRr };
        let specs = weights
            .iter()
            .map(|&weight| ServerSpec { weight, ..ServerSpec::default() })
            .collect();
        let lb = Balancer::new(algorithm, false, specs);
        let total: u32 = weights.iter().sum();
        for _ in 0..cycles {
            let mut got = vec![0u32; weights.len()];
            for _ in 0..total {
                got[lb.choose(&Ask::default()).expect("a server").server().index()] += 1;
            }
            prop_assert_eq!(&got, &weights, "{:?}", algorithm);
        }
    }

    /// The hashing algorithms with every server free: a key always goes to
    /// the same server, whatever was chosen in between.
    #[test]
    fn a_key_keeps_its_server_while_nothing_changes(
        weights in prop::collection::vec(1u32..=4, 1..16),
        consistent in any::<bool>(),
        picks in prop::collection::vec((any::<u8>(), any::<bool>()), 1..200),
    ) {
        let specs = weights
            .iter()
            .map(|&weight| ServerSpec { weight, ..ServerSpec::default() })
            .collect();
        let lb = Balancer::new(Algorithm::Hash { consistent }, false, specs);
        let mut seen = std::collections::HashMap::new();
        for (key, keyed) in picks {
            let k = [key];
            let ask = Ask { key: keyed.then_some(&k[..]), ..Ask::default() };
            let s = lb.choose(&ask).expect("a server").server();
            if keyed {
                prop_assert_eq!(*seen.entry(key).or_insert(s), s, "key {} moved", key);
            }
        }
    }
}
