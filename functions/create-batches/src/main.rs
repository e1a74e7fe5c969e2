use shared::boot;

#[tokio::main]
async fn main() -> Result<(), boot::Error> {
    boot::init_tracing();
    boot::run(|event| async { create_batches::handle(event) }).await
}
