//! The Step Functions API the adapter tests run against: moto's, which runs no execution (each
//! stays RUNNING until it is stopped), or sfn-local's, an `sfn-local serve` the test starts on a
//! free loopback port. sfn-local runs its executions: its Lambda endpoint is a loopback socket that
//! takes every call and never answers, so that they too stay RUNNING, at their first task, until
//! stopped. Everything else (DynamoDB, SNS, S3) stays on moto.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use aws_config::SdkConfig;

/// Whose Step Functions API a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Moto,
    SfnLocal,
}

/// A Step Functions client, and the server it talks to when the test started one.
pub struct StepFunctions {
    pub client: aws_sdk_sfn::Client,
    _server: Option<SfnLocal>,
}

/// `sfn-local serve`, stopped when dropped.
struct SfnLocal {
    child: Child,
    endpoint: String,
    dir: PathBuf,
    /// The Lambda endpoint that never answers.
    _lambda: TcpListener,
}

impl Drop for SfnLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_sfn_local() -> SfnLocal {
    let lambda = TcpListener::bind("127.0.0.1:0").expect("a loopback port for Lambda");
    let lambda_endpoint = format!("http://{}", lambda.local_addr().expect("its address"));
    let dir = std::env::temp_dir().join(format!(
        "sfn-local-adapters-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .args([
            "serve",
            "--port",
            "0",
            "--lambda-endpoint",
            &lambda_endpoint,
        ])
        .arg("--key-file")
        .arg(dir.join("dev-key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sfn-local serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().and_then(Result::ok).unwrap_or_default();
    // Keep reading, so the server never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let endpoint = line
        .split_once("listening on ")
        .map(|(_, url)| url.trim().to_owned())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    SfnLocal {
        child,
        endpoint,
        dir,
        _lambda: lambda,
    }
}

impl Backend {
    pub const BOTH: [Backend; 2] = [Backend::Moto, Backend::SfnLocal];

    /// A Step Functions client on this backend; `moto` is the configuration of the test's moto.
    pub fn step_functions(self, moto: &SdkConfig) -> StepFunctions {
        match self {
            Backend::Moto => StepFunctions {
                client: aws_sdk_sfn::Client::new(moto),
                _server: None,
            },
            Backend::SfnLocal => {
                let server = start_sfn_local();
                let config = aws_sdk_sfn::config::Builder::from(moto)
                    .endpoint_url(&server.endpoint)
                    .build();
                StepFunctions {
                    client: aws_sdk_sfn::Client::from_conf(config),
                    _server: Some(server),
                }
            }
        }
    }
}

/// One `#[tokio::test]` per backend for each `async fn NAME(backend: Backend)`: `NAME::moto` and
/// `NAME::sfn_local`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn moto() {
                    super::$name($crate::step_functions::Backend::Moto).await
                }

                #[tokio::test]
                async fn sfn_local() {
                    super::$name($crate::step_functions::Backend::SfnLocal).await
                }
            }
        )*
    };
}
