//! `gwd-maps`: the map and ACL pattern engine of gwd, usable on its own.
//!
//! ```
//! use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
//!
//! // One reference per map file; every rule naming the file shares it.
//! let backends = MapRef::new("hosts.map", RefKind::Map);
//! // One matcher per match method (`map_str`, `map_beg`, ... in HAProxy).
//! let exact = backends.matcher(MatchSpec::icase(MatchKind::Str)).unwrap();
//! let by_suffix = backends.matcher(MatchSpec::new(MatchKind::End)).unwrap();
//! // Or `load_file("/etc/gwd/hosts.map")`; same format: `key value` lines.
//! backends
//!     .load_map_str("hosts.map", b"# host -> backend\nwww.example.com web\n.example.com other\n")
//!     .unwrap();
//!
//! assert_eq!(exact.lookup(b"WWW.example.com").unwrap().value(), b"web");
//! assert_eq!(by_suffix.lookup(b"api.example.com").unwrap().value(), b"other");
//! assert!(exact.lookup(b"example.org").is_none());
//!
//! // A runtime change (`set map hosts.map www.example.com new`) is what
//! // the next lookup on any thread sees; lookups never take a lock.
//! backends.set(b"www.example.com", b"new").unwrap();
//! assert_eq!(exact.lookup(b"www.example.com").unwrap().value(), b"new");
//! ```
//!
//! # Model
//!
//! A [`MapRef`] (pattern reference) holds the entries of one map file or ACL
//! id: `(key, value)` pairs in file order. Every rule naming the file shares
//! the reference. Each use of it with a match kind and flags
//! ([`MatchSpec`]) gets its own index and a [`Matcher`] to read it; a use
//! by the configuration ([`MapRef::register_use`], a [`PatternUse`]) also
//! says how values are read ([`ValueType`]: `map_*_int` / `map_*_ip` make
//! every value subject to that type) and is what `get map` reports.
//!
//! Invariants:
//! * Every entry has a sequence number, unique in its reference and never
//!   reused, that grows with file/insertion order. "First in file order"
//!   means "lowest sequence number". Duplicated keys are kept.
//! * A version is an immutable snapshot: a key tree plus one index per
//!   registered spec. Lookups read the published snapshot of the current
//!   version through one atomic load; writers (serialised by a mutex that
//!   readers never touch) build the next snapshot by path copying and swap it
//!   in. A lookup therefore sees one whole version, before or after any
//!   concurrent change, never a mix.
//! * `prepare` allocates a version number; entries added to it live in their
//!   own snapshot; `commit` publishes that snapshot with one pointer swap and
//!   drops older versions. Memory of replaced snapshots is released by a
//!   writer once readers let go of it, never by a reader.
//! * Every change (runtime-API commands and traffic-driven actions alike)
//!   is published before it returns.
//! * Every value in every version parses as each registered [`ValueType`].
//! * A reload that keeps a reference checks it against the new
//!   configuration's uses reading only ([`MapRef::check_use`]), then hands
//!   it over all or nothing ([`Rebinding`]): the running configuration is
//!   not changed before the new one is known to be valid.
//!
//! # Which entry wins (HAProxy's rules)
//!
//! | kind | index | answer |
//! |---|---|---|
//! | `str` | key tree | exact match; first line among duplicates |
//! | `str -i` | tree of folded keys | first line among case-insensitive equals |
//! | `beg` | key tree, probed at each key length present | **longest** prefix; first line among equal keys |
//! | `beg -i` | folded tree, every length probed | **first line** among all matching prefixes |
//! | `end` (`-i`) | tree of reversed-hashed keys, every length probed | first line among matching suffixes |
//! | `sub` (`-i`) | Aho-Corasick + delta | first line among keys found anywhere |
//! | `dom` / `dir` (`-i`) | tree of keys without outer delimiters, probed at delimiter boundaries | first line whose key sits between input ends or delimiters (`/?.:` / `/?`) |
//! | `reg` (`-i`) | index of required literals + delta; each regex compiled on first use | first line whose regex finds a match |
//! | `regm` | as `reg`, with capture groups | as `reg`; groups substituted into the value ([`Matcher::lookup_regm`]) |
//! | `int` / `len` | exact-value tree + interval table | first line whose range holds the value |
//! | `ip` | prefix-length tables | longest prefix (see below); first line among equal networks |
//! | `found` | none | matches whenever a sample exists |
//!
//! `ip`: an IPv4 input takes the longest IPv4 prefix, else the longest IPv6
//! prefix for `::ffff:a.b.c.d`, else the first non-contiguous-mask IPv4 key in
//! file order. An IPv6 input takes the longest IPv6 prefix, else, when it
//! embeds IPv4 (`::ffff:a.b.c.d`, `::a.b.c.d`, `2002:AABB:CCDD::`), the IPv4
//! steps 1 and 3 with that address.
//!
//! `dom`/`dir` keys made only of delimiters (`.`, `/`, ...) match nothing
//! (HAProxy reads past the input there; gwd defines it).
//!
//! `reg` uses the `regex` crate's dialect and engines (`regex-syntax`,
//! `regex-automata`), not PCRE2: backreferences, look-arounds and
//! possessive quantifiers are rejected when the key is added (HAProxy accepts
//! the last two); `{,N}` is literal text, as in PCRE2 10.42. Every regex is
//! parsed (so checked) when added, but compiled only when a lookup first
//! needs it: an input is tested only against the regexes whose required
//! literal it contains (and those without one), in file order.
//!
//! # Costs
//!
//! N entries, L input length. `str` lookups O(L + log N); `beg`/`end`/
//! `dom`/`dir` one tree probe per distinct key length that fits; `ip` one
//! probe per prefix length in use; `sub` O(L + matches); add/set/del O(log N)
//! per index (`sub`, `reg` and `int` ranges also pay an amortised
//! O(sqrt N) share of rebuilding their static base). `reg`: O(L) probes
//! of the literal index, then one NFA run per candidate regex. A lookup in
//! an empty reference is one atomic load.
//!
//! # Scope
//!
//! Pure: no I/O other than [`MapRef::load_file`] (regular files of at most
//! [`file::MAX_FILE_BYTES`] only), no threads, no async. The
//! runtime socket text (CLI parsing, `show map` layout) belongs to callers;
//! error `Display` texts and [`GetReply`] give HAProxy's exact replies.
//! Depends on `arc-swap` (snapshot publication), `parking_lot` (writer
//! mutex), `regex-syntax` and `regex-automata`, `aho-corasick` and
//! `thiserror`.

#![warn(missing_docs, unreachable_pub)]

mod entry;
mod error;
pub mod file;
mod hash;
mod index;
mod keys;
mod layered;
mod mapref;
mod ptree;
mod rebind;
mod regpat;
mod reply;
mod value;

pub use entry::{Entry, EntryId};
pub use error::{LoadError, MapError};
pub use index::{MatchKind, MatchSpec};
pub use mapref::{MapRef, Matcher, RefKind, VersionInfo};
pub use rebind::{PlannedUse, Rebinding};
pub use reply::{GetReply, RegmMatch};
pub use value::{PatternUse, ValueType};
