//! The shipped example goal, with failures injected on demand.

pub const EXAMPLE_GOAL_ID: &str = "goal-example";
pub const EXAMPLE_USER_ID: &str = "user-local";

/// The shipped example goal, cut to `actions` actions: `failing` of them fail permanently, and
/// `flaky` of them fail transiently `flaky_failures` times before they succeed (more than the AI
/// step's 3 retries: they fail for good).
#[derive(Debug, Clone, Copy)]
pub struct ExampleGoal {
    pub actions: usize,
    pub failing: usize,
    pub flaky: usize,
    pub flaky_failures: u32,
}

impl ExampleGoal {
    pub fn all_succeed(actions: usize) -> Self {
        ExampleGoal {
            actions,
            failing: 0,
            flaky: 0,
            flaky_failures: 1,
        }
    }
}
