//! The exact bytes of every statistics output.

use super::*;

mod rendering {
    use super::*;
    use gwd_stats::{Label, Registry};

    #[test]
    fn info_with_process_facts_appends_rates_and_memory() {
        let t0 = Instant::now();
        let info = ProcessInfo::current("gwd", "1.0", 2, t0);
        let facts = ProcessFacts {
            conn_rate: 3,
            conn_rate_max: 9,
            req_rate: 12,
            max_conns: 40,
            dropped_logs: 7,
            rss_bytes: Some(5 << 20),
        };
        let out = render_info_with(&info, &Registry::new().snapshot(), Some(&facts), t0);
        let tail: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("Stopping"))
            .collect();
        assert_eq!(
            tail,
            [
                "Stopping: 0",
                "ConnRate: 3",
                "MaxConnRate: 9",
                "ReqRate: 12",
                "MaxConn_seen: 40",
                "DroppedLogs: 7",
                "Rss_bytes: 5242880",
                "Rss_MB: 5"
            ]
        );
        // Without facts, exactly HAProxy's fields.
        let plain = render_info(&info, &Registry::new().snapshot(), t0);
        assert!(plain.ends_with("Stopping: 0\n"), "{plain}");
    }

    fn col(line: &str, name: &str) -> String {
        let i = STAT_FIELDS.iter().position(|f| *f == name).unwrap();
        line.split(',').nth(i).unwrap().to_string()
    }

    #[test]
    fn header_is_haproxys() {
        let h = stat_header();
        assert!(h.starts_with(
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,\
             wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,\
             sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,\
             check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,\
             req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,\
             lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,\
             agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,\
             agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,\
             intercepted,dcon,dses,wrew,connect,reuse,"
        ));
        assert!(h.ends_with(",uweight,\n"));
        assert_eq!(STAT_FIELDS.len(), 100);
    }

    fn sample() -> Registry {
        let mut reg = Registry::new();
        let fe = reg.add_frontend(Label::new("www", 3));
        let (b0, be) = reg.add_backend(Label::new("app", 7));
        let s1 = reg.add_server(b0, Label::new("s1", 10)).unwrap();
        let _s2 = reg.add_server(b0, Label::new("s2", 11)).unwrap();
        let (b1, _) = reg.add_backend(Label::new("www", 3));
        // No configured id: its position, 1.
        reg.add_server(b1, "w1").unwrap();
        reg.add_backend(Label::new("empty", 9));
        {
            let _c = fe.conn_opened_at(Instant::now());
            let _s = fe.session_opened_at(Instant::now());
            let _held = be.session_opened_at(Instant::now());
            for _ in 0..5 {
                fe.request_at(Instant::now());
                fe.response(200);
                be.request_at(Instant::now());
                be.response(200);
                s1.request_at(Instant::now());
                s1.response(200);
            }
            fe.request_at(Instant::now());
            fe.response(503);
            fe.denied();
            fe.bytes_in(100);
            fe.bytes_out(2000);
            s1.connect_attempt();
            s1.reused();
            s1.connection_error();
            let csv = render_stat_csv(&reg.snapshot(), &StatFilter::default());
            let be_line = csv.lines().find(|l| l.starts_with("app,BACKEND,")).unwrap();
            assert_eq!(col(be_line, "scur"), "1");
        }
        reg
    }

    #[test]
    fn rows_in_haproxy_order_with_values() {
        let reg = sample();
        let csv = render_stat_csv(&reg.snapshot(), &StatFilter::default());
        let lines: Vec<&str> = csv.lines().collect();
        let names: Vec<String> = lines[1..]
            .iter()
            .map(|l| {
                format!(
                    "{}/{}/{}",
                    col(l, "pxname"),
                    col(l, "svname"),
                    col(l, "type")
                )
            })
            .collect();
        // `www` is a listen (frontend and backend of one name): its backend
        // rows follow its frontend row; other backends follow.
        assert_eq!(
            names,
            [
                "www/FRONTEND/0",
                "www/w1/2",
                "www/BACKEND/1",
                "app/s1/2",
                "app/s2/2",
                "app/BACKEND/1",
                "empty/BACKEND/1"
            ]
        );
        for l in &lines {
            assert_eq!(l.split(',').count(), STAT_FIELDS.len() + 1, "{l}");
            assert!(l.ends_with(','));
        }
        let fe = lines[1];
        assert!(
            fe.starts_with(
                "www,FRONTEND,,,0,1,,1,100,2000,1,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,,,,,,,0,5,0,0,1,0,,,,6,"
            ),
            "{fe}"
        );
        assert_eq!(
            (col(fe, "mode"), col(fe, "conn_tot")),
            ("http".into(), "1".into())
        );
        // Past req_tot, only the compression columns, mode, conn_tot, dcon
        // and wrew have values on a frontend.
        assert_eq!(fe.split(',').skip(49).filter(|v| !v.is_empty()).count(), 8);
        for c in ["comp_in", "comp_out", "comp_byp", "comp_rsp"] {
            assert_eq!(col(fe, c), "0", "{c}");
        }
        assert_eq!(col(fe, "wrew"), "0");
        assert_eq!(col(fe, "dcon"), "0");
        let s1 = lines[4];
        assert_eq!(col(s1, "status"), "no check");
        assert_eq!(
            (col(s1, "iid"), col(s1, "sid"), col(s1, "req_tot")),
            ("7".into(), "10".into(), "5".into())
        );
        assert_eq!(
            (
                col(s1, "hrsp_2xx"),
                col(s1, "econ"),
                col(s1, "connect"),
                col(s1, "reuse")
            ),
            ("5".into(), "1".into(), "1".into(), "1".into())
        );
        let be = lines[6];
        assert_eq!(
            (
                col(be, "status"),
                col(be, "act"),
                col(be, "req_tot"),
                col(be, "stot")
            ),
            ("UP".into(), "2".into(), "5".into(), "1".into())
        );
        assert_eq!((col(be, "scur"), col(be, "smax")), ("0".into(), "1".into()));
        assert_eq!(
            (col(be, "connect"), col(be, "algo")),
            ("1".into(), "roundrobin".into())
        );
        assert_eq!(col(lines[7], "status"), "DOWN");
        assert_eq!(col(lines[7], "iid"), "9");
    }

    #[test]
    fn filters_by_proxy_type_and_sid() {
        let reg = sample();
        let snap = reg.snapshot();
        let f = |p: &str, t: i64, sid: i64| {
            render_stat_csv(
                &snap,
                &StatFilter {
                    proxy: Some(p.into()),
                    types: t,
                    sid,
                },
            )
            .lines()
            .skip(1)
            .map(|l| format!("{}/{}", col(l, "pxname"), col(l, "svname")))
            .collect::<Vec<_>>()
        };
        assert_eq!(f("app", 4, 11), ["app/s2"]);
        assert_eq!(f("7", 2, -1), ["app/BACKEND"]);
        assert_eq!(f("www", 1, -1), ["www/FRONTEND"]);
        assert_eq!(f("-1", 1, -1), ["www/FRONTEND"]);
        assert!(f("nope", -1, -1).is_empty());
    }

    #[test]
    fn field_meta_follows_the_columns() {
        let tags = |n: &str| {
            let m = Field::from_name(n).unwrap().meta();
            format!("{}:{}", m.tags(), m.ty.name())
        };
        assert_eq!(tags("pxname"), "KNS:str");
        assert_eq!(tags("scur"), "MGP:u32");
        assert_eq!(tags("smax"), "MMP:u32");
        assert_eq!(tags("slim"), "CLP:u32");
        assert_eq!(tags("stot"), "MCP:u64");
        assert_eq!(tags("status"), "SGP:str");
        assert_eq!(tags("iid"), "KGS:u32");
        assert_eq!(tags("pid"), "KGP:u32");
        assert_eq!(tags("rate"), "MRP:u32");
        assert_eq!(tags("lastsess"), "MAP:s32");
        assert_eq!(tags("qtime"), "MaP:u32");
        assert_eq!(tags("mode"), "CGS:str");
        assert_eq!(Field::from_name("uweight").map(Field::position), Some(99));
        assert_eq!(Field::from_name("nope"), None);
    }

    #[test]
    fn typed_lines_are_haproxys() {
        let reg = sample();
        let out = render_stat(
            &reg.snapshot(),
            &StatFilter {
                proxy: Some("www".into()),
                types: 1,
                sid: -1,
            },
            &StatExtra::default(),
            StatFormat::Typed,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            &lines[..6],
            [
                "F.3.0.0.pxname.1:KNS:str:www",
                "F.3.0.1.svname.1:KNS:str:FRONTEND",
                "F.3.0.4.scur.1:MGP:u32:0",
                "F.3.0.5.smax.1:MMP:u32:1",
                "F.3.0.7.stot.1:MCP:u64:1",
                "F.3.0.8.bin.1:MCP:u64:100",
            ]
        );
        assert!(lines.contains(&"F.3.0.17.status.1:SGP:str:OPEN"));
        assert!(lines.contains(&"F.3.0.32.type.1:CGS:u32:0"));
        assert!(lines.contains(&"F.3.0.79.conn_tot.1:MCP:u64:1"));
        // Empty columns are left out: one line per set CSV cell.
        let csv = render_stat_csv(
            &reg.snapshot(),
            &StatFilter {
                proxy: Some("www".into()),
                types: 1,
                sid: -1,
            },
        );
        let cells = csv
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .filter(|c| !c.is_empty())
            .count();
        assert_eq!(lines.len(), cells);
        // Server and backend rows start with S and B.
        let all = render_stat(
            &reg.snapshot(),
            &StatFilter::default(),
            &StatExtra::default(),
            StatFormat::Typed,
        );
        assert!(all.contains("\nS.7.11.1.svname.1:KNS:str:s2\n"), "{all}");
        assert!(
            all.contains("\nB.9.0.1.svname.1:KNS:str:BACKEND\n"),
            "{all}"
        );
    }

    #[test]
    fn json_objects_are_haproxys() {
        let reg = sample();
        let out = render_stat(
            &reg.snapshot(),
            &StatFilter {
                proxy: Some("empty".into()),
                types: 2,
                sid: -1,
            },
            &StatExtra::default(),
            StatFormat::Json,
        );
        assert!(
            out.starts_with(
                "[[{\"objType\":\"Backend\",\"proxyId\":9,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"empty\"}},"
            ),
            "{out}"
        );
        assert!(out.contains(
            "{\"objType\":\"Backend\",\"proxyId\":9,\"id\":0,\"field\":{\"pos\":4,\"name\":\"scur\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\",\"value\":0}}"
        ));
        assert!(out.ends_with("}]]\n"));
        assert!(!out[..out.len() - 1].contains('\n'));
        let none = render_rows(&[], StatFormat::Json);
        assert_eq!(none, "[]\n");
        assert_eq!(render_rows(&[], StatFormat::Typed), "");
        assert_eq!(render_rows(&[], StatFormat::Csv), stat_header());
    }

    #[test]
    fn typed_values_saturate_and_strings_are_escaped() {
        assert_eq!(
            StatValue::Num(u64::MAX).typed_text(FieldType::U32),
            "4294967295"
        );
        assert_eq!(
            StatValue::Num(u64::MAX).typed_text(FieldType::S32),
            "2147483647"
        );
        assert_eq!(
            StatValue::Num(u64::MAX).typed_text(FieldType::U64),
            u64::MAX.to_string()
        );
        assert_eq!(StatValue::Num(7).typed_text(FieldType::Str), "7");
        assert_eq!(
            StatValue::Str("a\nb\rc".into()).typed_line_text(FieldType::Str),
            "a b c"
        );
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn rows_expose_their_values() {
        let reg = sample();
        let rows = stat_rows(
            &reg.snapshot(),
            &StatFilter::default(),
            &StatExtra::default(),
        );
        let fe = &rows[0];
        assert_eq!((fe.kind, fe.iid, fe.sid), (RowType::Frontend, 3, 0));
        assert_eq!(
            (fe.proxy(), fe.name()),
            ("www".to_string(), "FRONTEND".to_string())
        );
        assert_eq!(fe.num(Field::ReqTot), Some(6));
        assert_eq!(fe.get(Field::Status), Some(&StatValue::Str("OPEN".into())));
        assert_eq!(fe.num(Field::Status), None);
        assert_eq!(fe.get(Field::Qcur), None);
        assert_eq!(fe.text(Field::Qcur), "");
        assert_eq!(fe.values().next().map(|(f, _)| f), Some(Field::Pxname));
        assert_eq!(RowType::Server.letter(), 'S');
        assert_eq!(RowType::Backend.json_name(), "Backend");
    }

    #[test]
    fn csv_quotes_awkward_names() {
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv("ab"), "ab");
    }

    #[test]
    fn info_sums_frontends() {
        let reg = sample();
        let t0 = Instant::now();
        let mut info = ProcessInfo::current("gwd", "1.2.3", 2, t0);
        info.pid = 42;
        let out = render_info(&info, &reg.snapshot(), t0 + Duration::from_secs(90061));
        assert_eq!(
            out,
            "Name: gwd\nVersion: 1.2.3\nNbthread: 2\nNbproc: 1\nProcess_num: 1\nPid: 42\n\
             Uptime: 1d 1h01m01s\nUptime_sec: 90061\nCurrConns: 0\nCumConns: 1\nCumReq: 6\n\
             MaxConnReached: 1\nCurrSessions: 0\nCumSessions: 1\nStopping: 0\n"
        );
        info.release_date = Some("2026/11/27".into());
        assert!(
            render_info(&info, &reg.snapshot(), t0)
                .contains("Version: 1.2.3\nRelease_date: 2026/11/27\n")
        );
    }
}
