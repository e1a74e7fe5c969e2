//! The state machine registry: CreateStateMachine, UpdateStateMachine, DescribeStateMachine,
//! ListStateMachines, DeleteStateMachine, ValidateStateMachineDefinition, the machines' versions
//! (PublishStateMachineVersion, ListStateMachineVersions, DeleteStateMachineVersion) and tags.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::aliases::{self, check_alias_name, check_routing, check_weights, Aliases};
use super::configuration::{check_logging, Encryption};
use super::error::{ApiError, Code};
use super::names::{
    check_name, epoch, parse_alias_arn, parse_state_machine_arn, parse_version_arn,
    state_machine_arn,
};
use super::pages::Page;
use super::tags::{self, Tag, TagStore};
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

/// One revision of a state machine, as an execution started from it keeps it.
#[derive(Debug, Clone)]
pub struct Machine {
    pub arn: String,
    pub name: String,
    pub text: String,
    pub definition: Definition,
    pub role_arn: String,
    pub kind: Kind,
    pub logging: Value,
    pub tracing: Value,
    pub encryption: Encryption,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Names this revision of the definition and configuration: [`INITIAL_REVISION`] until an
    /// update changes them, a new one with every such update.
    pub revision_id: String,
    /// Set on a published version.
    pub version: Option<Version>,
    /// The alias an execution was started on, which routed it to this version.
    pub alias_arn: Option<String>,
}

/// The revision of a state machine no update has changed, as PublishStateMachineVersion's
/// `revisionId` names it; DescribeStateMachine shows none for it.
pub const INITIAL_REVISION: &str = "INITIAL";

/// What a published version adds to the revision it was published from.
#[derive(Debug, Clone)]
pub struct Version {
    pub number: u32,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
}

impl Machine {
    /// The version's own ARN (`...:stateMachine:NAME:N`), for a published version.
    pub fn version_arn(&self) -> Option<String> {
        self.version
            .as_ref()
            .map(|v| format!("{}:{}", self.arn, v.number))
    }

