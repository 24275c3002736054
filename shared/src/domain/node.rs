//! Nodes of the host's service (proxy nodes, servers): what the host registers, and the state
//! the node check keeps (online / offline with debounce, blocked / unblocked).

use super::*;
use crate::secret::Secret;
use jiff::Timestamp;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// No heartbeat seen yet.
    #[default]
    Unknown,
    Online,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Optional per-node key for heartbeats sent by the node itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default)]
    pub status: NodeStatus,
    #[serde(default)]
    pub blocked: bool,
    /// Blocked or not, as the host app (or the node) last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_blocked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<Timestamp>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_since: Option<Timestamp>,
    /// Consecutive checks that disagree with the current status / blocked flag (the debounce).
    #[serde(default)]
    pub streak: u32,
    #[serde(default)]
    pub block_streak: u32,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

/// What `PUT /api/v1/nodes/{id}` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    pub name: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

impl NodeInput {
    pub fn validate(&self) -> Valid {
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "is required"));
        }
        check_len("name", &self.name, 128)?;
        if let Some(h) = &self.host {
            check_len("host", h, 253)?;
        }
        if let Some(r) = &self.region {
            check_len("region", r, 64)?;
        }
        if self.tags.len() > 32 {
            return Err(Invalid::new("tags", "at most 32"));
        }
        if let Some(k) = &self.key
            && k.expose().len() < 16
        {
            return Err(Invalid::new("key", "must be at least 16 characters"));
        }
        Ok(())
    }

    /// The node after this input, and the fields that changed (for the "updated" notice).
    pub fn apply(self, id: &str, existing: Option<Node>, now: Timestamp) -> (Node, Vec<String>) {
        let mut changed = Vec::new();
        let mut node = existing.unwrap_or_else(|| Node {
            id: id.to_owned(),
            name: String::new(),
            host: None,
            port: None,
            region: None,
            tags: BTreeMap::new(),
            enabled: true,
            key: None,
            status: NodeStatus::Unknown,
            blocked: false,
            reported_blocked: None,
            last_heartbeat: None,
            status_since: None,
            blocked_since: None,
            streak: 0,
            block_streak: 0,
            created_at: Some(now),
            updated_at: Some(now),
        });
        macro_rules! set {
            ($field:ident) => {
                if node.$field != self.$field {
                    changed.push(stringify!($field).to_owned());
                    node.$field = self.$field;
                }
            };
        }
        set!(name);
        set!(host);
        set!(port);
        set!(region);
        set!(tags);
        set!(enabled);
        if self.key.is_some() && node.key != self.key {
            changed.push("key".to_owned());
            node.key = self.key;
        }
        node.updated_at = Some(now);
        (node, changed)
    }
}
