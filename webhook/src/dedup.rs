//! Bounded memory of recently seen `X-GitHub-Delivery` ids.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` delivery ids (ring for eviction order + set for lookup).
#[derive(Debug)]
pub(crate) struct DeliveryLog {
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl DeliveryLog {
    /// Creates an empty log remembering at most `capacity` ids (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::with_capacity(capacity),
            seen: HashSet::with_capacity(capacity),
        }
    }

    /// Records `id`; returns false if it was already recorded (a duplicate delivery).
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }

    /// Forgets `id`, so that GitHub's redelivery of a delivery we could not queue is accepted.
    pub(crate) fn forget(&mut self, id: &str) {
        if self.seen.remove(id)
            && let Some(pos) = self.order.iter().rposition(|x| x == id)
        {
            self.order.remove(pos);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        debug_assert_eq!(self.order.len(), self.seen.len());
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_duplicates_and_evicts_oldest() {
        let mut log = DeliveryLog::new(2);
        assert!(log.insert("a"));
        assert!(!log.insert("a"));
        assert!(log.insert("b"));
        assert!(log.insert("c"));
        assert_eq!(log.len(), 2);
        assert!(log.insert("a"), "a was evicted, so it is new again");
        assert!(!log.insert("c"));
    }

    #[test]
    fn forget_allows_redelivery() {
        let mut log = DeliveryLog::new(4);
        assert!(log.insert("a"));
        log.forget("a");
        assert_eq!(log.len(), 0);
        assert!(log.insert("a"));
        log.forget("missing");
        assert_eq!(log.len(), 1);
    }
}
