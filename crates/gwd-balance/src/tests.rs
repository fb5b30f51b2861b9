//! Unit tests of the algorithms and states (model tests are in
//! `tests/model.rs`).

use super::*;

fn id(i: u32) -> ServerId {
    ServerId::new(i)
}

fn weights(ws: &[u32]) -> Vec<ServerSpec> {
    ws.iter()
        .map(|&weight| ServerSpec {
            weight,
            ..ServerSpec::default()
        })
        .collect()
}

fn maxconns(ms: &[u32]) -> Vec<ServerSpec> {
    ms.iter()
        .map(|&m| ServerSpec {
            maxconn: Some(m),
            ..ServerSpec::default()
        })
        .collect()
}

/// Chooses and releases `n` times; the servers chosen.
fn seq(lb: &Balancer, ask: &Ask<'_>, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| lb.choose(ask).unwrap().server().index())
        .collect()
}

fn count(picks: &[usize], n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for &p in picks {
        c[p] += 1;
    }
    c
}

const ASK: Ask<'static> = Ask {
    key: None,
    random: 0,
    avoid: None,
};

#[test]
fn roundrobin_interleaves_smoothly() {
    let lb = Balancer::new(Algorithm::RoundRobin, false, weights(&[5, 1, 1]));
    // nginx's order: a a b a c a a, cycle after cycle.
    assert_eq!(
        seq(&lb, &ASK, 14),
        [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]
    );
}

#[test]
fn roundrobin_exact_proportions_over_a_cycle() {
    let lb = Balancer::new(Algorithm::RoundRobin, false, weights(&[3, 2, 1, 0]));
    for _ in 0..5 {
        // Each cycle of 6: exactly 3, 2, 1 and nothing for weight 0.
        assert_eq!(count(&seq(&lb, &ASK, 6), 4), [3, 2, 1, 0]);
    }
    let lb = Balancer::new(Algorithm::RoundRobin, false, weights(&[256, 100, 1]));
    assert_eq!(count(&seq(&lb, &ASK, 357), 3), [256, 100, 1]);
}

#[test]
fn roundrobin_weight_change_takes_effect_next_choice() {
    let lb = Balancer::new(Algorithm::RoundRobin, false, weights(&[1, 1]));
    assert_eq!(lb.set_weight(id(1), 3), Ok(1));
    assert_eq!(lb.server(id(1)).weight, 3);
    assert_eq!(lb.server(id(1)).initial_weight, 1);
    assert_eq!(count(&seq(&lb, &ASK, 8), 2), [2, 6]);
    assert_eq!(lb.set_weight(id(0), 0), Ok(1));
    assert_eq!(seq(&lb, &ASK, 3), [1, 1, 1]);
    assert_eq!(
        lb.usable(),
        Usable {
            active: 1,
            backup: 0
        }
    );
    assert_eq!(lb.set_weight(id(0), 257), Err(WeightError::TooLarge));
    assert_eq!(lb.set_weight(id(0), 256), Ok(0));
}

#[test]
fn static_rr_accepts_only_zero_and_initial_weight() {
    let lb = Balancer::new(Algorithm::StaticRr, false, weights(&[2, 1]));
    assert_eq!(lb.set_weight(id(0), 37), Err(WeightError::Static));
    assert_eq!(lb.set_weight(id(0), 1), Err(WeightError::Static));
    assert_eq!(lb.set_weight(id(0), 300), Err(WeightError::TooLarge));
    assert_eq!(lb.server(id(0)).weight, 2);
    assert_eq!(lb.set_weight(id(0), 0), Ok(2));
    assert_eq!(seq(&lb, &ASK, 3), [1, 1, 1]);
    assert_eq!(lb.set_weight(id(0), 2), Ok(0));
    assert_eq!(count(&seq(&lb, &ASK, 3), 2), [2, 1]);
    // Map-based hashing is static too; consistent is not.
    let map = Balancer::new(Algorithm::Hash { consistent: false }, false, weights(&[2]));
    assert_eq!(map.set_weight(id(0), 37), Err(WeightError::Static));
    let chash = Balancer::new(Algorithm::Hash { consistent: true }, false, weights(&[2]));
    assert_eq!(chash.set_weight(id(0), 37), Ok(2));
    assert_eq!(
        WeightError::Static.to_string(),
        "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."
    );
}

#[test]
fn is_dynamic() {
    assert!(Algorithm::RoundRobin.is_dynamic());
    assert!(!Algorithm::StaticRr.is_dynamic());
    assert!(Algorithm::LeastConn.is_dynamic());
    assert!(Algorithm::First.is_dynamic());
    assert!(Algorithm::Random { draws: 2 }.is_dynamic());
    assert!(Algorithm::Hash { consistent: true }.is_dynamic());
    assert!(!Algorithm::Hash { consistent: false }.is_dynamic());
}

