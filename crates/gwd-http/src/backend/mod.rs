//! Backends at run time: which server takes a request, how long it may
//! wait for one, and what the health checks and the runtime API say
//! about each server.
//!
//! - [`queue`]: the backend's balancer (gwd-balance) behind a FIFO queue
//!   for servers at their `maxconn`; a request holds a [`queue::Slot`]
//!   until its answer has gone out.
//! - [`status`]: per server, what stats show beyond the balancer (check
//!   results, transitions, downtime) and the HAProxy log lines of state
//!   changes.
//! - [`health`]: the active checks, one task per checked server on its
//!   own timer, never on the request path.
//! - [`passive`]: `observe`, errors seen by real requests counted against
//!   their server.
//! - [`admin`]: the operations of the runtime API (`set server`,
//!   `enable`/`disable server`, weights, `show servers state`).

pub mod admin;
pub mod health;
pub mod passive;
pub mod queue;
pub mod status;

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use gwd_balance::{Admin, Algorithm, Balancer, ServerSpec};
use gwd_config::{Backend, Balance, HashType};
use gwd_head::RequestHead;

/// The balancer a backend's config describes: every server starts
/// usable (checked servers too: HAProxy starts them UP, and their first
/// failed check takes them down), `disabled` ones in maintenance.
///
/// Each server counts its requests in flight on what `count_of(server
/// name)` gives, when it gives one (its count from earlier configurations
/// of a reloaded process; see [`Balancer::new_sharing`]).
pub(crate) fn balancer_sharing(
    conf: &Backend,
    count_of: impl Fn(&str) -> Option<gwd_balance::SharedCount>,
) -> Balancer {
    let algorithm = match &conf.balance {
        Balance::RoundRobin => Algorithm::RoundRobin,
        Balance::StaticRr => Algorithm::StaticRr,
        Balance::LeastConn => Algorithm::LeastConn,
        Balance::First => Algorithm::First,
        Balance::Random { draws } => Algorithm::Random { draws: *draws },
        Balance::Source | Balance::Uri { .. } | Balance::Hdr { .. } => Algorithm::Hash {
            consistent: conf.hash_type == HashType::Consistent,
        },
    };
    let specs = conf
        .servers
        .iter()
        .map(|s| ServerSpec {
            weight: s.weight,
            backup: s.backup,
            maxconn: s.maxconn,
            admin: if s.disabled {
                Admin::Maint
            } else {
                Admin::Ready
            },
            up: true,
        })
        .collect();
    let counts = conf.servers.iter().map(|s| count_of(&s.name)).collect();
    Balancer::new_sharing(algorithm, conf.all_backups, specs, counts)
}

/// The bytes a hashing algorithm hashes for this request; `None` for the
/// other algorithms, and for `hdr(<name>)` when the request has no such
/// field or an empty one (round robin then, as HAProxy).
pub(crate) fn hash_key(balance: &Balance, head: &RequestHead, peer: IpAddr) -> Option<Vec<u8>> {
    match balance {
        Balance::Source => source_key(balance, peer),
        Balance::Uri { len, depth, whole } => {
            let pq = head.path_and_query();
            Some(
                gwd_balance::key::uri(pq, *len, *depth, *whole)
                    .as_bytes()
                    .to_vec(),
            )
        }
        // HAProxy hashes the first value of the first occurrence, so a
        // list that grows along a proxy chain (`X-Forwarded-For: client,
        // proxy1`) keeps its key.
        Balance::Hdr { name } => head
            .fields
            .get(name)
            .and_then(|v| v.split(|b| *b == b',').next())
            .map(<[u8]>::trim_ascii)
            .filter(|v| !v.is_empty())
            .map(<[u8]>::to_vec),
        _ => None,
    }
}

/// The key `balance source` hashes (the client address, an IPv4-mapped
/// one as IPv4); `None` for the other algorithms. TCP mode has no request,
/// so this is its only key: `uri` and `hdr` balance round robin there, as
/// HAProxy does without their key.
pub(crate) fn source_key(balance: &Balance, peer: IpAddr) -> Option<Vec<u8>> {
    matches!(balance, Balance::Source).then(|| match peer {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => a.octets().to_vec(),
        },
    })
}

/// Fresh randomness for `random(<draws>)` and check spreading: a
/// per-thread splitmix64 stream seeded from the standard library's
/// per-process random keys. Not for secrets.
pub(crate) fn random() -> u64 {
    thread_local! {
        // Each `RandomState` has its own keys (random per thread, then
        // incremented), so every thread starts elsewhere.
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish()
        );
    }
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use gwd_head::{Fields, Method, Version};

    use super::*;

    fn head(fields: &[(&str, &str)]) -> RequestHead {
        let mut f = Fields::new();
        for (n, v) in fields {
            f.try_append(n.as_bytes(), v.as_bytes()).unwrap();
        }
        RequestHead {
            method: Method::GET,
            uri: "/a/b/c?x=1".parse().unwrap(),
            version: Version::HTTP_11,
            fields: f,
        }
    }

    #[test]
    fn hash_keys_follow_haproxy() {
        let peer: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let h = head(&[
            ("x-forwarded-for", " 1.2.3.4, 5.6.7.8"),
            ("X-Forwarded-For", "9.9.9.9"),
        ]);
        let hdr = Balance::Hdr {
            name: "x-forwarded-for".into(),
        };
        assert_eq!(hash_key(&hdr, &h, peer).unwrap(), b"1.2.3.4");
        assert_eq!(hash_key(&hdr, &head(&[]), peer), None);
        assert_eq!(
            hash_key(&hdr, &head(&[("x-forwarded-for", " , x")]), peer),
            None
        );
        // An IPv4-mapped client hashes as its IPv4 address.
        assert_eq!(hash_key(&Balance::Source, &h, peer).unwrap(), [10, 0, 0, 1]);
        let uri = Balance::Uri {
            len: None,
            depth: None,
            whole: false,
        };
        assert_eq!(hash_key(&uri, &h, peer).unwrap(), b"/a/b/c");
        assert_eq!(hash_key(&Balance::RoundRobin, &h, peer), None);
    }
}
