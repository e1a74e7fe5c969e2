//! sfn-local: the product's workflow on a laptop. The Amazon States Language itself is the
//! `asl-interpreter` crate; this crate hosts it: the product's handlers in process, the example
//! goal, the makespan and load benchmarks, and `serve`, the product's API and page on 127.0.0.1.

pub mod bench;
pub mod concurrency;
pub mod example;
pub mod in_process;
pub mod latency;
pub mod load;
pub mod offclock;
pub mod overlap;
pub mod serve;
pub mod sfn_api;
pub mod stack;
