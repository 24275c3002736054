//! The scheduler function: EventBridge Scheduler's `{"job": "tick"}` every five minutes (node
//! check, sweeper, daily job when due) and `{"job": "daily"}` at the configured local time.

use herald::app::{App, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald::edge::lambda::init_logging();
    let app = App::aws(Config::from_env()?, false).await?;
    herald::edge::lambda::run_scheduler(app).await
}
