//! States.Base64Encode, Base64Decode and Hash.

use base64::Engine;
use serde_json::Value;
use sha2::Digest;

use super::{arity, as_str};
use crate::error::EvalError;

pub fn base64_encode(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.Base64Encode", args, 1, 1)?;
    let s = as_str("States.Base64Encode", &args[0])?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    ))
}

pub fn base64_decode(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.Base64Decode", args, 1, 1)?;
    let s = as_str("States.Base64Decode", &args[0])?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| EvalError::intrinsic(format!("States.Base64Decode: {e}")))?;
    Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}

pub fn hash(args: &[Value]) -> Result<Value, EvalError> {
    arity("States.Hash", args, 2, 2)?;
    let data = match &args[0] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let algorithm = as_str("States.Hash", &args[1])?;
    let bytes = data.as_bytes();
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(EvalError::intrinsic(format!(
                "States.Hash: unsupported algorithm {other}; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
            )))
        }
    };
    Ok(Value::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::evaluate_text;
    use serde_json::json;

    #[test]
    fn base64_round_trip() {
        assert_eq!(
            evaluate_text("States.Base64Encode('Data to encode')", json!({})),
            Ok(json!("RGF0YSB0byBlbmNvZGU="))
        );
        assert_eq!(
            evaluate_text("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
            Ok(json!("Data to encode"))
        );
    }

    #[test]
    fn hashes() {
        assert_eq!(
            evaluate_text("States.Hash('input data', 'SHA-1')", json!({})),
            Ok(json!("aaff4a450a104cd177d28d18d74485e8cae074b7"))
        );
        assert!(evaluate_text("States.Hash('x', 'SHA-999')", json!({})).is_err());
    }
}
