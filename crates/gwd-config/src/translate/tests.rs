use super::*;

fn t(cfg: &str) -> Translation {
    translate_haproxy_cfg(cfg)
}

#[test]
fn global_and_defaults() {
    let out = t(
        "global\n    nbthread 2\n    daemon\n    log 127.0.0.1:514 local0\n    stats socket /run/gwd.sock mode 660 level admin\n    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\ndefaults\n    mode http\n    timeout client 30s\n    option forwardfor header X-Client-IP\n    no option redispatch\n    log global\n",
    );
    assert_eq!(
        out.toml,
        "[global]\nnbthread = 2\n# daemon\nlog = [ \"127.0.0.1:514 local0\" ]\n\
         stats-socket = [\n  { addr = \"/run/gwd.sock\", mode = \"660\", level = \"admin\" },\n]\n\
         ssl-default-bind-options = \"ssl-min-ver TLSv1.2 no-tls-tickets\"\n\n\
         [defaults]\nmode = \"http\"\ntimeout.client = \"30s\"\n\
         option.forwardfor = { header = \"X-Client-IP\" }\noption.redispatch = false\nlog = \"global\"\n"
    );
    assert_eq!(out.notes.len(), 1);
    assert_eq!(out.notes[0].kind, NoteKind::Dropped);
    assert_eq!(out.notes[0].line, 3);
    assert!(out.is_complete());
}

#[test]
fn rules_keep_their_conditions_as_written() {
    let out = t(r#"frontend www
    bind :8443 ssl crt a.pem crt b.pem alpn h2,http/1.1
    acl is_api path_beg /api
    acl is_api hdr(host) -i api.example
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    http-request return status 200 content-type text/plain string "ok\n" hdr X-A %[dst_port] if { path /healthz }
    http-request set-var(txn.host) req.hdr(host),lower
    http-request redirect code 301 prefix / drop-query append-slash if !is_api
    redirect scheme https if !{ ssl_fc }
    http-request deny deny_status 429 unless is_api
    http-response set-status 503 reason "Try Later" if { status 500 }
    use_backend api if is_api
"#);
    assert!(out.is_complete(), "{:?}", out.notes);
    let doc: toml::Table = out.toml.parse().unwrap();
    let fe = &doc["frontend"]["www"];
    assert_eq!(fe["bind"][0]["crt"][1].as_str(), Some("b.pem"));
    assert_eq!(fe["bind"][0]["alpn"][1].as_str(), Some("http/1.1"));
    assert_eq!(
        fe["acl"]["is_api"][1].as_str(),
        Some("hdr(host) -i api.example")
    );
    let rules = fe["http-request"].as_array().unwrap();
    assert_eq!(rules[0]["if"].as_str(), Some("{ ssl_fc }"));
    assert_eq!(rules[1]["body"].as_str(), Some("ok\n"));
    assert_eq!(rules[1]["hdr"][0]["value"].as_str(), Some("%[dst_port]"));
    assert_eq!(rules[2]["var"].as_str(), Some("txn.host"));
    assert_eq!(rules[2]["expr"].as_str(), Some("req.hdr(host),lower"));
    assert_eq!(rules[3]["append-slash"].as_bool(), Some(true));
    assert_eq!(rules[4]["status"].as_integer(), Some(429));
    assert_eq!(rules[4]["unless"].as_str(), Some("is_api"));
    // The section-level redirect runs after the http-request rules.
    assert_eq!(rules[5]["scheme"].as_str(), Some("https"));
    assert_eq!(rules[5]["if"].as_str(), Some("!{ ssl_fc }"));
    assert_eq!(fe["http-response"][0]["reason"].as_str(), Some("Try Later"));
    assert_eq!(fe["use_backend"][0]["backend"].as_str(), Some("api"));
}

#[test]
fn default_server_applies_to_later_servers() {
    let out = t(
        "defaults\n    default-server inter 3s fall 2\nbackend app\n    default-server check weight 5\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80 weight 10 addr 10.0.0.9 sni str(b.internal)\n",
    );
    assert!(out.is_complete(), "{:?}", out.notes);
    let doc: toml::Table = out.toml.parse().unwrap();
    let s = doc["backend"]["app"]["server"].as_array().unwrap();
    assert_eq!(s[0]["inter"].as_str(), Some("3s"));
    assert_eq!(s[0]["check"].as_bool(), Some(true));
    assert_eq!(s[0]["weight"].as_integer(), Some(5));
    assert_eq!(s[1]["weight"].as_integer(), Some(10));
    assert_eq!(s[1]["check-addr"].as_str(), Some("10.0.0.9"));
    assert_eq!(s[1]["sni"].as_str(), Some("b.internal"));
}

#[test]
fn what_gwd_lacks_stays_as_a_comment_with_a_reason() {
    let out = t(
        "peers mypeers\n    peer a 127.0.0.1:1024\nfrontend f\n    bind :80\n    stick-table type ip size 1m\n    compression direction both\n    http-request allow\n    frobnicate 3\n    tcp-request session track-sc0 src\n    server x 1.2.3.4:80 slowstart 10s\n",
    );
    let lines: Vec<(usize, NoteKind)> = out.notes.iter().map(|n| (n.line, n.kind)).collect();
    assert_eq!(
        lines,
        [
            (1, NoteKind::NotSupported),
            (5, NoteKind::NotSupported),
            (6, NoteKind::NotSupported),
            (7, NoteKind::NotSupported),
            (8, NoteKind::NotSupported),
            (9, NoteKind::NotSupported),
            (10, NoteKind::Invalid),
        ]
    );
    assert!(
        out.notes[1].message.contains("not supported yet"),
        "{}",
        out.notes[1]
    );
    assert!(
        out.notes[4].message.contains("`frobnicate`"),
        "{}",
        out.notes[4]
    );
    assert!(
        out.toml
            .contains("# peers mypeers\n# peer a 127.0.0.1:1024\n"),
        "{}",
        out.toml
    );
    assert!(out.toml.contains("# compression direction both\n"));
    assert!(!out.is_complete());
    // Still TOML.
    let _: toml::Table = out.toml.parse().unwrap();
}

#[test]
fn bad_lines_are_named() {
    let out = t("frontend f\n    bind :80 ssl crt 'a.pem\n    timeout client\nserver x\n");
    let kinds: Vec<NoteKind> = out.notes.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [NoteKind::Invalid; 3]);
    assert!(out.notes[0].message.contains("quote"));
    assert!(out.notes[1].message.contains("needs a value"));
    let _: toml::Table = out.toml.parse().unwrap();
}

