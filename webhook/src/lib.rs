//! GitHub webhook receiver for cubist.
//!
//! [`router`] serves `POST /hooks/github`, verifies `X-Hub-Signature-256`,
//! turns deliveries into [`HookEvent`]s and hands them to an [`EventQueue`]; the
//! consumer drains an [`EventReceiver`] (optionally [`coalesce`]d batches).
//! The outbound GitHub REST client (comments, statuses, issues) is the `cubist-github` crate.

mod dedup;
pub mod events;
mod queue;
mod router;
pub mod signature;

pub use events::{COMMAND_ASSOCIATIONS, HookEvent, PLAN_COMMAND};
pub use queue::{
    DEFAULT_QUEUE_CAPACITY, EnqueueError, EventQueue, EventReceiver, coalesce, event_queue,
};
pub use router::{
    ConfigError, DEFAULT_DEDUP_CAPACITY, DEFAULT_MAX_BODY_BYTES, DEFAULT_RETRY_AFTER_SECS,
    DeliveryObserver, WEBHOOK_PATH, WebhookConfig, event_label, router,
};
