//! What a run costs the store in requests: the DynamoDB adapter's client counts every request it
//! sends (see `aws::dynamodb`), by operation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The DynamoDB operations that read; every other operation a store sends writes.
const READ_OPERATIONS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "DescribeTable",
];

/// Counts requests by operation, every attempt included. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl RequestCounter {
    pub fn count(&self, operation: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(operation.to_owned()).or_default() += 1;
        }
    }

    /// The requests counted since the last take.
    pub fn take(&self) -> RequestCounts {
        RequestCounts(
            self.0
                .lock()
                .map(|mut c| std::mem::take(&mut *c))
                .unwrap_or_default(),
        )
    }
}

/// Requests sent, by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts(pub BTreeMap<String, u64>);

impl RequestCounts {
    pub fn reads(&self) -> u64 {
        self.matching(true)
    }

    pub fn writes(&self) -> u64 {
        self.matching(false)
    }

    fn matching(&self, read: bool) -> u64 {
        self.0
            .iter()
            .filter(|(op, _)| READ_OPERATIONS.contains(&op.as_str()) == read)
            .map(|(_, n)| n)
            .sum()
    }
}

impl std::fmt::Display for RequestCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let each: Vec<String> = self.0.iter().map(|(op, n)| format!("{op} {n}")).collect();
        write!(
            f,
            "{} reads, {} writes ({})",
            self.reads(),
            self.writes(),
            each.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reads_and_writes_until_taken() {
        let counter = RequestCounter::default();
        for op in [
            "GetItem",
            "Query",
            "GetItem",
            "UpdateItem",
            "TransactWriteItems",
        ] {
            counter.clone().count(op);
        }
        let counts = counter.take();
        assert_eq!((counts.reads(), counts.writes()), (3, 2));
        assert_eq!(
            counts.to_string(),
            "3 reads, 2 writes (GetItem 2, Query 1, TransactWriteItems 1, UpdateItem 1)"
        );
        assert_eq!(counter.take(), RequestCounts::default());
    }
}
