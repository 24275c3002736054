//! Text for platforms with markup: escaping, a small Markdown subset rendered as Telegram HTML,
//! and splitting long texts at line boundaries. Text from the host app is plain unless it says
//! otherwise, so everything is escaped by default.

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

/// Whether `line` opens (outside a block) or closes (inside one) a fenced code block, as
/// CommonMark reads backtick fences: an opener is three or more backticks and an info string
/// (the language, not shown) without backticks — so "```code```" on one line stays inline
/// code —; a closer is three or more backticks and nothing else.
pub fn is_fence(line: &str, in_fence: bool) -> bool {
    let t = line.trim();
    let ticks = t.len() - t.trim_start_matches('`').len();
    if ticks < 3 {
        return false;
    }
    if in_fence { ticks == t.len() } else { !t[ticks..].contains('`') }
}

/// The common Markdown subset (`**bold**`, `*italic*` / `_italic_`, `` `code` ``, fenced code
/// blocks, `[text](https://url)`) as Telegram HTML; everything else is escaped text.
pub fn markdown_to_html(md: &str) -> String {
    let mut out = String::with_capacity(md.len() + 16);
    let mut in_fence = false;
    for (i, line) in md.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if is_fence(line, in_fence) {
            out.push_str(if in_fence { "</pre>" } else { "<pre>" });
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            out.push_str(&escape_html(line));
        } else {
            inline(line, &mut out);
        }
    }
    if in_fence {
        out.push_str("</pre>");
    }
    out
}

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

/// For each position, the first position at or after it where `pat` starts (`len` if none):
/// built in one backward pass, so every "find the closing mark" below is O(1) and the whole
/// line renders in linear time (16 KiB of `[` used to cost seconds).
fn next_table(chars: &[char], pat: &[char]) -> Vec<usize> {
    let n = chars.len();
    let mut next = vec![n; n + 1];
    for j in (0..n).rev() {
        work(1);
        next[j] = if chars[j..].starts_with(pat) { j } else { next[j + 1] };
    }
    next
}

/// The Markdown inline constructs of one line (no newlines), as HTML, appended to `out`.
/// Linear in the line's length: the closing mark of each construct is looked up in
/// precomputed tables, and nested content (bold, italic) holds no mark of its own kind, so
/// recursion is at most three levels deep.
fn inline(line: &str, out: &mut String) {
    let chars: Vec<char> = line.chars().collect();
    let n = chars.len();
    let tick = next_table(&chars, &['`']);
    let bold = next_table(&chars, &['*', '*']);
    let star = next_table(&chars, &['*']);
    let under = next_table(&chars, &['_']);
    let close_link = next_table(&chars, &[']', '(']);
    let paren = next_table(&chars, &[')']);
    let find = |table: &[usize], from: usize| -> Option<usize> { table.get(from).copied().filter(|&j| j < n) };
    let text = |a: usize, b: usize| {
        work(b - a);
        chars[a..b].iter().collect::<String>()
    };
    let boundary = |j: usize| chars.get(j).is_none_or(|x| !x.is_alphanumeric());
    let mut i = 0;
    while i < n {
        work(1);
        let c = chars[i];
        if c == '`'
            && let Some(end) = find(&tick, i + 1)
        {
            out.push_str("<code>");
            out.push_str(&escape_html(&text(i + 1, end)));
            out.push_str("</code>");
            i = end + 1;
            continue;
        }
        if c == '*'
            && chars.get(i + 1) == Some(&'*')
            && let Some(end) = find(&bold, i + 2)
            && end > i + 2
        {
            out.push_str("<b>");
            inline(&text(i + 2, end), out);
            out.push_str("</b>");
            i = end + 2;
            continue;
        }
        // `_` only at word boundaries, as CommonMark reads it (snake_case stays as it is).
        if (c == '*' || c == '_')
            && chars.get(i + 1).is_some_and(|x| !x.is_whitespace())
            && (c == '*' || i == 0 || boundary(i - 1))
            && let Some(end) = find(if c == '*' { &star } else { &under }, i + 1)
            && end > i + 1
            && (c == '*' || boundary(end + 1))
        {
            out.push_str("<i>");
            inline(&text(i + 1, end), out);
            out.push_str("</i>");
            i = end + 1;
            continue;
        }
        if c == '['
            && let Some(close) = find(&close_link, i + 1)
            && let Some(end) = find(&paren, close + 2)
        {
            let url = text(close + 2, end);
            if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("tg://") {
                out.push_str(&format!("<a href=\"{}\">{}</a>", escape_html(&url), escape_html(&text(i + 1, close))));
                i = end + 1;
                continue;
            }
        }
        push_escaped(out, c);
        i += 1;
    }
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
    /// The line's HTML, without its newline.
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

/// Markdown (the subset [`markdown_to_html`] reads) as lines of HTML: code-block lines escaped
/// and marked `pre`, other lines rendered inline, each within `max` UTF-16 units — a line whose
/// rendering is longer is rendered in parts (a construct cut across parts shows its marks as
/// text: nothing visible is lost).
pub fn markdown_lines(md: &str, max: usize) -> Vec<HtmlLine> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in md.split('\n') {
        if is_fence(line, in_fence) {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            out.push(HtmlLine { html: escape_html(line), pre: true, cont: false, cuttable: true });
            continue;
        }
        let mut html = String::new();
        inline(line, &mut html);
        if utf16_len(&html) <= max {
            out.push(HtmlLine { html, pre: false, cont: false, cuttable: false });
            continue;
        }
        let mut first = true;
        for chunk in split(line, max, escaped_utf16_len) {
            render_within(&chunk, max, &mut |html| {
                out.push(HtmlLine { html, pre: false, cont: !first, cuttable: false });
                first = false;
            });
        }
    }
    out
}