#[test]
fn leastconn_picks_the_least_busy() {
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&[1, 1]));
    let held: Vec<Pick> = (0..3).map(|_| lb.take(id(0)).unwrap()).collect();
    for _ in 0..5 {
        assert_eq!(lb.choose(&ASK).unwrap().server(), id(1));
    }
    // Holding them: 3 on server 0, so server 1 fills up to 3 first.
    let more: Vec<Pick> = (0..3).map(|_| lb.choose(&ASK).unwrap()).collect();
    assert!(more.iter().all(|p| p.server() == id(1)));
    drop(held);
    assert_eq!(lb.choose(&ASK).unwrap().server(), id(0));
}

#[test]
fn leastconn_relative_to_weight() {
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&[3, 1]));
    // Held requests spread 3:1.
    let held: Vec<Pick> = (0..8).map(|_| lb.choose(&ASK).unwrap()).collect();
    let on0 = held.iter().filter(|p| p.server() == id(0)).count();
    assert_eq!(on0, 6);
}

#[test]
fn leastconn_alternates_ties() {
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&[1, 1]));
    assert_eq!(seq(&lb, &ASK, 6), [0, 1, 0, 1, 0, 1]);
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&[1, 1, 1]));
    assert_eq!(count(&seq(&lb, &ASK, 30), 3), [10, 10, 10]);
}

/// Idle servers take turns whatever their weights (HAProxy's key is 0 for
/// every idle server): ranking them by `1 / weight` sent every request of
/// a light load to the heaviest server and none to the others.
#[test]
fn leastconn_idle_servers_take_turns_whatever_their_weights() {
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&[1, 1, 2, 1]));
    // One request at a time: each finds every server idle.
    assert_eq!(count(&seq(&lb, &ASK, 40), 4), [10, 10, 10, 10]);
    // Two at a time: each pair lands on two idle servers, and all four
    // get their share.
    let mut picks = Vec::new();
    for _ in 0..20 {
        let a = lb.choose(&ASK).unwrap();
        let b = lb.choose(&ASK).unwrap();
        assert_ne!(a.server(), b.server(), "the second went to a busy server");
        picks.extend([a.server().index(), b.server().index()]);
    }
    assert!(
        count(&picks, 4).iter().all(|&c| c >= 8),
        "{:?}",
        count(&picks, 4)
    );
    // Busy, the weights count: 8 held spread 2 : 2 : 3 : 1-ish, the
    // heaviest server taking the most.
    let held: Vec<Pick> = (0..8).map(|_| lb.choose(&ASK).unwrap()).collect();
    let c = count(
        &held.iter().map(|p| p.server().index()).collect::<Vec<_>>(),
        4,
    );
    assert!(c[2] >= c[0] && c[2] >= c[1] && c[2] >= c[3], "{c:?}");
}

/// The candidates among `ids` at the lowest load (0 when idle, else
/// `(in_flight + 1) / weight`), from the balancer's own counters: what an
/// exact least-connections choice may return.
fn least_loaded_now(lb: &Balancer, ids: &[usize], ws: &[u32]) -> Vec<usize> {
    let load = |i: usize| {
        let n = u64::from(lb.in_flight(id(i as u32)));
        (if n == 0 { 0 } else { n + 1 }, u64::from(ws[i]))
    };
    let mut best: Vec<usize> = Vec::new();
    for &i in ids {
        let (l, w) = load(i);
        match best.first().map(|&b| load(b)) {
            Some((bl, bw)) if l * bw > bl * w => {}
            Some((bl, bw)) if l * bw == bl * w => best.push(i),
            _ => best = vec![i],
        }
    }
    best
}

#[test]
fn leastconn_all_busy_picks_the_least_loaded() {
    // The bench's backend: 100 servers of weights 1 to 4, every one busy.
    let ws: Vec<u32> = (0..100).map(|i| 1 + i % 4).collect();
    let all: Vec<usize> = (0..100).collect();
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&ws));
    let mut held = Vec::new();
    for _ in 0..1000 {
        let want = least_loaded_now(&lb, &all, &ws);
        let p = lb.choose(&ASK).unwrap();
        assert!(
            want.contains(&p.server().index()),
            "{:?} not in {want:?}",
            p.server()
        );
        held.push(p);
    }
    // 4 per unit of weight: the 25 servers of weight 4 are the least
    // loaded, at 17/4. Choose-and-release rotates over all of them.
    let scans = lb.scans.load(Relaxed);
    let want = least_loaded_now(&lb, &all, &ws);
    assert_eq!(want.len(), 25);
    let picks = seq(&lb, &ASK, 250);
    assert!(picks.iter().all(|p| want.contains(p)));
    assert!(
        count(&picks, 100)
            .iter()
            .enumerate()
            .all(|(i, &c)| c == if ws[i] == 4 { 10 } else { 0 })
    );
    // ... and without scanning every server once the lowest load is known.
    assert!(lb.scans.load(Relaxed) - scans <= 1);
}

