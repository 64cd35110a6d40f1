//! The recursive-descent reading of nats-server's `conf/lex.go` and `conf/parse.go`.

use super::*;

/// Where a key/value appears: lex.go has separate states for each, with
/// slightly different rules at end of file and for `/`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// The top level of a file.
    Top,
    /// Inside a top-level `{ ... }` wrapper (JSON style); keys go to the top map.
    Block,
    /// Inside a `{ ... }` map value.
    Map,
}

/// Why parsing of a text stopped before its end.
pub(super) enum Stop {
    Error(ConfError),
    /// lex.go emitted its EOF item early (an unclosed top-level `{`, a quote
    /// opened right at the end of the text): parse.go then stops without
    /// error, keeping the top-level values that were complete.
    Eof,
}

impl From<ConfError> for Stop {
    fn from(e: ConfError) -> Self {
        Stop::Error(e)
    }
}

type PResult<T> = std::result::Result<T, Stop>;

pub(super) fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub(super) fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}

pub(super) fn is_sep(c: char) -> bool {
    c == '=' || c == ':'
}

/// lex.go's `isNumberSuffix`.
pub(super) fn is_unit(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}

/// Characters that end an integer (lex.go: note `]` is not one of them).
pub(super) fn ends_number(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => is_nl(c) || is_ws(c) || matches!(c, '}' | ';' | ','),
    }
}

pub(super) fn describe(c: Option<char>) -> String {
    match c {
        None => "end of file".to_owned(),
        Some('\n') => "a new line".to_owned(),
        Some('\r') => "a carriage return".to_owned(),
        Some(c) => format!("`{c}`"),
    }
}

pub(super) fn bytes_to_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Parser for one text: a file, or an environment variable's value.
pub(super) struct Parser<'s, 'l, 'e> {
    ld: &'l mut Loader<'e>,
    src: &'s str,
    pos: usize,
    /// Index of this text in `Loader::files`, for spans.
    file: usize,
    /// Name used in errors.
    name: PathBuf,
    /// Directory includes are relative to; `None` for environment values,
    /// whose includes are not followed.
    dir: Option<PathBuf>,
    /// Nesting already used by whoever started this parser.
    base_depth: usize,
    /// The maps being built, outermost first: variables are looked up here.
    scopes: Vec<Map>,
    /// For environment values: the span of the `$NAME` reference, given to
    /// every node since their own offsets are not in any file.
    fixed_span: Option<Span>,
}

impl<'s, 'l, 'e> Parser<'s, 'l, 'e> {
    pub(super) fn new(
        ld: &'l mut Loader<'e>,
        src: &'s str,
        file: usize,
        name: &Path,
        dir: Option<PathBuf>,
        base_depth: usize,
    ) -> Self {
        Parser {
            ld,
            src,
            pos: 0,
            file,
            name: name.to_path_buf(),
            dir,
            base_depth,
            scopes: Vec::new(),
            fixed_span: None,
        }
    }

