//! Which symbols' venue stream is down, for clients (`status`): a venue's symbols are stale
//! from the start until its link connects, and again from every drop (a close, an error, the
//! silence watchdog) until it is back. Each link marks only its own venue's symbols, so the
//! links share one board without a lock of their own.

use std::sync::Arc;

use tokio::sync::watch;

use crate::bitset::BitSet;

/// One venue's share of the board.
#[derive(Debug, Clone)]
pub struct VenueMark {
    board: Arc<watch::Sender<BitSet>>,
    symbols: Vec<usize>,
}

impl VenueMark {
    /// Marks the venue's symbols stale or live; watchers hear of it only if that changes the set.
    pub fn set(&self, stale: bool) {
        self.board.send_if_modified(|set| {
            let mut changed = false;
            for &s in &self.symbols {
                if set.contains(s) != stale {
                    changed = true;
                    if stale {
                        set.insert(s);
                    } else {
                        set.remove(s);
                    }
                }
            }
            changed
        });
    }
}

/// The board: every symbol starts stale (no venue is connected yet).
pub fn board(symbols: usize) -> Arc<watch::Sender<BitSet>> {
    let mut all = BitSet::new(symbols);
    all.insert_all();
    Arc::new(watch::Sender::new(all))
}

/// A venue's mark on `board`, for its symbols (universe indexes).
pub fn mark(board: &Arc<watch::Sender<BitSet>>, symbols: Vec<usize>) -> VenueMark {
    VenueMark {
        board: Arc::clone(board),
        symbols,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_venue_marks_its_own_symbols_and_watchers_hear_only_changes() {
        let board = board(4);
        let mut watcher = board.subscribe();
        let (a, b) = (mark(&board, vec![0, 1]), mark(&board, vec![2, 3]));
        assert_eq!(watcher.borrow_and_update().len(), 4);
        a.set(false);
        assert!(watcher.has_changed().unwrap_or(false));
        assert_eq!(
            watcher.borrow_and_update().iter().collect::<Vec<_>>(),
            [2, 3]
        );
        a.set(false);
        assert!(!watcher.has_changed().unwrap_or(true), "no change, no news");
        b.set(false);
        a.set(true);
        assert_eq!(
            watcher.borrow_and_update().iter().collect::<Vec<_>>(),
            [0, 1]
        );
    }
}
