//! Binary upgrade: a new gwd takes the listening sockets of the running
//! one, serves, then tells it to stop.
//!
//! 1. The new process ([`Inherited::receive`]) connects to a Unix runtime
//!    API socket of level admin of the running one and sends `_getsocks`;
//!    it gets every listening socket (`gwd_admin::handover`), tagged with
//!    what it is: `bind <configured> <local> <frontend>` or
//!    `stats <configured>`.
//! 2. It builds itself on them ([`crate::App::build_inheriting`]): a bind
//!    takes the socket of its configured address (port 0: only the same
//!    frontend's); a bind with none is bound as usual; a socket nobody
//!    takes is closed (the running gwd still has it until it stops).
//! 3. Once it serves, it sends the running one SIGUSR1 (soft stop): that
//!    one stops accepting, its requests finish within `hard-stop-after`,
//!    its tunnels get GOAWAY and their origins re-dial, reaching the new
//!    process on the same sockets. No connection is refused at any point:
//!    both processes accept on the same sockets until the old one stops.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

/// The tag of a bind's socket.
pub fn bind_tag(configured: SocketAddr, local: SocketAddr, frontend: &str) -> String {
    // The name last: it may hold blanks. A newline cannot cross (the
    // handover refuses it); the config loader does not make one.
    format!("bind {configured} {local} {}", frontend.replace('\n', " "))
}

/// The tag of a TCP runtime API socket.
pub fn stats_tag(configured: SocketAddr) -> String {
    format!("stats {configured}")
}

/// Sockets handed over by a running gwd, not yet taken.
#[derive(Debug, Default)]
pub struct Inherited {
    /// The process that handed them over.
    pub pid: Option<u32>,
    binds: Vec<(SocketAddr, String, OwnedFd)>,
    stats: Vec<(SocketAddr, OwnedFd)>,
}

impl Inherited {
    /// Asks the gwd whose runtime API socket is at `path` for its
    /// listening sockets (bounded by `timeout`).
    pub fn receive(path: &Path, timeout: Duration) -> std::io::Result<Inherited> {
        let h = gwd_admin::handover::receive(path, timeout)?;
        Self::checked(h)
    }

    /// [`parse`](Self::parse), after checking that every socket is a
    /// listening TCP socket bound where its tag says (a socket bound
    /// elsewhere would silently serve another address).
    pub fn checked(h: gwd_admin::handover::Handover) -> std::io::Result<Inherited> {
        use std::os::fd::AsFd;
        for s in &h.sockets {
            let local = gwd_admin::handover::listening_tcp_addr(s.fd.as_fd())
                .map_err(|e| std::io::Error::new(e.kind(), format!("socket `{}`: {e}", s.tag)))?;
            let mut words = s.tag.split(' ');
            let tagged = match (words.next(), words.next(), words.next()) {
                (Some("bind"), Some(conf), Some(local)) => conf
                    .parse::<SocketAddr>()
                    .ok()
                    .zip(local.parse::<SocketAddr>().ok()),
                (Some("stats"), Some(conf), None) => {
                    conf.parse::<SocketAddr>().ok().map(|c| (c, local))
                }
                _ => None,
            };
            // A tag this process cannot read is refused, not skipped: its
            // socket would otherwise go unchecked.
            let Some((conf, told)) = tagged else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("socket `{}`: tag not understood", s.tag),
                ));
            };
            let same = told == local
                && conf.ip() == local.ip()
                && (conf.port() == 0 || conf.port() == local.port());
            if !same {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("socket `{}` is bound to {local}", s.tag),
                ));
            }
        }
        Ok(Self::parse(h))
    }

    /// Sorts a handover's sockets by their tags; unknown tags are dropped
    /// (closed).
    pub fn parse(h: gwd_admin::handover::Handover) -> Inherited {
        let mut out = Inherited {
            pid: Some(h.pid),
            ..Inherited::default()
        };
        for s in h.sockets {
            let mut words = s.tag.splitn(4, ' ');
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("bind"), Some(conf), Some(_local), Some(fe)) => {
                    if let Ok(conf) = conf.parse() {
                        out.binds.push((conf, fe.to_owned(), s.fd));
                    }
                }
                (Some("stats"), Some(conf), None, None) => {
                    if let Ok(conf) = conf.parse() {
                        out.stats.push((conf, s.fd));
                    }
                }
                _ => tracing::warn!(tag = %s.tag, "handed-over socket not understood; closed"),
            }
        }
        out
    }

    /// How many sockets are left (not taken by the new configuration).
    pub fn len(&self) -> usize {
        self.binds.len() + self.stats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The socket of a bind of `frontend` on `addr`: the first handed over
    /// for that configured address (port 0: and that frontend).
    pub fn take_bind(&mut self, frontend: &str, addr: SocketAddr) -> Option<std::net::TcpListener> {
        let i = self
            .binds
            .iter()
            .position(|(a, fe, _)| *a == addr && (addr.port() != 0 || fe == frontend))?;
        Some(std::net::TcpListener::from(self.binds.remove(i).2))
    }

    /// The socket of a TCP runtime API entry on `addr`.
    pub fn take_stats(&mut self, addr: SocketAddr) -> Option<std::net::TcpListener> {
        let i = self.stats.iter().position(|(a, _)| *a == addr)?;
        Some(std::net::TcpListener::from(self.stats.remove(i).1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gwd_admin::handover::{HandedSocket, Handover};

    fn socket() -> OwnedFd {
        OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn handed_sockets_are_checked_not_trusted() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = l.local_addr().unwrap();
        let one = |tag: String, fd: OwnedFd| Handover {
            pid: 42,
            sockets: vec![HandedSocket { tag, fd }],
        };
        let elsewhere: SocketAddr = format!("127.0.0.2:{}", at.port()).parse().unwrap();
        let e = Inherited::checked(one(
            bind_tag(elsewhere, elsewhere, "www"),
            OwnedFd::from(l.try_clone().unwrap()),
        ))
        .unwrap_err();
        assert!(e.to_string().contains(&format!("is bound to {at}")), "{e}");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let u = udp.local_addr().unwrap();
        let e = Inherited::checked(one(bind_tag(u, u, "www"), OwnedFd::from(udp))).unwrap_err();
        assert!(e.to_string().contains("not a stream socket"), "{e}");
        let e = Inherited::checked(one(
            format!("bind {elsewhere} junk www"),
            OwnedFd::from(l.try_clone().unwrap()),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("tag not understood"), "{e}");
        let conf: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let ok = Inherited::checked(one(bind_tag(conf, at, "www"), OwnedFd::from(l))).unwrap();
        assert_eq!(ok.len(), 1);
    }

    #[test]
    fn binds_are_taken_by_address_and_port_zero_by_frontend() {
        let a: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut inh = Inherited::parse(Handover {
            pid: 42,
            sockets: vec![
                HandedSocket {
                    tag: bind_tag(a, a, "my site"),
                    fd: socket(),
                },
                HandedSocket {
                    tag: bind_tag(b, b, "www"),
                    fd: socket(),
                },
                HandedSocket {
                    tag: stats_tag(a),
                    fd: socket(),
                },
                HandedSocket {
                    tag: "something new".into(),
                    fd: socket(),
                },
            ],
        });
        assert_eq!((inh.pid, inh.len()), (Some(42), 3));
        assert!(inh.take_bind("other", a).is_none());
        assert!(inh.take_bind("my site", a).is_some());
        assert!(inh.take_bind("any", b).is_some());
        assert!(inh.take_bind("www", b).is_none(), "taken once");
        assert!(inh.take_stats(a).is_some());
        assert!(inh.is_empty());
    }
}