#[test]
fn leastconn_release_makes_the_least_loaded() {
    let lb = Balancer::new(Algorithm::LeastConn, false, weights(&[1; 10]));
    // 31: every server has 3, one has 4, and the lowest load known is the
    // others' (3 + 1) / 1.
    let mut held: Vec<Pick> = (0..31).map(|_| lb.choose(&ASK).unwrap()).collect();
    let four = (0..10).find(|&i| lb.in_flight(id(i)) == 4).unwrap();
    assert!((0..10).all(|i| i == four || lb.in_flight(id(i)) == 3));
    // A response on another server ends: it is now the only one with 2,
    // below every other.
    let s = (four + 5) % 10;
    let k = held.iter().position(|p| p.server() == id(s)).unwrap();
    held.swap_remove(k);
    for _ in 0..3 {
        assert_eq!(lb.choose(&ASK).unwrap().server(), id(s));
    }
    held.push(lb.choose(&ASK).unwrap());
    assert_eq!(held.last().unwrap().server(), id(s));
    // 3 again: the next ones go to the servers with 3.
    let next: Vec<usize> = (0..9)
        .map(|_| lb.choose(&ASK).unwrap().server().index())
        .collect();
    assert!(next.iter().all(|&i| i != four as usize));
}

#[test]
fn leastconn_sees_new_candidates_and_weights_at_once() {
    let mut specs = weights(&[1, 1, 1, 1]);
    specs[3].up = false;
    let lb = Balancer::new(Algorithm::LeastConn, false, specs);
    // 10: 4, 3, 3 (the lowest load known is then (3 + 1) / 1).
    let mut held: Vec<Pick> = (0..10).map(|_| lb.choose(&ASK).unwrap()).collect();
    let loads: Vec<u32> = (0..3).map(|i| lb.in_flight(id(i))).collect();
    assert_eq!(loads.iter().sum::<u32>(), 10);
    // Server 3 comes up idle: it is the least loaded until it has 3 too.
    lb.set_up(id(3), true);
    for _ in 0..3 {
        held.push(lb.choose(&ASK).unwrap());
        assert_eq!(held.last().unwrap().server(), id(3));
    }
    let want = least_loaded_now(&lb, &[0, 1, 2, 3], &[1, 1, 1, 1]);
    held.push(lb.choose(&ASK).unwrap());
    assert!(want.contains(&held.last().unwrap().server().index()));
    // Server 1 weighs 3 now: (c + 1) / 3 is below 4 / 1 up to 11 in flight.
    lb.set_weight(id(1), 3).unwrap();
    while lb.in_flight(id(1)) < 11 {
        held.push(lb.choose(&ASK).unwrap());
        assert_eq!(held.last().unwrap().server(), id(1));
    }
    let want = least_loaded_now(&lb, &[0, 1, 2, 3], &[1, 3, 1, 1]);
    assert!(want.contains(&lb.choose(&ASK).unwrap().server().index()));
    // Server 0 drains: never chosen, even idle.
    lb.set_admin(id(0), Admin::Drain);
    held.retain(|p| p.server() != id(0));
    assert!(seq(&lb, &ASK, 20).iter().all(|&p| p != 0));
}

#[test]
fn leastconn_skips_full_servers_at_the_lowest_load() {
    let lb = Balancer::new(Algorithm::LeastConn, false, maxconns(&[1, 5, 5]));
    let _a = lb.choose(&ASK).unwrap();
    assert_eq!(lb.in_flight(id(0)), 1);
    // Server 0 is full: the others share the next ones, never server 0.
    let held: Vec<Pick> = (0..10).map(|_| lb.choose(&ASK).unwrap()).collect();
    assert!(held.iter().all(|p| p.server() != id(0)));
    assert_eq!(lb.choose(&ASK).unwrap_err(), NoPick::Full);
    drop(held);
    assert_eq!(lb.choose(&ASK).unwrap().server().index() % 3, 1);
}

