//! Fault injection through the real definition and handlers over the in-memory store: a model that
//! throttles or times out on a chosen fraction of calls, and a store whose writes fail. Whatever
//! happens, no task is lost or duplicated, the failed list is exact, and the goal's status follows
//! the all / some / none rule. `aws_scenario` runs the same cases over DynamoDB.

mod common;

use std::sync::Arc;

use common::{
    assert_model_outcome, assert_store_outcome, model, run_with, stack, Fault, FaultyStore,
    SaveFault,
};
use shared::memory::InMemoryStore;
use shared::offline::OfflineGenerator;

#[tokio::test(start_paused = true)]
async fn model_timeouts_and_throttling_at_ten_fifty_and_a_hundred_percent() {
    for fault in [Fault::Timeout, Fault::Throttle] {
        for percent in [10, 50, 100] {
            let s = stack(Arc::new(InMemoryStore::new()), model(percent, fault));
            assert_model_outcome(percent, &run_with(s, 32).await);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn store_failures_never_lose_or_duplicate_tasks() {
    for fault in [SaveFault::Conflict, SaveFault::Lost] {
        for percent in [10, 50, 100] {
            let store = Arc::new(FaultyStore::new(InMemoryStore::new(), fault, percent));
            let s = stack(store, Arc::new(OfflineGenerator::new()));
            assert_store_outcome(fault, percent, &run_with(s, 24).await);
        }
    }
}
