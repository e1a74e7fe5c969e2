//! The HTTP edge of the three API routes: API Gateway HTTP API (payload 2.0) events in, JSON
//! responses out. The caller's identity comes only from the JWT authorizer's claims.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::prelude::{Engine, BASE64_STANDARD};
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{DomainError, ErrorCode, ErrorKind};

/// Bodies larger than this are refused (the API carries small JSON documents only).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The claim that names the user: the token's subject.
pub const USER_CLAIM: &str = "sub";

/// Reads an API Gateway HTTP API event; anything else is a validation error.
pub fn parse_event(event: Value) -> Result<ApiGatewayV2httpRequest, DomainError> {
    serde_json::from_value(event)
        .map_err(|e| DomainError::bad_request(format!("not an HTTP API request event: {e}")))
}

/// The user the verified token names, exactly as signed (never trimmed or folded: `" u1"` is not
/// `"u1"`); 401 when the request carries no such claim.
pub fn caller(req: &ApiGatewayV2httpRequest) -> Result<String, DomainError> {
    req.request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get(USER_CLAIM))
        .filter(|sub| !sub.is_empty())
        .cloned()
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

/// A query-string parameter's value, percent-decoded, if the request has it (the first, when it
/// is repeated).
pub fn query_param<'a>(req: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    req.query_string_parameters.first(name)
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
    let too_large = || {
        DomainError::validation(
            ErrorCode::PayloadTooLarge,
            format!("body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let bytes = if req.is_base64_encoded {
        // Sized from its text before anything is decoded, so a huge body costs no allocation.
        let encoded = body.trim();
        if base64_decoded_len(encoded) > MAX_BODY_BYTES {
            return Err(too_large());
        }
        BASE64_STANDARD
            .decode(encoded)
            .map_err(|_| DomainError::bad_request("body is not valid base64"))?
    } else {
        body.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DomainError::bad_request(format!("body is not valid JSON: {e}")))
}

/// How many bytes padded base64 text decodes to: three for every four characters, less one for
/// each `=` of padding. A trailing group of 2 or 3 characters (unpadded) counts as the 1 or 2
/// bytes it would carry; such text is refused when decoded anyway.
pub fn base64_decoded_len(encoded: &str) -> usize {
    let groups = encoded.len() / 4 * 3;
    let padding = encoded
        .bytes()
        .rev()
        .take(2)
        .take_while(|&b| b == b'=')
        .count();
    let trailing = match encoded.len() % 4 {
        2 => 1,
        3 => 2,
        _ => 0,
    };
    (groups + trailing).saturating_sub(padding)
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

/// What a caller is told of a failure that is not theirs (5xx, 429): a fixed sentence per code.
/// What really happened is logged with the request id the answer carries, never sent.
pub fn public_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Throttled => "too many requests; retry later",
        ErrorCode::Unavailable | ErrorCode::DeadlineExceeded => {
            "the service is briefly unavailable; retry later"
        }
        _ => "internal error",
    }
}

