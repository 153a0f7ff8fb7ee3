//! Tokens → expression tree, by recursive descent with a depth limit.

use crate::lexer::{Tok, Token, tokenize};
use crate::{FilterError, MAX_COMPARISONS, MAX_DEPTH, MAX_FILTER_LEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `:` — contains (text) or has (lists).
    Has,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Has => ":",
        }
    }
}

/// `field op value`, with the position of each part for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub field: String,
    pub field_pos: usize,
    pub op: CompareOp,
    pub op_pos: usize,
    pub value: String,
    pub quoted: bool,
    pub value_pos: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Comparison),
}

/// Parses a filter; whitespace only is `None`.
pub fn parse_expression(input: &str) -> Result<Option<Expr>, FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError::at(
            MAX_FILTER_LEN,
            format!("filter must be at most {MAX_FILTER_LEN} bytes"),
        ));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        end: input.len(),
        comparisons: 0,
    };
    let expr = parser.expression(0)?;
    match parser.peek() {
        None => Ok(Some(expr)),
        Some(Token {
            pos,
            tok: Tok::RParen,
        }) => Err(FilterError::at(*pos, "unmatched ')'")),
        Some(token) => Err(FilterError::at(
            token.pos,
            "expected AND, OR or the end of the filter",
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Position reported when the input ends too early.
    end: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek().is_some_and(|t| &t.tok == tok) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn expression(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut factors = vec![self.factor(depth)?];
        while self.eat(&Tok::And) {
            factors.push(self.factor(depth)?);
        }
        Ok(flatten(factors, Expr::And))
    }

    fn factor(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut terms = vec![self.term(depth)?];
        while self.eat(&Tok::Or) {
            terms.push(self.term(depth)?);
        }
        Ok(flatten(terms, Expr::Or))
    }

    fn term(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let Some(token) = self.advance() else {
            return Err(FilterError::at(self.end, "expected a comparison or '('"));
        };
        if depth >= MAX_DEPTH && matches!(token.tok, Tok::Not | Tok::Minus | Tok::LParen) {
            return Err(FilterError::at(
                token.pos,
                format!("filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        match token.tok {
            Tok::Not | Tok::Minus => Ok(Expr::Not(Box::new(self.term(depth + 1)?))),
            Tok::LParen => {
                let inner = self.expression(depth + 1)?;
                if self.eat(&Tok::RParen) {
                    Ok(inner)
                } else {
                    let at = self.peek().map_or(self.end, |t| t.pos);
                    Err(FilterError::at(
                        at,
                        format!("expected ')' to close the '(' at position {}", token.pos),
                    ))
                }
            }
            Tok::Word(field) => self.comparison(field, token.pos),
            Tok::RParen => Err(FilterError::at(
                token.pos,
                "expected a comparison before ')'",
            )),
            Tok::And | Tok::Or => Err(FilterError::at(
                token.pos,
                "expected a comparison before AND/OR",
            )),
            Tok::Op(_) => Err(FilterError::at(
                token.pos,
                "expected a field name before the operator",
            )),
            Tok::Quoted(_) => Err(FilterError::at(
                token.pos,
                "expected a field name, not a quoted value",
            )),
        }
    }

    fn comparison(&mut self, field: String, field_pos: usize) -> Result<Expr, FilterError> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(FilterError::at(
                field_pos,
                format!("filter has more than {MAX_COMPARISONS} comparisons"),
            ));
        }
        let expected_op = "expected a comparison operator (=, !=, <, <=, >, >= or :)";
        let (op, op_pos) = match self.advance() {
            Some(Token {
                pos,
                tok: Tok::Op(op),
            }) => (op, pos),
            Some(token) => return Err(FilterError::at(token.pos, expected_op)),
            None => return Err(FilterError::at(self.end, expected_op)),
        };
        let (value, quoted, value_pos) = match self.advance() {
            Some(Token {
                pos,
                tok: Tok::Word(v),
            }) => (v, false, pos),
            Some(Token {
                pos,
                tok: Tok::Quoted(v),
            }) => (v, true, pos),
            Some(token) => return Err(FilterError::at(token.pos, "expected a value")),
            None => return Err(FilterError::at(self.end, "expected a value")),
        };
        Ok(Expr::Compare(Comparison {
            field,
            field_pos,
            op,
            op_pos,
            value,
            quoted,
            value_pos,
        }))
    }
}

fn flatten(mut items: Vec<Expr>, wrap: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        wrap(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: CompareOp, value: &str) -> Expr {
        Expr::Compare(Comparison {
            field: field.into(),
            field_pos: 0,
            op,
            op_pos: 0,
            value: value.into(),
            quoted: false,
            value_pos: 0,
        })
    }

    /// The tree without positions, to compare shapes.
    fn shape(expr: Expr) -> Expr {
        match expr {
            Expr::And(items) => Expr::And(items.into_iter().map(shape).collect()),
            Expr::Or(items) => Expr::Or(items.into_iter().map(shape).collect()),
            Expr::Not(inner) => Expr::Not(Box::new(shape(*inner))),
            Expr::Compare(c) => cmp(&c.field, c.op, &c.value),
        }
    }

    fn parsed(input: &str) -> Expr {
        shape(parse_expression(input).expect("valid").expect("non-empty"))
    }

    fn error_at(input: &str) -> usize {
        parse_expression(input).expect_err("invalid").position
    }

    #[test]
    fn empty_filters_match_everything() {
        assert_eq!(parse_expression(""), Ok(None));
        assert_eq!(parse_expression("  \t"), Ok(None));
    }

    #[test]
    fn or_binds_tighter_than_and() {
        use CompareOp::{Eq, Ge};
        assert_eq!(
            parsed("a = 1 AND b = 2 OR c >= 3"),
            Expr::And(vec![
                cmp("a", Eq, "1"),
                Expr::Or(vec![cmp("b", Eq, "2"), cmp("c", Ge, "3")]),
            ])
        );
        assert_eq!(
            parsed("(a = 1 AND b = 2) OR NOT c = 3"),
            Expr::Or(vec![
                Expr::And(vec![cmp("a", Eq, "1"), cmp("b", Eq, "2")]),
                Expr::Not(Box::new(cmp("c", Eq, "3"))),
            ])
        );
        assert_eq!(parsed("-(a = 1)"), Expr::Not(Box::new(cmp("a", Eq, "1"))));
    }

    #[test]
    fn every_operator_parses() {
        for op in [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Has,
        ] {
            assert_eq!(parsed(&format!("f {} v", op.symbol())), cmp("f", op, "v"));
        }
    }

    #[test]
    fn syntax_errors_point_at_the_offending_byte() {
        assert_eq!(error_at("name"), 4, "operator missing at the end");
        assert_eq!(error_at("name acme"), 5, "operator expected");
        assert_eq!(error_at("name ="), 6, "value missing at the end");
        assert_eq!(error_at("name = (x)"), 7, "value expected");
        assert_eq!(error_at("a = 1 AND"), 9, "dangling AND");
        assert_eq!(error_at("a = 1 b = 2"), 6, "missing AND");
        assert_eq!(error_at("(a = 1"), 6, "missing ')'");
        assert_eq!(error_at("a = 1)"), 5, "unmatched ')'");
        assert_eq!(error_at("()"), 1, "empty parentheses");
        assert_eq!(error_at("= 1"), 0, "operator first");
        assert_eq!(error_at(r#""a" = 1"#), 0, "quoted field");
        assert_eq!(error_at("a = 1 OR OR b = 2"), 9, "double OR");
    }

    #[test]
    fn limits_guard_against_abuse() {
        let deep = format!("{}a = 1{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(error_at(&deep), MAX_DEPTH);
        let many = vec!["a = 1"; MAX_COMPARISONS + 1].join(" AND ");
        assert!(parse_expression(&many).is_err());
        let long = format!("a = \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert_eq!(error_at(&long), MAX_FILTER_LEN);
    }
}
