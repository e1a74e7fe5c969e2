use std::sync::Arc;

use shared::aws::{load_sdk_config, BedrockGenerator, DynamoStore};
use shared::boot;
use shared::metrics::{EmfFormat, EmfStdout};
use shared::offline::OfflineGenerator;
use shared::ports::{SystemClock, TaskGenerator};

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    let config = load_sdk_config().await;
    let store = DynamoStore::from_env(&config)?;
    let metrics = Arc::new(EmfStdout(EmfFormat::from_env()));
    // `TASK_GENERATOR=offline` selects the deterministic generator, for environments without
    // Bedrock (local invocations against a local AWS-API server).
    let generator: Arc<dyn TaskGenerator> = match std::env::var("TASK_GENERATOR").as_deref() {
        Ok("offline") => Arc::new(OfflineGenerator::new()),
        _ => Arc::new(BedrockGenerator::from_env(&config, metrics.clone())?),
    };
    boot::run(|event| {
        generate_tasks::handle(
            &store,
            generator.as_ref(),
            &SystemClock,
            metrics.as_ref(),
            event,
        )
    })
    .await
}