#[test]
fn a_single_value_keyword_with_more_words_is_named_not_cut() {
    let out = t("global\n    tune.maxpollevents 64 65\n    nbthread 2 4\n    maxconn 100\n");
    let kinds: Vec<NoteKind> = out.notes.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [NoteKind::Invalid; 2]);
    assert!(
        out.notes[0].message.contains("`65` is one too many"),
        "{:?}",
        out.notes
    );
    assert!(
        out.notes[1].message.contains("`4` is one too many"),
        "{:?}",
        out.notes
    );
    assert!(!out.toml.contains("maxpollevents = 64"), "{}", out.toml);
    assert!(out.toml.contains("maxconn = 100"), "{}", out.toml);
    assert!(!out.is_complete());
}

#[test]
fn maxpollevents_is_read_as_haproxy_reads_it() {
    // 0 is HAProxy's default (200), which is gwd's: nothing to write.
    let out = t("global\n    tune.maxpollevents 0\n");
    assert!(out.is_complete(), "{:?}", out.notes);
    assert!(!out.toml.contains("maxpollevents ="), "{}", out.toml);
    assert_eq!(out.notes[0].kind, NoteKind::Dropped);
    assert!(out.notes[0].message.contains("default"), "{:?}", out.notes);
    // Above gwd's bound: the bound, said so.
    let out = t("global\n    tune.maxpollevents 100000\n");
    assert!(out.is_complete(), "{:?}", out.notes);
    assert!(
        out.toml.contains("tune.maxpollevents = 65536"),
        "{}",
        out.toml
    );
    assert_eq!(out.notes[0].kind, NoteKind::Dropped);
    assert!(out.notes[0].message.contains("65536"), "{:?}", out.notes);
    // Both translations load.
    for cfg in [
        "global\n    tune.maxpollevents 0\n",
        "global\n    tune.maxpollevents 100000\n",
        "global\n    tune.maxpollevents 64\n",
    ] {
        let toml = t(cfg).toml;
        let cfg = crate::parse_str(&toml, std::path::Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{toml}: {e}"));
        assert!(cfg.global.max_poll_events >= 64, "{toml}");
    }
    // Integers past i64 saturate, as HAProxy's `atol` does.
    let out = t("global\n    tune.maxpollevents 99999999999999999999999\n");
    assert!(out.is_complete(), "{:?}", out.notes);
    assert!(
        out.toml.contains("tune.maxpollevents = 65536"),
        "{}",
        out.toml
    );
    let out = t("global\n    tune.maxpollevents -99999999999999999999999\n");
    assert!(out.is_complete(), "{:?}", out.notes);
    assert!(!out.toml.contains("maxpollevents ="), "{}", out.toml);
    let out = t("global\n    tune.maxpollevents -0\n");
    assert!(
        out.notes[0].message.contains("`tune.maxpollevents -0`"),
        "{:?}",
        out.notes
    );
    for word in ["lots", "1e3", "0x10", "-", "5k"] {
        let out = t(&format!("global\n    tune.maxpollevents {word}\n"));
        assert_eq!(out.notes[0].kind, NoteKind::Invalid, "{word}");
    }
    let out = t("global\n    tune.maxpollevents lots\n");
    assert_eq!(out.notes[0].kind, NoteKind::Invalid);
    assert!(out.notes[0].message.contains("integer"), "{:?}", out.notes);
    assert!(!out.is_complete());
}

#[test]
fn stats_lines_make_one_stats_table() {
    let out = t(
        "listen stats\n    bind :8404\n    stats enable\n    stats uri /stats\n    stats auth a:b\n    stats auth c:d\n    stats hide-version\n",
    );
    assert!(out.is_complete(), "{:?}", out.notes);
    let doc: toml::Table = out.toml.parse().unwrap();
    let st = &doc["listen"]["stats"]["stats"];
    assert_eq!(st["uri"].as_str(), Some("/stats"));
    assert_eq!(st["auth"][1].as_str(), Some("c:d"));
    assert_eq!(st["hide-version"].as_bool(), Some(true));
}

#[test]
fn compression_captures_and_tcp_rules() {
    let out = t(
        "frontend f\n    mode tcp\n    bind :443\n    tcp-request inspect-delay 5s\n    tcp-request connection reject if { src 10.0.0.0/8 }\n    tcp-request content accept if { req.ssl_hello_type 1 }\n    use_backend a if { req.ssl_sni -i a.example }\nfrontend w\n    bind :80\n    capture request header Host len 20\n    capture response header Server len 20\n    declare capture request len 32\n    http-request capture req.cook(SID) len 32\n    http-response capture res.hdr(x-cache) id 0\n    compression algo gzip deflate\n    compression type text/html text/plain\n    compression offload\n",
    );
    assert!(out.is_complete(), "{:?}", out.notes);
    let doc: toml::Table = out.toml.parse().unwrap();
    let f = &doc["frontend"]["f"];
    assert_eq!(f["tcp-request"]["inspect-delay"].as_str(), Some("5s"));
    assert_eq!(
        f["tcp-request"]["connection"][0]["action"].as_str(),
        Some("reject")
    );
    assert_eq!(
        f["tcp-request"]["connection"][0]["if"].as_str(),
        Some("{ src 10.0.0.0/8 }")
    );
    assert_eq!(
        f["tcp-request"]["content"][0]["if"].as_str(),
        Some("{ req.ssl_hello_type 1 }")
    );
    let w = &doc["frontend"]["w"];
    assert_eq!(w["capture"][0]["request-header"].as_str(), Some("Host"));
    assert_eq!(w["capture"][1]["response-header"].as_str(), Some("Server"));
    assert_eq!(w["capture"][2]["declare"].as_str(), Some("request"));
    assert_eq!(w["capture"][2]["len"].as_integer(), Some(32));
    assert_eq!(w["http-request"][0]["expr"].as_str(), Some("req.cook(SID)"));
    assert_eq!(w["http-response"][0]["id"].as_integer(), Some(0));
    assert_eq!(w["compression"]["algo"][1].as_str(), Some("deflate"));
    assert_eq!(w["compression"]["type"][0].as_str(), Some("text/html"));
    assert_eq!(w["compression"]["offload"].as_bool(), Some(true));
}

#[test]
fn userlists_and_auth() {
    let out = t(
        "userlist admins\n    group ops users bob,carol\n    user alice password $6$x$y groups ops\n    user dave insecure-password plain\nfrontend f\n    bind :80\n    acl is_ops http_auth_group(admins) ops\n    http-request auth realm Admins if !{ http_auth(admins) }\n    http-request auth\n",
    );
    assert!(out.is_complete(), "{:?}", out.notes);
    let doc: toml::Table = out.toml.parse().unwrap();
    let u = &doc["userlist"]["admins"];
    assert_eq!(u["group"][0]["users"][1].as_str(), Some("carol"));
    assert_eq!(u["user"][0]["password"].as_str(), Some("$6$x$y"));
    assert_eq!(u["user"][0]["groups"][0].as_str(), Some("ops"));
    assert_eq!(u["user"][1]["insecure-password"].as_str(), Some("plain"));
    let r = doc["frontend"]["f"]["http-request"].as_array().unwrap();
    assert_eq!(r[0]["realm"].as_str(), Some("Admins"));
    assert_eq!(r[0]["if"].as_str(), Some("!{ http_auth(admins) }"));
    assert!(r[1].get("realm").is_none());
}

#[test]
fn review_cases_keep_meaning_or_say_why() {
    let out = t(r#"listen www
    bind :8080
    maxconn 5000
log-forward syslog
    bind 127.0.0.1:514
    maxconn 10
backend b
    http-check expect status 200
    http-check expect string healthy
    http-check send meth GET hdr X.Y a hdr X.Y b
    option forwardfor if-none
    option forwardfor header A header B
    option http-keep-alive
    timeout client-fin 1s
    server s1 127.0.0.1:80 send-proxy check weight 5
    server s2 127.0.0.1:81 no-check enabled
    http-request return status 200 status 201 content-type a content-type b string x
    http-request redirect location /a code 301 code 302
    http-request set-header X-Word "if"
    http-error status 503 content-type text/plain content-type text/html string x
frontend f
    bind :18080 ssl crt a.pem ssl alpn h2 alpn http/1.1 no-sslv3
    bind :18081 v4v6 maxconn 10
    http-request return status 200 string "a\x41b"
    http-request return status 200 string "x${MYV}y"
    default_backend b
"#);
    let doc: toml::Table = out
        .toml
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
    let notes: Vec<(usize, NoteKind)> = out.notes.iter().map(|n| (n.line, n.kind)).collect();
    assert_eq!(
        notes,
        [
            (4, NoteKind::NotSupported),  // log-forward: its lines go with it
            (9, NoteKind::NotSupported),  // a second http-check expect
            (11, NoteKind::NotSupported), // forwardfor if-none
            (13, NoteKind::NotSupported), // option http-keep-alive
            (14, NoteKind::NotSupported), // timeout client-fin
            (15, NoteKind::NotSupported), // send-proxy
            (16, NoteKind::Dropped),      // enabled, the default
            (22, NoteKind::Dropped),      // no-sslv3
            (23, NoteKind::NotSupported), // v4v6
            (25, NoteKind::NotSupported), // an environment variable
        ],
        "{:#?}",
        out.notes
    );
    assert!(
        out.toml.contains("# bind 127.0.0.1:514\n# maxconn 10\n"),
        "{}",
        out.toml
    );
    assert_eq!(doc["listen"]["www"]["maxconn"].as_integer(), Some(5000));
    let b = &doc["backend"]["b"];
    assert_eq!(b["http-check"]["expect"].as_str(), Some("status 200"));
    assert_eq!(b["http-check"]["send"]["hdr"]["X.Y"].as_str(), Some("b"));
    assert_eq!(b["option"]["forwardfor"]["header"].as_str(), Some("B"));
    assert_eq!(b["server"][0]["name"].as_str(), Some("s2"));
    assert_eq!(b["server"][0]["check"].as_bool(), Some(false));
    let r = b["http-request"].as_array().unwrap();
    assert_eq!(r[0]["status"].as_integer(), Some(201));
    assert_eq!(r[0]["content-type"].as_str(), Some("b"));
    assert_eq!(r[1]["code"].as_integer(), Some(302));
    assert_eq!(r[2]["value"].as_str(), Some("if"));
    assert!(r[2].get("if").is_none());
    assert_eq!(
        b["http-error"][0]["content-type"].as_str(),
        Some("text/html")
    );
    let f = &doc["frontend"]["f"];
    assert_eq!(f["bind"].as_array().unwrap().len(), 1);
    assert_eq!(f["bind"][0]["alpn"][0].as_str(), Some("http/1.1"));
    assert_eq!(f["http-request"][0]["body"].as_str(), Some("aAb"));
}

#[test]
fn defaults_keys_gwd_reads_elsewhere_and_rhttp_servers() {
    let out = t(
        "defaults\n    maxconn 100\n    default-server check inter 2s\nbackend tunnels\n    server pool rhttp@ ssl verify none sni hdr(x-name)\n    server real 127.0.0.1:80\n",
    );
    let doc: toml::Table = out.toml.parse().unwrap();
    let kinds: Vec<(usize, NoteKind)> = out.notes.iter().map(|n| (n.line, n.kind)).collect();
    assert_eq!(
        kinds,
        [(2, NoteKind::NotSupported), (5, NoteKind::Dropped)],
        "{:#?}",
        out.notes
    );
    let s = doc["backend"]["tunnels"]["server"].as_array().unwrap();
    assert_eq!(s[0].as_table().unwrap().len(), 3, "{:?}", s[0]); // name, addr, sni
    assert_eq!(s[0]["sni"].as_str(), Some("hdr(x-name)"));
    assert_eq!(s[1]["check"].as_bool(), Some(true));
    assert_eq!(s[1]["inter"].as_str(), Some("2s"));
}

#[test]
fn a_line_is_named_once() {
    // A name used twice, with a word after it: one note, the first reason.
    let out =
        t("backend a\n    server s 127.0.0.1:80\nbackend a extra\n    server t 127.0.0.1:81\n");
    let lines: Vec<usize> = out.notes.iter().map(|n| n.line).collect();
    assert_eq!(lines, [3], "{:#?}", out.notes);
    assert_eq!(out.notes[0].kind, NoteKind::Invalid);
    let doc: toml::Table = out.toml.parse().unwrap();
    assert_eq!(doc["backend"]["a"]["server"].as_array().unwrap().len(), 1);
}

#[test]
fn toml_keys_are_not_haproxy_keywords() {
    // Found by the haproxy_cfg fuzz target: `addr` after a bind address
    // made a table with two `addr` keys.
    let out = t(
        "frontend f\n    bind :8443 ssl crt a.pem addr h2\nbackend b\n    server s 127.0.0.1:80 name x\n",
    );
    let kinds: Vec<(usize, NoteKind)> = out.notes.iter().map(|n| (n.line, n.kind)).collect();
    assert_eq!(kinds, [(2, NoteKind::Invalid), (4, NoteKind::Invalid)]);
    let _: toml::Table = out.toml.parse().unwrap();
}

mod generated {
    use super::*;
    use proptest::prelude::*;

    /// Words a haproxy.cfg line is made of: keywords of every section,
    /// their options, and text that is hard to quote in TOML.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "global",
                "defaults",
                "frontend",
                "backend",
                "listen",
                "userlist",
                "bind",
                "server",
                "default-server",
                "acl",
                "http-request",
                "http-response",
                "http-after-response",
                "tcp-request",
                "session",
                "attach-srv",
                "use_backend",
                "default_backend",
                "redirect",
                "option",
                "no",
                "timeout",
                "stats",
                "enable",
                "uri",
                "auth",
                "log",
                "global",
                "http-check",
                "send",
                "expect",
                "hdr",
                "errorfile",
                "errorloc302",
                "http-error",
                "status",
                "string",
                "deny",
                "deny_status",
                "return",
                "set-header",
                "set-var(txn.x)",
                "if",
                "unless",
                "{",
                "}",
                "ssl",
                "crt",
                "alpn",
                "check",
                "inter",
                "weight",
                "addr",
                "sni",
                "str(x)",
                "prefix",
                "code",
                "scheme",
                "forwardfor",
                "header",
                "httpchk",
                "content-type",
                "lf-string",
                "mode",
                "http",
                ":80",
                "127.0.0.1:9",
                "rhttp@",
                "daemon",
                "maxconn",
                "10",
                "-1",
                "a.b",
                "name",
            ])
            .prop_map(str::to_owned),
            "[a-z\"'\\\\#{}. \t=\\[\\]\u{1}\u{7f}é\r-]{1,8}",
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["", "    ", "\t"]),
            prop::collection::vec(word(), 0..8),
        )
            .prop_map(|(indent, words)| format!("{indent}{}", words.join(" ")))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Whatever the input, the output is TOML, and every line left
        /// behind is named once.
        #[test]
        fn the_output_is_always_toml(lines in prop::collection::vec(line(), 1..12)) {
            let text = lines.join("\n");
            let t = translate_haproxy_cfg(&text);
            if let Err(e) = t.toml.parse::<toml::Table>() {
                panic!("invalid TOML ({e}) from:\n{text}\n---\n{}", t.toml);
            }
            let mut seen = std::collections::HashSet::new();
            for n in &t.notes {
                prop_assert!(n.line >= 1 && n.line <= lines.len(), "{n}");
                prop_assert!(seen.insert(n.line), "line {} named twice", n.line);
            }
        }
    }
}

#[test]
fn option_redispatch_keeps_its_interval() {
    let out = t(
        "defaults\n    option redispatch\nbackend a\n    option redispatch -2\n    server s 127.0.0.1:80\n",
    );
    assert!(
        out.toml.contains("[defaults]\noption.redispatch = true\n"),
        "{}",
        out.toml
    );
    assert!(
        out.toml.contains("option.redispatch = -2\n"),
        "{}",
        out.toml
    );
    assert!(out.is_complete(), "{:?}", out.notes);
    let bad = t("defaults\n    option redispatch often\n");
    assert!(!bad.is_complete());
}
