//! Gateway side, requests: each `rhttp@` server's tunnel registry as the
//! server's named connections (gwd-http's [`NamedConns`] seam), given to
//! it when the proxy is built, kept across reloads while the rules that
//! admitted its tunnels stay.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use gwd_config::{Backend, Config, Server, ServerAt};
use gwd_head::{RequestHead, ResponseHead};
use gwd_http::named::{
    AcquireError, AcquireErrorKind, InterimSink, NamedConns, NamedConnsSource, NamedFuture,
    NamedSendFailed, NamedStream,
};
use gwd_http::{Body, BoxError, Proxy, ServerRt};
use gwd_mux_h2::conn::Protocol;
use http_body_util::BodyExt;

/// An `rhttp@` server's tunnels as its named connections: gwd-rhttp's
/// registry behind gwd-http's [`NamedConns`] seam.
#[derive(Debug, Clone)]
pub struct Tunnels(pub gwd_rhttp::TunnelRegistry);

/// A stream slot on a chosen tunnel.
struct TunnelStream(gwd_rhttp::Lease);

fn acquire_error(e: gwd_rhttp::RegistryError) -> AcquireError {
    let kind = match e.kind() {
        gwd_rhttp::RegistryErrorKind::NoTunnel => AcquireErrorKind::NoConnection,
        gwd_rhttp::RegistryErrorKind::Saturated => AcquireErrorKind::Saturated,
    };
    AcquireError {
        kind,
        error: Box::new(e),
    }
}

impl NamedConns for Tunnels {
    fn try_acquire(&self, name: &str) -> Result<Box<dyn NamedStream>, AcquireError> {
        match self.0.try_acquire(name) {
            Ok(lease) => Ok(Box::new(TunnelStream(lease))),
            Err(e) => Err(acquire_error(e)),
        }
    }

    fn acquire<'a>(
        &'a self,
        name: &'a str,
        wait: Duration,
    ) -> NamedFuture<'a, Result<Box<dyn NamedStream>, AcquireError>> {
        Box::pin(async move {
            match self.0.acquire(name, wait).await {
                Ok(lease) => Ok(Box::new(TunnelStream(lease)) as Box<dyn NamedStream>),
                Err(e) => Err(acquire_error(e)),
            }
        })
    }

    fn connections(&self) -> u64 {
        self.0.stats().tunnels
    }
}

impl NamedStream for TunnelStream {
    fn send(
        self: Box<Self>,
        head: RequestHead,
        protocol: Option<Protocol>,
        body: Option<Body>,
        mut interim: InterimSink,
    ) -> NamedFuture<'static, Result<(ResponseHead, Body), NamedSendFailed>> {
        Box::pin(async move {
            let mut relay = |h| interim.offer(h);
            match self
                .0
                .send_head_relaying(head, protocol, body, &mut relay)
                .await
            {
                Ok((head, body)) => Ok((head, Body::new(BodyExt::map_err(body, BoxError::from)))),
                Err(f) => Err(NamedSendFailed {
                    error: Box::new(f.error),
                    request: f.request.map(|u| (u.head, u.body)),
                }),
            }
        })
    }
}

/// The tunnel registry of an `rhttp@` server (`None` for other servers).
pub fn registry(server: &ServerRt) -> Option<&gwd_rhttp::TunnelRegistry> {
    let named: &dyn Any = &**server.named.as_ref()?;
    named.downcast_ref::<Tunnels>().map(|t| &t.0)
}

/// Gives every `rhttp@` server a tunnel registry when a proxy is built
/// ([`Proxy::with_named`], [`Proxy::succeed_with`]).
///
/// Registered tunnels stay across a reload only while the rules that
/// admitted them are the same: a reload that narrows them (another CA,
/// `allow-name`, session rules) revokes what they no longer admit, so
/// their origins register again under the new rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelRegistries;

impl NamedConnsSource for TunnelRegistries {
    fn named_conns(
        &self,
        config: &Config,
        backend: &Backend,
        server: &Server,
        previous: Option<(&Config, &Arc<dyn NamedConns>)>,
    ) -> Option<Arc<dyn NamedConns>> {
        server.reverse()?;
        if let Some((old_config, old)) = previous
            && (&**old as &dyn Any).is::<Tunnels>()
            && registration_rules(old_config, &backend.name, &server.name)
                == registration_rules(config, &backend.name, &server.name)
        {
            return Some(old.clone());
        }
        Some(Arc::new(Tunnels(gwd_rhttp::TunnelRegistry::new())))
    }
}

/// After a reload from `old` to `new`: closes (GOAWAY) the tunnels of
/// `old`'s `rhttp@` servers that `new` did not keep (their server is
/// gone, or the rules that admitted them changed: a revocation), so their
/// origins stop holding them and register again under the new rules.
/// Returns how many tunnels it closed.
pub fn close_revoked(old: &Proxy, new: &Proxy) -> usize {
    let mut closed = 0;
    for be in &old.backends {
        for s in &be.servers {
            let Some(reg) = registry(s) else {
                continue;
            };
            let kept = new.backends.iter().any(|nb| {
                nb.servers
                    .iter()
                    .any(|ns| registry(ns).is_some_and(|n| n.same_registry(reg)))
            });
            if !kept {
                closed += reg.close_all();
            }
        }
    }
    closed
}

