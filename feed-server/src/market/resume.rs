//! Deciding a resume: which symbols of a resuming subscription the core can continue from
//! history, and which need a snapshot.

use protocol::{MAX_NAMED_SYMBOLS, Resumed, ServerMessage};

use crate::bitset::BitSet;
use crate::feed::universe::Universe;

/// A client's streams as it asks to resume them: the epoch of the `hello` they are from, and the
/// last `seq` it holds of each symbol (by index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeFrom {
    pub epoch: String,
    pub from: Vec<(usize, u64)>,
    /// The book `seq` it holds of each symbol whose book it resumes (`book_from`).
    pub book_from: Vec<(usize, u64)>,
}

/// What a resume gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePlan {
    /// Symbols continued from history (including those that missed nothing), each with the
    /// first `seq` to send (one past the client's last).
    pub replays: Vec<(usize, u64)>,
    /// Symbols recovered, as a set.
    pub recovered: BitSet,
    /// Symbols that get a snapshot: another epoch, history trimmed past the client's `seq`, a
    /// `seq` ahead of the server's, no `seq` given, or past `--max-resume-events`.
    pub snapshot: BitSet,
    /// Events the replays send, all together.
    pub events: u64,
}

impl ResumePlan {
    /// The `resumed` message that tells the client which symbols were recovered and which get
    /// snapshots (the first [`MAX_NAMED_SYMBOLS`] of each, with the counts).
    pub fn resumed(&self, universe: &Universe) -> ServerMessage {
        let names = |set: &BitSet| {
            set.iter()
                .take(MAX_NAMED_SYMBOLS)
                .filter_map(|s| universe.names().get(s).cloned())
                .collect()
        };
        ServerMessage::Resumed(Resumed {
            recovered: names(&self.recovered),
            recovered_count: self.recovered.len() as u64,
            snapshot: names(&self.snapshot),
            snapshot_count: self.snapshot.len() as u64,
        })
    }
}

/// Plans a resume of `symbols`: `latest(s)` is a symbol's current `seq`, `covers(s, seq)`
/// whether history holds every event after `seq`. Replays take symbols in index order until
/// `budget` events; the rest get snapshots.
pub fn plan(
    symbols: &BitSet,
    resume: &ResumeFrom,
    epoch: &str,
    budget: u64,
    latest: impl Fn(usize) -> u64,
    covers: impl Fn(usize, u64) -> bool,
) -> ResumePlan {
    let mut plan = ResumePlan {
        replays: Vec::new(),
        recovered: BitSet::new(symbols.bound()),
        snapshot: symbols.clone(),
        events: 0,
    };
    if resume.epoch != epoch {
        return plan;
    }
    let mut from = resume.from.clone();
    from.sort_unstable();
    for (symbol, seq) in from {
        if !symbols.contains(symbol) || plan.recovered.contains(symbol) {
            continue;
        }
        let latest = latest(symbol);
        if seq > latest || !covers(symbol, seq) {
            continue;
        }
        let missed = latest - seq;
        let Some(total) = plan.events.checked_add(missed).filter(|&t| t <= budget) else {
            continue;
        };
        plan.events = total;
        plan.recovered.insert(symbol);
        plan.snapshot.remove(symbol);
        if missed > 0 {
            plan.replays.push((symbol, seq + 1));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, members: &[usize]) -> BitSet {
        let mut s = BitSet::new(n);
        for &m in members {
            s.insert(m);
        }
        s
    }

    #[test]
    fn each_symbol_is_recovered_or_snapshotted_for_its_own_reason() {
        let symbols = set(6, &[0, 1, 2, 3, 4, 5]);
        let resume = ResumeFrom {
            epoch: "e".into(),
            // 0 missed 5; 1 nothing; 2 is ahead; 3 trimmed; 4 over the budget; 5 not named.
            from: vec![(0, 5), (1, 10), (2, 11), (3, 2), (4, 1)],
            book_from: Vec::new(),
        };
        let latest = |_| 10;
        let covers = |s, seq| s != 3 && seq >= 1;
        let p = plan(&symbols, &resume, "e", 8, latest, covers);
        assert_eq!(p.replays, vec![(0, 6)]);
        assert_eq!(p.recovered.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(p.snapshot.iter().collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert_eq!(p.events, 5);
        let other = plan(&symbols, &resume, "f", 8, latest, covers);
        assert_eq!(other.snapshot.len(), 6, "another epoch: every symbol");
        assert!(other.replays.is_empty());
    }
}
