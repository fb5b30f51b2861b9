//! HTTP response compression settings: HAProxy's `compression algo`,
//! `compression type` and `compression offload` (TOML
//! `compression.algo`, `compression.type`, `compression.offload`).
//!
//! Model: every frontend and backend carries one [`Compression`]: what
//! `[defaults]` set, then what the section itself adds. As in HAProxy
//! 2.6, a section's lists *extend* the inherited ones (a section's
//! `algo = ["gzip"]` under a `[defaults]` with `["deflate"]` offers
//! both), and `offload` set anywhere stays set.
//!
//! Which settings a request uses is decided per field (HAProxy's order):
//! the backend's algorithms when it has any, else the frontend's; the
//! backend's types when it has any, else the frontend's; `offload` when
//! either sets it. The decision itself lives in gwd-http.
//!
//! Invariants: `algos` holds no duplicate; `types` entries are non-empty
//! ASCII without control characters, stored as written (matched
//! case-insensitively as prefixes of `Content-Type`, as HAProxy does).

/// One `compression.algo` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionAlgo {
    /// `identity`: no transformation; chosen only when the visitor asks
    /// for no coding it knows, it leaves the answer as it is.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950) around deflate data.
    Deflate,
    /// `raw-deflate`: bare deflate data (RFC 1951) labelled `deflate`,
    /// for the clients that expect `deflate` without zlib's wrapper.
    RawDeflate,
}

impl CompressionAlgo {
    /// Every algorithm, by its configuration name.
    pub const ALL: [(&'static str, CompressionAlgo); 4] = [
        ("identity", CompressionAlgo::Identity),
        ("gzip", CompressionAlgo::Gzip),
        ("deflate", CompressionAlgo::Deflate),
        ("raw-deflate", CompressionAlgo::RawDeflate),
    ];

    /// The name written in the configuration.
    pub fn config_name(self) -> &'static str {
        match self {
            CompressionAlgo::Identity => "identity",
            CompressionAlgo::Gzip => "gzip",
            CompressionAlgo::Deflate => "deflate",
            CompressionAlgo::RawDeflate => "raw-deflate",
        }
    }

    /// The content coding it is known as in `Accept-Encoding` and
    /// `Content-Encoding` (`raw-deflate` answers as `deflate`).
    pub fn coding(self) -> &'static str {
        match self {
            CompressionAlgo::Identity => "identity",
            CompressionAlgo::Gzip => "gzip",
            CompressionAlgo::Deflate | CompressionAlgo::RawDeflate => "deflate",
        }
    }
}

/// The compression settings of one frontend or backend (see the module
/// documentation for inheritance and precedence).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compression {
    /// `compression.algo`, in configuration order. Empty: this section
    /// offers no compression of its own.
    pub algos: Vec<CompressionAlgo>,
    /// `compression.type`: the media types compressed. Empty: any type
    /// (but never `multipart/*`).
    pub types: Vec<String>,
    /// `compression.offload`: `Accept-Encoding` is removed from requests
    /// for which an algorithm was chosen, so the server sends its answer
    /// uncompressed and gwd compresses it.
    pub offload: bool,
    /// `compression.minsize-res`: answers whose `Content-Length` is below
    /// this many bytes are relayed as they are; `None`: not set here
    /// ([`DEFAULT_MINSIZE_RES`] applies).
    pub minsize_res: Option<u64>,
}

/// The `minsize-res` gwd uses when none is configured: a smaller answer
/// gains little or nothing from gzip (its header and trailer alone are 18
/// bytes), so it is sent as it is. HAProxy 2.6 has no minimum; write
/// `minsize-res = 0` for its behaviour.
pub const DEFAULT_MINSIZE_RES: u64 = 256;

impl Compression {
    /// `self` (inherited) extended by a section's own settings.
    pub fn extended(&self, own: &Compression) -> Compression {
        let mut algos = self.algos.clone();
        for a in &own.algos {
            if !algos.contains(a) {
                algos.push(*a);
            }
        }
        let mut types = self.types.clone();
        types.extend(own.types.iter().cloned());
        Compression {
            algos,
            types,
            offload: self.offload || own.offload,
            minsize_res: own.minsize_res.or(self.minsize_res),
        }
    }

    /// True when nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.algos.is_empty()
            && self.types.is_empty()
            && !self.offload
            && self.minsize_res.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_extends_what_it_inherits() {
        let d = Compression {
            algos: vec![CompressionAlgo::Deflate],
            types: vec!["text/plain".into()],
            offload: true,
            minsize_res: Some(100),
        };
        let own = Compression {
            algos: vec![CompressionAlgo::Gzip, CompressionAlgo::Deflate],
            types: vec!["text/html".into()],
            offload: false,
            minsize_res: None,
        };
        let e = d.extended(&own);
        assert_eq!(
            e.minsize_res,
            Some(100),
            "inherited when the section sets none"
        );
        let e2 = d.extended(&Compression {
            minsize_res: Some(0),
            ..Compression::default()
        });
        assert_eq!(e2.minsize_res, Some(0), "the section's own wins");
        assert_eq!(e.algos, [CompressionAlgo::Deflate, CompressionAlgo::Gzip]);
        assert_eq!(e.types, ["text/plain", "text/html"]);
        assert!(e.offload);
    }

    #[test]
    fn raw_deflate_answers_as_deflate() {
        assert_eq!(CompressionAlgo::RawDeflate.coding(), "deflate");
        assert_eq!(CompressionAlgo::RawDeflate.config_name(), "raw-deflate");
    }
}