/// Everything that decides which origins may register tunnels for server
/// `backend/server`: each registration frontend with an `attach-srv` rule
/// for it (its binds' TLS settings and CA file contents, its session
/// rules), as text to compare. Conservative: any change (even a rule
/// merely moved) counts.
fn registration_rules(config: &Config, backend: &str, server: &str) -> Vec<String> {
    let target = config.backends.iter().enumerate().find_map(|(bi, b)| {
        (b.name == backend)
            .then(|| {
                b.servers
                    .iter()
                    .position(|s| s.name == server)
                    .map(|si| (bi, si))
            })
            .flatten()
    });
    let Some((bi, si)) = target else {
        return Vec::new();
    };
    config
        .frontends
        .iter()
        .filter(|f| {
            f.tcp_request_session.iter().any(|r| {
                matches!(&r.action, gwd_config::SessionAction::AttachSrv(a) if a.server == Some(ServerAt::new(bi, si)))
            })
        })
        .map(|f| {
            let tls: Vec<String> = f
                .binds
                .iter()
                .map(|b| match &b.tls {
                    None => "clear".to_owned(),
                    Some(t) => format!(
                        "{:?} {:?} {:?}",
                        t.verify,
                        t.ca,
                        t.ca.as_ref().and_then(|p| std::fs::read(p).ok())
                    ),
                })
                .collect();
            format!("{} {tls:?} {:?}", f.name, session_rules_by_name(config, f))
        })
        .collect()
}

/// A frontend's session rules as text, each `attach-srv` target written
/// as `<backend>/<server>` rather than as positions: a reload that only
/// adds or moves a backend changes the positions, not the rules.
fn session_rules_by_name(config: &Config, f: &gwd_config::Frontend) -> Vec<String> {
    f.tcp_request_session
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let target = match &mut r.action {
                gwd_config::SessionAction::AttachSrv(a) => a.server.take().and_then(|at| {
                    let b = config.backends.get(at.backend.index())?;
                    let s = b.servers.get(at.server.index())?;
                    Some(format!("{}/{}", b.name, s.name))
                }),
                _ => None,
            };
            format!("{r:?} -> {target:?}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(previous: Option<&Proxy>, rule_extra: &str) -> Proxy {
        proxy_with(previous, rule_extra, "")
    }

    /// `backends_before`: TOML for backends written before the others.
    fn proxy_with(previous: Option<&Proxy>, rule_extra: &str, backends_before: &str) -> Proxy {
        let cfg = gwd_config::parse_str(
            &format!(
                "[frontend.f]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\ndefault_backend = \"b\"\n\
                 [frontend.reg]\nbind = [ {{ addr = \"127.0.0.1:0\", proto = \"h2\" }} ]\n\
                 tcp-request.session = [ {{ action = \"attach-srv\", server = \"t/o\"{rule_extra} }} ]\n\
                 {backends_before}\
                 [backend.b]\nserver = [ {{ name = \"a\", addr = \"127.0.0.1:1\" }} ]\n\
                 [backend.t]\nserver = [ {{ name = \"o\", addr = \"rhttp@\" }} ]\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .expect("a valid test config");
        let config = Arc::new(cfg);
        match previous {
            None => Proxy::with_named(config, &TunnelRegistries),
            Some(p) => Proxy::succeed_with(config, p, &TunnelRegistries),
        }
        .expect("buildable")
    }

    #[test]
    fn rhttp_servers_get_registries_kept_while_their_rules_stay() {
        let old = proxy(None, "");
        assert!(registry(&old.backends[0].servers[0]).is_none());
        let ot = registry(&old.backends[1].servers[0]).expect("an rhttp@ server");
        let new = proxy(Some(&old), "");
        let nt = registry(&new.backends[1].servers[0]).expect("an rhttp@ server");
        assert!(ot.same_registry(nt), "the tunnels stay registered");
        // Other registration rules: the tunnels they admitted are revoked.
        let narrowed = proxy(Some(&new), ", if = \"LOCALHOST\"");
        let rt = registry(&narrowed.backends[1].servers[0]).expect("an rhttp@ server");
        assert!(!nt.same_registry(rt));
    }

    /// A backend added before the `rhttp@` one moves its position, not
    /// its rules: the tunnels stay (they were all closed).
    #[test]
    fn a_backend_added_earlier_in_the_file_keeps_the_tunnels() {
        let old = proxy(None, "");
        let ot = registry(&old.backends[1].servers[0]).expect("an rhttp@ server");
        let new = proxy_with(
            Some(&old),
            "",
            "[backend.aaa]\nserver = [ { name = \"x\", addr = \"127.0.0.1:2\" } ]\n",
        );
        let nt = registry(&new.backends[2].servers[0]).expect("the rhttp@ server, moved");
        assert!(ot.same_registry(nt), "the tunnels stay registered");
    }
}