#[test]
fn leastconn_under_threads_stays_in_the_candidates_and_balanced() {
    // 0..12 serve (weight 1; 10 and 11 with maxconn 2); 12 drains, 13 is in
    // maintenance, 14 is down, 15 weighs 0, 16 is a backup.
    let mut specs = weights(&[1; 17]);
    specs[10].maxconn = Some(2);
    specs[11].maxconn = Some(2);
    specs[12].admin = Admin::Drain;
    specs[13].admin = Admin::Maint;
    specs[14].up = false;
    specs[15].weight = 0;
    specs[16].backup = true;
    let lb = Balancer::new(Algorithm::LeastConn, false, specs);
    std::thread::scope(|s| {
        for t in 0..4usize {
            let lb = &lb;
            s.spawn(move || {
                let mut mine: std::collections::VecDeque<Pick> = Default::default();
                for i in 0..20_000usize {
                    let p = lb.choose(&ASK).unwrap();
                    let s = p.server().index();
                    assert!(s < 12, "chose excluded server {s}");
                    if s >= 10 {
                        assert!(lb.in_flight(p.server()) <= 2);
                    }
                    mine.push_back(p);
                    // Hold a varying number of requests per thread.
                    while mine.len() > 1 + (i * 7 + t) % 13 {
                        mine.pop_front();
                    }
                }
            });
        }
    });
    assert!((0..17).all(|i| lb.in_flight(id(i)) == 0));
    // Quiet again: held requests spread evenly (10 and 11 stop at 2).
    let held: Vec<Pick> = (0..100).map(|_| lb.choose(&ASK).unwrap()).collect();
    let loads: Vec<u32> = (0..10).map(|i| lb.in_flight(id(i))).collect();
    assert!(loads.iter().all(|&l| l == 9 || l == 10), "{loads:?}");
    assert_eq!((lb.in_flight(id(10)), lb.in_flight(id(11))), (2, 2));
    drop(held);
}

#[test]
fn first_fills_servers_in_order() {
    let lb = Balancer::new(Algorithm::First, false, maxconns(&[2, 2]));
    let a = lb.choose(&ASK).unwrap();
    let b = lb.choose(&ASK).unwrap();
    assert_eq!((a.server(), b.server()), (id(0), id(0)));
    let c = lb.choose(&ASK).unwrap();
    let d = lb.choose(&ASK).unwrap();
    assert_eq!((c.server(), d.server()), (id(1), id(1)));
    assert_eq!(lb.choose(&ASK).unwrap_err(), NoPick::Full);
    drop(b);
    assert_eq!(lb.choose(&ASK).unwrap().server(), id(0));
    // Weight is ignored, except 0.
    let lb = Balancer::new(Algorithm::First, false, weights(&[1, 200]));
    assert_eq!(seq(&lb, &ASK, 3), [0, 0, 0]);
    lb.set_weight(id(0), 0).unwrap();
    assert_eq!(seq(&lb, &ASK, 2), [1, 1]);
}

#[test]
fn random_prefers_the_idle_server() {
    let lb = Balancer::new(Algorithm::Random { draws: 2 }, false, weights(&[1, 1]));
    let _busy: Vec<Pick> = (0..5).map(|_| lb.take(id(0)).unwrap()).collect();
    let mut idle = 0;
    for r in 0..1000u64 {
        let ask = Ask {
            random: r.wrapping_mul(0x2545_f491_4f6c_dd1d),
            ..ASK
        };
        if lb.choose(&ask).unwrap().server() == id(1) {
            idle += 1;
        }
    }
    // Two draws both land on the busy server a quarter of the time.
    assert!((680..=820).contains(&idle), "{idle}");
    // Many draws: practically always the idle one.
    let lb64 = Balancer::new(Algorithm::Random { draws: 64 }, false, weights(&[1, 1]));
    let _busy: Vec<Pick> = (0..5).map(|_| lb64.take(id(0)).unwrap()).collect();
    for r in 0..200u64 {
        let ask = Ask { random: r, ..ASK };
        assert_eq!(lb64.choose(&ask).unwrap().server(), id(1));
    }
}

#[test]
fn random_draws_follow_weights() {
    let lb = Balancer::new(Algorithm::Random { draws: 1 }, false, weights(&[3, 1, 0]));
    let picks: Vec<usize> = (0..4000u64)
        .map(|r| {
            let ask = Ask { random: r, ..ASK };
            lb.choose(&ask).unwrap().server().index()
        })
        .collect();
    let c = count(&picks, 3);
    assert_eq!(c[2], 0);
    assert!((2800..=3200).contains(&c[0]), "{c:?}");
    // The same randomness gives the same server.
    let ask = Ask { random: 42, ..ASK };
    let first = lb.choose(&ask).unwrap().server();
    assert_eq!(lb.choose(&ask).unwrap().server(), first);
}

#[test]
fn drain_maint_down_get_no_new_requests() {
    for algorithm in ALGORITHMS {
        let lb = Balancer::new(algorithm, false, weights(&[1, 1, 1, 1]));
        let held = lb.take(id(1)).unwrap();
        assert_eq!(lb.set_admin(id(1), Admin::Drain), Admin::Ready);
        assert_eq!(lb.set_admin(id(2), Admin::Maint), Admin::Ready);
        assert_eq!(lb.set_admin(id(2), Admin::Maint), Admin::Maint);
        assert!(lb.set_up(id(3), false));
        assert!(!lb.set_up(id(3), false));
        assert_eq!(
            lb.usable(),
            Usable {
                active: 1,
                backup: 0
            }
        );
        for r in 0..20u64 {
            let key = r.to_le_bytes();
            let ask = Ask {
                key: Some(&key),
                random: r,
                avoid: None,
            };
            assert_eq!(lb.choose(&ask).unwrap().server(), id(0), "{algorithm:?}");
        }
        // The draining server's request is unaffected and releases.
        assert_eq!(lb.in_flight(id(1)), 1);
        assert_eq!(lb.server(id(1)).admin, Admin::Drain);
        drop(held);
        assert_eq!(lb.in_flight(id(1)), 0);
        assert_eq!(lb.in_flight(id(0)), 0);
        assert!(lb.set_up(id(0), false));
        assert_eq!(lb.choose(&ASK).unwrap_err(), NoPick::NoServer);
        assert_eq!(lb.set_admin(id(1), Admin::Ready), Admin::Drain);
        assert_eq!(lb.choose(&ASK).unwrap().server(), id(1));
    }
}

