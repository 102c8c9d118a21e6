//! Terminology for the validator: value-set membership behind one
//! provider ([`value_sets`]), and `memberOf()` answered through it
//! ([`member_of`]).

pub mod member_of;
pub mod value_sets;
