//! Routing keys (`<service>.<entity>.<event>`) and the topic patterns consumers bind with.

use crate::Error;

const SEGMENTS: usize = 3;
/// RabbitMQ routing keys are short strings (255 bytes).
const MAX_ROUTING_KEY_LEN: usize = 255;

/// Checks that `event_type` is a routing key `<service>.<entity>.<event>` whose segments are
/// lowercase snake_case words, e.g. `crm.opportunity.won`.
pub fn validate_event_type(event_type: &str) -> Result<(), Error> {
    let segments: Vec<&str> = event_type.split('.').collect();
    if event_type.len() > MAX_ROUTING_KEY_LEN
        || segments.len() != SEGMENTS
        || !segments.iter().all(|segment| is_word(segment))
    {
        return Err(Error::InvalidEventType(event_type.to_owned()));
    }
    Ok(())
}

/// Checks a binding pattern: dot-separated words, `*` (exactly one word) or `#` (zero or more).
pub fn validate_binding(pattern: &str) -> Result<(), Error> {
    let valid = !pattern.is_empty()
        && pattern.len() <= MAX_ROUTING_KEY_LEN
        && pattern
            .split('.')
            .all(|segment| segment == "*" || segment == "#" || is_word(segment));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidBinding(pattern.to_owned()))
    }
}

/// AMQP topic matching of an event type against a binding pattern, for replays that bypass the
/// exchange and must select the same events the bindings would.
pub(crate) fn matches(pattern: &str, event_type: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let words: Vec<&str> = event_type.split('.').collect();
    matches_from(&pattern, &words)
}

fn matches_from(pattern: &[&str], words: &[&str]) -> bool {
    match pattern.split_first() {
        None => words.is_empty(),
        Some((&"#", rest)) => (0..=words.len()).any(|skip| matches_from(rest, &words[skip..])),
        Some((segment, rest)) => match words.split_first() {
            Some((word, remaining)) if *segment == "*" || segment == word => {
                matches_from(rest, remaining)
            }
            _ => false,
        },
    }
}

fn is_word(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_lowercase_segments_are_a_valid_event_type() {
        for valid in [
            "crm.opportunity.won",
            "tenants.user.created",
            "billing.invoice_line.v2_added",
        ] {
            assert!(validate_event_type(valid).is_ok(), "{valid}");
        }
    }

    #[test]
    fn malformed_event_types_are_refused() {
        for invalid in [
            "",
            "crm",
            "crm.opportunity",
            "crm.opportunity.won.extra",
            "Crm.opportunity.won",
            "crm..won",
            "crm.opportunity.*",
            "crm.opportunity.#",
            "crm.opportunity.won ",
            "crm.1opportunity.won",
            "crm.opportunity-x.won",
        ] {
            assert!(
                matches!(
                    validate_event_type(invalid),
                    Err(Error::InvalidEventType(_))
                ),
                "{invalid:?}"
            );
        }
        assert!(validate_event_type(&format!("a.b.{}", "c".repeat(300))).is_err());
    }

    #[test]
    fn bindings_accept_wildcards_but_not_garbage() {
        for valid in [
            "#",
            "tenants.#",
            "tenants.user.*",
            "*.*.created",
            "crm.lead.converted",
        ] {
            assert!(validate_binding(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "",
            "tenants.",
            "tenants.User.*",
            "tenants.us*r.created",
            "a b",
        ] {
            assert!(validate_binding(invalid).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        assert!(matches("#", "tenants.user.created"));
        assert!(matches("tenants.#", "tenants.user.created"));
        assert!(matches("tenants.user.*", "tenants.user.created"));
        assert!(matches("*.user.created", "tenants.user.created"));
        assert!(matches("#.created", "tenants.user.created"));
        assert!(matches("tenants.#.created", "tenants.user.created"));
        assert!(matches("tenants.user.created.#", "tenants.user.created"));
        assert!(!matches("tenants.*", "tenants.user.created"));
        assert!(!matches("crm.#", "tenants.user.created"));
        assert!(!matches("tenants.user.deactivated", "tenants.user.created"));
        assert!(!matches("*.*.*.*", "tenants.user.created"));
    }
}