#[test]
fn pick_outlives_maint_and_balancer() {
    let lb = Balancer::new(Algorithm::RoundRobin, false, weights(&[1]));
    let p = lb.choose(&ASK).unwrap();
    lb.set_admin(id(0), Admin::Maint);
    assert_eq!(lb.in_flight(id(0)), 1);
    drop(p);
    assert_eq!(lb.in_flight(id(0)), 0);
    let p = lb.set_admin(id(0), Admin::Ready);
    assert_eq!(p, Admin::Maint);
    let p = lb.choose(&ASK).unwrap();
    drop(lb);
    assert_eq!(format!("{p:?}"), "Pick { server: ServerId(0) }");
    drop(p);
}

#[test]
fn take_respects_maxconn_and_state() {
    let lb = Balancer::new(Algorithm::RoundRobin, false, maxconns(&[1, 0]));
    let a = lb.take(id(0)).unwrap();
    assert_eq!(lb.take(id(0)).unwrap_err(), NoPick::Full);
    drop(a);
    // maxconn 0: no limit.
    let many: Vec<Pick> = (0..100).map(|_| lb.take(id(1)).unwrap()).collect();
    assert_eq!(lb.in_flight(id(1)), 100);
    drop(many);
    lb.set_admin(id(0), Admin::Drain);
    assert!(
        lb.take(id(0)).is_ok(),
        "drain still serves assigned requests"
    );
    lb.set_weight(id(0), 0).unwrap();
    assert!(lb.take(id(0)).is_ok());
    lb.set_admin(id(0), Admin::Maint);
    assert_eq!(lb.take(id(0)).unwrap_err(), NoPick::NoServer);
    lb.set_admin(id(0), Admin::Ready);
    lb.set_up(id(0), false);
    assert_eq!(lb.take(id(0)).unwrap_err(), NoPick::NoServer);
}

#[test]
#[should_panic(expected = "not in this backend")]
fn unknown_server_panics() {
    let lb = Balancer::new(Algorithm::RoundRobin, false, weights(&[1]));
    lb.set_up(id(1), false);
}

const ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RoundRobin,
    Algorithm::StaticRr,
    Algorithm::LeastConn,
    Algorithm::First,
    Algorithm::Random { draws: 2 },
    Algorithm::Hash { consistent: false },
    Algorithm::Hash { consistent: true },
];

#[test]
fn maxconn_holds_under_threads() {
    use std::sync::atomic::AtomicU32;
    for algorithm in ALGORITHMS {
        let lb = Balancer::new(algorithm, false, maxconns(&[3, 3]));
        // Independent witnesses of the in-flight counts, moved by the test
        // itself around each pick.
        let witness = [AtomicU32::new(0), AtomicU32::new(0)];
        let max_seen = AtomicU32::new(0);
        let full = AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (lb, witness, max_seen, full) = (&lb, &witness, &max_seen, &full);
                s.spawn(move || {
                    for i in 0..2000u64 {
                        let key = (i % 7).to_le_bytes();
                        let ask = Ask {
                            key: Some(&key),
                            random: (t << 32) | i,
                            avoid: None,
                        };
                        let Ok(p) = lb.choose(&ask) else {
                            full.fetch_add(1, Relaxed);
                            continue;
                        };
                        let s = p.server().index();
                        let w = witness[s].fetch_add(1, Relaxed) + 1;
                        max_seen.fetch_max(w.max(lb.in_flight(p.server())), Relaxed);
                        std::thread::yield_now();
                        witness[s].fetch_sub(1, Relaxed);
                        drop(p);
                    }
                });
            }
        });
        let max = max_seen.load(Relaxed);
        assert!(max <= 3, "{algorithm:?}: {max} in flight");
        assert!(max >= 1);
        assert_eq!(
            lb.in_flight(id(0)) + lb.in_flight(id(1)),
            0,
            "{algorithm:?}"
        );
    }
}

fn backups(primaries: usize, backups: usize) -> Vec<ServerSpec> {
    (0..primaries + backups)
        .map(|i| ServerSpec {
            backup: i >= primaries,
            ..ServerSpec::default()
        })
        .collect()
}

