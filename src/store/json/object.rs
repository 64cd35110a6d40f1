//! Top-level members of a `meta.inf` object, and reading fields as Go decodes them into
//! the server's structs.

use super::read::{build_value, decode_string, skip_ws, string_end, value_end};
use super::scanner::{validate, JsonError};
use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

/// One top-level `"key": value` member of a JSON object: byte ranges only (thousands of
/// objects live at once), its key and value decoded when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Where the key's opening quote is.
    start: u32,
    /// The end of the key, its closing quote included.
    key_end: u32,
    /// Where the value begins; it ends where the member does.
    value_start: u32,
    end: u32,
}

impl Member {
    /// From the opening quote of the key to the end of the value.
    pub fn span(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The value alone ([`Object::value`] decodes it: thousands of objects live at once,
    /// so values are decoded when asked for, not kept; and offsets are 32 bits).
    pub fn value_span(&self) -> Range<usize> {
        self.value_start as usize..self.end as usize
    }

    /// The key, decoded as Go decodes it (invalid UTF-8 and lone surrogates as U+FFFD), from
    /// `doc`, the document the member was parsed from.
    pub fn key<'d>(&self, doc: &'d [u8]) -> Cow<'d, str> {
        let raw = doc
            .get(self.start as usize..self.key_end as usize)
            .unwrap_or_default();
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
        match std::str::from_utf8(inner) {
            Ok(plain) if !inner.contains(&b'\\') => Cow::Borrowed(plain),
            _ => Cow::Owned(decode_string(raw)),
        }
    }
}

/// A top-level JSON object: its members in document order, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub members: Vec<Member>,
    /// Shared with whoever read the file (a `meta.inf` is held once).
    source: std::sync::Arc<[u8]>,
}

/// Go's key matching (fold.go): whether `key` names the struct field whose JSON name is
/// `name`. ASCII letters fold case-insensitively, U+212A KELVIN SIGN folds with `k` and
/// U+017F LATIN SMALL LETTER LONG S with `s`; no other non-ASCII character equals an ASCII
/// one. `name` is meant to be ASCII (as every nats-server field name is): a non-ASCII
/// character in it other than those two must match exactly.
pub fn fold_eq(key: &str, name: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            'a'..='z' => c.to_ascii_uppercase(),
            '\u{212A}' => 'K',
            '\u{17F}' => 'S',
            _ => c,
        }
    }
    key.chars().map(fold).eq(name.chars().map(fold))
}

/// The kind of a JSON value, named as in Go's `UnmarshalTypeError`.
pub(super) fn kind_of(raw: &[u8]) -> &'static str {
    match raw.first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "bool",
        Some(b'n') => "null",
        _ => "number",
    }
}

