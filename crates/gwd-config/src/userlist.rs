//! `userlist` sections: users, their passwords and groups, and the check
//! of HTTP Basic credentials against them (`http_auth`,
//! `http_auth_group`, `http-request auth`).
//!
//! # Model
//!
//! A password is clear text (`insecure-password`) or a crypt(3) hash
//! (`password`) in one of the forms HAProxy accepts through libcrypt that
//! gwd verifies itself (with the `pwhash` crate): `$6$` sha512-crypt, `$5$`
//! sha256-crypt, `$1$` md5-crypt and `$2a$`/`$2b$`/`$2y$` bcrypt. The form
//! is checked at load, so `gwd check` refuses a hash gwd could not verify.
//!
//! # Cost
//!
//! A hash check is deliberately slow (bcrypt and the crypt rounds), and
//! every request with credentials needs one. Each userlist keeps the
//! credentials it has accepted in a bounded cache ([`CACHE_SIZE`]
//! entries, emptied when full), so a client sending the same valid
//! credentials again costs a hash-table lookup, not a hash. The cache
//! holds two independent keyed 64-bit hashes of user and password
//! (random keys per process, never the password): finding another
//! password that hits a cached entry would take about 2^128 tries.
//! Failed checks are not cached (HAProxy caches nothing): each costs one
//! hash check, as in HAProxy.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

/// The most accepted credentials a userlist remembers.
pub const CACHE_SIZE: usize = 1024;

/// A `[userlist.<name>]` section.
#[derive(Clone, Debug)]
pub struct Userlist {
    /// The section name (`http_auth(<name>)`).
    pub name: String,
    /// Users, in file order, names unique.
    pub users: Vec<User>,
    /// Declared groups, in file order, names unique.
    pub groups: Vec<String>,
    cache: Arc<AuthCache>,
}

/// One user of a userlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// How its password is checked.
    pub password: Password,
    /// Every group it belongs to (its own `groups` and the groups whose
    /// `users` name it), each declared in the userlist.
    pub groups: Vec<String>,
}

/// A user's password.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// `insecure-password`: compared as is.
    Clear(String),
    /// `password`: a crypt(3) hash of a supported form.
    Hash(String),
}

impl std::fmt::Debug for Password {
    // Passwords never reach debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::Clear(_) => f.write_str("Clear(..)"),
            Password::Hash(h) => write!(f, "Hash({})", hash_form(h).unwrap_or("?")),
        }
    }
}

/// The form of a crypt(3) hash gwd verifies, by its prefix and shape;
/// `None` for any other string.
///
/// ```
/// use gwd_config::hash_form;
/// assert_eq!(hash_form("$1$saltsalt$/I.FJgwCsi2qv/AoBov0b1"), Some("md5-crypt"));
/// assert_eq!(hash_form("$apr1$x$y"), None);
/// ```
pub fn hash_form(h: &str) -> Option<&'static str> {
    let b64 = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
    };
    // `$<id>$[rounds=<n>$]<salt>$<digest>`: salt of up to 16 characters.
    let sha = |rest: &str, digest: usize| {
        let rest = match rest.strip_prefix("rounds=") {
            Some(r) => match r.split_once('$') {
                Some((n, r)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => r,
                _ => return false,
            },
            None => rest,
        };
        matches!(rest.rsplit_once('$'), Some((salt, d))
            if salt.len() <= 16 && !salt.contains('$') && d.len() == digest && b64(d))
    };
    if let Some(r) = h.strip_prefix("$6$") {
        return sha(r, 86).then_some("sha512-crypt");
    }
    if let Some(r) = h.strip_prefix("$5$") {
        return sha(r, 43).then_some("sha256-crypt");
    }
    if let Some(r) = h.strip_prefix("$1$") {
        let ok = matches!(r.split_once('$'), Some((salt, d))
            if salt.len() <= 8 && d.len() == 22 && b64(d) && !salt.contains('$'));
        return ok.then_some("md5-crypt");
    }
    for v in ["$2a$", "$2b$", "$2y$"] {
        if let Some(r) = h.strip_prefix(v) {
            let ok = matches!(r.split_once('$'), Some((cost, rest))
                if cost.len() == 2
                    && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
                    && rest.len() == 53
                    && b64(rest));
            return ok.then_some("bcrypt");
        }
    }
    None
}

