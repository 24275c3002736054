//! Text for platforms with markup. Markdown from the host app is parsed once, by pulldown-cmark
//! (CommonMark with `~~strike~~`), into lines of styled runs; one small writer per target
//! ([`Flavor`]) turns those lines into that platform's markup, escaping every text node as it
//! writes it, so escaping is right by construction. Also: escaping plain text for each target,
//! and cutting long texts for Telegram into pieces that are each valid HTML. Text from the host
//! app is plain unless it says otherwise, so everything is escaped by default.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// A target's markup, for [`render_markdown`] and [`escape_for`]. Every flavor writes the same
/// parsed document: line breaks as newlines, one blank line between blocks where the source had
/// one, list items as `• ` / `1. ` lines (hanging indent for nested lists), thematic breaks as
/// `———`, nested quotes as one level, link destinations other than `http(s)://` and `tg://` as
/// text (`label (url)`). Lengths stay the caller's business: only Telegram's splitter here
/// ([`markdown_lines`], [`pack_html`]) cuts to a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Telegram Bot API HTML (`parse_mode: "HTML"`; Bot API "Formatting options",
    /// <https://core.telegram.org/bots/api#formatting-options>): `<b> <i> <s> <code> <pre>
    /// <a href="…"> <blockquote>` (Markdown has no underline, so no `<u>`), headings as bold
    /// lines, all other text escaped (`&lt; &gt; &amp; &quot;`). No tag contains `<code>` or
    /// `<pre>` but `<b> <i> <s>`; a code span inside a link is shown as the link's text. A
    /// message is at most 4096 UTF-16 code units once entities are parsed.
    TelegramHtml,
    /// Slack mrkdwn (Slack "Formatting text for app surfaces",
    /// <https://api.slack.com/reference/surfaces/formatting>): `*bold*`, `_italic_`, `~strike~`,
    /// `` `code` ``, ```` ``` ```` fences, `<url|label>` links (label without marks), `>` quotes,
    /// headings as bold lines; `& < >` escaped as `&amp; &lt; &gt;` everywhere, the only escape
    /// mrkdwn has (a literal `*`, `_`, `~` or `` ` `` stays as it is).
    SlackMrkdwn,
    /// Discord and VoceChat Markdown (Discord "Markdown Text 101",
    /// <https://support.discord.com/hc/en-us/articles/210298617>; VoceChat renders CommonMark):
    /// `**bold**`, `*italic*`, `~~strike~~`, code spans and ```` ```lang ```` fences,
    /// `[label](url)`, `> ` quotes, `#`–`###` headings, `- ` / `1. ` lists. Markdown's specials in
    /// text are backslash-escaped (`\* \_ \~ \` \| \< \> \[ \] \\`, and `# - + =` or `1.` at a
    /// line's start); bare `http(s)://` URLs are left whole so that they stay links. Discord caps
    /// a message at 2000 characters.
    Markdown,
    /// WeCom (企业微信) app markdown ("发送应用消息", markdown 消息,
    /// <https://developer.work.weixin.qq.com/document/path/90236>): its subset `**bold**`,
    /// `[label](url)`, `#`–`######` headings, `> ` quotes, `` `code` `` on one line; italic and
    /// strike as plain text, lists as `• ` lines, code blocks as plain lines. WeCom documents no
    /// escape: a mark it would read in text (`**`, `](`, `<font`, a leading `#` or `>`) is broken
    /// with a zero-width space (U+200B). The content is at most 2048 bytes.
    WecomMarkdown,
    /// Plain text: marks dropped, links as `label (url)` (the URL once when it is the label),
    /// code as it is, quotes as `> ` lines.
    Plain,
}

/// Escapes `& < >` (and quotes, for attribute values) for Telegram's HTML parse mode.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    s.chars().for_each(|c| push_escaped(&mut out, c));
    out
}

/// Appends `c` to `out`, escaped as [`escape_html`] does.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        _ => out.push(c),
    }
}

/// Plain `text` (any number of lines) written so that `flavor` shows it as it is: the escaping
/// each [`Flavor`] describes.
pub fn escape_for(flavor: Flavor, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    match flavor {
        Flavor::TelegramHtml => text.chars().for_each(|c| push_escaped(&mut out, c)),
        Flavor::SlackMrkdwn => push_slack(&mut out, text),
        Flavor::Markdown | Flavor::WecomMarkdown => {
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                if flavor == Flavor::Markdown { push_markdown(&mut out, line, true) } else { push_wecom(&mut out, line, true) }
            }
        }
        Flavor::Plain => out.push_str(text),
    }
    out
}

/// Appends `s` with Slack's three escapes.
fn push_slack(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

/// Characters that are Markdown in any position (Discord's and CommonMark's inline marks, links,
/// spoilers, mentions); each is written behind a backslash, which both read as "literal".
const MARKDOWN_SPECIALS: &[char] = &['\\', '`', '*', '_', '~', '|', '<', '>', '[', ']'];

/// Appends text `s` escaped for [`Flavor::Markdown`]; `line_start`: `s` begins a line, where
/// `#`, `-`, `+`, `=` and `1.` / `1)` would start a heading, list or rule.
fn push_markdown(out: &mut String, s: &str, line_start: bool) {
    let mut rest = s;
    if line_start {
        if let Some(c @ ('#' | '-' | '+' | '=')) = rest.chars().next() {
            out.push('\\');
            out.push(c);
            rest = &rest[1..];
        } else {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if (1..=9).contains(&digits) && matches!(rest.as_bytes().get(digits), Some(b'.' | b')')) {
                out.push_str(&rest[..digits]);
                out.push('\\');
                rest = &rest[digits..];
            }
        }
    }
    let mut prev_alnum = false;
    while let Some(c) = rest.chars().next() {
        // A bare URL stays whole: Discord links it before reading escapes, so a backslash
        // would end up inside the link.
        if !prev_alnum && (rest.starts_with("https://") || rest.starts_with("http://")) {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let url = &rest[..end];
            if !url.contains(['`', '*', '|', '<', '>', '[', ']', '\\']) {
                out.push_str(url);
                rest = &rest[end..];
                prev_alnum = false;
                continue;
            }
        }
        if MARKDOWN_SPECIALS.contains(&c) || (c == '&' && rest[1..].starts_with(|n: char| n.is_ascii_alphanumeric() || n == '#')) {
            out.push('\\');
        }
        out.push(c);
        prev_alnum = c.is_alphanumeric();
        rest = &rest[c.len_utf8()..];
    }
}

const ZWSP: char = '\u{200B}';

/// Appends text `s` for [`Flavor::WecomMarkdown`]: a zero-width space breaks each mark WeCom
/// would read; `line_start` as for [`push_markdown`].
fn push_wecom(out: &mut String, s: &str, line_start: bool) {
    if line_start && s.starts_with(['#', '>']) {
        out.push(ZWSP);
    }
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        let next = chars.peek().copied();
        let breaks = match c {
            '*' => next == Some('*'),
            ']' => next == Some('('),
            '<' => next.is_some_and(|n| n.is_ascii_alphabetic() || n == '/'),
            _ => false,
        };
        if breaks {
            out.push(ZWSP);
        }
    }
}

// ---- the parsed document ----

#[cfg(test)]
thread_local! {
    /// Steps of rendering work done on this thread (tests count it to prove linear time
    /// without a clock).
    static WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts `n` steps of rendering work (only in this crate's tests; free otherwise).
#[inline]
fn work(n: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + n));
    let _ = n;
}

/// An inline mark on a run of text. A run carries each kind at most once (Markdown allows
/// `**a **b** c**`; no target needs it twice), so a line's markup stays small whatever the
/// source nests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Bold,
    Italic,
    Strike,
    /// A link with a destination every target may open, by its index in [`Doc::links`].
    Link(usize),
}

/// Text under the same marks, outermost first, as the source nested them.
#[derive(Debug, Clone)]
struct Run {
    text: String,
    marks: Vec<Mark>,
    /// A code span (shown as it is, never marked inside).
    code: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Heading(u8),
    /// A line of a code block, by the block's index in [`Doc::langs`].
    Code(usize),
    Rule,
}

/// One line of the document.
#[derive(Debug)]
struct Line {
    kind: Kind,
    /// Inside a block quote (of any depth: Telegram, Slack and Discord show one level).
    quote: bool,
    /// List markers (`• `, `1. `) or the hanging indent under them, shown as text.
    prefix: String,
    /// For a code line, one unmarked run: the line as it is.
    runs: Vec<Run>,
}

