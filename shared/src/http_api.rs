//! The HTTP edge of the three API routes: API Gateway HTTP API (payload 2.0) events in, JSON
//! responses out. The caller's identity comes only from the JWT authorizer's claims.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::prelude::{Engine, BASE64_STANDARD};
use http::header::{HeaderValue, CONTENT_TYPE};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{DomainError, ErrorCode};

/// Bodies larger than this are refused (the API carries small JSON documents only).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The claim that names the user: the token's subject.
pub const USER_CLAIM: &str = "sub";

/// Reads an API Gateway HTTP API event; anything else is a validation error.
pub fn parse_event(event: Value) -> Result<ApiGatewayV2httpRequest, DomainError> {
    serde_json::from_value(event)
        .map_err(|e| DomainError::bad_request(format!("not an HTTP API request event: {e}")))
}

/// The user the verified token names; 401 when the request carries no such claim.
pub fn caller(req: &ApiGatewayV2httpRequest) -> Result<String, DomainError> {
    req.request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get(USER_CLAIM))
        .map(|sub| sub.trim())
        .filter(|sub| !sub.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| DomainError::unauthorized("the request carries no verified user claim"))
}

/// A path parameter, percent-decoded; 400 when missing or empty.
pub fn path_param(req: &ApiGatewayV2httpRequest, name: &str) -> Result<String, DomainError> {
    let raw = req
        .path_parameters
        .get(name)
        .ok_or_else(|| DomainError::bad_request(format!("missing path parameter {name}")))?;
    let value = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| DomainError::bad_request(format!("path parameter {name} is not UTF-8")))?;
    if value.trim().is_empty() || value.len() > 2048 {
        return Err(DomainError::bad_request(format!(
            "path parameter {name} must be 1 to 2048 characters"
        )));
    }
    Ok(value.into_owned())
}

/// A request header's value, if present and readable.
pub fn header<'a>(req: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request body as JSON: `None` when there is none; 400 when it is not JSON or too large.
pub fn json_body(req: &ApiGatewayV2httpRequest) -> Result<Option<Value>, DomainError> {
    let Some(body) = req.body.as_deref().filter(|b| !b.trim().is_empty()) else {
        return Ok(None);
    };
    let bytes = if req.is_base64_encoded {
        BASE64_STANDARD
            .decode(body.trim())
            .map_err(|_| DomainError::bad_request("body is not valid base64"))?
    } else {
        body.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(DomainError::new(
            crate::ErrorKind::Validation,
            ErrorCode::PayloadTooLarge,
            format!("body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DomainError::bad_request(format!("body is not valid JSON: {e}")))
}

/// A JSON response with the given status.
pub fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayV2httpResponse {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(text));
    response
}

/// The error body every route answers with: `{"error": {"code", "message"}}`.
pub fn error_response(error: &DomainError) -> ApiGatewayV2httpResponse {
    json_response(
        error.code.http_status(),
        &json!({"error": {"code": error.code, "message": error.message}}),
    )
}

/// `status` with the value, or the error's status and body.
pub fn respond<T: Serialize>(
    status: u16,
    result: Result<T, DomainError>,
) -> ApiGatewayV2httpResponse {
    match result {
        Ok(value) => json_response(status, &value),
        Err(e) => {
            if e.code.http_status() >= 500 {
                tracing::error!(error.code = %e.code, error.message = %e.message, "request failed");
            }
            error_response(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(claims: Value, body: Option<&str>) -> ApiGatewayV2httpRequest {
        parse_event(json!({
            "version": "2.0",
            "routeKey": "POST /api/goals/{goalId}/start-activity",
            "rawPath": "/api/goals/g%2F1/start-activity",
            "headers": {"content-type": "application/json"},
            "pathParameters": {"goalId": "g%2F1"},
            "requestContext": {
                "http": {"method": "POST", "path": "/api/goals/g%2F1/start-activity", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                "authorizer": {"jwt": {"claims": claims, "scopes": null}},
                "requestId": "r1"
            },
            "body": body,
            "isBase64Encoded": false
        }))
        .unwrap_or_default()
    }

    #[test]
    fn the_caller_comes_from_the_subject_claim() {
        assert_eq!(caller(&event(json!({"sub": "u1"}), None)), Ok("u1".into()));
        let missing = caller(&event(json!({"email": "x"}), None));
        assert_eq!(missing.map_err(|e| e.code), Err(ErrorCode::Unauthorized));
    }

    #[test]
    fn path_parameters_are_decoded() {
        assert_eq!(
            path_param(&event(json!({}), None), "goalId"),
            Ok("g/1".into())
        );
        let missing = path_param(&event(json!({}), None), "nope");
        assert_eq!(missing.map_err(|e| e.code), Err(ErrorCode::BadRequest));
    }

    #[test]
    fn bodies_must_be_json_and_small() {
        assert_eq!(
            json_body(&event(json!({}), Some("{\"a\":1}"))),
            Ok(Some(json!({"a": 1})))
        );
        assert_eq!(json_body(&event(json!({}), None)), Ok(None));
        let bad = json_body(&event(json!({}), Some("{nope")));
        assert_eq!(bad.map_err(|e| e.code), Err(ErrorCode::BadRequest));
        let big = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES));
        let big = json_body(&event(json!({}), Some(&big)));
        assert_eq!(big.map_err(|e| e.code), Err(ErrorCode::PayloadTooLarge));
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let mut req = event(json!({}), Some("eyJhIjoxfQ=="));
        req.is_base64_encoded = true;
        assert_eq!(json_body(&req), Ok(Some(json!({"a": 1}))));
    }

    #[test]
    fn errors_have_the_documented_shape() {
        let r = error_response(&DomainError::not_found("no goal g"));
        assert_eq!(r.status_code, 404);
        let Some(Body::Text(text)) = r.body else {
            panic!("text body expected")
        };
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": "no goal g"}})
        );
    }
}
