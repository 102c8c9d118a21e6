//! `serve --node-id`: the name of this server process among the N that
//! share one database (issue #18 item 9). It goes into every JSON log
//! line and every AuditEvent (`source.observer`), so a record or a log
//! line can be traced to the node that wrote it.

use std::sync::OnceLock;

/// A node name: 1 to 64 characters of `[A-Za-z0-9._-]`, so it can be
/// printed in a log or a FHIR `Identifier.value` without escaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(String);

impl NodeId {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 64 || !s.bytes().all(is_token_byte) {
            return Err(format!(
                "{s:?} is not a node id: 1 to 64 characters of A-Z a-z 0-9 . _ -"
            ));
        }
        Ok(NodeId(s.to_owned()))
    }

    /// `HOSTNAME-PID`: unique on one host and across hosts with distinct
    /// names, and stable for the life of the process. Characters a token
    /// may not hold become `-`.
    pub fn default_for_this_process() -> Self {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let host: String = host
            .bytes()
            .map(|b| if is_token_byte(b) { b as char } else { '-' })
            .take(50)
            .collect();
        let host = if host.is_empty() { "node".into() } else { host };
        NodeId(format!("{host}-{}", std::process::id()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for NodeId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        NodeId::parse(s)
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The characters of request ids and node ids.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

static THIS_NODE: OnceLock<NodeId> = OnceLock::new();

/// Names this process (once, at `serve` start); later calls are ignored.
pub fn set(node: NodeId) {
    let _ = THIS_NODE.set(node);
}

/// This process's node id, once `serve` has set it (the logger asks for
/// every line; other subcommands have none).
pub fn get() -> Option<&'static NodeId> {
    THIS_NODE.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_tokens() {
        assert!(NodeId::parse("node-1.eu_west").is_ok());
        assert!(NodeId::parse("").is_err());
        assert!(NodeId::parse("a b").is_err());
        assert!(NodeId::parse(&"x".repeat(65)).is_err());
        let d = NodeId::default_for_this_process();
        assert!(NodeId::parse(d.as_str()).is_ok(), "{d}");
        assert!(d.as_str().ends_with(&format!("-{}", std::process::id())));
    }
}
