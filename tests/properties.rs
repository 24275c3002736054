//! Property-based tests (proptest) for everything that reads outside input or cuts text:
//! each platform's inbound request (Telegram updates, WeCom XML and its crypto, query strings),
//! the bot's command parser, chat ids, the renderers and splitters. Arbitrary bytes never panic
//! and never get past authentication; rendered pieces are each within the platform's limit, in
//! order, and together carry all visible text.
//!
//! `PROPTEST_CASES` sets the number of cases (64 by default here, so the suite stays quick);
//! `make props` runs them long. Linear time is checked without a clock, by counted steps, in
//! `shared/src/markup.rs`'s own tests.

#![allow(clippy::unwrap_used)]

use herald::domain::{ChannelKind, Format};
use herald::http::IntoResponse;
use herald::platforms::chat_id::ChatId;
use herald::platforms::wecom::crypto::Crypto;
use herald::text::markup::{Flavor, escape_html, markdown_to_html, render_markdown, split, utf16_len};
use herald_tests::wecom::{AES_KEY, CORP, TOKEN as WTOKEN};
use herald_tests::{embedded_app, message};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

/// The suite's case count: `PROPTEST_CASES`, else 64.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Text with the characters that matter here over-represented: markup, entities, newlines,
/// wide and astral characters.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("&".to_owned()),
        Just("\"".to_owned()),
        Just("&amp;".to_owned()),
        Just("\n".to_owned()),
        Just("*".to_owned()),
        Just("**".to_owned()),
        Just("_".to_owned()),
        Just("`".to_owned()),
        Just("```\n".to_owned()),
        Just("[a](https://e.test/)".to_owned()),
        Just("[".to_owned()),
        Just("你好".to_owned()),
        Just("😀".to_owned()),
        "[a-z ]{1,40}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(pieces, 0..200).prop_map(|v| v.concat())
}

/// A long text (past one Telegram message) built from [`text`]'s pieces.
fn long_text() -> impl Strategy<Value = String> {
    (text(), 1usize..400).prop_map(|(t, n)| t.repeat(n.min(20_000 / t.len().max(1)).max(1)))
}

/// Decodes the entities `escape_html` writes, left to right (exact, unlike chained replaces).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (text, len) = [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\"")]
            .iter()
            .find(|(e, _)| rest.starts_with(e))
            .map(|(e, t)| (*t, e.len()))
            .unwrap_or(("&", 1));
        out.push_str(text);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// What a Telegram chat shows of Herald's HTML, read by the stand-in's parser (Telegram's tag
/// set, nesting and entities): a piece Telegram would refuse fails the property.
fn shown(html: &str) -> String {
    herald_tests::telegram::html_visible(html).unwrap_or_else(|why| panic!("Telegram would refuse {html:?}: {why}"))
}

