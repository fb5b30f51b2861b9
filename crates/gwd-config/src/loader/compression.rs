//! `compression = { algo, type, offload }` of `[defaults]`, frontends,
//! backends and listen sections: HAProxy's `compression algo|type|offload`
//! lines, one TOML key each.
//!
//! Model: the table is read into the section's own [`Compression`];
//! inheritance (`[defaults]` extended by the section, as HAProxy 2.6) is
//! [`Compression::extended`], applied with the other settings. Of the
//! keywords of later HAProxy versions, `minsize-res` is read; the others
//! (`direction`, `algo-req`...) are refused as "not supported yet", never
//! as typos.

use super::*;
use crate::compression::{Compression, CompressionAlgo};

/// The keys of a `compression` table.
const COMPRESSION_KEYS: &[&str] = &["algo", "type", "offload", "minsize-res"];

/// HAProxy keywords of the `compression` line gwd does not implement.
const COMPRESSION_NOT_YET: &[(&str, &str)] = &[
    (
        "direction",
        "gwd compresses responses only (HAProxy 2.6's behaviour); leave `direction` out",
    ),
    (
        "algo-req",
        "gwd compresses responses only; use `algo` for responses",
    ),
    (
        "algo-res",
        "write the response algorithms as `algo` (HAProxy 2.6's keyword)",
    ),
    (
        "type-req",
        "gwd compresses responses only; use `type` for responses",
    ),
    (
        "type-res",
        "write the response types as `type` (HAProxy 2.6's keyword)",
    ),
    (
        "minsize-req",
        "gwd compresses responses only, of any size (HAProxy 2.6's behaviour)",
    ),
];

