//! Evaluations per second of expressions typical of Step Functions definitions, with bindings the
//! size of a state's `$states`, on one thread: `cargo run --release -p jsonata-engine --example speed`.

use std::time::Instant;

use jsonata_engine::Expression;
use serde_json::{json, Map};

const TYPICAL: &[&str] = &[
    "$states.input.order.id",
    "$states.input.items[price > 10].name",
    "$sum($states.input.items.(price * qty))",
    "{'id': $states.input.order.id, 'total': $sum($states.input.items.price), 'at': $now()}",
    "$count($states.input.items) > 2 ? 'large' : 'small'",
    "$states.input.items ~> $map(function($i) { $uppercase($i.name) }) ~> $join(',')",
];

fn main() -> Result<(), jsonata_engine::Error> {
    let items: Vec<_> = (0..20)
        .map(|i| json!({"name": format!("item-{i}"), "price": i * 3, "qty": i % 4}))
        .collect();
    let mut bindings = Map::new();
    bindings.insert(
        "states".into(),
        json!({"input": {"order": {"id": "o-1"}, "items": items},
               "context": {"Execution": {"Id": "arn:aws:states:::execution:x:y", "Input": {}}}}),
    );
    let rounds = 2000;
    for text in TYPICAL {
        let expr = Expression::compile(text)?;
        expr.evaluate(None, &bindings)?;
        let started = Instant::now();
        for _ in 0..rounds {
            expr.evaluate(None, &bindings)?;
        }
        let per_second = rounds as f64 / started.elapsed().as_secs_f64();
        println!("{per_second:9.0}/s  {text}");
    }
    let started = Instant::now();
    let compiled = 200;
    for i in 0..compiled {
        Expression::compile(&format!("$states.input.items[{i}].price + {i}"))?;
    }
    let per_second = compiled as f64 / started.elapsed().as_secs_f64();
    println!("{per_second:9.0}/s  compilations of new expressions");
    Ok(())
}