fn visible(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The letters and digits of `s`, in order, without the test link's URL (which moves from the
/// text into a tag).
fn words(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect::<String>().replace("httpsetest", "")
}

/// Whether `sub`'s characters all appear in `s`, in the same order.
fn in_order(sub: &str, s: &str) -> bool {
    let mut rest = s.chars();
    sub.chars().all(|c| rest.any(|x| x == c))
}

/// Markdown source less what CommonMark itself does not show, generously (a line-level reading,
/// not a parser): the rest of a line after three backticks or tildes (a fence's info string),
/// entity references (`&amp;` shows as `&`), link destinations and titles (from `](` to the end
/// of the line) and link reference definitions (lines with `]:`).
fn commonmark_shows(md: &str) -> String {
    let mut out = String::new();
    for line in md.split('\n') {
        if line.contains("]:") {
            continue;
        }
        let line = ["```", "~~~"].iter().filter_map(|f| line.find(f)).min().map_or(line, |i| &line[..i]);
        let line = line.find("](").map_or(line, |i| &line[..i]);
        let mut rest = line;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let name = rest[i + 1..].find(';').filter(|&e| e > 0 && rest[i + 1..i + 1 + e].chars().all(|c| c.is_ascii_alphanumeric() || c == '#'));
            rest = &rest[i + 1 + name.map_or(0, |e| e + 1)..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

fn balanced(html: &str) -> bool {
    ["b", "i", "code", "pre", "a"].iter().all(|t| {
        let open = html.matches(&format!("<{t}>")).count() + html.matches(&format!("<{t} ")).count();
        open == html.matches(&format!("</{t}>")).count()
    })
}

// ---- splitters and renderers ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn split_keeps_every_character_in_order_within_the_limit(t in text(), max in 6usize..300) {
        for len in [str::len as fn(&str) -> usize, utf16_len, herald::text::markup::escaped_utf16_len] {
            let parts = split(&t, max, len);
            prop_assert_eq!(parts.concat(), t.clone());
            prop_assert!(parts.iter().all(|p| !p.is_empty() && len(p) <= max));
        }
    }

    #[test]
    fn escaping_leaves_no_markup_and_reverses_exactly(t in text()) {
        let e = escape_html(&t);
        prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"'));
        prop_assert_eq!(unescape(&e), t);
    }

    #[test]
    fn markdown_renders_balanced_tags_and_never_loses_plain_words(t in text()) {
        let html = markdown_to_html(&t);
        prop_assert!(balanced(&html), "{}", html);
        // Words (letters and digits) survive rendering in order: all that CommonMark shows of
        // the source is there, and nothing that was not in the source.
        let rendered = words(&shown(&html));
        prop_assert!(in_order(&words(&commonmark_shows(&t)), &rendered), "lost words: {:?} -> {:?}", t, html);
        prop_assert!(in_order(&rendered, &words(&t)), "added words: {:?} -> {:?}", t, html);
        // The other flavors write the same document; plain text keeps the words within the same bounds.
        for flavor in [Flavor::SlackMrkdwn, Flavor::Markdown, Flavor::WecomMarkdown] {
            prop_assert!(!render_markdown(&t, flavor).is_empty() || rendered.is_empty());
        }
        let plain = words(&render_markdown(&t, Flavor::Plain));
        prop_assert!(in_order(&words(&commonmark_shows(&t)), &plain) && in_order(&plain, &words(&t)), "plain: {:?}", t);
    }

    #[test]
    fn telegram_pieces_fit_and_carry_all_visible_text(t in long_text(), title in proptest::option::of("[A-Za-z<&> ]{0,30}")) {
        for format in [Format::Text, Format::Html] {
            let m = message(&t, format, title.clone());
            let pieces = herald::platforms::telegram::pieces(&m);
            let blank = visible(&format!("{}{t}", title.clone().unwrap_or_default())).is_empty();
            prop_assert!(
                !pieces.is_empty() && pieces.iter().all(|p| utf16_len(p) <= 4096 && (blank || !p.trim().is_empty())),
                "{:?} {:?}: {:?}",
                format,
                title,
                pieces.iter().map(|p| (utf16_len(p), p.trim().is_empty())).collect::<Vec<_>>()
            );
            if format == Format::Text {
                let expected = match title.as_deref().filter(|x| !x.is_empty()) {
                    Some(x) => format!("{x}\n{t}"),
                    None => t.clone(),
                };
                prop_assert_eq!(visible(&shown(&pieces.concat())), visible(&expected));
            }
        }
    }

    #[test]
    fn telegram_markdown_pieces_fit_and_stay_balanced(t in long_text()) {
        let pieces = herald::platforms::telegram::pieces(&message(&t, Format::Markdown, None));
        for p in &pieces {
            prop_assert!(utf16_len(p) <= 4096, "{}", utf16_len(p));
            prop_assert!(balanced(p), "{}", p);
        }
        // Together they show every word the one rendering would.
        prop_assert_eq!(words(&shown(&pieces.concat())), words(&shown(&markdown_to_html(&t))));
    }

    #[test]
    fn wecom_bodies_fit_and_carry_all_text(t in long_text(), image in any::<bool>(), title in proptest::option::of("[A-Za-z 中]{1,80}")) {
        let settings = herald::platforms::config::WecomSettings { corp_id: "ww".into(), agent_id: "1".into(), ..Default::default() };
        let mut m = message(&t, Format::Text, title.clone());
        if image {
            m.image = Some("https://img.test/p.jpg".into());
        }
        let bodies = herald::platforms::wecom::render_bodies(&settings, "zhangsan", &m);
        let mut carried = String::new();
        for b in &bodies {
            match b["msgtype"].as_str().unwrap() {
                "news" => {
                    let a = &b["news"]["articles"][0];
                    prop_assert!(a["title"].as_str().unwrap().len() <= 128 && a["description"].as_str().unwrap().len() <= 512);
                    carried.push_str(a["description"].as_str().unwrap());
                }
                "text" => {
                    let c = b["text"]["content"].as_str().unwrap();
                    prop_assert!(c.len() <= 2048);
                    carried.push_str(c);
                }
                other => prop_assert!(false, "unexpected {}", other),
            }
        }
        let body_has_title = title.as_ref().is_some_and(|x| !x.is_empty() && (!image || x.len() > 128));
        let expected = if body_has_title { format!("{}\n{t}", title.unwrap()) } else { t.clone() };
        prop_assert_eq!(visible(&carried), visible(&expected));
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_webhook_body_carries_the_text_exactly_and_is_signed_over_its_bytes(t in text(), title in proptest::option::of(any::<String>())) {
        let m = message(&t, Format::Markdown, title.clone());
        let body = herald::platforms::webhook::body(&m, "u1");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        prop_assert_eq!(v["text"].as_str(), Some(t.as_str()));
        prop_assert_eq!(v["title"].as_str(), title.as_deref());
        let sig = herald::platforms::webhook::signature("secret", &body);
        prop_assert!(sig.starts_with("sha256=") && sig.len() == 71);
    }
}

// ---- the bot's command parser and chat ids ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_command_parser_never_panics_and_reads_what_it_is_given(s in any::<String>(), cmd in "[a-z][a-z0-9_]{0,20}", arg in "[^\\s][^\\n]{0,40}") {
        if let Some((c, _, a)) = herald::bot::parse_command(&s) {
            prop_assert!(!c.is_empty() && c.chars().all(|x| !x.is_ascii_uppercase()));
            prop_assert_eq!(a.trim(), a.as_str());
        }
        let parsed = herald::bot::parse_command(&format!("/{cmd}  {arg}"));
        prop_assert_eq!(parsed, Some((cmd.clone(), None, arg.trim().to_owned())));
    }

    #[test]
    fn chat_ids_never_address_many(s in any::<String>(), n in any::<i64>()) {
        for kind in ChannelKind::ALL {
            let _ = ChatId::parse("id", kind, &s);
        }
        if ChatId::parse("id", ChannelKind::Wecom, &s).is_ok() {
            prop_assert!(!s.contains('|') && !s.eq_ignore_ascii_case("@all") && !s.is_empty() && s.len() <= 64);
        }
        prop_assert!(ChatId::parse("id", ChannelKind::Telegram, &n.to_string()).is_ok());
        let with_all = format!("{s}|@all");
        prop_assert!(herald::platforms::wecom::settings::wecom_touser(&with_all, true).is_err());
    }

    #[test]
    fn query_strings_and_form_bodies_never_panic(q in any::<String>(), limit in any::<String>()) {
        let encoded: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let lim: String = form_urlencoded::byte_serialize(limit.as_bytes()).collect();
        let uri: http::Uri = format!("/api/v1/messages?cursor={encoded}&limit={lim}&source={encoded}").parse().unwrap();
        let req = herald::http::Request::new(http::Method::GET, &uri, http::HeaderMap::new(), bytes::Bytes::new());
        prop_assert_eq!(req.query("cursor"), Some(q.as_str()));
        match herald::http::page_params(&req) {
            Ok((_, l)) => prop_assert!((1..=100).contains(&l)),
            Err(e) => prop_assert_eq!(e.status().as_u16(), 400),
        }
        let _ = herald::domain::parse_json::<herald::domain::user::UserInput>(serde_json::Value::String(q.clone()));
    }
}

// ---- WeCom: XML and crypto ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn wecom_xml_and_crypto_never_panic_on_anything(s in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = herald::platforms::wecom::receive::xml_fields(&s);
        let _ = herald::platforms::wecom::receive::xml_fields(&String::from_utf8_lossy(&bytes));
        let c = Crypto::new(WTOKEN, AES_KEY, CORP).unwrap();
        let _ = c.decrypt(&s);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let _ = c.decrypt(&b64);
        prop_assert!(c.verify(&s, "1", "n", &b64).is_err());
        let _ = Crypto::new(&s, &s, &s);
    }

    #[test]
    fn wecom_crypto_round_trips_any_message(msg in any::<String>(), random in any::<[u8; 16]>()) {
        let c = Crypto::new(WTOKEN, AES_KEY, CORP).unwrap();
        let enc = c.encrypt_with(&msg, random).unwrap();
        prop_assert_eq!(c.decrypt(&enc).unwrap(), msg);
        let other = Crypto::new(WTOKEN, AES_KEY, "another-corp").unwrap();
        prop_assert!(other.decrypt(&enc).is_err());
    }
}

