//! Server commands of the runtime API (`disable server`, `set server`,
//! `set weight`, `get weight`, `enable health`, `show servers state`) and
//! server states in the statistics outputs, over a scripted
//! [`ServerControl`]: the proxy's side is tested by the regtests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gwd_admin::{
    AdminState, CheckRow, Cli, PageOptions, ProcessInfo, SERVERS_STATE_HEADER, STAT_FIELDS,
    ServerControl, ServerError, ServerRow, StatFilter, StatFormat, StatsHub,
};
use gwd_config::{AdminLevel, MapRegistry};
use gwd_stats::Registry;
use openmetrics_parser::PrometheusValue;

const STATIC_MSG: &str =
    "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.";

/// A proxy's servers as plain rows, changed the way the proxy would.
struct Fake {
    backends: Vec<&'static str>,
    rows: Mutex<Vec<ServerRow>>,
}

impl Fake {
    fn with<T>(
        &self,
        backend: &str,
        server: &str,
        f: impl FnOnce(&mut ServerRow) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        if !self.backends.contains(&backend) {
            return Err(ServerError::NoBackend);
        }
        let mut rows = self.rows.lock().unwrap();
        let row = rows
            .iter_mut()
            .find(|r| r.backend == backend && r.server == server)
            .ok_or(ServerError::NoServer)?;
        f(row)
    }

    fn row(&self, backend: &str, server: &str) -> ServerRow {
        self.with(backend, server, |r| Ok(r.clone())).unwrap()
    }
}

/// The `status` text the proxy would show.
fn restatus(r: &mut ServerRow) {
    r.status = match r.admin {
        AdminState::Maint => "MAINT".into(),
        AdminState::Drain if r.up => "DRAIN".into(),
        _ => match (&r.check, r.up) {
            (Some(c), true) if c.enabled => "UP".into(),
            (_, true) => "no check".into(),
            (_, false) => "DOWN".into(),
        },
    };
}

impl ServerControl for Fake {
    fn set_admin(&self, backend: &str, server: &str, state: AdminState) -> Result<(), ServerError> {
        self.with(backend, server, |r| {
            r.admin = state;
            restatus(r);
            Ok(())
        })
    }

    fn weight(&self, backend: &str, server: &str) -> Result<(u32, u32), ServerError> {
        self.with(backend, server, |r| Ok((r.weight, r.initial_weight)))
    }

    fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<(), ServerError> {
        self.with(backend, server, |r| {
            if backend == "static" && weight != 0 && weight != r.initial_weight {
                return Err(ServerError::Refused(format!("{STATIC_MSG}\n")));
            }
            r.weight = weight;
            Ok(())
        })
    }

    fn set_health(&self, backend: &str, server: &str, up: bool) -> Result<(), ServerError> {
        self.with(backend, server, |r| {
            if r.check.is_none() {
                return Err(ServerError::NotChecked);
            }
            r.up = up;
            restatus(r);
            Ok(())
        })
    }

    fn set_checks(&self, backend: &str, server: &str, on: bool) -> Result<(), ServerError> {
        self.with(backend, server, |r| {
            let c = r.check.as_mut().ok_or(ServerError::NotChecked)?;
            c.enabled = on;
            r.up = !on || c.up;
            restatus(r);
            Ok(())
        })
    }

    fn servers(&self, _now: Instant) -> Vec<ServerRow> {
        self.rows.lock().unwrap().clone()
    }

    fn has_backend(&self, backend: &str) -> bool {
        self.backends.contains(&backend)
    }
}

fn checks(status: &str, up: bool, health: u32) -> CheckRow {
    CheckRow {
        enabled: true,
        running: false,
        health,
        rise: 2,
        fall: 3,
        up,
        status: Some(status.into()),
        description: Some(
            match status {
                "L7OK" => "Layer7 check passed",
                "L7STS" => "Layer7 wrong status",
                "L4CON" => "Layer4 connection problem",
                _ => "Layer4 check passed",
            }
            .into(),
        ),
        code: status
            .starts_with("L7")
            .then_some(if up { 200 } else { 500 }),
        info: None,
        duration: Some(Duration::from_millis(3)),
        failed: 0,
        downs: 0,
        passive_failures: 0,
    }
}

