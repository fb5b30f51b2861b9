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
//! * Ids (the `#<id>` of `show map`) follow HAProxy: ids forced by an ACL's
//!   `-u <id>` first, then the smallest free ids in order of first use.
//! * Names may carry HAProxy 3.0's prefixes ([`MapName`]): `virt@` (no file),
//!   `opt@` (a file that may be missing), `file@` (the plain file).
//! * Each rule's use is registered on the reference ([`MapUse`]): converters
//!   with their value type, ACLs without; actions reach the reference only.
//!
//! The registry is pure: it never reads files itself. The caller passes a
//! loader (the configuration crate reads the file there).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

pub use gwd_maps::{
    Batching, LoadError, MapRef, MatchKind, MatchSpec, Matcher, PatternUse, RefKind, ValueType,
};

/// How a rule uses a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapUse {
    /// A `map*` converter reading values as strings (`map`, `map_<m>`,
    /// `map_<m>_str`, `map_<m>_key`, `map_regm`): map format.
    Converter,
    /// A `map_<m>_int` converter: map format, every value must be an integer.
    ConverterInt,
    /// A `map_<m>_ip` converter: map format, every value must be an address.
    ConverterIp,
    /// An ACL `-f <file>` without `-M`: one pattern per line.
    AclFile,
    /// An ACL `-M -f <file>`: map format, keys used as patterns.
    AclMap,
    /// A `set-map`/`del-map` action: map format; needs the reference only
    /// (not reported by `get map`, puts no constraint on values).
    MapAction,
    /// An `add-acl`/`del-acl` action: ACL format; needs the reference only.
    AclAction,
}

impl MapUse {
    /// The converter use for values of type `t`.
    pub fn converter(t: ValueType) -> MapUse {
        match t {
            ValueType::Str => MapUse::Converter,
            ValueType::Int => MapUse::ConverterInt,
            ValueType::Ip => MapUse::ConverterIp,
        }
    }

    /// The file format this use reads.
    pub fn kind(self) -> RefKind {
        match self {
            MapUse::AclFile | MapUse::AclAction => RefKind::Acl,
            MapUse::Converter
            | MapUse::ConverterInt
            | MapUse::ConverterIp
            | MapUse::AclMap
            | MapUse::MapAction => RefKind::Map,
        }
    }

    /// Whether an ACL (rather than a converter) uses the file.
    pub fn by_acl(self) -> bool {
        matches!(self, MapUse::AclFile | MapUse::AclMap | MapUse::AclAction)
    }

    /// Whether the use is a rule that matches (reported by `get map`), and
    /// how it reads values: `Some(Some(t))` for converters, `Some(None)` for
    /// ACLs, `None` for actions.
    pub fn values(self) -> Option<Option<ValueType>> {
        match self {
            MapUse::Converter => Some(Some(ValueType::Str)),
            MapUse::ConverterInt => Some(Some(ValueType::Int)),
            MapUse::ConverterIp => Some(Some(ValueType::Ip)),
            MapUse::AclFile | MapUse::AclMap => Some(None),
            MapUse::MapAction | MapUse::AclAction => None,
        }
    }
}