#[derive(Debug)]
struct Link {
    url: String,
    /// The text shown for it (its runs' text), to tell whether it already shows the URL.
    label: String,
}

impl Link {
    /// The label is the URL itself (an autolink), so writing the URL again adds nothing.
    fn shows_url(&self) -> bool {
        self.label == self.url || self.url.strip_prefix("mailto:") == Some(self.label.as_str())
    }
}

/// Markdown parsed once: what every flavor writes.
#[derive(Debug, Default)]
struct Doc {
    lines: Vec<Line>,
    links: Vec<Link>,
    /// Each code block's language (the fence's info string up to its first space).
    langs: Vec<String>,
}

/// Schemes a link may open; any other destination (`javascript:`, a relative path) is shown
/// as text after its label.
fn safe_url(url: &str) -> bool {
    ["https://", "http://", "tg://"].iter().any(|s| url.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
}

/// The hanging indent of nested lists stops growing here, so that deep nesting cannot make
/// the output quadratic in the input.
const MAX_INDENT: usize = 12;

/// The link being read (links do not nest; an image inside one is part of its label).
#[derive(Debug)]
enum OpenLink {
    /// Shown as a link: its index in [`Doc::links`].
    Shown(usize),
    /// Shown as its label followed by ` (url)`.
    AsText(Link),
}

/// Builds a [`Doc`] from pulldown-cmark's events.
struct Builder<'a> {
    src: &'a str,
    doc: Doc,
    /// Open inline marks; `None` for one already open further out (or a link inside a link).
    marks: Vec<Option<Mark>>,
    /// The `Some` of `marks`, outermost first: at most one of each kind.
    current: Vec<Mark>,
    link: Option<OpenLink>,
    /// Links and images open inside `link`.
    nested_links: usize,
    quote: usize,
    /// Open lists: the next number of an ordered one, and the width of its items' marker.
    lists: Vec<(Option<u64>, usize)>,
    /// The sum of the widths in `lists`.
    indent: usize,
    /// List markers for the next line to begin.
    pending: String,
    /// A line is open for inline content.
    open: bool,
    kind: Kind,
    /// Where the innermost block being read starts in the source.
    block_start: usize,
    /// Where the last content read ends in the source.
    last_end: Option<usize>,
    /// Inside a code block (its text so far and language) or an HTML block.
    code: Option<(String, String)>,
    html: Option<String>,
}

