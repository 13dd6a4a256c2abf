//! Token authentication.
//!
//! A token is a JWT (HS256) in the `X-Auth-Token` header, minted by the operator command
//! (`vbsctl token`) with the deployment's secret. It names the projects it may act on; a request
//! whose path project is not among them is refused with 403, a missing token with 401, a
//! malformed, badly signed or expired one with 401. The secret comes from configuration
//! (`VBS_TOKEN_SECRET` or `VBS_TOKEN_SECRET_FILE`) and must be at least 32 bytes, so a
//! deployment cannot run with a guessable key.

use std::{marker::PhantomData, time::Duration};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use api_types::domain::ProjectId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::http::{Flavor, Problem, Rejection};

pub const TOKEN_HEADER: &str = "X-Auth-Token";
const ISSUER: &str = "vbs";
const MIN_SECRET_LEN: usize = 32;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token was issued to (free text, for audit logs).
    pub sub: String,
    /// The projects the token may act on.
    pub projects: Vec<String>,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is malformed or not signed by this deployment")]
    Invalid,
}

/// The signing and verifying keys of a deployment.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_LEN,
            "the token secret must be at least {MIN_SECRET_LEN} bytes"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Reads the secret from `VBS_TOKEN_SECRET` / `VBS_TOKEN_SECRET_FILE`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_secret(crate::config::secret("VBS_TOKEN_SECRET")?.as_bytes())
    }

    pub fn mint(&self, subject: &str, projects: &[ProjectId], ttl: Duration) -> anyhow::Result<String> {
        anyhow::ensure!(!projects.is_empty(), "a token must name at least one project");
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            projects: projects.iter().map(|p| p.as_str().to_owned()).collect(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// An authenticated request for the project in the path (`{project_id}`): the handler only runs
/// when the token is valid and grants that project.
#[derive(Debug, Clone)]
pub struct ProjectAccess<F> {
    pub project: ProjectId,
    pub subject: String,
    flavor: PhantomData<fn() -> F>,
}

impl<F: Flavor> ProjectAccess<F> {
    fn check(req: &HttpRequest) -> Result<Self, Problem<F>> {
        let keys = req.app_data::<web::Data<TokenKeys>>().ok_or_else(|| {
            tracing::error!("TokenKeys missing from app data");
            Problem::rejection(Rejection::Internal)
        })?;
        let token = req
            .headers()
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Problem::rejection(Rejection::MissingToken))?;
        let claims = keys.verify(token).map_err(|e| match e {
            TokenError::Expired => Problem::rejection(Rejection::ExpiredToken),
            TokenError::Invalid => Problem::rejection(Rejection::InvalidToken),
        })?;
        let path_project = req.match_info().get("project_id").unwrap_or_default();
        if !claims.projects.iter().any(|p| p == path_project) {
            return Err(Problem::rejection_with(
                Rejection::ForbiddenProject,
                format!("the token does not grant access to project {path_project:?}"),
            ));
        }
        // Tokens are minted only for valid ids, so this fails only for a forged-but-signed
        // token; refuse it the same way.
        let project =
            ProjectId::parse(path_project).map_err(|_| Problem::rejection(Rejection::ForbiddenProject))?;
        Ok(Self { project, subject: claims.sub, flavor: PhantomData })
    }
}

impl<F: Flavor> FromRequest for ProjectAccess<F> {
    type Error = Problem<F>;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::check(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let p = ProjectId::parse("p1").unwrap();
        let t = k.mint("ops", &[p], Duration::from_secs(60)).unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!(c.projects, ["p1"]);
        assert_eq!(c.sub, "ops");
    }

    #[test]
    fn rejects_short_secrets_other_keys_and_garbage() {
        assert!(TokenKeys::from_secret(b"short").is_err());
        let p = ProjectId::parse("p1").unwrap();
        let other = TokenKeys::from_secret(b"another-secret-another-secret-xx").unwrap();
        let t = other.mint("ops", &[p], Duration::from_secs(60)).unwrap();
        assert_eq!(keys().verify(&t), Err(TokenError::Invalid));
        assert_eq!(keys().verify("not.a.token"), Err(TokenError::Invalid));
        assert_eq!(keys().verify(""), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_tokens_are_told_apart() {
        let k = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: "ops".into(),
            projects: vec!["p1".into()],
            iss: ISSUER.into(),
            iat: now - 7200,
            exp: now - 3600,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap();
        assert_eq!(k.verify(&t), Err(TokenError::Expired));
    }
}