/// What a map name in the configuration designates (HAProxy 3.0 prefixes).
///
/// ```
/// use gwd_sample::MapName;
/// assert_eq!(MapName::parse("hosts.map"), MapName::File("hosts.map"));
/// assert_eq!(MapName::parse("file@hosts.map"), MapName::File("hosts.map"));
/// assert_eq!(MapName::parse("opt@extra.map"), MapName::Optional("extra.map"));
/// assert_eq!(MapName::parse("virt@live"), MapName::Virtual("virt@live"));
/// assert_eq!(MapName::parse("virt@live").registry_name(), "virt@live");
/// assert_eq!(MapName::parse("opt@extra.map").registry_name(), "extra.map");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapName<'a> {
    /// A file that must exist (`<path>` or `file@<path>`): the path.
    File(&'a str),
    /// `opt@<path>`: a file that may be missing, in which case the map
    /// starts empty. The path.
    Optional(&'a str),
    /// `virt@<name>`: no file; the map starts empty and changes at runtime.
    /// The whole name, prefix included (its runtime-API name).
    Virtual(&'a str),
}

impl<'a> MapName<'a> {
    /// Reads the prefix of a name as written in the configuration. A bare
    /// prefix (`virt@`, `opt@`, `file@`) is a plain file name.
    pub fn parse(name: &'a str) -> MapName<'a> {
        if name.len() > 5 && name.starts_with("virt@") {
            MapName::Virtual(name)
        } else if let Some(p) = name.strip_prefix("opt@").filter(|p| !p.is_empty()) {
            MapName::Optional(p)
        } else if let Some(p) = name.strip_prefix("file@").filter(|p| !p.is_empty()) {
            MapName::File(p)
        } else {
            MapName::File(name)
        }
    }

    /// The name the reference is registered (and known on the runtime API)
    /// under: the path for files, the whole name for `virt@`.
    pub fn registry_name(&self) -> &'a str {
        match *self {
            MapName::File(p) | MapName::Optional(p) | MapName::Virtual(p) => p,
        }
    }

    /// The file to read, if any.
    pub fn path(&self) -> Option<&'a str> {
        match *self {
            MapName::File(p) | MapName::Optional(p) => Some(p),
            MapName::Virtual(_) => None,
        }
    }
}

/// Where a parser asks for map and pattern files.
pub trait MapResolver {
    /// A matcher with `spec` on the reference for `file` used as `how`.
    /// `file` is the name as written, with any `file@`, `opt@` or `virt@`
    /// prefix (see [`MapName`]). Called once per use; implementations load
    /// each file once (after registering the use, so that a key or value
    /// the use rejects is reported with its line) and share the reference
    /// afterwards. The error is one line naming the file (and line).
    fn resolve(&mut self, file: &str, how: MapUse, spec: MatchSpec) -> Result<Matcher, String>;

    /// A runtime-modifiable reference for the inline patterns of an ACL with
    /// the unique id `id` (`-u <id>`), matched with `spec`; `fetch` is the
    /// ACL's fetch keyword (for the `show acl` description). The caller adds
    /// the patterns. The default refuses: ids need a [`MapRegistry`].
    fn inline_acl(&mut self, id: u32, fetch: &str, spec: MatchSpec) -> Result<Matcher, String> {
        let _ = (id, fetch, spec);
        Err("ACL unique ids (`-u`) are not available here".into())
    }
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

    pub(crate) fn inline_acl(
        &mut self,
        id: u32,
        fetch: &str,
        spec: MatchSpec,
    ) -> Option<Result<Matcher, String>> {
        self.maps.as_mut().map(|m| m.inline_acl(id, fetch, spec))
    }
}

/// One reference of a [`MapRegistry`].
#[derive(Clone, Debug)]
pub struct RegisteredMap {
    /// The unique id (`#<id>` on the runtime API): forced by an ACL's
    /// `-u <id>`, otherwise the smallest ids not forced, in order of first
    /// use (0, 1, ... when no id is forced).
    pub id: u32,
    /// The file name (without `file@`/`opt@`; `virt@<name>` as written);
    /// empty for the inline patterns of an ACL with `-u`.
    pub name: String,
    /// The shared reference.
    pub map: MapRef,
    /// HAProxy's description for `show map`/`show acl` listings, e.g.
    /// `pattern loaded from file 'hosts.map' used by map at file 'gw.toml' line 12`.
    pub description: String,
    /// Used by a map converter (or a `set-map`/`del-map` action).
    pub used_by_map: bool,
    /// Used by an ACL (`-f`, `-M`, `-u`, or an `add-acl`/`del-acl` action).
    pub used_by_acl: bool,
}

/// Every map and pattern file of a configuration, one [`MapRef`] per file
/// name, in id order.
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
    /// In order of first use.
    maps: Vec<RegisteredMap>,
    /// The id forced with `-u`, per entry of `maps`.
    forced: Vec<Option<u32>>,
    /// Indexes into `maps`, in id order.
    order: Vec<usize>,
    index: HashMap<String, usize>,
}

/// Why a loader could not fill a reference, as [`MapRegistry::resolve_with`]
/// reports it.
fn load_message(what: &str, path: &str, e: &LoadError) -> String {
    match e {
        LoadError::Io { source, .. } => {
            let reason = match source.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_owned(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                _ => source.to_string(),
            };
            format!("cannot read {what} file `{path}`: {reason}")
        }
        other => format!("invalid {what} file: {other}"),
    }
}