impl Object {
    /// A member's key, decoded (see [`Member::key`]).
    pub fn key(&self, member: &Member) -> Cow<'_, str> {
        member.key(&self.source)
    }

    /// The document the members' spans refer to.
    pub fn bytes(&self) -> &[u8] {
        &self.source
    }

    /// A member's value, decoded (informative: numbers that fit no Rust number and
    /// containers deeper than [`MAX_VALUE_DEPTH`] are null; nested duplicate keys keep the
    /// last).
    pub fn value(&self, member: &Member) -> Value {
        build_value(&self.source, member.value_start as usize, 1).0
    }

    /// The raw bytes of a member's value.
    pub fn raw(&self, member: &Member) -> &[u8] {
        self.source.get(member.value_span()).unwrap_or(&[])
    }

    /// The member whose value Go decodes into the field `name`: the last one in document
    /// order whose key [`fold_eq`]s it (every occurrence is decoded in turn, so the last
    /// one overwrites the others).
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.members
            .iter()
            .rev()
            .find(|m| fold_eq(&m.key(&self.source), name))
    }

    /// Every member whose key [`fold_eq`]s `name`, in document order.
    pub fn all<'s: 'n, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s Member> + 'n {
        self.members
            .iter()
            .filter(move |m| fold_eq(&m.key(&self.source), name))
    }

    /// Decodes every occurrence of `name` in order, as decode.go does into one field: an
    /// occurrence decoded to `None` (JSON null) leaves the field as it was, the first error
    /// is the one Go reports (it keeps decoding, then returns the first saved error).
    fn decode_field<T>(
        &self,
        name: &str,
        decode: impl Fn(&Member, &[u8]) -> Result<Option<T>, FieldProblem>,
    ) -> Result<Option<T>, FieldError> {
        let mut field = None;
        let mut first_error = None;
        for m in self.all(name) {
            match decode(m, self.raw(m)) {
                Ok(Some(v)) => field = Some(v),
                Ok(None) => {}
                Err(problem) => {
                    first_error.get_or_insert(FieldError {
                        key: self.key(m).into_owned(),
                        problem,
                    });
                }
            }
        }
        first_error.map_or(Ok(field), Err)
    }

    /// The field `name` as Go decodes it into an `int` (64-bit): `Ok(None)` when absent or
    /// only null. A number must be an integer literal (no fraction, no exponent) that fits
    /// i64, as `strconv.ParseInt` requires; any other JSON type is an error.
    pub fn go_int(&self, name: &str) -> Result<Option<i64>, FieldError> {
        self.decode_field(name, |_, raw| match kind_of(raw) {
            "null" => Ok(None),
            "number" => {
                let literal = String::from_utf8_lossy(raw).into_owned();
                if literal.contains(['.', 'e', 'E']) {
                    return Err(FieldProblem::NotAnInteger { literal });
                }
                match literal.parse::<i64>() {
                    Ok(n) => Ok(Some(n)),
                    Err(_) => Err(FieldProblem::OutOfRange { literal }),
                }
            }
            found => Err(FieldProblem::WrongType {
                expected: "int",
                found,
            }),
        })
    }

    /// The field `name` as Go decodes it into a `string`: `Ok(None)` when absent or only
    /// null; any other JSON type is an error.
    pub fn go_string(&self, name: &str) -> Result<Option<String>, FieldError> {
        self.decode_field(name, |_, raw| match kind_of(raw) {
            "null" => Ok(None),
            "string" => Ok(Some(decode_string(raw))),
            found => Err(FieldError::wrong_type("string", found)),
        })
    }

    /// The member Go decodes into a struct-pointer or map field `name` (an object), or
    /// `Ok(None)` when absent or when the last occurrence is null (which sets such a field
    /// to nil). Any occurrence that is neither an object nor null is an error. Go decodes
    /// repeated objects into the same struct, merging them; only the last is returned here.
    pub fn go_object(&self, name: &str) -> Result<Option<&Member>, FieldError> {
        let mut last = None;
        for m in self.all(name) {
            match kind_of(self.raw(m)) {
                "object" => last = Some(m),
                "null" => last = None,
                found => {
                    return Err(FieldError {
                        key: self.key(m).into_owned(),
                        problem: FieldError::wrong_type("object", found),
                    })
                }
            }
        }
        Ok(last)
    }

    /// The field `name` of a nats-server type with its own `UnmarshalJSON` that compares
    /// the raw text (RetentionPolicy, StorageType, DiscardPolicy, AckPolicy, ...): each
    /// occurrence must be exactly `"` + one of `allowed` + `"` (no escapes, same case).
    /// JSON null is an error too, since Go hands `null` to `UnmarshalJSON`. `Ok(None)` only
    /// when absent.
    pub fn go_enum(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, FieldError> {
        self.decode_field(name, |_, raw| {
            let inner = match raw {
                [b'"', inner @ .., b'"'] => Some(inner),
                _ => None,
            };
            match allowed.iter().find(|a| inner == Some(a.as_bytes())) {
                Some(a) => Ok(Some((*a).to_owned())),
                None => Err(FieldProblem::NotOneOf {
                    allowed: allowed.iter().map(|a| (*a).to_owned()).collect(),
                    found: String::from_utf8_lossy(raw).into_owned(),
                }),
            }
        })
    }
}

/// Why a field would not decode into the server's struct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{key}`: {problem}")]
pub struct FieldError {
    /// The key as written in the document (decoded).
    pub key: String,
    pub problem: FieldProblem,
}

impl FieldError {
    fn wrong_type(expected: &'static str, found: &'static str) -> FieldProblem {
        FieldProblem::WrongType { expected, found }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("cannot unmarshal {found} into Go value of type {expected}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("cannot unmarshal number {literal} into Go value of type int: not an integer")]
    NotAnInteger { literal: String },
    #[error("cannot unmarshal number {literal} into Go value of type int: out of range")]
    OutOfRange { literal: String },
    #[error("can not unmarshal {found}: expected one of {}", quoted_list(allowed))]
    NotOneOf { allowed: Vec<String>, found: String },
}

pub(super) fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `bytes` as a JSON object the way Go's `encoding/json` accepts it (see the module
/// doc), returning every top-level member in document order, duplicates kept.
pub fn parse_object(bytes: &[u8]) -> Result<Object, JsonError> {
    parse_shared(std::sync::Arc::from(bytes))
}

/// [`parse_object`] of bytes the caller keeps too: the object shares them.
pub fn parse_shared(source: std::sync::Arc<[u8]>) -> Result<Object, JsonError> {
    let bytes = &source[..];
    if u32::try_from(bytes.len()).is_err() {
        return Err(JsonError::TooLarge { len: bytes.len() });
    }
    validate(bytes)?;
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return Err(JsonError::NotAnObject);
    }
    let mut members = Vec::new();
    i = skip_ws(bytes, i + 1);
    while bytes.get(i) == Some(&b'"') {
        let key_start = i;
        let key_end = string_end(bytes, i);
        let value_start = skip_ws(bytes, skip_ws(bytes, key_end) + 1); // past `:`
        let value_end = value_end(bytes, value_start);
        // Below 4 GiB (checked above), every offset fits.
        members.push(Member {
            start: key_start as u32,
            key_end: key_end as u32,
            value_start: value_start as u32,
            end: value_end as u32,
        });
        i = skip_ws(bytes, value_end);
        if bytes.get(i) == Some(&b',') {
            i = skip_ws(bytes, i + 1);
        }
    }
    // Thousands of these live at once (one per meta.inf): no spare capacity.
    members.shrink_to_fit();
    Ok(Object {
        members,
        source: source.clone(),
    })
}
