//! Map and pattern files for the parsers: the [`ParseEnv`] that map
//! converters (`map_beg(hosts.map)`) and ACL `-f`/`-M` flags need, and the
//! [`MapRegistry`] that shares one [`MapRef`] per file, like HAProxy's
//! `pat_ref`.
//!
//! Invariants:
//! * A registry holds at most one reference per file name; every rule that
//!   names the file gets a matcher on that same reference, so a runtime
//!   change is seen by all of them.
//! * A file is used either as a map (converters, `-M`) or as a plain ACL
//!   file (`-f` without `-M`), never both: the formats differ.
//! * Ids are 0-based in order of first use (the `#<id>` of `show map`).
//!
//! The registry is pure: it never reads files itself. The caller passes a
//! loader (the configuration crate reads the file there).

use std::collections::HashMap;

pub use gwd_maps::{MapRef, MatchKind, MatchSpec, Matcher, RefKind};

/// How a rule uses a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapUse {
    /// A `map*` converter: map format.
    Converter,
    /// An ACL `-f <file>` without `-M`: one pattern per line.
    AclFile,
    /// An ACL `-M -f <file>`: map format, keys used as patterns.
    AclMap,
}

impl MapUse {
    /// The file format this use reads.
    pub fn kind(self) -> RefKind {
        match self {
            MapUse::AclFile => RefKind::Acl,
            MapUse::Converter | MapUse::AclMap => RefKind::Map,
        }
    }

    /// Whether an ACL (rather than a converter) uses the file.
    pub fn by_acl(self) -> bool {
        self != MapUse::Converter
    }
}

/// Where a parser asks for map and pattern files.
pub trait MapResolver {
    /// A matcher with `spec` on the reference for `file` used as `how`.
    /// Called once per use; implementations load each file once (after
    /// registering the first spec, so that a key the spec rejects is
    /// reported with its line) and share the reference afterwards. The
    /// error is one line naming the file (and line).
    fn resolve(&mut self, file: &str, how: MapUse, spec: MatchSpec) -> Result<Matcher, String>;
}

/// What parsers may reach besides the text they parse.
///
/// [`ParseEnv::none`] gives no map access: map converters and `-f`/`-M`
/// are then errors of kind [`crate::ParseErrorKind::NoMaps`] (this is what
/// [`crate::Expr::parse`], [`crate::Acls::define`], [`crate::Condition::parse`]
/// and [`crate::LogFormat::parse`] use).
pub struct ParseEnv<'a> {
    maps: Option<&'a mut dyn MapResolver>,
}

impl std::fmt::Debug for ParseEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParseEnv")
            .field("maps", &self.maps.is_some())
            .finish()
    }
}

impl<'a> ParseEnv<'a> {
    /// No map access.
    pub fn none() -> ParseEnv<'static> {
        ParseEnv { maps: None }
    }

    /// Map and pattern files resolved by `maps`.
    pub fn with_maps(maps: &'a mut dyn MapResolver) -> Self {
        ParseEnv { maps: Some(maps) }
    }

    pub(crate) fn resolve(
        &mut self,
        file: &str,
        how: MapUse,
        spec: MatchSpec,
    ) -> Option<Result<Matcher, String>> {
        self.maps.as_mut().map(|m| m.resolve(file, how, spec))
    }
}

/// One reference of a [`MapRegistry`].
#[derive(Clone, Debug)]
pub struct RegisteredMap {
    /// 0-based, in order of first use (`#<id>` on the runtime API).
    pub id: u32,
    /// The file name as written in the configuration.
    pub name: String,
    /// The shared reference.
    pub map: MapRef,
    /// HAProxy's description for `show map`/`show acl` listings, e.g.
    /// `pattern loaded from file 'hosts.map' used by map at file 'gw.toml' line 12`.
    pub description: String,
    /// Used by a map converter.
    pub used_by_map: bool,
    /// Used by an ACL (`-f` or `-M`).
    pub used_by_acl: bool,
}

/// Every map and pattern file of a configuration, one [`MapRef`] per file
/// name, in order of first use.
///
/// ```
/// use gwd_sample::{MapRegistry, MapUse, MatchKind, MatchSpec};
/// let mut reg = MapRegistry::new();
/// let exact = MatchSpec::new(MatchKind::Str);
/// let a = reg
///     .resolve_with("hosts.map", MapUse::Converter, exact, "map at file 'gw.toml' line 3", |m| {
///         m.load_map_str("hosts.map", b"example.com app\n").map(|_| ()).map_err(|e| e.to_string())
///     })
///     .unwrap();
/// // A second use shares the reference and does not load again.
/// let b = reg
///     .resolve_with("hosts.map", MapUse::AclMap, exact, "unused", |_| unreachable!())
///     .unwrap();
/// a.map_ref().add(b"api.example.com", b"api").unwrap();
/// assert!(b.matches(b"api.example.com"));
/// // Keys are checked against the first spec while loading: errors name the line.
/// let err = reg
///     .resolve_with("ports.map", MapUse::Converter, MatchSpec::new(MatchKind::Int), "x", |m| {
///         m.load_map_str("ports.map", b"80 a\nhttp b\n").map(|_| ()).map_err(|e| e.to_string())
///     })
///     .unwrap_err();
/// assert!(err.starts_with("ports.map:2: 'http' is not a valid 'int' pattern"), "{err}");
/// assert!(reg.get("ports.map").is_none());
/// assert_eq!(reg.get("hosts.map").unwrap().id, 0);
/// assert_eq!(reg.find("#0").unwrap().name, "hosts.map");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MapRegistry {
    maps: Vec<RegisteredMap>,
    index: HashMap<String, usize>,
}