impl MapRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A matcher with `spec` on the reference for `name`, which is created
    /// and filled by `load` on first use (after the use is registered, so
    /// `load` reports keys and values it rejects with their line). `user`
    /// describes the first user (`map at file 'gw.toml' line 3`). Fails when
    /// `load` fails (nothing is registered then), when the file is already
    /// used with the other format, or when an existing entry is not valid
    /// for the use.
    ///
    /// `name` may carry a [`MapName`] prefix: `virt@` references are never
    /// loaded; for `opt@` (and `file@`), `load` gets the reference and must
    /// read the path itself — [`resolve_source`](Self::resolve_source)
    /// handles both and a missing `opt@` file.
    pub fn resolve_with(
        &mut self,
        name: &str,
        how: MapUse,
        spec: MatchSpec,
        user: &str,
        load: impl FnOnce(&MapRef) -> Result<(), String>,
    ) -> Result<Matcher, String> {
        self.resolve_inner(name, how, spec, user, |m, n| match n {
            MapName::Virtual(_) => Ok(()),
            _ => load(m),
        })
    }

    /// Like [`resolve_with`](Self::resolve_with), for loaders that read a
    /// path: `load(reference, path)` fills the reference from the file
    /// (typically `|m, p| m.load_file(p).map(drop)`). A `virt@` name is never
    /// loaded; a missing `opt@` file leaves the map empty; other failures
    /// give gwd's messages (`cannot read map file `x`: no such file`,
    /// `invalid map file: x:3: ...`).
    ///
    /// ```
    /// use gwd_sample::{LoadError, MapRegistry, MapUse, MatchKind, MatchSpec};
    /// let mut reg = MapRegistry::new();
    /// let missing = |_: &gwd_sample::MapRef, p: &str| -> Result<(), LoadError> {
    ///     Err(LoadError::Io { file: p.into(), source: std::io::ErrorKind::NotFound.into() })
    /// };
    /// let beg = MatchSpec::new(MatchKind::Beg);
    /// let m = reg.resolve_source("opt@extra.map", MapUse::Converter, beg, "map", missing).unwrap();
    /// assert!(m.map_ref().is_empty());
    /// let v = reg.resolve_source("virt@live", MapUse::Converter, beg, "map", |_, _| unreachable!()).unwrap();
    /// v.map_ref().add(b"/api", b"api").unwrap();
    /// assert_eq!(reg.find("virt@live").unwrap().id, 1);
    /// let err = reg.resolve_source("hosts.map", MapUse::Converter, beg, "map", missing).unwrap_err();
    /// assert_eq!(err, "cannot read map file `hosts.map`: no such file");
    /// ```
    pub fn resolve_source(
        &mut self,
        name: &str,
        how: MapUse,
        spec: MatchSpec,
        user: &str,
        load: impl FnOnce(&MapRef, &str) -> Result<(), LoadError>,
    ) -> Result<Matcher, String> {
        let what = if how.kind() == RefKind::Acl {
            "pattern"
        } else {
            "map"
        };
        self.resolve_inner(name, how, spec, user, |m, n| match n {
            MapName::Virtual(_) => Ok(()),
            MapName::File(p) => load(m, p).map_err(|e| load_message(what, p, &e)),
            MapName::Optional(p) => match load(m, p) {
                Err(e) if e.is_not_found() => Ok(()),
                r => r.map_err(|e| load_message(what, p, &e)),
            },
        })
    }

    fn resolve_inner(
        &mut self,
        name: &str,
        how: MapUse,
        spec: MatchSpec,
        user: &str,
        load: impl FnOnce(&MapRef, MapName<'_>) -> Result<(), String>,
    ) -> Result<Matcher, String> {
        let parsed = MapName::parse(name);
        let key = parsed.registry_name();
        let (kind, by_acl) = (how.kind(), how.by_acl());
        let register = |map: &MapRef| -> Result<Matcher, String> {
            match how.values() {
                Some(values) => map.register_use(spec, values).map_err(|e| e.to_string()),
                None => map.matcher(spec).map_err(|e| format!("{key}: {e}")),
            }
        };
        if let Some(&i) = self.index.get(key) {
            let e = &mut self.maps[i];
            if e.map.kind() != kind {
                return Err(match e.map.kind() {
                    RefKind::Map => format!(
                        "`{key}` is already used as a map file; add `-M` to use it in an ACL"
                    ),
                    RefKind::Acl => format!(
                        "`{key}` is already used as an ACL pattern file (`-f` without `-M`); \
                         it cannot also be a map"
                    ),
                });
            }
            let m = register(&e.map)?;
            if by_acl {
                e.used_by_acl = true;
            } else {
                e.used_by_map = true;
            }
            return Ok(m);
        }
        let map = MapRef::new(key, kind);
        let m = register(&map)?;
        load(&map, parsed)?;
        self.push(
            RegisteredMap {
                id: 0,
                name: key.to_owned(),
                map,
                description: format!("pattern loaded from file '{name}' used by {user}"),
                used_by_map: !by_acl,
                used_by_acl: by_acl,
            },
            None,
        );
        Ok(m)
    }

    /// Registers an empty ACL reference with the forced unique id `id`
    /// (`-u <id>`) for an ACL's inline patterns, matched with `spec`; it has
    /// no file name (`#<id>` names it on the runtime API). `description` is
    /// HAProxy's `show acl` text, e.g. `acl 'src' file 'gw.toml' line 12`.
    /// Fails when the id is already used.
    ///
    /// ```
    /// use gwd_sample::{MapRegistry, MatchKind, MatchSpec};
    /// let mut reg = MapRegistry::new();
    /// let m = reg.add_inline(7, "acl 'src' file 'gw.toml' line 3".into(), MatchSpec::new(MatchKind::Ip)).unwrap();
    /// reg.find("#7").unwrap().map.add(b"10.0.0.0/8", b"").unwrap();
    /// assert!(m.lookup_ip("10.1.2.3".parse().unwrap()).is_some());
    /// assert_eq!(reg.add_inline(7, String::new(), MatchSpec::new(MatchKind::Ip)).unwrap_err(), "the id is already used");
    /// ```
    pub fn add_inline(
        &mut self,
        id: u32,
        description: String,
        spec: MatchSpec,
    ) -> Result<Matcher, String> {
        if self.forced.contains(&Some(id)) {
            return Err("the id is already used".into());
        }
        let map = MapRef::new(format!("#{id}"), RefKind::Acl);
        let m = map.register_use(spec, None).map_err(|e| e.to_string())?;
        self.push(
            RegisteredMap {
                id,
                name: String::new(),
                map,
                description,
                used_by_map: false,
                used_by_acl: true,
            },
            Some(id),
        );
        Ok(m)
    }

    fn push(&mut self, m: RegisteredMap, forced: Option<u32>) {
        if !m.name.is_empty() {
            self.index.insert(m.name.clone(), self.maps.len());
        }
        self.maps.push(m);
        self.forced.push(forced);
        self.assign_ids();
    }

    /// HAProxy's rule: forced ids first, then the smallest free ids in
    /// order of first use; listings go in id order.
    fn assign_ids(&mut self) {
        let taken: HashSet<u32> = self.forced.iter().flatten().copied().collect();
        let mut next = 0u32;
        for (m, f) in self.maps.iter_mut().zip(&self.forced) {
            m.id = match f {
                Some(id) => *id,
                None => {
                    while taken.contains(&next) {
                        next += 1;
                    }
                    next += 1;
                    next - 1
                }
            };
        }
        let mut order: Vec<usize> = (0..self.maps.len()).collect();
        order.sort_by_key(|&i| self.maps[i].id);
        self.order = order;
    }

    /// The reference registered under the file name `name` (a `file@` or
    /// `opt@` prefix is ignored; `virt@` names are registered whole).
    pub fn get(&self, name: &str) -> Option<&RegisteredMap> {
        let key = MapName::parse(name).registry_name();
        self.index.get(key).map(|&i| &self.maps[i])
    }

    /// The reference named `ident` on the runtime API: `#<id>` or a file name.
    pub fn find(&self, ident: &str) -> Option<&RegisteredMap> {
        if let Some(n) = ident.strip_prefix('#') {
            let id: u32 = n.parse().ok()?;
            return self.maps.iter().find(|m| m.id == id);
        }
        self.get(ident)
    }

    /// Every reference, in id order (order of first use unless an ACL forced
    /// an id with `-u`).
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredMap> {
        self.order.iter().map(|&i| &self.maps[i])
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// True when no file is used.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Publishes, on every reference, deferred changes whose oldest is at
    /// least its [`Batching::max_delay`] old at `now` (see
    /// [`MapRef::upsert_deferred`]). Returns how many references published.
    /// The embedder calls it from a timer at least every `max_delay`.
    pub fn flush_due(&self, now: Instant) -> usize {
        self.maps.iter().filter(|m| m.map.flush_due(now)).count()
    }

    /// Sets the publication bounds of deferred changes on every reference.
    pub fn set_batching(&self, b: Batching) {
        for m in &self.maps {
            m.map.set_batching(b);
        }
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
        let texts = &self.texts;
        let kind = how.kind();
        self.registry
            .resolve_source(file, how, spec, "memory", |m, path| {
                let text = texts.get(path).ok_or_else(|| LoadError::Io {
                    file: path.to_owned(),
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
                match kind {
                    RefKind::Map => m.load_map_str(path, text.as_bytes()),
                    RefKind::Acl => m.load_acl_str(path, text.as_bytes()),
                }
                .map(drop)
            })
    }

    fn inline_acl(&mut self, id: u32, fetch: &str, spec: MatchSpec) -> Result<Matcher, String> {
        self.registry
            .add_inline(id, format!("acl '{fetch}' file 'memory' line 0"), spec)
    }
}
