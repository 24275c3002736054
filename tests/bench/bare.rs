//! The start-up baseline: a bare lambda_runtime function that builds the same SDK clients
//! (DynamoDB, SQS) and an HTTP client as Herald's functions, and answers every event with null.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = reqwest::Client::builder().build()?;
    let clients = &(dynamo, sqs, http);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        let _ = clients;
        Ok::<_, Error>(serde_json::Value::Null)
    }))
    .await
}