#[test]
fn backups_only_when_no_primary_is_usable() {
    for algorithm in ALGORITHMS {
        let lb = Balancer::new(algorithm, false, backups(2, 2));
        assert_eq!(
            lb.usable(),
            Usable {
                active: 2,
                backup: 2
            }
        );
        assert!(seq(&lb, &ASK, 10).iter().all(|&s| s < 2), "{algorithm:?}");
        lb.set_up(id(0), false);
        assert!(seq(&lb, &ASK, 10).iter().all(|&s| s == 1), "{algorithm:?}");
        lb.set_admin(id(1), Admin::Drain);
        assert_eq!(
            lb.usable(),
            Usable {
                active: 0,
                backup: 2
            }
        );
        // The first backup only.
        assert_eq!(seq(&lb, &ASK, 10), [2; 10], "{algorithm:?}");
        lb.set_up(id(2), false);
        assert_eq!(seq(&lb, &ASK, 10), [3; 10], "{algorithm:?}");
        lb.set_up(id(2), true);
        // A primary comes back: the backups stop.
        lb.set_admin(id(1), Admin::Ready);
        assert_eq!(seq(&lb, &ASK, 10), [1; 10], "{algorithm:?}");
    }
}

#[test]
fn allbackups_spreads_over_every_backup() {
    for algorithm in [
        Algorithm::RoundRobin,
        Algorithm::StaticRr,
        Algorithm::LeastConn,
        Algorithm::Hash { consistent: true },
    ] {
        let lb = Balancer::new(algorithm, true, backups(1, 3));
        lb.set_up(id(0), false);
        assert_eq!(
            count(&seq(&lb, &ASK, 30), 4),
            [0, 10, 10, 10],
            "{algorithm:?}"
        );
    }
    let lb = Balancer::new(Algorithm::Random { draws: 1 }, true, backups(1, 3));
    lb.set_up(id(0), false);
    let picks: Vec<usize> = (0..300u64)
        .map(|r| {
            let ask = Ask { random: r, ..ASK };
            lb.choose(&ask).unwrap().server().index()
        })
        .collect();
    assert!(count(&picks, 4).iter().skip(1).all(|&c| c > 60));
}

#[test]
fn full_primaries_do_not_spill_to_backups() {
    let mut servers = maxconns(&[1, 1]);
    servers[1].backup = true;
    let lb = Balancer::new(Algorithm::RoundRobin, false, servers);
    let _a = lb.choose(&ASK).unwrap();
    assert_eq!(lb.choose(&ASK).unwrap_err(), NoPick::Full);
    assert_eq!(lb.in_flight(id(1)), 0);
}

#[test]
fn full_versus_no_server() {
    for algorithm in ALGORITHMS {
        let lb = Balancer::new(algorithm, false, maxconns(&[1, 1]));
        let key = b"k".as_slice();
        let ask = Ask {
            key: Some(key),
            ..ASK
        };
        let a = lb.choose(&ASK).unwrap();
        let b = lb.choose(&ASK).unwrap();
        assert_ne!(a.server(), b.server(), "{algorithm:?}");
        assert_eq!(lb.choose(&ASK).unwrap_err(), NoPick::Full, "{algorithm:?}");
        assert_eq!(lb.choose(&ask).unwrap_err(), NoPick::Full, "{algorithm:?}");
        lb.set_up(id(0), false);
        lb.set_up(id(1), false);
        assert_eq!(lb.choose(&ASK).unwrap_err(), NoPick::NoServer);
        assert_eq!(lb.usable(), Usable::default());
    }
    let empty = Balancer::new(Algorithm::RoundRobin, false, Vec::new());
    assert!(empty.is_empty());
    assert_eq!(empty.choose(&ASK).unwrap_err(), NoPick::NoServer);
    assert_eq!(NoPick::Full.to_string(), "every server is at its maxconn");
}

#[test]
fn full_server_is_skipped() {
    for algorithm in ALGORITHMS {
        if algorithm == (Algorithm::Hash { consistent: false }) {
            continue;
        }
        let lb = Balancer::new(algorithm, false, maxconns(&[1, 5, 5]));
        let _hold = lb.take(id(0)).unwrap();
        for r in 0..30u64 {
            let key = r.to_le_bytes();
            let ask = Ask {
                key: Some(&key),
                random: r,
                avoid: None,
            };
            assert_ne!(lb.choose(&ask).unwrap().server(), id(0), "{algorithm:?}");
        }
    }
}

