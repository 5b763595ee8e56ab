//! The SOM lexer.
//!
//! Turns source text into [`Token`]s with 1-based line and column positions.
//! It never panics: every malformed input (unterminated string or comment, a
//! stray character) becomes a [`Diagnostic`] at the offending position.
//!
//! Lexical decisions that the grammar depends on:
//! - an identifier directly followed by `:` (but not `:=`) is a keyword;
//!   inside a symbol literal, keywords run together (`#at:put:`);
//! - four or more dashes are the instance/class side separator, checked before
//!   `-` is read as an operator;
//! - a run of operator characters is one binary selector (`<=`, `-->`, `||`);
//! - `.` is a decimal point only when a digit follows, so `1.` ends a statement;
//! - there is no negative-number token: the parser reads `-` before a number.

use std::fmt;

/// A source position (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column, in characters.
    pub col: u32,
}

/// A front-end error: position and message; rendered `file:line:col: message`.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

impl Diagnostic {
    /// Renders the diagnostic for `file`.
    pub fn render(&self, file: &str) -> String {
        format!(
            "{file}:{}:{}: {}",
            self.pos.line, self.pos.col, self.message
        )
    }
}

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier (also `primitive`, `self`, `super`, `nil`, …).
    Ident(String),
    /// `name:`
    Keyword(String),
    /// A binary operator (one or more operator characters).
    Operator(String),
    /// Decimal integer digits (any length).
    Integer(String),
    /// A double literal.
    Double(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// A symbol literal `#foo`, `#at:put:`, `#+`, `#'text'`.
    Symbol(String),
    /// `#(`
    ArrayStart,
    /// `----` (four or more dashes)
    Separator,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `:` (block parameter prefix)
    Colon,
    /// `:=`
    Assign,
    /// `^`
    Caret,
    /// `.`
    Period,
    /// End of input.
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier '{s}'"),
            Tok::Keyword(s) => write!(f, "keyword '{s}'"),
            Tok::Operator(s) => write!(f, "operator '{s}'"),
            Tok::Integer(s) => write!(f, "integer {s}"),
            Tok::Double(d) => write!(f, "double {d:?}"),
            Tok::Str(_) => write!(f, "string literal"),
            Tok::Symbol(s) => write!(f, "symbol #{s}"),
            Tok::ArrayStart => write!(f, "'#('"),
            Tok::Separator => write!(f, "separator '----'"),
            Tok::LParen => write!(f, "'('"),
            Tok::RParen => write!(f, "')'"),
            Tok::LBracket => write!(f, "'['"),
            Tok::RBracket => write!(f, "']'"),
            Tok::Colon => write!(f, "':'"),
            Tok::Assign => write!(f, "':='"),
            Tok::Caret => write!(f, "'^'"),
            Tok::Period => write!(f, "'.'"),
            Tok::Eof => write!(f, "end of file"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its position.
    pub pos: Pos,
}

/// Whether `c` is one of SOM's operator characters.
pub fn is_operator_char(c: char) -> bool {
    matches!(
        c,
        '~' | '&' | '|' | '*' | '/' | '\\' | '+' | '=' | '>' | '<' | ',' | '@' | '%' | '-'
    )
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    _src: &'a str,
}

/// Splits `src` into tokens, ending with `Tok::Eof`.
pub fn tokenize(src: &str) -> Result<Vec<Token>, Diagnostic> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        _src: src,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn skip_trivia(&mut self) -> Result<(), Diagnostic> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('"') => {
                    let start = self.pos();
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('"') => break,
                            Some(_) => {}
                            None => {
                                return Err(Diagnostic {
                                    pos: start,
                                    message: "unterminated comment".into(),
                                })
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Consumes the longest run of characters satisfying `p`.
    fn take_while(&mut self, p: fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !p(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    fn ident(&mut self) -> String {
        self.take_while(is_ident_char)
    }

    fn next_token(&mut self) -> Result<Token, Diagnostic> {
        self.skip_trivia()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = if is_ident_start(c) {
            let id = self.ident();
            if self.peek() == Some(':') && self.peek_at(1) != Some('=') {
                self.bump();
                Tok::Keyword(format!("{id}:"))
            } else {
                Tok::Ident(id)
            }
        } else if c.is_ascii_digit() {
            self.number()
        } else if c == '\'' {
            Tok::Str(self.string(pos)?)
        } else if c == '#' {
            self.bump();
            self.symbol(pos)?
        } else if c == '-' && (0..4).all(|k| self.peek_at(k) == Some('-')) {
            while self.peek() == Some('-') {
                self.bump();
            }
            Tok::Separator
        } else if is_operator_char(c) {
            Tok::Operator(self.take_while(is_operator_char))
        } else {
            self.bump();
            match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                '^' => Tok::Caret,
                '.' => Tok::Period,
                ':' => {
                    if self.peek() == Some('=') {
                        self.bump();
                        Tok::Assign
                    } else {
                        Tok::Colon
                    }
                }
                other => {
                    return Err(Diagnostic {
                        pos,
                        message: format!("unexpected character '{}'", other.escape_default()),
                    })
                }
            }
        };
        Ok(Token { tok, pos })
    }

    fn number(&mut self) -> Tok {
        let mut s = self.take_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            s.push('.');
            s.push_str(&self.take_while(|c| c.is_ascii_digit()));
            return Tok::Double(s.parse().unwrap_or(f64::NAN));
        }
        Tok::Integer(s)
    }

    fn string(&mut self, start: Pos) -> Result<String, Diagnostic> {
        self.bump();
        let mut s = String::new();
        loop {
            let esc_pos = self.pos();
            match self.bump() {
                None => {
                    return Err(Diagnostic {
                        pos: start,
                        message: "unterminated string literal".into(),
                    })
                }
                Some('\'') => return Ok(s),
                Some('\\') => {
                    let e = self.bump();
                    s.push(match e {
                        Some('t') => '\t',
                        Some('b') => '\u{8}',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('f') => '\u{c}',
                        Some('0') => '\0',
                        Some('\'') => '\'',
                        Some('\\') => '\\',
                        Some(other) => {
                            return Err(Diagnostic {
                                pos: esc_pos,
                                message: format!(
                                    "unknown escape sequence '\\{}' in string literal",
                                    other.escape_default()
                                ),
                            })
                        }
                        None => {
                            return Err(Diagnostic {
                                pos: start,
                                message: "unterminated string literal".into(),
                            })
                        }
                    });
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn symbol(&mut self, pos: Pos) -> Result<Tok, Diagnostic> {
        match self.peek() {
            Some('(') => {
                self.bump();
                Ok(Tok::ArrayStart)
            }
            Some('\'') => Ok(Tok::Symbol(self.string(pos)?)),
            Some(c) if is_ident_start(c) => {
                let mut s = self.ident();
                // Keyword sequences: `#at:put:`.
                while self.peek() == Some(':') {
                    self.bump();
                    s.push(':');
                    if self.peek().is_some_and(is_ident_start) {
                        s.push_str(&self.ident());
                    } else {
                        break;
                    }
                }
                Ok(Tok::Symbol(s))
            }
            Some(c) if is_operator_char(c) => Ok(Tok::Symbol(self.take_while(is_operator_char))),
            _ => Err(Diagnostic {
                pos,
                message: "'#' must be followed by a symbol name, an operator, a string or '('"
                    .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn keywords_and_assignments_are_distinguished() {
        assert_eq!(
            toks("a:=b at: 1"),
            vec![
                Tok::Ident("a".into()),
                Tok::Assign,
                Tok::Ident("b".into()),
                Tok::Keyword("at:".into()),
                Tok::Integer("1".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn separator_and_operators() {
        assert_eq!(toks("----")[0], Tok::Separator);
        assert_eq!(toks("-------- x")[0], Tok::Separator);
        assert_eq!(toks("3--2")[1], Tok::Operator("--".into()));
        assert_eq!(toks("a --> b")[1], Tok::Operator("-->".into()));
    }

    #[test]
    fn numbers_and_statement_end() {
        assert_eq!(toks("1.5")[0], Tok::Double(1.5));
        assert_eq!(toks("1.")[1], Tok::Period);
        assert_eq!(
            toks("123456789012345678901234567890")[0],
            Tok::Integer("123456789012345678901234567890".into())
        );
    }

    #[test]
    fn symbols_of_every_form() {
        assert_eq!(toks("#foo")[0], Tok::Symbol("foo".into()));
        assert_eq!(toks("#at:put:")[0], Tok::Symbol("at:put:".into()));
        assert_eq!(toks("#+")[0], Tok::Symbol("+".into()));
        assert_eq!(toks("#\\")[0], Tok::Symbol("\\".into()));
        assert_eq!(
            toks("#'Object class'")[0],
            Tok::Symbol("Object class".into())
        );
        assert_eq!(toks("#(")[0], Tok::ArrayStart);
    }

    #[test]
    fn string_escapes() {
        assert_eq!(toks(r"'a\tb\n\'\\\0'")[0], Tok::Str("a\tb\n'\\\0".into()));
        let e = tokenize(r"'\q'").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 2 });
    }

    #[test]
    fn unterminated_inputs_are_diagnosed() {
        assert!(tokenize("'abc").is_err());
        assert!(tokenize("\"abc").is_err());
        assert_eq!(tokenize("x $").unwrap_err().pos, Pos { line: 1, col: 3 });
    }
}
