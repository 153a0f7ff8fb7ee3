//! Security headers on every response: the API is JSON only and never framed; `/docs` gets the
//! narrowest policy that lets Swagger UI run from our own origin.

use http::{HeaderMap, HeaderValue, header};

use crate::docs::DOCS_PATH;

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// Swagger UI's bundle injects inline styles; scripts and everything else come from us only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'none'";
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub fn apply(headers: &mut HeaderMap, path: &str, hsts: bool) {
    let docs = path
        .strip_prefix(DOCS_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs { DOCS_CSP } else { API_CSP }),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !docs {
        // Responses carry tenant data: no shared caches.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    headers.remove(header::SERVER);
    headers.remove("x-powered-by");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_responses_are_locked_down() {
        let mut headers = HeaderMap::new();
        headers.insert(header::SERVER, HeaderValue::from_static("hyper"));
        apply(&mut headers, "/v1/users", false);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .is_ok_and(|csp| csp.contains("frame-ancestors 'none'"))
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert!(headers.get(header::SERVER).is_none());
        assert!(headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());
    }

    #[test]
    fn docs_get_their_own_policy_and_hsts_follows_the_setting() {
        let mut headers = HeaderMap::new();
        apply(&mut headers, "/docs/index.html", true);
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .is_ok_and(|csp| csp.contains("script-src 'self'"))
        );
        assert!(headers.get(header::STRICT_TRANSPORT_SECURITY).is_some());
    }
}
