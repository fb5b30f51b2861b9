//! Header values as fetches see them: a line split at commas outside
//! quotes, blanks trimmed, cookies by name, and the occurrence a fetch
//! asks for (1-based from the start, negative from the end, 0 the last).

/// Optional whitespace (SP, HTAB) around header values.
pub(crate) fn ows(s: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().take_while(|b| blank(b)).count();
    let end = s.len() - s[start..].iter().rev().take_while(|b| blank(b)).count();
    &s[start..end]
}

/// Splits one header line at commas outside double quotes, trimming blanks.
#[derive(Clone)]
pub(crate) struct CommaSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        CommaSplit { rest: Some(s) }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest?;
        // Most values hold no quote: then the first comma ends the element,
        // found without the quote-and-escape state kept byte by byte below.
        match s.iter().position(|&b| b == b',' || b == b'"') {
            None => {
                self.rest = None;
                return Some(ows(s));
            }
            Some(i) if s[i] == b',' => {
                self.rest = Some(&s[i + 1..]);
                return Some(ows(&s[..i]));
            }
            Some(_) => {}
        }
        let mut inq = false;
        let mut esc = false;
        for (i, &b) in s.iter().enumerate() {
            if esc {
                esc = false;
                continue;
            }
            match b {
                b'\\' if inq => esc = true,
                b'"' => inq = !inq,
                b',' if !inq => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(ows(&s[..i]));
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(ows(s))
    }
}

/// Picks occurrence `occ` (1-based from the start, negative from the end,
/// 0 = last) of an iterator.
pub(crate) fn pick<T, I: Iterator<Item = T> + Clone>(mut it: I, occ: i64) -> Option<T> {
    if occ > 0 {
        it.nth(usize::try_from(occ - 1).ok()?)
    } else if occ == 0 {
        // The last one, in one pass (`req.hdr(host)` on every request).
        it.last()
    } else {
        let k = usize::try_from(occ.unsigned_abs()).ok()?;
        let n = it.clone().count();
        if k > n { None } else { it.nth(n - k) }
    }
}

/// Iterates `vals` (all, occ = 0) or only the chosen occurrence.
pub(crate) fn each_occ<'c, I>(vals: I, occ: i64, f: &mut dyn FnMut(&'c [u8]) -> bool) -> bool
where
    I: Iterator<Item = &'c [u8]> + Clone,
{
    if occ == 0 {
        for v in vals {
            if f(v) {
                return true;
            }
        }
        false
    } else {
        pick(vals, occ).is_some_and(f)
    }
}

pub(crate) fn hdr_iter<'c, 'l>(
    lines: &'l [&'c [u8]],
    split: bool,
) -> impl Iterator<Item = &'c [u8]> + Clone + 'l {
    let (a, b) = if split {
        (Some(lines), None)
    } else {
        (None, Some(lines))
    };
    a.into_iter()
        .flat_map(|l| l.iter().flat_map(|v| CommaSplit::new(v)))
        .chain(b.into_iter().flat_map(|l| l.iter().map(|v| ows(v))))
}

pub(crate) fn cookie_iter<'c, 'l>(
    lines: &'l [&'c [u8]],
    name: &'l str,
) -> impl Iterator<Item = &'c [u8]> + Clone + 'l {
    lines.iter().flat_map(move |&l: &&'c [u8]| {
        l.split(|&b| b == b';').filter_map(move |kv| {
            let (k, v) = split_once_eq(kv)?;
            (ows(k) == name.as_bytes()).then(|| ows(v))
        })
    })
}

/// `kv` cut at its first `=`.
pub(crate) fn split_once_eq(kv: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = kv.iter().position(|&b| b == b'=')?;
    Some((&kv[..i], &kv[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes() {
        let v: Vec<_> = CommaSplit::new(br#" a , "b,c" ,,d\,e"#).collect();
        assert_eq!(v, vec![&b"a"[..], b"\"b,c\"", b"", b"d\\", b"e"]);
    }

    #[test]
    fn comma_split_fast_path_agrees_with_the_quote_aware_scan() {
        // The byte-by-byte scan alone, as it was before the fast path.
        fn reference(mut rest: Option<&[u8]>) -> Vec<&[u8]> {
            let mut out = Vec::new();
            'next: while let Some(s) = rest {
                let (mut inq, mut esc) = (false, false);
                for (i, &b) in s.iter().enumerate() {
                    if esc {
                        esc = false;
                        continue;
                    }
                    match b {
                        b'\\' if inq => esc = true,
                        b'"' => inq = !inq,
                        b',' if !inq => {
                            out.push(ows(&s[..i]));
                            rest = Some(&s[i + 1..]);
                            continue 'next;
                        }
                        _ => {}
                    }
                }
                out.push(ows(s));
                rest = None;
            }
            out
        }
        // Every string of up to six bytes over the bytes that matter.
        let alphabet = [b'a', b',', b'"', b'\\', b' '];
        let mut strings = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = strings
                .iter()
                .filter(|s: &&Vec<u8>| s.len() == strings.last().map_or(0, Vec::len))
                .flat_map(|s| alphabet.iter().map(move |&b| [&s[..], &[b]].concat()))
                .collect();
            strings.extend(longer);
        }
        assert_eq!(strings.len(), (0..=6).map(|n| 5usize.pow(n)).sum::<usize>());
        for s in &strings {
            let got: Vec<_> = CommaSplit::new(s).collect();
            assert_eq!(got, reference(Some(s)), "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn pick_occurrences() {
        let v = ["a", "b", "c"];
        assert_eq!(pick(v.iter(), 1), Some(&"a"));
        assert_eq!(pick(v.iter(), 3), Some(&"c"));
        assert_eq!(pick(v.iter(), 4), None);
        assert_eq!(pick(v.iter(), 0), Some(&"c"));
        assert_eq!(pick(v.iter(), -1), Some(&"c"));
        assert_eq!(pick(v.iter(), -3), Some(&"a"));
        assert_eq!(pick(v.iter(), -4), None);
    }
}