/// `s` cut into lines at `\n`, `\r\n` or `\r` (CommonMark's line endings).
fn lines_of(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' || bytes[i] == b'\r' {
            out.push(&s[start..i]);
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// Whether the source between two blocks holds a blank line (one of only spaces and the `>` of
/// the quote both are in).
fn blank_between(src: &str, from: usize, to: usize) -> bool {
    let Some(gap) = src.get(from.min(to)..to) else { return false };
    let lines = lines_of(gap);
    lines.len() > 2 && lines[1..lines.len() - 1].iter().any(|l| l.chars().all(|c| c.is_whitespace() || c == '>'))
}

impl<'a> Builder<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            doc: Doc::default(),
            marks: Vec::new(),
            current: Vec::new(),
            link: None,
            nested_links: 0,
            quote: 0,
            lists: Vec::new(),
            indent: 0,
            pending: String::new(),
            open: false,
            kind: Kind::Text,
            block_start: 0,
            last_end: None,
            code: None,
            html: None,
        }
    }

    /// A hanging indent `width` wide (at most [`MAX_INDENT`]).
    fn spaces(width: usize) -> String {
        " ".repeat(width.min(MAX_INDENT))
    }

    /// Begins a line of the current kind; `continued`: it goes on the block of the line before
    /// (a line break, the next line of a code block), so no blank line comes first.
    fn begin_line(&mut self, continued: bool) {
        let quote = self.quote > 0;
        if !continued
            && let Some(end) = self.last_end
            && !self.doc.lines.is_empty()
        {
            // The end offset is just past the last text, or past a block's line ending: step
            // back over that ending so that only lines strictly between the blocks count.
            let from = if self.src[..end].ends_with('\n') || self.src[..end].ends_with('\r') { end - 1 } else { end };
            if blank_between(self.src, from, self.block_start) {
                let in_quote = quote && self.doc.lines.last().is_some_and(|l| l.quote);
                self.doc.lines.push(Line { kind: Kind::Text, quote: in_quote, prefix: String::new(), runs: Vec::new() });
            }
        }
        let prefix = if self.pending.is_empty() { Self::spaces(self.indent) } else { std::mem::take(&mut self.pending) };
        self.doc.lines.push(Line { kind: self.kind, quote, prefix, runs: Vec::new() });
        self.open = true;
    }

    /// Appends inline text (or a code span) under the open marks; a line ending in it (inline
    /// HTML may hold one) breaks the line.
    fn text(&mut self, text: &str, code: bool) {
        work(text.len() + 1);
        for (i, piece) in lines_of(text).into_iter().enumerate() {
            if i > 0 {
                self.begin_line(true);
            }
            if piece.is_empty() {
                continue;
            }
            if !self.open {
                self.begin_line(false);
            }
            match &mut self.link {
                Some(OpenLink::Shown(i)) => {
                    if let Some(link) = self.doc.links.get_mut(*i) {
                        link.label.push_str(piece);
                    }
                }
                Some(OpenLink::AsText(link)) => link.label.push_str(piece),
                None => {}
            }
            let marks = self.current.clone();
            let Some(line) = self.doc.lines.last_mut() else { continue };
            match line.runs.last_mut() {
                Some(run) if !code && !run.code && run.marks == marks => run.text.push_str(piece),
                _ => line.runs.push(Run { text: piece.to_owned(), marks, code }),
            }
        }
    }

    /// A new block starts at `at`: the line before it is done.
    fn block(&mut self, at: usize) {
        self.open = false;
        self.block_start = at;
    }

    fn push_mark(&mut self, mark: Option<Mark>) {
        let new = mark.filter(|m| !self.current.contains(m));
        if let Some(m) = new {
            self.current.push(m);
        }
        self.marks.push(new);
    }

    fn pop_mark(&mut self) {
        if let Some(Some(_)) = self.marks.pop() {
            self.current.pop();
        }
    }

    /// Whole lines of a code or HTML block, as the current kind.
    fn block_lines(&mut self, text: &str, kind: Kind) {
        if text.is_empty() {
            return;
        }
        let mut lines = lines_of(text);
        if lines.len() > 1 && lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        self.kind = kind;
        for (i, line) in lines.into_iter().enumerate() {
            work(line.len() + 1);
            self.begin_line(i > 0);
            if let Some(l) = self.doc.lines.last_mut()
                && !line.is_empty()
            {
                l.runs.push(Run { text: line.to_owned(), marks: Vec::new(), code: false });
            }
        }
        self.kind = Kind::Text;
        self.open = false;
    }

    fn event(&mut self, event: Event<'_>, range: std::ops::Range<usize>) {
        work(1);
        match event {
            Event::Start(tag) => self.start(tag, range.start),
            Event::End(tag) => self.end(tag, range.end),
            Event::Text(t) => {
                if let Some((code, _)) = &mut self.code {
                    code.push_str(&t);
                } else {
                    self.text(&t, false);
                    self.last_end = Some(range.end);
                }
            }
            Event::Code(t) => {
                self.text(&t, true);
                self.last_end = Some(range.end);
            }
            Event::Html(t) => match &mut self.html {
                Some(html) => html.push_str(&t),
                None => self.text(&t, false),
            },
            Event::InlineHtml(t) | Event::InlineMath(t) | Event::DisplayMath(t) | Event::FootnoteReference(t) => {
                self.text(&t, false);
                self.last_end = Some(range.end);
            }
            Event::SoftBreak | Event::HardBreak => {
                self.open = false;
                self.begin_line(true);
            }
            Event::Rule => {
                self.block(range.start);
                self.kind = Kind::Rule;
                self.begin_line(false);
                self.kind = Kind::Text;
                self.open = false;
                self.last_end = Some(range.end);
            }
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }, false),
        }
    }

    fn start(&mut self, tag: Tag<'_>, at: usize) {
        match tag {
            Tag::Paragraph => self.block(at),
            Tag::BlockQuote(_) => {
                self.block(at);
                self.quote += 1;
            }
            Tag::List(first) => {
                self.block(at);
                self.lists.push((first, 0));
            }
            Tag::HtmlBlock => {
                self.block(at);
                self.html = Some(String::new());
            }
            Tag::Heading { level, .. } => {
                self.block(at);
                self.kind = Kind::Heading(heading_level(level));
            }
            Tag::CodeBlock(kind) => {
                self.block(at);
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or_default().to_owned(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((String::new(), lang));
            }
            Tag::Item => {
                self.block(at);
                let marker = match self.lists.last_mut() {
                    Some((Some(next), _)) => {
                        let m = format!("{next}. ");
                        *next = next.saturating_add(1);
                        m
                    }
                    _ => "• ".to_owned(),
                };
                let own = self.lists.last().map_or(0, |l| l.1);
                if self.pending.is_empty() {
                    self.pending = Self::spaces(self.indent - own);
                }
                self.pending.push_str(&marker);
                if let Some(list) = self.lists.last_mut() {
                    list.1 = marker.chars().count();
                    self.indent = self.indent - own + list.1;
                }
            }
            Tag::Emphasis => self.push_mark(Some(Mark::Italic)),
            Tag::Strong => self.push_mark(Some(Mark::Bold)),
            Tag::Strikethrough => self.push_mark(Some(Mark::Strike)),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                let link = Link { url: dest_url.into_string(), label: String::new() };
                if self.link.is_some() {
                    self.nested_links += 1;
                    self.push_mark(None);
                } else if safe_url(&link.url) {
                    self.doc.links.push(link);
                    let i = self.doc.links.len() - 1;
                    self.link = Some(OpenLink::Shown(i));
                    self.push_mark(Some(Mark::Link(i)));
                } else {
                    self.link = Some(OpenLink::AsText(link));
                    self.push_mark(None);
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, at: usize) {
        match tag {
            TagEnd::Paragraph | TagEnd::Heading(_) => {
                self.open = false;
                self.kind = Kind::Text;
            }
            TagEnd::BlockQuote(_) => {
                self.open = false;
                self.quote = self.quote.saturating_sub(1);
            }
            TagEnd::List(_) => {
                self.open = false;
                if let Some((_, width)) = self.lists.pop() {
                    self.indent -= width;
                }
            }
            TagEnd::Item => {
                if !self.pending.is_empty() {
                    // An empty item still shows its marker.
                    self.begin_line(false);
                }
                self.open = false;
            }
            TagEnd::CodeBlock => {
                if let Some((text, lang)) = self.code.take() {
                    self.doc.langs.push(lang);
                    self.block_lines(&text, Kind::Code(self.doc.langs.len() - 1));
                }
                self.last_end = Some(at);
            }
            TagEnd::HtmlBlock => {
                if let Some(html) = self.html.take() {
                    self.block_lines(&html, Kind::Text);
                }
                self.last_end = Some(at);
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => self.pop_mark(),
            TagEnd::Link | TagEnd::Image if self.nested_links > 0 => {
                self.nested_links -= 1;
                self.pop_mark();
            }
            TagEnd::Link | TagEnd::Image => {
                // A link with no text shows its URL.
                if let Some(OpenLink::Shown(i)) = self.link
                    && let Some(url) = self.doc.links.get(i).filter(|l| l.label.is_empty()).map(|l| l.url.clone())
                {
                    self.text(&url, false);
                }
                self.pop_mark();
                if let Some(OpenLink::AsText(link)) = self.link.take()
                    && !link.url.is_empty()
                    && !link.shows_url()
                {
                    let suffix = if link.label.is_empty() { link.url.clone() } else { format!(" ({})", link.url) };
                    self.text(&suffix, false);
                }
            }
            _ => {}
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Parses `md` (CommonMark with `~~strike~~`; no tables, footnotes or raw HTML: HTML is text).
fn parse(md: &str) -> Doc {
    let mut b = Builder::new(md);
    for (event, range) in Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH).into_offset_iter() {
        b.event(event, range);
    }
    b.doc
}

/// `md` (CommonMark with `~~strike~~`) rendered for `flavor`: one string, lines separated by
/// `\n`, shaped as [`Flavor`] says. Not cut to any length.
pub fn render_markdown(md: &str, flavor: Flavor) -> String {
    let doc = parse(md);
    match flavor {
        Flavor::TelegramHtml => join_html(&telegram_lines(&doc, usize::MAX)),
        _ => render_text(&doc, flavor),
    }
}

/// `text` in `format` written for `flavor`: plain text escaped ([`escape_for`]), Markdown
/// rendered ([`render_markdown`]); HTML passed through for Telegram (which reads the same tags)
/// and reduced to its text, escaped, for every other flavor.
pub fn format_for(format: crate::domain::Format, text: &str, flavor: Flavor) -> String {
    use crate::domain::Format;
    match (format, flavor) {
        (Format::Text, _) => escape_for(flavor, text),
        (Format::Markdown, _) => render_markdown(text, flavor),
        (Format::Html, Flavor::TelegramHtml) => text.to_owned(),
        (Format::Html, _) => escape_for(flavor, &crate::text::message::strip_tags(text)),
    }
}

/// Markdown as Telegram HTML ([`Flavor::TelegramHtml`]): `**bold**`, `*italic*` / `_italic_`,
/// `~~strike~~`, `` `code` ``, fenced and indented code blocks, `[text](https://url)`, quotes,
/// lists and headings; everything else is escaped text.
pub fn markdown_to_html(md: &str) -> String {
    render_markdown(md, Flavor::TelegramHtml)
}

// ---- Telegram HTML ----

/// A Telegram tag around text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TgTag {
    Mark(Mark),
    Code,
}

/// Telegram's tags, each link's opening tag written once per document.
struct TgTags {
    /// Each link's `<a href="…">` and its length in UTF-16 units.
    link_open: Vec<(String, usize)>,
}

impl TgTags {
    fn new(doc: &Doc) -> Self {
        let link_open = doc.links.iter().map(|l| format!("<a href=\"{}\">", escape_html(&l.url))).map(|t| {
            let units = utf16_len(&t);
            (t, units)
        });
        Self { link_open: link_open.collect() }
    }

    fn open(&self, t: TgTag) -> &str {
        match t {
            TgTag::Mark(Mark::Bold) => "<b>",
            TgTag::Mark(Mark::Italic) => "<i>",
            TgTag::Mark(Mark::Strike) => "<s>",
            TgTag::Mark(Mark::Link(i)) => self.link_open.get(i).map_or("<a>", |(t, _)| t.as_str()),
            TgTag::Code => "<code>",
        }
    }

    /// The UTF-16 length of [`TgTags::open`].
    fn open_units(&self, t: TgTag) -> usize {
        match t {
            TgTag::Mark(Mark::Link(i)) => self.link_open.get(i).map_or(3, |(_, units)| *units),
            _ => self.open(t).len(),
        }
    }

    fn close(t: TgTag) -> &'static str {
        match t {
            TgTag::Mark(Mark::Bold) => "</b>",
            TgTag::Mark(Mark::Italic) => "</i>",
            TgTag::Mark(Mark::Strike) => "</s>",
            TgTag::Mark(Mark::Link(_)) => "</a>",
            TgTag::Code => "</code>",
        }
    }

    /// The tags a run of a line of `kind` is written in, outermost first.
    fn of(run: &Run, kind: Kind) -> Vec<TgTag> {
        let mut tags = Vec::with_capacity(run.marks.len() + 2);
        if matches!(kind, Kind::Heading(_)) && !run.marks.contains(&Mark::Bold) {
            tags.push(TgTag::Mark(Mark::Bold));
        }
        tags.extend(run.marks.iter().map(|&m| TgTag::Mark(m)));
        // Telegram nests no entity but bold, italic and strike in a link.
        if run.code && !run.marks.iter().any(|m| matches!(m, Mark::Link(_))) {
            tags.push(TgTag::Code);
        }
        tags
    }
}

/// One piece of a line's HTML being written: what it holds, its length in UTF-16 units and
/// the tags still open.
struct HtmlPart<'a> {
    tags: &'a TgTags,
    html: String,
    len: usize,
    open: Vec<TgTag>,
}

impl<'a> HtmlPart<'a> {
    fn new(tags: &'a TgTags) -> Self {
        Self { tags, html: String::new(), len: 0, open: Vec::new() }
    }

    /// UTF-16 units that writing `units` of text under `want` adds, counting the closing tags
    /// that the piece then needs.
    fn cost(&self, want: &[TgTag], units: usize) -> usize {
        let keep = self.open.iter().zip(want).take_while(|(a, b)| a == b).count();
        let close = |ts: &[TgTag]| ts.iter().map(|&t| TgTags::close(t).len()).sum::<usize>();
        close(&self.open[keep..]) + want[keep..].iter().map(|&t| self.tags.open_units(t)).sum::<usize>() + units + close(want)
    }

    /// Writes `text`, already escaped and `units` long, under `want`.
    fn push(&mut self, want: &[TgTag], text: &str, units: usize) {
        let keep = self.open.iter().zip(want).take_while(|(a, b)| a == b).count();
        while self.open.len() > keep {
            if let Some(t) = self.open.pop() {
                self.html.push_str(TgTags::close(t));
                self.len += TgTags::close(t).len();
            }
        }
        for &t in &want[keep..] {
            self.html.push_str(self.tags.open(t));
            self.len += self.tags.open_units(t);
            self.open.push(t);
        }
        self.html.push_str(text);
        self.len += units;
    }

    fn finish(mut self) -> String {
        while let Some(t) = self.open.pop() {
            self.html.push_str(TgTags::close(t));
        }
        self.html
    }
}

/// A text line's HTML, in parts of at most `max` UTF-16 units each (one part when it fits):
/// each part closes the tags it opened and the next opens them again. A character that cannot
/// fit a part with its tags (a link whose URL is near the limit) is written without them.
fn telegram_parts(line: &Line, tags: &TgTags, max: usize) -> Vec<String> {
    let mut whole = HtmlPart::new(tags);
    let prefix = escape_html(&line.prefix);
    whole.push(&[], &prefix, utf16_len(&prefix));
    let rule = [Run { text: "———".to_owned(), marks: Vec::new(), code: false }];
    let runs = if line.kind == Kind::Rule { &rule[..] } else { &line.runs[..] };
    for run in runs {
        work(run.text.len() + 1);
        let text = escape_html(&run.text);
        whole.push(&TgTags::of(run, line.kind), &text, utf16_len(&text));
    }
    if whole.len + whole.cost(&[], 0) <= max {
        return vec![whole.finish()];
    }
    let mut cut = Cutter { tags, max, parts: Vec::new(), part: HtmlPart::new(tags), buf: String::new() };
    line.prefix.chars().for_each(|c| cut.push(c, &[]));
    for run in runs {
        let want = TgTags::of(run, line.kind);
        run.text.chars().for_each(|c| cut.push(c, &want));
    }
    if !cut.part.html.is_empty() {
        cut.parts.push(cut.part.finish());
    }
    cut.parts
}

/// Cuts a line's HTML into parts, a character at a time (for [`telegram_parts`]).
struct Cutter<'a> {
    tags: &'a TgTags,
    max: usize,
    parts: Vec<String>,
    part: HtmlPart<'a>,
    buf: String,
}

impl Cutter<'_> {
    fn push(&mut self, c: char, want: &[TgTag]) {
        work(1 + want.len());
        self.buf.clear();
        push_escaped(&mut self.buf, c);
        let units = utf16_len(&self.buf);
        if !self.part.html.is_empty() && self.part.len + self.part.cost(want, units) > self.max {
            let done = std::mem::replace(&mut self.part, HtmlPart::new(self.tags));
            self.parts.push(done.finish());
        }
        let want = if self.part.len + self.part.cost(want, units) > self.max { &[] } else { want };
        self.part.push(want, &self.buf, units);
    }
}

