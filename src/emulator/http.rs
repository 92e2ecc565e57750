//! Request and response plumbing the three platform APIs share: JSON error responses,
//! a JSON body extractor whose rejections are JSON too, and query-parameter parsing.
//!
//! It knows nothing about any platform's objects.

use std::collections::BTreeMap;
use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Largest request body the emulator reads.
pub(crate) const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An error answer: a status and a JSON body (`{"message": …, "errors"?: {…}}` unless the
/// platform documents another shape).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    /// `{"message": message}`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "message": message.into() }),
            retry_after: None,
        }
    }

    /// `{"message": message, "errors": {path: text}}`.
    pub(crate) fn with_errors(
        status: StatusCode,
        message: impl Into<String>,
        errors: BTreeMap<String, String>,
    ) -> Self {
        ApiError {
            status,
            body: json!({ "message": message.into(), "errors": errors }),
            retry_after: None,
        }
    }

    /// Any JSON body.
    pub(crate) fn body(status: StatusCode, body: Value) -> Self {
        ApiError {
            status,
            body,
            retry_after: None,
        }
    }

    /// `400` with a message.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// `404` with a message.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// `409` with a message.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// `422` with a message.
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// `429` with `Retry-After`.
    pub(crate) fn rate_limited(tenant: &str, retry_after_secs: u64) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({
                "message": format!(
                    "Too many requests for tenant '{tenant}'; retry after {retry_after_secs} seconds."
                )
            }),
            retry_after: Some(retry_after_secs),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A JSON request body. Malformed JSON or a body of the wrong shape answers
/// `400 {"message": …}` naming the line and column; an oversized body `413`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
                )
            } else {
                ApiError::bad_request(format!("Cannot read the request body: {e}."))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parse a JSON body, answering `400` with where it went wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; send a JSON object.",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "does not have the expected shape",
            _ => "is not valid JSON",
        };
        ApiError::bad_request(format!("The request body {what}: {e}."))
    })
}

/// Query parameters, parsed on demand with JSON errors.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("The query string is malformed: {e}.")))?;
        Ok(Params(map))
    }
}

impl Params {
    /// A raw parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A non-negative integer parameter within `min..=max`, `default` when absent.
    pub(crate) fn number(
        &self,
        name: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "Query parameter '{name}' must be a whole number from {min} to {max} (got '{raw}')."
            ))),
        }
    }
}

/// `201` with a JSON body.
pub(crate) fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_names_the_position() {
        let e = parse_json::<Value>(b"{\"a\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let msg = e.body["message"].as_str().unwrap();
        assert!(
            msg.starts_with("The request body is not valid JSON: "),
            "{msg}"
        );
        assert!(msg.contains("line 1 column"), "{msg}");
    }

    #[test]
    fn wrong_shape_says_so() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            name: String,
        }
        let e = parse_json::<B>(b"{\"nom\": 1}").unwrap_err();
        let msg = e.body["message"].as_str().unwrap();
        assert!(
            msg.contains("does not have the expected shape: missing field `name`"),
            "{msg}"
        );
    }

    #[test]
    fn empty_body_is_rejected() {
        let e = parse_json::<Value>(b"  ").unwrap_err();
        assert_eq!(
            e.body["message"],
            "The request body is empty; send a JSON object."
        );
    }

    #[test]
    fn numbers_are_bounded() {
        let p = Params(
            [("limit".to_owned(), "900".to_owned())]
                .into_iter()
                .collect(),
        );
        let e = p.number("limit", 50, 1, 500).unwrap_err();
        assert_eq!(
            e.body["message"],
            "Query parameter 'limit' must be a whole number from 1 to 500 (got '900')."
        );
        assert_eq!(p.number("from", 0, 0, usize::MAX).unwrap(), 0);
    }
}