// ---- whole inbound requests through the router ----

/// Runs `check` over `strategy` against one app with a Telegram and a WeCom channel.
fn with_app<S: Strategy>(strategy: S, check: impl Fn(&herald::app::App, &tokio::runtime::Runtime, S::Value) -> Result<(), TestCaseError>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (_d, app) = embedded_app();
    rt.block_on(async {
        let tg = json!({"kind": "telegram", "settings": {"bot_token": herald_tests::telegram::BOT_TOKEN, "chat_id": "-100123", "webhook_secret": "prop-secret-0123456789"}});
        assert_eq!(herald_tests::call(&app, "PUT", "/api/v1/channels/tg", Some(tg)).await.0, 201);
        let wc = json!({"kind": "wecom", "enabled": true, "settings": {"corp_id": CORP, "agent_id": 1, "secret": "s", "token": WTOKEN, "encoding_aes_key": AES_KEY, "api_base": "http://127.0.0.1:9"}});
        assert_eq!(herald_tests::call(&app, "PUT", "/api/v1/channels/wc", Some(wc)).await.0 / 100, 2);
    });
    let mut runner = TestRunner::new(config());
    runner.run(&strategy, |v| check(&app, &rt, v)).unwrap();
}

fn post(path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> herald::http::Request {
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    herald::http::Request::new(http::Method::POST, &path.parse().unwrap(), h, bytes::Bytes::from(body))
}

#[test]
fn the_telegram_receiver_answers_any_body_without_panicking() {
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        (any::<i64>(), any::<i64>(), any::<String>(), "(group|supergroup|private|channel)").prop_map(|(id, chat, t, kind)| {
            json!({"update_id": id, "message": {"message_id": 1, "from": {"id": chat, "is_bot": false, "first_name": t}, "chat": {"id": chat, "type": kind}, "text": t}})
                .to_string()
                .into_bytes()
        }),
        (any::<i64>(), any::<String>(), any::<bool>()).prop_map(|(id, data, inline)| {
            let mut q = json!({"id": "cb", "from": {"id": id, "first_name": "x"}, "data": data});
            if !inline {
                q["message"] = json!({"message_id": 1, "chat": {"id": id, "type": "private"}});
            }
            json!({"update_id": id, "callback_query": q}).to_string().into_bytes()
        }),
    ];
    with_app(bodies, |app, rt, body| {
        let unauth = rt.block_on(herald::edge::router::route(app, post("/callback/telegram?source=tg", &[], body.clone())));
        prop_assert_eq!(unauth.status().as_u16(), 401);
        let resp = rt.block_on(herald::edge::router::route(
            app,
            post("/callback/telegram?source=tg", &[("x-telegram-bot-api-secret-token", "prop-secret-0123456789")], body),
        ));
        prop_assert!(matches!(resp.status().as_u16(), 200 | 400 | 413), "{}", resp.status());
        Ok(())
    });
}