/// Renders `src` inline; if the result is over `max`, renders each half instead (a character
/// renders to at most six units, so this ends).
fn render_within(src: &str, max: usize, emit: &mut dyn FnMut(String)) {
    let mut html = String::new();
    inline(src, &mut html);
    let count = src.chars().count();
    if utf16_len(&html) <= max || count <= 1 {
        emit(html);
        return;
    }
    let mid = src.char_indices().nth(count / 2).map(|(i, _)| i).unwrap_or(src.len());
    render_within(&src[..mid], max, emit);
    render_within(&src[mid..], max, emit);
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

    #[test]
    fn escapes_what_html_would_read_as_markup() {
        assert_eq!(escape_html("a < b & c > \"d\""), "a &lt; b &amp; c &gt; &quot;d&quot;");
    }

    #[test]
    fn renders_the_markdown_subset_and_escapes_the_rest() {
        assert_eq!(markdown_to_html("**Disk** is *full* on `n1` <b>"), "<b>Disk</b> is <i>full</i> on <code>n1</code> &lt;b&gt;");
        assert_eq!(markdown_to_html("see [the docs](https://x.test/a?b=1&c=2)"), "see <a href=\"https://x.test/a?b=1&amp;c=2\">the docs</a>");
        assert_eq!(markdown_to_html("[bad](javascript:alert(1))"), "[bad](javascript:alert(1))");
        assert_eq!(markdown_to_html("```\nx < y\n```"), "<pre>\nx &lt; y\n</pre>");
        assert_eq!(markdown_to_html("snake_case_name and 2 * 3"), "snake_case_name and 2 * 3");
        assert_eq!(markdown_to_html("_quiet_ please"), "<i>quiet</i> please");
    }

    fn work_for(md: &str) -> usize {
        WORK.with(|w| w.set(0));
        let _ = markdown_to_html(md);
        WORK.with(|w| w.get())
    }

    #[test]
    fn markdown_renders_in_linear_time() {
        // 16 KiB of `[` cost seconds: every `[` scanned to the end for `](`. Work is counted in
        // steps, not time: it must stay within a constant per character and double with the input.
        for unit in ["[", "*", "`", "_", "**", "[a](", "[a](b", "_a", "*a", "**a", "`a", "[x](https://e.test/", "a_b_"] {
            let n = 16 * 1024 / unit.len();
            let (one, two) = (work_for(&unit.repeat(n)), work_for(&unit.repeat(2 * n)));
            let len = unit.len() * n;
            assert!(one <= 32 * len, "{unit}: {one} steps for {len} characters");
            assert!(two <= 2 * one + 64, "{unit}: {one} then {two} steps when the input doubled");
        }
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
