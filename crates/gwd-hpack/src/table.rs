//! The static table (RFC 7541 Appendix A) and the decoder's dynamic table (§2.3, §4).
//!
//! Index space (§2.3.3): 1..=61 are static entries; 62 is the newest dynamic
//! entry, 63 the one before it, and so on. Index 0 is never valid.
//!
//! Dynamic table invariants: `size` is the RFC size (sum of
//! `name.len() + value.len() + 32` over the entries) and never exceeds
//! `max_size`; inserting evicts the oldest entries until the new one fits, and
//! an entry larger than `max_size` empties the table (§4.4). The table starts
//! with no allocation and gives its storage back when it becomes empty, so an
//! idle decoder whose table is empty owns no heap memory.

use std::collections::VecDeque;

/// Per-entry overhead counted by the RFC (§4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// Number of entries in the static table.
pub const STATIC_LEN: usize = 61;

/// RFC 7541 Appendix A; `STATIC_TABLE[i]` is index `i + 1`.
pub const STATIC_TABLE: [(&[u8], &[u8]); STATIC_LEN] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// What the static table offers for one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// Name and value match this index.
    Full(usize),
    /// Only the name matches; this is its lowest index.
    Name(usize),
    /// The name is not in the static table.
    None,
}

/// The longest name in the static table (`access-control-allow-origin`).
const STATIC_NAME_MAX: usize = 27;

/// The most distinct static names of one length (4: `date`, `etag`,
/// `from`, `host`, `link`, `vary`).
const SAME_LENGTH_MAX: usize = 6;

/// For each name length, each static name of that length as (index of
/// its first entry, 1-based; how many entries it has, adjacent); an index
/// of 0 ends a list. Built at compile time from [`STATIC_TABLE`], so a
/// lookup compares a field's name with at most six names of its own
/// length instead of scanning the 61 entries (the scan was about 300
/// instructions for each name the table lacks, a few thousand a
/// forwarded answer).
static NAMES_BY_LENGTH: [[(u8, u8); SAME_LENGTH_MAX]; STATIC_NAME_MAX + 1] = names_by_length();

const fn names_by_length() -> [[(u8, u8); SAME_LENGTH_MAX]; STATIC_NAME_MAX + 1] {
    let mut by_len = [[(0u8, 0u8); SAME_LENGTH_MAX]; STATIC_NAME_MAX + 1];
    let mut i = 0;
    while i < STATIC_LEN {
        let name = STATIC_TABLE[i].0;
        let mut count = 1;
        while i + count < STATIC_LEN && same(name, STATIC_TABLE[i + count].0) {
            count += 1;
        }
        let slot = &mut by_len[name.len()];
        let mut k = 0;
        while slot[k].0 != 0 {
            k += 1;
        }
        slot[k] = ((i + 1) as u8, count as u8);
        i += count;
    }
    by_len
}

/// `a == b`, with the first and last bytes compared before the call to
/// `memcmp` that slice equality makes: candidates of the same length
/// (`:method`, `:scheme`, `:status`) mostly differ there.
fn equal(a: &[u8], b: &[u8]) -> bool {
    match (a.first(), a.last(), b.first(), b.last()) {
        (Some(a0), Some(a1), Some(b0), Some(b1)) => {
            a.len() == b.len() && a0 == b0 && a1 == b1 && a == b
        }
        _ => a.len() == b.len(),
    }
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Looks `name`/`value` up in the static table.
pub(crate) fn static_find(name: &[u8], value: &[u8]) -> StaticMatch {
    let Some(candidates) = NAMES_BY_LENGTH.get(name.len()) else {
        return StaticMatch::None;
    };
    for &(first, count) in candidates {
        if first == 0 {
            break;
        }
        let first = usize::from(first) - 1;
        if !equal(STATIC_TABLE[first].0, name) {
            continue;
        }
        // A full match, if any, is among the name's entries; otherwise
        // the name's lowest index.
        let entries = &STATIC_TABLE[first..first + usize::from(count)];
        return match entries.iter().position(|&(_, v)| equal(v, value)) {
            Some(k) => StaticMatch::Full(first + k + 1),
            None => StaticMatch::Name(first + 1),
        };
    }
    StaticMatch::None
}

/// One dynamic entry: name and value in one allocation.
struct Entry {
    data: Box<[u8]>,
    name_len: usize,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.data[..self.name_len]
    }
    fn value(&self) -> &[u8] {
        &self.data[self.name_len..]
    }
    fn size(&self) -> usize {
        self.data.len() + ENTRY_OVERHEAD
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: {:?}",
            String::from_utf8_lossy(self.name()),
            String::from_utf8_lossy(self.value())
        )
    }
}

