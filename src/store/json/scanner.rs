//! Go's `encoding/json/scanner.go`, as an iterative byte-at-a-time state machine: what
//! is valid JSON for the server, and the error texts it gives.

use super::MAX_DEPTH;
use std::fmt;

/// What the scanner was looking for when it met an invalid character; the `Display` texts
/// are those of Go's scanner.go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    BeginningOfValue,
    BeginningOfObjectKey,
    AfterObjectKey,
    AfterObjectKeyValuePair,
    AfterArrayElement,
    AfterTopLevelValue,
    InStringLiteral,
    InStringEscape,
    InUnicodeEscape,
    InNumericLiteral,
    AfterDecimalPoint,
    InExponent,
    /// Inside `true`, `false` or `null`, expecting the given byte.
    InLiteral {
        literal: &'static str,
        expecting: u8,
    },
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Context::BeginningOfValue => "looking for beginning of value",
            Context::BeginningOfObjectKey => "looking for beginning of object key string",
            Context::AfterObjectKey => "after object key",
            Context::AfterObjectKeyValuePair => "after object key:value pair",
            Context::AfterArrayElement => "after array element",
            Context::AfterTopLevelValue => "after top-level value",
            Context::InStringLiteral => "in string literal",
            Context::InStringEscape => "in string escape code",
            Context::InUnicodeEscape => "in \\u hexadecimal character escape",
            Context::InNumericLiteral => "in numeric literal",
            Context::AfterDecimalPoint => "after decimal point in numeric literal",
            Context::InExponent => "in exponent of numeric literal",
            Context::InLiteral { literal, expecting } => {
                return write!(
                    f,
                    "in literal {literal} (expecting {})",
                    quote_char(*expecting)
                );
            }
        };
        f.write_str(text)
    }
}

/// Why a document is not a JSON object we can read or edit.
///
/// Offsets are 0-based positions of the offending byte (Go's `SyntaxError.Offset` counts
/// the bytes read, one more). The texts are Go's, except that the offset is appended and
/// Go says "invalid character '[' exceeded max depth" where this says "exceeded max depth".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// A byte Go's scanner rejects; `offset` is its 0-based position.
    #[error("invalid character {} {context} at byte {offset}", quote_char(*byte))]
    InvalidCharacter {
        offset: usize,
        byte: u8,
        context: Context,
    },
    /// More than [`MAX_DEPTH`] nested arrays and objects; `offset` is the opening bracket
    /// that went one level too deep.
    #[error("exceeded max depth at byte {offset}")]
    TooDeep { offset: usize },
    /// A document of 4 GiB or more (js-recover reads `meta.inf` files of at most 1 GiB).
    #[error("a document of {len} bytes is too large")]
    TooLarge { len: usize },
    /// The document ended inside a value (or was empty); `offset` is its length.
    #[error("unexpected end of JSON input")]
    UnexpectedEnd { offset: usize },
    #[error("the top-level value is not a JSON object")]
    NotAnObject,
}

impl JsonError {
    /// The byte offset the error refers to, if it is a syntax error.
    pub fn offset(&self) -> Option<usize> {
        match self {
            JsonError::InvalidCharacter { offset, .. }
            | JsonError::TooDeep { offset }
            | JsonError::UnexpectedEnd { offset } => Some(*offset),
            JsonError::NotAnObject | JsonError::TooLarge { .. } => None,
        }
    }
}

/// Go's `quoteChar` (scanner.go): a byte as a quoted character literal, e.g. `'x'`, `'\n'`,
/// `'\x01'`, `'ï'` (a byte >= 0x80 is shown as the Latin-1 character Go's `string(c)`
/// makes of it).
pub(super) fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        b'\\' => r"'\\'".to_owned(),
        0x07 => r"'\a'".to_owned(),
        0x08 => r"'\b'".to_owned(),
        0x0C => r"'\f'".to_owned(),
        b'\n' => r"'\n'".to_owned(),
        b'\r' => r"'\r'".to_owned(),
        b'\t' => r"'\t'".to_owned(),
        0x0B => r"'\v'".to_owned(),
        0x00..=0x1F | 0x7F => format!(r"'\x{c:02x}'"),
        // Not printable for strconv.IsPrint: C1 controls, NBSP, soft hyphen.
        0x80..=0xA0 | 0xAD => format!(r"'\u{c:04x}'"),
        _ => format!("'{}'", char::from(c)),
    }
}

