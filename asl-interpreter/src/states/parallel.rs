//! Parallel: runs every branch concurrently on a copy of the input; the output lists the branch outputs in
//! branch order. The first failing branch fails the state with that branch's error and stops the others.

use serde_json::Value;
use tokio::task::JoinSet;

use crate::error::{ErrorName, StatesError};
use crate::events::EventDetails;
use crate::pipeline::{Outcome, StateCtx};

pub(super) async fn execute(ctx: &StateCtx, input: Value) -> Result<Outcome, StatesError> {
    let state = &ctx.state;
    let vars = ctx.jsonata_vars(&input, &[]);
    let branch_input = if state.is_jsonata() {
        match state.field("Arguments") {
            Some(t) => ctx.jsonata(t, &vars, "Arguments")?,
            None => input.clone(),
        }
    } else {
        let effective = ctx.input_path(&input)?;
        match state.field("Parameters") {
            Some(p) => ctx.scope(&effective).template(p).map_err(|e| ctx.fail(e))?,
            None => effective,
        }
    };
    ctx.execution.event(EventDetails::ParallelStateStarted);
    let mut set = JoinSet::new();
    for (i, branch) in state.children.iter().enumerate() {
        let branch = ctx.run_branch(branch.clone(), branch_input.clone(), None);
        set.spawn(async move { (i, branch.await) });
    }
    let mut outputs = vec![Value::Null; state.children.len()];
    while let Some(joined) = set.join_next().await {
        let (i, result) =
            joined.map_err(|e| StatesError::named(ErrorName::Runtime, e.to_string()))?;
        match result {
            Ok(v) => outputs[i] = v,
            Err(e) => {
                set.abort_all();
                ctx.execution.event(EventDetails::ParallelStateFailed);
                return Err(e);
            }
        }
    }
    ctx.execution.event(EventDetails::ParallelStateSucceeded);
    ctx.finish(input, Some(Value::Array(outputs)))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::execute;
    use crate::executor::ExecutionStatus;
    use serde_json::json;

    #[test]
    fn outputs_in_branch_order_despite_finish_order() {
        let r = execute(
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
                {"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"Next":"A"},"A":{"Type":"Pass","Result":"a","End":true}}},
                {"StartAt":"B","States":{"B":{"Type":"Pass","Result":"b","End":true}}}]}}}"#,
            json!({}),
        );
        assert_eq!(r.output, Some(json!(["a", "b"])));
        assert_eq!((r.stopped_at - r.started_at).num_seconds(), 10);
    }

    #[test]
    fn branch_error_keeps_its_name() {
        let r = execute(
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
                {"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"c"}}}]}}}"#,
            json!({}),
        );
        assert_eq!(
            (r.status, r.error.as_deref()),
            (ExecutionStatus::Failed, Some("Boom"))
        );
    }
}
