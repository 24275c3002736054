//! A delivery's content, rendered for its recipient's language but not yet for a platform:
//! title, text, link, image and buttons kept apart, so each platform module can render them its
//! own way.

use crate::domain::notification::{Button, Delivery, Format, Notification};
use crate::domain::user::Locale;
use crate::text::templates::{admin_title, render_for_admins, render_template};
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub notification: String,
    pub delivery: String,
    pub ty: String,
    pub title: Option<String>,
    pub text: String,
    pub format: Format,
    pub link: Option<String>,
    pub image: Option<String>,
    pub buttons: Vec<Button>,
    /// Deliver without sound (quiet hours).
    pub silent: bool,
    /// The recipient's language (for the words a platform module adds, like a link button's).
    pub locale: Locale,
    /// True when the delivery is for no one user (a channel's default chat, an admin's test,
    /// or several WeCom members Herald merged into one `a|b|c` message). Only then may a sender
    /// take a recipient that names several people; one user's id must name one chat.
    pub merged: bool,
    pub created_at: Timestamp,
}

impl Message {
    /// The content of `n` for delivery `d`, in `d`'s language. An admins' copy of a personal
    /// notice (`d.for_user`) is worded for the admins and names the user.
    pub fn new(n: &Notification, d: &Delivery) -> Self {
        let (title, text, format) = match (&n.template, &d.for_user) {
            (Some(t), Some(user)) => {
                let (title, text) = render_for_admins(t, user, d.locale);
                (Some(title), text, Format::Text)
            }
            (Some(t), None) => {
                let (title, text) = render_template(t, d.locale);
                (Some(title), text, Format::Text)
            }
            (None, Some(user)) => (Some(admin_title(n.title.as_deref(), user, d.locale)), n.text.clone(), n.format),
            (None, None) => (n.title.clone(), n.text.clone(), n.format),
        };
        Message {
            notification: n.id.clone(),
            delivery: d.id.clone(),
            ty: n.ty.clone(),
            title,
            text,
            format,
            link: n.link.clone(),
            image: n.image.clone(),
            buttons: n.buttons.clone(),
            silent: d.silent,
            locale: d.locale,
            merged: d.user.is_none(),
            created_at: n.created_at,
        }
    }

    /// Title and text as plain text (for platforms without markup).
    pub fn plain(&self) -> String {
        let text = match self.format {
            Format::Text | Format::Markdown => self.text.clone(),
            Format::Html => strip_tags(&self.text),
        };
        match &self.title {
            Some(t) if !t.is_empty() => format!("{t}\n{text}"),
            _ => text,
        }
    }
}

/// Removes HTML tags and decodes the five basic entities (for HTML text shown as plain text).
pub fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match (c, in_tag) {
            ('<', _) => in_tag = true,
            ('>', true) => in_tag = false,
            (_, false) => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}
