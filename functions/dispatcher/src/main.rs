//! The dispatcher function: SQS batches in, sends out, failed message ids back.

use herald::app::{App, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald::edge::lambda::init_logging();
    let app = App::aws(Config::from_env()?, false).await?;
    herald::edge::lambda::run_sqs(app).await
}
