//! Statistics outputs from one known registry: `show stat` in its three
//! formats, `show servers conn`, `show tunnels`, the Prometheus text
//! (parsed with a real text-format parser) and the HTML page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gwd_admin::{
    Cli, Histogram, MapSize, PageOptions, PoolRow, ProcessInfo, ProcessResources, PromExtra,
    RatesSnapshot, RowRates, STAT_FIELDS, StatExtra, StatFilter, StatFormat, StatsHub,
    TunnelNameStats, TunnelRow, TunnelTotals, render_prometheus, render_stat, render_stats_page,
};
use gwd_config::{AdminLevel, MapRegistry, MapUse};
use gwd_maps::{MatchKind, MatchSpec};
use gwd_stats::{Label, Registry, RegistrySnapshot};
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};

/// A frontend `www`, a backend `app` (servers `s1`, `s2`), a backend
/// `rev` with one `rhttp@` server `edge`, and a backend with an awkward
/// name. Traffic with distinct counts so a mix-up shows.
fn registry() -> (Registry, gwd_stats::ProxyGuard) {
    let mut reg = Registry::new();
    let fe = reg.add_frontend("www");
    let (b0, app) = reg.add_backend(Label::new("app", 2));
    let s1 = reg.add_server(b0, "s1").unwrap();
    let s2 = reg.add_server(b0, "s2").unwrap();
    let (b1, rev) = reg.add_backend(Label::new("rev", 3));
    let edge = reg.add_server(b1, Label::from("edge").reverse()).unwrap();
    let (b2, _) = reg.add_backend(Label::new("we\"ird\\name\nx", 4));
    reg.add_server(b2, "<s&>").unwrap();
    let c1 = fe.conn_opened_at(Instant::now());
    // Kept open by the caller for the whole test.
    let held = fe.conn_opened_at(Instant::now());
    drop(c1);
    for i in 0..7 {
        fe.request_at(Instant::now());
        fe.response(if i < 5 { 200 } else { 404 });
        app.request_at(Instant::now());
        app.response(200);
        s1.request_at(Instant::now());
        s1.response(200);
    }
    fe.request_at(Instant::now());
    fe.response(503);
    fe.denied();
    fe.denied();
    fe.request_error();
    fe.failed_rewrite();
    fe.bytes_in(1234);
    fe.bytes_out(98765);
    app.bytes_in(4321);
    s2.connect_attempt();
    s2.connection_error();
    s1.connect_attempt();
    s1.reused();
    s1.reused();
    rev.request_at(Instant::now());
    edge.request_at(Instant::now());
    edge.response(302);
    (reg, held)
}

fn pools() -> Vec<PoolRow> {
    vec![
        PoolRow {
            backend: "app".into(),
            server: "s1".into(),
            backend_id: 2,
            server_id: 1,
            addr: "10.0.0.1".into(),
            port: 8080,
            purge_delay_ms: 5000,
            used_cur: 3,
            used_max: 6,
            need_est: 5,
            idle: 2,
            safe: 4,
            idle_limit: Some(100),
        },
        PoolRow {
            backend: "app".into(),
            server: "s2".into(),
            backend_id: 2,
            server_id: 2,
            addr: "2001:db8::2".into(),
            port: 80,
            purge_delay_ms: 5000,
            used_cur: 0,
            used_max: 1,
            need_est: 1,
            idle: 1,
            safe: 0,
            idle_limit: None,
        },
    ]
}

fn tunnels() -> Vec<TunnelRow> {
    let t = |name: &str, id, streams| TunnelRow {
        name: name.into(),
        id,
        backend: "rev".into(),
        server: "edge".into(),
        active_streams: streams,
        stream_limit: 100,
        age: Duration::from_secs(90 + id),
        last_ping_rtt: Some(Duration::from_micros(2500)),
        origin: format!("192.0.2.{id}:4000{id}"),
    };
    vec![
        t("api.example", 11, 3),
        t("api.example", 12, 4),
        t("x\"y", 13, 0),
    ]
}

fn info(t0: Instant) -> ProcessInfo {
    let mut i = ProcessInfo::current("gwd", "1.2.3", 4, t0);
    i.pid = 4242;
    i
}

