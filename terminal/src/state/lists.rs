//! Named watchlists, switched with the number keys, and what the settings file keeps of them.

use protocol::{ClientMessage, Subscribe, Symbol, Unsubscribe};

use super::{Now, State, Watchlist};

impl State {
    /// Shows watchlist `n` (0-based): unsubscribes what only the old list watched and
    /// subscribes the new one.
    pub(super) fn switch_list(&mut self, n: usize, now: Now) -> Vec<ClientMessage> {
        if n >= self.lists.len() {
            let count = self.lists.len();
            self.notify(
                format!("there are {count} watchlists (keys 1-{count})"),
                now.at,
            );
            return Vec::new();
        }
        if n == self.list {
            return Vec::new();
        }
        let old = self.watchlist.symbols();
        self.lists[self.list].1 = old.iter().map(ToString::to_string).collect();
        self.watchlist = Watchlist::new(&self.lists[n].1);
        if !self.available.is_empty() {
            if self.watchlist.watch_all {
                for s in &self.available {
                    self.watchlist.add(s.clone());
                }
            }
            self.watchlist.reconcile(&self.available);
        }
        self.list = n;
        let new = self.watchlist.symbols();
        let mut out = Vec::new();
        let gone: Vec<Symbol> = old.into_iter().filter(|s| !new.contains(s)).collect();
        if !gone.is_empty() {
            out.push(ClientMessage::Unsubscribe(Unsubscribe::all(gone)));
        }
        if !new.is_empty() {
            out.push(ClientMessage::Subscribe(Subscribe::to(new)));
        }
        out
    }

    /// What the settings file keeps: every watchlist (the shown one as it is now) and the
    /// alerts.
    pub fn saved(&self) -> crate::config::Saved {
        let mut lists = self.lists.clone();
        if let Some(current) = lists.get_mut(self.list) {
            current.1 = self
                .watchlist
                .symbols()
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        crate::config::Saved {
            lists,
            alerts: self
                .alerts
                .rows
                .iter()
                .map(|a| (a.symbol.to_string(), a.price.to_string(), a.above))
                .collect(),
        }
    }
}
