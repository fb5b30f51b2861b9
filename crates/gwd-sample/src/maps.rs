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
//! * Each entry records what its reference was filled from ([`MapOrigin`]:
//!   a file's [`Fingerprint`], a missing `opt@` file, `virt@`). A registry
//!   made for a reload ([`MapRegistry::reusing`]) keeps the running
//!   reference of a file that still reads the same, and changes it only
//!   once the new configuration is known to be valid.
//!
//! The registry is pure: it never reads files itself. The caller passes a
//! loader (the configuration crate reads the file there).

use std::collections::{HashMap, HashSet};

use gwd_maps::MapError;
pub use gwd_maps::{
    LoadError, MapRef, MatchKind, MatchSpec, Matcher, PatternUse, PlannedUse, Rebinding, RefKind,
    ValueType,
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

/// What a reference was filled from, so that a reload can tell whether
/// the file changed since (see [`MapRegistry::reusing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapOrigin {
    /// The caller's loader filled it ([`MapRegistry::resolve_with`],
    /// [`MapRegistry::resolve_source`]): what it read is not known, so a
    /// reload never keeps it.
    Unknown,
    /// A `virt@` name: nothing is read.
    Virtual,
    /// An `opt@` file that did not exist: the map started empty.
    Missing,
    /// The bytes read from the file ([`MapRegistry::resolve_read`]).
    File(Fingerprint),
    /// The inline patterns of an ACL with `-u <id>`: they come from the
    /// configuration itself and are made again by every load.
    Inline,
}

impl MapOrigin {
    /// Whether a reload may keep a reference filled from this origin.
    pub fn keepable(self) -> bool {
        matches!(
            self,
            MapOrigin::Virtual | MapOrigin::Missing | MapOrigin::File(_)
        )
    }
}

