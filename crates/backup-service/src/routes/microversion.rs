//! Cinder's microversions on the v3 native API.
//!
//! A `/v3` request may ask for a microversion with `OpenStack-API-Version: volume 3.x` (or the
//! legacy `X-OpenStack-Volume-API-Version: 3.x`; `latest` is the highest served). Without one it
//! gets 3.0, Cinder's base; one outside [`MIN`]..=[`MAX`] is answered 406, a malformed one 400,
//! both as Cinder faults. The answer names the version it was served at and says `Vary` on the
//! header. Handlers gate behaviour on the [`Microversion`] extractor at Cinder's version for it
//! (metadata 3.43, availability zone 3.51, update 3.9, …).
//!
//! The `/v2` native API (the vendor's) has no microversions: every request is served with all
//! of it, as if at [`MAX`].

use std::{fmt, str::FromStr};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{HeaderName, HeaderValue, VARY},
    },
    middleware::Next,
};
use api_types::dto::{MAX_MICROVERSION, MIN_MICROVERSION};
use service_kit::http::{Cinder, Problem, Rejection};

pub const HEADER: &str = "openstack-api-version";
pub const LEGACY_HEADER: &str = "x-openstack-volume-api-version";

/// A volume API microversion, `3.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    major: u16,
    minor: u16,
}

pub const MIN: Microversion = Microversion { major: MIN_MICROVERSION.0, minor: MIN_MICROVERSION.1 };
pub const MAX: Microversion = Microversion { major: MAX_MICROVERSION.0, minor: MAX_MICROVERSION.1 };

impl Microversion {
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// Whether a request at this version gets the behaviour Cinder added at `3.minor`.
    pub fn at_least(self, minor: u16) -> bool {
        self >= Self::new(3, minor)
    }

    /// A call Cinder added at `3.minor`: below it, no such call (404).
    pub fn require(self, minor: u16) -> Result<(), crate::error::BackupError> {
        if self.at_least(minor) { Ok(()) } else { Err(crate::error::BackupError::NeedsMicroversion(minor)) }
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Microversion {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("latest") {
            return Ok(MAX);
        }
        let (major, minor) = s.split_once('.').ok_or(())?;
        let number = |n: &str| {
            if n.is_empty() || n.len() > 4 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            n.parse::<u16>().map_err(drop)
        };
        Ok(Self { major: number(major)?, minor: number(minor)? })
    }
}

/// What the request asked for: `None` without a header.
fn requested(req: &ServiceRequest) -> Result<Option<Microversion>, String> {
    let headers = req.headers();
    if let Some(v) = headers.get(HEADER) {
        let v = v.to_str().map_err(|_| "OpenStack-API-Version is not text".to_owned())?;
        // `volume 3.x`; a header for other services (`compute 2.1`) does not concern this one.
        for item in v.split(',') {
            let mut words = item.split_whitespace();
            if let (Some(service), Some(version), None) = (words.next(), words.next(), words.next())
                && service.eq_ignore_ascii_case("volume")
            {
                return version
                    .parse()
                    .map(Some)
                    .map_err(|()| format!("{version:?} is not a microversion (3.x or latest)"));
            }
        }
        return Ok(None);
    }
    match headers.get(LEGACY_HEADER).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(v)) => {
            v.parse().map(Some).map_err(|()| format!("{v:?} is not a microversion (3.x or latest)"))
        }
        Some(Err(_)) => Err("X-OpenStack-Volume-API-Version is not text".to_owned()),
    }
}

/// Middleware of the `/v3` native scopes: negotiates the version, refuses one out of range,
/// and names the served version in the answer.
pub async fn negotiate<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let version = match requested(&req) {
        Ok(v) => v.unwrap_or(MIN),
        Err(message) => {
            let problem = Problem::<Cinder>::rejection_with(Rejection::BadQuery, message);
            return Ok(req.into_response(problem.error_response()));
        }
    };
    if !(MIN..=MAX).contains(&version) {
        let problem = Problem::<Cinder>::new(
            StatusCode::NOT_ACCEPTABLE,
            api_types::error::codes::volume_backup::MALFORMED_REQUEST,
            format!("Version {version} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."),
        );
        let mut res = req.into_response(problem.error_response());
        stamp(res.headers_mut(), version);
        return Ok(res);
    }
    req.extensions_mut().insert(version);
    let mut res = next.call(req).await?.map_into_boxed_body();
    stamp(res.headers_mut(), version);
    Ok(res)
}

fn stamp(headers: &mut actix_web::http::header::HeaderMap, version: Microversion) {
    if let Ok(v) = HeaderValue::from_str(&format!("volume {version}")) {
        headers.insert(HeaderName::from_static(HEADER), v);
    }
    headers.append(VARY, HeaderValue::from_static("OpenStack-API-Version"));
}

/// The request's microversion: what [`negotiate`] settled on under `/v3`, [`MAX`] under `/v2`.
impl FromRequest for Microversion {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(req.extensions().get::<Microversion>().copied().unwrap_or(MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!("3.64".parse(), Ok(Microversion::new(3, 64)));
        assert_eq!(" 3.0 ".parse(), Ok(MIN));
        assert_eq!("latest".parse(), Ok(MAX));
        for bad in ["3", "3.", ".1", "3.x", "v3.1", "3.1.1", "99999.1", ""] {
            assert_eq!(bad.parse::<Microversion>(), Err(()), "{bad}");
        }
        assert!(Microversion::new(3, 43).at_least(43));
        assert!(!Microversion::new(3, 42).at_least(43));
        assert!(Microversion::new(4, 0) > MAX);
    }
}
