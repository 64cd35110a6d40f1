//! Readable diffs for reviewers.
//!
//! `meta.inf` is one long line of compact JSON, so a plain diff would show the whole file
//! twice. JSON is pretty-printed first (field order kept) so each changed field stands on its
//! own line; anything else is diffed as text.

use similar::TextDiff;

/// A unified diff of `path` from `before` (absent: a new file) to `after`.
pub fn unified(path: &str, before: Option<&[u8]>, after: &[u8]) -> String {
    let old = before.map(render).unwrap_or_default();
    let new = render(after);
    let old_header = if before.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_string()
    };
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&old_header, &format!("b/{path}"))
        .to_string()
}

/// JSON objects pretty-printed, other text as it is (with a final newline so diff lines
/// stay whole), bytes that are not UTF-8 summarized.
fn render(bytes: &[u8]) -> String {
    // Read as the server reads it: invalid UTF-8 in a string shows as U+FFFD, duplicate
    // keys stay visible.
    if let Some(pretty) = crate::store::json::render_pretty(bytes) {
        return pretty + "\n";
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if text.ends_with('\n') || text.is_empty() => text.to_string(),
        Ok(text) => format!("{text}\n"),
        Err(_) => format!("<{} bytes, not UTF-8>\n", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_stand_on_their_own_lines() {
        let d = unified(
            "jetstream/A/streams/S/meta.inf",
            Some(br#"{"name":"S","num_replicas":3,"placement":{"cluster":"C1"},"sealed":false}"#),
            br#"{"name":"S","num_replicas":1,"sealed":false}"#,
        );
        assert!(
            d.starts_with(
                "--- a/jetstream/A/streams/S/meta.inf\n+++ b/jetstream/A/streams/S/meta.inf\n"
            ),
            "{d}"
        );
        assert!(d.contains("\n-  \"num_replicas\": 3,\n"), "{d}");
        assert!(d.contains("\n+  \"num_replicas\": 1,\n"), "{d}");
        assert!(
            d.contains("\n-  \"placement\": {\n-    \"cluster\": \"C1\"\n-  },\n"),
            "{d}"
        );
        assert!(d.contains("\n   \"sealed\": false\n"), "{d}");
    }

    #[test]
    fn text_and_new_files() {
        let d = unified("x/meta.sum", None, b"a2d5027a6bd44eee");
        assert!(d.starts_with("--- /dev/null\n+++ b/x/meta.sum\n"), "{d}");
        assert!(d.contains("+a2d5027a6bd44eee\n"), "{d}");
    }
}
