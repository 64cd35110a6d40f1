//! The group's own `meta.inf`/`meta.sum`/`meta.key`: the WAL is a file store, and a file
//! store describes itself with a stream config.
//!
//! Mirrors `writeStreamMeta`, `setupAEK`/`recoverAEK` (server/filestore.go) and the
//! `StreamConfig{Name: rg.Name, Storage: FileStorage, Metadata: labels}` passed by
//! `createRaftGroup` (server/jetstream_cluster.go; labels since 2.10.4) and
//! `StreamConfig{Name: "_meta_", Storage: FileStorage}` by `setupMetaGroup` (no labels).
//!
//! ## Wire format
//!
//! - `meta.inf`: the JSON of that stream config (`{"Created": "<RFC 3339>", "name":
//!   "<group>", ... "storage": "file", ..., "metadata": {"account": "A", "stream": "ORDERS",
//!   "consumer": "PROC", "type": "consumer"}}`); `metadata` holds the pprof labels of the
//!   group (`type` is `stream` or `consumer`; `consumer` only for consumer groups) and is
//!   absent for the meta group and before 2.10.4. Encrypted stores seal it as
//!   `nonce || AEAD(asset key, json)`.
//! - `meta.sum`: lowercase hex of HighwayHash-64 keyed by sha256(group name) over the
//!   `meta.inf` bytes as stored (sealed ones when encrypted).
//! - `meta.key` (encrypted stores): the sealed asset key, see
//!   [`crate::store::filestore::keys`].

use serde_json::{Map, Value};

/// Whether `meta.sum` vouches for `meta.inf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaSum {
    Verified,
    /// No `meta.sum`.
    Missing,
    Mismatch {
        stored: String,
        computed: String,
    },
}

/// What a group's `meta.inf` says.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMeta {
    /// `name`: the group name (also the name keying its checksums).
    pub name: String,
    /// `Created`, as written (RFC 3339 with nanoseconds).
    pub created: Option<String>,
    /// `metadata.account`: the account owning the stream or consumer.
    pub account: Option<String>,
    /// `metadata.stream`.
    pub stream: Option<String>,
    /// `metadata.consumer` (consumer groups only).
    pub consumer: Option<String>,
    /// `metadata.type`: `stream` or `consumer`.
    pub asset_type: Option<String>,
    /// `metadata` whole (string values; other labels kept too).
    pub metadata: Map<String, Value>,
    /// The whole stream config object, in file order.
    pub config: Map<String, Value>,
    /// It was sealed (`meta.key` present) and opened.
    pub encrypted: bool,
    pub checksum: MetaSum,
}

impl GroupMeta {
    /// Parses the (opened) JSON; an error says why.
    pub fn parse(json: &[u8], encrypted: bool, checksum: MetaSum) -> Result<GroupMeta, String> {
        let v: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let Value::Object(config) = v else {
            return Err("not a JSON object".into());
        };
        let s =
            |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let metadata = match config.get("metadata") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        Ok(GroupMeta {
            name: s(&config, "name").unwrap_or_default(),
            created: s(&config, "Created"),
            account: s(&metadata, "account"),
            stream: s(&metadata, "stream"),
            consumer: s(&metadata, "consumer"),
            asset_type: s(&metadata, "type"),
            metadata,
            config,
            encrypted,
            checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_come_from_metadata() {
        let j = br#"{"Created":"2026-11-21T12:25:49.837756537Z","name":"C-R3F-8eFevuz5","storage":"file","metadata":{"account":"A","consumer":"E2","stream":"EVENTS","type":"consumer"}}"#;
        let m = GroupMeta::parse(j, false, MetaSum::Verified).unwrap();
        assert_eq!(m.name, "C-R3F-8eFevuz5");
        assert_eq!(m.account.as_deref(), Some("A"));
        assert_eq!(m.consumer.as_deref(), Some("E2"));
        assert_eq!(m.asset_type.as_deref(), Some("consumer"));
        assert_eq!(m.config.keys().next().map(String::as_str), Some("Created"));
        let meta = GroupMeta::parse(br#"{"name":"_meta_"}"#, false, MetaSum::Missing).unwrap();
        assert!(meta.account.is_none() && meta.metadata.is_empty());
        assert!(GroupMeta::parse(b"[1]", false, MetaSum::Missing).is_err());
        assert!(GroupMeta::parse(b"{", false, MetaSum::Missing).is_err());
    }
}
