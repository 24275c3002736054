//! Signs a sample event (`events/slack/*.json`, `events/discord/*.json`) afresh, as the platform
//! signs a request, and prints it. Herald refuses a signed request more than five minutes old,
//! so a sample must be signed again before `cargo lambda invoke` sends it:
//!
//! ```sh
//! cargo run -q -p herald-tests --bin sign-event -- events/slack/slash-bind.json > /tmp/e.json
//! cargo lambda invoke herald-slack --data-file /tmp/e.json
//! ```
//!
//! `--at UNIX_SECONDS` signs at another time (the samples are stored signed at 1795435200,
//! 2026-11-23 12:00 UTC); `--in-place` rewrites the files. Slack samples are signed with the
//! secret of Slack's documented example, Discord ones with the RFC 8032 test key; a file named
//! `*invalid-signature*` is signed with another secret or key, so it stays invalid.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use serde_json::Value;

const USAGE: &str = "usage: sign-event [--at UNIX_SECONDS] [--in-place] FILE...\n\
  Signs Slack and Discord sample events (events/slack, events/discord) afresh and prints them\n\
  (or rewrites them with --in-place). Herald refuses a request signed more than 5 minutes ago.";

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut at, mut in_place, mut files) = (jiff::Timestamp::now().as_second(), false, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            "--at" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => at = v,
                None => {
                    eprintln!("--at takes a number of seconds since 1970\n{USAGE}");
                    return std::process::ExitCode::from(2);
                }
            },
            "--in-place" => in_place = true,
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        eprintln!("{USAGE}");
        return std::process::ExitCode::from(2);
    }
    for file in files {
        let signed = std::fs::read_to_string(&file)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| format!("{file}: not JSON: {e}")))
            .and_then(|mut event| herald_tests::sign_sample(&mut event, &file, at).map(|()| event));
        let event = match signed {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let out = serde_json::to_string_pretty(&event).unwrap() + "\n";
        if in_place {
            std::fs::write(&file, out).unwrap();
        } else {
            print!("{out}");
        }
    }
    std::process::ExitCode::SUCCESS
}
