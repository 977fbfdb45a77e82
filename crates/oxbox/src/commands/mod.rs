//! One module per verb; each turns its arguments into sandbox calls.

pub mod debug;
pub mod do_;
pub mod image;
pub mod limits;
pub mod pull;
pub mod runtime;
