//! `google.api.http` path templates: parsing and matching.
//!
//! Grammar (from `google/api/http.proto`):
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```

use std::fmt;

use percent_encoding::percent_decode_str;

/// One segment of a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    Single,
    /// `**`: the rest of the path (zero or more segments); only last.
    Rest,
}

/// A variable binding a run of segments to a request field path such as `user.id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub field_path: Vec<String>,
    start: usize,
    /// Exclusive end index into the segments; `None` when the variable ends in `**`.
    end: Option<usize>,
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    source: String,
}

/// Why a template string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template `{template}`: {reason}")]
pub struct TemplateError {
    pub template: String,
    pub reason: &'static str,
}

/// Values captured by a successful match, in template order.
pub type Bindings = Vec<(Vec<String>, String)>;

impl PathTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let fail = |reason| TemplateError {
            template: template.to_owned(),
            reason,
        };
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with '/'"))?;
        let (body, verb) = split_verb(rest);
        if verb.is_some_and(str::is_empty) {
            return Err(fail("empty custom verb"));
        }
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut chars = body;
        while !chars.is_empty() || segments.is_empty() {
            if let Some(after_brace) = chars.strip_prefix('{') {
                let close = after_brace.find('}').ok_or_else(|| fail("unclosed '{'"))?;
                let inner = &after_brace[..close];
                let (path, pattern) = match inner.split_once('=') {
                    Some((path, pattern)) => (path, pattern),
                    None => (inner, "*"),
                };
                let field_path: Vec<String> = path.split('.').map(str::to_owned).collect();
                if field_path.iter().any(|p| !is_ident(p)) {
                    return Err(fail("variable is not a field path"));
                }
                let start = segments.len();
                for part in pattern.split('/') {
                    segments.push(parse_plain_segment(part).ok_or_else(|| fail("bad segment"))?);
                }
                let end = match segments.last() {
                    Some(Segment::Rest) => None,
                    _ => Some(segments.len()),
                };
                variables.push(Variable {
                    field_path,
                    start,
                    end,
                });
                chars = &after_brace[close + 1..];
            } else {
                let stop = chars.find('/').unwrap_or(chars.len());
                let part = &chars[..stop];
                if part.contains(['{', '}']) {
                    return Err(fail("variable must span whole segments"));
                }
                segments.push(parse_plain_segment(part).ok_or_else(|| fail("empty segment"))?);
                chars = &chars[stop..];
            }
            match chars.strip_prefix('/') {
                Some("") => return Err(fail("trailing '/'")),
                Some(next) => chars = next,
                None if chars.is_empty() => break,
                None => return Err(fail("expected '/' after a variable")),
            }
        }
        let rest_positions = segments.iter().filter(|s| **s == Segment::Rest).count();
        if rest_positions > 1 || (rest_positions == 1 && segments.last() != Some(&Segment::Rest)) {
            return Err(fail("'**' may only be the last segment"));
        }
        Ok(Self {
            segments,
            variables,
            verb: verb.map(str::to_owned),
            source: template.to_owned(),
        })
    }

    /// Field paths bound by this template, e.g. `[["user", "id"]]`.
    pub fn variables(&self) -> impl Iterator<Item = &[String]> {
        self.variables.iter().map(|v| v.field_path.as_slice())
    }

    /// How specific the template is, so `/v1/users:me` wins over `/v1/users/{id}` and literal
    /// segments beat wildcards when two templates match the same path.
    pub fn specificity(&self) -> (bool, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let not_rest = self
            .segments
            .iter()
            .filter(|s| **s != Segment::Rest)
            .count();
        (self.verb.is_some(), literals, not_rest)
    }

    /// The template as OpenAPI spells paths: `{user.id}` for each variable, verb kept.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut index = 0;
        while index < self.segments.len() {
            out.push('/');
            if let Some(var) = self.variables.iter().find(|v| v.start == index) {
                out.push('{');
                out.push_str(&var.field_path.join("."));
                out.push('}');
                index = var.end.unwrap_or(self.segments.len());
                continue;
            }
            match &self.segments[index] {
                Segment::Literal(lit) => out.push_str(lit),
                Segment::Single => out.push('*'),
                Segment::Rest => out.push_str("**"),
            }
            index += 1;
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// Matches a request path (without query) and returns the variable bindings, percent-decoded.
    pub fn matches(&self, path: &str) -> Option<Bindings> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => rest.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => rest,
        };
        let fixed = match self.segments.last() {
            Some(Segment::Rest) => self.segments.len() - 1,
            _ => self.segments.len(),
        };
        // Every route is tried in turn, so a mismatch is decided without allocating.
        let count = rest.split('/').count();
        if count < fixed || (fixed == self.segments.len() && count != fixed) {
            return None;
        }
        for (segment, part) in self.segments.iter().zip(rest.split('/')) {
            match segment {
                Segment::Literal(lit) if lit == part => {}
                Segment::Single if !part.is_empty() => {}
                Segment::Rest => break,
                _ => return None,
            }
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let mut bindings = Vec::with_capacity(self.variables.len());
        for var in &self.variables {
            let end = var.end.unwrap_or(parts.len());
            let captured = &parts[var.start..end];
            let value = if captured.len() == 1 {
                decode(captured[0], true)?
            } else {
                // Multi-segment captures keep an encoded '/' encoded, as in grpc-gateway and
                // Envoy, so the segment structure survives.
                let decoded: Option<Vec<String>> =
                    captured.iter().map(|part| decode(part, false)).collect();
                decoded?.join("/")
            };
            bindings.push((var.field_path.clone(), value));
        }
        Some(bindings)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Splits `a/b:verb` into `("a/b", Some("verb"))`; a ':' inside a `{...}` variable is not a verb.
fn split_verb(rest: &str) -> (&str, Option<&str>) {
    let last_close = rest.rfind('}').map_or(0, |i| i + 1);
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let from = last_close.max(last_slash);
    match rest[from..].find(':') {
        Some(offset) => (&rest[..from + offset], Some(&rest[from + offset + 1..])),
        None => (rest, None),
    }
}

fn parse_plain_segment(part: &str) -> Option<Segment> {
    match part {
        "" => None,
        "*" => Some(Segment::Single),
        "**" => Some(Segment::Rest),
        literal => Some(Segment::Literal(literal.to_owned())),
    }
}

fn is_ident(part: &str) -> bool {
    let mut chars = part.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn decode(part: &str, decode_slash: bool) -> Option<String> {
    if !decode_slash && part.to_ascii_lowercase().contains("%2f") {
        let normalized = part.replace("%2f", "%2F");
        let mut out = String::new();
        for (i, piece) in normalized.split("%2F").enumerate() {
            if i > 0 {
                out.push_str("%2F");
            }
            out.push_str(&percent_decode_str(piece).decode_utf8().ok()?);
        }
        return Some(out);
    }
    percent_decode_str(part)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(s: &str) -> PathTemplate {
        PathTemplate::parse(s).expect("valid template")
    }

    fn binding(path: &[&str], value: &str) -> (Vec<String>, String) {
        (
            path.iter().map(|p| (*p).to_owned()).collect(),
            value.to_owned(),
        )
    }

    #[test]
    fn literal_template_matches_only_itself() {
        let t = template("/v1/users");
        assert_eq!(t.matches("/v1/users"), Some(vec![]));
        assert_eq!(t.matches("/v1/users/"), None);
        assert_eq!(t.matches("/v1/user"), None);
        assert_eq!(t.matches("/v1/users/x"), None);
        assert_eq!(t.matches("/v1/users:me"), None);
    }

    #[test]
    fn simple_variable_binds_one_segment() {
        let t = template("/v1/users/{id}");
        assert_eq!(
            t.matches("/v1/users/42"),
            Some(vec![binding(&["id"], "42")])
        );
        assert_eq!(t.matches("/v1/users/"), None);
        assert_eq!(t.matches("/v1/users/a/b"), None);
        assert_eq!(t.openapi_path(), "/v1/users/{id}");
    }

    #[test]
    fn nested_field_variable_binds_a_sub_field() {
        let t = template("/v1/users/{user.id}");
        assert_eq!(
            t.matches("/v1/users/0190"),
            Some(vec![binding(&["user", "id"], "0190")])
        );
        assert_eq!(
            t.variables().collect::<Vec<_>>(),
            vec![&["user".to_owned(), "id".to_owned()][..]]
        );
    }

    #[test]
    fn custom_verbs_are_matched_after_the_last_segment() {
        let provision = template("/v1/tenants:provision");
        assert_eq!(provision.matches("/v1/tenants:provision"), Some(vec![]));
        assert_eq!(provision.matches("/v1/tenants"), None);
        assert_eq!(provision.matches("/v1/tenants:provisio"), None);

        let me = template("/v1/users:me");
        assert_eq!(me.matches("/v1/users:me"), Some(vec![]));

        let suspend = template("/v1/tenants/{id}:suspend");
        assert_eq!(
            suspend.matches("/v1/tenants/t1:suspend"),
            Some(vec![binding(&["id"], "t1")])
        );
        assert_eq!(suspend.matches("/v1/tenants/t1"), None);
        assert_eq!(suspend.openapi_path(), "/v1/tenants/{id}:suspend");
    }

    #[test]
    fn verb_templates_are_more_specific_than_variables() {
        assert!(template("/v1/users:me").specificity() > template("/v1/users/{id}").specificity());
        assert!(template("/v1/users/me").specificity() > template("/v1/users/{id}").specificity());
    }

    #[test]
    fn multi_segment_variables_and_rest_wildcards() {
        let t = template("/v1/{name=projects/*/locations/*}");
        assert_eq!(
            t.matches("/v1/projects/p1/locations/l%20a"),
            Some(vec![binding(&["name"], "projects/p1/locations/l a")])
        );
        assert_eq!(t.matches("/v1/projects/p1/zones/l1"), None);
        assert_eq!(t.openapi_path(), "/v1/{name}");

        let rest = template("/v1/files/{path=**}");
        assert_eq!(
            rest.matches("/v1/files/a/b/c"),
            Some(vec![binding(&["path"], "a/b/c")])
        );
        assert_eq!(
            rest.matches("/v1/files/a%2Fb/c"),
            Some(vec![binding(&["path"], "a%2Fb/c")])
        );
    }

    #[test]
    fn single_segment_variables_are_percent_decoded() {
        let t = template("/v1/users/{id}");
        assert_eq!(
            t.matches("/v1/users/a%2Fb"),
            Some(vec![binding(&["id"], "a/b")])
        );
        assert_eq!(
            t.matches("/v1/users/%FF"),
            None,
            "invalid UTF-8 is no match"
        );
    }

    #[test]
    fn invalid_templates_are_rejected_with_a_reason() {
        for bad in [
            "v1/users",
            "/v1/users/",
            "/v1/{id",
            "/v1/{1d}",
            "/v1/a{id}",
            "/v1/**/x",
            "/v1/x:",
            "/v1//x",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad} should be invalid");
        }
    }
}
