//! The JSON text itself: the parser's structure check, JSON comments when
//! allowed, and the line and column of an issue's location.

pub mod json_comments;
pub mod position;
pub mod structure;
