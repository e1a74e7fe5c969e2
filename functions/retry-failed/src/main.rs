use shared::aws::{load_sdk_config, DynamoStore, StepFunctionsControl};
use shared::boot;
use shared::capacity::ModelQuota;
use shared::metrics::{EmfFormat, EmfStdout};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    let config = load_sdk_config().await;
    let store = DynamoStore::from_env(&config)?;
    let control = StepFunctionsControl::from_env(&config)?;
    let metrics = EmfStdout(EmfFormat::from_env());
    let quota = ModelQuota::from_env();
    boot::run(|event| retry_failed::handle(&store, &control, &SystemClock, &metrics, quota, event))
        .await
}