    // ----- low-level cursor -----

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn slice(&self, start: usize, end: usize) -> &'s str {
        self.src.get(start..end).unwrap_or_default()
    }

    fn at_comment(&self) -> bool {
        let rest = self.src.as_bytes().get(self.pos..).unwrap_or_default();
        rest.starts_with(b"#") || rest.starts_with(b"//")
    }

    /// Skips a comment up to (not including) the end of its line.
    fn skip_comment(&mut self) {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        self.pos += rest.find(['\n', '\r']).unwrap_or(rest.len());
    }

    /// Skips Unicode whitespace, new lines included (Go's `unicode.IsSpace`).
    fn skip_space(&mut self) {
        while let Some(c) = self.peek().filter(|&c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    /// Skips spaces and tabs only.
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        self.fixed_span.unwrap_or(Span {
            file: self.file,
            start,
            end,
        })
    }

    fn line(&self, pos: usize) -> usize {
        let pos = pos.min(self.src.len());
        count_lines(&self.src.as_bytes()[..pos])
    }

    fn syntax(&self, pos: usize, message: impl Into<String>) -> Stop {
        Stop::Error(ConfError::Syntax {
            path: self.name.clone(),
            line: self.line(pos),
            message: message.into(),
        })
    }

    /// "expected X, found Y" at the cursor.
    fn expected(&self, what: &str) -> Stop {
        self.syntax(
            self.pos,
            format!("expected {what}, found {}", describe(self.peek())),
        )
    }

    fn check_depth(&self, depth: usize) -> PResult<()> {
        if depth > MAX_DEPTH {
            return Err(self.syntax(self.pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn push_entry(&mut self, entry: Entry) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.entries.push(entry);
        }
    }

    // ----- structure -----

    /// The whole text: its top-level map.
    pub(super) fn document(mut self) -> Result<Map> {
        self.scopes.push(Map::default());
        match self.top_level(self.base_depth) {
            // Nested maps pop their scope even when unwinding: the root is left.
            Ok(()) | Err(Stop::Eof) => Ok(self.scopes.into_iter().next().unwrap_or_default()),
            Err(Stop::Error(e)) => Err(e),
        }
    }

    /// lex.go `lexTop`/`lexTopValueEnd`.
    fn top_level(&mut self, depth: usize) -> PResult<()> {
        self.check_depth(depth)?;
        loop {
            self.skip_space();
            match self.peek() {
                None => return Ok(()),
                Some(_) if self.at_comment() => self.skip_comment(),
                Some('{') => {
                    self.pos += 1;
                    self.block(depth + 1)?;
                }
                Some('/') => {
                    return Err(
                        self.syntax(self.pos, "unexpected `/` (comments start with `#` or `//`)")
                    );
                }
                Some(c) if is_sep(c) => return Err(self.expected("a key")),
                Some(_) => {
                    self.entry(Ctx::Top, depth, false)?;
                    self.top_value_end()?;
                }
            }
        }
    }

    /// After a top-level value: blanks, then a comment, new line, `;`, `,`,
    /// `}` or end of file.
    fn top_value_end(&mut self) -> PResult<()> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(_) if self.at_comment() => {
                    self.skip_comment();
                    return Ok(());
                }
                // lex.go lets a lone `/` here fall through to the blank case.
                Some(' ' | '\t' | '/') => self.pos += 1,
                Some('\n' | '\r' | ';' | ',' | '}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => {
                    return Err(self.expected("a new line, `;`, `,` or a comment after the value"));
                }
            }
        }
    }

    /// A top-level `{ ... }` wrapper, entered after its `{` (lex.go
    /// `lexBlockStart`/`lexBlockValueEnd`/`lexBlockEnd`). Its keys belong to
    /// the top-level map. End of file where a key could start ends the whole
    /// parse successfully, even with the `}` missing, as in lex.go.
    fn block(&mut self, depth: usize) -> PResult<()> {
        self.check_depth(depth)?;
        enum State {
            /// Where a key, `{` or `}` may come.
            Start,
            /// After a value.
            ValueEnd,
            /// After a nested `{ ... }`.
            End,
        }
        let mut state = State::Start;
        loop {
            match state {
                State::Start => {
                    self.skip_space();
                    match self.peek() {
                        None => return Err(Stop::Eof),
                        Some(_) if self.at_comment() => self.skip_comment(),
                        Some('{') => {
                            self.pos += 1;
                            self.block(depth + 1)?;
                            state = State::End;
                        }
                        Some('}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        Some('/') => {
                            return Err(self.syntax(
                                self.pos,
                                "unexpected `/` (comments start with `#` or `//`)",
                            ));
                        }
                        Some(c) if is_sep(c) => return Err(self.expected("a key")),
                        Some(_) => {
                            self.entry(Ctx::Block, depth, false)?;
                            state = State::ValueEnd;
                        }
                    }
                }
                State::ValueEnd => match self.peek() {
                    Some(_) if self.at_comment() => self.skip_comment(),
                    Some(' ' | '\t' | '/') => self.pos += 1,
                    Some('\n' | '\r' | ';' | ',') => {
                        self.pos += 1;
                        state = State::Start;
                    }
                    Some('}') => {
                        self.pos += 1;
                        return Ok(());
                    }
                    _ => return Err(self.expected("a new line, `;`, `,` or `}` after the value")),
                },
                State::End => match self.peek() {
                    Some(_) if self.at_comment() => {
                        self.skip_comment();
                        state = State::Start;
                    }
                    Some(' ' | '\t' | '\n' | '\r' | '/') => self.pos += 1,
                    Some(';' | ',') => {
                        self.pos += 1;
                        state = State::Start;
                    }
                    Some('}') => {
                        self.pos += 1;
                        return Ok(());
                    }
                    _ => return Err(self.expected("`}`")),
                },
            }
        }
    }

    /// One `key value` (or `include path`) at the cursor, added to the
    /// innermost map. `bare` forces a bare key even if the first character is
    /// a quote (lex.go quirk after a lone `/` in a map).
    fn entry(&mut self, ctx: Ctx, depth: usize, bare: bool) -> PResult<()> {
        let key_start = self.pos;
        let (key, quoted) = match self.peek() {
            Some(q @ ('"' | '\'')) if !bare => (self.quoted_key(q, ctx)?, true),
            _ => (self.bare_key(ctx)?, false),
        };
        let key_span = self.span(key_start, self.pos);
        // lex.go `keyCheckKeyword`: only a bare `include` followed by a blank.
        if !quoted
            && key.eq_ignore_ascii_case("include")
            && self.peek().is_some_and(char::is_whitespace)
        {
            self.include(key_start, depth)?;
            return Ok(());
        }
        // Separator: `=`, `:` or just blanks (new lines included).
        self.skip_space();
        match self.peek() {
            Some(c) if is_sep(c) => {
                self.pos += 1;
                if ctx == Ctx::Map {
                    self.skip_space();
                }
            }
            // lex.go emits EOF right after the key; parse.go calls that invalid,
            // except for a stray `}` (how it tolerates JSON-style endings).
            None if ctx != Ctx::Map && key == "}" => return Err(Stop::Eof),
            None if ctx != Ctx::Map => {
                return Err(self.syntax(key_start, format!("key `{key}` has no value")));
            }
            _ => {}
        }
        if ctx == Ctx::Map {
            match self.peek() {
                None => return Err(self.syntax(self.pos, "unexpected end of file inside `{ }`")),
                Some(',') => return Err(self.expected(&format!("a value for key `{key}`"))),
                Some('}') => {
                    return Err(self.syntax(key_start, format!("key `{key}` has no value")));
                }
                _ => {}
            }
        }
        self.skip_ws();
        let quoted_value = matches!(self.peek(), Some('"' | '\''));
        let node = match self.value(depth) {
            // A quote opened at the very end: lex.go's EOF comes right after
            // the key, which parse.go rejects.
            Err(Stop::Eof) if quoted_value && key != "}" => {
                return Err(self.syntax(key_start, format!("key `{key}` has no value")));
            }
            other => other?,
        };
        let span = self.span(key_start, self.pos);
        self.push_entry(Entry {
            key,
            key_span,
            node,
            span,
            included_by: None,
        });
        Ok(())
    }

    /// A key in quotes; no escapes are interpreted (lex.go).
    fn quoted_key(&mut self, quote: char, ctx: Ctx) -> PResult<String> {
        let start = self.pos;
        self.pos += 1;
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let Some(len) = rest.find(quote) else {
            if ctx == Ctx::Map {
                return Err(self.syntax(start, "unterminated quote in a map key"));
            }
            if rest.is_empty() {
                return Err(Stop::Eof);
            }
            return Err(self.syntax(start, "unterminated quote in a key"));
        };
        let key = rest[..len].to_owned();
        self.pos += len + 1;
        Ok(key)
    }

    /// A bare key: its first character is taken whatever it is (lex.go does
    /// the same), then up to a blank, `=` or `:`.
    fn bare_key(&mut self, ctx: Ctx) -> PResult<String> {
        let start = self.pos;
        self.bump();
        loop {
            match self.peek() {
                None if ctx == Ctx::Map => {
                    return Err(self.syntax(self.pos, "unexpected end of file in a map key"));
                }
                None => break,
                Some(c) if c.is_whitespace() || is_sep(c) => break,
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        Ok(self.slice(start, self.pos).to_owned())
    }

    /// `include path` with the cursor after the keyword; merges the included
    /// file's top-level entries into the innermost map (parse.go `itemInclude`).
    fn include(&mut self, stmt_start: usize, depth: usize) -> PResult<()> {
        self.skip_ws();
        let path_start = self.pos;
        let path = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.pos += 1;
                let rest = self.src.get(self.pos..).unwrap_or_default();
                let Some(len) = rest.find(q) else {
                    return Err(self.syntax(path_start, "unterminated quote in include"));
                };
                self.pos += len + 1;
                rest[..len].to_owned()
            }
            Some('[' | '{' | '(' | '-' | '\\' | '0'..='9' | '\n' | '\r') | None => {
                return Err(self.expected("a file name after `include`"));
            }
            Some(_) => loop {
                match self.peek() {
                    None => break self.slice(path_start, self.pos).to_owned(),
                    Some(c) if is_nl(c) || is_ws(c) || c == ';' || c == '}' => {
                        break self.slice(path_start, self.pos).to_owned();
                    }
                    Some('\'') => {
                        let path = self.slice(path_start, self.pos).to_owned();
                        self.pos += 1;
                        break path;
                    }
                    Some(c) => self.pos += c.len_utf8(),
                }
            },
        };
        if path.is_empty() {
            return Err(self.syntax(path_start, "`include` needs a file name"));
        }
        let stmt = self.span(stmt_start, self.pos);
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        if self.ld.open.len() > MAX_INCLUDE_DEPTH {
            return Err(self.syntax(
                stmt_start,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep"),
            ));
        }
        let included = self.ld.load(&go_join(&dir, &path), depth + 1)?;
        for mut entry in included.entries {
            entry.span = stmt;
            entry.included_by = Some(stmt);
            self.push_entry(entry);
        }
        Ok(())
    }

    /// A `{ ... }` map value, cursor on the `{`.
    fn map(&mut self, depth: usize) -> PResult<Node> {
        self.check_depth(depth)?;
        let start = self.pos;
        self.pos += 1;
        self.scopes.push(Map::default());
        let body = self.map_body(depth);
        let map = self.scopes.pop().unwrap_or_default();
        body?;
        Ok(Node {
            value: Value::Map(map),
            span: self.span(start, self.pos),
        })
    }

    /// lex.go `lexMapKeyStart`/`lexMapValueEnd`, up to and including the `}`.
    fn map_body(&mut self, depth: usize) -> PResult<()> {
        loop {
            match self.peek() {
                None => return Err(self.syntax(self.pos, "unexpected end of file inside `{ }`")),
                Some(c) if is_sep(c) => return Err(self.expected("a key")),
                Some(']') => return Err(self.expected("a key or `}`")),
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some('}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) if self.at_comment() => self.skip_comment(),
                Some(c) => {
                    // lex.go drops a lone `/` before a map key.
                    let lone_slash = c == '/';
                    if lone_slash {
                        self.pos += 1;
                    }
                    self.entry(Ctx::Map, depth + 1, lone_slash)?;
                    if self.map_value_end()? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// After a map value: returns true once the map's `}` is consumed.
    fn map_value_end(&mut self) -> PResult<bool> {
        loop {
            match self.peek() {
                Some(' ' | '\t') => self.pos += 1,
                Some(_) if self.at_comment() => self.skip_comment(),
                Some('/' | ';' | ',' | '\n' | '\r') => {
                    self.pos += 1;
                    return Ok(false);
                }
                Some('}') => {
                    self.pos += 1;
                    return Ok(true);
                }
                _ => return Err(self.expected("`,`, a new line or `}` after the map value")),
            }
        }
    }

    /// A `[ ... ]` array value, cursor on the `[` (lex.go `lexArrayValue`/`lexArrayValueEnd`).
    fn array(&mut self, depth: usize) -> PResult<Node> {
        self.check_depth(depth)?;
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        'items: loop {
            match self.peek() {
                None => return Err(self.syntax(self.pos, "unexpected end of file inside `[ ]`")),
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some(_) if self.at_comment() => self.skip_comment(),
                Some('/' | ',') => return Err(self.expected("an array value or `]`")),
                Some(']') => {
                    self.pos += 1;
                    break 'items;
                }
                Some(_) => {
                    items.push(self.value(depth + 1)?);
                    loop {
                        match self.peek() {
                            Some(' ' | '\t') => self.pos += 1,
                            Some(_) if self.at_comment() => self.skip_comment(),
                            Some('/' | ',' | '\n' | '\r') => {
                                self.pos += 1;
                                break;
                            }
                            Some(']') => {
                                self.pos += 1;
                                break 'items;
                            }
                            _ => {
                                return Err(
                                    self.expected("`,`, a new line or `]` after the array value")
                                );
                            }
                        }
                    }
                }
            }
        }
        Ok(Node {
            value: Value::Array(items),
            span: self.span(start, self.pos),
        })
    }

    // ----- values -----

    /// Any value, after optional spaces/tabs (lex.go `lexValue`).
    fn value(&mut self, depth: usize) -> PResult<Node> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('[') => self.array(depth),
            Some('{') => self.map(depth),
            Some('\'') => self.single_quoted(),
            Some('"') => self.double_quoted(),
            Some('-') => self.negative_number(depth),
            Some('(') => self.block_string(),
            Some(c) if c.is_ascii_digit() => self.number(depth),
            Some('.') => Err(self.syntax(
                start,
                "floats must start with a digit (quote values such as \"./data\")",
            )),
            Some(c) if is_nl(c) => Err(self.expected("a value")),
            _ => self.bare_string(start, depth),
        }
    }

    /// `'raw text'`: no escapes.
    fn single_quoted(&mut self) -> PResult<Node> {
        let start = self.pos;
        self.pos += 1;
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let Some(len) = rest.find('\'') else {
            // lex.go: a quote that is the last byte of the text is end of input.
            if rest.is_empty() {
                return Err(Stop::Eof);
            }
            return Err(self.syntax(start, "unterminated single-quoted string"));
        };
        self.pos += len + 1;
        Ok(Node {
            value: Value::String(rest[..len].to_owned()),
            span: self.span(start, self.pos),
        })
    }

    /// `"text"` with escapes; may span lines.
    fn double_quoted(&mut self) -> PResult<Node> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        let mut seg = self.pos;
        loop {
            match self.peek() {
                // lex.go: end of input right after the quote or an escape is
                // end of input, not an error.
                None if self.pos == seg => return Err(Stop::Eof),
                None => return Err(self.syntax(start, "unterminated double-quoted string")),
                Some('"') => {
                    out.extend_from_slice(self.slice(seg, self.pos).as_bytes());
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    out.extend_from_slice(self.slice(seg, self.pos).as_bytes());
                    self.pos += 1;
                    self.escape(&mut out)?;
                    seg = self.pos;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        Ok(Node {
            value: Value::String(bytes_to_string(out)),
            span: self.span(start, self.pos),
        })
    }

    /// One escape, cursor after the backslash: `\t \n \r \" \\ \xHH`.
    fn escape(&mut self, out: &mut Vec<u8>) -> PResult<()> {
        let at = self.pos;
        let byte = match self.bump() {
            Some('t') => b'\t',
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('"') => b'"',
            Some('\\') => b'\\',
            Some('x') => {
                let hi = self.bump();
                let lo = self.bump();
                match (
                    hi.and_then(|c| c.to_digit(16)),
                    lo.and_then(|c| c.to_digit(16)),
                ) {
                    // Two hex digits are below 256.
                    (Some(h), Some(l)) => u8::try_from(h * 16 + l).unwrap_or(0),
                    _ => return Err(self.syntax(at, "expected two hexadecimal digits after `\\x`")),
                }
            }
            other => {
                return Err(self.syntax(
                    at,
                    format!(
                        "invalid escape {}; only \\xHH, \\t, \\n, \\r, \\\" and \\\\ are allowed",
                        describe(other)
                    ),
                ));
            }
        };
        out.push(byte);
        Ok(())
    }

    /// `( ... )`: raw text up to a `)` alone on its line. As in lex.go the
    /// text keeps the new line before the `)`, and when that `)` is the last
    /// byte of the file, the `)` too.
    fn block_string(&mut self) -> PResult<Node> {
        let start = self.pos;
        let body = start + 1;
        let bytes = self.src.as_bytes();
        let close = (body..bytes.len()).find(|&i| {
            bytes[i] == b')'
                && bytes[i - 1] == b'\n'
                && bytes.get(i + 1).is_none_or(|&b| b == b'\n')
        });
        let Some(close) = close else {
            return Err(self.syntax(
                start,
                "unterminated `(` block: it ends with `)` alone on a line",
            ));
        };
        let text_end = if close + 1 == bytes.len() {
            close + 1
        } else {
            close
        };
        self.pos = close + 1;
        Ok(Node {
            value: Value::String(self.slice(body, text_end).to_owned()),
            span: self.span(start, self.pos),
        })
    }

    /// A value starting with a digit: integer (with unit), float, datetime,
    /// IP-like string, or a string that merely starts with digits.
    fn number(&mut self, depth: usize) -> PResult<Node> {
        let start = self.pos;
        self.skip_digits();
        match self.peek() {
            Some('-') if self.pos - start == 4 => self.datetime(start),
            Some('-') => Err(self.syntax(
                start,
                "dates must be in full ISO8601 Zulu form (YYYY-MM-DDTHH:MM:SSZ)",
            )),
            Some('.') => self.float_or_ip(start),
            Some(c) if is_unit(c) => self.unit_number(start, depth),
            c if ends_number(c) => self.integer(start),
            None => self.integer(start),
            Some(c) => {
                // lex.go takes this character as-is and goes on as a bare string.
                self.pos += c.len_utf8();
                self.bare_string(start, depth)
            }
        }
    }

    /// `-digits[.digits|unit]`: no dates after a minus, and only a unit
    /// can turn it into a string (`-1kx`); `-5x` is `-5` then junk (lex.go).
    fn negative_number(&mut self, depth: usize) -> PResult<Node> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            Some('.') => return Err(self.syntax(start, "floats must start with a digit, not `.`")),
            _ => return Err(self.expected("a digit after `-`")),
        }
        self.skip_digits();
        match self.peek() {
            Some('.') => self.float_or_ip(start),
            Some(c) if is_unit(c) => self.unit_number(start, depth),
            _ => self.integer(start),
        }
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// The unit letter and any `b`/`i` after it.
    fn skip_unit(&mut self) {
        self.pos += 1;
        while let Some('b' | 'B' | 'i' | 'I') = self.peek() {
            self.pos += 1;
        }
    }

    /// `4k`, `1GiB`...; anything but a terminator (or a digit) right after
    /// makes it a string (`4kx`, and `[1k]`, since `]` does not end numbers).
    fn unit_number(&mut self, start: usize, depth: usize) -> PResult<Node> {
        self.skip_unit();
        let next = self.peek();
        if ends_number(next) || next.is_some_and(|c| c.is_ascii_digit()) {
            self.integer(start)
        } else {
            self.bare_string(start, depth)
        }
    }

    /// Cursor on the `.` after digits: a float, or with a second `.` an
    /// IP-like string such as `127.0.0.1:4222`.
    fn float_or_ip(&mut self, start: usize) -> PResult<Node> {
        self.pos += 1;
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(self.expected("a digit after the `.` of a float"));
        }
        self.skip_digits();
        if self.peek() == Some('.') {
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
            {
                self.pos += 1;
            }
            return Ok(Node {
                value: Value::String(self.slice(start, self.pos).to_owned()),
                span: self.span(start, self.pos),
            });
        }
        let text = self.slice(start, self.pos);
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Node {
                value: Value::Float(f),
                span: self.span(start, self.pos),
            }),
            _ => Err(self.syntax(start, format!("float `{text}` is out of range"))),
        }
    }

    /// Converts the integer text `start..pos`: digits then an optional unit
    /// (parse.go `itemInteger`; overflow wraps as Go's multiplication does).
    fn integer(&self, start: usize) -> PResult<Node> {
        let text = self.slice(start, self.pos);
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: i64 = digits.parse().map_err(|e: std::num::ParseIntError| {
            let message = match e.kind() {
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                    format!("integer `{text}` is out of range")
                }
                _ => format!("expected an integer, found `{text}`"),
            };
            self.syntax(start, message)
        })?;
        const K: i64 = 1000;
        const KI: i64 = 1024;
        let factor = match unit.to_ascii_lowercase().as_str() {
            "" => 1,
            "k" => K,
            "kb" | "ki" | "kib" => KI,
            "m" => K.pow(2),
            "mb" | "mi" | "mib" => KI.pow(2),
            "g" => K.pow(3),
            "gb" | "gi" | "gib" => KI.pow(3),
            "t" => K.pow(4),
            "tb" | "ti" | "tib" => KI.pow(4),
            "p" => K.pow(5),
            "pb" | "pi" | "pib" => KI.pow(5),
            "e" => K.pow(6),
            "eb" | "ei" | "eib" => KI.pow(6),
            _ => return Err(self.syntax(start, format!("unknown unit in `{text}`"))),
        };
        Ok(Node {
            value: Value::Integer(n.wrapping_mul(factor)),
            span: self.span(start, self.pos),
        })
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, cursor on the `-` after the year.
    fn datetime(&mut self, start: usize) -> PResult<Node> {
        for expect in "-00-00T00:00:00Z".chars() {
            let c = self.peek();
            let ok = match c {
                Some(c) if expect == '0' => c.is_ascii_digit(),
                Some(c) => c == expect,
                None => false,
            };
            if !ok {
                return Err(self.syntax(
                    start,
                    format!(
                        "malformed datetime at {}: expected YYYY-MM-DDTHH:MM:SSZ",
                        describe(c)
                    ),
                ));
            }
            self.pos += 1;
        }
        let text = self.slice(start, self.pos);
        if !valid_zulu(text) {
            return Err(self.syntax(start, format!("invalid datetime `{text}`")));
        }
        Ok(Node {
            value: Value::Datetime(text.to_owned()),
            span: self.span(start, self.pos),
        })
    }

    /// An unquoted value from `start`, the cursor possibly already past a
    /// digit prefix (lex.go `lexString`). Ends before a new line, blank, `;`,
    /// `,`, `]`, `}` or end of file, or just after a `'`. Backslash escapes
    /// work here too. Then, unless escaped: booleans, and `$NAME` variables.
    fn bare_string(&mut self, start: usize, depth: usize) -> PResult<Node> {
        let mut out = Vec::new();
        let mut seg = start;
        let mut escaped = false;
        loop {
            match self.peek() {
                Some('\\') => {
                    out.extend_from_slice(self.slice(seg, self.pos).as_bytes());
                    self.pos += 1;
                    self.escape(&mut out)?;
                    seg = self.pos;
                    escaped = true;
                }
                Some('\'') => {
                    // A quote ends the string (and is eaten); no bool or variable check.
                    out.extend_from_slice(self.slice(seg, self.pos).as_bytes());
                    self.pos += 1;
                    return Ok(Node {
                        value: Value::String(bytes_to_string(out)),
                        span: self.span(start, self.pos),
                    });
                }
                Some(c) if !(is_nl(c) || is_ws(c) || matches!(c, ';' | ',' | ']' | '}')) => {
                    self.pos += c.len_utf8();
                }
                _ => break,
            }
        }
        let span = self.span(start, self.pos);
        if escaped {
            out.extend_from_slice(self.slice(seg, self.pos).as_bytes());
            return Ok(Node {
                value: Value::String(bytes_to_string(out)),
                span,
            });
        }
        let raw = self.slice(start, self.pos);
        let value = match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Value::Bool(true),
            "false" | "no" | "off" => Value::Bool(false),
            _ => match raw.strip_prefix('$') {
                Some(name) => return self.variable(name, start, depth),
                None => Value::String(raw.to_owned()),
            },
        };
        Ok(Node { value, span })
    }

    /// `$NAME`: the latest earlier `NAME` key of the enclosing maps, innermost
    /// first, else the environment (parse.go `lookupVariable`).
    fn variable(&mut self, name: &str, start: usize, depth: usize) -> PResult<Node> {
        let span = self.span(start, self.pos);
        // parse.go: bcrypt hashes (`$2a$...`) are plain strings, unquoted or not.
        if name.starts_with("2a$") {
            return Ok(Node {
                value: Value::String(format!("${name}")),
                span,
            });
        }
        let defined = self
            .scopes
            .iter()
            .rev()
            .flat_map(|scope| scope.entries.iter().rev())
            .find(|e| e.key == name)
            .map(|e| e.node.clone());
        if let Some(mut node) = defined {
            node.span = span;
            return Ok(node);
        }
        match self.env_variable(name, span, start, depth)? {
            Some(node) => Ok(node),
            None => Err(Stop::Error(ConfError::Variable {
                path: self.name.clone(),
                line: self.line(start),
                name: name.to_owned(),
            })),
        }
    }

    /// The environment's value of `name`, parsed as a conf value the way
    /// parse.go `parseEnv` does: as the text `pk=<value>`, taking key `pk`.
    fn env_variable(
        &mut self,
        name: &str,
        span: Span,
        at: usize,
        depth: usize,
    ) -> PResult<Option<Node>> {
        if self.ld.env_active.iter().any(|n| n == name) {
            return Err(self.syntax(at, format!("variable reference cycle for `{name}`")));
        }
        let Some(raw) = (self.ld.env)(name) else {
            return Ok(None);
        };
        if depth >= MAX_DEPTH {
            return Err(self.syntax(at, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let text = format!("pk={raw}");
        self.ld.env_active.push(name.to_owned());
        let mut sub = Parser::new(self.ld, &text, self.file, &self.name, None, depth + 1);
        sub.fixed_span = Some(span);
        let parsed = sub.document();
        self.ld.env_active.pop();
        let line = self.line(at);
        let error = match parsed {
            Ok(map) => {
                return Ok(map
                    .entries
                    .into_iter()
                    .rev()
                    .find(|e| e.key == "pk")
                    .map(|e| e.node));
            }
            Err(ConfError::Syntax { message, .. }) => ConfError::Syntax {
                path: self.name.clone(),
                line,
                message: format!("environment variable `{name}`: {message}"),
            },
            Err(ConfError::Variable { name: inner, .. }) => ConfError::Variable {
                path: self.name.clone(),
                line,
                name: inner,
            },
            Err(other) => other,
        };
        Err(Stop::Error(error))
    }
}

/// Whether a pattern-checked `YYYY-MM-DDTHH:MM:SSZ` is a real time, as Go's
/// `time.Parse` requires (no leap second, days per month).
pub(super) fn valid_zulu(text: &str) -> bool {
    let field = |from: usize, to: usize| text.get(from..to).and_then(|s| s.parse::<u32>().ok());
    let (Some(year), Some(month), Some(day), Some(hour), Some(min), Some(sec)) = (
        field(0, 4),
        field(5, 7),
        field(8, 10),
        field(11, 13),
        field(14, 16),
        field(17, 19),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && min < 60 && sec < 60
}
