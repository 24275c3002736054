//! Text for platforms with markup: escaping, a small Markdown subset rendered as Telegram HTML,
//! and splitting long texts at line boundaries. Text from the host app is plain unless it says
//! otherwise, so everything is escaped by default.

/// Escapes `& < >` (and quotes, for attribute values) for Telegram's HTML parse mode.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
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
        if line.trim_start().starts_with("```") {
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

fn inline(line: &str, out: &mut String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let find =
        |from: usize, pat: &[char]| -> Option<usize> { (from..chars.len().saturating_sub(pat.len() - 1)).find(|&j| chars[j..j + pat.len()] == *pat) };
    while i < chars.len() {
        let c = chars[i];
        let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
        if c == '`'
            && let Some(end) = find(i + 1, &['`'])
        {
            out.push_str(&format!("<code>{}</code>", escape_html(&text(i + 1, end))));
            i = end + 1;
            continue;
        }
        if c == '*'
            && chars.get(i + 1) == Some(&'*')
            && let Some(end) = find(i + 2, &['*', '*'])
            && end > i + 2
        {
            out.push_str("<b>");
            inline(&text(i + 2, end), out);
            out.push_str("</b>");
            i = end + 2;
            continue;
        }
        // `_` only at word boundaries, as CommonMark reads it (snake_case stays as it is).
        let boundary = |j: usize| chars.get(j).is_none_or(|x| !x.is_alphanumeric());
        if (c == '*' || c == '_')
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace())
            && (c == '*' || i == 0 || boundary(i - 1))
            && let Some(end) = find(i + 1, &[c])
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
            && let Some(close) = find(i + 1, &[']', '('])
            && let Some(end) = find(close + 2, &[')'])
        {
            let url = text(close + 2, end);
            if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("tg://") {
                out.push_str(&format!("<a href=\"{}\">{}</a>", escape_html(&url), escape_html(&text(i + 1, close))));
                i = end + 1;
                continue;
            }
        }
        out.push_str(&escape_html(&c.to_string()));
        i += 1;
    }
}

/// Splits `text` into pieces of at most `max` units (as measured by `len`), at line boundaries
/// where it can, else at character boundaries.
pub fn split(text: &str, max: usize, len: impl Fn(&str) -> usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if len(&current) + len(line) <= max {
            current.push_str(line);
            continue;
        }
        if !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if len(line) <= max {
            current.push_str(line);
            continue;
        }
        // A line longer than a piece: cut it by characters.
        for c in line.chars() {
            let mut buf = [0u8; 4];
            if len(&current) + len(c.encode_utf8(&mut buf)) > max {
                parts.push(std::mem::take(&mut current));
            }
            current.push(c);
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
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
