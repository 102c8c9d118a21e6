//! What an evaluation runs against: the resource, variables, and the
//! services the server plugs in (reference resolution, terminology).

use fhir_model::json::tree::Value as Json;

use crate::value::{Collection, Item, Node};

/// Finds the resource a reference points to, for `resolve()` beyond the
/// Bundle and contained resources the engine searches itself. The server
/// implements it over its store.
pub trait Resolver {
    /// The resource for `reference` (`Patient/123`, an absolute URL, …).
    fn resolve(&self, reference: &str) -> Option<&Json>;
}

/// Value set membership, for `memberOf()`. The terminology crate
/// implements it; without one, `memberOf()` yields empty (unknown).
pub trait Terminology {
    /// `Some(true/false)` when known, `None` when the value set is unknown.
    fn member_of(&self, system: Option<&str>, code: &str, value_set: &str) -> Option<bool>;

    /// Whether `ancestor` subsumes (or equals) `descendant` in `system`,
    /// for `subsumes()` / `subsumedBy()`; `None` when unknown.
    fn subsumes(&self, system: &str, ancestor: &str, descendant: &str) -> Option<bool> {
        let _ = (system, ancestor, descendant);
        None
    }
}

/// The input of an evaluation. Cheap to build per resource.
pub struct Context<'a> {
    pub(crate) resource: Option<&'a Json>,
    pub(crate) root_resource: Option<&'a Json>,
    pub(crate) input: Collection<'a>,
    pub(crate) vars: Vec<(String, Collection<'a>)>,
    pub(crate) resolver: Option<&'a dyn Resolver>,
    pub(crate) terminology: Option<&'a dyn Terminology>,
    pub(crate) strict: bool,
    pub(crate) reference_types: bool,
}

impl<'a> Context<'a> {
    /// Evaluates against a resource: it is the input, `%context`,
    /// `%resource` and `%rootResource`.
    pub fn new(resource: &'a Json) -> Context<'a> {
        Context {
            resource: Some(resource),
            root_resource: Some(resource),
            input: vec![Item::Node(Node::resource(resource))],
            vars: Vec::new(),
            resolver: None,
            terminology: None,
            strict: false,
            reference_types: false,
        }
    }

    /// Evaluates with no input (`%context` is empty).
    pub fn empty() -> Context<'a> {
        Context {
            resource: None,
            root_resource: None,
            input: Vec::new(),
            vars: Vec::new(),
            resolver: None,
            terminology: None,
            strict: false,
            reference_types: false,
        }
    }

    /// Evaluates with `input` as the focus (`$this`, `%context`) while
    /// `%resource` stays the resource given to [`Context::new`]: how an
    /// invariant runs at each element it is defined on.
    pub fn with_input(mut self, input: Collection<'a>) -> Self {
        self.input = input;
        self
    }

    /// The resource that contains `%resource` (a Bundle or a container of
    /// contained resources).
    pub fn with_root_resource(mut self, root: &'a Json) -> Self {
        self.root_resource = Some(root);
        self
    }

    /// Defines `%name`.
    pub fn with_var(mut self, name: &str, value: Collection<'a>) -> Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value));
        self
    }

    pub fn with_resolver(mut self, r: &'a dyn Resolver) -> Self {
        self.resolver = Some(r);
        self
    }

    pub fn with_terminology(mut self, t: &'a dyn Terminology) -> Self {
        self.terminology = Some(t);
        self
    }

    /// With this, `resolve()` of a reference it cannot find (`Patient/1`
    /// with no Bundle or resolver that has it) yields an empty node of the
    /// referenced type, so `subject.where(resolve() is Patient)` works when
    /// indexing search parameters without a database lookup per reference,
    /// as the R4 search-parameter expressions expect.
    pub fn with_reference_types(mut self, on: bool) -> Self {
        self.reference_types = on;
        self
    }

    /// Strict mode reports names that the type of a node does not have,
    /// and type names at the start of a path that do not match, as
    /// errors, where the lenient default yields empty. Search parameters
    /// such as `Patient.name | Practitioner.name` need lenient mode.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}
