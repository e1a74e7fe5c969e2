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
    // Each thread starts its own runtime on its first evaluation.
    let mut starts: Vec<f64> = (0..50)
        .map(|_| {
            std::thread::spawn(|| {
                let started = Instant::now();
                Expression::compile("1").and_then(|e| e.evaluate(None, &Map::new()))?;
                Ok(started.elapsed().as_secs_f64() * 1e3)
            })
            .join()
            .unwrap_or_else(|_| Err(jsonata_engine::Error::new("U1000", "the thread panicked")))
        })
        .collect::<Result<_, _>>()?;
    starts.sort_by(f64::total_cmp);
    println!(
        "{:9.2} ms  a thread's first evaluation (median of 50)",
        starts[25]
    );
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