    pub fn describe(&self) -> Value {
        let mut answer = json!({
            "stateMachineArn": self.version_arn().unwrap_or_else(|| self.arn.clone()),
            "name": self.name,
            "status": "ACTIVE",
            "definition": self.text,
            "roleArn": self.role_arn,
            "type": self.kind.as_str(),
            "creationDate": epoch(self.version.as_ref().map_or(self.created, |v| v.created)),
            "loggingConfiguration": self.logging,
            "tracingConfiguration": self.tracing,
            "encryptionConfiguration": self.encryption.describe(),
        });
        if self.revision_id != INITIAL_REVISION {
            answer["revisionId"] = Value::from(self.revision_id.as_str());
        }
        if let Some(description) = self.version.as_ref().and_then(|v| v.description.as_ref()) {
            answer["description"] = Value::from(description.as_str());
        }
        answer
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
    encryption_configuration: Option<Encryption>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    publish: bool,
    version_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    state_machine_arn: String,
    definition: Option<String>,
    role_arn: Option<String>,
    logging_configuration: Option<Value>,
    tracing_configuration: Option<Value>,
    encryption_configuration: Option<Encryption>,
    #[serde(default)]
    publish: bool,
    version_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    state_machine_arn: String,
    revision_id: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListVersionsRequest {
    state_machine_arn: String,
    #[serde(flatten)]
    page: Page,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRequest {
    state_machine_version_arn: String,
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

/// AWS's limit of versions a state machine holds.
pub const MAX_VERSIONS: usize = 1000;

/// A state machine's published versions, oldest first.
#[derive(Default)]
struct Published {
    /// Numbers are never reused, even after a version is deleted.
    last: u32,
    versions: Vec<Arc<Machine>>,
}

/// The state machines, in the order they were created, and their versions and tags by name.
pub struct Machines {
    account: String,
    machines: Mutex<Vec<Arc<Machine>>>,
    versions: Mutex<HashMap<String, Published>>,
    aliases: Aliases,
    tags: Arc<TagStore>,
}

impl Machines {
    pub fn new(account: String, tags: Arc<TagStore>) -> Self {
        Machines {
            account,
            machines: Mutex::default(),
            versions: Mutex::default(),
            aliases: Aliases::default(),
            tags,
        }
    }

    fn lock_versions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Published>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Machine>>> {
        self.machines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state machine, version or alias `arn` names (a `#TestCase` suffix aside), and the
    /// test case. An alias answers the version it routes this call to.
    pub fn get(&self, arn: &str) -> Result<(Arc<Machine>, Option<String>), ApiError> {
        if let Ok((name, number)) = parse_version_arn(arn) {
            return Ok((self.version(&name, number, arn)?, None));
        }
        if let Ok((name, alias)) = parse_alias_arn(arn) {
            let routed = self.aliases.route(&name, &alias, arn)?;
            let (_, number) = parse_version_arn(&routed)?;
            let version = self.version(&name, number, &routed)?;
            let through_alias = Machine {
                alias_arn: Some(arn.to_owned()),
                ..(*version).clone()
            };
            return Ok((Arc::new(through_alias), None));
        }
        let (name, case) = parse_state_machine_arn(arn)?;
        Ok((self.current(&name, arn)?, case))
    }

    /// The state machine `name`'s latest revision.
    fn current(&self, name: &str, arn: &str) -> Result<Arc<Machine>, ApiError> {
        self.lock()
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .ok_or_else(|| ApiError::no_state_machine(arn))
    }

    fn version(&self, name: &str, number: u32, arn: &str) -> Result<Arc<Machine>, ApiError> {
        self.lock_versions()
            .get(name)
            .and_then(|p| {
                p.versions
                    .iter()
                    .find(|v| v.version.as_ref().is_some_and(|v| v.number == number))
            })
            .cloned()
            .ok_or_else(|| ApiError::no_state_machine(arn))
    }

    /// Publishes `machine`'s revision as a version, or answers the version already published
    /// from it (with the same description too, when `by_description`: an update that publishes
    /// with a new version description publishes a new version of the same revision).
    fn publish_revision(
        &self,
        machine: &Machine,
        description: Option<String>,
        by_description: bool,
    ) -> Result<Arc<Machine>, ApiError> {
        let mut all = self.lock_versions();
        let published = all.entry(machine.name.clone()).or_default();
        if let Some(existing) = published.versions.iter().rev().find(|v| {
            v.revision_id == machine.revision_id
                && (!by_description
                    || v.version.as_ref().and_then(|v| v.description.as_ref())
                        == description.as_ref())
        }) {
            return Ok(existing.clone());
        }
        if published.versions.len() >= MAX_VERSIONS {
            return Err(ApiError::of_resource(
                Code::ServiceQuotaExceededException,
                format!("A state machine holds at most {MAX_VERSIONS} versions"),
                &machine.arn,
            ));
        }
        published.last += 1;
        let version = Arc::new(Machine {
            version: Some(Version {
                number: published.last,
                description,
                created: Utc::now(),
            }),
            ..machine.clone()
        });
        published.versions.push(version.clone());
        Ok(version)
    }

    pub fn publish(&self, request: PublishRequest) -> Result<Value, ApiError> {
        let (name, _) = parse_state_machine_arn(&request.state_machine_arn)?;
        let current = self.current(&name, &request.state_machine_arn)?;
        if request
            .revision_id
            .as_ref()
            .is_some_and(|r| *r != current.revision_id)
        {
            return Err(ApiError::new(
                Code::ConflictException,
                format!(
                    "Failed to publish the State Machine version for revision {}. The current State Machine revision is {}.",
                    request.revision_id.unwrap_or_default(),
                    current.revision_id
                ),
            ));
        }
        let version = self.publish_revision(&current, request.description, false)?;
        Ok(json!({
            "stateMachineVersionArn": version.version_arn(),
            "creationDate": epoch(version.version.as_ref().map_or(version.created, |v| v.created)),
        }))
    }

    pub fn list_versions(&self, request: ListVersionsRequest) -> Result<Value, ApiError> {
        let (name, _) = parse_state_machine_arn(&request.state_machine_arn)?;
        self.current(&name, &request.state_machine_arn)?;
        let items: Vec<Value> = self
            .lock_versions()
            .get(&name)
            .map(|p| {
                p.versions
                    .iter()
                    .rev()
                    .filter_map(|v| {
                        let version = v.version.as_ref()?;
                        Some(json!({
                            "stateMachineVersionArn": v.version_arn(),
                            "creationDate": epoch(version.created),
                        }))
                    })
                    .collect()
            })
            .unwrap_or_default();
        request.page.answer("stateMachineVersions", items)
    }

    /// Deletes a version no alias routes to; deleting one that does not exist succeeds, as in
    /// AWS.
    pub fn delete_version(&self, request: VersionRequest) -> Result<Value, ApiError> {
        let (name, number) = parse_version_arn(&request.state_machine_version_arn)?;
        let machine_arn = state_machine_arn(&self.account, &name);
        let referencing =
            self.aliases
                .referencing(&name, &machine_arn, &request.state_machine_version_arn);
        if !referencing.is_empty() {
            return Err(ApiError::new(
                Code::ConflictException,
                format!(
                    "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]",
                    referencing.join(", ")
                ),
            ));
        }
        if let Some(published) = self.lock_versions().get_mut(&name) {
            published
                .versions
                .retain(|v| v.version.as_ref().is_none_or(|v| v.number != number));
        }
        Ok(json!({}))
    }

    pub fn create(&self, request: CreateRequest) -> Result<Value, ApiError> {
        check_name(&request.name)?;
        check_version_description(request.publish, &request.version_description)?;
        let definition = parse_definition(&request.definition)?;
        let arn = state_machine_arn(&self.account, &request.name);
        tags::check(&request.tags)?;
        if let Some(logging) = &request.logging_configuration {
            check_logging(logging)?;
        }
        let encryption = Encryption::checked(request.encryption_configuration)?;
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
            encryption,
            created: now,
            updated: now,
            revision_id: INITIAL_REVISION.to_owned(),
            version: None,
            alias_arn: None,
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
            let existing = existing.clone();
            drop(machines);
            return self.created(&existing, request.publish, request.version_description);
        }
        let machine = Arc::new(machine);
        self.tags.create(&machine.arn, request.tags)?;
        machines.push(machine.clone());
        drop(machines);
        self.created(&machine, request.publish, request.version_description)
    }

    /// CreateStateMachine's answer for `machine`, published first when asked.
    fn created(
        &self,
        machine: &Machine,
        publish: bool,
        description: Option<String>,
    ) -> Result<Value, ApiError> {
        let mut answer =
            json!({"stateMachineArn": machine.arn, "creationDate": epoch(machine.created)});
        if publish {
            answer["stateMachineVersionArn"] = Value::from(
                self.publish_revision(machine, description, false)?
                    .version_arn(),
            );
        }
        Ok(answer)
    }

    pub fn update(&self, request: UpdateRequest) -> Result<Value, ApiError> {
        let (name, _) = parse_state_machine_arn(&request.state_machine_arn)?;
        let current = self.current(&name, &request.state_machine_arn)?;
        check_version_description(request.publish, &request.version_description)?;
        if request.definition.is_none()
            && request.role_arn.is_none()
            && request.logging_configuration.is_none()
            && request.tracing_configuration.is_none()
            && request.encryption_configuration.is_none()
        {
            return Err(ApiError::new(
                Code::MissingRequiredParameter,
                "Either the definition, the role ARN, the LoggingConfiguration, the EncryptionConfiguration or the TracingConfiguration must be specified",
            ));
        }
        if let Some(logging) = &request.logging_configuration {
            check_logging(logging)?;
        }
        let encryption = match request.encryption_configuration {
            Some(requested) => Encryption::checked(Some(requested))?,
            None => current.encryption.clone(),
        };
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
            encryption,
            created: current.created,
            updated: now,
            revision_id: current.revision_id.clone(),
            version: None,
            alias_arn: None,
        };
        let changed = updated.text != current.text
            || updated.role_arn != current.role_arn
            || updated.logging != current.logging
            || updated.tracing != current.tracing
            || updated.encryption != current.encryption;
        let updated = Arc::new(Machine {
            revision_id: if changed {
                uuid::Uuid::new_v4().to_string()
            } else {
                current.revision_id.clone()
            },
            ..updated
        });
        let mut machines = self.lock();
        if let Some(slot) = machines.iter_mut().find(|m| m.arn == current.arn) {
            *slot = updated.clone();
        }
        drop(machines);
        let mut answer = json!({"updateDate": epoch(now), "revisionId": updated.revision_id});
        if request.publish {
            let version = self.publish_revision(&updated, request.version_description, true)?;
            answer["stateMachineVersionArn"] = Value::from(version.version_arn());
        }
        Ok(answer)
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
        self.lock_versions().remove(&name);
        self.aliases.remove_machine(&name);
        self.tags.remove(&state_machine_arn(&self.account, &name));
        Ok(json!({}))
    }

    /// Checks that every version `routing` names is a version of the state machine `name`.
    fn check_routing(&self, name: &str, routing: &[aliases::Route]) -> Result<String, ApiError> {
        let machine_arn = state_machine_arn(&self.account, name);
        check_routing(&machine_arn, routing, |arn| {
            parse_version_arn(arn).is_ok_and(|(n, number)| self.version(&n, number, arn).is_ok())
        })?;
        Ok(machine_arn)
    }

    pub fn create_alias(&self, request: aliases::CreateRequest) -> Result<Value, ApiError> {
        check_alias_name(&request.name)?;
        check_weights(&request.routing_configuration)?;
        let first = request
            .routing_configuration
            .first()
            .map(|r| r.state_machine_version_arn.clone())
            .unwrap_or_default();
        let (name, _) = parse_version_arn(&first)?;
        let machine_arn = self.check_routing(&name, &request.routing_configuration)?;
        self.aliases.create(&name, &machine_arn, request)
    }

    pub fn describe_alias(&self, request: aliases::AliasRequest) -> Result<Value, ApiError> {
        let arn = request.state_machine_alias_arn;
        let (name, alias) = parse_alias_arn(&arn)?;
        self.aliases.describe(&name, &alias, &arn)
    }

    pub fn update_alias(&self, request: aliases::UpdateRequest) -> Result<Value, ApiError> {
        let (name, alias) = parse_alias_arn(&request.state_machine_alias_arn)?;
        if let Some(routing) = &request.routing_configuration {
            self.check_routing(&name, routing)?;
        }
        self.aliases.update(&name, &alias, request)
    }

    pub fn delete_alias(&self, request: aliases::AliasRequest) -> Result<Value, ApiError> {
        let (name, alias) = parse_alias_arn(&request.state_machine_alias_arn)?;
        Ok(self.aliases.delete(&name, &alias))
    }

    pub fn list_aliases(&self, request: aliases::ListRequest) -> Result<Value, ApiError> {
        let (name, _) = parse_state_machine_arn(&request.state_machine_arn)?;
        self.current(&name, &request.state_machine_arn)?;
        let machine_arn = state_machine_arn(&self.account, &name);
        self.aliases.list(&name, &machine_arn, request.page)
    }

    /// Checks that the state machine `arn` names exists, for its tags: ResourceNotFound when
    /// there is none.
    pub fn check_tagged(&self, arn: &str) -> Result<(), ApiError> {
        let (name, _) = parse_state_machine_arn(arn)?;
        self.current(&name, arn)
            .map(drop)
            .map_err(|_| tags::not_found(arn))
    }
}

/// A version's description is only for a request that publishes one.
fn check_version_description(publish: bool, description: &Option<String>) -> Result<(), ApiError> {
    if description.is_some() && !publish {
        return Err(ApiError::new(
            Code::ValidationException,
            "Version description can only be set when publish is true",
        ));
    }
    Ok(())
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
