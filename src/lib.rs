//! feedwire: a streaming feed-ingestion worker.
//!
//! Stages, one module each: [`config`] → [`fetch`] → [`feed`] (parsing) →
//! [`dedup`] (story identity) and [`store`] (state) → [`extract`] (full
//! text) → [`message`] (the v1 article message) → [`publish`] (RabbitMQ with
//! confirms), wired together by [`pipeline`], which polls each feed when
//! [`schedule`] says; [`replay`] re-publishes the
//! archive and [`backfill`] ingests history; [`shutdown`] handles signals
//! and [`ops`] serves metrics and health.

pub mod app;
pub mod backfill;
pub mod check;
pub mod config;
pub mod dedup;
pub mod extract;
pub mod feed;
pub mod fetch;
pub mod message;
pub mod ops;
pub mod pipeline;
pub mod publish;
pub mod push;
pub mod replay;
pub mod schedule;
pub mod shutdown;
pub mod store;
pub mod text;
