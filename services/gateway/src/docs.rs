//! `/docs`: Swagger UI from the `utoipa-swagger-ui` crate's vendored assets (shipped in the
//! crate from crates.io, nothing fetched at build or run time), pointed at `/openapi.json`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};

pub const DOCS_PATH: &str = "/docs";
pub const OPENAPI_PATH: &str = "/openapi.json";

#[derive(Clone)]
pub struct SwaggerUi {
    config: Arc<utoipa_swagger_ui::Config<'static>>,
}

impl Default for SwaggerUi {
    fn default() -> Self {
        Self {
            config: Arc::new(utoipa_swagger_ui::Config::from(OPENAPI_PATH)),
        }
    }
}

impl SwaggerUi {
    /// Serves one asset; `tail` is the path below `/docs/`.
    pub fn asset(&self, tail: &str) -> Response {
        match utoipa_swagger_ui::serve(tail, self.config.clone()) {
            Ok(Some(file)) => {
                let mut response = Response::new(Body::from(file.bytes.into_owned()));
                if let Ok(content_type) = HeaderValue::from_str(&file.content_type) {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, content_type);
                }
                if file.gzpipped {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                response
            }
            Ok(None) => StatusCode::NOT_FOUND.into_response(),
            Err(error) => {
                tracing::error!(%error, "swagger ui asset failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

pub async fn redirect() -> Redirect {
    Redirect::permanent("/docs/")
}

pub async fn index(axum::extract::State(ui): axum::extract::State<SwaggerUi>) -> Response {
    ui.asset("")
}

pub async fn asset(
    axum::extract::State(ui): axum::extract::State<SwaggerUi>,
    Path(tail): Path<String>,
) -> Response {
    ui.asset(&tail)
}