#[test]
fn the_wecom_receiver_answers_any_body_without_panicking() {
    let inputs = (prop::collection::vec(any::<u8>(), 0..400), any::<String>(), any::<bool>());
    let c = Crypto::new(WTOKEN, AES_KEY, CORP).unwrap();
    with_app(inputs, move |app, rt, (body, inner, signed)| {
        let ts = app.now().as_second().to_string();
        // Unsigned garbage, and a validly signed envelope around arbitrary (encrypted) XML.
        let unsigned = post(&format!("/callback/wecom?source=wc&msg_signature=x&timestamp={ts}&nonce=n"), &[], body);
        let status = rt.block_on(herald::edge::router::route(app, unsigned)).status().as_u16();
        prop_assert!(matches!(status, 400 | 401), "{}", status);
        let enc = c.encrypt_with(&inner, [7; 16]).unwrap();
        let sig = if signed { c.signature(&ts, "n", &enc) } else { "0".repeat(40) };
        let envelope = format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>").into_bytes();
        let req = post(&format!("/callback/wecom?source=wc&msg_signature={sig}&timestamp={ts}&nonce=n"), &[], envelope);
        let status = rt.block_on(herald::edge::router::route(app, req)).status().as_u16();
        if signed {
            prop_assert!(matches!(status, 200 | 400), "{}", status);
        } else {
            prop_assert_eq!(status, 401);
        }
        Ok(())
    });
}
