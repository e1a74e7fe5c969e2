use shared::aws::{load_sdk_config, DynamoStore, S3Archive};
use shared::boot;
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    let config = load_sdk_config().await;
    let store = DynamoStore::from_env(&config)?;
    // Only named in the answers: the function never reads or writes the archive.
    let archive = S3Archive::from_env(&config)?;
    boot::run(|event| list_executions::handle(&store, &archive, &SystemClock, event)).await
}
