//! The WeCom callback receiver: `GET, POST /callback/wecom?source=NAME`.

use herald::app::{App, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald::lambda::init_logging();
    let app = App::aws(Config::from_env()?, false).await?;
    herald::lambda::run_http(app, herald::channels::wecom::handler).await
}