impl MapRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A matcher with `spec` on the reference for `name`, which is created
    /// and filled by `load` on first use (after `spec` is registered, so
    /// `load` reports keys that `spec` rejects with their line). `user`
    /// describes the first user (`map at file 'gw.toml' line 3`). Fails when
    /// `load` fails (nothing is registered then), when the file is already
    /// used with the other format, or when an existing entry is not valid
    /// for `spec`.
    pub fn resolve_with(
        &mut self,
        name: &str,
        how: MapUse,
        spec: MatchSpec,
        user: &str,
        load: impl FnOnce(&MapRef) -> Result<(), String>,
    ) -> Result<Matcher, String> {
        let (kind, by_acl) = (how.kind(), how.by_acl());
        if let Some(&i) = self.index.get(name) {
            let e = &mut self.maps[i];
            if e.map.kind() != kind {
                return Err(match e.map.kind() {
                    RefKind::Map => format!(
                        "`{name}` is already used as a map file; add `-M` to use it in an ACL"
                    ),
                    RefKind::Acl => format!(
                        "`{name}` is already used as an ACL pattern file (`-f` without `-M`); \
                         it cannot also be a map"
                    ),
                });
            }
            let m = e
                .map
                .matcher(spec)
                .map_err(|err| format!("{name}: {err}"))?;
            if by_acl {
                e.used_by_acl = true;
            } else {
                e.used_by_map = true;
            }
            return Ok(m);
        }
        let map = MapRef::new(name, kind);
        let m = map.matcher(spec).map_err(|err| format!("{name}: {err}"))?;
        load(&map)?;
        let id = u32::try_from(self.maps.len()).unwrap_or(u32::MAX);
        self.index.insert(name.to_owned(), self.maps.len());
        self.maps.push(RegisteredMap {
            id,
            name: name.to_owned(),
            map: map.clone(),
            description: format!("pattern loaded from file '{name}' used by {user}"),
            used_by_map: !by_acl,
            used_by_acl: by_acl,
        });
        Ok(m)
    }

    /// The reference registered under the file name `name`.
    pub fn get(&self, name: &str) -> Option<&RegisteredMap> {
        self.index.get(name).map(|&i| &self.maps[i])
    }

    /// The reference named `ident` on the runtime API: `#<id>` or a file name.
    pub fn find(&self, ident: &str) -> Option<&RegisteredMap> {
        if let Some(n) = ident.strip_prefix('#') {
            let id: u32 = n.parse().ok()?;
            return self.maps.iter().find(|m| m.id == id);
        }
        self.get(ident)
    }

    /// Every reference, in order of first use.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredMap> {
        self.maps.iter()
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// True when no file is used.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }
}

/// A [`MapResolver`] over in-memory texts (tests, examples, embedders that
/// keep maps elsewhere): `name → file contents`.
///
/// ```
/// use gwd_sample::{Expr, MemoryMaps, ParseEnv, Sample, SampleContext};
/// struct Req;
/// impl SampleContext for Req {
///     fn header_values(&self, n: &str) -> Vec<&str> {
///         if n == "host" { vec!["API.example.com"] } else { vec![] }
///     }
/// }
/// let mut maps = MemoryMaps::new([("hosts.map", "api.example.com api\n")]);
/// let e = Expr::parse_in("req.hdr(host),lower,map(hosts.map,app)", &mut ParseEnv::with_maps(&mut maps)).unwrap();
/// assert_eq!(e.eval(&Req), Some(Sample::from("api")));
/// maps.registry().get("hosts.map").unwrap().map.set(b"api.example.com", b"api2").unwrap();
/// assert_eq!(e.eval(&Req), Some(Sample::from("api2")));
/// ```
#[derive(Debug, Default)]
pub struct MemoryMaps {
    texts: HashMap<String, String>,
    registry: MapRegistry,
}

impl MemoryMaps {
    /// Files `name → contents`.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        MemoryMaps {
            texts: files
                .into_iter()
                .map(|(n, t)| (n.to_owned(), t.to_owned()))
                .collect(),
            registry: MapRegistry::new(),
        }
    }

    /// The references created so far.
    pub fn registry(&self) -> &MapRegistry {
        &self.registry
    }
}

impl MapResolver for MemoryMaps {
    fn resolve(&mut self, file: &str, how: MapUse, spec: MatchSpec) -> Result<Matcher, String> {
        let text = self.texts.get(file).cloned();
        let kind = how.kind();
        self.registry.resolve_with(file, how, spec, "memory", |m| {
            let text = text.ok_or_else(|| format!("{file}: no such file"))?;
            match kind {
                RefKind::Map => m.load_map_str(file, text.as_bytes()),
                RefKind::Acl => m.load_acl_str(file, text.as_bytes()),
            }
            .map(|_| ())
            .map_err(|e| e.to_string())
        })
    }
}