fn maps() -> MapRegistry {
    let mut reg = MapRegistry::new();
    reg.resolve_with(
        "hosts.map",
        MapUse::Converter,
        MatchSpec::new(MatchKind::Str),
        "map at file 'gw.toml' line 3",
        |m| {
            m.load_map_str("hosts.map", b"a x\nb y\nc z\n")
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .unwrap();
    reg
}

fn cli(reg: Arc<Registry>, t0: Instant) -> Cli {
    let r = Arc::clone(&reg);
    let maps = maps();
    let hub = StatsHub::new(move || r.snapshot(), info(t0))
        .with_resources(|| ProcessResources {
            resident_memory_bytes: Some(64 << 20),
            cpu_seconds: Some(0.5),
            open_fds: Some(12),
        })
        .with_maps(maps.clone())
        .with_pools(pools)
        .with_tunnels(tunnels)
        .with_tunnel_totals(|| TunnelTotals {
            dials: 9,
            dial_failures: 2,
            reversals: 7,
            ping_timeouts: 1,
            errors: 3,
            reversal_seconds: Some(
                Histogram::new(vec![0.005, 0.05, 0.5], vec![1, 5, 7], 0.875, 7).unwrap(),
            ),
            tunnels_up: 4,
        });
    Cli::new(maps).with_stats(hub)
}

/// The statistics hub of a `Cli` made by [`cli`].
fn hub(cli: &Cli) -> &StatsHub {
    cli.stats().expect("cli() gives a statistics hub")
}

fn user(cli: &Cli, line: &str) -> String {
    let mut s = cli.session(AdminLevel::User);
    let out = s.feed_line(line);
    assert!(s.is_closed());
    out
}

// ---------------------------------------------------------------- show stat

/// CSV, typed and JSON say the same thing, cell for cell.
#[test]
fn csv_typed_and_json_agree() {
    let (reg, _conn) = registry();
    let snap = reg.snapshot();
    let extra = StatExtra {
        rates: None,
        pools: pools(),
        tunnels: Some(tunnels()),
        servers: None,
    };
    let f = StatFilter::default();
    let csv = render_stat(&snap, &f, &extra, StatFormat::Csv);
    let typed = render_stat(&snap, &f, &extra, StatFormat::Typed);
    let json = render_stat(&snap, &f, &extra, StatFormat::Json);

    // CSV cells by (row letter, iid, sid, pos). Names with a comma or
    // quote are CSV-quoted, so split with a tiny CSV reader.
    let mut from_csv = std::collections::BTreeMap::new();
    let mut rows = 0;
    for line in split_csv_records(&csv).iter().skip(1) {
        rows += 1;
        assert_eq!(line.len(), STAT_FIELDS.len() + 1, "{line:?}");
        let letter = match line[32].as_str() {
            "0" => 'F',
            "1" => 'B',
            _ => 'S',
        };
        let key = |pos: usize| (letter, line[27].clone(), line[28].clone(), pos);
        for (pos, v) in line.iter().take(STAT_FIELDS.len()).enumerate() {
            if !v.is_empty() {
                from_csv.insert(key(pos), v.clone());
            }
        }
    }
    assert_eq!(rows, 8);

    let mut from_typed = std::collections::BTreeMap::new();
    for l in typed.lines() {
        // F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>
        let (head, rest) = l.split_once(':').unwrap();
        let (tags, rest) = rest.split_once(':').unwrap();
        let (ty, value) = rest.split_once(':').unwrap();
        let parts: Vec<&str> = head.split('.').collect();
        assert_eq!(parts.len(), 6, "{l}");
        let pos: usize = parts[3].parse().unwrap();
        assert_eq!(parts[4], STAT_FIELDS[pos]);
        assert_eq!(parts[5], "1");
        assert_eq!(tags.len(), 3);
        assert!(["u32", "u64", "s32", "str"].contains(&ty), "{l}");
        let letter = parts[0].chars().next().unwrap();
        from_typed.insert(
            (letter, parts[1].to_string(), parts[2].to_string(), pos),
            value.to_string(),
        );
    }

    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut from_json = std::collections::BTreeMap::new();
    for row in parsed.as_array().unwrap() {
        for field in row.as_array().unwrap() {
            let letter = match field["objType"].as_str().unwrap() {
                "Frontend" => 'F',
                "Backend" => 'B',
                "Server" => 'S',
                o => panic!("{o}"),
            };
            let pos = field["field"]["pos"].as_u64().unwrap() as usize;
            assert_eq!(field["field"]["name"], STAT_FIELDS[pos]);
            assert_eq!(field["processNum"], 1);
            for t in ["origin", "nature", "scope"] {
                assert!(field["tags"][t].is_string());
            }
            let v = &field["value"]["value"];
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                n => n.to_string(),
            };
            from_json.insert(
                (
                    letter,
                    field["proxyId"].to_string(),
                    field["id"].to_string(),
                    pos,
                ),
                text,
            );
        }
    }
    // The awkward backend name is the only value whose text differs:
    // typed output writes its line break as a blank, so compare the other
    // cells.
    let weird = |m: &std::collections::BTreeMap<(char, String, String, usize), String>| {
        m.iter()
            .filter(|(k, _)| k.1 != "4" || k.3 != 0)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(weird(&from_csv), weird(&from_json));
    assert_eq!(from_csv.len(), from_json.len());
    assert_eq!(
        from_json[&('B', "4".into(), "0".into(), 0)],
        "we\"ird\\name\nx"
    );
    assert_eq!(
        from_typed[&('B', "4".into(), "0".into(), 0)],
        "we\"ird\\name x"
    );
    let typed_keys: Vec<_> = from_typed.keys().collect();
    let json_keys: Vec<_> = from_json.keys().collect();
    assert_eq!(typed_keys, json_keys);
    for (k, v) in &from_typed {
        if k.1 != "4" || k.3 != 0 {
            assert_eq!(v, &from_json[k], "{k:?}");
        }
    }
    // Known values, to be sure the agreement is not on emptiness.
    assert_eq!(from_json[&('F', "1".into(), "0".into(), 48)], "8"); // req_tot
    assert_eq!(from_json[&('F', "1".into(), "0".into(), 10)], "2"); // dreq
    assert_eq!(from_json[&('S', "2".into(), "1".into(), 85)], "2"); // reuse
    assert_eq!(from_json[&('S', "2".into(), "2".into(), 96)], "0"); // safe_conn_cur
    assert_eq!(from_json[&('S', "2".into(), "1".into(), 88)], "6"); // srv_icur
    assert_eq!(
        from_json[&('S', "2".into(), "2".into(), 73)],
        "[2001:db8::2]:80"
    );
    assert_eq!(from_json[&('S', "3".into(), "1".into(), 17)], "UP");
    assert_eq!(from_json[&('S', "4".into(), "1".into(), 1)], "<s&>");
}

/// A minimal CSV reader (RFC 4180 quoting) for the checks above.
fn split_csv_records(s: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => rec.push(std::mem::take(&mut field)),
            (false, '\n') => {
                rec.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut rec));
            }
            (false, c) => field.push(c),
        }
    }
    out
}