/// Go's `parseObjectKey`, `parseObjectValue`, `parseArrayValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Frame {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// The step functions of Go's scanner, one variant each (the `\u` digits and the letters of
/// `true`/`false`/`null` counted in a field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// After `\u` and this many hex digits.
    InStringEscU(u8),
    Neg,
    /// After `0` (Go's `state0`).
    Zero,
    /// After a non-zero integer (Go's `state1`).
    Int,
    Dot,
    Dot0,
    Exp,
    ExpSign,
    Exp0,
    /// Inside `literal`, with `seen` bytes of it read.
    Literal {
        literal: &'static str,
        seen: usize,
    },
}

pub(super) struct Scanner {
    state: State,
    stack: Vec<Frame>,
}

pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            state: State::BeginValue,
            stack: Vec::new(),
        }
    }

    fn push(&mut self, frame: Frame, next: State, offset: usize) -> Result<(), JsonError> {
        self.stack.push(frame);
        if self.stack.len() > MAX_DEPTH {
            return Err(JsonError::TooDeep { offset });
        }
        self.state = next;
        Ok(())
    }

    fn pop(&mut self) {
        self.stack.pop();
        self.state = if self.stack.is_empty() {
            State::EndTop
        } else {
            State::EndValue
        };
    }

    fn set_top(&mut self, frame: Frame) {
        if let Some(top) = self.stack.last_mut() {
            *top = frame;
        }
    }

    /// Feeds one byte. Where Go's step function hands the byte on to another state
    /// (`state1` -> `state0` -> `stateEndValue` ...), the loop dispatches it again.
    fn step(&mut self, c: u8, offset: usize) -> Result<(), JsonError> {
        let fail = |context| {
            Err(JsonError::InvalidCharacter {
                offset,
                byte: c,
                context,
            })
        };
        loop {
            match self.state {
                State::BeginValueOrEmpty => {
                    if is_space(c) {
                        return Ok(());
                    }
                    self.state = if c == b']' {
                        State::EndValue
                    } else {
                        State::BeginValue
                    };
                }
                State::BeginValue => {
                    self.state = match c {
                        _ if is_space(c) => return Ok(()),
                        b'{' => {
                            return self.push(Frame::ObjectKey, State::BeginStringOrEmpty, offset)
                        }
                        b'[' => {
                            return self.push(Frame::ArrayValue, State::BeginValueOrEmpty, offset)
                        }
                        b'"' => State::InString,
                        b'-' => State::Neg,
                        b'0' => State::Zero,
                        b'1'..=b'9' => State::Int,
                        b't' => State::Literal {
                            literal: "true",
                            seen: 1,
                        },
                        b'f' => State::Literal {
                            literal: "false",
                            seen: 1,
                        },
                        b'n' => State::Literal {
                            literal: "null",
                            seen: 1,
                        },
                        _ => return fail(Context::BeginningOfValue),
                    };
                    return Ok(());
                }
                State::BeginStringOrEmpty => {
                    if is_space(c) {
                        return Ok(());
                    }
                    if c == b'}' {
                        self.set_top(Frame::ObjectValue);
                        self.state = State::EndValue;
                    } else {
                        self.state = State::BeginString;
                    }
                }
                State::BeginString => {
                    if is_space(c) {
                        return Ok(());
                    }
                    if c != b'"' {
                        return fail(Context::BeginningOfObjectKey);
                    }
                    self.state = State::InString;
                    return Ok(());
                }
                State::EndValue => {
                    let Some(&top) = self.stack.last() else {
                        self.state = State::EndTop;
                        continue;
                    };
                    if is_space(c) {
                        return Ok(());
                    }
                    match (top, c) {
                        (Frame::ObjectKey, b':') => {
                            self.set_top(Frame::ObjectValue);
                            self.state = State::BeginValue;
                        }
                        (Frame::ObjectKey, _) => return fail(Context::AfterObjectKey),
                        (Frame::ObjectValue, b',') => {
                            self.set_top(Frame::ObjectKey);
                            self.state = State::BeginString;
                        }
                        (Frame::ObjectValue, b'}') | (Frame::ArrayValue, b']') => self.pop(),
                        (Frame::ObjectValue, _) => return fail(Context::AfterObjectKeyValuePair),
                        (Frame::ArrayValue, b',') => self.state = State::BeginValue,
                        (Frame::ArrayValue, _) => return fail(Context::AfterArrayElement),
                    }
                    return Ok(());
                }
                State::EndTop => {
                    if is_space(c) {
                        return Ok(());
                    }
                    return fail(Context::AfterTopLevelValue);
                }
                State::InString => {
                    match c {
                        b'"' => self.state = State::EndValue,
                        b'\\' => self.state = State::InStringEsc,
                        0x00..=0x1F => return fail(Context::InStringLiteral),
                        _ => {}
                    }
                    return Ok(());
                }
                State::InStringEsc => {
                    self.state = match c {
                        b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => State::InString,
                        b'u' => State::InStringEscU(0),
                        _ => return fail(Context::InStringEscape),
                    };
                    return Ok(());
                }
                State::InStringEscU(n) => {
                    if !c.is_ascii_hexdigit() {
                        return fail(Context::InUnicodeEscape);
                    }
                    self.state = if n == 3 {
                        State::InString
                    } else {
                        State::InStringEscU(n + 1)
                    };
                    return Ok(());
                }
                State::Neg => {
                    self.state = match c {
                        b'0' => State::Zero,
                        b'1'..=b'9' => State::Int,
                        _ => return fail(Context::InNumericLiteral),
                    };
                    return Ok(());
                }
                State::Int => {
                    if c.is_ascii_digit() {
                        return Ok(());
                    }
                    self.state = State::Zero;
                }
                State::Zero => match c {
                    b'.' => {
                        self.state = State::Dot;
                        return Ok(());
                    }
                    b'e' | b'E' => {
                        self.state = State::Exp;
                        return Ok(());
                    }
                    _ => self.state = State::EndValue,
                },
                State::Dot => {
                    if !c.is_ascii_digit() {
                        return fail(Context::AfterDecimalPoint);
                    }
                    self.state = State::Dot0;
                    return Ok(());
                }
                State::Dot0 => match c {
                    b'0'..=b'9' => return Ok(()),
                    b'e' | b'E' => {
                        self.state = State::Exp;
                        return Ok(());
                    }
                    _ => self.state = State::EndValue,
                },
                State::Exp => {
                    if c == b'+' || c == b'-' {
                        self.state = State::ExpSign;
                        return Ok(());
                    }
                    self.state = State::ExpSign;
                }
                State::ExpSign => {
                    if !c.is_ascii_digit() {
                        return fail(Context::InExponent);
                    }
                    self.state = State::Exp0;
                    return Ok(());
                }
                State::Exp0 => {
                    if c.is_ascii_digit() {
                        return Ok(());
                    }
                    self.state = State::EndValue;
                }
                State::Literal { literal, seen } => {
                    let expecting = literal.as_bytes().get(seen).copied().unwrap_or(b' ');
                    if c != expecting {
                        return fail(Context::InLiteral { literal, expecting });
                    }
                    self.state = if seen + 1 == literal.len() {
                        State::EndValue
                    } else {
                        State::Literal {
                            literal,
                            seen: seen + 1,
                        }
                    };
                    return Ok(());
                }
            }
        }
    }

    /// Go's `eof`: a document may end only after a complete top-level value; a pending
    /// number or literal is completed by feeding a space.
    fn finish(&mut self, len: usize) -> Result<(), JsonError> {
        if self.state != State::EndTop {
            self.step(b' ', len)?;
        }
        if self.state != State::EndTop {
            return Err(JsonError::UnexpectedEnd { offset: len });
        }
        Ok(())
    }
}

/// Checks `bytes` against Go's `encoding/json` syntax (what `json.Valid` accepts), with the
/// first error Go would report.
pub fn validate(bytes: &[u8]) -> Result<(), JsonError> {
    let mut scanner = Scanner::new();
    for (offset, &c) in bytes.iter().enumerate() {
        scanner.step(c, offset)?;
    }
    scanner.finish(bytes.len())
}
