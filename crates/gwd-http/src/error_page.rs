//! The small HTML pages gwd answers with when it, not a server, decides
//! the response — the same statuses, and the same kind of page, that an
//! HAProxy operator knows.

use http::StatusCode;

/// The sentence under the heading of each error page.
fn explanation(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Your browser sent an invalid request.",
        401 => "You need a valid user and password to access this content.",
        403 => "Request forbidden by administrative rules.",
        404 => "The requested URL was not found.",
        405 => "Method not allowed.",
        408 => "Your browser didn't send a complete request in time.",
        410 => "The requested resource is no longer available.",
        413 => "The request body is too large.",
        421 => "Misdirected request.",
        425 => "Too early.",
        429 => "You sent too many requests in a given amount of time.",
        431 => "Your browser sent request header fields that are too large.",
        500 => "An internal server error occurred.",
        501 => "Not implemented.",
        502 => "The server returned an invalid or incomplete response.",
        503 => "No server is available to handle this request.",
        504 => "The server didn't respond in time.",
        _ => "The request could not be completed.",
    }
}

/// The HTML of an error page.
///
/// ```
/// let html = gwd_http::error_page::page_html(http::StatusCode::BAD_GATEWAY);
/// assert!(html.starts_with("<html><body><h1>502 Bad Gateway</h1>"));
/// ```
pub fn page_html(status: StatusCode) -> String {
    format!(
        "<html><body><h1>{} {}</h1>\n{}\n</body></html>\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        explanation(status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_status_and_reason() {
        let html = page_html(StatusCode::SERVICE_UNAVAILABLE);
        assert!(html.starts_with("<html><body><h1>503 Service Unavailable</h1>"));
        assert!(html.contains("No server is available"));
    }

    #[test]
    fn reply_has_status_type_and_length() {
        let r = crate::local::LocalReply::error(StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(r.status(), 504);
        assert_eq!(r.head.fields.get("content-type"), Some(&b"text/html"[..]));
        assert_eq!(
            r.head.fields.get("content-length"),
            Some(r.body.len().to_string().as_bytes())
        );
    }
}
