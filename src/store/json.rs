//! Byte-preserving edits of the compact JSON nats-server writes to `meta.inf`.
//!
//! nats-server decodes `meta.inf` strictly (`DisallowUnknownFields` in `doStream`,
//! server/jetstream.go), and a reviewer wants to see only the fields we meant to change, so
//! an edit never re-serializes the document: it locates the byte range of one top-level
//! member and splices it. Field order, number spelling, Go's `\u003c` escapes and unknown
//! fields all stay exactly as they were.

use std::ops::Range;

/// One top-level `"key": value` member of a JSON object, by byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The decoded key.
    pub key: String,
    /// From the opening quote of the key to the end of the value.
    pub span: Range<usize>,
    /// The value alone.
    pub value: Range<usize>,
}

/// Why a document is not a JSON object we can edit.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
    #[error("the top-level value is not a JSON object")]
    NotAnObject,
}

/// Parses `bytes` as a JSON object, returning its fields and the byte range of each
/// top-level member. The full document is validated first so that errors carry serde_json's
/// line and column.
pub fn parse_object(
    bytes: &[u8],
) -> Result<(serde_json::Map<String, serde_json::Value>, Vec<Member>), JsonError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)?;
    let serde_json::Value::Object(map) = value else {
        return Err(JsonError::NotAnObject);
    };
    let members = Scanner { bytes, pos: 0 }.members();
    Ok((map, members))
}

/// `bytes` with the value of every top-level member named `key` replaced by `raw`.
pub fn replace_value(bytes: &[u8], members: &[Member], key: &str, raw: &str) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in members.iter().rev().filter(|m| m.key == key) {
        out.splice(m.value.clone(), raw.bytes());
    }
    out
}

/// `bytes` without any top-level member named `key`, and without the comma that joined it
/// to its neighbour.
pub fn remove_member(bytes: &[u8], members: &[Member], key: &str) -> Vec<u8> {
    let mut cuts: Vec<Range<usize>> = Vec::new();
    for (i, m) in members.iter().enumerate().filter(|(_, m)| m.key == key) {
        let cut = if i > 0 {
            // `,"key":value` - from the end of the previous value.
            members[i - 1].value.end..m.span.end
        } else if let Some(next) = members.get(1) {
            // First member: `"key":value,` up to the next key.
            m.span.start..next.span.start
        } else {
            m.span.clone()
        };
        cuts.push(cut);
    }
    let mut out = bytes.to_vec();
    // Adjacent removals may overlap at a shared boundary; apply from the end.
    for cut in cuts.into_iter().rev() {
        let end = cut.end.min(out.len());
        out.drain(cut.start.min(end)..end);
    }
    out
}

/// A scanner over a document serde_json has already validated, so it only needs to find
/// boundaries, not report errors.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn members(mut self) -> Vec<Member> {
        let mut members = Vec::new();
        self.skip_ws();
        self.pos += 1; // `{`
        loop {
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b'"') => {}
                _ => return members, // `}`
            }
            let key_start = self.pos;
            self.skip_string();
            let key = serde_json::from_slice(&self.bytes[key_start..self.pos]).unwrap_or_default();
            self.skip_ws();
            self.pos += 1; // `:`
            self.skip_ws();
            let value_start = self.pos;
            self.skip_value();
            members.push(Member {
                key,
                span: key_start..self.pos,
                value: value_start..self.pos,
            });
            self.skip_ws();
            if self.bytes.get(self.pos) == Some(&b',') {
                self.pos += 1;
            }
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn skip_string(&mut self) {
        self.pos += 1; // opening quote
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    fn skip_value(&mut self) {
        let mut depth = 0usize;
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'"' => {
                    self.skip_string();
                    if depth == 0 {
                        return;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return;
                    }
                }
                b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return,
                _ => {}
            }
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &str) -> Vec<Member> {
        parse_object(s.as_bytes()).unwrap().1
    }

    #[test]
    fn finds_members_with_nested_values_and_escapes() {
        let doc = r#"{"a":"x\"}","b":{"c":[1,{"d":"]"}]},"num_replicas":3,"e":-1.5e3,"f":null}"#;
        let m = members(doc);
        let keys: Vec<_> = m.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "num_replicas", "e", "f"]);
        assert_eq!(&doc[m[1].value.clone()], r#"{"c":[1,{"d":"]"}]}"#);
        assert_eq!(&doc[m[3].value.clone()], "-1.5e3");
    }

    #[test]
    fn replace_keeps_every_other_byte() {
        let doc = r#"{"name":"\u003cX\u003e","num_replicas":3,"max_age":0}"#;
        let out = replace_value(doc.as_bytes(), &members(doc), "num_replicas", "1");
        assert_eq!(
            out,
            br#"{"name":"\u003cX\u003e","num_replicas":1,"max_age":0}"#
        );
    }

    #[test]
    fn remove_middle_first_last_and_only() {
        let doc = r#"{"a":1,"placement":{"cluster":"C1","tags":["x"]},"b":2}"#;
        assert_eq!(
            remove_member(doc.as_bytes(), &members(doc), "placement"),
            br#"{"a":1,"b":2}"#
        );
        let doc = r#"{"placement":{"cluster":"C1"},"b":2}"#;
        assert_eq!(
            remove_member(doc.as_bytes(), &members(doc), "placement"),
            br#"{"b":2}"#
        );
        let doc = r#"{"a":1,"placement":{"cluster":"C1"}}"#;
        assert_eq!(
            remove_member(doc.as_bytes(), &members(doc), "placement"),
            br#"{"a":1}"#
        );
        let doc = r#"{"placement":{}}"#;
        assert_eq!(
            remove_member(doc.as_bytes(), &members(doc), "placement"),
            br#"{}"#
        );
    }

    #[test]
    fn whitespace_is_tolerated_and_kept() {
        let doc =
            "{\n  \"a\" : 1 ,\n  \"placement\" : { \"cluster\" : \"C1\" } ,\n  \"b\" : 2\n}\n";
        let out = remove_member(doc.as_bytes(), &members(doc), "placement");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"a\" : 1 ,\n  \"b\" : 2\n}\n"
        );
    }

    #[test]
    fn missing_key_is_a_no_op() {
        let doc = r#"{"a":1}"#;
        assert_eq!(
            remove_member(doc.as_bytes(), &members(doc), "placement"),
            doc.as_bytes()
        );
    }

    #[test]
    fn rejects_truncated_and_non_objects() {
        let err = parse_object(br#"{"name":"ORDERS","num_rep"#).unwrap_err();
        assert!(err.to_string().contains("EOF"), "{err}");
        assert!(matches!(parse_object(b"[1]"), Err(JsonError::NotAnObject)));
        assert!(parse_object(b"").is_err());
    }
}