#[test]
fn avoid_never_returns_the_avoided_server_when_another_exists() {
    for algorithm in ALGORITHMS {
        let lb = Balancer::new(algorithm, false, weights(&[1, 1, 1]));
        for r in 0..60u64 {
            let key = r.to_le_bytes();
            let avoid = id((r % 3) as u32);
            let ask = Ask {
                key: Some(&key),
                random: r,
                avoid: Some(avoid),
            };
            assert_ne!(lb.choose(&ask).unwrap().server(), avoid, "{algorithm:?}");
        }
        // The only candidate is returned even if avoided.
        lb.set_up(id(1), false);
        lb.set_up(id(2), false);
        let ask = Ask {
            avoid: Some(id(0)),
            ..ASK
        };
        assert_eq!(lb.choose(&ask).unwrap().server(), id(0), "{algorithm:?}");
    }
}

#[test]
fn avoid_is_the_last_resort_when_the_others_are_full() {
    for algorithm in ALGORITHMS {
        let lb = Balancer::new(algorithm, false, maxconns(&[1, 1, 1]));
        let _b = lb.take(id(1)).unwrap();
        let _c = lb.take(id(2)).unwrap();
        // Map-based hashing keeps a key on its full home server instead
        // (tested below), so it asks without a key here.
        let map_based = algorithm == (Algorithm::Hash { consistent: false });
        let key = b"some key".as_slice();
        let ask = Ask {
            key: if map_based { None } else { Some(key) },
            random: 7,
            avoid: Some(id(0)),
        };
        let a = lb.choose(&ask).unwrap();
        assert_eq!(a.server(), id(0), "{algorithm:?}");
        assert_eq!(lb.choose(&ask).unwrap_err(), NoPick::Full, "{algorithm:?}");
    }
}

#[test]
fn map_based_keeps_keys_and_queues_when_full() {
    let lb = Balancer::new(
        Algorithm::Hash { consistent: false },
        false,
        maxconns(&[1, 1, 1, 1]),
    );
    let keys: Vec<[u8; 8]> = (0..50u64).map(|k| k.to_le_bytes()).collect();
    let home: Vec<ServerId> = keys
        .iter()
        .map(|k| {
            let ask = Ask {
                key: Some(k),
                ..ASK
            };
            lb.choose(&ask).unwrap().server()
        })
        .collect();
    assert!(
        count(&home.iter().map(|s| s.index()).collect::<Vec<_>>(), 4)
            .iter()
            .all(|&c| c > 0)
    );
    for (k, &h) in keys.iter().zip(&home) {
        let ask = Ask {
            key: Some(k),
            ..ASK
        };
        let held = lb.choose(&ask).unwrap();
        assert_eq!(held.server(), h);
        // Its server is full: the key waits for it rather than moving.
        assert_eq!(lb.choose(&ask).unwrap_err(), NoPick::Full);
        // A redispatch moves it.
        let retry = Ask {
            avoid: Some(h),
            ..ask
        };
        assert_ne!(lb.choose(&retry).unwrap().server(), h);
    }
}

#[test]
fn hash_without_key_rotates() {
    for consistent in [false, true] {
        let lb = Balancer::new(Algorithm::Hash { consistent }, false, weights(&[1, 1, 1]));
        assert_eq!(seq(&lb, &ASK, 6), [0, 1, 2, 0, 1, 2]);
    }
}

#[test]
fn hash_spreads_by_weight() {
    for consistent in [false, true] {
        let lb = Balancer::new(Algorithm::Hash { consistent }, false, weights(&[1, 2, 1]));
        let picks: Vec<usize> = (0..8000u32)
            .map(|k| {
                let key = format!("10.0.{}.{}", k / 256, k % 256);
                let ask = Ask {
                    key: Some(key.as_bytes()),
                    ..ASK
                };
                lb.choose(&ask).unwrap().server().index()
            })
            .collect();
        let c = count(&picks, 3);
        assert!(
            (3600..=4400).contains(&c[1]),
            "consistent {consistent}: {c:?}"
        );
        assert!(
            (1600..=2400).contains(&c[0]),
            "consistent {consistent}: {c:?}"
        );
    }
}

#[test]
fn consistent_moves_only_the_removed_servers_keys() {
    let lb = Balancer::new(
        Algorithm::Hash { consistent: true },
        false,
        weights(&[1; 10]),
    );
    let map = |lb: &Balancer| -> Vec<ServerId> {
        (0..2000u32)
            .map(|k| {
                let key = k.to_be_bytes();
                let ask = Ask {
                    key: Some(&key),
                    ..ASK
                };
                lb.choose(&ask).unwrap().server()
            })
            .collect()
    };
    let before = map(&lb);
    lb.set_admin(id(4), Admin::Maint);
    let during = map(&lb);
    for (b, d) in before.iter().zip(&during) {
        if *b == id(4) {
            assert_ne!(*d, id(4));
        } else {
            assert_eq!(b, d);
        }
    }
    lb.set_admin(id(4), Admin::Ready);
    assert_eq!(map(&lb), before);
    // A weight change moves keys onto the heavier server only.
    lb.set_weight(id(4), 2).unwrap();
    let heavier = map(&lb);
    for (b, h) in before.iter().zip(&heavier) {
        assert!(b == h || *h == id(4));
    }
    assert!(
        heavier.iter().filter(|&&s| s == id(4)).count()
            > before.iter().filter(|&&s| s == id(4)).count()
    );
}

