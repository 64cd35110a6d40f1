//! The time stamped into manifests and journals: now, or `JS_RECOVER_NOW` (RFC 3339) so that
//! tests and reproducible runs can fix the clock.

pub fn now() -> chrono::DateTime<chrono::Utc> {
    std::env::var("JS_RECOVER_NOW")
        .ok()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc))
}
