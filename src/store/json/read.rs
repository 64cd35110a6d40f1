//! Reading a document the scanner validated: spans of values, strings decoded as Go's
//! `unquote` decodes them, and informative `serde_json::Value`s.

use super::scanner::is_space;
use super::MAX_VALUE_DEPTH;
use serde_json::{Map, Number, Value};

/// Helpers over bytes `validate` accepted. They never index out of bounds even if that
/// precondition is broken; they just stop at the end.
pub(super) fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while b.get(pos).is_some_and(|&c| is_space(c)) {
        pos += 1;
    }
    pos
}

/// `pos` is at an opening quote; returns the position just past the closing one.
pub(super) fn string_end(b: &[u8], pos: usize) -> usize {
    let mut i = pos + 1;
    loop {
        match b.get(i) {
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
            None => return b.len(),
        }
    }
}

/// End of a number or of `true`/`false`/`null` starting at `pos`.
pub(super) fn scalar_end(b: &[u8], mut pos: usize) -> usize {
    while b
        .get(pos)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
    {
        pos += 1;
    }
    pos
}

/// End of the value starting at `pos`, iteratively, whatever its depth.
pub(super) fn value_end(b: &[u8], mut pos: usize) -> usize {
    let mut depth = 0usize;
    loop {
        match b.get(pos) {
            None => return b.len(),
            Some(b'"') => {
                pos = string_end(b, pos);
                if depth == 0 {
                    return pos;
                }
            }
            Some(b'{' | b'[') => {
                depth += 1;
                pos += 1;
            }
            Some(b'}' | b']') => {
                depth = depth.saturating_sub(1);
                pos += 1;
                if depth == 0 {
                    return pos;
                }
            }
            Some(_) if depth == 0 => return scalar_end(b, pos),
            Some(_) => pos += 1,
        }
    }
}

/// Go's `utf8.DecodeRune`: the character at the start of `s` and its width, or U+FFFD of
/// width 1 for any byte that does not start a well-formed sequence.
pub(super) fn decode_rune(s: &[u8]) -> (char, usize) {
    let width = match s.first() {
        Some(0x00..=0x7F) => 1,
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return (char::REPLACEMENT_CHARACTER, 1),
    };
    match s.get(..width).map(std::str::from_utf8) {
        Some(Ok(text)) => (
            text.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER),
            width,
        ),
        _ => (char::REPLACEMENT_CHARACTER, 1),
    }
}

/// Go's `getu4`: the code unit of a `\uXXXX` escape at the start of `s`.
pub(super) fn get_u4(s: &[u8]) -> Option<u32> {
    if s.len() < 6 || s[0] != b'\\' || s[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&s[2..6]).ok()?;
    if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// Go's `unquote` (decode.go) of a validated string literal, quotes included.
pub(super) fn decode_string(raw: &[u8]) -> String {
    let s = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'\\' {
            let simple = match s.get(i + 1) {
                Some(b'"') => Some('"'),
                Some(b'\\') => Some('\\'),
                Some(b'/') => Some('/'),
                Some(b'b') => Some('\u{8}'),
                Some(b'f') => Some('\u{c}'),
                Some(b'n') => Some('\n'),
                Some(b'r') => Some('\r'),
                Some(b't') => Some('\t'),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                i += 2;
                continue;
            }
            let Some(unit) = get_u4(&s[i..]) else {
                // Not reachable for validated input; keep going rather than fail.
                out.push(char::REPLACEMENT_CHARACTER);
                i += 1;
                continue;
            };
            i += 6;
            if (0xD800..0xE000).contains(&unit) {
                // utf16.DecodeRune: a high surrogate followed by a low one is a pair;
                // anything else is U+FFFD and the next escape is read on its own.
                if (0xD800..0xDC00).contains(&unit) {
                    if let Some(low @ 0xDC00..=0xDFFF) = s.get(i..).and_then(get_u4) {
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                        i += 6;
                        continue;
                    }
                }
                out.push(char::REPLACEMENT_CHARACTER);
            } else {
                out.push(char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
        } else if c < 0x80 {
            out.push(char::from(c));
            i += 1;
        } else {
            let (ch, width) = decode_rune(&s[i..]);
            out.push(ch);
            i += width;
        }
    }
    out
}

/// The informative `Value` of a number literal: an integer that fits i64 or u64, else a
/// finite f64, else null (e.g. `1e400`).
pub(super) fn number_value(literal: &str) -> Value {
    if !literal.contains(['.', 'e', 'E']) {
        if let Ok(n) = literal.parse::<i64>() {
            return Value::from(n);
        }
        if let Ok(n) = literal.parse::<u64>() {
            return Value::from(n);
        }
    }
    literal
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Builds the `Value` of the validated value at `pos` (at nesting `depth`, a member's value
/// being 1) and returns it with the position just past it. Recursion is bounded by
/// [`MAX_VALUE_DEPTH`]; deeper containers are skipped iteratively and become null.
pub(super) fn build_value(b: &[u8], pos: usize, depth: usize) -> (Value, usize) {
    match b.get(pos) {
        Some(b'"') => {
            let end = string_end(b, pos);
            (Value::String(decode_string(&b[pos..end])), end)
        }
        Some(b'{' | b'[') if depth > MAX_VALUE_DEPTH => (Value::Null, value_end(b, pos)),
        Some(b'{') => {
            let mut map = Map::new();
            let mut i = skip_ws(b, pos + 1);
            while b.get(i) == Some(&b'"') {
                let key_end = string_end(b, i);
                let key = decode_string(&b[i..key_end]);
                i = skip_ws(b, skip_ws(b, key_end) + 1); // past `:`
                let (value, end) = build_value(b, i, depth + 1);
                map.insert(key, value);
                i = skip_ws(b, end);
                if b.get(i) == Some(&b',') {
                    i = skip_ws(b, i + 1);
                }
            }
            (Value::Object(map), (i + 1).min(b.len()))
        }
        Some(b'[') => {
            let mut items = Vec::new();
            let mut i = skip_ws(b, pos + 1);
            while b.get(i).is_some_and(|&c| c != b']') {
                let (value, end) = build_value(b, i, depth + 1);
                items.push(value);
                i = skip_ws(b, end);
                if b.get(i) == Some(&b',') {
                    i = skip_ws(b, i + 1);
                }
            }
            (Value::Array(items), (i + 1).min(b.len()))
        }
        Some(_) => {
            let end = scalar_end(b, pos);
            let text = std::str::from_utf8(&b[pos..end]).unwrap_or("");
            let value = match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => number_value(text),
            };
            (value, end.max(pos + 1).min(b.len()))
        }
        None => (Value::Null, b.len()),
    }
}