#[test]
fn show_stat_formats_through_the_cli() {
    let (reg, _conn) = registry();
    let t0 = Instant::now();
    let cli = cli(Arc::new(reg), t0);
    let json = user(&cli, "show stat json");
    let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 8);
    let typed = user(&cli, "show stat app 4 -1 typed");
    assert!(
        typed
            .lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("S.2.")),
        "{typed}"
    );
    assert!(
        typed.contains("S.2.1.95.idle_conn_cur.1:MGP:u32:2\n"),
        "{typed}"
    );
    assert!(!typed.contains("S.2.2.89.src_ilim"), "no limit, no field");
    assert!(
        typed.contains("S.2.1.89.src_ilim.1:CLP:u32:100\n"),
        "{typed}"
    );
    assert!(typed.ends_with("\n\n"));
    // Without typed/json: CSV, with pool columns filled.
    let csv = user(&cli, "show stat 2 4 1");
    let row = csv.lines().nth(1).unwrap();
    let cols: Vec<&str> = row.split(',').collect();
    let col = |n: &str| cols[STAT_FIELDS.iter().position(|f| *f == n).unwrap()];
    assert_eq!(
        (
            col("idle_conn_cur"),
            col("safe_conn_cur"),
            col("used_conn_cur"),
            col("need_conn_est")
        ),
        ("2", "4", "3", "5")
    );
    assert_eq!(
        (col("srv_icur"), col("src_ilim"), col("addr")),
        ("6", "100", "10.0.0.1:8080")
    );
    // The rhttp@ server follows its tunnels.
    let rev = user(&cli, "show stat rev -1 -1");
    assert!(rev.contains("\nrev,edge,"), "{rev}");
    assert!(rev.contains(",UP,"), "{rev}");
}

#[test]
fn rhttp_server_states_follow_tunnels() {
    let (reg, _conn) = registry();
    let snap = reg.snapshot();
    let status = |extra: &StatExtra, px: &str, sv: &str| {
        let csv = render_stat(&snap, &StatFilter::default(), extra, StatFormat::Csv);
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{px},{sv},")))
            .unwrap()
            .to_string();
        line.split(',').nth(17).unwrap().to_string()
    };
    let none = StatExtra::default();
    assert_eq!(status(&none, "rev", "edge"), "no check");
    assert_eq!(status(&none, "rev", "BACKEND"), "UP");
    let empty = StatExtra {
        tunnels: Some(vec![]),
        ..StatExtra::default()
    };
    assert_eq!(status(&empty, "rev", "edge"), "no tunnel");
    assert_eq!(status(&empty, "rev", "BACKEND"), "DOWN");
    assert_eq!(status(&empty, "app", "s1"), "no check", "ordinary servers");
    assert_eq!(status(&empty, "app", "BACKEND"), "UP");
    let up = StatExtra {
        tunnels: Some(tunnels()),
        ..StatExtra::default()
    };
    assert_eq!(status(&up, "rev", "edge"), "UP");
    assert_eq!(status(&up, "rev", "BACKEND"), "UP");
}