fn server(backend: &str, bid: u32, name: &str, sid: u32, weight: u32) -> ServerRow {
    ServerRow {
        backend: backend.into(),
        backend_id: bid,
        server: name.into(),
        server_id: sid,
        host: Some(format!("10.0.{bid}.{sid}")),
        port: Some(8000 + sid as u16),
        admin: AdminState::Ready,
        up: true,
        weight,
        initial_weight: weight,
        backup: false,
        maxconn: None,
        status: "no check".into(),
        since_change: Duration::from_secs(60 + u64::from(sid)),
        ..ServerRow::default()
    }
}

/// Backend `app`: `a` (checked, UP, weight 3), `b` (unchecked), `c`
/// (backup, unchecked); backend `static` (a static algorithm): `s`; backend
/// `empty` without servers.
fn fake() -> Arc<Fake> {
    let mut a = server("app", 1, "a", 1, 3);
    a.check = Some(checks("L7OK", true, 4));
    a.check_port = Some(9001);
    a.status = "UP".into();
    let b = server("app", 1, "b", 2, 1);
    let mut c = server("app", 1, "c", 3, 1);
    c.backup = true;
    let s = server("static", 2, "s", 1, 2);
    Arc::new(Fake {
        backends: vec!["app", "static", "empty"],
        rows: Mutex::new(vec![a, b, c, s]),
    })
}

fn run(cli: &Cli, level: AdminLevel, line: &str) -> String {
    let mut s = cli.session(level);
    let out = s.feed_line(line);
    assert!(s.is_closed());
    out
}