const QUOTE_OPEN: &str = "<blockquote>";
const QUOTE_CLOSE: &str = "</blockquote>";

/// The document as lines of Telegram HTML, each within `max` UTF-16 units (see
/// [`markdown_lines`]): code lines escaped and marked `pre`; a run of quoted lines as one
/// `<blockquote>` (several when it is longer than `max`); a text line longer than `max` in
/// `cont` parts.
fn telegram_lines(doc: &Doc, max: usize) -> Vec<HtmlLine> {
    let tags = TgTags::new(doc);
    let wrap = QUOTE_OPEN.len() + QUOTE_CLOSE.len();
    let mut out = Vec::new();
    let mut lines = doc.lines.iter().peekable();
    while let Some(line) = lines.next() {
        if let Kind::Code(_) = line.kind {
            let text: String = line.runs.iter().map(|r| r.text.as_str()).collect();
            work(text.len() + 1);
            out.push(HtmlLine { html: escape_html(&text), pre: true, cont: false, cuttable: true });
            continue;
        }
        if !line.quote {
            for (i, html) in telegram_parts(line, &tags, max).into_iter().enumerate() {
                out.push(HtmlLine { html, pre: false, cont: i > 0, cuttable: false });
            }
            continue;
        }
        // Quoted lines, until the quote ends (or a code block in it: Telegram nests no `<pre>`
        // in a quote), gathered into quotes of at most `max`.
        let mut body = String::new();
        let mut used = 0;
        let mut first_cont = false;
        let mut quoted = Some(line);
        while let Some(l) = quoted {
            for (i, html) in telegram_parts(l, &tags, max.saturating_sub(wrap)).into_iter().enumerate() {
                let cont = i > 0;
                let units = utf16_len(&html);
                let sep = usize::from(!body.is_empty() && !cont);
                if !body.is_empty() && used + sep + units + wrap > max {
                    flush_quote(&mut body, first_cont, &mut out);
                    used = 0;
                }
                if body.is_empty() {
                    if html.is_empty() {
                        continue;
                    }
                    first_cont = cont;
                } else if !cont {
                    body.push('\n');
                    used += 1;
                }
                body.push_str(&html);
                used += units;
            }
            quoted = lines.next_if(|n| n.quote && !matches!(n.kind, Kind::Code(_)));
        }
        flush_quote(&mut body, first_cont, &mut out);
    }
    out
}

/// Ends a quote of [`telegram_lines`] (none when it shows nothing).
fn flush_quote(body: &mut String, cont: bool, out: &mut Vec<HtmlLine>) {
    if !body.trim().is_empty() {
        out.push(HtmlLine { html: format!("{QUOTE_OPEN}{body}{QUOTE_CLOSE}"), pre: false, cont, cuttable: false });
    }
    body.clear();
}

/// Lines of HTML as one text: joined with newlines (none before a `cont` line), each run of
/// `pre` lines in one `<pre>…</pre>`.
fn join_html(lines: &[HtmlLine]) -> String {
    let mut out = String::new();
    let mut in_pre = false;
    for (i, line) in lines.iter().enumerate() {
        if in_pre && !line.pre {
            out.push_str(PRE_CLOSE);
            in_pre = false;
        }
        if i > 0 && !line.cont {
            out.push('\n');
        }
        if line.pre && !in_pre {
            out.push_str(PRE_OPEN);
            in_pre = true;
        }
        out.push_str(&line.html);
    }
    if in_pre {
        out.push_str(PRE_CLOSE);
    }
    out
}

/// Markdown (as [`markdown_to_html`] reads it) as lines of Telegram HTML for [`pack_html`], each
/// within `max` UTF-16 units and valid by itself: code-block lines escaped and marked `pre`
/// (`cuttable`); the lines of a quote as one `<blockquote>` line (split into several quotes
/// when longer); any other line with its tags, cut into `cont` parts when its HTML is longer
/// than `max` (each part closes the tags it opens; nothing visible is lost).
pub fn markdown_lines(md: &str, max: usize) -> Vec<HtmlLine> {
    telegram_lines(&parse(md), max)
}

// ---- Slack mrkdwn, Markdown, WeCom markdown and plain text ----

/// Percent-encodes what would end a link's destination in `flavor`'s syntax (spaces, brackets,
/// `|` for Slack); other characters are as the source gave them.
fn link_url(url: &str, flavor: Flavor) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '(' if flavor != Flavor::SlackMrkdwn => out.push_str("%28"),
            ')' if flavor != Flavor::SlackMrkdwn => out.push_str("%29"),
            '\\' if flavor != Flavor::SlackMrkdwn => out.push_str("%5C"),
            '|' if flavor == Flavor::SlackMrkdwn => out.push_str("%7C"),
            '&' if flavor == Flavor::SlackMrkdwn => out.push_str("&amp;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes runs of text for the flavors other than Telegram.
struct TextWriter<'a> {
    flavor: Flavor,
    doc: &'a Doc,
}

