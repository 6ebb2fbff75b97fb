//! WebSub (W3C Recommendation, 2018) subscriber, in parts: finding a feed's
//! hub and topic (`discovery`), checking a pushed notification's signature
//! (`signature`), a subscription's decisions (`subscription`: callback and
//! secret, verification of intent, renewal), asking a hub (`hub`) and
//! what the callback endpoint answers (`callback`). Not wired into the
//! worker yet: storing subscriptions (both backends), mounting the callback
//! on the ops server, `[push]` config, metrics and the fall-back to
//! polling come next.

pub mod callback;
pub mod discovery;
pub mod hub;
pub mod signature;
pub mod subscription;

pub use discovery::{Discovery, discover, link_header_rels};
pub use signature::{SignatureError, verify_signature};
