//! WebSub (W3C Recommendation, 2018) subscriber, in parts: finding a feed's
//! hub and topic (`discovery`), checking a pushed notification's signature
//! (`signature`), a subscription's decisions (`subscription`: callback and
//! secret, verification of intent, renewal), asking a hub (`hub`) and
//! what the callback endpoint answers (`callback`). The worker uses them in
//! `pipeline::push` and `pipeline::subscriptions`; the store keeps the
//! subscriptions.

pub mod callback;
pub mod discovery;
pub mod hub;
pub mod signature;
pub mod subscription;

pub use discovery::{Discovery, discover, link_header_rels};
pub use signature::{SignatureError, verify_signature};
