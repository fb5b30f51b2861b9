//! Generated `reg` patterns of four shapes seen in real host and path
//! lists, each with its own literal; shared by the regex memory test and
//! the `regex_load` example.

/// The i-th pattern.
pub fn pattern(i: usize) -> String {
    match i % 4 {
        0 => format!("^(www\\.)?shop{i}\\.example\\.com$"),
        1 => format!("^/api/v[0-9]+/tenant{i}/"),
        2 => format!("\\.cdn{i}\\.example\\.net$"),
        _ => format!("^/user-{i}-[a-z]+(/|$)"),
    }
}

/// An input that pattern `i` matches (and no earlier one).
pub fn hit(i: usize) -> String {
    match i % 4 {
        0 => format!("www.shop{i}.example.com"),
        1 => format!("/api/v2/tenant{i}/orders/17"),
        2 => format!("img.cdn{i}.example.net"),
        _ => format!("/user-{i}-abc/profile"),
    }
}