/// The decoder's dynamic table.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    /// Newest first.
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// `(name, value)` at HPACK index `index` (static or dynamic), if valid.
    pub(crate) fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match index {
            0 => None,
            1..=STATIC_LEN => Some(STATIC_TABLE[index - 1]),
            _ => self
                .entries
                .get(index - STATIC_LEN - 1)
                .map(|e| (e.name(), e.value())),
        }
    }

    /// Applies a dynamic table size update (§6.3): evicts down to `max_size`.
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Inserts `data` (name followed by value, the name `name_len` bytes long)
    /// as the newest entry, evicting as needed (§4.4).
    pub(crate) fn insert(&mut self, data: Box<[u8]>, name_len: usize) {
        let entry = Entry { data, name_len };
        let size = entry.size();
        if size > self.max_size {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - size);
        self.entries.push_front(entry);
        self.size += size;
    }

    fn evict_to(&mut self, target: usize) {
        let before = self.entries.len();
        while self.size > target {
            let Some(old) = self.entries.pop_back() else {
                break;
            };
            self.size -= old.size();
        }
        if self.entries.len() != before {
            self.release_spare();
        }
    }

    /// Keeps the ring's spare capacity bounded after evictions.
    fn release_spare(&mut self) {
        let len = self.entries.len();
        if len == 0 {
            self.entries = VecDeque::new();
        } else if self.entries.capacity() >= 4 * len && self.entries.capacity() > 8 {
            self.entries.shrink_to(2 * len);
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str, value: &str) -> (Box<[u8]>, usize) {
        let mut v = name.as_bytes().to_vec();
        v.extend_from_slice(value.as_bytes());
        (v.into_boxed_slice(), name.len())
    }

    fn ins(t: &mut DynamicTable, name: &str, value: &str) {
        let (d, n) = data(name, value);
        t.insert(d, n);
    }

    #[test]
    fn static_table_spot_checks() {
        assert_eq!(STATIC_TABLE.len(), 61);
        let t = DynamicTable::new(4096);
        assert_eq!(t.get(1), Some((&b":authority"[..], &b""[..])));
        assert_eq!(t.get(2), Some((&b":method"[..], &b"GET"[..])));
        assert_eq!(t.get(8), Some((&b":status"[..], &b"200"[..])));
        assert_eq!(
            t.get(16),
            Some((&b"accept-encoding"[..], &b"gzip, deflate"[..]))
        );
        assert_eq!(t.get(32), Some((&b"cookie"[..], &b""[..])));
        assert_eq!(t.get(61), Some((&b"www-authenticate"[..], &b""[..])));
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(62), None);
    }

    #[test]
    fn static_find_prefers_full_match_then_lowest_name_index() {
        assert_eq!(static_find(b":method", b"GET"), StaticMatch::Full(2));
        assert_eq!(static_find(b":method", b"POST"), StaticMatch::Full(3));
        assert_eq!(static_find(b":method", b"PUT"), StaticMatch::Name(2));
        assert_eq!(static_find(b":status", b"500"), StaticMatch::Full(14));
        assert_eq!(static_find(b":status", b"302"), StaticMatch::Name(8));
        assert_eq!(
            static_find(b"accept-encoding", b"gzip, deflate"),
            StaticMatch::Full(16)
        );
        assert_eq!(static_find(b"cookie", b""), StaticMatch::Full(32));
        assert_eq!(static_find(b"cookie", b"a=b"), StaticMatch::Name(32));
        assert_eq!(
            static_find(b"www-authenticate", b"x"),
            StaticMatch::Name(61)
        );
        assert_eq!(static_find(b"x-custom", b""), StaticMatch::None);
        assert_eq!(static_find(b"", b""), StaticMatch::None);
    }

    #[test]
    fn static_find_by_length_agrees_with_a_scan_of_the_table() {
        // The scan the length index replaced: lowest full match, else the
        // lowest index of the name.
        fn scan(name: &[u8], value: &[u8]) -> StaticMatch {
            if let Some(i) = STATIC_TABLE
                .iter()
                .position(|&(n, v)| n == name && v == value)
            {
                return StaticMatch::Full(i + 1);
            }
            match STATIC_TABLE.iter().position(|&(n, _)| n == name) {
                Some(i) => StaticMatch::Name(i + 1),
                None => StaticMatch::None,
            }
        }
        let mut names: Vec<Vec<u8>> = STATIC_TABLE.iter().map(|(n, _)| n.to_vec()).collect();
        for n in STATIC_TABLE.iter().map(|(n, _)| n.to_vec()) {
            // Same length, one byte off; a prefix; one byte longer.
            let mut off = n.clone();
            *off.last_mut().unwrap() ^= 1;
            names.extend([off, n[..n.len() - 1].to_vec(), [&n[..], b"x"].concat()]);
        }
        names.extend([b"".to_vec(), b"x-forwarded-for".to_vec(), vec![b'a'; 200]]);
        for name in &names {
            for (_, value) in STATIC_TABLE.iter() {
                for value in [value.to_vec(), b"other".to_vec()] {
                    assert_eq!(
                        static_find(name, &value),
                        scan(name, &value),
                        "{:?} {:?}",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(&value)
                    );
                }
            }
        }
    }

    #[test]
    fn static_names_with_several_entries_are_adjacent() {
        for (i, (n, _)) in STATIC_TABLE.iter().enumerate() {
            let first = STATIC_TABLE.iter().position(|(m, _)| m == n).unwrap();
            assert!(
                STATIC_TABLE[first..=i].iter().all(|(m, _)| m == n),
                "{}",
                String::from_utf8_lossy(n)
            );
        }
    }

    #[test]
    fn dynamic_indexing_newest_first() {
        let mut t = DynamicTable::new(4096);
        ins(&mut t, "a", "1");
        ins(&mut t, "b", "2");
        assert_eq!(t.get(62), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(t.get(63), Some((&b"a"[..], &b"1"[..])));
        assert_eq!(t.get(64), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.size(), 2 * 34);
    }

    #[test]
    fn eviction_drops_oldest_until_new_entry_fits() {
        // Each entry is 32 + 2 = 34; max 100 holds two.
        let mut t = DynamicTable::new(100);
        ins(&mut t, "a", "1");
        ins(&mut t, "b", "2");
        ins(&mut t, "c", "3");
        assert_eq!(t.len(), 2);
        assert_eq!(t.size(), 68);
        assert_eq!(t.get(62).unwrap().0, b"c");
        assert_eq!(t.get(63).unwrap().0, b"b");
        // An entry of exactly max_size fits alone.
        let name = "x".repeat(100 - 32);
        ins(&mut t, &name, "");
        assert_eq!((t.len(), t.size()), (1, 100));
    }

    #[test]
    fn entry_larger_than_max_empties_the_table() {
        let mut t = DynamicTable::new(100);
        ins(&mut t, "a", "1");
        let name = "x".repeat(100 - 32 + 1);
        ins(&mut t, &name, "");
        assert_eq!((t.len(), t.size()), (0, 0));
        assert_eq!(t.capacity(), 0, "storage released");
    }

    #[test]
    fn set_max_size_evicts_and_zero_releases_storage() {
        let mut t = DynamicTable::new(4096);
        for i in 0..50 {
            ins(&mut t, "name", &i.to_string());
        }
        assert_eq!(t.len(), 50);
        t.set_max_size(5 * 38);
        assert_eq!(t.len(), 5);
        assert!(t.size() <= 5 * 38);
        assert!(
            t.capacity() <= 16,
            "spare ring capacity shrunk: {}",
            t.capacity()
        );
        assert_eq!(t.get(62).unwrap().1, b"49");
        t.set_max_size(0);
        assert_eq!((t.len(), t.size(), t.capacity()), (0, 0, 0));
        assert_eq!(t.max_size(), 0);
        // With max 0 nothing is ever inserted.
        ins(&mut t, "a", "");
        assert_eq!((t.len(), t.capacity()), (0, 0));
    }

    #[test]
    fn new_table_has_no_storage() {
        let t = DynamicTable::new(4096);
        assert_eq!(t.capacity(), 0);
        assert!(format!("{t:?}").contains("entries: []"));
    }
}