impl Cx<'_> {
    /// Reads a section's `compression` table (its own settings, before
    /// inheritance).
    pub(super) fn compression(&mut self, v: &Val<'_>, path: &str) -> Option<Compression> {
        let example = "`compression = { algo = [\"gzip\"], type = [\"text/html\"] }`";
        let t = self.table(v, path, &format!("write it as {example}"))?;
        for (k, _) in t.iter() {
            let key: &str = k.get_ref();
            if let Some((_, h)) = COMPRESSION_NOT_YET.iter().find(|(n, _)| *n == key) {
                self.error(
                    k.span().start,
                    &join(path, key),
                    format!("`compression.{key}` is not supported yet"),
                    help(*h),
                );
            }
        }
        let known: Vec<&str> = COMPRESSION_KEYS
            .iter()
            .chain(COMPRESSION_NOT_YET.iter().map(|(k, _)| k))
            .copied()
            .collect();
        self.check_keys(t, path, "the `compression` table", &known, &[], &|_| None);
        let mut out = Compression::default();
        if let Some(v) = t.get("minsize-res") {
            out.minsize_res = self.size(v, &join(path, "minsize-res")).map(|n| n as u64);
        }
        if let Some(v) = t.get("algo") {
            let p = join(path, "algo");
            let names: Vec<&str> = CompressionAlgo::ALL.iter().map(|(n, _)| *n).collect();
            let hint = "write it as `[\"gzip\", \"deflate\"]`";
            if let Some(arr) = self.array(v, &p, hint) {
                if arr.is_empty() {
                    self.error(
                        v.span().start,
                        &p,
                        "`compression.algo` is empty",
                        help(format!(
                            "list at least one of {}, or leave `algo` out",
                            list(&names)
                        )),
                    );
                }
                for (i, e) in arr.iter().enumerate() {
                    let Some(name) = self.choice(e, &index(&p, i), &names) else {
                        continue;
                    };
                    let algo = CompressionAlgo::ALL
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, a)| *a)
                        .expect("a listed name");
                    if out.algos.contains(&algo) {
                        self.error(
                            e.span().start,
                            &index(&p, i),
                            format!("`{name}` is listed twice in `compression.algo`"),
                            help("list each algorithm once"),
                        );
                        continue;
                    }
                    out.algos.push(algo);
                }
            }
        }
        if let Some(v) = t.get("type") {
            let p = join(path, "type");
            let hint = "write it as `[\"text/html\", \"text/plain\"]`";
            if let Some(arr) = self.array(v, &p, hint) {
                if arr.is_empty() {
                    self.error(
                        v.span().start,
                        &p,
                        "`compression.type` is empty",
                        help("list media types such as `\"text/html\"`, or leave `type` out to compress every type"),
                    );
                }
                for (i, e) in arr.iter().enumerate() {
                    let ip = index(&p, i);
                    let Some(s) = self.string(e, &ip, "`\"text/html\"`") else {
                        continue;
                    };
                    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()) {
                        self.error(
                            e.span().start,
                            &ip,
                            format!("invalid media type `{s}` in `compression.type`"),
                            help("write a media type such as `\"text/html\"`, without spaces"),
                        );
                        continue;
                    }
                    out.types.push(s.to_owned());
                }
            }
        }
        if let Some(v) = t.get("offload") {
            out.offload = self.boolean(v, &join(path, "offload")).unwrap_or(false);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::compression::CompressionAlgo::*;

    fn load(extra_defaults: &str, fe: &str, be: &str) -> Result<crate::Config, String> {
        let text = format!(
            "[defaults]\n{extra_defaults}\n\
             [frontend.f]\nbind = [{{ addr = \"127.0.0.1:0\" }}]\ndefault_backend = \"b\"\n{fe}\n\
             [backend.b]\nserver = [{{ name = \"s\", addr = \"127.0.0.1:1\" }}]\n{be}\n"
        );
        crate::parse_str(&text, std::path::Path::new("t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn sections_extend_defaults_and_backends_inherit_too() {
        let c = load(
            "compression.algo = [\"deflate\"]\ncompression.type = [\"text/plain\"]",
            "compression.algo = [\"gzip\", \"raw-deflate\"]\ncompression.offload = true",
            "",
        )
        .unwrap();
        let fe = &c.frontends[0].compression;
        assert_eq!(fe.algos, [Deflate, Gzip, RawDeflate]);
        assert_eq!(fe.types, ["text/plain"]);
        assert!(fe.offload);
        let be = &c.backends[0].compression;
        assert_eq!(be.algos, [Deflate]);
        assert!(!be.offload);
    }

    #[test]
    fn bad_values_get_clear_errors() {
        let e = load("", "compression.algo = [\"br\"]", "").unwrap_err();
        assert!(e.contains("invalid value `br`"), "{e}");
        let e = load("", "compression.algo = [\"gzip\", \"gzip\"]", "").unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
        let e = load("", "compression.algo = []", "").unwrap_err();
        assert!(e.contains("`compression.algo` is empty"), "{e}");
        let e = load("", "compression.type = [\"text/ html\"]", "").unwrap_err();
        assert!(e.contains("invalid media type"), "{e}");
        let e = load("", "compression.offload = \"yes\"", "").unwrap_err();
        assert!(e.contains("a boolean"), "{e}");
        let e = load("", "compression.algos = [\"gzip\"]", "").unwrap_err();
        assert!(
            e.contains("unknown key `algos`") && e.contains("did you mean `algo`"),
            "{e}"
        );
    }

    #[test]
    fn global_compression_limits_are_not_supported_yet() {
        let text = "[global]\nmaxcomprate = 1000\n";
        let e = crate::parse_str(text, std::path::Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`maxcomprate` is not supported yet"), "{e}");
    }

    #[test]
    fn minsize_res_is_a_size() {
        let c = load("", "compression.minsize-res = \"1k\"", "").unwrap();
        assert_eq!(c.frontends[0].compression.minsize_res, Some(1024));
        let e = load("", "compression.minsize-res = -1", "").unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
    }

    #[test]
    fn later_haproxy_keywords_are_not_supported_yet() {
        for k in [
            "direction = \"both\"",
            "algo-res = [\"gzip\"]",
            "minsize-req = 1024",
        ] {
            let e = load("", &format!("compression.{k}"), "").unwrap_err();
            assert!(e.contains("is not supported yet"), "{k}: {e}");
            assert!(!e.contains("unknown key"), "{k}: {e}");
        }
    }
}
