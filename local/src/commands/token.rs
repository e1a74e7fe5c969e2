//! `sfn-local token`: a development token that `serve` accepts.

use std::path::PathBuf;

use super::DEV_KEY_FILE;

#[derive(clap::Args)]
pub struct Args {
    /// The user (`sub` claim) the token is for.
    #[arg(long)]
    user: String,
    /// Minutes the token is valid.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    #[arg(long, default_value = DEV_KEY_FILE)]
    key_file: PathBuf,
}

/// Prints a token for the user, signed with the development key.
pub fn main(args: Args) -> Result<(), String> {
    let key = sfn_local::serve::DevKey::load_or_create(&args.key_file)
        .map_err(|e| format!("{}: {e}", args.key_file.display()))?;
    let token = key
        .mint(&args.user, args.minutes)
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}
