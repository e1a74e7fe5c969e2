use shared::aws::{load_sdk_config, DynamoStore};
use shared::boot;

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    let config = load_sdk_config().await;
    let store = DynamoStore::from_env(&config)?;
    boot::run(|event| get_actions::handle(&store, event)).await
}
