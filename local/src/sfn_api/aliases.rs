//! State machine aliases: CreateStateMachineAlias, DescribeStateMachineAlias,
//! UpdateStateMachineAlias, DeleteStateMachineAlias and ListStateMachineAliases. An alias routes
//! each execution started on it to one of one or two versions, by weight.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{ApiError, Code};
use super::names::{check_name, epoch, parse_version_arn};
use super::pages::Page;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub state_machine_version_arn: String,
    pub weight: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    pub name: String,
    pub description: Option<String>,
    pub routing_configuration: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    pub state_machine_alias_arn: String,
    pub description: Option<String>,
    pub routing_configuration: Option<Vec<Route>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasRequest {
    pub state_machine_alias_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRequest {
    pub state_machine_arn: String,
    #[serde(flatten)]
    pub page: Page,
}

#[derive(Debug, Clone)]
struct Alias {
    description: Option<String>,
    routing: Vec<Route>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
}

/// The aliases of every state machine: machine name -> alias name -> alias, in creation order.
#[derive(Default)]
pub struct Aliases {
    by_machine: Mutex<HashMap<String, Vec<(String, Alias)>>>,
}

/// An alias name: a state machine name that is not a number (a number names a version).
pub fn check_alias_name(name: &str) -> Result<(), ApiError> {
    check_name(name)?;
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::new(
            Code::InvalidName,
            format!("Invalid Name: '{name}'"),
        ));
    }
    Ok(())
}

/// Checks a routing configuration of `machine_arn`: one or two distinct versions of it, whose
/// weights add up to 100, each of which `exists`.
pub fn check_routing(
    machine_arn: &str,
    routing: &[Route],
    exists: impl Fn(&str) -> bool,
) -> Result<(), ApiError> {
    check_weights(routing)?;
    if routing.len() == 2
        && routing[0].state_machine_version_arn == routing[1].state_machine_version_arn
    {
        return Err(ApiError::new(
            Code::ValidationException,
            "Routing configuration must contain distinct state machine version ARNs",
        ));
    }
    let mut machines = Vec::new();
    for route in routing {
        machines.push(parse_version_arn(&route.state_machine_version_arn)?.0);
    }
    if machines.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err(ApiError::new(
            Code::ValidationException,
            "Routing configuration must contain state machine version ARNs of the same state machine",
        ));
    }
    for route in routing {
        let arn = &route.state_machine_version_arn;
        if !arn.starts_with(&format!("{machine_arn}:")) || !exists(arn) {
            return Err(ApiError::of_resource(
                Code::ResourceNotFound,
                format!("Resource not found: '{arn}'"),
                arn,
            ));
        }
    }
    Ok(())
}

/// One or two routes whose weights, each at most 100, add up to 100.
pub fn check_weights(routing: &[Route]) -> Result<(), ApiError> {
    if routing.is_empty() || routing.len() > 2 {
        return Err(ApiError::validation(
            "routingConfiguration",
            "Member must have length less than or equal to 2 and greater than or equal to 1",
        ));
    }
    if routing.iter().any(|r| r.weight > 100)
        || routing.iter().map(|r| r.weight).sum::<u32>() != 100
    {
        return Err(ApiError::new(
            Code::ValidationException,
            "Sum of routing configuration weights must be equal to 100",
        ));
    }
    Ok(())
}

