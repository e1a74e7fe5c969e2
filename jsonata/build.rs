//! Compiles jsonata.js and the bridge into one QuickJS bytecode module, so that a runtime starts by
//! reading bytecode instead of parsing 80 KB of JavaScript.

use std::error::Error;
use std::{env, fs, path::Path};

use rquickjs::{Context, Module, Runtime, WriteOptions, WriteOptionsEndianness};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=js/jsonata.min.js");
    println!("cargo::rerun-if-changed=js/bridge.js");
    let source = [
        // jsonata.js's module wrapper exports to `self` when there is no module system.
        "globalThis.self = globalThis;",
        &fs::read_to_string("js/jsonata.min.js")?,
        &fs::read_to_string("js/bridge.js")?,
    ]
    .join("\n");
    let endianness = match env::var("CARGO_CFG_TARGET_ENDIAN")?.as_str() {
        "big" => WriteOptionsEndianness::Big,
        _ => WriteOptionsEndianness::Little,
    };
    let runtime = Runtime::new()?;
    let context = Context::full(&runtime)?;
    // Source and debug information stay: jsonata.js reads a native function's arity from its text.
    let bytecode = context.with(|ctx| {
        Module::declare(ctx, "jsonata.js", source)?.write(WriteOptions {
            endianness,
            ..WriteOptions::default()
        })
    })?;
    fs::write(
        Path::new(&env::var("OUT_DIR")?).join("jsonata.qjsbc"),
        bytecode,
    )?;
    Ok(())
}
