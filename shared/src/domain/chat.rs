//! A conversation with the bot, platform-neutral: what a receiver hands the bot ([`Inbound`]),
//! what the bot answers ([`Action`]), and the bot settings a channel config carries
//! ([`BotConf`]). Each platform's receiver reads its own requests into these and writes the
//! actions back as its own calls.

use super::{Binding, ChannelKind, Format};
use serde::{Deserialize, Serialize};

/// The bot's commands, in the order `/help` and the platforms' command lists show them.
pub const COMMANDS: &[&str] = &["start", "help", "menu", "my", "checkin", "bind", "unbind", "ping"];
/// The commands only admins see and may run.
pub const ADMIN_COMMANDS: &[&str] = &["status", "broadcast"];

/// Whether `name` is one of the bot's own commands (any user's or an admin's).
pub fn is_command(name: &str) -> bool {
    COMMANDS.iter().chain(ADMIN_COMMANDS).any(|c| *c == name)
}

/// A line as the bot reads a command, for platforms where people type commands without their
/// `/` (Slack and Synology Chat DMs, where a leading `/` starts the platform's own commands): a
/// first word that names a command is given its slash; anything else is left as it is (trimmed).
pub fn command_line(text: &str) -> String {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    if is_command(&first) { format!("/{text}") } else { text.to_owned() }
}

/// Who wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub id: String,
    pub name: String,
    /// The platform's language tag for the person, if it says.
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message's text (a command or not).
    Text(String),
    /// A menu item's command (WeCom's menu `click`): run like typed text, but only by the
    /// admin whitelist when the config has one (MoviePilot's rule).
    Menu(String),
    /// A button press: its id (to answer it), its data, and the message it is on.
    Button { id: String, data: String, message: Option<String> },
    /// People joined the group.
    Joined(Vec<Sender>),
    /// The bot was added to a group.
    AddedToGroup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub chat: String,
    pub group: bool,
    pub from: Sender,
    pub input: Input,
}

/// What pressing a button does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Press {
    /// Comes back to the bot as [`Input::Button`] with this data (at most 64 bytes: Telegram's
    /// `callback_data` limit, the smallest of the platforms').
    Data(String),
    /// Opens this `http(s)` URL.
    Url(String),
}

/// A button under a bot reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub press: Press,
}

impl Button {
    /// A button that comes back to the bot with `data`.
    pub fn data(label: impl Into<String>, data: impl Into<String>) -> Self {
        Button { label: label.into(), press: Press::Data(data.into()) }
    }

    /// A button that opens `url`.
    pub fn url(label: impl Into<String>, url: impl Into<String>) -> Self {
        Button { label: label.into(), press: Press::Url(url.into()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Answer in the chat (or edit the message `edit` in place): `text` in `format` (the bot's
    /// own replies are plain text; a host app's may be Markdown or HTML, rendered for the
    /// platform as notifications are), an image shown with it where the platform can (else its
    /// link), and rows of buttons on platforms that have them.
    Reply { text: String, format: Format, image: Option<String>, buttons: Vec<Vec<Button>>, edit: Option<String> },
    /// Write to another chat.
    Tell { chat: String, text: String },
    /// Answer a button press (stops the client's spinner).
    Answer { id: String, text: Option<String>, alert: bool },
    /// Remove a member from a group, free to come back.
    Remove { chat: String, user: String },
    /// Leave this group.
    Leave,
}

/// The bot settings of one channel config, as its platform reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotConf {
    pub kind: ChannelKind,
    /// Where the chat ids the bot sees are bound ([`Binding`]).
    pub binding: Binding,
    /// Whether the platform shows buttons (else the bot words its menus as text).
    pub buttons: bool,
    /// Only these may talk to the bot (empty: everyone).
    pub user_whitelist: Vec<String>,
    /// These are admins on this config whether bound or not.
    pub admin_whitelist: Vec<String>,
    /// The one group the bot stays in (it leaves any other).
    pub group: Option<String>,
    /// In the group: answer only commands addressed to the bot.
    pub quiet: bool,
    /// In the group: members must be bound (others are removed).
    pub bound_only: bool,
    /// The bot's own name, without `@` (a command for another bot is ignored).
    pub username: Option<String>,
}

impl Action {
    /// A plain-text reply with no buttons.
    pub fn reply(text: impl Into<String>) -> Self {
        Action::Reply { text: text.into(), format: Format::Text, image: None, buttons: Vec::new(), edit: None }
    }

    /// A plain-text reply with buttons, or the message `edit` rewritten so.
    pub fn buttons(text: impl Into<String>, buttons: Vec<Vec<Button>>, edit: Option<String>) -> Self {
        Action::Reply { text: text.into(), format: Format::Text, image: None, buttons, edit }
    }
}

impl BotConf {
    /// A bot with whitelists and no group rules; `buttons` if the platform shows them.
    pub fn whitelisted(kind: ChannelKind, buttons: bool, users: &[String], admins: &[String]) -> Self {
        BotConf { buttons, user_whitelist: users.to_vec(), admin_whitelist: admins.to_vec(), ..Self::plain(kind) }
    }

    /// A bot with no whitelists, group rules or buttons.
    pub fn plain(kind: ChannelKind) -> Self {
        BotConf {
            kind,
            binding: kind.into(),
            buttons: false,
            user_whitelist: Vec::new(),
            admin_whitelist: Vec::new(),
            group: None,
            quiet: false,
            bound_only: false,
            username: None,
        }
    }
}
