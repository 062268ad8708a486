//! Domain types: parsed once where data enters (HTTP body, CLI argument, webhook form),
//! so that code past the edge never handles raw strings (audit #16).

mod activation;
mod calling_code;
mod client_id;
mod country;
mod email;
pub mod line_type;
mod media;
mod name;
mod number_type;
mod order_id;
mod phone;
mod role;
pub mod scope;
mod text;

pub use activation::{ActivationStatus, ContactChange, PendingId, code_in_text};
pub use calling_code::{AllowList, CallingCode, CallingCodeError};
pub use client_id::ClientId;
pub use country::CountryIso;
pub use email::Email;
pub use line_type::LineType;
pub use media::{
    MAX_MEDIA, Media, MediaError, MediaOrigin, MediaUrl, join_media, split_media, takes_pictures,
};
pub use name::ClientName;
pub use number_type::{NumberType, NumberTypeFilter};
pub use order_id::OrderId;
pub use phone::{E164, PhoneError};
pub use role::Role;
pub use scope::{Scope, Scopes};
pub use text::message_body;

/// Rejects ASCII and Unicode control characters, which have no place in names or ids and
/// would let a caller forge log lines or sheet cells.
fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}