impl Aliases {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(String, Alias)>>> {
        self.by_machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the alias `request.name` of the state machine `machine` (whose ARN is
    /// `machine_arn`); the same request again answers the alias that exists.
    pub fn create(
        &self,
        machine: &str,
        machine_arn: &str,
        request: CreateRequest,
    ) -> Result<Value, ApiError> {
        let arn = format!("{machine_arn}:{}", request.name);
        let mut all = self.lock();
        let aliases = all.entry(machine.to_owned()).or_default();
        if let Some((_, existing)) = aliases.iter().find(|(name, _)| *name == request.name) {
            if existing.routing != request.routing_configuration
                || existing.description != request.description
            {
                return Err(ApiError::new(
                    Code::ConflictException,
                    format!("Failed to create alias because an alias with the same name and a different routing configuration already exists: '{arn}'"),
                ));
            }
            return Ok(
                json!({"stateMachineAliasArn": arn, "creationDate": epoch(existing.created)}),
            );
        }
        let now = Utc::now();
        aliases.push((
            request.name,
            Alias {
                description: request.description,
                routing: request.routing_configuration,
                created: now,
                updated: now,
            },
        ));
        Ok(json!({"stateMachineAliasArn": arn, "creationDate": epoch(now)}))
    }

    fn with_alias<T>(
        &self,
        machine: &str,
        alias: &str,
        arn: &str,
        f: impl FnOnce(&mut Alias) -> T,
    ) -> Result<T, ApiError> {
        self.lock()
            .get_mut(machine)
            .and_then(|aliases| aliases.iter_mut().find(|(name, _)| name == alias))
            .map(|(_, found)| f(found))
            .ok_or_else(|| {
                ApiError::of_resource(
                    Code::ResourceNotFound,
                    format!("Resource not found: '{arn}'"),
                    arn,
                )
            })
    }

    pub fn describe(&self, machine: &str, alias: &str, arn: &str) -> Result<Value, ApiError> {
        self.with_alias(machine, alias, arn, |found| {
            let mut answer = json!({
                "stateMachineAliasArn": arn,
                "name": alias,
                "routingConfiguration": found.routing,
                "creationDate": epoch(found.created),
                "updateDate": epoch(found.updated),
            });
            if let Some(description) = &found.description {
                answer["description"] = Value::from(description.as_str());
            }
            answer
        })
    }

    pub fn update(
        &self,
        machine: &str,
        alias: &str,
        request: UpdateRequest,
    ) -> Result<Value, ApiError> {
        if request.description.is_none() && request.routing_configuration.is_none() {
            return Err(ApiError::new(
                Code::ValidationException,
                "Either the description or the RoutingConfiguration must be specified",
            ));
        }
        let arn = request.state_machine_alias_arn.clone();
        self.with_alias(machine, alias, &arn, |found| {
            if let Some(description) = request.description {
                found.description = Some(description);
            }
            if let Some(routing) = request.routing_configuration {
                found.routing = routing;
            }
            found.updated = Utc::now();
            json!({"updateDate": epoch(found.updated)})
        })
    }

    /// Deletes an alias; deleting one that does not exist succeeds, as in AWS.
    pub fn delete(&self, machine: &str, alias: &str) -> Value {
        if let Some(aliases) = self.lock().get_mut(machine) {
            aliases.retain(|(name, _)| name != alias);
        }
        json!({})
    }

    pub fn list(&self, machine: &str, machine_arn: &str, page: Page) -> Result<Value, ApiError> {
        let items: Vec<Value> = self
            .lock()
            .get(machine)
            .map(|aliases| {
                aliases
                    .iter()
                    .map(|(name, alias)| {
                        json!({"stateMachineAliasArn": format!("{machine_arn}:{name}"), "creationDate": epoch(alias.created)})
                    })
                    .collect()
            })
            .unwrap_or_default();
        page.answer("stateMachineAliases", items)
    }

    /// The version an execution started on the alias runs, drawn by the routing's weights.
    pub fn route(&self, machine: &str, alias: &str, arn: &str) -> Result<String, ApiError> {
        self.with_alias(machine, alias, arn, |found| {
            let mut draw = rand::thread_rng().gen_range(0..100);
            for route in &found.routing {
                if draw < route.weight {
                    return route.state_machine_version_arn.clone();
                }
                draw -= route.weight;
            }
            found
                .routing
                .last()
                .map(|r| r.state_machine_version_arn.clone())
                .unwrap_or_default()
        })
    }

    /// The aliases of `machine` that route to the version `version_arn`.
    pub fn referencing(&self, machine: &str, machine_arn: &str, version_arn: &str) -> Vec<String> {
        self.lock()
            .get(machine)
            .map(|aliases| {
                aliases
                    .iter()
                    .filter(|(_, a)| {
                        a.routing
                            .iter()
                            .any(|r| r.state_machine_version_arn == version_arn)
                    })
                    .map(|(name, _)| format!("{machine_arn}:{name}"))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn remove_machine(&self, machine: &str) {
        self.lock().remove(machine);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:m";

    fn route(version: &str, weight: u32) -> Route {
        Route {
            state_machine_version_arn: format!("{MACHINE}:{version}"),
            weight,
        }
    }

    #[test]
    fn a_routing_names_one_or_two_versions_of_its_machine_weighing_100() {
        let exists = |arn: &str| !arn.ends_with(":9");
        assert!(check_routing(MACHINE, &[route("1", 100)], exists).is_ok());
        assert!(check_routing(MACHINE, &[route("1", 40), route("2", 60)], exists).is_ok());
        for (routing, code) in [
            (vec![], Code::ValidationException),
            (
                vec![route("1", 50), route("2", 25), route("3", 25)],
                Code::ValidationException,
            ),
            (
                vec![route("1", 50), route("1", 50)],
                Code::ValidationException,
            ),
            (
                vec![route("1", 60), route("2", 60)],
                Code::ValidationException,
            ),
            (
                vec![route("1", u32::MAX), route("2", 101)],
                Code::ValidationException,
            ),
            (vec![route("9", 100)], Code::ResourceNotFound),
        ] {
            let refused = check_routing(MACHINE, &routing, exists).map_err(|e| e.code);
            assert_eq!(refused, Err(code), "{routing:?}");
        }
        let other = Route {
            state_machine_version_arn: format!("{MACHINE}-other:1"),
            weight: 100,
        };
        let refused =
            check_routing(MACHINE, std::slice::from_ref(&other), |_| true).map_err(|e| e.code);
        assert_eq!(refused, Err(Code::ResourceNotFound));
        let two_machines = [
            route("1", 50),
            Route {
                weight: 50,
                ..other
            },
        ];
        let refused = check_routing(MACHINE, &two_machines, |_| true).map_err(|e| e.code);
        assert_eq!(refused, Err(Code::ValidationException));
        assert!(check_alias_name("prod").is_ok());
        assert!(check_alias_name("42").is_err());
    }
}
