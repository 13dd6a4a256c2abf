use std::{marker::PhantomData, ops::Deref};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::{Flavor, Problem, Rejection};

/// The largest request body a service accepts, as app data (default 64 KiB: the largest
/// legitimate body, an associate request with hundreds of volumes, is a few KiB).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

impl Default for JsonLimit {
    fn default() -> Self {
        Self(64 * 1024)
    }
}

/// A JSON body. Unlike `actix_web::web::Json` it answers every failure in the API's envelope,
/// names the field that did not deserialize (`scheduled_policy.frequency: invalid type…`) with
/// that field's error code, tells an empty body apart from a malformed one, and reads the body
/// as JSON when the `Content-Type` is missing or is curl's default for `-d`
/// (`application/x-www-form-urlencoded`): what matters is whether the body is JSON.
pub struct Json<T, F>(pub T, PhantomData<fn() -> F>);

impl<T, F> Json<T, F> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T, F> Deref for Json<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static, F: Flavor> FromRequest for Json<T, F> {
    type Error = Problem<F>;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<JsonLimit>().copied().unwrap_or_default().0;
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(accepts_media_type);
        let declared_too_large = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > limit);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(Problem::rejection(Rejection::UnsupportedMediaType));
            }
            if declared_too_large {
                return Err(too_large(limit));
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code().as_u16() == 413 {
                    too_large(limit)
                } else {
                    Problem::rejection_with(Rejection::MalformedBody, "the request body could not be read")
                }
            })?;
            if bytes.len() > limit {
                return Err(too_large(limit));
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(Problem::rejection(Rejection::EmptyBody));
            }
            parse::<T, F>(&bytes).map(|v| Json(v, PhantomData))
        })
    }
}

fn too_large<F: Flavor>(limit: usize) -> Problem<F> {
    Problem::rejection_with(Rejection::PayloadTooLarge, format!("the request body exceeds {limit} bytes"))
}

fn accepts_media_type(v: &str) -> bool {
    let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
}

/// Deserializes with the path of the failing field, mapped to the flavor's field code. A NUL
/// character (`\u0000`) in any string is refused here, naming its field: no text column can
/// hold one, and no field of any API means one.
pub(crate) fn parse<T: DeserializeOwned, F: Flavor>(bytes: &[u8]) -> Result<T, Problem<F>> {
    if bytes.windows(6).any(|w| w == b"\\u0000")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = nul_at(&value, String::new())
    {
        let message = format!("{path}: contains a NUL character (\\u0000), which no text may hold");
        return Err(match F::field_code(&path) {
            Some(code) => Problem::new(Rejection::MalformedBody.status(), code, message),
            None => Problem::rejection_with(Rejection::MalformedBody, message),
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let mut path = err.path().to_string();
        let inner = err.inner();
        let detail = inner.to_string();
        // serde reports a missing field at its parent: name the field itself.
        if let Some(missing) = detail.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            path = if path == "." { missing.to_owned() } else { format!("{path}.{missing}") };
        }
        let detail = strip_position(&detail);
        let not_json = inner.is_syntax() || inner.is_eof();
        let code = if path == "." || not_json { None } else { F::field_code(&path) };
        let message = if path == "." || not_json {
            format!("the request body is not valid JSON: {detail}")
        } else {
            format!("{path}: {detail}")
        };
        match code {
            Some(code) => Problem::new(Rejection::MalformedBody.status(), code, message),
            None => Problem::rejection_with(Rejection::MalformedBody, message),
        }
    })
}

/// The path (`backup.description`, `tags[2].value`) of the first string or key holding a NUL.
fn nul_at(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => {
            Some(if path.is_empty() { ".".into() } else { path })
        }
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| nul_at(v, format!("{path}[{i}]")))
        }
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') { Some(join(&k.replace('\0', "\\u0000"))) } else { nul_at(v, join(k)) }
        }),
        _ => None,
    }
}

/// serde_json appends " at line L column C"; keep it for syntax errors, where it helps, and
/// drop it for type errors, where the field path says more.
fn strip_position(detail: &str) -> &str {
    match detail.rfind(" at line ") {
        Some(i) if !detail.starts_with("expected") && !detail.starts_with("EOF") => &detail[..i],
        _ => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Vbs;
    use actix_web::{HttpResponse, http::StatusCode};
    use api_types::error::codes::auto_backup as ab;
    use serde::Deserialize;

    /// The VBS envelope with one field code, as a service that has field codes defines it.
    struct WithFieldCodes;

    impl Flavor for WithFieldCodes {
        fn code(rejection: Rejection) -> &'static str {
            Vbs::code(rejection)
        }

        fn field_code(field: &str) -> Option<&'static str> {
            (field == "inner.frequency").then_some(ab::FREQUENCY_INVALID)
        }

        fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
            Vbs::respond(status, code, message)
        }
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        frequency: Option<i64>,
    }

    #[test]
    fn a_nul_character_is_refused_naming_its_field() {
        let err = parse::<Outer, WithFieldCodes>(br#"{"name": "a\u0000b", "inner": {}}"#).unwrap_err();
        assert_eq!(
            (err.code(), err.message().starts_with("name: contains a NUL")),
            (ab::MALFORMED_JSON, true)
        );
        let err = parse::<serde_json::Value, Vbs>(br#"{"tags": [{"k": "v"}, {"k": "\u0000"}]}"#).unwrap_err();
        assert!(err.message().starts_with("tags[1].k: contains a NUL"), "{}", err.message());
        let err = parse::<serde_json::Value, Vbs>(br#"{"a\u0000": 1}"#).unwrap_err();
        assert!(err.message().starts_with("a\\u0000: contains a NUL"), "{}", err.message());
        // An escaped backslash before `u0000` is no NUL.
        assert!(parse::<serde_json::Value, Vbs>(br#"{"a": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn names_the_field_and_its_code() {
        let err =
            parse::<Outer, WithFieldCodes>(br#"{"name":"x","inner":{"frequency":"often"}}"#).unwrap_err();
        assert_eq!(err.code(), "AutoBackup.0106");
        assert!(err.message().starts_with("inner.frequency: invalid type"), "{}", err.message());
    }

    #[test]
    fn missing_fields_are_named() {
        let err = parse::<Outer, Vbs>(br#"{"inner":{}}"#).unwrap_err();
        assert_eq!(err.message(), "name: missing field `name`");
    }

    #[test]
    fn syntax_errors_are_generic() {
        let err = parse::<Outer, Vbs>(br#"{"name": "#).unwrap_err();
        assert_eq!(err.code(), "AutoBackup.0008");
        assert!(err.message().starts_with("the request body is not valid JSON"), "{}", err.message());
    }

    #[test]
    fn media_types() {
        assert!(accepts_media_type("application/json"));
        assert!(accepts_media_type("application/json; charset=utf-8"));
        assert!(accepts_media_type("application/merge-patch+json"));
        assert!(accepts_media_type("application/x-www-form-urlencoded"));
        assert!(!accepts_media_type("text/plain"));
        assert!(!accepts_media_type("application/xml"));
    }
}
