//! The codes a value set stands for, as an expansion works them out, and
//! the same codes indexed by (system, code) for membership checks. Kept
//! apart from [`crate::expand`] so that a [`crate::ValueSet`] can cache its
//! members without the value set module depending on the registry.

use std::collections::HashMap;

use crate::code_system::Designation;

/// A code of an expansion being worked out.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) system: String,
    pub(crate) version: Option<String>,
    /// The version the value set's include asked for (maybe a pattern).
    pub(crate) pinned: Option<String>,
    pub(crate) code: String,
    pub(crate) display: Option<String>,
    pub(crate) inactive: bool,
    pub(crate) abstract_: bool,
    pub(crate) designations: Vec<Designation>,
}

impl Item {
    pub(crate) fn key(&self) -> (String, String) {
        (self.system.clone(), self.code.clone())
    }
}

/// A value set's codes with a hash index, for membership checks.
#[derive(Debug)]
pub(crate) struct Members {
    pub(crate) items: Vec<Item>,
    pub(crate) index: HashMap<(String, String), usize>,
}

impl Members {
    /// Indexes the codes of an expansion.
    pub(crate) fn new(items: Vec<Item>) -> Members {
        let index = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.key(), i))
            .collect();
        Members { items, index }
    }

    /// The member with this system and code.
    pub(crate) fn get(&self, system: &str, code: &str) -> Option<&Item> {
        self.index
            .get(&(system.to_owned(), code.to_owned()))
            .map(|&i| &self.items[i])
    }

    /// The one system of every member, when there is only one: a code
    /// without a system means that one (the tx ecosystem's "implied
    /// system").
    pub(crate) fn only_system(&self) -> Option<&str> {
        let mut systems = self.items.iter().map(|i| i.system.as_str());
        let first = systems.next();
        first.filter(|f| systems.all(|s| s == *f))
    }
}
