//! Splits a filter into tokens, each with its byte position.

use crate::FilterError;
use crate::parser::CompareOp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    LParen,
    RParen,
    Op(CompareOp),
    And,
    Or,
    Not,
    /// `-` directly before a field or `(`: negation.
    Minus,
    /// A bare word: field name, number, enum value, `true`.
    Word(String),
    /// A quoted string, unescaped.
    Quoted(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub pos: usize,
    pub tok: Tok,
}

/// Characters that end a bare word.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '=' | '!' | '<' | '>' | ':' | '"' | '\'')
}

pub fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ':' => Tok::Op(CompareOp::Has),
            '=' => Tok::Op(CompareOp::Eq),
            '!' if next == Some('=') => {
                chars.next();
                Tok::Op(CompareOp::Ne)
            }
            '<' if next == Some('=') => {
                chars.next();
                Tok::Op(CompareOp::Le)
            }
            '>' if next == Some('=') => {
                chars.next();
                Tok::Op(CompareOp::Ge)
            }
            '<' => Tok::Op(CompareOp::Lt),
            '>' => Tok::Op(CompareOp::Gt),
            '!' => {
                return Err(FilterError::at(
                    pos,
                    "unexpected '!' (did you mean != or NOT?)",
                ));
            }
            '-' if next.is_some_and(|n| n == '(' || n.is_ascii_alphabetic()) => Tok::Minus,
            '"' | '\'' => Tok::Quoted(quoted(pos, c, &mut chars)?),
            c if c.is_control() => return Err(control_character(pos)),
            _ => {
                let mut end = pos + c.len_utf8();
                while let Some((i, n)) = chars.peek().copied() {
                    if is_delimiter(n) {
                        break;
                    }
                    if n.is_control() {
                        return Err(control_character(i));
                    }
                    end = i + n.len_utf8();
                    chars.next();
                }
                match &input[pos..end] {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    word => Tok::Word(word.to_owned()),
                }
            }
        };
        tokens.push(Token { pos, tok });
    }
    Ok(tokens)
}

fn quoted(
    start: usize,
    quote: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<String, FilterError> {
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(FilterError::at(start, "unterminated string")),
            Some((_, c)) if c == quote => return Ok(value),
            Some((at, '\\')) => match chars.next() {
                Some((_, escaped)) if escaped.is_control() => return Err(control_character(at)),
                Some((_, escaped)) => value.push(escaped),
                None => return Err(FilterError::at(at, "dangling escape at end of filter")),
            },
            Some((at, c)) if c.is_control() => return Err(control_character(at)),
            Some((_, c)) => value.push(c),
        }
    }
}

/// No stored text holds control characters, and PostgreSQL refuses NUL in text outright: a value
/// with one is bad input, never a query.
fn control_character(pos: usize) -> FilterError {
    FilterError::at(pos, "must not contain control characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(input: &str) -> Vec<(usize, Tok)> {
        tokenize(input)
            .expect("valid")
            .into_iter()
            .map(|t| (t.pos, t.tok))
            .collect()
    }

    #[test]
    fn positions_are_byte_offsets() {
        assert_eq!(
            toks(r#"name:"Ünï" AND score>=5"#),
            vec![
                (0, Tok::Word("name".into())),
                (4, Tok::Op(CompareOp::Has)),
                (5, Tok::Quoted("Ünï".into())),
                (13, Tok::And),
                (17, Tok::Word("score".into())),
                (22, Tok::Op(CompareOp::Ge)),
                (24, Tok::Word("5".into())),
            ]
        );
    }

    #[test]
    fn minus_negates_only_before_names_and_parentheses() {
        assert_eq!(
            toks("-name = x AND n > -5"),
            vec![
                (0, Tok::Minus),
                (1, Tok::Word("name".into())),
                (6, Tok::Op(CompareOp::Eq)),
                (8, Tok::Word("x".into())),
                (10, Tok::And),
                (14, Tok::Word("n".into())),
                (16, Tok::Op(CompareOp::Gt)),
                (18, Tok::Word("-5".into())),
            ]
        );
    }

    #[test]
    fn strings_unescape_and_must_end() {
        assert_eq!(
            toks(r#"'it\'s' "a\"b""#),
            vec![
                (0, Tok::Quoted("it's".into())),
                (8, Tok::Quoted("a\"b".into()))
            ]
        );
        assert_eq!(tokenize(r#"name = "open"#).map_err(|e| e.position), Err(7));
        assert_eq!(tokenize("a ! b").map_err(|e| e.position), Err(2));
    }

    #[test]
    fn control_characters_are_refused_wherever_they_appear() {
        for (input, position) in [
            ("last_name = \"\u{0}\"", 13),
            ("last_name = 'a\u{7}b'", 14),
            ("last_name = \"\\\u{0}\"", 13),
            ("last_name = a\u{0}", 13),
            ("last_name = \u{0}", 12),
            ("last_\u{1b}name = x", 5),
            ("last_name = \"tab\there\"", 16),
        ] {
            let error = tokenize(input).expect_err(input);
            assert_eq!(error.position, position, "{input:?}");
            assert_eq!(error.message, "must not contain control characters");
        }
    }

    #[test]
    fn whitespace_between_tokens_is_not_a_control_character() {
        assert_eq!(
            toks("a\t=\nb"),
            vec![
                (0, Tok::Word("a".into())),
                (2, Tok::Op(CompareOp::Eq)),
                (4, Tok::Word("b".into())),
            ]
        );
    }
}
