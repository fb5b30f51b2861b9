//! QUIC binds go through the QUIC gate: an error per bind by default, warnings
//! (and the bind kept, for the proxy to skip) under `limited-quic`.

mod common;

use common::{err, ok, parse, warnings};
use gwd_config::{BindAddr, Severity};

const BINDS: &str = r#"[frontend.www]
bind = [
  { addr = "127.0.0.1:8080" },
  { addr = "quic4@:443" },
  { addr = "quic6@[::]:443", allow-0rtt = true },
]
"#;

#[test]
fn quic_binds_are_errors_by_default() {
    // This build has no QUIC (the gate's `quic` feature is off).
    assert!(!gwd_quic_gate::Capabilities::of_this_build().quic);
    assert_eq!(
        err(BINDS),
        "error: bind `quic4@:443`: this build of gwd cannot serve QUIC
  --> gw.toml:4:12 (frontend.www.bind[1].addr)
  help: set `limited-quic = true` in `[global]` to start without QUIC binds, or remove this bind

error: bind `quic6@[::]:443`: this build of gwd cannot serve QUIC
  --> gw.toml:5:12 (frontend.www.bind[2].addr)
  help: set `limited-quic = true` in `[global]` to start without QUIC binds, or remove this bind"
    );
    let e = parse(BINDS).unwrap_err();
    assert_eq!(e.error_count(), 2);
    assert!(
        e.errors()
            .all(|d| d.help.as_deref().unwrap().contains("limited-quic = true"))
    );
}

#[test]
fn limited_quic_turns_them_into_warnings() {
    let text = format!("[global]\nlimited-quic = true\n\n{BINDS}");
    assert_eq!(
        warnings(&text),
        "warning: bind `quic4@:443`: this build of gwd cannot serve QUIC; starting without this bind (limited-quic)
  --> gw.toml:7:12 (frontend.www.bind[1].addr)
  help: remove this bind to silence this warning

warning: bind `quic6@[::]:443`: this build of gwd cannot serve QUIC; starting without this bind (limited-quic)
  --> gw.toml:8:12 (frontend.www.bind[2].addr)
  help: remove this bind to silence this warning

warning: bind `quic6@[::]:443`: `allow-0rtt` is ignored: 0-RTT cannot be used while QUIC binds are skipped (limited-quic)
  --> gw.toml:8:30 (frontend.www.bind[2].allow-0rtt)"
    );
    let c = ok(&text);
    assert!(c.warnings.iter().all(|w| w.severity == Severity::Warning));
    let addrs: Vec<BindAddr> = c.frontends[0].binds.iter().map(|b| b.addr).collect();
    assert_eq!(
        addrs,
        [
            BindAddr::Tcp("127.0.0.1:8080".parse().unwrap()),
            BindAddr::Quic("0.0.0.0:443".parse().unwrap()),
            BindAddr::Quic("[::]:443".parse().unwrap()),
        ]
    );
}

#[test]
fn quic_errors_come_with_the_other_errors() {
    let text = format!("{BINDS}default_backend = \"nope\"\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.error_count(), 3);
    assert!(e.diagnostics[2].message.starts_with("unknown backend"));
}

#[test]
fn allow_0rtt_is_for_quic_binds_only() {
    assert_eq!(
        err("[frontend.f]\nbind = [ { addr = \":80\", allow-0rtt = true } ]\n"),
        "error: `allow-0rtt` only applies to QUIC binds
  --> gw.toml:2:26 (frontend.f.bind[0].allow-0rtt)
  help: remove it: 0-RTT is not supported on TCP binds"
    );
    // `false` is harmless anywhere.
    ok("[frontend.f]\nbind = [ { addr = \":80\", allow-0rtt = false } ]\n");
}