impl TextWriter<'_> {
    /// Link `i` shows its own URL (an autolink), which Slack writes as `<url>` and Markdown as
    /// the bare URL (Discord reads `[url](url)` as a suspicious masked link).
    fn bare(&self, i: usize) -> bool {
        matches!(self.flavor, Flavor::SlackMrkdwn | Flavor::Markdown) && self.doc.links.get(i).is_some_and(Link::shows_url)
    }

    /// The marks `run` is written with in this flavor: Slack and WeCom put none inside a link,
    /// WeCom has only bold and links, plain text keeps links only (for their URL).
    fn marks(&self, run: &Run, kind: Kind) -> Vec<Mark> {
        let mut marks = Vec::with_capacity(run.marks.len() + 1);
        if self.flavor == Flavor::SlackMrkdwn && matches!(kind, Kind::Heading(_)) {
            marks.push(Mark::Bold);
        }
        for &m in &run.marks {
            let shown = match (self.flavor, m) {
                (Flavor::Plain, Mark::Link(_)) | (Flavor::WecomMarkdown, Mark::Bold | Mark::Link(_)) => true,
                (Flavor::Plain | Flavor::WecomMarkdown, _) => false,
                (_, m) => !marks.contains(&m),
            };
            if shown {
                marks.push(m);
            }
            if matches!(m, Mark::Link(_)) && matches!(self.flavor, Flavor::SlackMrkdwn | Flavor::WecomMarkdown) {
                break;
            }
        }
        marks
    }

    fn open(&self, out: &mut String, m: Mark) {
        match (self.flavor, m) {
            (Flavor::SlackMrkdwn, Mark::Bold) => out.push('*'),
            (Flavor::SlackMrkdwn, Mark::Italic) => out.push('_'),
            (Flavor::SlackMrkdwn, Mark::Strike) => out.push('~'),
            (Flavor::SlackMrkdwn, Mark::Link(i)) => {
                out.push('<');
                out.push_str(&link_url(self.doc.links.get(i).map_or("", |l| &l.url), self.flavor));
                if !self.bare(i) {
                    out.push('|');
                }
            }
            (Flavor::Markdown | Flavor::WecomMarkdown, Mark::Bold) => out.push_str("**"),
            (Flavor::Markdown, Mark::Italic) => out.push('*'),
            (Flavor::Markdown, Mark::Strike) => out.push_str("~~"),
            (Flavor::Markdown, Mark::Link(i)) if self.bare(i) => {}
            (Flavor::Markdown | Flavor::WecomMarkdown, Mark::Link(_)) => out.push('['),
            _ => {}
        }
    }

    fn close(&self, out: &mut String, m: Mark) {
        match (self.flavor, m) {
            (Flavor::SlackMrkdwn, Mark::Link(_)) => out.push('>'),
            (Flavor::Markdown, Mark::Link(i)) if self.bare(i) => {}
            (Flavor::Markdown | Flavor::WecomMarkdown, Mark::Link(i)) => {
                out.push_str("](");
                out.push_str(&link_url(self.doc.links.get(i).map_or("", |l| &l.url), self.flavor));
                out.push(')');
            }
            (Flavor::Plain, Mark::Link(i)) => {
                if let Some(link) = self.doc.links.get(i).filter(|l| !l.shows_url()) {
                    out.push_str(" (");
                    out.push_str(&link.url);
                    out.push(')');
                }
            }
            _ => self.open(out, m),
        }
    }

    /// Text, escaped; `line_start`: it begins the line's content.
    fn text(&self, out: &mut String, s: &str, line_start: bool) {
        match self.flavor {
            Flavor::SlackMrkdwn => push_slack(out, s),
            Flavor::Markdown => push_markdown(out, s, line_start),
            Flavor::WecomMarkdown => push_wecom(out, s, line_start),
            Flavor::TelegramHtml => s.chars().for_each(|c| push_escaped(out, c)),
            Flavor::Plain => out.push_str(s),
        }
    }

    /// A code span.
    fn code(&self, out: &mut String, s: &str) {
        match self.flavor {
            Flavor::SlackMrkdwn => {
                out.push('`');
                push_slack(out, s);
                out.push('`');
            }
            Flavor::Markdown | Flavor::WecomMarkdown => {
                // A fence longer than any run of backticks inside, padded when the code starts
                // or ends with one (CommonMark's code spans; Discord reads them alike).
                let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
                let fence = "`".repeat(longest + 1);
                let pad = if s.starts_with('`') || s.ends_with('`') || (s.starts_with(' ') && s.ends_with(' ')) { " " } else { "" };
                out.push_str(&fence);
                out.push_str(pad);
                out.push_str(s);
                out.push_str(pad);
                out.push_str(&fence);
            }
            Flavor::TelegramHtml | Flavor::Plain => out.push_str(s),
        }
    }

    /// A line's runs, each under its marks (closing and opening only what changes between runs).
    fn runs(&self, out: &mut String, line: &Line) {
        let mut open: Vec<Mark> = Vec::new();
        let mut at_start = true;
        for run in &line.runs {
            work(run.text.len() + 1);
            let want = self.marks(run, line.kind);
            let keep = open.iter().zip(&want).take_while(|(a, b)| a == b).count();
            while open.len() > keep {
                if let Some(m) = open.pop() {
                    self.close(out, m);
                }
            }
            for &m in &want[keep..] {
                self.open(out, m);
                open.push(m);
                at_start = false;
            }
            let in_link = want.iter().any(|m| matches!(m, Mark::Link(_)));
            if self.flavor == Flavor::SlackMrkdwn && want.iter().any(|m| matches!(m, Mark::Link(i) if self.bare(*i))) {
                // `<url>` shows the URL: the label (the same URL) is not written again.
                continue;
            }
            if run.code && !(in_link && matches!(self.flavor, Flavor::SlackMrkdwn | Flavor::WecomMarkdown)) {
                self.code(out, &run.text);
            } else {
                self.text(out, &run.text, at_start);
            }
            at_start = false;
        }
        while let Some(m) = open.pop() {
            self.close(out, m);
        }
    }
}

/// The document in a flavor other than Telegram's.
fn render_text(doc: &Doc, flavor: Flavor) -> String {
    let w = TextWriter { flavor, doc };
    let fences = matches!(flavor, Flavor::SlackMrkdwn | Flavor::Markdown);
    let mut out = String::new();
    // The open code fence: its block, its backticks and what starts its lines (quote, indent).
    let mut fence: Option<(usize, String, String)> = None;
    for (i, line) in doc.lines.iter().enumerate() {
        let quote = match (line.quote, line.runs.is_empty() && line.prefix.is_empty()) {
            (false, _) => "",
            (true, true) => ">",
            (true, false) => "> ",
        };
        let prefix = if flavor == Flavor::Markdown { line.prefix.replace('•', "-") } else { line.prefix.clone() };
        if let Some((id, ticks, lead)) = &fence
            && line.kind != Kind::Code(*id)
        {
            out.push('\n');
            out.push_str(lead);
            out.push_str(ticks);
            fence = None;
        }
        if i > 0 {
            out.push('\n');
        }
        out.push_str(quote);
        match line.kind {
            Kind::Code(id) => {
                let text: String = line.runs.iter().map(|r| r.text.as_str()).collect();
                work(text.len() + 1);
                if fences && fence.is_none() {
                    // Longer than any run of backticks in the block, as CommonMark reads fences.
                    let longest = doc.lines[i..]
                        .iter()
                        .take_while(|l| l.kind == line.kind)
                        .flat_map(|l| l.runs.iter())
                        .flat_map(|r| r.text.split(|c| c != '`'))
                        .map(str::len)
                        .max()
                        .unwrap_or(0);
                    let ticks = "`".repeat(longest.max(2) + 1);
                    out.push_str(&prefix);
                    out.push_str(&ticks);
                    if flavor == Flavor::Markdown {
                        let lang = doc.langs.get(id).map_or("", String::as_str);
                        out.extend(lang.chars().filter(|c| c.is_ascii_alphanumeric() || "_+-.#".contains(*c)));
                    }
                    let lead = format!("{quote}{}", " ".repeat(prefix.chars().count()));
                    out.push('\n');
                    out.push_str(&lead);
                    fence = Some((id, ticks, lead));
                } else {
                    out.push_str(&prefix);
                }
                match flavor {
                    Flavor::SlackMrkdwn => push_slack(&mut out, &text),
                    Flavor::WecomMarkdown => push_wecom(&mut out, &text, true),
                    _ => out.push_str(&text),
                }
            }
            Kind::Rule => {
                out.push_str(&prefix);
                out.push_str("———");
            }
            Kind::Heading(level) => {
                out.push_str(&prefix);
                let hashes = match flavor {
                    Flavor::Markdown => level.min(3),
                    Flavor::WecomMarkdown => level,
                    _ => 0,
                };
                if hashes > 0 {
                    out.push_str(&"#".repeat(usize::from(hashes)));
                    out.push(' ');
                }
                w.runs(&mut out, line);
            }
            Kind::Text => {
                out.push_str(&prefix);
                w.runs(&mut out, line);
            }
        }
    }
    if let Some((_, ticks, lead)) = fence {
        out.push('\n');
        out.push_str(&lead);
        out.push_str(&ticks);
    }
    out
}

