//! Nodes of the host's service (proxy nodes, servers): what the host registers, and the state
//! the node check keeps (online / offline with debounce, blocked / unblocked).

use super::*;
use crate::domain::secret::Secret;
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

/// A field of a merge: left out (`None`: keep the stored value), `null` (`Some(None)`: clear it)
/// or a value.
fn patch<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What `PUT` (and `PATCH`) `/api/v1/nodes/{id}` take. A merge, as for users: a field left out
/// keeps its stored value (so a host re-syncing its nodes leaves a paused node paused), `null`
/// clears an optional one (`host`, `port`, `region`, `key`). `name` is required to create a node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    /// Shown in notices; required to add a node, 1 to 128 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Host name for the probe (`{host}`), up to 253 characters.
    #[serde(default, deserialize_with = "patch")]
    pub host: Option<Option<String>>,
    /// Port for the probe (`{port}`), 0 to 65535.
    #[serde(default, deserialize_with = "patch")]
    pub port: Option<Option<u16>>,
    /// Where it is blocked from (`{region}`, and the blocked notice), up to 64 characters.
    #[serde(default, deserialize_with = "patch")]
    pub region: Option<Option<String>>,
    /// The host's own labels, at most 32 (replaced whole when given).
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// `false` pauses the node: it is not checked and raises no offline notice. New nodes: `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The node's own heartbeat key; `********` (as the API shows it) keeps the stored one.
    #[serde(default, deserialize_with = "patch")]
    pub key: Option<Option<Secret>>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

impl NodeInput {
    /// Checks the fields given (400 naming the field). `creating`: the node does not exist yet,
    /// so `name` is required.
    pub fn validate(&self, creating: bool) -> Valid {
        match &self.name {
            Some(n) if n.trim().is_empty() => return Err(Invalid::new("name", "is required")),
            Some(n) => check_len("name", n, 128)?,
            None if creating => return Err(Invalid::new("name", "is required to add a node")),
            None => {}
        }
        if let Some(Some(h)) = &self.host {
            // A host name, an IPv4 address or an IPv6 one in brackets: it goes into the probe
            // URL (`{host}`) as it is, so nothing that would change the URL's shape (a port, a
            // path, a query, a user).
            let ipv6 = h
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'));
            let name = h.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if h.len() > 253 || !(ipv6 || name) {
                return Err(Invalid::new("host", "must be a host name, an IPv4 address or an IPv6 address in brackets, up to 253 characters"));
            }
        }
        if let Some(Some(r)) = &self.region {
            check_len("region", r, 64)?;
        }
        if self.tags.as_ref().is_some_and(|t| t.len() > 32) {
            return Err(Invalid::new("tags", "at most 32"));
        }
        if let Some(Some(k)) = &self.key
            && k.expose() != crate::domain::secret::MASK
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
                if let Some(v) = self.$field
                    && node.$field != v
                {
                    changed.push(stringify!($field).to_owned());
                    node.$field = v;
                }
            };
        }
        set!(name);
        set!(host);
        set!(port);
        set!(region);
        set!(tags);
        set!(enabled);
        match self.key {
            Some(Some(k)) if k.expose() == crate::domain::secret::MASK => {}
            Some(k) if node.key != k => {
                changed.push("key".to_owned());
                node.key = k;
            }
            _ => {}
        }
        node.updated_at = Some(now);
        (node, changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: serde_json::Value) -> NodeInput {
        parse_json(v).unwrap()
    }

    #[test]
    fn a_re_sync_without_enabled_keeps_a_paused_node_paused() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let (n, _) = input(serde_json::json!({"name": "N1", "host": "a.example", "port": 443})).apply("n1", None, now);
        let (paused, changed) = input(serde_json::json!({"enabled": false})).apply("n1", Some(n), now);
        assert_eq!((paused.enabled, changed), (false, vec!["enabled".to_owned()]));
        let (after, changed) = input(serde_json::json!({"name": "N1", "host": "a.example", "port": 443})).apply("n1", Some(paused), now);
        assert!(!after.enabled && changed.is_empty());
        // null clears an optional field; a field left out keeps it.
        let (after, changed) = input(serde_json::json!({"port": null})).apply("n1", Some(after), now);
        assert_eq!((after.port, after.host.as_deref(), changed), (None, Some("a.example"), vec!["port".to_owned()]));
    }

    #[test]
    fn name_is_required_to_add_a_node_only() {
        assert_eq!(input(serde_json::json!({"host": "h"})).validate(true).unwrap_err().field, "name");
        assert!(input(serde_json::json!({"host": "h"})).validate(false).is_ok());
        assert_eq!(input(serde_json::json!({"name": " "})).validate(false).unwrap_err().field, "name");
    }
}
