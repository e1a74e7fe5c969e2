use maintenance::Maintenance;
use shared::aws::{load_sdk_config, DynamoStore, S3Archive, SnsNotifier, StepFunctionsControl};
use shared::boot;
use shared::metrics::{EmfFormat, EmfStdout};
use shared::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    let config = load_sdk_config().await;
    let store = DynamoStore::from_env(&config)?;
    let control = StepFunctionsControl::from_env(&config)?;
    let notifier = SnsNotifier::from_env(&config)?;
    let archive = S3Archive::from_env(&config)?;
    let metrics = EmfStdout(EmfFormat::from_env());
    boot::run(|event| {
        let ports = Maintenance {
            store: &store,
            control: &control,
            notifier: &notifier,
            archive: &archive,
            clock: &SystemClock,
            metrics: &metrics,
        };
        maintenance::handle(ports, event)
    })
    .await
}