/// Splits `text` into pieces of at most `max` units (as measured by `len`), at line boundaries
/// where it can, else at character boundaries. The pieces, concatenated, are `text`. `len` must
/// be additive (the length of a concatenation is the sum of the lengths: bytes, UTF-16 units,
/// escaped length); each line and character is measured once, so the time is linear.
pub fn split(text: &str, max: usize, len: impl Fn(&str) -> usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for line in text.split_inclusive('\n') {
        work(line.len());
        let n = len(line);
        if used + n <= max {
            current.push_str(line);
            used += n;
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        if n <= max {
            current.push_str(line);
            used = n;
            continue;
        }
        // A line longer than a piece: cut it by characters.
        for c in line.chars() {
            work(1);
            let mut buf = [0u8; 4];
            let w = len(c.encode_utf8(&mut buf));
            if used + w > max && !current.is_empty() {
                parts.push(std::mem::take(&mut current));
                used = 0;
            }
            current.push(c);
            used += w;
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// The length of `s` in characters (Unicode scalar values), as Slack, Discord, Synology Chat and
/// VoceChat count a text's length (additive, for [`split`]).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub fn cut_chars(s: &str, max: usize) -> String {
    if char_len(s) <= max { s.to_owned() } else { format!("{}…", s.chars().take(max.saturating_sub(1)).collect::<String>()) }
}

/// The UTF-16 length `s` has once escaped by [`escape_html`] (additive, for [`split`]).
pub fn escaped_utf16_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '&' => 5,
            '<' | '>' => 4,
            '"' => 6,
            c => c.len_utf16(),
        })
        .sum()
}

/// One rendered line of HTML for [`pack_html`]: its markup is balanced within the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlLine {
    /// The line's HTML, without its newline (a quote of several lines holds theirs).
    pub html: String,
    /// Inside a code block: the packer wraps each run of such lines in `<pre>…</pre>`.
    pub pre: bool,
    /// Continues the previous line (a long line cut in pieces): joined without a newline.
    pub cont: bool,
    /// Escaped text only (no tags): the packer may cut it anywhere but inside an entity.
    pub cuttable: bool,
}

/// Whether `s` is at most `limit` UTF-16 units long, reading no further than that.
fn utf16_within(s: &str, limit: usize) -> bool {
    let mut n = 0;
    for c in s.chars() {
        work(1);
        n += c.len_utf16();
        if n > limit {
            return false;
        }
    }
    true
}

/// The longest prefix of escaped text `html` within `room` UTF-16 units that does not end
/// inside an entity (`&amp;`), and the rest. Scans no further than the prefix.
fn cut_escaped_at(html: &str, room: usize) -> (&str, &str) {
    let mut used = 0;
    let mut safe = 0;
    let mut in_entity = false;
    for (i, c) in html.char_indices() {
        work(1);
        if !in_entity {
            safe = i;
        }
        used += c.len_utf16();
        if used > room {
            return html.split_at(if in_entity { safe } else { i });
        }
        match c {
            '&' => in_entity = true,
            ';' => in_entity = false,
            _ => {}
        }
    }
    (html, "")
}

/// Plain text as lines of escaped HTML (any length: [`pack_html`] cuts them).
pub fn text_lines(text: &str) -> Vec<HtmlLine> {
    text.split('\n').map(|line| HtmlLine { html: escape_html(line), pre: false, cont: false, cuttable: true }).collect()
}

const PRE_OPEN: &str = "<pre>";
const PRE_CLOSE: &str = "</pre>";

struct Packer {
    max: usize,
    pieces: Vec<String>,
    current: String,
    used: usize,
    in_pre: bool,
    /// Nothing but a carried-over newline in `current` yet.
    empty: bool,
}

impl Packer {
    fn put(&mut self, html: &str, sep: usize, pre: bool) {
        if self.in_pre && !pre {
            self.current.push_str(PRE_CLOSE);
            self.in_pre = false;
        }
        if sep == 1 {
            self.current.push('\n');
            self.used += 1;
        }
        if pre && !self.in_pre {
            self.current.push_str(PRE_OPEN);
            self.used += utf16_len(PRE_OPEN) + utf16_len(PRE_CLOSE);
            self.in_pre = true;
        }
        work(html.len());
        self.current.push_str(html);
        self.used += utf16_len(html);
        self.empty = false;
    }

    /// Ends the current piece; `newline`: it was cut between two lines, and the newline goes at
    /// its end (or, when it is full, at the start of the next).
    fn flush(&mut self, newline: bool) {
        if self.in_pre {
            self.current.push_str(PRE_CLOSE);
            self.in_pre = false;
        }
        let carry = newline && self.used + 1 > self.max;
        if newline && !carry {
            self.current.push('\n');
        }
        self.pieces.push(std::mem::take(&mut self.current));
        self.used = 0;
        if carry {
            self.current.push('\n');
            self.used = 1;
        }
        self.empty = true;
    }
}

/// Packs rendered lines into as few pieces as fit `max` UTF-16 units each: lines joined with
/// newlines (a piece cut between two lines carries that newline), runs of `pre` lines wrapped
/// in `<pre>…</pre>` (reopened in the next piece when a run is cut), `cuttable` lines cut
/// where the room ends. A line that is not cuttable must fit `max - 11` by itself (what
/// [`markdown_lines`] produces for that budget). No piece is only whitespace. Linear time.
pub fn pack_html(lines: &[HtmlLine], max: usize) -> Vec<String> {
    let wrap = utf16_len(PRE_OPEN) + utf16_len(PRE_CLOSE);
    let mut p = Packer { max, pieces: Vec::new(), current: String::new(), used: 0, in_pre: false, empty: true };
    for line in lines {
        let mut rest: &str = &line.html;
        let mut cont = line.cont;
        loop {
            let sep = usize::from(!p.empty && !cont);
            let open = if line.pre && !p.in_pre { wrap } else { 0 };
            // Measured only as far as the room: a long line is not re-measured whole per piece.
            let need = p.used + sep + open;
            let room = max.saturating_sub(need);
            if need <= max && utf16_within(rest, room) {
                p.put(rest, sep, line.pre);
                break;
            }
            if line.cuttable && room > 0 {
                let (head, tail) = cut_escaped_at(rest, room);
                if !head.is_empty() {
                    p.put(head, sep, line.pre);
                    p.flush(false);
                    rest = tail;
                    cont = true;
                    continue;
                }
            }
            if p.empty {
                // Too long even alone (a caller broke the precondition): sent as it is.
                p.put(rest, 0, line.pre);
                break;
            }
            p.flush(!cont);
            cont = true;
        }
    }
    if !p.empty {
        p.flush(false);
    }
    p.pieces.retain(|piece| !piece.trim().is_empty());
    p.pieces
}