#[test]
fn server_commands_answer_like_haproxy() {
    let f = fake();
    let cli = Cli::new(MapRegistry::new()).with_servers(f.clone());
    let op = |line: &str| run(&cli, AdminLevel::Operator, line);

    // States.
    assert_eq!(op("disable server app/a"), "\n");
    assert_eq!(f.row("app", "a").admin, AdminState::Maint);
    assert_eq!(op("enable server app/a"), "\n");
    assert_eq!(f.row("app", "a").admin, AdminState::Ready);
    assert_eq!(op("set server app/a state drain"), "\n");
    assert_eq!(f.row("app", "a").status, "DRAIN");
    assert_eq!(op("set server app/a state maint"), "\n");
    assert_eq!(f.row("app", "a").admin, AdminState::Maint);
    assert_eq!(op("set server app/a state ready"), "\n");
    assert_eq!(f.row("app", "a").status, "UP");
    assert_eq!(
        op("set server app/a state up"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        op("set server app/a state"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );

    // Weights: absolute, relative to the initial weight, HAProxy's errors.
    assert_eq!(op("get weight app/a"), "3 (initial 3)\n\n");
    assert_eq!(op("set weight app/a 1"), "\n");
    assert_eq!(op("get weight app/a"), "1 (initial 3)\n\n");
    assert_eq!(op("set server app/a weight 200%"), "\n");
    assert_eq!(op("get weight app/a"), "6 (initial 3)\n\n");
    assert_eq!(op("set server app/a weight 0"), "\n");
    assert_eq!(op("get weight app/a"), "0 (initial 3)\n\n");
    assert_eq!(
        op("set weight app/a 257"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(
        op("set weight app/a -1%"),
        "Relative weight must be positive.\n\n"
    );
    assert_eq!(op("set weight app/a"), "Require <weight> or <weight%>.\n\n");
    assert_eq!(
        op("set server app/a weight heavy"),
        "Empty weight string empty or preceded by garbage\n\n"
    );
    assert_eq!(
        op("set weight app/a 2kg"),
        "Trailing garbage in weight string\n\n"
    );
    assert_eq!(op("get weight app/a"), "0 (initial 3)\n\n");
    // A static algorithm: 0% and 100% only.
    assert_eq!(op("set weight static/s 3"), format!("{STATIC_MSG}\n\n"));
    assert_eq!(op("set weight static/s 0%"), "\n");
    assert_eq!(op("set weight static/s 100%"), "\n");
    assert_eq!(op("get weight static/s"), "2 (initial 2)\n\n");

    // Health.
    assert_eq!(op("set server app/a health down"), "\n");
    assert_eq!(f.row("app", "a").status, "DOWN");
    assert_eq!(op("set server app/a health up"), "\n");
    assert_eq!(f.row("app", "a").status, "UP");
    assert_eq!(
        op("set server app/a health stopping"),
        "'set server <srv> health stopping' is not supported: use 'set server <srv> state drain'.\n\n"
    );
    assert_eq!(
        op("set server app/a health sick"),
        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"
    );
    assert_eq!(
        op("set server app/b health down"),
        "Health checks are not configured on this server, cannot set the health state.\n\n"
    );
    assert_eq!(op("disable health app/a"), "\n");
    assert!(!f.row("app", "a").check.unwrap().enabled);
    assert_eq!(f.row("app", "a").status, "no check");
    assert_eq!(op("enable health app/a"), "\n");
    assert!(f.row("app", "a").check.unwrap().enabled);
    assert_eq!(
        op("enable health app/b"),
        "Health checks are not configured on this server, cannot enable.\n\n"
    );
    assert_eq!(
        op("disable health app/b"),
        "Health checks are not configured on this server, cannot disable.\n\n"
    );

    // Naming a server.
    for line in [
        "disable server",
        "disable server app",
        "disable server app/",
        "disable server /a",
        "enable health app",
        "set server app state ready",
        "set weight a 1",
        "get weight",
        "get weight app",
    ] {
        assert_eq!(op(line), "Require 'backend/server'.\n\n", "{line}");
    }
    for line in [
        "disable server nope/a",
        "set server nope/a state maint",
        "get weight nope/a",
        "set weight nope/a 1",
        "enable health nope/a",
    ] {
        assert_eq!(op(line), "No such backend.\n\n", "{line}");
    }
    for line in [
        "enable server app/nope",
        "set server app/nope weight 1",
        "get weight app/nope",
        "disable health empty/x",
    ] {
        assert_eq!(op(line), "No such server.\n\n", "{line}");
    }
    // The server is found before its subcommand is read, as in HAProxy.
    assert_eq!(
        op("set server app/a addr 10.0.0.9"),
        "usage: set server <backend>/<server> health | state | weight\n\n"
    );
    assert_eq!(op("set server app/nope addr x"), "No such server.\n\n");
    // `/` splits once: the server part keeps any further one.
    assert_eq!(op("get weight app/a/b"), "No such server.\n\n");
}

#[test]
fn changing_a_server_takes_the_operator_level() {
    let f = fake();
    let cli = Cli::new(MapRegistry::new()).with_servers(f.clone());
    for line in [
        "disable server app/a",
        "enable server app/a",
        "set server app/a state maint",
        "set server app/a weight 1",
        "set server app/a health down",
        "set weight app/a 1",
        "enable health app/a",
        "disable health app/a",
        // The level is checked before the arguments.
        "disable server",
        "set server nope/x state maint",
    ] {
        assert_eq!(
            run(&cli, AdminLevel::User, line),
            "Permission denied\n\n",
            "{line}"
        );
    }
    assert_eq!(f.row("app", "a"), fake().row("app", "a"), "nothing changed");
    // Reading is for everyone.
    assert_eq!(
        run(&cli, AdminLevel::User, "get weight app/a"),
        "3 (initial 3)\n\n"
    );
    assert!(run(&cli, AdminLevel::User, "show servers state").starts_with(SERVERS_STATE_HEADER));
    // Operator and admin may.
    assert_eq!(
        run(&cli, AdminLevel::Operator, "disable server app/b"),
        "\n"
    );
    assert_eq!(run(&cli, AdminLevel::Admin, "enable server app/b"), "\n");
    // A refused `<<` command reads its payload and keeps none.
    let mut s = cli.session(AdminLevel::User);
    assert_eq!(s.feed_line("disable server app/b <<"), "");
    assert_eq!(s.feed_line("ignored"), "");
    assert_eq!(s.feed_line(""), "Permission denied\n\n");
    assert_eq!(f.row("app", "b").admin, AdminState::Ready);

    // Help lists what each level may run.
    let user = run(&cli, AdminLevel::User, "help");
    assert!(
        user.contains("  show servers state [<backend>]                   : dump volatile server information (all or for a single backend)\n"),
        "{user}"
    );
    assert!(user.contains("  get weight <bk>/<srv> "), "{user}");
    for cmd in [
        "set weight",
        "set server",
        "disable server",
        "enable health",
    ] {
        assert!(!user.contains(cmd), "{cmd} in user help");
    }
    let op = run(&cli, AdminLevel::Operator, "help");
    for cmd in [
        "  set weight <bk>/<srv> <weight>[%] ",
        "  set server <bk>/<srv> state|weight|health <v>    : ",
        "  enable server <bk>/<srv> ",
        "  disable server <bk>/<srv> ",
        "  enable health <bk>/<srv> ",
        "  disable health <bk>/<srv> ",
    ] {
        assert!(op.contains(cmd), "{cmd} missing from\n{op}");
    }
}

#[test]
fn show_servers_state_is_haproxys_format() {
    let f = fake();
    let cli = Cli::new(MapRegistry::new()).with_servers(f.clone());
    let op = |line: &str| run(&cli, AdminLevel::Operator, line);
    assert_eq!(op("set server app/a state drain"), "\n");
    assert_eq!(op("disable server app/b"), "\n");
    let out = op("show servers state");
    assert_eq!(
        out,
        format!(
            "{SERVERS_STATE_HEADER}\
             1 app 1 a 10.0.1.1 2 8 3 3 61 15 3 4 6 0 0 0 - 8001 - 0 9001 - - 0\n\
             1 app 2 b 10.0.1.2 0 1 1 1 62 0 0 0 0 0 0 0 - 8002 - 0 0 - - 0\n\
             1 app 3 c 10.0.1.3 2 0 1 1 63 0 0 0 0 0 0 0 - 8003 - 0 0 - - 0\n\
             2 static 1 s 10.0.2.1 2 0 2 2 61 0 0 0 0 0 0 0 - 8001 - 0 0 - - 0\n\n"
        )
    );
    assert_eq!(
        op("show servers state static"),
        format!(
            "{SERVERS_STATE_HEADER}2 static 1 s 10.0.2.1 2 0 2 2 61 0 0 0 0 0 0 0 - 8001 - 0 0 - - 0\n\n"
        )
    );
    assert_eq!(
        op("show servers state empty"),
        format!("{SERVERS_STATE_HEADER}\n")
    );
    assert_eq!(op("show servers state nope"), "Can't find backend.\n\n");
}

#[test]
fn without_a_server_source_the_commands_say_so() {
    let cli = Cli::new(MapRegistry::new());
    for line in [
        "show servers state",
        "get weight app/a",
        "set weight app/a 1",
        "disable server app/a",
        "set server app/a state maint",
        "enable health app/a",
    ] {
        assert_eq!(
            run(&cli, AdminLevel::Admin, line),
            "No server information available.\n\n",
            "{line}"
        );
    }
}

// ---------------------------------------------------------------- statistics

/// Backend `app` (a listen of the same name has no frontend here) with one
/// server per state, and backend `bk` whose primary is DOWN and whose
/// backup serves.
fn stats_fixture() -> (Registry, Arc<Fake>) {
    let mut reg = Registry::new();
    let names = [
        "up",
        "goingdown",
        "goingup",
        "down",
        "maint",
        "drain",
        "plain",
    ];
    let (b0, _) = reg.add_backend(gwd_stats::Label::from("app").with_algo("leastconn"));
    for n in names {
        reg.add_server(b0, n).unwrap();
    }
    let (b1, _) = reg.add_backend("bk");
    reg.add_server(b1, "p").unwrap();
    reg.add_server(b1, "bk1").unwrap();
    reg.add_server(b1, "bk2").unwrap();
    let mut rows = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let mut r = server("app", 1, n, i as u32 + 1, 2);
        r.check = Some(checks("L7OK", true, 4));
        r.status = "UP".into();
        rows.push(r);
    }
    // UP 2/3: one failed check.
    rows[1].status = "UP 2/3".into();
    rows[1].check = Some(CheckRow {
        health: 3,
        failed: 1,
        running: true,
        ..checks("L7STS", true, 3)
    });
    // DOWN 1/2: one good check after being down.
    rows[2].status = "DOWN 1/2".into();
    rows[2].up = false;
    rows[2].check = Some(CheckRow {
        health: 1,
        failed: 3,
        downs: 1,
        ..checks("L7OK", false, 1)
    });
    rows[2].downtime = Duration::from_secs(30);
    rows[3].status = "DOWN".into();
    rows[3].up = false;
    rows[3].check = Some(CheckRow {
        failed: 7,
        downs: 2,
        info: Some("Connection refused".into()),
        code: None,
        ..checks("L4CON", false, 0)
    });
    rows[3].downtime = Duration::from_secs(90);
    rows[4].admin = AdminState::Maint;
    rows[4].status = "MAINT".into();
    rows[5].admin = AdminState::Drain;
    rows[5].status = "DRAIN".into();
    rows[6].check = None;
    rows[6].status = "no check".into();
    rows[6].weight = 5;
    let mut p = server("bk", 2, "p", 1, 4);
    p.up = false;
    p.status = "DOWN".into();
    p.check = Some(checks("L4CON", false, 0));
    let mut bk1 = server("bk", 2, "bk1", 2, 3);
    bk1.backup = true;
    let mut bk2 = server("bk", 2, "bk2", 3, 6);
    bk2.backup = true;
    rows.extend([p, bk1, bk2]);
    let fake = Arc::new(Fake {
        backends: vec!["app", "bk"],
        rows: Mutex::new(rows),
    });
    (reg, fake)
}

fn stats_cli(reg: Registry, fake: Arc<Fake>, t0: Instant) -> Cli {
    let reg = Arc::new(reg);
    let rows = fake.clone();
    Cli::new(MapRegistry::new())
        .with_stats(
            StatsHub::new(
                move || reg.snapshot(),
                ProcessInfo::current("gwd", "1", 1, t0),
            )
            .with_server_rows(move |now| rows.servers(now)),
        )
        .with_servers(fake)
}

fn csv_row(csv: &str, prefix: &str) -> Vec<String> {
    let line = csv
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{csv}"));
    line.split(',').map(str::to_owned).collect()
}

fn col(row: &[String], name: &str) -> String {
    row[STAT_FIELDS.iter().position(|f| *f == name).unwrap()].clone()
}

#[test]
fn show_stat_reports_server_states_and_checks() {
    let (reg, fake) = stats_fixture();
    let cli = stats_cli(reg, fake.clone(), Instant::now());
    let csv = cli
        .stats()
        .unwrap()
        .stat(&StatFilter::default(), StatFormat::Csv);
    let cells = |prefix: &str, names: &[&str]| -> Vec<String> {
        let r = csv_row(&csv, prefix);
        names.iter().map(|n| col(&r, n)).collect()
    };
    let state_cols = ["status", "weight", "act", "bck", "lastchg"];
    assert_eq!(cells("app,up,", &state_cols), ["UP", "2", "1", "0", "61"]);
    assert_eq!(cells("app,goingdown,", &state_cols)[0], "UP 2/3");
    assert_eq!(cells("app,goingup,", &state_cols)[0], "DOWN 1/2");
    assert_eq!(cells("app,maint,", &state_cols)[0], "MAINT");
    assert_eq!(cells("app,drain,", &state_cols)[0], "DRAIN");
    assert_eq!(
        cells("app,plain,", &state_cols),
        ["no check", "5", "1", "0", "67"]
    );
    assert_eq!(
        cells("bk,bk1,", &state_cols),
        ["no check", "3", "0", "1", "62"]
    );

    let check_cols = [
        "check_status",
        "check_code",
        "check_duration",
        "chkfail",
        "chkdown",
        "downtime",
        "last_chk",
        "check_desc",
        "check_rise",
        "check_fall",
        "check_health",
    ];
    assert_eq!(
        cells("app,up,", &check_cols),
        [
            "L7OK",
            "200",
            "3",
            "0",
            "0",
            "0",
            "Layer7 check passed",
            "Layer7 check passed",
            "2",
            "3",
            "4"
        ]
    );
    assert_eq!(
        cells("app,goingdown,", &check_cols),
        [
            "* L7STS",
            "200",
            "3",
            "1",
            "0",
            "0",
            "Layer7 wrong status",
            "Layer7 wrong status",
            "2",
            "3",
            "3"
        ]
    );
    assert_eq!(
        cells("app,down,", &check_cols),
        [
            "L4CON",
            "",
            "3",
            "7",
            "2",
            "90",
            "Connection refused",
            "Layer4 connection problem",
            "2",
            "3",
            "0"
        ]
    );
    // Unchecked: no check column at all, as HAProxy.
    assert!(
        cells("app,plain,", &check_cols)
            .iter()
            .all(String::is_empty)
    );
    assert_eq!(col(&csv_row(&csv, "app,plain,"), "addr"), "10.0.1.7:8007");

    // Backends: usable primaries, usable backups, the weight that serves.
    let be_cols = ["status", "act", "bck", "weight", "uweight", "algo"];
    // up, goingdown and plain are usable: 2 + 2 + 5.
    assert_eq!(
        cells("app,BACKEND,", &be_cols),
        ["UP", "3", "0", "9", "9", "leastconn"]
    );
    // No primary: the backups' weight.
    assert_eq!(
        cells("bk,BACKEND,", &be_cols),
        ["UP", "0", "2", "9", "9", "roundrobin"]
    );

    // Typed and JSON carry the same values with HAProxy's tags.
    let typed = cli
        .stats()
        .unwrap()
        .stat(&StatFilter::default(), StatFormat::Typed);
    assert!(
        typed.contains("S.1.4.17.status.1:SGP:str:DOWN\n"),
        "{typed}"
    );
    assert!(typed.contains("S.1.4.36.check_status.1:MOP:str:L4CON\n"));
    assert!(typed.contains("S.1.4.21.chkfail.1:MCP:u64:7\n"));
    assert!(typed.contains("S.1.4.38.check_duration.1:MDP:u64:3\n"));
    assert!(typed.contains("S.1.4.56.last_chk.1:MOP:str:Connection refused\n"));
    let json: serde_json::Value = serde_json::from_str(
        &cli.stats()
            .unwrap()
            .stat(&StatFilter::default(), StatFormat::Json),
    )
    .unwrap();
    let field = |row: usize, name: &str| {
        json[row]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["field"]["name"] == name)
            .map(|f| f["value"]["value"].clone())
    };
    assert_eq!(field(2, "status"), Some("DOWN 1/2".into()));
    assert_eq!(field(2, "downtime"), Some(30.into()));
    assert_eq!(field(6, "check_status"), None, "unchecked");

    // A change through the runtime API shows in the next `show stat`.
    let mut s = cli.session(AdminLevel::Operator);
    assert_eq!(s.feed_line("set server app/plain state maint"), "\n");
    let csv = cli
        .stats()
        .unwrap()
        .stat(&StatFilter::default(), StatFormat::Csv);
    assert_eq!(col(&csv_row(&csv, "app,plain,"), "status"), "MAINT");
    assert_eq!(col(&csv_row(&csv, "app,BACKEND,"), "weight"), "4");
}

#[test]
fn every_server_down_makes_the_backend_down() {
    let (reg, fake) = stats_fixture();
    let cli = stats_cli(reg, fake.clone(), Instant::now());
    let mut s = cli.session(AdminLevel::Operator);
    assert_eq!(
        s.feed_line("disable server bk/bk1; set server bk/bk2 state drain"),
        "\n\n"
    );
    let csv = cli
        .stats()
        .unwrap()
        .stat(&StatFilter::default(), StatFormat::Csv);
    let be = csv_row(&csv, "bk,BACKEND,");
    assert_eq!(
        (
            col(&be, "status"),
            col(&be, "act"),
            col(&be, "bck"),
            col(&be, "weight")
        ),
        ("DOWN".into(), "0".into(), "0".into(), "0".into())
    );
    // Weight 0 takes no request either.
    let mut s = cli.session(AdminLevel::Operator);
    assert_eq!(s.feed_line("set server app/up weight 0"), "\n");
    let csv = cli
        .stats()
        .unwrap()
        .stat(&StatFilter::default(), StatFormat::Csv);
    assert_eq!(col(&csv_row(&csv, "app,BACKEND,"), "act"), "2");
}

#[test]
fn the_page_colours_each_state() {
    let (reg, fake) = stats_fixture();
    let t0 = Instant::now();
    let cli = stats_cli(reg, fake, t0);
    let html = cli.stats().unwrap().stats_page(&PageOptions::default(), t0);
    let row = |server: &str| -> String {
        let at = html
            .find(&format!("data-server=\"{server}\""))
            .unwrap_or_else(|| panic!("{server}"));
        let start = html[..at].rfind("<tr ").unwrap();
        let end = at + html[at..].find("</tr>").unwrap();
        html[start..end].to_owned()
    };
    for (server, class, status) in [
        ("up", "server status-up", "UP"),
        ("goingdown", "server status-goingdown", "UP 2/3"),
        ("goingup", "server status-goingup", "DOWN 1/2"),
        ("down", "server status-down", "DOWN"),
        ("maint", "server status-maint", "MAINT"),
        ("drain", "server status-drain", "DRAIN"),
        ("plain", "server status-nocheck", "no check"),
        ("bk1", "server backup status-nocheck", "no check"),
    ] {
        let r = row(server);
        assert!(
            r.starts_with(&format!(
                "<tr class=\"{class}\" data-row=\"server\" data-server=\"{server}\" data-status=\"{status}\">"
            )),
            "{r}"
        );
    }
    let down = row("down");
    assert!(
        down.contains("<td data-col=\"check_status\">L4CON</td>"),
        "{down}"
    );
    assert!(down.contains("<td data-col=\"chkfail\">7</td><td data-col=\"chkdown\">2</td><td data-col=\"downtime\">90</td>"), "{down}");
    assert!(row("up").contains("<td data-col=\"lastchg\">61</td>"));
    // Each state has its colour; DOWN rows are red.
    for (class, colour) in [
        ("status-up", "#b8f0b8"),
        ("status-down", "#ff8080"),
        ("status-maint", "#c07820"),
        ("status-drain", "#20a0ff"),
        ("status-goingdown", "#ffffa0"),
        ("status-goingup", "#ffd020"),
    ] {
        assert!(
            html.contains(&format!(
                "tr.{class} td,tr.{class} th{{background:{colour}}}"
            )),
            "{class}"
        );
        assert!(
            html.contains(&format!("<tr class=\"{class}\"><td>")),
            "legend {class}"
        );
    }
    assert!(html.contains("<th scope=\"col\" data-col=\"check_status\">LastChk</th>"));
}

/// The value of the sample of `family` whose labels are exactly `labels`;
/// `None` when there is none.
fn prom_value(text: &str, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let expo = openmetrics_parser::prometheus::parse_prometheus(text)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    let fam = expo.families.get(family)?;
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
    found
}

#[test]
fn prometheus_has_server_states_checks_and_weights() {
    let (reg, fake) = stats_fixture();
    let t0 = Instant::now();
    let cli = stats_cli(reg, fake, t0);
    let text = cli.stats().unwrap().prometheus(t0);
    let v = |family: &str, labels: &[(&str, &str)]| prom_value(&text, family, labels);
    let srv = |s: &'static str| [("proxy", "app"), ("server", s)];
    let status = |s: &str, state: &str| {
        v(
            "gwd_server_status",
            &[("proxy", "app"), ("server", s), ("state", state)],
        )
    };
    for (server, state) in [
        ("up", "UP"),
        ("goingdown", "UP"),
        ("goingup", "DOWN"),
        ("down", "DOWN"),
        ("maint", "MAINT"),
        ("drain", "DRAIN"),
        ("plain", "NO_CHECK"),
    ] {
        for label in ["UP", "DOWN", "MAINT", "DRAIN", "NO_CHECK", "NO_TUNNEL"] {
            assert_eq!(
                status(server, label),
                Some(f64::from(u8::from(label == state))),
                "{server} {label}"
            );
        }
    }
    let check = |s: &'static str, code: &str| {
        v(
            "gwd_server_check_status",
            &[("proxy", "app"), ("server", s), ("state", code)],
        )
    };
    assert_eq!(check("down", "L4CON"), Some(1.0));
    assert_eq!(check("down", "L7OK"), Some(0.0));
    assert_eq!(check("up", "L7OK"), Some(1.0));
    assert_eq!(check("plain", "L7OK"), None, "unchecked servers have none");
    assert_eq!(
        v("gwd_server_check_failures_total", &srv("down")),
        Some(7.0)
    );
    assert_eq!(v("gwd_server_check_up_down_total", &srv("down")), Some(2.0));
    assert_eq!(v("gwd_server_check_up_down_total", &srv("plain")), None);
    assert_eq!(
        v("gwd_server_downtime_seconds_total", &srv("down")),
        Some(90.0)
    );
    assert_eq!(v("gwd_server_check_code", &srv("up")), Some(200.0));
    assert_eq!(
        v("gwd_server_check_duration_seconds", &srv("up")),
        Some(0.003)
    );
    assert_eq!(v("gwd_server_weight", &srv("plain")), Some(5.0));
    assert_eq!(v("gwd_server_weight", &srv("up")), Some(2.0));
    assert_eq!(
        v("gwd_server_last_status_change_seconds", &srv("up")),
        Some(61.0)
    );
    let bk = [("proxy", "bk")];
    assert_eq!(v("gwd_backend_active_servers", &bk), Some(0.0));
    assert_eq!(v("gwd_backend_backup_servers", &bk), Some(2.0));
    assert_eq!(v("gwd_backend_weight", &bk), Some(9.0));
    assert_eq!(
        v("gwd_backend_status", &[("proxy", "bk"), ("state", "UP")]),
        Some(1.0)
    );
    for family in [
        "gwd_server_check_status",
        "gwd_server_check_failures_total",
        "gwd_server_check_up_down_total",
        "gwd_server_weight",
    ] {
        assert_eq!(text.matches(&format!("# HELP {family} ")).count(), 1);
        assert_eq!(text.matches(&format!("# TYPE {family} ")).count(), 1);
    }
    assert!(text.contains("# TYPE gwd_server_check_failures_total counter\n"));
    assert!(text.contains("# TYPE gwd_server_check_status gauge\n"));
}