/// The length and a 64-bit hash of a file's bytes, as read at load time:
/// what tells a reload that a file did not change (a modification time
/// does not: editors and `cp -p` keep it).
///
/// ```
/// use gwd_sample::Fingerprint;
/// let a = Fingerprint::of(b"api.local api\n");
/// assert_eq!(a, Fingerprint::of(b"api.local api\n"));
/// assert_eq!(a.len, 14);
/// assert_ne!(a, Fingerprint::of(b"api.local apx\n")); // same length, other bytes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Bytes read.
    pub len: u64,
    /// SipHash of the bytes (fixed keys: stable within one process, which
    /// is where fingerprints are compared).
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> Fingerprint {
        use std::hash::Hasher;
        let mut h = std::hash::DefaultHasher::new();
        h.write(bytes);
        Fingerprint {
            len: bytes.len() as u64,
            hash: h.finish(),
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
    /// What the reference was filled from when it was made (a reference
    /// kept by a reload keeps its origin: the file is still the same).
    pub origin: MapOrigin,
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
    /// Set by [`reusing`](Self::reusing) until [`keep_reused`](Self::keep_reused).
    reuse: Option<Box<Reuse>>,
}

/// The running references a registry may keep, and those it means to.
#[derive(Clone, Debug, Default)]
struct Reuse {
    /// Running references whose origin allows keeping them, by name.
    candidates: HashMap<String, (MapRef, MapOrigin)>,
    /// Entries (index into `maps`) that stand for a running reference:
    /// that reference and the uses planned for it, in order.
    kept: HashMap<usize, (MapRef, Vec<PlannedUse>)>,
}

/// A registry's use `how` with `spec` registered on `map`.
fn register(map: &MapRef, key: &str, how: MapUse, spec: MatchSpec) -> Result<Matcher, String> {
    match how.values() {
        Some(values) => map.register_use(spec, values).map_err(|e| e.to_string()),
        None => map.matcher(spec).map_err(|e| format!("{key}: {e}")),
    }
}

/// The use `how` with `spec`, as a reload plans it for a kept reference.
fn planned(how: MapUse, spec: MatchSpec) -> PlannedUse {
    match how.values() {
        Some(values) => PlannedUse::Use(PatternUse { spec, values }),
        None => PlannedUse::Index(spec),
    }
}

/// Why a kept reference does not suit the new configuration: its contents
/// (run-time changes included) break a use. `what` is the use or the
/// configuration.
fn reuse_conflict(key: &str, what: &str, e: &LoadError) -> String {
    let why = match e.map_error() {
        Some(MapError::InvalidValue { ty, value }) => format!(
            "value '{value}' is not {}",
            match ty {
                ValueType::Int => "an integer",
                ValueType::Ip => "an IP address",
                ValueType::Str => "a string",
            }
        ),
        Some(MapError::InvalidKey { kind, key, reason }) => {
            format!(
                "key '{key}' is not a valid '{}' pattern: {reason}",
                kind.name()
            )
        }
        _ => e.to_string(),
    };
    format!(
        "`{key}` did not change since it was loaded, so the reload keeps its run-time \
         changes, but they do not suit {what}: {why} (fix or delete that entry on the \
         runtime API, or change the file so that it is read again)"
    )
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
            MapName::Virtual(_) => Ok(MapOrigin::Virtual),
            _ => load(m).map(|()| MapOrigin::Unknown),
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
            MapName::Virtual(_) => Ok(MapOrigin::Virtual),
            MapName::File(p) => load(m, p)
                .map(|()| MapOrigin::Unknown)
                .map_err(|e| load_message(what, p, &e)),
            MapName::Optional(p) => match load(m, p) {
                Err(e) if e.is_not_found() => Ok(MapOrigin::Missing),
                r => r
                    .map(|()| MapOrigin::Unknown)
                    .map_err(|e| load_message(what, p, &e)),
            },
        })
    }

    /// Like [`resolve_source`](Self::resolve_source), reading files with
    /// `read` (their bytes; typically `gwd_maps::file::read`) and loading
    /// them itself, map or ACL format by the use, so that it knows what was
    /// read: the entry's [`origin`](RegisteredMap::origin) is the file's
    /// [`Fingerprint`] (or [`MapOrigin::Missing`] for a missing `opt@`
    /// file, [`MapOrigin::Virtual`] for `virt@`). Errors are those of
    /// `resolve_source`.
    ///
    /// In a registry made by [`reusing`](Self::reusing), a name whose
    /// running reference may be kept (same name, same format, and the file
    /// reads exactly as when that reference was loaded) is not loaded:
    /// the running reference is checked against the use, reading only
    /// ([`MapRef::check_use`]), and a stand-in takes its place until
    /// [`keep_reused`](Self::keep_reused). The check fails when the
    /// reference's current contents (run-time changes included) break the
    /// use, e.g. a value that is not an integer for `map_*_int`.
    ///
    /// ```
    /// use gwd_sample::{MapOrigin, MapRegistry, MapUse, MatchKind, MatchSpec};
    /// let mut reg = MapRegistry::new();
    /// let str_ = MatchSpec::new(MatchKind::Str);
    /// let read = |_: &str| Ok(b"api.local api\n".to_vec());
    /// let m = reg.resolve_read("hosts.map", MapUse::Converter, str_, "map", read).unwrap();
    /// assert_eq!(m.lookup(b"api.local").unwrap().value(), b"api");
    /// assert!(matches!(reg.get("hosts.map").unwrap().origin, MapOrigin::File(f) if f.len == 14));
    /// let missing = |_: &str| Err(std::io::ErrorKind::NotFound.into());
    /// reg.resolve_read("opt@extra.map", MapUse::Converter, str_, "map", missing).unwrap();
    /// assert_eq!(reg.get("extra.map").unwrap().origin, MapOrigin::Missing);
    /// let err = reg.resolve_read("more.map", MapUse::Converter, str_, "map", missing).unwrap_err();
    /// assert_eq!(err, "cannot read map file `more.map`: no such file");
    /// ```
    pub fn resolve_read(
        &mut self,
        name: &str,
        how: MapUse,
        spec: MatchSpec,
        user: &str,
        read: impl FnOnce(&str) -> std::io::Result<Vec<u8>>,
    ) -> Result<Matcher, String> {
        let parsed = MapName::parse(name);
        let key = parsed.registry_name();
        if let Some(&i) = self.index.get(key) {
            return self.use_existing(i, key, how, spec);
        }
        let kind = how.kind();
        let what = if kind == RefKind::Acl {
            "pattern"
        } else {
            "map"
        };
        let (origin, bytes) = match parsed {
            MapName::Virtual(_) => (MapOrigin::Virtual, None),
            MapName::File(p) | MapName::Optional(p) => match read(p) {
                Ok(b) => (MapOrigin::File(Fingerprint::of(&b)), Some(b)),
                Err(e)
                    if matches!(parsed, MapName::Optional(_))
                        && e.kind() == std::io::ErrorKind::NotFound =>
                {
                    (MapOrigin::Missing, None)
                }
                Err(source) => {
                    let e = LoadError::Io {
                        file: p.to_owned(),
                        source,
                    };
                    return Err(load_message(what, p, &e));
                }
            },
        };
        let kept = self.reuse.as_ref().and_then(|r| {
            r.candidates
                .get(key)
                .filter(|(m, o)| m.kind() == kind && *o == origin)
                .map(|(m, _)| m.clone())
        });
        let (map, m, kept) = match kept {
            Some(running) => {
                // Read only: the running configuration must not change
                // before the new one is known to be valid. When the
                // reference's contents break the use (run-time changes do:
                // the file read the same), the load fails, naming the file
                // and the value, rather than reading the file again: that
                // would silently drop changes an operator made on purpose,
                // whereas the error leaves the choice to them (fix the
                // entry at run time, or change the file).
                let p = planned(how, spec);
                running
                    .check_use(p)
                    .map_err(|e| reuse_conflict(key, "this use", &e))?;
                let stand_in = MapRef::new(key, kind);
                let m = register(&stand_in, key, how, spec)?;
                (stand_in, m, Some((running, vec![p])))
            }
            None => {
                let map = MapRef::new(key, kind);
                let m = register(&map, key, how, spec)?;
                if let (Some(b), Some(p)) = (bytes, parsed.path()) {
                    match kind {
                        RefKind::Map => map.load_map_str(p, &b),
                        RefKind::Acl => map.load_acl_str(p, &b),
                    }
                    .map_err(|e| load_message(what, p, &e))?;
                }
                (map, m, None)
            }
        };
        if let (Some(k), Some(r)) = (kept, self.reuse.as_mut()) {
            r.kept.insert(self.maps.len(), k);
        }
        self.push_file(key, name, user, how, map, origin);
        Ok(m)
    }

    /// Files a reference loaded (or kept) for a rule's file `name`.
    fn push_file(
        &mut self,
        key: &str,
        name: &str,
        user: &str,
        how: MapUse,
        map: MapRef,
        origin: MapOrigin,
    ) {
        let by_acl = how.by_acl();
        self.push(
            RegisteredMap {
                id: 0,
                name: key.to_owned(),
                map,
                description: format!("pattern loaded from file '{name}' used by {user}"),
                used_by_map: !by_acl,
                used_by_acl: by_acl,
                origin,
            },
            None,
        );
    }

    /// A registry for loading a new configuration while `running` (the
    /// registry of the configuration that runs) serves traffic, keeping
    /// the running references of files that did not change: same name as
    /// written, same format (map or ACL), and the bytes the file holds now
    /// are those read when the running reference was loaded (its
    /// [`Fingerprint`]; not its current contents, which run-time changes
    /// may have made differ). A `virt@` name still used, or an `opt@` file
    /// missing then and now, is kept too. Kept references keep their
    /// run-time changes; others are read again ([`resolve_read`](Self::resolve_read)
    /// only: other resolve methods never keep).
    ///
    /// It takes two passes over the new configuration, so that the
    /// running one is not changed before the new one is known to be valid:
    ///
    /// 1. Resolve every use. Kept references are only checked; the
    ///    matchers returned for them read stand-ins, so this pass's
    ///    configuration must be thrown away.
    /// 2. If that configuration is valid, [`keep_reused`](Self::keep_reused)
    ///    gives the kept references the new uses (all or nothing) and puts
    ///    them in place of the stand-ins. Resolve every use again, in the
    ///    same order, on this registry (files are not read again; ACL
    ///    inline patterns are made again), then
    ///    [`Rebinding::finish`] — or drop the [`Rebinding`] to undo, should
    ///    the second pass fail.
    ///
    /// Ids (`#<id>`) and descriptions are the new configuration's: a kept
    /// reference may get another id.
    ///
    /// ```
    /// use gwd_sample::{MapRegistry, MapUse, MatchKind, MatchSpec};
    /// let str_ = MatchSpec::new(MatchKind::Str);
    /// let file = |_: &str| Ok(b"api.local api\n".to_vec());
    /// let mut running = MapRegistry::new();
    /// running.resolve_read("hosts.map", MapUse::Converter, str_, "map", file).unwrap();
    /// let old = running.get("hosts.map").unwrap().map.clone();
    /// old.set(b"api.local", b"api2").unwrap(); // a run-time change
    ///
    /// let beg = MatchSpec::new(MatchKind::Beg);
    /// let mut reg = MapRegistry::reusing(&running);
    /// reg.resolve_read("hosts.map", MapUse::Converter, beg, "map", file).unwrap(); // pass 1
    /// assert_eq!(old.specs(), [str_], "only checked");
    /// let rebinding = reg.keep_reused().unwrap();
    /// let m = reg.resolve_read("hosts.map", MapUse::Converter, beg, "map", |_| unreachable!()).unwrap();
    /// rebinding.finish();
    /// assert!(reg.get("hosts.map").unwrap().map.ptr_eq(&old));
    /// assert_eq!(m.lookup(b"api.local/x").unwrap().value(), b"api2");
    /// ```
    pub fn reusing(running: &MapRegistry) -> MapRegistry {
        let candidates = running
            .maps
            .iter()
            .filter(|m| m.origin.keepable() && !m.name.is_empty())
            .map(|m| (m.name.clone(), (m.map.clone(), m.origin)))
            .collect();
        MapRegistry {
            reuse: Some(Box::new(Reuse {
                candidates,
                kept: HashMap::new(),
            })),
            ..MapRegistry::default()
        }
    }

    /// After the first pass of a registry made by [`reusing`](Self::reusing):
    /// gives the kept running references the uses planned for them
    /// ([`Rebinding::begin`]: checked again, since run-time changes may have
    /// happened since the first pass, then applied all or nothing), puts
    /// them in place of their stand-ins, and drops the ACL inline-pattern
    /// entries (the second pass makes them again). On error nothing
    /// changed, here or on the running references. On a registry not made
    /// by `reusing`, or after the first call, it does nothing.
    pub fn keep_reused(&mut self) -> Result<Rebinding, String> {
        let Some(reuse) = self.reuse.take() else {
            return Ok(Rebinding::begin(Vec::new()).expect("an empty plan checks nothing"));
        };
        let mut kept: Vec<(usize, MapRef, Vec<PlannedUse>)> = reuse
            .kept
            .into_iter()
            .map(|(i, (m, u))| (i, m, u))
            .collect();
        kept.sort_by_key(|k| k.0);
        let plan = kept
            .iter()
            .map(|(_, m, u)| (m.clone(), u.clone()))
            .collect();
        let rebinding = Rebinding::begin(plan).map_err(|(m, e)| {
            reuse_conflict(
                m.name(),
                "the new configuration (it changed at run time during the reload)",
                &e,
            )
        })?;
        for (i, m, _) in kept {
            self.maps[i].map = m;
        }
        let (maps, forced): (Vec<_>, Vec<_>) = std::mem::take(&mut self.maps)
            .into_iter()
            .zip(std::mem::take(&mut self.forced))
            .filter(|(_, f)| f.is_none())
            .unzip();
        self.maps = maps;
        self.forced = forced;
        self.index = (self.maps.iter().enumerate())
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        self.assign_ids();
        Ok(rebinding)
    }

    /// Registers the use on the entry `i` (named `key`) already made.
    fn use_existing(
        &mut self,
        i: usize,
        key: &str,
        how: MapUse,
        spec: MatchSpec,
    ) -> Result<Matcher, String> {
        let kind = how.kind();
        let e = &mut self.maps[i];
        if e.map.kind() != kind {
            return Err(match e.map.kind() {
                RefKind::Map => {
                    format!("`{key}` is already used as a map file; add `-M` to use it in an ACL")
                }
                RefKind::Acl => format!(
                    "`{key}` is already used as an ACL pattern file (`-f` without `-M`); \
                     it cannot also be a map"
                ),
            });
        }
        let kept = self.reuse.as_mut().and_then(|r| r.kept.get_mut(&i));
        if let Some((running, uses)) = kept {
            let p = planned(how, spec);
            running
                .check_use(p)
                .map_err(|e| reuse_conflict(key, "this use", &e))?;
            uses.push(p);
        }
        let m = register(&e.map, key, how, spec)?;
        if how.by_acl() {
            e.used_by_acl = true;
        } else {
            e.used_by_map = true;
        }
        Ok(m)
    }

    fn resolve_inner(
        &mut self,
        name: &str,
        how: MapUse,
        spec: MatchSpec,
        user: &str,
        load: impl FnOnce(&MapRef, MapName<'_>) -> Result<MapOrigin, String>,
    ) -> Result<Matcher, String> {
        let parsed = MapName::parse(name);
        let key = parsed.registry_name();
        if let Some(&i) = self.index.get(key) {
            return self.use_existing(i, key, how, spec);
        }
        let map = MapRef::new(key, how.kind());
        let m = register(&map, key, how, spec)?;
        let origin = load(&map, parsed)?;
        self.push_file(key, name, user, how, map, origin);
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
                origin: MapOrigin::Inline,
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
}

/// A [`MapResolver`] over in-memory texts (tests, examples, embedders that
/// keep maps elsewhere): `name → file contents`.
///
/// ```
/// use gwd_sample::{Expr, MemoryMaps, ParseEnv, Sample, SampleContext};
/// struct Req;
/// impl SampleContext for Req {
///     fn header_values(&self, n: &str) -> Vec<&[u8]> {
///         if n == "host" { vec![b"API.example.com"] } else { vec![] }
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