/// Length in UTF-16 code units (how Telegram counts).
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a chat shows of Telegram HTML (tags dropped, the four entities decoded), after
    /// checking that every tag is one Telegram takes and that they nest and close.
    fn shown(html: &str) -> String {
        let mut open: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut rest = html;
        while let Some(i) = rest.find('<') {
            text.push_str(&rest[..i]);
            let end = rest[i..].find('>').map(|e| i + e).unwrap_or_else(|| panic!("unclosed tag in {html:?}"));
            let tag = &rest[i + 1..end];
            match tag.strip_prefix('/') {
                Some(name) => assert_eq!(open.pop().as_deref(), Some(name), "{html:?}"),
                None => {
                    let name = tag.split(' ').next().unwrap_or_default();
                    assert!(["b", "i", "s", "code", "pre", "a", "blockquote"].contains(&name), "{name} in {html:?}");
                    assert!(name == "a" || tag == name, "attributes on {tag} in {html:?}");
                    open.push(name.to_owned());
                }
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "{html:?} leaves {open:?} open");
        text.push_str(rest);
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
    }

    #[test]
    fn escapes_what_html_would_read_as_markup() {
        assert_eq!(escape_html("a < b & c > \"d\""), "a &lt; b &amp; c &gt; &quot;d&quot;");
    }

    #[test]
    fn renders_markdown_as_telegram_html_and_escapes_the_rest() {
        assert_eq!(markdown_to_html("**Disk** is *full* on `n1` <b>"), "<b>Disk</b> is <i>full</i> on <code>n1</code> &lt;b&gt;");
        assert_eq!(markdown_to_html("see [the docs](https://x.test/a?b=1&c=2)"), "see <a href=\"https://x.test/a?b=1&amp;c=2\">the docs</a>");
        assert_eq!(markdown_to_html("[bad](javascript:alert(1))"), "bad (javascript:alert(1))");
        assert_eq!(markdown_to_html("```\nx < y\n```"), "<pre>x &lt; y</pre>");
        assert_eq!(markdown_to_html("snake_case_name and 2 * 3"), "snake_case_name and 2 * 3");
        assert_eq!(markdown_to_html("_quiet_ please"), "<i>quiet</i> please");
        assert_eq!(markdown_to_html("a & b &amp; 1 < 2"), "a &amp; b &amp; 1 &lt; 2");
    }

    #[test]
    fn telegram_html_has_blocks_as_lines() {
        let md = "# Disk full\non **n1** and ~~n2~~\n\n- one\n- *two*\n  1. deep\n\n> quoted\n> still\n\n---\n```rust\nfn main() {}\n```\nafter";
        assert_eq!(
            markdown_to_html(md),
            "<b>Disk full</b>\non <b>n1</b> and <s>n2</s>\n\n• one\n• <i>two</i>\n  1. deep\n\n<blockquote>quoted\nstill</blockquote>\n\n———\n<pre>fn main() {}</pre>\nafter"
        );
    }

    #[test]
    fn telegram_html_nests_emphasis_and_keeps_code_out_of_links() {
        assert_eq!(markdown_to_html("***both** then italic*"), "<i><b>both</b> then italic</i>");
        assert_eq!(markdown_to_html("**a *b* c**"), "<b>a <i>b</i> c</b>");
        assert_eq!(markdown_to_html("**a **b** c**"), "<b>a b c</b>");
        assert_eq!(markdown_to_html("[`run` **now**](https://e.test/)"), "<a href=\"https://e.test/\">run <b>now</b></a>");
        // An image shows as a link to it; one inside a link is part of its label.
        assert_eq!(markdown_to_html("![chart](https://e.test/c.png)"), "<a href=\"https://e.test/c.png\">chart</a>");
        assert_eq!(markdown_to_html("[![c](https://e.test/c.png)](https://e.test/)"), "<a href=\"https://e.test/\">c</a>");
    }

    #[test]
    fn a_link_url_with_quotes_or_brackets_stays_inside_its_attribute() {
        let md = "[x](https://e.test/?q=\"a\">b)";
        assert_eq!(markdown_to_html(md), "<a href=\"https://e.test/?q=&quot;a&quot;&gt;b\">x</a>");
        assert_eq!(render_markdown(md, Flavor::SlackMrkdwn), "<https://e.test/?q=\"a\"%3Eb|x>");
        assert_eq!(render_markdown(md, Flavor::Markdown), "[x](https://e.test/?q=\"a\"%3Eb)");
        assert_eq!(render_markdown(md, Flavor::WecomMarkdown), "[x](https://e.test/?q=\"a\"%3Eb)");
        assert_eq!(render_markdown(md, Flavor::Plain), "x (https://e.test/?q=\"a\">b)");
        // Spaces and parentheses (allowed in `<…>` destinations) cannot end a Markdown link.
        assert_eq!(render_markdown("[x](<https://e.test/a b(c)>)", Flavor::Markdown), "[x](https://e.test/a%20b%28c%29)");
    }

    #[test]
    fn slack_mrkdwn_marks_links_and_escapes() {
        let md = "**b** _i_ ~~s~~ `c<d>` [l](https://e.test/?a=1&b=2) <x> & \\* \\_";
        assert_eq!(render_markdown(md, Flavor::SlackMrkdwn), "*b* _i_ ~s~ `c&lt;d&gt;` <https://e.test/?a=1&amp;b=2|l> &lt;x&gt; &amp; * _");
        assert_eq!(render_markdown("**a _b_ c**", Flavor::SlackMrkdwn), "*a _b_ c*");
        // Slack shows no marks inside a link's label.
        assert_eq!(render_markdown("[**x** `y`](https://e.test/)", Flavor::SlackMrkdwn), "<https://e.test/|x y>");
        assert_eq!(render_markdown("# Title\n- a\n\n> q", Flavor::SlackMrkdwn), "*Title*\n• a\n\n> q");
        assert_eq!(render_markdown("```\na < b\n```", Flavor::SlackMrkdwn), "```\na &lt; b\n```");
        assert_eq!(escape_for(Flavor::SlackMrkdwn, "a<b>&c*"), "a&lt;b&gt;&amp;c*");
    }

    #[test]
    fn markdown_escapes_discord_specials_in_text() {
        let md = "a \\* b \\_ c < d & e &amp;x \\| \\~ \\` \\[f\\]";
        assert_eq!(render_markdown(md, Flavor::Markdown), "a \\* b \\_ c \\< d & e \\&x \\| \\~ \\` \\[f\\]");
        assert_eq!(render_markdown("\\# not a heading\n\n1\\. not a list", Flavor::Markdown), "\\# not a heading\n\n1\\. not a list");
        assert_eq!(render_markdown("see https://e.test/a_b_c and snake_case", Flavor::Markdown), "see https://e.test/a_b_c and snake\\_case");
        assert_eq!(escape_for(Flavor::Markdown, "- **x**\n# y"), "\\- \\*\\*x\\*\\*\n\\# y");
    }

    #[test]
    fn markdown_writes_marks_blocks_and_code() {
        assert_eq!(render_markdown("***both** then italic* ~~gone~~", Flavor::Markdown), "***both** then italic* ~~gone~~");
        assert_eq!(render_markdown("`a``b` and `` `x` ``", Flavor::Markdown), "```a``b``` and `` `x` ``");
        assert_eq!(render_markdown("```rust\nlet a = \"```\";\n```", Flavor::Markdown), "````rust\nlet a = \"```\";\n````");
        assert_eq!(render_markdown("#### Deep\n- a\n  - b\n1. c\n\n> q", Flavor::Markdown), "### Deep\n- a\n  - b\n1. c\n\n> q");
        assert_eq!(render_markdown("- item\n\n  ```\n  code\n  ```", Flavor::Markdown), "- item\n\n  ```\n  code\n  ```");
    }

    #[test]
    fn wecom_markdown_keeps_its_subset_and_breaks_stray_marks() {
        let md = "## Alert\n**b** *i* ~~s~~ [l](https://e.test/) `c`\n> q";
        assert_eq!(render_markdown(md, Flavor::WecomMarkdown), "## Alert\n**b** i s [l](https://e.test/) `c`\n> q");
        assert_eq!(render_markdown("\\*\\*x\\*\\* \\[a\\](b) <font>", Flavor::WecomMarkdown), "*\u{200B}*x*\u{200B}* [a]\u{200B}(b) <\u{200B}font>");
        assert_eq!(escape_for(Flavor::WecomMarkdown, "# a\n> b"), "\u{200B}# a\n\u{200B}> b");
    }

    #[test]
    fn plain_text_shows_link_urls_once() {
        let md = "**b** [l](https://e.test/) <https://e.test/> `x < y`\n- a\n```\nz & w\n```";
        assert_eq!(render_markdown(md, Flavor::Plain), "b l (https://e.test/) https://e.test/ x < y\n• a\nz & w");
        assert_eq!(escape_for(Flavor::Plain, "*a* <b>"), "*a* <b>");
    }

    #[test]
    fn an_autolink_shows_its_url_once() {
        let md = "<https://e.test/a_b> and [](https://e.test/)";
        assert_eq!(markdown_to_html(md), "<a href=\"https://e.test/a_b\">https://e.test/a_b</a> and <a href=\"https://e.test/\">https://e.test/</a>");
        assert_eq!(render_markdown(md, Flavor::SlackMrkdwn), "<https://e.test/a_b> and <https://e.test/>");
        assert_eq!(render_markdown(md, Flavor::Markdown), "https://e.test/a_b and https://e.test/");
        assert_eq!(render_markdown(md, Flavor::Plain), "https://e.test/a_b and https://e.test/");
        // An e-mail autolink is not a link any target opens: its address is shown once.
        assert_eq!(markdown_to_html("<ops@e.test>"), "ops@e.test");
    }

    #[test]
    fn every_flavor_shows_the_same_words() {
        let md = "# T\n**a** *b* `c` [d](https://e.test/) ~~x~~\n\n> e\n- f\n```\ng\n```";
        for flavor in [Flavor::TelegramHtml, Flavor::SlackMrkdwn, Flavor::Markdown, Flavor::WecomMarkdown, Flavor::Plain] {
            let out = render_markdown(md, flavor);
            let text = if flavor == Flavor::TelegramHtml { shown(&out) } else { out.clone() };
            let words: String = text.replace("https://e.test/", "").chars().filter(|c| c.is_alphanumeric()).collect();
            assert_eq!(words, "Tabcdxefg", "{flavor:?}: {out}");
        }
    }

    #[test]
    fn long_lines_are_cut_into_parts_that_each_close_their_tags() {
        let md = format!("**{}** [{}](https://e.test/)", "bold & ".repeat(40), "link ".repeat(40));
        let lines = markdown_lines(&md, 100);
        assert!(lines.len() > 4 && lines[1..].iter().all(|l| l.cont && !l.pre && !l.cuttable));
        for l in &lines {
            assert!(utf16_len(&l.html) <= 100, "{}", l.html);
        }
        let joined: String = lines.iter().map(|l| shown(&l.html)).collect();
        assert_eq!(joined, shown(&markdown_to_html(&md)));
        // A URL too long for a piece: the label is kept without the link.
        let url = format!("https://e.test/{}", "u".repeat(200));
        let lines = markdown_lines(&format!("[label]({url})"), 100);
        assert_eq!(lines.iter().map(|l| shown(&l.html)).collect::<String>(), "label");
    }

    #[test]
    fn a_long_quote_is_split_into_quotes_within_the_limit() {
        let md: String = (0..40).map(|i| format!("> line {i}\n")).collect();
        let lines = markdown_lines(&md, 120);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(utf16_len(&l.html) <= 120 && l.html.starts_with("<blockquote>") && l.html.ends_with("</blockquote>"), "{}", l.html);
        }
        let shown_lines: Vec<String> = lines.iter().map(|l| shown(&l.html)).collect();
        assert_eq!(shown_lines.join("\n"), (0..40).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n"));
        let pieces = pack_html(&lines, 4096);
        assert_eq!(pieces.len(), 1);
    }

    fn work_for(md: &str) -> usize {
        WORK.with(|w| w.set(0));
        let _ = markdown_to_html(md);
        let _ = markdown_lines(md, 64);
        for flavor in [Flavor::SlackMrkdwn, Flavor::Markdown, Flavor::WecomMarkdown, Flavor::Plain] {
            let _ = render_markdown(md, flavor);
        }
        WORK.with(|w| w.get())
    }

    #[test]
    fn markdown_renders_in_linear_time() {
        // Herald's part: reading the parser's events and writing every flavor. The parsing is
        // pulldown-cmark's, which guards against quadratic inputs itself (nested lists, code
        // span delimiters, link reference expansion). Work is counted in steps, not time: it
        // must stay within a constant per character and double with the input.
        let units = [
            "[",
            "*",
            "`",
            "_",
            "**",
            "[a](",
            "[a](b",
            "_a",
            "*a",
            "**a",
            "`a",
            "[x](https://e.test/",
            "a_b_",
            "> ",
            "- ",
            "1. ",
            "<a ",
            "*a _b ",
            "&amp;",
            "- a\n  ",
            "**a\n",
            "> - ",
        ];
        for unit in units {
            let n = 16 * 1024 / unit.len();
            let (one, two) = (work_for(&unit.repeat(n)), work_for(&unit.repeat(2 * n)));
            let len = unit.len() * n;
            assert!(one <= 64 * len, "{unit:?}: {one} steps for {len} characters");
            assert!(two <= 2 * one + 256, "{unit:?}: {one} then {two} steps when the input doubled");
        }
    }

    #[test]
    fn deep_nesting_does_not_grow_the_output() {
        // Each continuation line of a deeply nested list carries at most MAX_INDENT spaces, and
        // marks nested in marks of the same kind are written once.
        let md = format!("{}x\n{}", "- ".repeat(2000), "y\n".repeat(2000));
        // (The first line holds every marker, `• ` being four bytes.)
        assert!(markdown_to_html(&md).len() < 4 * 2000 + 2000 * (MAX_INDENT + 3), "{}", markdown_to_html(&md).len());
        let md = format!("{}x\n{}{}", "**a ".repeat(500), "y\n".repeat(500), " b**".repeat(500));
        assert!(markdown_to_html(&md).len() < 30_000, "{}", markdown_to_html(&md).len());
    }

    fn work_of(f: impl FnOnce()) -> usize {
        WORK.with(|w| w.set(0));
        f();
        WORK.with(|w| w.get())
    }

    #[test]
    fn splitting_and_packing_take_linear_time() {
        for unit in ["a", "&", "\n", "a\n", "你", "😀", "&amp;\n", &"x".repeat(5000)] {
            let n = (64 * 1024 / unit.len()).max(2);
            let (one, two) = (unit.repeat(n), unit.repeat(2 * n));
            let split_work = |t: &str| work_of(|| drop(split(t, 4096, utf16_len)));
            let pack_work = |t: &str| work_of(|| drop(pack_html(&text_lines(t), 4096)));
            for (name, f) in [("split", &split_work as &dyn Fn(&str) -> usize), ("pack", &pack_work)] {
                let (a, b) = (f(&one), f(&two));
                assert!(a <= 24 * one.len() + 64, "{name} {unit:?}: {a} steps for {} bytes", one.len());
                // Twice the input, twice the work (give or take the last piece: a piece's worth of
                // steps, three reads of at most 4096 units).
                assert!(b <= 2 * a + 3 * 4096 + 64, "{name} {unit:?}: {a} then {b} steps when the input doubled");
            }
        }
    }

    #[test]
    fn packs_close_to_the_limit_and_never_past_it() {
        // Empty lines arriving at a full piece once pushed it one past the limit.
        let text = format!("{}\n\n\n{}\n\nb", "a".repeat(4095), "&".repeat(900));
        let pieces = pack_html(&text_lines(&text), 4096);
        assert!(pieces.iter().all(|p| utf16_len(p) <= 4096), "{:?}", pieces.iter().map(|p| utf16_len(p)).collect::<Vec<_>>());
        assert_eq!(pieces.concat(), escape_html(&text));
        let code = format!("```\n{}\n```", "x < y\n".repeat(2000));
        for p in pack_html(&markdown_lines(&code, 4085), 4096) {
            assert!(utf16_len(&p) <= 4096 && p.trim_start().starts_with("<pre>") && p.trim_end().ends_with("</pre>"), "{p}");
        }
    }

    #[test]
    fn splits_at_line_boundaries_within_the_limit() {
        let text = "aaaa\nbbbb\ncccc\n";
        assert_eq!(split(text, 10, str::len), ["aaaa\nbbbb\n", "cccc\n"]);
        assert_eq!(split("abcdefghij", 4, str::len), ["abcd", "efgh", "ij"]);
        let zh = "你好".repeat(1000);
        let parts = split(&zh, 2048, str::len);
        assert!(parts.iter().all(|p| p.len() <= 2048 && std::str::from_utf8(p.as_bytes()).is_ok()));
        assert_eq!(parts.concat(), zh);
    }
}
