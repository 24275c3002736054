//! The Synology Chat bot's (and outgoing webhook's) target: `POST /callback/synology?source=NAME`.

use herald::app::{App, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald::edge::lambda::init_logging();
    let app = App::aws(Config::from_env()?, false).await?;
    herald::edge::lambda::run_http(app, herald::edge::router::receiver_handler).await
}
