use shared::boot;

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    boot::run(|event| async { aggregate_results::handle(event) }).await
}
