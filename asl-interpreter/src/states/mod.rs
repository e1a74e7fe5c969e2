//! One module per state type.

mod choice;
mod fail;
mod map;
mod parallel;
mod pass;
mod setting;
mod succeed;
mod task;
mod wait;

use serde_json::Value;

use crate::definition::StateType;
use crate::error::StatesError;
use crate::pipeline::{Outcome, StateCtx};

pub(crate) async fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    match ctx.state.kind {
        StateType::Pass => pass::execute(ctx, input),
        StateType::Choice => choice::execute(ctx, input),
        StateType::Succeed => succeed::execute(ctx, input),
        StateType::Fail => Err(fail::execute(ctx, input)),
        StateType::Wait => wait::execute(ctx, input).await,
        StateType::Task => task::execute(ctx, input).await,
        StateType::Parallel => parallel::execute(ctx, input).await,
        StateType::Map => map::execute(ctx, input).await,
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde_json::Value;

    use crate::clock::VirtualClock;
    use crate::definition::Definition;
    use crate::executor::{ExecutionResult, Executor};
    use crate::invoker::{FunctionError, LambdaInvoker};

    /// Echoes its payload, fails for functions named `fail*`.
    pub struct EchoInvoker;

    #[async_trait]
    impl LambdaInvoker for EchoInvoker {
        async fn invoke(&self, name: &str, payload: Value) -> Result<Value, FunctionError> {
            if name
                .rsplit(':')
                .next()
                .is_some_and(|n| n.starts_with("fail"))
            {
                return Err(FunctionError::unhandled("CustomError", "boom"));
            }
            Ok(payload)
        }
    }

    pub fn execute(definition: &str, input: Value) -> ExecutionResult {
        let def =
            Definition::parse(definition).unwrap_or_else(|e| panic!("bad test definition: {e}"));
        let executor = Executor::new(
            def,
            Arc::new(EchoInvoker),
            Arc::new(VirtualClock::default()),
        );
        executor
            .execute_blocking(input)
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }
}