#[test]
fn consistent_spills_a_full_server_onto_the_same_neighbour() {
    let mut servers = weights(&[1; 5]);
    servers[2].maxconn = Some(1);
    let lb = Balancer::new(Algorithm::Hash { consistent: true }, false, servers);
    let key = (0u32..)
        .map(|k| k.to_be_bytes())
        .find(|k| {
            let ask = Ask {
                key: Some(k),
                ..ASK
            };
            lb.choose(&ask).unwrap().server() == id(2)
        })
        .unwrap();
    let ask = Ask {
        key: Some(&key),
        ..ASK
    };
    let _held = lb.choose(&ask).unwrap();
    let spill = lb.choose(&ask).unwrap().server();
    assert_ne!(spill, id(2));
    for _ in 0..5 {
        assert_eq!(lb.choose(&ask).unwrap().server(), spill);
    }
}

#[test]
fn server_state_reports_everything() {
    let lb = Balancer::new(
        Algorithm::RoundRobin,
        false,
        vec![ServerSpec {
            weight: 300,
            backup: true,
            maxconn: Some(9),
            admin: Admin::Drain,
            up: false,
        }],
    );
    assert_eq!(
        lb.server(id(0)),
        ServerState {
            admin: Admin::Drain,
            up: false,
            weight: 256,
            initial_weight: 256,
            backup: true,
            maxconn: Some(9),
            in_flight: 0,
        }
    );
    assert_eq!(lb.usable(), Usable::default());
    assert_eq!(lb.len(), 1);
    assert!(format!("{lb:?}").contains("RoundRobin"));
}

#[test]
fn balancer_and_pick_are_send_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Balancer>();
    assert_send_sync::<Pick>();
}

#[test]
fn home_is_the_map_based_server_of_a_key_full_or_not() {
    let spec = ServerSpec {
        maxconn: Some(1),
        ..ServerSpec::default()
    };
    let b = Balancer::new(
        Algorithm::Hash { consistent: false },
        false,
        vec![spec.clone(), spec.clone(), spec],
    );
    for i in 0..50u32 {
        let key = format!("/k/{i}");
        let ask = Ask {
            key: Some(key.as_bytes()),
            ..Ask::default()
        };
        let home = b.home(key.as_bytes()).expect("a home");
        let pick = b.choose(&ask).expect("free");
        assert_eq!(pick.server(), home);
        // Full now: still its home.
        assert_eq!(b.choose(&ask).unwrap_err(), NoPick::Full);
        assert_eq!(b.home(key.as_bytes()), Some(home));
    }
    let rr = Balancer::new(Algorithm::RoundRobin, false, vec![ServerSpec::default()]);
    assert_eq!(rr.home(b"/x"), None);
}

/// Across reloads (`new_sharing`), every balancer of a server shares its
/// count of requests in flight: each counts the others' against the
/// `maxconn` in force, however many reloads ago they started, and the
/// newest configuration's limit holds for the old balancers too.
#[test]
fn balancers_sharing_counts_share_each_servers_maxconn() {
    let spec = |maxconn| ServerSpec {
        maxconn: Some(maxconn),
        ..ServerSpec::default()
    };
    let first = Balancer::new(Algorithm::RoundRobin, false, vec![spec(2), spec(2)]);
    let first_held = first.take(id(1)).unwrap();
    // The reload dropped server 0 and kept server 1, now first.
    let second = Balancer::new_sharing(
        Algorithm::RoundRobin,
        false,
        vec![spec(2)],
        vec![Some(first.count(id(1)))],
    );
    second.enforce_limits();
    let second_held = second.take(id(0)).unwrap();
    // One each: the server is full on both sides.
    assert!(second.take(id(0)).is_err());
    assert!(first.take(id(1)).is_err());
    assert_eq!(second.in_flight(id(0)), 2);
    // The dropped server is not the second balancer's concern.
    assert!(first.take(id(0)).is_ok());
    // A third balancer, two reloads on, with room for three: the first's
    // request still counts, and the first balancer now has the room too.
    let third = Balancer::new_sharing(
        Algorithm::RoundRobin,
        false,
        vec![spec(1), spec(3)],
        vec![None, Some(second.count(id(0)))],
    );
    third.enforce_limits();
    let third_held = third.take(id(1)).unwrap();
    assert!(
        third.take(id(1)).is_err(),
        "the first's, the second's, its own"
    );
    drop(first_held);
    let again = first
        .take(id(1))
        .expect("the new limit holds for the old one");
    drop((second_held, third_held));
    assert_eq!(third.in_flight(id(1)), 1);
    drop(again);
    assert_eq!(first.in_flight(id(1)), 0);
}
