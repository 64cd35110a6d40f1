//! JSON parsing with Go `encoding/json` field matching, and typed field access.
//!
//! Go matches an object key to a struct field exactly or, failing that, ignoring case,
//! and when several keys match the same field the last one wins; [`field`] does the
//! same (Go's folding, [`fold_eq`]). `null` leaves a Go field at its zero value, so getters
//! return `None` for both a missing key and `null`. A value of the wrong JSON type is an
//! error, as it is for Go.

use serde_json::{Map, Value};

use crate::store::json::fold_eq;

use crate::store::jsops::error::{OpError, Payload};

/// Where a JSON document sits, for errors.
#[derive(Clone, Copy)]
pub(crate) struct Doc {
    pub payload: Payload,
    pub offset: usize,
    pub decompressed: bool,
}

impl Doc {
    pub(crate) fn invalid(&self, field: &'static str, reason: impl Into<String>) -> OpError {
        OpError::Invalid {
            payload: self.payload,
            offset: self.offset,
            decompressed: self.decompressed,
            field,
            reason: reason.into(),
        }
    }

    fn json_err(&self, bytes: &[u8], e: serde_json::Error) -> OpError {
        OpError::Json {
            payload: self.payload,
            offset: self.offset + byte_offset(bytes, e.line(), e.column()),
            decompressed: self.decompressed,
            source: e,
        }
    }

    /// Parses the whole of `bytes` as one JSON value (`json.Unmarshal`: only whitespace
    /// may follow it).
    pub(crate) fn parse(&self, bytes: &[u8]) -> Result<Value, OpError> {
        serde_json::from_slice(bytes).map_err(|e| self.json_err(bytes, e))
    }

    /// Parses the first JSON value of `bytes` and ignores what follows
    /// (`json.NewDecoder(r).Decode(&v)`).
    pub(crate) fn parse_first(&self, bytes: &[u8]) -> Result<Value, OpError> {
        let mut it = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(self.json_err(bytes, e)),
            None => Err(OpError::Truncated {
                payload: self.payload,
                offset: self.offset + bytes.len(),
                decompressed: self.decompressed,
                field: "JSON value",
                need: 1,
                have: 0,
            }),
        }
    }

    pub(crate) fn object<'v>(
        &self,
        v: &'v Value,
        what: &'static str,
    ) -> Result<&'v Map<String, Value>, OpError> {
        v.as_object()
            .ok_or_else(|| self.invalid(what, format!("expected a JSON object, found {}", kind(v))))
    }

    /// An optional object field (missing or `null` is `None`).
    pub(crate) fn opt_object<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &'static str,
    ) -> Result<Option<&'v Map<String, Value>>, OpError> {
        match field(obj, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(self.invalid(key, format!("expected an object, found {}", kind(v)))),
        }
    }

    pub(crate) fn opt_str(
        &self,
        obj: &Map<String, Value>,
        key: &'static str,
    ) -> Result<Option<String>, OpError> {
        match field(obj, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.invalid(key, format!("expected a string, found {}", kind(v)))),
        }
    }

    pub(crate) fn opt_u64(
        &self,
        obj: &Map<String, Value>,
        key: &'static str,
    ) -> Result<Option<u64>, OpError> {
        match field(obj, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                self.invalid(key, format!("expected an unsigned integer, found {n}"))
            }),
            Some(v) => Err(self.invalid(key, format!("expected a number, found {}", kind(v)))),
        }
    }

    pub(crate) fn opt_bool(
        &self,
        obj: &Map<String, Value>,
        key: &'static str,
    ) -> Result<Option<bool>, OpError> {
        match field(obj, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.invalid(key, format!("expected a boolean, found {}", kind(v)))),
        }
    }

    pub(crate) fn opt_str_list(
        &self,
        obj: &Map<String, Value>,
        key: &'static str,
    ) -> Result<Option<Vec<String>>, OpError> {
        match field(obj, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => {
                        Err(self.invalid(key, format!("expected strings, found {}", kind(other))))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.invalid(key, format!("expected an array, found {}", kind(v)))),
        }
    }
}

/// The value Go would decode into the struct field tagged `key`: the last key that equals
/// it ignoring ASCII case.
pub(crate) fn field<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if let Some(v) = obj.get(key) {
        // serde_json keeps the last of duplicate exact keys; a differently cased key that
        // came later would win in Go, but that never happens in server output.
        if obj.keys().all(|k| k == key || !fold_eq(k, key)) {
            return Some(v);
        }
    }
    obj.iter()
        .filter(|(k, _)| fold_eq(k, key))
        .map(|(_, v)| v)
        .next_back()
}

/// `obj` without the keys matching `key` (case-insensitively).
pub(crate) fn without(obj: &Map<String, Value>, key: &str) -> Map<String, Value> {
    obj.iter()
        .filter(|(k, _)| !fold_eq(k, key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Byte offset of serde_json's 1-based line and (byte) column in `bytes`.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    if line == 0 {
        return 0;
    }
    let mut start = 0usize;
    let mut l = 1usize;
    for (i, &b) in bytes.iter().enumerate() {
        if l == line {
            break;
        }
        if b == b'\n' {
            l += 1;
            start = i + 1;
        }
    }
    (start + column.saturating_sub(1)).min(bytes.len())
}
