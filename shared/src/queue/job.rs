//! What travels on the queue: small references to stored records, never message content (the
//! content is read from the store when sending, so a queue message never holds a secret or a
//! body, and a redelivered message sees the current state).

use crate::domain::ids::stable_id;
use crate::domain::notification::Delivery;
use crate::queue::OutMessage;
use serde::{Deserialize, Serialize};

/// Where the `all` fan-out (planned by [`crate::routing::plan`]) goes on from: the channel kind being walked, and the store cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Resume {
    pub kind: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Send one delivery.
    Deliver { notification: String, delivery: String },
    /// Plan the next part of an `all` fan-out.
    Expand { notification: String, resume: Resume },
    /// Make one stored platform call (a bot's reply).
    Call { call: String },
}

/// One FIFO group per (channel, chat): a chat's messages keep their order, one in flight.
pub fn chat_group(channel: &str, chat: &str) -> String {
    format!("c-{}", stable_id(&[channel, chat]))
}

impl Job {
    pub fn deliver(d: &Delivery) -> OutMessage {
        let job = Job::Deliver { notification: d.notification.clone(), delivery: d.id.clone() };
        OutMessage { body: job.to_body(), group: chat_group(&d.channel, &d.recipient), dedup: d.id.clone() }
    }

    pub fn expand(notification: &str, resume: Resume) -> OutMessage {
        let dedup = stable_id(&[notification, &resume.kind.to_string(), resume.cursor.as_deref().unwrap_or("")]);
        let job = Job::Expand { notification: notification.to_owned(), resume };
        OutMessage { body: job.to_body(), group: format!("x-{notification}"), dedup }
    }

    pub fn call(c: &crate::domain::notification::Call) -> OutMessage {
        let job = Job::Call { call: c.id.clone() };
        OutMessage { body: job.to_body(), group: chat_group(&c.channel, &c.chat), dedup: c.id.clone() }
    }

    fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(body: &str) -> Option<Job> {
        serde_json::from_str(body).ok()
    }
}
