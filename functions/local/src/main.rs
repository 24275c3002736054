//! `cargo run --release -p herald-local`: every function in one process.
//!
//! `HERALD_LISTEN` (default `127.0.0.1:9000`), `HERALD_DATA_DIR` (default `./.herald`),
//! `HERALD_BACKEND` (`embedded`, the default, or `aws` for DynamoDB and SQS, e.g. an emulator at
//! `AWS_ENDPOINT_URL`), `HERALD_TICK_SECS` (node check and daily job, default 300, as the
//! scheduler on AWS), and the functions' own variables (`HERALD_API_TOKEN`, ...).

use herald::app::{App, Config, ConfigError};
use std::path::PathBuf;

const USAGE: &str = "herald-local: every Herald function in one process (the API, the receivers, the dispatcher,
the scheduler) on the embedded store in HERALD_DATA_DIR. It takes no arguments; it is set with
environment variables:
  HERALD_LISTEN      address to listen on (default 127.0.0.1:9000)
  HERALD_DATA_DIR    where the store and the generated API token are kept (default ./.herald)
  HERALD_API_TOKEN   the API's bearer token, 16 characters or more (default: generated, in the data dir)
  HERALD_BACKEND     embedded (default) or aws (DynamoDB and SQS, e.g. an emulator at AWS_ENDPOINT_URL)
  HERALD_TICK_SECS   how often the node check and the daily job run (default 300)
and the variables of README.md's Configuration section.
";

#[tokio::main]
async fn main() {
    // `args_os`: an argument that is not UTF-8 is refused like any other, not a panic.
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => {}
        ["-h" | "--help"] => return print!("{USAGE}"),
        other => {
            eprintln!("herald-local: takes no arguments but --help (given {other:?}); it is set with environment variables, see --help");
            std::process::exit(2);
        }
    }
    herald::edge::lambda::init_logging_timed();
    if let Err(e) = run().await {
        eprintln!("herald-local: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), ConfigError> {
    // First: it refuses a variable that is not UTF-8, which `var` below would read as unset.
    let config = Config::from_env()?;
    let var = |name: &str, default: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
    let listen = var("HERALD_LISTEN", "127.0.0.1:9000");
    let addr = listen.parse().map_err(|_| ConfigError::Invalid(format!("HERALD_LISTEN is not an address: {listen}")))?;
    let data_dir = PathBuf::from(var("HERALD_DATA_DIR", ".herald"));
    let every: u64 = var("HERALD_TICK_SECS", "300")
        .parse()
        .ok()
        .filter(|s| (1..=86_400).contains(s))
        .ok_or_else(|| ConfigError::Invalid("HERALD_TICK_SECS must be a number of seconds from 1 to 86400".into()))?;
    let from_variable = config.api_token.is_some();
    // The store first: a second run on a data directory in use stops here, before it writes
    // anything there.
    let mut app = match var("HERALD_BACKEND", "embedded").as_str() {
        "embedded" => App::embedded(&data_dir, config)?,
        "aws" => App::aws(config, true).await?,
        other => return Err(ConfigError::Invalid(format!("HERALD_BACKEND must be embedded or aws, not {other}"))),
    };
    let (token, new) = herald::edge::local::api_token(app.config.api_token.as_ref(), &data_dir)?;
    app.config.api_token = Some(token);
    // The token itself is never printed: it is in the file, readable by this user only.
    let source = if from_variable { "HERALD_API_TOKEN".to_owned() } else { data_dir.join("api-token").display().to_string() };
    println!("API token: {} {source}", if new { "generated, in" } else { "from" });
    herald::edge::local::run(app, addr, 4, std::time::Duration::from_secs(every)).await
}
