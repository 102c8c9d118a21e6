//! The `$operations` this server knows, by name. A name not listed is no
//! route at all (404), so the authorization layer never meets an
//! operation it cannot judge.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Everything,
    Meta,
    MetaAdd,
    MetaDelete,
    Validate,
    Reindex,
    Lookup,
    ValidateCode,
    Expand,
    Subsumes,
    Translate,
    ImportCodes,
    UnmappedCodes,
    Export,
}

const ALL: [Operation; 14] = [
    Operation::Everything,
    Operation::Meta,
    Operation::MetaAdd,
    Operation::MetaDelete,
    Operation::Validate,
    Operation::Reindex,
    Operation::Lookup,
    Operation::ValidateCode,
    Operation::Expand,
    Operation::Subsumes,
    Operation::Translate,
    Operation::ImportCodes,
    Operation::UnmappedCodes,
    Operation::Export,
];

impl Operation {
    /// The name with its `$`, as in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Everything => "$everything",
            Operation::Meta => "$meta",
            Operation::MetaAdd => "$meta-add",
            Operation::MetaDelete => "$meta-delete",
            Operation::Validate => "$validate",
            Operation::Reindex => "$reindex",
            Operation::Lookup => "$lookup",
            Operation::ValidateCode => "$validate-code",
            Operation::Expand => "$expand",
            Operation::Subsumes => "$subsumes",
            Operation::Translate => "$translate",
            Operation::ImportCodes => "$import-codes",
            Operation::UnmappedCodes => "$unmapped-codes",
            Operation::Export => "$export",
        }
    }

    /// `$name` (exactly: operation names are case-sensitive).
    pub fn parse(segment: &str) -> Option<Operation> {
        ALL.into_iter().find(|op| op.name() == segment)
    }

    /// The terminology operations (terminology-service.html).
    pub fn is_terminology(self) -> bool {
        matches!(
            self,
            Operation::Lookup
                | Operation::ValidateCode
                | Operation::Expand
                | Operation::Subsumes
                | Operation::Translate
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in ALL {
            assert_eq!(Operation::parse(op.name()), Some(op));
        }
        assert_eq!(Operation::parse("$META"), None);
        assert_eq!(Operation::parse("meta"), None);
    }
}
