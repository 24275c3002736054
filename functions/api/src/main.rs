//! The admin/API function: `/api/v1/*` behind API Gateway.

use herald::app::{App, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald::edge::lambda::init_logging();
    let config = Config::from_env()?;
    config.require_api_token()?;
    let app = App::aws(config, false).await?;
    herald::edge::lambda::run_http(app, herald::edge::router::api_handler).await
}
