//! The `local` strategy: tokens the deployment signs itself.
//!
//! A token is a JWT (HS256) minted by the operator command (`vbsctl token`) with the
//! deployment's secret. It names the projects it may act on and one role (`member` when the
//! token says none: tokens minted before roles existed keep their rights). The secret comes from
//! configuration (`VBS_TOKEN_SECRET` or `VBS_TOKEN_SECRET_FILE`) and must be at least 32 bytes,
//! so a deployment cannot run with a guessable key.

use std::time::Duration;

use api_types::domain::ProjectId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::{AuthError, Identity, Role};

const ISSUER: &str = "vbs";
const MIN_SECRET_LEN: usize = 32;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token was issued to (free text, for audit logs).
    pub sub: String,
    /// The projects the token may act on.
    pub projects: Vec<String>,
    /// `reader`, `member` or `admin`; absent means `member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
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

    pub fn mint(
        &self,
        subject: &str,
        projects: &[ProjectId],
        role: Role,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        anyhow::ensure!(!projects.is_empty(), "a token must name at least one project");
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            projects: projects.iter().map(|p| p.as_str().to_owned()).collect(),
            role: Some(role.as_str().to_owned()),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// Who a valid token speaks for.
    pub fn identify(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = self.verify(token).map_err(|e| match e {
            TokenError::Expired => AuthError::Expired,
            TokenError::Invalid => AuthError::Invalid,
        })?;
        // Tokens are minted only for valid ids and roles, so these fail only for a forged but
        // signed token: refuse it as invalid.
        let projects = claims
            .projects
            .iter()
            .map(|p| ProjectId::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| AuthError::Invalid)?;
        let role = match claims.role.as_deref() {
            None => Role::Member,
            Some(r) => Role::parse(r).ok_or(AuthError::Invalid)?,
        };
        Ok(Identity { user: claims.sub, projects, role: Some(role) })
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
        let t = k.mint("ops", std::slice::from_ref(&p), Role::Reader, Duration::from_secs(60)).unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!(c.projects, ["p1"]);
        assert_eq!(c.sub, "ops");
        let id = k.identify(&t).unwrap();
        assert_eq!((id.projects, id.role), (vec![p], Some(Role::Reader)));
    }

    #[test]
    fn rejects_short_secrets_other_keys_and_garbage() {
        assert!(TokenKeys::from_secret(b"short").is_err());
        let p = ProjectId::parse("p1").unwrap();
        let other = TokenKeys::from_secret(b"another-secret-another-secret-xx").unwrap();
        let t = other.mint("ops", &[p], Role::Member, Duration::from_secs(60)).unwrap();
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
            role: None,
            iss: ISSUER.into(),
            iat: now - 7200,
            exp: now - 3600,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap();
        assert_eq!(k.verify(&t), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_without_a_role_is_a_member_one() {
        let k = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: "ops".into(),
            projects: vec!["p1".into()],
            role: None,
            iss: ISSUER.into(),
            iat: now,
            exp: now + 60,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap();
        assert_eq!(k.identify(&t).unwrap().role, Some(Role::Member));
    }
}
