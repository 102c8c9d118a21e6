//! Ties each resource of the route table to the routes it may serve.
//!
//! The router matches paths on its own; this guard makes a resource match
//! only when the request's [`Classified`] route names that resource's
//! pattern. If the router's idea of a path and the classifier's ever
//! differed (a resource registered in the wrong order, a pattern that
//! catches more than it should), the request would fall through to the
//! 404 of the default service rather than reach a handler that the
//! authorization layer did not judge.

use actix_web::guard::{Guard, GuardContext};

use super::Classified;

/// Matches requests classified with `pattern`.
pub struct Pattern(pub String);

impl Guard for Pattern {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        ctx.req_data()
            .get::<Classified>()
            .is_some_and(|c| c.pattern == self.0)
    }
}