/// The error body every route answers with: `{"error": {"code", "message"}}`. A request's own
/// fault (4xx but 429) says what is wrong with it; any other failure says only
/// [`public_message`] and the request id, and its detail goes to the log.
pub fn error_response(error: &DomainError, request_id: &str) -> ApiGatewayV2httpResponse {
    let body = if error.kind == ErrorKind::Validation {
        json!({"error": {"code": error.code, "message": error.message}})
    } else {
        tracing::error!(
            apiRequestId = request_id,
            error.code = %error.code,
            error.message = %error.message,
            "request failed"
        );
        json!({"error": {
            "code": error.code,
            "message": public_message(error.code),
            "requestId": request_id,
        }})
    };
    let mut response = json_response(error.code.http_status(), &body);
    if let Some(seconds) = error.retry_after_seconds {
        response
            .headers
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `status` with the value, or the error's status and body (see [`error_response`]).
pub fn respond<T: Serialize>(
    req: &ApiGatewayV2httpRequest,
    status: u16,
    result: Result<T, DomainError>,
) -> ApiGatewayV2httpResponse {
    match result {
        Ok(value) => json_response(status, &value),
        Err(e) => error_response(&e, request_id(req)),
    }
}

/// API Gateway's id of the request, which its access log and the functions' logs share.
pub fn request_id(req: &ApiGatewayV2httpRequest) -> &str {
    req.request_context.request_id.as_deref().unwrap_or("")
}

/// An HTTP API (payload 2.0) request event as API Gateway hands it to a function once its JWT
/// authorizer has accepted the caller's token: for what stands in for API Gateway (sfn-local)
/// and for tests.
#[derive(Debug, Clone)]
pub struct RequestEvent {
    method: String,
    path: String,
    route: Option<String>,
    raw_query: String,
    query: Map<String, Value>,
    path_parameters: Map<String, Value>,
    headers: Map<String, Value>,
    claims: Option<Value>,
    body: Option<String>,
    is_base64_encoded: bool,
    request_id: String,
}

/// Adds `value` under `name`, after a comma when `name` already has one, as API Gateway joins
/// repeated headers and query parameters.
fn add_joined(values: &mut Map<String, Value>, name: &str, value: &str) {
    match values.get_mut(name) {
        Some(Value::String(joined)) => {
            joined.push(',');
            joined.push_str(value);
        }
        _ => {
            values.insert(name.to_owned(), value.into());
        }
    }
}

impl RequestEvent {
    /// A request without a token, headers, parameters or body.
    pub fn new(method: &str, path: &str) -> Self {
        RequestEvent {
            method: method.to_owned(),
            path: path.to_owned(),
            route: None,
            raw_query: String::new(),
            query: Map::new(),
            path_parameters: Map::new(),
            headers: Map::new(),
            claims: None,
            body: None,
            is_base64_encoded: false,
            request_id: "request-1".to_owned(),
        }
    }

    /// The route's path template (`/api/goals/{goalId}`), which the route key names; the path
    /// itself by default.
    pub fn route(mut self, template: &str) -> Self {
        self.route = Some(template.to_owned());
        self
    }

    /// The verified token's claims.
    pub fn claims(mut self, claims: Value) -> Self {
        self.claims = Some(claims);
        self
    }

    /// A token whose subject is `user`; `None` leaves the request anonymous.
    pub fn user<'a>(self, user: impl Into<Option<&'a str>>) -> Self {
        match user.into() {
            Some(user) => self.claims(json!({ USER_CLAIM: user })),
            None => self,
        }
    }

    pub fn path_parameter(mut self, name: &str, value: &str) -> Self {
        self.path_parameters.insert(name.to_owned(), value.into());
        self
    }

    /// The query string as sent; its decoded parameters are given one by one.
    pub fn raw_query(mut self, raw: &str) -> Self {
        self.raw_query = raw.to_owned();
        self
    }

    /// One decoded query parameter; a name given again has its values joined with commas, as
    /// API Gateway does.
    pub fn query_parameter(mut self, name: &str, value: &str) -> Self {
        add_joined(&mut self.query, name, value);
        self
    }

    /// A header, by its lower-case name; one given again has its values joined with commas, as
    /// API Gateway does.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        add_joined(&mut self.headers, name, value);
        self
    }

    /// A body of text.
    pub fn body(mut self, text: &str) -> Self {
        self.body = Some(text.to_owned());
        self.is_base64_encoded = false;
        self
    }

    /// A body that is not text, base64-encoded as API Gateway passes it.
    pub fn binary_body(mut self, bytes: &[u8]) -> Self {
        self.body = Some(BASE64_STANDARD.encode(bytes));
        self.is_base64_encoded = true;
        self
    }

    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = id.to_owned();
        self
    }

    /// The event; as API Gateway's, it leaves out the query and path parameters and the body
    /// when the request has none.
    pub fn into_value(self) -> Value {
        let user_agent = self.headers.get("user-agent").cloned().unwrap_or_default();
        let authorizer = self
            .claims
            .map(|claims| json!({"jwt": {"claims": claims, "scopes": null}}));
        let route = self.route.as_deref().unwrap_or(&self.path);
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{} {route}", self.method),
            "rawPath": self.path,
            "rawQueryString": self.raw_query,
            "headers": self.headers,
            "requestContext": {
                "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": user_agent},
                "authorizer": authorizer,
                "requestId": self.request_id,
            },
            "isBase64Encoded": self.is_base64_encoded,
        });
        if !self.query.is_empty() {
            event["queryStringParameters"] = Value::Object(self.query);
        }
        if !self.path_parameters.is_empty() {
            event["pathParameters"] = Value::Object(self.path_parameters);
        }
        if let Some(body) = self.body {
            event["body"] = Value::String(body);
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(claims: Value, body: Option<&str>) -> ApiGatewayV2httpRequest {
        let event = RequestEvent::new("POST", "/api/goals/g%2F1/start-activity")
            .claims(claims)
            .path_parameter("goalId", "g%2F1")
            .header("content-type", "application/json")
            .request_id("r1");
        let event = match body {
            Some(text) => event.body(text),
            None => event,
        };
        parse_event(event.into_value()).unwrap_or_default()
    }

    #[test]
    fn the_caller_is_the_subject_claim_exactly() {
        assert_eq!(caller(&event(json!({"sub": "u1"}), None)), Ok("u1".into()));
        assert_eq!(
            caller(&event(json!({"sub": " u1\t"}), None)),
            Ok(" u1\t".into())
        );
        for claims in [json!({"email": "x"}), json!({"sub": ""})] {
            let missing = caller(&event(claims, None));
            assert_eq!(missing.map_err(|e| e.code), Err(ErrorCode::Unauthorized));
        }
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
    fn a_request_event_reads_back_as_api_gateway_sends_it() {
        let event = RequestEvent::new("GET", "/api/goals/g1/executions")
            .user("u1")
            .path_parameter("goalId", "g1")
            .raw_query("x=a&x=b")
            .query_parameter("x", "a")
            .query_parameter("x", "b")
            .route("/api/goals/{goalId}/executions")
            .header("accept", "a/b")
            .header("accept", "c/d")
            .binary_body(br#"{"a":1}"#);
        let req = parse_event(event.into_value()).unwrap_or_default();
        assert_eq!(
            req.route_key.as_deref(),
            Some("GET /api/goals/{goalId}/executions")
        );
        assert_eq!(header(&req, "accept"), Some("a/b,c/d"));
        assert_eq!(caller(&req), Ok("u1".into()));
        assert_eq!(path_param(&req, "goalId"), Ok("g1".into()));
        let repeated = req.query_string_parameters.all("x");
        assert_eq!(repeated, Some(vec!["a", "b"]), "sent joined, read apart");
        assert_eq!(json_body(&req), Ok(Some(json!({"a": 1}))));
        let anonymous = parse_event(RequestEvent::new("GET", "/").into_value()).unwrap_or_default();
        let refused = caller(&anonymous).map_err(|e| e.code);
        assert_eq!(refused, Err(ErrorCode::Unauthorized));
    }

    fn base64_event(encoded: &str) -> ApiGatewayV2httpRequest {
        let mut req = event(json!({}), Some(encoded));
        req.is_base64_encoded = true;
        req
    }

    #[test]
    fn base64_bodies_are_decoded() {
        assert_eq!(
            json_body(&base64_event("eyJhIjoxfQ==")),
            Ok(Some(json!({"a": 1})))
        );
        let bad = json_body(&base64_event("e$$$"));
        assert_eq!(bad.map_err(|e| e.code), Err(ErrorCode::BadRequest));
    }

    #[test]
    fn base64_text_says_its_decoded_size() {
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let encoded = BASE64_STANDARD.encode(&bytes);
            assert_eq!(base64_decoded_len(&encoded), len, "{encoded}");
            let unpadded = encoded.trim_end_matches('=');
            assert_eq!(base64_decoded_len(unpadded), len, "{unpadded}");
        }
    }

    #[test]
    fn a_base64_body_is_sized_before_it_is_decoded() {
        let limit = BASE64_STANDARD.encode(vec![b' '; MAX_BODY_BYTES]);
        let over = BASE64_STANDARD.encode(vec![b' '; MAX_BODY_BYTES + 1]);
        let code = |text: &str| json_body(&base64_event(text)).map_err(|e| e.code);
        // Spaces only: at the limit it is decoded (and is no JSON), one byte more is refused.
        assert_eq!(code(&limit), Err(ErrorCode::BadRequest));
        assert_eq!(code(&over), Err(ErrorCode::PayloadTooLarge));
        // Text that is not even base64 is refused for its size: it was never decoded.
        let junk = "!".repeat(over.len());
        assert_eq!(code(&junk), Err(ErrorCode::PayloadTooLarge));
        assert_eq!(code(&"!".repeat(8)), Err(ErrorCode::BadRequest));
    }

    #[test]
    fn errors_have_the_documented_shape() {
        let r = error_response(&DomainError::not_found("no goal g"), "r1");
        assert_eq!(r.status_code, 404);
        assert_eq!(
            crate::examples::response_json(&r),
            json!({"error": {"code": "NOT_FOUND", "message": "no goal g"}})
        );
    }

    #[test]
    fn failures_that_are_not_the_callers_say_nothing_but_the_request_id() {
        let detail = "dispatch failure: Connection refused (os error 111) on table GoalsTable";
        for (error, status, message) in [
            (
                DomainError::permanent(ErrorCode::Internal, detail),
                500,
                "internal error",
            ),
            (
                crate::StoreError::Other(detail.into()).into(),
                500,
                "internal error",
            ),
            (
                crate::StoreError::Unavailable(detail.into()).into(),
                503,
                "the service is briefly unavailable; retry later",
            ),
            (
                DomainError::transient(ErrorCode::Throttled, detail),
                429,
                "too many requests; retry later",
            ),
        ] {
            let code = error.code;
            let r = respond::<()>(&event(json!({}), None), 200, Err(error));
            assert_eq!(r.status_code, status);
            assert_eq!(
                crate::examples::response_json(&r),
                json!({"error": {"code": code, "message": message, "requestId": "r1"}})
            );
        }
    }
}
