//! Reading and byte-preserving editing of the compact JSON nats-server writes to `meta.inf`,
//! with the acceptance rules of the Go decoder that reads it back.
//!
//! nats-server decodes `meta.inf` with Go's `encoding/json` into its config structs
//! (`DisallowUnknownFields` since 2.11). To say what the server will make of a file, this
//! module reads it the way Go does rather than the way serde_json does:
//!
//! - **Syntax** follows Go's `encoding/json/scanner.go`: the RFC 8259 grammar, control
//!   characters below 0x20 rejected inside strings, any byte >= 0x80 accepted inside strings
//!   (valid UTF-8 or not), `\u` followed by exactly four hex digits, only the escapes
//!   `\" \\ \/ \b \f \n \r \t \uXXXX`, whitespace limited to space, tab, CR and LF, nothing
//!   after the top-level value, no byte-order mark, and at most 10000 levels of nesting
//!   ("exceeded max depth"). The scanner is a byte-at-a-time state machine with an explicit
//!   stack, like Go's, so a 10000-deep document cannot overflow a small thread stack. Error
//!   texts are Go's, followed by the 0-based offset of the offending byte.
//! - **Strings** are decoded like `unquote` in Go's `encoding/json/decode.go`: every byte of
//!   an invalid UTF-8 sequence becomes U+FFFD (`utf8.DecodeRune` reports width 1), a
//!   `\uD800`-`\uDFFF` escape that does not start a valid surrogate pair becomes U+FFFD, and
//!   a valid pair becomes its code point. serde_json rejects both of the former.
//! - **Keys** match struct field names like Go's `encoding/json/fold.go`: ASCII letters
//!   case-insensitively, U+212A KELVIN SIGN as `k`, U+017F LATIN SMALL LETTER LONG S as `s`
//!   (see [`fold_eq`]). Every occurrence of a matching key is decoded into the same field,
//!   so the last one wins; the typed readers ([`Object::go_int`], ...) follow decode.go's
//!   rules for each field kind.
//!
//! Edits never re-serialize the document: they splice the byte ranges of top-level members,
//! so field order, number spelling, Go's `\u003c` escapes, unknown fields and even invalid
//! UTF-8 elsewhere in the document stay exactly as they were, and a reviewer sees only the
//! fields we meant to change.

mod edit;
mod object;
mod read;
mod scanner;

pub use edit::{remove_member, render_pretty, replace_value};
pub use object::{fold_eq, parse_object, parse_shared, FieldError, FieldProblem, Member, Object};
pub use scanner::{validate, Context, JsonError};

/// Go's `maxNestingDepth` (scanner.go): deeper documents are syntax errors.
pub const MAX_DEPTH: usize = 10_000;

/// Containers nested deeper than this (a member's value being depth 1) are kept in
/// [`Member::value`] as `Value::Null`, so dropping or serializing a `Value` stays cheap on
/// any stack. The scanner has still validated them.
pub const MAX_VALUE_DEPTH: usize = 64;

#[cfg(test)]
mod tests;
