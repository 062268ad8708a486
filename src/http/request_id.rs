//! Request ids: every log line of a request names its id, and the caller reads it back in
//! `x-request-id`. A caller may bring its own, to follow a request across systems, only if it
//! looks like ours (a UUID, 36 characters); anything else — any length, any text a log reader
//! could be fooled by — is dropped here, so that `SetRequestIdLayer` gives the request a
//! fresh one. The refusal is noted like the others (`limits.rs`): counted, the first per
//! address per minute logged.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::address::client_address;
use super::limits::Refusal;

const X_REQUEST_ID: &str = "x-request-id";

/// Runs before `SetRequestIdLayer`.
pub async fn vet(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut given = req.headers().get_all(X_REQUEST_ID).iter();
    let acceptable = match (given.next(), given.next()) {
        (None, _) => true,
        (Some(id), None) => uuid_shaped(id),
        _ => false,
    };
    if !acceptable {
        req.headers_mut().remove(X_REQUEST_ID);
        let address = client_address(&state, &req);
        state.limits.note(address, Refusal::RequestId, "-", None);
    }
    next.run(req).await
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hexadecimal digits, as we make them.
fn uuid_shaped(id: &HeaderValue) -> bool {
    id.len() == 36
        && id
            .to_str()
            .is_ok_and(|id| uuid::Uuid::try_parse(id).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_are_taken_from_callers() {
        let ours = uuid::Uuid::new_v4().to_string();
        for good in [ours.as_str(), "0190F3A2-7B1C-7D3E-8F00-123456789ABC"] {
            assert!(uuid_shaped(&HeaderValue::from_str(good).unwrap()), "{good}");
        }
        for bad in [
            "trace-me-123",
            "",
            "0190f3a27b1c7d3e8f00123456789abc",
            "{0190f3a2-7b1c-7d3e-8f00-123456789abc}",
            "urn:uuid:0190f3a2-7b1c-7d3e-8f00-123456789abc",
            "0190f3a2-7b1c-7d3e-8f00-123456789abg",
            "0190f3a2-7b1c-7d3e-8f00-123456789abc ",
            "0190f3a2-7b1c-7d3e-8f00-123456789abc0",
        ] {
            assert!(
                !uuid_shaped(&HeaderValue::from_str(bad).unwrap()),
                "{bad:?}"
            );
        }
        let long = "a".repeat(8_000);
        assert!(!uuid_shaped(&HeaderValue::from_str(&long).unwrap()));
    }
}
