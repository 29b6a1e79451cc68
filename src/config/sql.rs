//! What a postgres:// endpoint runs per request, and the test data its requests draw from.

use std::fmt;
use std::sync::Arc;

use crate::scenario::Feeder;

/// A postgres:// endpoint's work: one statement, or a transaction's statements in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sql {
    pub statements: Vec<SqlStatement>,
    /// Run the statements inside BEGIN … COMMIT, as one request.
    pub transaction: bool,
    /// Rendered once per request (after the feeder rows are taken) and shared by every
    /// parameter as `{{ name }}`: how statements of a transaction agree on an id.
    pub vars: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    /// Prepared once per session (`$1`, `$2`, …).
    pub query: String,
    /// Templates, one per parameter.
    pub params: Vec<String>,
}

/// A target's feeders: each request takes the next row of each. Compared by what they were
/// made from (config text and file contents), so a reload that leaves them alone keeps them.
#[derive(Clone, Default)]
pub struct TargetFeeders {
    pub list: Arc<[Feeder]>,
    pub fingerprint: u64,
}

impl PartialEq for TargetFeeders {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.list.len() == other.list.len()
    }
}

// By hand: rows often hold credentials; the names are enough.
impl fmt::Debug for TargetFeeders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(Feeder::name))
            .finish()
    }
}
