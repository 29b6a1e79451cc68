//! The request budget of a run (`requests = N`, `--requests N`): shared by every task of the
//! profile's executors (open and closed model, WebSocket connections), taken one request (or
//! message, or scenario iteration) at a time without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// What is left of the budget; no budget means no limit.
#[derive(Debug)]
pub(super) struct Budget(Option<AtomicU64>);

impl Budget {
    pub(super) fn new(requests: Option<u64>) -> Budget {
        Budget(requests.map(AtomicU64::new))
    }

    /// Takes one request from the budget; false once it is spent.
    pub(super) fn take(&self) -> bool {
        self.0.as_ref().is_none_or(|b| {
            b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    /// True once the budget is used up.
    pub(super) fn spent(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|b| b.load(Ordering::Relaxed) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_gives_out_exactly_its_requests() {
        let b = Budget::new(Some(3));
        assert!(!b.spent());
        assert_eq!((0..5).filter(|_| b.take()).count(), 3);
        assert!(b.spent());
        let unlimited = Budget::new(None);
        assert!((0..1000).all(|_| unlimited.take()));
        assert!(!unlimited.spent());
    }
}