#[test]
fn rates_fill_their_columns() {
    let (reg, _conn) = registry();
    let fe = RowRates {
        rate: Some(3),
        rate_max: Some(9),
        req_rate: Some(4),
        req_rate_max: Some(10),
        conn_rate: Some(2),
        conn_rate_max: Some(8),
        ..RowRates::default()
    };
    let sv = RowRates {
        rate: Some(1),
        rate_max: Some(5),
        qtime_ms: Some(0),
        ctime_ms: Some(2),
        rtime_ms: Some(15),
        ttime_ms: Some(40),
        qtime_max_ms: Some(1),
        ctime_max_ms: Some(7),
        rtime_max_ms: Some(99),
        ttime_max_ms: Some(300),
        lastsess_s: Some(12),
        ..RowRates::default()
    };
    let extra = StatExtra {
        rates: Some(RatesSnapshot {
            frontends: vec![fe],
            backends: vec![],
            servers: vec![vec![sv]],
        }),
        ..StatExtra::default()
    };
    let csv = render_stat(
        &reg.snapshot(),
        &StatFilter::default(),
        &extra,
        StatFormat::Csv,
    );
    let lines: Vec<&str> = csv.lines().collect();
    let col = |l: &str, n: &str| {
        l.split(',')
            .nth(STAT_FIELDS.iter().position(|f| *f == n).unwrap())
            .unwrap()
            .to_string()
    };
    let f = lines[1];
    let got: Vec<String> = [
        "rate",
        "rate_max",
        "req_rate",
        "req_rate_max",
        "conn_rate",
        "conn_rate_max",
    ]
    .iter()
    .map(|n| col(f, n))
    .collect();
    assert_eq!(got, ["3", "9", "4", "10", "2", "8"]);
    let s1 = lines.iter().find(|l| l.starts_with("app,s1,")).unwrap();
    let got: Vec<String> = [
        "rate",
        "rate_max",
        "qtime",
        "ctime",
        "rtime",
        "ttime",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
        "lastsess",
    ]
    .iter()
    .map(|n| col(s1, n))
    .collect();
    assert_eq!(
        got,
        ["1", "5", "0", "2", "15", "40", "1", "7", "99", "300", "12"]
    );
    // Rows without rates keep the columns empty.
    let s2 = lines.iter().find(|l| l.starts_with("app,s2,")).unwrap();
    assert_eq!(
        (col(s2, "rate"), col(s2, "rtime")),
        (String::new(), String::new())
    );
    let be = lines
        .iter()
        .find(|l| l.starts_with("app,BACKEND,"))
        .unwrap();
    assert_eq!(col(be, "rate"), "");
}

// ------------------------------------------------- servers conn and tunnels

#[test]
fn show_servers_conn_and_tunnels() {
    let (reg, _conn) = registry();
    let cli = cli(Arc::new(reg), Instant::now());
    let out = user(&cli, "show servers conn");
    assert_eq!(
        out,
        "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]\n\
         app/s1 2/1 10.0.0.1 8080 - 5000 3 6 5 2 4 100 6 6\n\
         app/s2 2/2 2001:db8::2 80 - 5000 0 1 1 1 0 -1 1 1\n\n"
    );
    // Line counts include the empty line that ends every answer.
    assert_eq!(user(&cli, "show servers conn app").lines().count(), 4);
    // A backend without pooled servers is known but empty.
    assert_eq!(user(&cli, "show servers conn rev").lines().count(), 2);
    assert_eq!(
        user(&cli, "show servers conn nope"),
        "Can't find backend.\n\n"
    );

    let out = user(&cli, "show tunnels");
    assert_eq!(
        out,
        "# name id active_streams stream_limit age_s ping_rtt_ms origin server\n\
         api.example 11 3 100 101 2.500 192.0.2.11:400011 rev/edge\n\
         api.example 12 4 100 102 2.500 192.0.2.12:400012 rev/edge\n\
         x\"y 13 0 100 103 2.500 192.0.2.13:400013 rev/edge\n\n"
    );
    assert_eq!(user(&cli, "show tunnels API.example").lines().count(), 4);
    assert_eq!(user(&cli, "show tunnels other").lines().count(), 2);

    let help = user(&cli, "help");
    assert!(help.contains("  show servers conn [<backend>]"), "{help}");
    assert!(help.contains("  show tunnels [<name>]"), "{help}");
    assert!(
        help.contains("  show stat [<iid|px> <type> <sid>] [typed|json]"),
        "{help}"
    );

    let bare = Cli::new(MapRegistry::new());
    assert_eq!(
        user(&bare, "show servers conn"),
        "No connection pool information available.\n\n"
    );
    assert_eq!(
        user(&bare, "show tunnels"),
        "No tunnel information available.\n\n"
    );
    assert_eq!(user(&bare, "show stat json"), "[]\n\n");
    assert_eq!(user(&bare, "show stat typed"), "\n");
    assert!(user(&bare, "show servers").starts_with("Unknown command: 'show servers'"));
}

// --------------------------------------------------------------- Prometheus

type Expo = MetricsExposition<PrometheusType, PrometheusValue>;

