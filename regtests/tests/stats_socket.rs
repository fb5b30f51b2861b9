//! `show stat` and `show info` on the runtime API of a running gwd: known
//! traffic (5 requests answered 200 by a server, 2 answered 503 because the
//! other backend's server refuses connections) read back from the CSV.

use std::time::{Duration, Instant};

use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::Client;
use gwd_regtests::runtime_api::{cli_tcp, stats_addr};
use gwd_regtests::{Gwd, WAIT};

/// `show stat` as (pxname, svname) -> column name -> value.
struct Stat {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Stat {
    fn parse(out: &str) -> Stat {
        let mut lines = out.lines();
        let header = lines
            .next()
            .and_then(|h| h.strip_prefix("# "))
            .unwrap_or_else(|| panic!("no header: {out}"));
        let header: Vec<String> = header
            .trim_end_matches(',')
            .split(',')
            .map(String::from)
            .collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.trim_end_matches(',')
                    .split(',')
                    .map(String::from)
                    .collect()
            })
            .collect();
        Stat { header, rows }
    }
    fn names(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|r| format!("{}/{}", r[0], r[1]))
            .collect()
    }
    fn get(&self, px: &str, sv: &str, col: &str) -> String {
        let i = self.header.iter().position(|h| h == col).unwrap();
        let r = self
            .rows
            .iter()
            .find(|r| r[0] == px && r[1] == sv)
            .unwrap_or_else(|| panic!("no row {px}/{sv}"));
        r.get(i).cloned().unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn show_stat_and_info_count_known_traffic() {
    let origin = Backend::start("origin", Proto::H1).await;
    // A port nothing listens on: connecting fails, the request gets 503.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let gwd = Gwd::start(&format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "user" }} ]

[defaults]
timeout.connect = "2s"
timeout.server = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
use_backend = [ {{ backend = "down", if = "{{ path_beg /down }}" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{origin}" }} ]

[backend.down]
server = [ {{ name = "d1", addr = "{dead_addr}" }} ]
"#,
        origin = origin.addr,
    ));
    let admin = stats_addr(&gwd, "user");
    let started = Instant::now();

    // Before any traffic: every row, in HAProxy's order, all zero.
    let st = Stat::parse(&cli_tcp(&admin, "show stat"));
    assert_eq!(
        st.names(),
        [
            "www/FRONTEND",
            "app/s1",
            "app/BACKEND",
            "down/d1",
            "down/BACKEND"
        ]
    );
    assert_eq!(&st.header[..3], ["pxname", "svname", "qcur"]);
    assert_eq!(st.get("www", "FRONTEND", "req_tot"), "0");
    assert_eq!(st.get("www", "FRONTEND", "status"), "OPEN");
    assert_eq!(st.get("app", "s1", "status"), "no check");
    assert_eq!(st.get("app", "BACKEND", "status"), "UP");
    assert_eq!(
        (st.get("down", "d1", "iid"), st.get("down", "d1", "sid")),
        ("2".into(), "1".into())
    );

    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for i in 0..5 {
        let (status, _, body) = c.get("x", &format!("/ok/{i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..2 {
        let mut c = Client::h1(gwd.addr("www", 0)).await;
        let (status, _, _) = c.get("x", "/down").await;
        assert_eq!(status, 503);
    }
    drop(c);

    // Counters are final once the last response is logged; poll briefly
    // rather than sleep for a fixed time.
    let deadline = Instant::now() + WAIT;
    let st = loop {
        let st = Stat::parse(&cli_tcp(&admin, "show stat"));
        let settled = st.get("www", "FRONTEND", "hrsp_5xx") == "2"
            && st.get("www", "FRONTEND", "scur") == "0"
            && st.get("down", "BACKEND", "hrsp_5xx") == "2";
        if settled || Instant::now() > deadline {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let row = |px: &str, sv: &str| {
        ["req_tot", "hrsp_2xx", "hrsp_5xx", "stot", "scur", "type"].map(|c| st.get(px, sv, c))
    };
    // Frontend: 7 requests on 3 client connections.
    assert_eq!(row("www", "FRONTEND"), ["7", "5", "2", "3", "0", "0"]);
    assert_eq!(st.get("www", "FRONTEND", "conn_tot"), "3");
    // The live backend and its server saw the 5 good ones.
    assert_eq!(row("app", "BACKEND")[..3], ["5", "5", "0"]);
    assert_eq!(row("app", "BACKEND")[5], "1");
    assert_eq!(row("app", "s1")[..3], ["5", "5", "0"]);
    assert_eq!(row("app", "s1")[5], "2");
    assert_eq!(st.get("app", "s1", "stot"), "5");
    // The dead one: 2 answered 503 by gwd, connection errors counted.
    assert_eq!(row("down", "BACKEND")[..3], ["2", "0", "2"]);
    assert_eq!(st.get("down", "d1", "hrsp_2xx"), "0");
    assert_ne!(st.get("down", "d1", "econ"), "0");
    assert!(st.get("www", "FRONTEND", "bout").parse::<u64>().unwrap() > 0);

    // Rates over the last second and timing averages: the traffic above
    // took well under two seconds, so the sliding windows still hold it.
    let num = |px: &str, sv: &str, col: &str| -> u64 {
        let v = st.get(px, sv, col);
        v.parse()
            .unwrap_or_else(|_| panic!("{px}/{sv} {col} = {v:?}"))
    };
    assert!(num("www", "FRONTEND", "req_rate_max") >= 1);
    assert!(num("www", "FRONTEND", "req_rate_max") <= 7);
    assert!(num("www", "FRONTEND", "conn_rate_max") >= 1);
    assert!(num("app", "BACKEND", "rate_max") >= 1);
    assert!(num("app", "s1", "rate_max") >= 1);
    // Averages exist for the backend that answered (values are ms, so a
    // loopback server may well average 0).
    assert!(num("app", "BACKEND", "ttime") <= num("app", "BACKEND", "ttime_max"));
    assert!(num("app", "s1", "rtime") <= num("app", "s1", "rtime_max"));
    assert!(num("app", "s1", "lastsess") <= started.elapsed().as_secs() + 1);
    // Frontend rows carry no timing columns, as in HAProxy.
    assert_eq!(st.get("www", "FRONTEND", "ttime"), "");

    // A filtered dump: servers of proxy id 1 (backend `app`).
    let only = Stat::parse(&cli_tcp(&admin, "show stat app 4 -1"));
    assert_eq!(only.names(), ["app/s1"]);

    let info = cli_tcp(&admin, "show info");
    let field = |k: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap_or_else(|| panic!("no {k} in {info}"))
            .to_string()
    };
    assert_eq!(field("Name"), "gwd");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Pid"), gwd.pid().to_string());
    assert_eq!(field("CumReq"), "7");
    assert_eq!(field("CumConns"), "3");
    assert_eq!(field("CurrConns"), "0");
    let up: u64 = field("Uptime_sec").parse().unwrap();
    assert!(up <= started.elapsed().as_secs() + 1, "{info}");
    assert!(field("Nbthread").parse::<usize>().unwrap() >= 1);
    // Process-wide rates and memory, after HAProxy's fields.
    let n = |k: &str| field(k).parse::<u64>().unwrap();
    assert!(n("MaxConnRate") >= 1 && n("MaxConnRate") <= 3, "{info}");
    assert!(n("MaxConn_seen") >= 1, "{info}");
    assert!(n("Rss_bytes") > 1 << 20, "{info}");
    assert!(info.ends_with("\n\n"), "{info:?}");
}