/// Accepted credentials, remembered by two keyed hashes.
struct AuthCache {
    keys: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    seen: Mutex<HashSet<(u64, u64)>>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthCache")
    }
}

impl AuthCache {
    fn new() -> AuthCache {
        AuthCache {
            keys: (Default::default(), Default::default()),
            seen: Mutex::new(HashSet::new()),
        }
    }

    fn key(&self, user: &str, pass: &[u8]) -> (u64, u64) {
        let one = |k: &std::collections::hash_map::RandomState| {
            let mut h = k.build_hasher();
            h.write(user.as_bytes());
            h.write_u8(0);
            h.write(pass);
            h.finish()
        };
        (one(&self.keys.0), one(&self.keys.1))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(u64, u64)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Userlist {
    /// A userlist; `users`' groups must be declared in `groups` (the
    /// loader checks it).
    pub fn new(name: String, users: Vec<User>, groups: Vec<String>) -> Userlist {
        Userlist {
            name,
            users,
            groups,
            cache: Arc::new(AuthCache::new()),
        }
    }

    /// The user named `user` if `pass` is its password. A password longer
    /// than 512 bytes (`MAX_PASSWORD`) is refused before any hashing:
    /// sha-crypt and md5-crypt take time in proportion to its length, so
    /// a visitor could otherwise make each check last a second.
    pub fn check(&self, user: &str, pass: &[u8]) -> Option<&User> {
        if pass.len() > MAX_PASSWORD {
            return None;
        }
        let u = self.users.iter().find(|u| u.name == user)?;
        let ok = match &u.password {
            Password::Clear(p) => ct_eq(p.as_bytes(), pass),
            Password::Hash(h) => {
                let key = self.cache.key(user, pass);
                if self.cache.lock().contains(&key) {
                    true
                } else if pwhash::unix::verify(pass, h) {
                    let mut seen = self.cache.lock();
                    if seen.len() >= CACHE_SIZE {
                        seen.clear();
                    }
                    seen.insert(key);
                    true
                } else {
                    false
                }
            }
        };
        ok.then_some(u)
    }

    /// The user of `Authorization: Basic <b64(user:pass)>` credentials
    /// already decoded (`user:pass`, the password after the first `:`).
    pub fn check_basic(&self, credentials: &[u8]) -> Option<&User> {
        let colon = credentials.iter().position(|&b| b == b':')?;
        let user = std::str::from_utf8(&credentials[..colon]).ok()?;
        self.check(user, &credentials[colon + 1..])
    }
}

/// The longest password checked, in bytes (libxcrypt's limit, which
/// HAProxy's `crypt(3)` applies).
pub const MAX_PASSWORD: usize = 512;

/// Compares without stopping at the first difference.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `openssl passwd -6/-5/-1 -salt saltsalt <password>` and
    /// libxcrypt's bcrypt (`crypt("s3cretb", "$2b$04$abcdefghijklmnopqrstuu")`),
    /// and crypt_blowfish's published `$2a$` vector for `U*U`; HAProxy
    /// 2.6.12 accepted each of the first four.
    const VECTORS: &[(&str, &str, &str)] = &[
        (
            "$6$saltsalt$JV6rkFgxoWXPSBkfOn2dQke2iT8fL.OraqmFLrlj3mNwaz7tQuzY6l4KzwCrMKP0kIjIJ80/UJGSOOMLSkbB4/",
            "s3cret6",
            "sha512-crypt",
        ),
        (
            "$5$saltsalt$t7Kj8mIGBfDkYxgEzoewrJINMU5Jc9W3QvnyXvqEjH4",
            "s3cret5",
            "sha256-crypt",
        ),
        ("$1$saltsalt$/I.FJgwCsi2qv/AoBov0b1", "s3cret1", "md5-crypt"),
        (
            "$2b$04$abcdefghijklmnopqrstuutOxS4VSSgaJ9jpZUWYprtqO00KTt1tm",
            "s3cretb",
            "bcrypt",
        ),
        (
            "$2y$04$abcdefghijklmnopqrstuutOxS4VSSgaJ9jpZUWYprtqO00KTt1tm",
            "s3cretb",
            "bcrypt",
        ),
        (
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "U*U",
            "bcrypt",
        ),
    ];

    fn list() -> Userlist {
        let mut users: Vec<User> = VECTORS
            .iter()
            .enumerate()
            .map(|(i, (h, _, _))| User {
                name: format!("u{i}"),
                password: Password::Hash((*h).into()),
                groups: Vec::new(),
            })
            .collect();
        users.push(User {
            name: "dave".into(),
            password: Password::Clear("plain".into()),
            groups: vec!["ops".into()],
        });
        Userlist::new("admins".into(), users, vec!["ops".into()])
    }

    #[test]
    fn every_hash_form_verifies() {
        let l = list();
        for (i, (h, pass, form)) in VECTORS.iter().enumerate() {
            assert_eq!(hash_form(h), Some(*form), "{h}");
            let user = format!("u{i}");
            assert!(l.check(&user, pass.as_bytes()).is_some(), "{h}");
            // Twice: the second from the cache.
            assert!(l.check(&user, pass.as_bytes()).is_some(), "{h}");
            assert!(l.check(&user, b"wrong").is_none(), "{h}");
            assert!(l.check(&user, &pass.as_bytes()[1..]).is_none(), "{h}");
        }
        assert_eq!(
            l.check("dave", b"plain").map(|u| &u.groups[..]),
            Some(&["ops".to_string()][..])
        );
        assert!(l.check("dave", b"plai").is_none());
        assert!(l.check("nobody", b"plain").is_none());
        assert!(l.check_basic(b"dave:plain").is_some());
        assert!(l.check_basic(b"u2:s3cret1").is_some());
        assert!(l.check_basic(b"daveplain").is_none());
        // The cache keys user and password together.
        assert!(l.check("u1", b"s3cret6").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let l = Userlist::new(
            "l".into(),
            vec![User {
                name: "u".into(),
                password: Password::Hash(VECTORS[3].0.into()),
                groups: Vec::new(),
            }],
            Vec::new(),
        );
        assert!(l.check("u", b"s3cretb").is_some());
        assert_eq!(l.cache.lock().len(), 1);
        // Full of other credentials: the next accepted one empties it.
        l.cache.lock().clear();
        l.cache
            .lock()
            .extend((0..CACHE_SIZE as u64).map(|i| (i, i)));
        assert!(l.check("u", b"s3cretb").is_some());
        assert_eq!(l.cache.lock().len(), 1);
        // A refused password is never remembered.
        assert!(l.check("u", b"nope").is_none());
        assert_eq!(l.cache.lock().len(), 1);
    }

    #[test]
    fn other_forms_are_refused() {
        for h in [
            "",
            "plain",
            "$apr1$saltsalt$abc",
            "$6$saltsalt$short",
            "$1$saltsaltx$/I.FJgwCsi2qv/AoBov0b1",
            "$2b$03$abcdefghijklmnopqrstuutOxS4VSSgaJ9jpZUWYprtqO00KTt1tm",
            "$2x$04$abcdefghijklmnopqrstuutOxS4VSSgaJ9jpZUWYprtqO00KTt1tm",
            "$6$rounds=$salt$JV6rkFgxoWXPSBkfOn2dQke2iT8fL.OraqmFLrlj3mNwaz7tQuzY6l4KzwCrMKP0kIjIJ80/UJGSOOMLSkbB4/",
            "abcdefghijklm",
        ] {
            assert_eq!(hash_form(h), None, "{h}");
        }
        assert!(format!("{:?}", Password::Clear("s3cret".into())).contains(".."));
        assert!(!format!("{:?}", Password::Hash(VECTORS[0].0.into())).contains("saltsalt"));
    }

    #[test]
    fn a_password_over_the_limit_is_refused_before_any_check() {
        let long = "x".repeat(MAX_PASSWORD + 1);
        let list = Userlist::new(
            "l".into(),
            vec![User {
                name: "dave".into(),
                password: Password::Clear(long.clone()),
                groups: vec![],
            }],
            vec![],
        );
        // Even the right password: the length is refused first, so no
        // hash ever runs on such input.
        assert!(list.check("dave", long.as_bytes()).is_none());
        let at_limit = "y".repeat(MAX_PASSWORD);
        let list = Userlist::new(
            "l".into(),
            vec![User {
                name: "dave".into(),
                password: Password::Clear(at_limit.clone()),
                groups: vec![],
            }],
            vec![],
        );
        assert!(list.check("dave", at_limit.as_bytes()).is_some());
    }
}
