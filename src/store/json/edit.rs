//! Byte-preserving edits of top-level members, and a pretty rendering for reviewers.

use super::object::{fold_eq, parse_object, Member};
use super::read::*;
use std::ops::Range;

/// `bytes` with the value of every top-level member whose key [`fold_eq`]s `name` replaced
/// by `raw`; every other byte is kept. `members` must come from `parse_object(bytes)`.
pub fn replace_value(bytes: &[u8], members: &[Member], name: &str, raw: &str) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in members
        .iter()
        .rev()
        .filter(|m| fold_eq(&m.key(bytes), name))
    {
        let end = m.value_span().end.min(out.len());
        out.splice(m.value_span().start.min(end)..end, raw.bytes());
    }
    out
}

/// `bytes` without any top-level member whose key [`fold_eq`]s `name`, and without the
/// commas that joined them to their neighbours; every other byte is kept. `members` must
/// come from `parse_object(bytes)`.
///
/// Each run of adjacent removed members is cut as one piece: from the end of the kept
/// member before it (taking the comma before the run), or, for a run at the start, up to
/// the key of the kept member after it (taking the comma after the run); when nothing is
/// kept, from the first removed key to the last removed value.
pub fn remove_member(bytes: &[u8], members: &[Member], name: &str) -> Vec<u8> {
    let removed: Vec<bool> = members
        .iter()
        .map(|m| fold_eq(&m.key(bytes), name))
        .collect();
    let mut cuts: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < members.len() {
        if !removed[i] {
            i += 1;
            continue;
        }
        let first = i;
        while i < members.len() && removed[i] {
            i += 1;
        }
        let last = i - 1;
        let cut = if first > 0 {
            members[first - 1].span().end..members[last].span().end
        } else if let Some(next) = members.get(last + 1) {
            members[first].span().start..next.span().start
        } else {
            members[first].span().start..members[last].span().end
        };
        cuts.push(cut);
    }
    let mut out = bytes.to_vec();
    for cut in cuts.into_iter().rev() {
        let end = cut.end.min(out.len());
        out.drain(cut.start.min(end)..end);
    }
    out
}

/// Appends `s` as a JSON string literal, escaped as serde_json does.
pub(super) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{0}'..='\u{1f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            _ => out.push(c),
        }
    }
    out.push('"');
}

pub(super) fn newline(out: &mut String, indent: usize) {
    out.push('\n');
    for _ in 0..indent {
        out.push_str("  ");
    }
}

/// A pretty-printed rendering of a JSON object for reviewers, in the layout of serde_json's
/// pretty printer (2-space indent, `"key": value`, `{}`/`[]` when empty) but walking the
/// document itself, so duplicate keys and member order show at every level and numbers keep
/// their spelling. Strings are shown decoded as Go decodes them (invalid UTF-8 and lone
/// surrogates as U+FFFD) and re-escaped. `None` if `bytes` is not a JSON object Go accepts.
/// The output grows with depth times lines, so it is meant for ordinary documents.
pub fn render_pretty(bytes: &[u8]) -> Option<String> {
    let object = parse_object(bytes).ok()?;
    let b = object.bytes();
    let mut out = String::with_capacity(b.len() * 2);
    let mut indent = 0usize;
    let mut i = skip_ws(b, 0);
    while let Some(&c) = b.get(i) {
        match c {
            b'{' | b'[' => {
                let after = skip_ws(b, i + 1);
                let close = if c == b'{' { b'}' } else { b']' };
                if b.get(after) == Some(&close) {
                    out.push(char::from(c));
                    out.push(char::from(close));
                    i = after + 1;
                } else {
                    out.push(char::from(c));
                    indent += 1;
                    newline(&mut out, indent);
                    i += 1;
                }
            }
            b'}' | b']' => {
                indent = indent.saturating_sub(1);
                newline(&mut out, indent);
                out.push(char::from(c));
                i += 1;
            }
            b',' => {
                out.push(',');
                newline(&mut out, indent);
                i += 1;
            }
            b':' => {
                out.push_str(": ");
                i += 1;
            }
            b'"' => {
                let end = string_end(b, i);
                push_json_string(&mut out, &decode_string(&b[i..end]));
                i = end;
            }
            _ => {
                let end = scalar_end(b, i).max(i + 1);
                out.push_str(&String::from_utf8_lossy(&b[i..end.min(b.len())]));
                i = end;
            }
        }
        i = skip_ws(b, i);
    }
    Some(out)
}
