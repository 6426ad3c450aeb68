//! Turns data-model errors into HTTP replies, in one place: 4xx with the model's message for
//! refusals, a generic 503 (details in the log) for store failures.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;
use tern_store::model::ModelError;

/// An admin API failure.
pub struct ApiError(pub StatusCode, pub String);

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        let status = match &e {
            ModelError::NotFound(_) => StatusCode::NOT_FOUND,
            ModelError::AlreadyExists(_) | ModelError::InUse(_) => StatusCode::CONFLICT,
            ModelError::Invalid(_) => StatusCode::BAD_REQUEST,
            ModelError::Store(inner) => {
                tracing::error!(error = %inner, "admin request failed in the store");
                return ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage temporarily unavailable".into(),
                );
            }
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// Result of an admin handler.
pub type ApiResult<T> = Result<T, ApiError>;