fn parse(text: &str) -> Expo {
    openmetrics_parser::prometheus::parse_prometheus(text)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// The value of the sample of `family` whose labels are exactly `labels`.
fn value(expo: &Expo, family: &str, labels: &[(&str, &str)]) -> f64 {
    let fam = expo
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    let mut found = None;
    for s in fam.iter_samples() {
        let ls = s.get_labelset().unwrap();
        if ls.iter().count() == labels.len()
            && labels.iter().all(|(k, v)| ls.get_label_value(k) == Some(v))
        {
            assert!(found.is_none(), "two samples {family}{labels:?}");
            found = Some(match &s.value {
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                v => panic!("{family}: {v:?}"),
            });
        }
    }
    found.unwrap_or_else(|| panic!("no sample {family}{labels:?}"))
}

fn kind(expo: &Expo, family: &str) -> PrometheusType {
    expo.families[family].family_type.clone()
}

fn prom_extra() -> PromExtra {
    let t = tunnels();
    PromExtra {
        tunnel_names: TunnelNameStats::from_rows(&t),
        stat: StatExtra {
            rates: None,
            pools: pools(),
            tunnels: Some(t),
            servers: None,
        },
        tunnel_totals: Some(TunnelTotals {
            dials: 9,
            dial_failures: 2,
            reversals: 7,
            ping_timeouts: 1,
            errors: 3,
            reversal_seconds: Some(
                Histogram::new(vec![0.005, 0.05, 0.5], vec![1, 5, 7], 0.875, 7).unwrap(),
            ),
            tunnels_up: 4,
        }),
        maps: vec![
            MapSize {
                map: "hosts.map".into(),
                entries: 3,
            },
            MapSize {
                map: "C:\\maps\\\"odd\".map".into(),
                entries: 0,
            },
        ],
        process: ProcessResources {
            resident_memory_bytes: Some(5 << 20),
            cpu_seconds: Some(12.34),
            open_fds: Some(7),
        },
    }
}

#[test]
fn prometheus_values_equal_the_snapshot() {
    let (reg, _conn) = registry();
    let snap: RegistrySnapshot = reg.snapshot();
    let t0 = Instant::now();
    let text = render_prometheus(
        &snap,
        &info(t0),
        &prom_extra(),
        t0 + Duration::from_secs(42),
    );
    let expo = parse(&text);

    // Every family has HELP and TYPE lines, once, before its samples.
    for name in expo.families.keys() {
        assert_eq!(
            text.matches(&format!("# HELP {name} ")).count(),
            1,
            "{name}"
        );
        assert_eq!(
            text.matches(&format!("# TYPE {name} ")).count(),
            1,
            "{name}"
        );
        // gwd's own families, and the process families named as
        // Prometheus client libraries name them.
        assert!(
            name.starts_with("gwd_") || name.starts_with("process_"),
            "{name}"
        );
    }
    // Counters end in _total, and only counters do.
    for (name, fam) in &expo.families {
        assert_eq!(
            fam.family_type == PrometheusType::Counter,
            name.ends_with("_total"),
            "{name}"
        );
    }

    let f = &snap.frontends[0].counters;
    let www = [("proxy", "www")];
    assert_eq!(
        value(&expo, "gwd_frontend_http_requests_total", &www),
        f.requests as f64
    );
    assert_eq!(value(&expo, "gwd_frontend_http_requests_total", &www), 8.0);
    assert_eq!(
        value(&expo, "gwd_frontend_requests_denied_total", &www),
        2.0
    );
    assert_eq!(value(&expo, "gwd_frontend_request_errors_total", &www), 1.0);
    assert_eq!(
        value(&expo, "gwd_frontend_failed_header_rewriting_total", &www),
        1.0
    );
    assert_eq!(value(&expo, "gwd_frontend_bytes_in_total", &www), 1234.0);
    assert_eq!(value(&expo, "gwd_frontend_bytes_out_total", &www), 98765.0);
    assert_eq!(value(&expo, "gwd_frontend_current_connections", &www), 1.0);
    assert_eq!(value(&expo, "gwd_frontend_max_connections", &www), 2.0);
    assert_eq!(value(&expo, "gwd_frontend_connections_total", &www), 2.0);
    assert_eq!(
        value(&expo, "gwd_frontend_current_sessions", &www),
        f.sessions.cur as f64
    );
    assert_eq!(
        value(&expo, "gwd_frontend_max_sessions", &www),
        f.sessions.max as f64
    );
    assert_eq!(
        value(&expo, "gwd_frontend_sessions_total", &www),
        f.sessions.total as f64
    );
    for (code, v) in [
        ("1xx", 0.0),
        ("2xx", 5.0),
        ("3xx", 0.0),
        ("4xx", 2.0),
        ("5xx", 1.0),
        ("other", 0.0),
    ] {
        assert_eq!(
            value(
                &expo,
                "gwd_frontend_http_responses_total",
                &[("proxy", "www"), ("code", code)]
            ),
            v,
            "{code}"
        );
    }
    assert_eq!(
        kind(&expo, "gwd_frontend_current_sessions"),
        PrometheusType::Gauge
    );
    assert_eq!(
        kind(&expo, "gwd_frontend_http_responses_total"),
        PrometheusType::Counter
    );

    let app = [("proxy", "app")];
    assert_eq!(value(&expo, "gwd_backend_http_requests_total", &app), 7.0);
    assert_eq!(value(&expo, "gwd_backend_bytes_in_total", &app), 4321.0);
    assert_eq!(
        value(&expo, "gwd_backend_connection_attempts_total", &app),
        2.0
    );
    assert_eq!(
        value(&expo, "gwd_backend_connection_reuses_total", &app),
        2.0
    );
    assert_eq!(value(&expo, "gwd_backend_active_servers", &app), 2.0);
    assert_eq!(
        value(
            &expo,
            "gwd_backend_status",
            &[("proxy", "app"), ("state", "UP")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &expo,
            "gwd_backend_status",
            &[("proxy", "app"), ("state", "DOWN")]
        ),
        0.0
    );

    let s1 = [("proxy", "app"), ("server", "s1")];
    let s2 = [("proxy", "app"), ("server", "s2")];
    assert_eq!(value(&expo, "gwd_server_http_requests_total", &s1), 7.0);
    assert_eq!(
        value(
            &expo,
            "gwd_server_http_responses_total",
            &[("proxy", "app"), ("server", "s1"), ("code", "2xx")]
        ),
        7.0
    );
    assert_eq!(value(&expo, "gwd_server_connection_reuses_total", &s1), 2.0);
    assert_eq!(value(&expo, "gwd_server_connection_errors_total", &s2), 1.0);
    assert_eq!(
        value(&expo, "gwd_server_connection_attempts_total", &s2),
        1.0
    );
    assert_eq!(
        value(&expo, "gwd_server_idle_connections_current", &s1),
        6.0
    );
    assert_eq!(
        value(&expo, "gwd_server_unsafe_idle_connections_current", &s1),
        2.0
    );
    assert_eq!(
        value(&expo, "gwd_server_safe_idle_connections_current", &s1),
        4.0
    );
    assert_eq!(
        value(&expo, "gwd_server_used_connections_current", &s1),
        3.0
    );
    assert_eq!(
        value(&expo, "gwd_server_need_connections_current", &s1),
        5.0
    );
    assert_eq!(
        value(&expo, "gwd_server_idle_connections_limit", &s1),
        100.0
    );
    let state = |px: &str, sv: &str, st: &str| {
        value(
            &expo,
            "gwd_server_status",
            &[("proxy", px), ("server", sv), ("state", st)],
        )
    };
    assert_eq!(state("app", "s1", "NO_CHECK"), 1.0);
    assert_eq!(state("app", "s1", "UP"), 0.0);
    assert_eq!(state("rev", "edge", "UP"), 1.0);
    assert_eq!(state("rev", "edge", "NO_TUNNEL"), 0.0);

    // Process.
    assert_eq!(value(&expo, "gwd_process_uptime_seconds", &[]), 42.0);
    assert_eq!(value(&expo, "gwd_process_current_connections", &[]), 1.0);
    assert_eq!(value(&expo, "gwd_process_connections_total", &[]), 2.0);
    assert_eq!(value(&expo, "gwd_process_requests_total", &[]), 8.0);
    assert_eq!(value(&expo, "gwd_process_threads", &[]), 4.0);
    assert_eq!(
        value(
            &expo,
            "gwd_process_build_info",
            &[("name", "gwd"), ("version", "1.2.3")]
        ),
        1.0
    );
    let start = value(&expo, "gwd_process_start_time_seconds", &[]);
    assert!(start > 1.6e9, "{start}");

    // Tunnels and maps.
    assert_eq!(value(&expo, "gwd_tunnels", &[("name", "api.example")]), 2.0);
    assert_eq!(
        value(
            &expo,
            "gwd_tunnel_active_streams",
            &[("name", "api.example")]
        ),
        7.0
    );
    assert_eq!(value(&expo, "gwd_tunnels", &[("name", "x\"y")]), 1.0);
    assert_eq!(value(&expo, "gwd_tunnel_dials_total", &[]), 9.0);
    assert_eq!(value(&expo, "gwd_tunnel_dial_failures_total", &[]), 2.0);
    assert_eq!(value(&expo, "gwd_tunnel_reversals_total", &[]), 7.0);
    assert_eq!(value(&expo, "gwd_tunnel_ping_timeouts_total", &[]), 1.0);
    assert_eq!(value(&expo, "gwd_tunnel_errors_total", &[]), 3.0);
    assert_eq!(
        value(&expo, "gwd_map_entries", &[("map", "hosts.map")]),
        3.0
    );
    assert_eq!(
        value(
            &expo,
            "gwd_map_entries",
            &[("map", "C:\\maps\\\"odd\".map")]
        ),
        0.0
    );

    assert_eq!(value(&expo, "gwd_origin_tunnels_up", &[]), 4.0);
    assert_eq!(kind(&expo, "gwd_origin_tunnels_up"), PrometheusType::Gauge);
    assert_eq!(value(&expo, "process_cpu_seconds_total", &[]), 12.34);
    assert_eq!(
        kind(&expo, "process_cpu_seconds_total"),
        PrometheusType::Counter
    );
    assert_eq!(value(&expo, "process_open_fds", &[]), 7.0);
    assert_eq!(
        value(&expo, "process_resident_memory_bytes", &[]),
        5242880.0
    );
    let h = &expo.families["gwd_tunnel_reversal_seconds"];
    assert_eq!(h.family_type, PrometheusType::Histogram);
    let PrometheusValue::Histogram(hv) = &h.iter_samples().next().unwrap().value else {
        panic!("not a histogram");
    };
    assert_eq!(hv.count, Some(7));
    assert_eq!(hv.sum.as_ref().map(|s| s.as_f64()), Some(0.875));
    let buckets: Vec<(f64, f64)> = hv
        .buckets
        .iter()
        .map(|b| (b.upper_bound, b.count.as_f64()))
        .collect();
    assert_eq!(
        buckets,
        [(0.005, 1.0), (0.05, 5.0), (0.5, 7.0), (f64::INFINITY, 7.0)]
    );
}

#[test]
fn prometheus_escapes_label_values() {
    let (reg, _conn) = registry();
    let t0 = Instant::now();
    let text = render_prometheus(&reg.snapshot(), &info(t0), &PromExtra::default(), t0);
    assert!(
        text.contains("gwd_backend_http_requests_total{proxy=\"we\\\"ird\\\\name\\nx\"} 0\n"),
        "{text}"
    );
    let expo = parse(&text);
    // The parser unescapes back to the original name.
    assert_eq!(
        value(
            &expo,
            "gwd_backend_http_requests_total",
            &[("proxy", "we\"ird\\name\nx")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &expo,
            "gwd_server_sessions_total",
            &[("proxy", "we\"ird\\name\nx"), ("server", "<s&>")]
        ),
        0.0
    );
    // Families with nothing to report are left out.
    assert!(!text.contains("gwd_tunnel"));
    assert!(!text.contains("gwd_map_entries"));
    assert!(!text.contains("gwd_server_idle_connections_current"));
}

#[test]
fn prometheus_through_the_cli_takes_every_source() {
    let (reg, _conn) = registry();
    let t0 = Instant::now();
    let cli = cli(Arc::new(reg), t0);
    let text = hub(&cli).prometheus(t0 + Duration::from_secs(1));
    let expo = parse(&text);
    assert_eq!(
        value(&expo, "gwd_map_entries", &[("map", "hosts.map")]),
        3.0
    );
    assert_eq!(value(&expo, "gwd_tunnels", &[("name", "api.example")]), 2.0);
    assert_eq!(value(&expo, "gwd_tunnel_reversals_total", &[]), 7.0);
    assert_eq!(value(&expo, "gwd_tunnel_ping_timeouts_total", &[]), 1.0);
    assert_eq!(value(&expo, "gwd_tunnel_errors_total", &[]), 3.0);
    assert_eq!(value(&expo, "gwd_origin_tunnels_up", &[]), 4.0);
    assert_eq!(
        value(&expo, "process_resident_memory_bytes", &[]),
        (64 << 20) as f64
    );
    assert_eq!(value(&expo, "process_cpu_seconds_total", &[]), 0.5);
    assert_eq!(value(&expo, "process_open_fds", &[]), 12.0);
    assert_eq!(
        value(
            &expo,
            "gwd_server_used_connections_current",
            &[("proxy", "app"), ("server", "s1")]
        ),
        3.0
    );
    // Same numbers as `show stat` at the same moment.
    let csv = hub(&cli).stat(&StatFilter::default(), StatFormat::Csv);
    let fe = csv.lines().nth(1).unwrap();
    assert_eq!(fe.split(',').nth(48), Some("8"));
    assert_eq!(
        value(
            &expo,
            "gwd_frontend_http_requests_total",
            &[("proxy", "www")]
        ),
        8.0
    );
    assert!(Cli::new(MapRegistry::new()).stats().is_none());
}

#[test]
fn histogram_is_checked() {
    use gwd_admin::HistogramError;
    assert!(Histogram::new(vec![], vec![], 0.0, 0).is_ok());
    assert_eq!(
        Histogram::new(vec![1.0], vec![], 0.0, 0),
        Err(HistogramError::LengthMismatch {
            bounds: 1,
            counts: 0
        })
    );
    assert_eq!(
        Histogram::new(vec![1.0, 1.0], vec![0, 0], 0.0, 0),
        Err(HistogramError::BadBounds)
    );
    assert_eq!(
        Histogram::new(vec![f64::INFINITY], vec![0], 0.0, 0),
        Err(HistogramError::BadBounds)
    );
    let e = Histogram::new(vec![1.0, 2.0], vec![3, 2], 0.0, 3).unwrap_err();
    assert_eq!(e, HistogramError::NotCumulative);
    assert!(!e.is_bad_bounds());
    assert_eq!(
        Histogram::new(vec![1.0], vec![4], 0.0, 3),
        Err(HistogramError::NotCumulative)
    );
}

// --------------------------------------------------------------- HTML page

/// Checks that every non-void element is closed in order and returns the
/// list of `id` values.
fn check_well_formed(html: &str) -> Vec<String> {
    const VOID: &[&str] = &["meta", "br", "hr", "img", "input", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("stray </{name}>"));
            assert_eq!(open, name, "mismatched </{name}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        if let Some(i) = tag.find(" id=\"") {
            let v = &tag[i + 5..];
            ids.push(v[..v.find('"').unwrap()].to_string());
        }
        // Attribute values must not hold raw markup characters.
        assert!(!tag.contains('<'), "<{tag}>");
        if name == "style" {
            let close = rest.find("</style>").unwrap();
            rest = &rest[close..];
        }
        if !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    ids
}

#[test]
fn stats_page_structure() {
    let (reg, _conn) = registry();
    let t0 = Instant::now();
    let extra = StatExtra {
        rates: None,
        pools: pools(),
        tunnels: Some(tunnels()),
        servers: None,
    };
    let opts = PageOptions {
        hide_version: false,
        uri: "/st\"ats".into(),
        refresh: Some(Duration::from_millis(10_500)),
    };
    let html = render_stats_page(
        &reg.snapshot(),
        &info(t0),
        &extra,
        &opts,
        t0 + Duration::from_secs(3661),
    );
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
    );
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(html.contains("<a id=\"csv-link\" href=\"/st&quot;ats;csv\">"));
    let page_ids = check_well_formed(&html);
    let mut sorted = page_ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), page_ids.len(), "ids are unique: {page_ids:?}");
    assert!(
        page_ids
            .iter()
            .all(|i| !i.is_empty() && !i.contains(char::is_whitespace))
    );

    // Process header.
    assert!(html.contains("<tr data-info=\"pid\"><th scope=\"row\">Pid</th><td>4242</td></tr>"));
    assert!(html.contains(
        "<tr data-info=\"uptime\"><th scope=\"row\">Uptime</th><td>0d 1h01m01s</td></tr>"
    ));
    assert!(html.contains(
        "<tr data-info=\"cum_req\"><th scope=\"row\">Total requests</th><td>8</td></tr>"
    ));

    // One table per proxy, rows in order, with their cells.
    let tables: Vec<&str> = html
        .match_indices("<table class=\"proxy\"")
        .map(|(i, _)| &html[i..])
        .collect();
    assert_eq!(tables.len(), 4);
    let www = table(&html, "www");
    assert_eq!(row_kinds(www), ["FRONTEND"]);
    assert!(www.contains(
        "<tr class=\"frontend status-open\" data-row=\"FRONTEND\" data-status=\"OPEN\">"
    ));
    assert!(www.contains("<td data-col=\"stot\">0</td>"));
    assert!(www.contains(
        "<td data-col=\"dreq\">2</td><td data-col=\"dresp\">0</td><td data-col=\"ereq\">1</td>"
    ));
    assert!(www.contains("<td data-col=\"hrsp_2xx\">5</td><td data-col=\"hrsp_3xx\">0</td><td data-col=\"hrsp_4xx\">2</td><td data-col=\"hrsp_5xx\">1</td>"));
    assert!(www.contains("<td data-col=\"bin\">1234</td><td data-col=\"bout\">98765</td>"));
    let app = table(&html, "app");
    assert_eq!(row_kinds(app), ["server", "server", "BACKEND"]);
    assert!(app.contains("<tr class=\"server status-nocheck\" data-row=\"server\" data-server=\"s1\" data-status=\"no check\"><th scope=\"row\">s1</th>"));
    assert!(
        app.contains("<tr class=\"backend status-up\" data-row=\"BACKEND\" data-status=\"UP\">")
    );
    let rev = table(&html, "rev");
    assert!(rev.contains("<tr class=\"server status-up\" data-row=\"server\" data-server=\"edge\" data-status=\"UP\">"));
    // Escaped names, in text and in attributes.
    assert!(html.contains("data-proxy=\"we&quot;ird\\name\nx\""));
    assert!(html.contains("<caption>we&quot;ird\\name\nx</caption>"));
    assert!(html.contains("data-server=\"&lt;s&amp;&gt;\""));
    assert!(html.contains("id=\"proxy-we_ird_name_x\""));
    assert!(!html.contains("<s&>"));

    // Tunnels table.
    assert!(html.contains("<section id=\"tunnels\">"));
    assert!(html.contains("<tr class=\"tunnel status-up\" data-tunnel=\"api.example\"><th scope=\"row\" data-col=\"name\">api.example</th><td data-col=\"tunnels\">2</td><td data-col=\"streams\">7</td></tr>"));
    assert!(html.contains("data-tunnel=\"x&quot;y\""));

    // Colours for each state.
    for class in [
        "status-up",
        "status-down",
        "status-notunnel",
        "status-nocheck",
    ] {
        assert!(html.contains(&format!("tr.{class} td")), "{class}");
    }

    // No tunnel yet: the rhttp@ server is orange, its backend red.
    let no_tunnel = StatExtra {
        tunnels: Some(vec![]),
        ..StatExtra::default()
    };
    let html = render_stats_page(
        &reg.snapshot(),
        &info(t0),
        &no_tunnel,
        &PageOptions::default(),
        t0,
    );
    check_well_formed(&html);
    let rev = table(&html, "rev");
    assert!(rev.contains("class=\"server status-notunnel\""));
    assert!(rev.contains("class=\"backend status-down\""));
    assert!(html.contains("No tunnel registered."));
    assert!(!html.contains("http-equiv=\"refresh\""));
    assert!(html.contains("href=\"/stats;csv\""));
    // No tunnel source at all: no tunnel section.
    let html = render_stats_page(
        &reg.snapshot(),
        &info(t0),
        &StatExtra::default(),
        &PageOptions::default(),
        t0,
    );
    assert!(!html.contains("id=\"tunnels\""));
}

/// The markup of the proxy table of `px` (`data-proxy` as written, so
/// plain names only).
fn table<'a>(html: &'a str, px: &str) -> &'a str {
    let start = html
        .find(&format!(
            "<table class=\"proxy\" id=\"proxy-{px}\" data-proxy=\"{px}\">"
        ))
        .unwrap_or_else(|| panic!("no table {px}"));
    let len = html[start..].find("</table>").unwrap();
    &html[start..start + len]
}

fn row_kinds(table: &str) -> Vec<&str> {
    table
        .split("data-row=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect()
}

#[test]
fn stats_page_through_the_cli() {
    let (reg, _conn) = registry();
    let t0 = Instant::now();
    let cli = cli(Arc::new(reg), t0);
    let html = hub(&cli).stats_page(&PageOptions::default(), t0);
    check_well_formed(&html);
    assert!(html.contains("data-tunnel=\"api.example\""));
}
