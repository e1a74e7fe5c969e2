//! The state machine registry: CreateStateMachine, UpdateStateMachine, DescribeStateMachine,
//! ListStateMachines, DeleteStateMachine, ValidateStateMachineDefinition, and the machines' tags.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, Code};
use super::names::{check_name, epoch, parse_state_machine_arn, state_machine_arn};
use super::pages::Page;
use super::tags::{self, ListTagsRequest, Tag, TagRequest, UntagRequest};
use asl_interpreter::definition::Definition;

/// AWS's limit on a definition's length.
pub const MAX_DEFINITION_CHARS: usize = 1_048_576;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    Standard,
    Express,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Standard => "STANDARD",
            Kind::Express => "EXPRESS",
        }
    }
}

/// One version of a state machine, as an execution started from it keeps it.
#[derive(Debug)]
pub struct Machine {
    pub arn: String,
    pub name: String,
    pub text: String,
    pub definition: Definition,
    pub role_arn: String,
    pub kind: Kind,
    pub logging: Value,
    pub tracing: Value,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl Machine {
    pub fn describe(&self) -> Value {
        json!({
            "stateMachineArn": self.arn,
            "name": self.name,
            "status": "ACTIVE",
            "definition": self.text,
            "roleArn": self.role_arn,
            "type": self.kind.as_str(),
            "creationDate": epoch(self.created),
            "loggingConfiguration": self.logging,
            "tracingConfiguration": self.tracing,
        })
    }
}

/// Parses and checks a definition as CreateStateMachine does.
pub fn parse_definition(text: &str) -> Result<Definition, ApiError> {
    if text.is_empty() || text.chars().count() > MAX_DEFINITION_CHARS {
        return Err(ApiError::validation(
            "definition",
            "Member must have length less than or equal to 1048576",
        ));
    }
    Definition::parse_any_resource(text).map_err(|e| {
        ApiError::new(
            Code::InvalidDefinition,
            format!("Invalid State Machine Definition: '{e}'"),
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    name: String,
    definition: String,
    role_arn: String,
    #[serde(rename = "type")]
    kind: Option<Kind>,
    logging_configuration: Option<Value>,
    tracing_configuration: Option<Value>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    state_machine_arn: String,
    definition: Option<String>,
    role_arn: Option<String>,
    logging_configuration: Option<Value>,
    tracing_configuration: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArnRequest {
    pub state_machine_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateRequest {
    definition: String,
}

/// The state machines, in the order they were created, and their tags by name.
pub struct Machines {
    account: String,
    machines: Mutex<Vec<Arc<Machine>>>,
    tags: Mutex<HashMap<String, Vec<Tag>>>,
}

impl Machines {
    pub fn new(account: String) -> Self {
        Machines {
            account,
            machines: Mutex::default(),
            tags: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Machine>>> {
        self.machines.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_tags(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Tag>>> {
        self.tags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state machine `arn` names (a `#TestCase` suffix aside), and the test case.
    pub fn get(&self, arn: &str) -> Result<(Arc<Machine>, Option<String>), ApiError> {
        let (name, case) = parse_state_machine_arn(arn)?;
        let machine = self
            .lock()
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .ok_or_else(|| ApiError::no_state_machine(arn))?;
        Ok((machine, case))
    }

    pub fn create(&self, request: CreateRequest) -> Result<Value, ApiError> {
        check_name(&request.name)?;
        let definition = parse_definition(&request.definition)?;
        let mut machine_tags = Vec::new();
        let arn = state_machine_arn(&self.account, &request.name);
        tags::set(&mut machine_tags, request.tags, &arn)?;
        let now = Utc::now();
        let machine = Machine {
            arn,
            name: request.name,
            text: request.definition,
            definition,
            role_arn: request.role_arn,
            kind: request.kind.unwrap_or(Kind::Standard),
            logging: request
                .logging_configuration
                .unwrap_or_else(|| json!({"level": "OFF", "includeExecutionData": false})),
            tracing: request
                .tracing_configuration
                .unwrap_or_else(|| json!({"enabled": false})),
            created: now,
            updated: now,
        };
        let mut machines = self.lock();
        if let Some(existing) = machines.iter().find(|m| m.name == machine.name) {
            // Creating the same state machine again answers the one that exists (its tags
            // unchanged, as in AWS).
            let same = existing.text == machine.text
                && existing.role_arn == machine.role_arn
                && existing.kind == machine.kind;
            if !same {
                return Err(ApiError::new(
                    Code::StateMachineAlreadyExists,
                    format!("State Machine Already Exists: '{}'", existing.arn),
                ));
            }
            return Ok(
                json!({"stateMachineArn": existing.arn, "creationDate": epoch(existing.created)}),
            );
        }
        let answer = json!({"stateMachineArn": machine.arn, "creationDate": epoch(now)});
        self.lock_tags().insert(machine.name.clone(), machine_tags);
        machines.push(Arc::new(machine));
        Ok(answer)
    }

    pub fn update(&self, request: UpdateRequest) -> Result<Value, ApiError> {
        let (current, _) = self.get(&request.state_machine_arn)?;
        if request.definition.is_none()
            && request.role_arn.is_none()
            && request.logging_configuration.is_none()
            && request.tracing_configuration.is_none()
        {
            return Err(ApiError::new(
                Code::MissingRequiredParameter,
                "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified",
            ));
        }
        let (text, definition) = match request.definition {
            Some(text) => {
                let definition = parse_definition(&text)?;
                (text, definition)
            }
            None => (current.text.clone(), current.definition.clone()),
        };
        let now = Utc::now();
        let updated = Machine {
            arn: current.arn.clone(),
            name: current.name.clone(),
            text,
            definition,
            role_arn: request.role_arn.unwrap_or_else(|| current.role_arn.clone()),
            kind: current.kind,
            logging: request
                .logging_configuration
                .unwrap_or_else(|| current.logging.clone()),
            tracing: request
                .tracing_configuration
                .unwrap_or_else(|| current.tracing.clone()),
            created: current.created,
            updated: now,
        };
        let mut machines = self.lock();
        if let Some(slot) = machines.iter_mut().find(|m| m.arn == current.arn) {
            *slot = Arc::new(updated);
        }
        Ok(json!({"updateDate": epoch(now)}))
    }

    pub fn describe(&self, request: ArnRequest) -> Result<Value, ApiError> {
        Ok(self.get(&request.state_machine_arn)?.0.describe())
    }

    pub fn list(&self, page: Page) -> Result<Value, ApiError> {
        let items: Vec<Value> = self
            .lock()
            .iter()
            .map(|m| {
                json!({
                    "stateMachineArn": m.arn,
                    "name": m.name,
                    "type": m.kind.as_str(),
                    "creationDate": epoch(m.created),
                })
            })
            .collect();
        page.answer("stateMachines", items)
    }

    /// Deletes the state machine; its executions stay readable. Deleting one that does not
    /// exist succeeds, as in AWS.
    pub fn delete(&self, request: ArnRequest) -> Result<Value, ApiError> {
        let (name, _) = parse_state_machine_arn(&request.state_machine_arn)?;
        self.lock().retain(|m| m.name != name);
        self.lock_tags().remove(&name);
        Ok(json!({}))
    }

    /// The name of the state machine `arn` names; ResourceNotFound when there is none.
    fn tagged(&self, arn: &str) -> Result<String, ApiError> {
        let (name, _) = parse_state_machine_arn(arn)?;
        if self.lock().iter().any(|m| m.name == name) {
            Ok(name)
        } else {
            Err(tags::not_found(arn))
        }
    }

    pub fn tag(&self, request: TagRequest) -> Result<Value, ApiError> {
        let name = self.tagged(&request.resource_arn)?;
        let mut all = self.lock_tags();
        let current = all.entry(name).or_default();
        tags::set(current, request.tags, &request.resource_arn)?;
        Ok(json!({}))
    }

    pub fn untag(&self, request: UntagRequest) -> Result<Value, ApiError> {
        let name = self.tagged(&request.resource_arn)?;
        if let Some(current) = self.lock_tags().get_mut(&name) {
            current.retain(|t| !request.tag_keys.contains(&t.key));
        }
        Ok(json!({}))
    }

    pub fn list_tags(&self, request: ListTagsRequest) -> Result<Value, ApiError> {
        let name = self.tagged(&request.resource_arn)?;
        let current = self.lock_tags().get(&name).cloned().unwrap_or_default();
        Ok(json!({ "tags": current }))
    }
}

/// ValidateStateMachineDefinition: `OK`, or `FAIL` with the refusal as an ERROR diagnostic.
pub fn validate(request: ValidateRequest) -> Result<Value, ApiError> {
    match parse_definition(&request.definition) {
        Ok(_) => Ok(json!({"result": "OK", "diagnostics": [], "truncated": false})),
        Err(e) if e.code == Code::InvalidDefinition => {
            let message = e.message;
            Ok(json!({
                "result": "FAIL",
                "diagnostics": [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": message}],
                "truncated": false,
            }))
        }
        Err(e) => Err(e),
    }
}
