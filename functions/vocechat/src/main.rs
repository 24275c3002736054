//! The VoceChat bot webhook: `GET, POST /callback/vocechat?source=NAME&token=SECRET`.

use herald::app::{App, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald::edge::lambda::init_logging();
    let app = App::aws(Config::from_env()?, false).await?;
    herald::edge::lambda::run_http(app, herald::edge::router::receiver_handler).await
}
