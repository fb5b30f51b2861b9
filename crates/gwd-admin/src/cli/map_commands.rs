//! The map and ACL commands: `show`, `get`, `add`, `set`, `del`,
//! `clear`, `prepare`, `commit` (HAProxy's wording for every answer).

use gwd_config::RegisteredMap;
use gwd_maps::{EntryId, MapError, RefKind};

use super::Session;

impl Session {
    pub(super) fn show(&self, target: Target, rest: &[&str]) -> String {
        let (ver, rest) = match rest {
            [v, tail @ ..] if v.starts_with('@') => (Some(version_number(&v[1..])), tail),
            _ => (None, rest),
        };
        let Some(ident) = rest.first() else {
            if ver.is_some() {
                return target.unknown();
            }
            let mut s = String::from("# id (file) description\n");
            for m in self.cli.maps.iter() {
                let listed = match target {
                    Target::Map => m.used_by_map,
                    Target::Acl => m.used_by_acl,
                };
                if !listed {
                    continue;
                }
                let v = m.map.versions();
                s.push_str(&format!(
                    "{} ({}) {}. curr_ver={} next_ver={} entry_cnt={}\n",
                    m.id, m.name, m.description, v.curr, v.next, v.entry_cnt
                ));
            }
            return s;
        };
        let m = match self.lookup(target, ident) {
            Ok(m) => m,
            Err(e) => return e,
        };
        let entries = match ver {
            None => m.map.entries(),
            // HAProxy shows nothing for a version that does not exist.
            Some(v) => m.map.entries_at(v).unwrap_or_default(),
        };
        let mut s = String::new();
        for e in entries {
            match m.map.kind() {
                RefKind::Map => {
                    s.push_str(&format!("{} {} {}\n", e.id(), e.key_str(), e.value_str()))
                }
                RefKind::Acl => s.push_str(&format!("{} {}\n", e.id(), e.key_str())),
            }
        }
        s
    }

    pub(super) fn get(&self, target: Target, rest: &[&str]) -> String {
        let [ident, value, ..] = rest else {
            return match target {
                Target::Map => "Missing map identifier and/or key.\n".into(),
                Target::Acl => "Missing ACL identifier and/or key.\n".into(),
            };
        };
        // HAProxy does not check the map/ACL flag for `get`.
        let Some(m) = self.cli.maps.find(ident) else {
            return target.unknown();
        };
        // One line per use of the reference (HAProxy's pattern
        // expressions), the value's type as that use reads it: `str`,
        // `sint` (`map_*_int`), `ipv4`/`ipv6` (`map_*_ip`), or `value=none`
        // for an ACL use.
        let mut s = String::new();
        for reply in m.map.get_replies(value.as_bytes()) {
            let line = match target {
                Target::Map => reply.map_text(),
                Target::Acl => reply.acl_line(),
            };
            s.push_str(&line);
            s.push('\n');
        }
        s
    }

    pub(super) fn add(&self, target: Target, rest: &[&str], payload: Option<&str>) -> String {
        let (ver, rest) = match rest {
            [v, tail @ ..] if v.starts_with('@') => (Some(version_number(&v[1..])), tail),
            _ => (None, rest),
        };
        let enough = match (target, payload) {
            (Target::Map, None) => rest.len() >= 3,
            (_, Some(_)) => !rest.is_empty(),
            (Target::Acl, None) => rest.len() >= 2,
        };
        if !enough {
            return match target {
                Target::Map => "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n".into(),
                Target::Acl => "'add acl' expects two parameters: ACL identifier and pattern.\n".into(),
            };
        }
        let m = match self.cli.maps.find(rest[0]) {
            Some(m) if target.accepts(m) || target == Target::Acl => m.clone(),
            _ => return target.unknown(),
        };
        let map = &m.map;
        if let Some(v) = ver {
            let next = map.versions().next;
            if (v.wrapping_sub(next) as i32) > 0 {
                return format!(
                    "Version number in the future, please use 'prepare {}' before.\n",
                    target.word()
                );
            }
        }
        if target == Target::Acl && map.kind() == RefKind::Map {
            return "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n".into();
        }
        let add = |k: &str, v: &str| -> Result<(), MapError> {
            let v = if map.kind() == RefKind::Map { v } else { "" };
            match ver {
                Some(ver) => map.add_at(ver, k.as_bytes(), v.as_bytes()).map(drop),
                None => map.add(k.as_bytes(), v.as_bytes()).map(drop),
            }
        };
        let res = match payload {
            None => add(rest[1], rest.get(2).copied().unwrap_or("")).map_err(Err2::Map),
            Some(p) => add_payload(target, p, add),
        };
        match res {
            Ok(()) => String::new(),
            Err(Err2::Map(e)) => err_line(&e),
            Err(Err2::Text(t)) => t,
        }
    }

