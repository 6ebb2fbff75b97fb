//! WebSub (W3C Recommendation, 2018) subscriber, in parts: finding a feed's
//! hub and topic (`discovery`) and checking a pushed notification's
//! signature (`signature`). Not wired into the worker yet: subscriptions,
//! the callback endpoint, leases and the fall-back to polling come next.

pub mod discovery;
pub mod signature;

pub use discovery::{Discovery, discover, link_header_rels};
pub use signature::{SignatureError, verify_signature};
