//! Rough evaluation cost of typical conditions and formats.
//!
//! `cargo run --release -p gwd-sample --example eval_bench`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use gwd_sample::{Acls, Condition, LogFormat, RenderMode, SampleContext};

struct Req {
    headers: Vec<(&'static str, &'static str)>,
    src: SocketAddr,
}

impl SampleContext for Req {
    fn method(&self) -> Option<&str> {
        Some("GET")
    }
    fn url(&self) -> Option<&str> {
        Some("/api/v1/users/42?expand=1")
    }
    fn path(&self) -> Option<&str> {
        Some("/api/v1/users/42")
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
            .collect()
    }
    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }
}

fn time(label: &str, n: u32, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    let mut hits = 0u32;
    for _ in 0..n {
        hits += u32::from(black_box(f()));
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    println!("{label:<60} {ns:>8.1} ns/eval  (true {hits}/{n})");
}

fn main() {
    let req = Req {
        headers: vec![
            ("host", "API.example.com:443"),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64)"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.7"),
            ("accept", "application/json"),
        ],
        src: "192.0.2.10:51000".parse().unwrap(),
    };
    let mut acls = Acls::new();
    acls.define("is_api", "path_beg /api/").unwrap();
    acls.define("host_api", "req.hdr(host),field(1,:) -i api.example.com")
        .unwrap();
    acls.define("internal", "src 10.0.0.0/8 192.168.0.0/16 172.16.0.0/12")
        .unwrap();
    acls.define("bot", "hdr_sub(user-agent) -i bot crawler spider")
        .unwrap();
    acls.define("img", r"path_reg -i \.(png|jpe?g|gif|webp)$")
        .unwrap();
    let n = 1_000_000;
    time("baseline: ctx.header_values(\"host\") alone", n, || {
        !req.header_values("host").is_empty()
    });
    for c in [
        "is_api",
        "host_api",
        "internal",
        "bot",
        "img",
        "is_api host_api !internal || img",
        "{ hdr_ip(x-forwarded-for) 10.0.0.0/8 }",
        "METH_GET { path_end /42 }",
    ] {
        let cond = Condition::parse(c, &acls).unwrap();
        time(c, n, || cond.eval(&req));
    }
    let lf = LogFormat::parse("%ci:%cp %HM %[path] host=%[req.hdr(host),lower]").unwrap();
    let mut buf = String::new();
    time("log-format render_into (5 fields)", n, || {
        buf.clear();
        lf.render_into(&req, RenderMode::Log, &mut buf);
        !buf.is_empty()
    });
}