    pub(super) fn set(&self, rest: &[&str]) -> String {
        let [ident, key, value, ..] = rest else {
            return "'set map' expects three parameters: map identifier, key and value.\n".into();
        };
        let Some(m) = self.cli.maps.find(ident) else {
            return Target::Map.unknown();
        };
        let res = if let Some(id) = key.strip_prefix("#0x").map(|_| &key[1..]) {
            match EntryId::parse(id) {
                Some(id) => m.map.set_id(id, value.as_bytes()),
                None => return "Malformed identifier. Please use #<id> or <file>.\n".into(),
            }
        } else {
            m.map.set(key.as_bytes(), value.as_bytes()).map(drop)
        };
        match res {
            Ok(()) => String::new(),
            Err(e) => err_line(&e),
        }
    }

    pub(super) fn del(&self, target: Target, rest: &[&str]) -> String {
        let [ident, key, ..] = rest else {
            return format!(
                "This command expects two parameters: {} identifier and key.\n",
                match target {
                    Target::Map => "map",
                    Target::Acl => "ACL",
                }
            );
        };
        let m = match self.lookup(target, ident) {
            Ok(m) => m,
            // HAProxy answers with the map wording for both.
            Err(_) => return Target::Map.unknown(),
        };
        let res = if let Some(id) = key.strip_prefix("#0x").map(|_| &key[1..]) {
            match EntryId::parse(id) {
                Some(id) => m.map.del_id(id),
                None => return "Malformed identifier. Please use #<id> or <file>.\n".into(),
            }
        } else {
            m.map.del(key.as_bytes()).map(drop)
        };
        match res {
            Ok(()) => String::new(),
            Err(_) => "Key not found.\n".into(),
        }
    }

    pub(super) fn missing_ident(target: Target) -> String {
        match target {
            Target::Map => "Missing map identifier.\n".into(),
            Target::Acl => "Missing ACL identifier.\n".into(),
        }
    }

    pub(super) fn clear(&self, target: Target, rest: &[&str]) -> String {
        let (ver, rest) = match rest {
            [v, tail @ ..] if v.starts_with('@') => (Some(version_number(&v[1..])), tail),
            _ => (None, rest),
        };
        let Some(ident) = rest.first() else {
            return Self::missing_ident(target);
        };
        let m = match self.lookup(target, ident) {
            Ok(m) => m,
            Err(e) => return e,
        };
        match ver {
            None => m.map.clear(),
            // HAProxy purges whatever that version holds; nothing to report.
            Some(v) => {
                let _ = m.map.clear_at(v);
            }
        }
        String::new()
    }

    pub(super) fn prepare(&self, target: Target, rest: &[&str]) -> String {
        let Some(ident) = rest.first() else {
            return target.unknown();
        };
        match self.lookup(target, ident) {
            Ok(m) => format!("New version created: {}\n", m.map.prepare()),
            Err(e) => e,
        }
    }

    pub(super) fn commit(&self, target: Target, rest: &[&str]) -> String {
        let Some(v) = rest.first().and_then(|v| v.strip_prefix('@')) else {
            return "Missing version number.\n".into();
        };
        let Some(ident) = rest.get(1) else {
            return Self::missing_ident(target);
        };
        let m = match self.lookup(target, ident) {
            Ok(m) => m,
            Err(e) => return e,
        };
        match m.map.commit(version_number(v)) {
            Ok(()) => String::new(),
            Err(e) => err_line(&e),
        }
    }
}

/// HAProxy's `str2uic`: leading decimal digits, 0 when there are none.
pub(super) fn version_number(s: &str) -> u32 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().map_or(0, |v| v as u32)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Map,
    Acl,
}

impl Target {
    pub(super) fn unknown(self) -> String {
        match self {
            Target::Map => "Unknown map identifier. Please use #<id> or <file>.\n".into(),
            Target::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n".into(),
        }
    }
    pub(super) fn word(self) -> &'static str {
        match self {
            Target::Map => "map",
            Target::Acl => "acl",
        }
    }
    pub(super) fn accepts(self, m: &RegisteredMap) -> bool {
        match self {
            Target::Map => m.used_by_map || m.map.kind() == RefKind::Map,
            Target::Acl => m.used_by_acl,
        }
    }
}

fn err_line(e: &MapError) -> String {
    format!("{e}\n")
}

enum Err2 {
    Map(MapError),
    Text(String),
}

/// `add map <m> <<` payload: one `key value` pair per line (`add acl`: one
/// pattern per line). Stops at the first error.
fn add_payload(
    target: Target,
    payload: &str,
    add: impl Fn(&str, &str) -> Result<(), MapError>,
) -> Result<(), Err2> {
    for line in payload.lines() {
        if line.is_empty() {
            continue;
        }
        let (k, v) = match target {
            Target::Acl => (line, ""),
            Target::Map => {
                let kend = line.find([' ', '\t']).unwrap_or(line.len());
                let (k, rest) = line.split_at(kend);
                if rest.is_empty() {
                    return Err(Err2::Text(format!("Missing value for key '{k}'.\n")));
                }
                (k, rest.trim_start_matches([' ', '\t']))
            }
        };
        add(k, v).map_err(Err2::Map)?;
    }
    Ok(())
}
