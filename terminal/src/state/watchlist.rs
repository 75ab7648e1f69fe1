//! The watchlist: one row per symbol, kept current from snapshots, quotes and trades, with the
//! per-symbol `seq` checked.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use protocol::{ClientMessage, Decimal, Sequence, Snapshot, Step, Subscribe, Symbol};
use rust_decimal::prelude::ToPrimitive;

/// Prices kept per symbol for the chart.
pub const HISTORY: usize = 600;
/// How long a changed value stays highlighted.
pub const FLASH: Duration = Duration::from_millis(400);
/// Least time between two flashes of one cell: at thousands of trades a second every price
/// changes all the time, and a cell that is always reversed says nothing. With this gap a cell
/// is lit at most a fifth of the time, and a flash means "moved since you last looked".
pub const FLASH_GAP: Duration = Duration::from_secs(2);

/// Direction of the last change, for colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Up,
    Down,
    #[default]
    Flat,
}

/// One watchlist row.
#[derive(Debug, Clone)]
pub struct Row {
    pub symbol: Symbol,
    pub bid: Decimal,
    pub ask: Decimal,
    pub last: Decimal,
    pub prev_close: Decimal,
    pub volume: Decimal,
    pub tick_size: Decimal,
    /// The `seq` of the last event applied; events wait for the snapshot (the first, or a
    /// re-sync's).
    pub seq: Sequence,
    pub gaps: u64,
    pub direction: Direction,
    pub flashed_at: Option<Instant>,
    /// (seconds since start, last price), bounded to [`HISTORY`].
    pub history: VecDeque<(f64, f64)>,
}

impl Row {
    fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            bid: Decimal::ZERO,
            ask: Decimal::ZERO,
            last: Decimal::ZERO,
            prev_close: Decimal::ZERO,
            volume: Decimal::ZERO,
            tick_size: Decimal::new(1, 2),
            seq: Sequence::awaiting_snapshot(),
            gaps: 0,
            direction: Direction::Flat,
            flashed_at: None,
            history: VecDeque::with_capacity(HISTORY),
        }
    }

    /// Last minus previous close; `None` when it does not fit a decimal (values from the server
    /// are checked like any outside input: a number is shown right or not at all).
    pub fn change(&self) -> Option<Decimal> {
        if self.prev_close.is_zero() {
            Some(Decimal::ZERO)
        } else {
            self.last.checked_sub(self.prev_close)
        }
    }

    pub fn change_pct(&self) -> Option<Decimal> {
        if self.prev_close.is_zero() {
            return Some(Decimal::ZERO);
        }
        self.change()?
            .checked_div(self.prev_close)?
            .checked_mul(Decimal::ONE_HUNDRED)
            .map(|p| p.round_dp(2))
    }

    pub fn spread(&self) -> Option<Decimal> {
        self.ask.checked_sub(self.bid)
    }

    /// Whether the Last cell's highlight is on at `now`.
    pub fn flashing(&self, now: Instant) -> bool {
        self.flashed_at
            .is_some_and(|t| now.saturating_duration_since(t) < FLASH)
    }

    fn push_price(&mut self, t: f64, price: Decimal) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((t, decimal_to_f64(price)));
    }
}

/// Chart coordinates only; prices themselves stay decimal.
fn decimal_to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Symbols the server offers that start with `typed` (any case), at most `limit`.
pub fn completions<'a>(typed: &str, available: &'a [Symbol], limit: usize) -> Vec<&'a Symbol> {
    let typed = typed.to_ascii_uppercase();
    available
        .iter()
        .filter(|s| s.to_ascii_uppercase().starts_with(&typed))
        .take(limit)
        .collect()
}

/// The rows, the selection, and the symbol index.
#[derive(Debug, Default)]
pub struct Watchlist {
    pub rows: Vec<Row>,
    pub selected: usize,
    /// Gaps seen over the session, all symbols.
    pub gaps: u64,
    /// The watchlist asked for `*`: every symbol the server offers, added on `hello`.
    pub watch_all: bool,
    /// The column rows are sorted by, and whether descending; `None` keeps the order added.
    pub sort: Option<(SortKey, bool)>,
    index: HashMap<Symbol, usize>,
}

impl Watchlist {
    pub fn new(symbols: &[String]) -> Self {
        let mut list = Self::default();
        for s in symbols {
            if s == protocol::ALL_SYMBOLS {
                list.watch_all = true;
            } else {
                list.add(Symbol::from(s.as_str()));
            }
        }
        list
    }

    /// Adds a row; `false` if the symbol is there already.
    pub fn add(&mut self, symbol: Symbol) -> bool {
        if self.index.contains_key(&symbol) {
            return false;
        }
        self.index.insert(symbol.clone(), self.rows.len());
        self.rows.push(Row::new(symbol));
        true
    }

    /// Matches the rows to the server's symbols: a row the server has stays, one it has in
    /// upper case is renamed to it (settings files are often typed in lower case), and the rest
    /// are removed. Returns the names removed.
    pub fn reconcile(&mut self, available: &[Symbol]) -> Vec<Symbol> {
        let offered: HashSet<&str> = available.iter().map(Symbol::as_str).collect();
        let mut removed = Vec::new();
        let mut kept: Vec<Row> = Vec::new();
        for mut row in std::mem::take(&mut self.rows) {
            let name = crate::symbols::resolve(&row.symbol, &offered);
            match name {
                Some(name) if !kept.iter().any(|r| r.symbol == name) => {
                    row.symbol = name;
                    kept.push(row);
                }
                Some(_) => {}
                None => removed.push(row.symbol),
            }
        }
        self.rows = kept;
        self.reindex();
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        removed
    }

    fn reindex(&mut self) {
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.symbol.clone(), i))
            .collect();
    }

    /// Removes the selected row and returns it.
    pub fn remove_selected(&mut self) -> Option<Row> {
        if self.selected >= self.rows.len() {
            return None;
        }
        let row = self.rows.remove(self.selected);
        self.reindex();
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        Some(row)
    }

    /// The symbols to subscribe to.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.rows.iter().map(|r| r.symbol.clone()).collect()
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    pub fn row(&self, symbol: &str) -> Option<&Row> {
        self.index.get(symbol).and_then(|&i| self.rows.get(i))
    }

    /// A new connection: every row waits for its snapshot again.
    pub fn reset_sequences(&mut self) {
        for row in &mut self.rows {
            row.seq = Sequence::awaiting_snapshot();
        }
    }

    /// A new connection that resumes the last one: each row that holds a `seq` continues from
    /// it (the server sends what it missed, or a snapshot); the others wait for a snapshot.
    /// Returns the `seq` each row holds, for the `subscribe`'s `resume`.
    pub fn resume_sequences(&mut self) -> BTreeMap<Symbol, u64> {
        let mut from = BTreeMap::new();
        for row in &mut self.rows {
            if let Some(last) = row.seq.last() {
                from.insert(row.symbol.clone(), last);
            }
            row.seq.resume();
        }
        from
    }

    /// Applies a snapshot (the first, or a re-sync).
    pub fn snapshot(&mut self, s: &Snapshot, t: f64) {
        let Some(&i) = self.index.get(&s.symbol) else {
            return;
        };
        let row = &mut self.rows[i];
        if row.seq.snapshot(s.seq) == Step::Stale {
            return;
        }
        (
            row.bid,
            row.ask,
            row.last,
            row.prev_close,
            row.volume,
            row.tick_size,
        ) = (s.bid, s.ask, s.last, s.prev_close, s.volume, s.tick_size);
        row.push_price(t, s.last);
    }

    pub fn quote(
        &mut self,
        symbol: &str,
        seq: u64,
        bid: Decimal,
        ask: Decimal,
        out: &mut Vec<ClientMessage>,
    ) {
        if let Some(row) = self.sequenced(symbol, seq, out) {
            row.bid = bid;
            row.ask = ask;
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn trade(
        &mut self,
        symbol: &str,
        seq: u64,
        price: Decimal,
        size: Decimal,
        t: f64,
        now: Instant,
        out: &mut Vec<ClientMessage>,
    ) {
        if let Some(row) = self.sequenced(symbol, seq, out) {
            row.direction = match price.cmp(&row.last) {
                std::cmp::Ordering::Greater => Direction::Up,
                std::cmp::Ordering::Less => Direction::Down,
                std::cmp::Ordering::Equal => row.direction,
            };
            if price != row.last
                && row
                    .flashed_at
                    .is_none_or(|t| now.saturating_duration_since(t) >= FLASH_GAP)
            {
                row.flashed_at = Some(now);
            }
            row.last = price;
            row.volume = row.volume.saturating_add(size);
            row.push_price(t, price);
        }
    }

    /// Checks `seq` for a market event: the row to update, or `None` for stale events and gaps
    /// (a gap counts, and asks for a fresh snapshot once).
    fn sequenced(
        &mut self,
        symbol: &str,
        seq: u64,
        out: &mut Vec<ClientMessage>,
    ) -> Option<&mut Row> {
        let &i = self.index.get(symbol)?;
        let row = &mut self.rows[i];
        match row.seq.event(seq) {
            Step::First | Step::Next => Some(row),
            Step::Gap { .. } => {
                row.gaps += 1;
                self.gaps += 1;
                row.seq.resync();
                out.push(ClientMessage::Subscribe(Subscribe::to(vec![
                    row.symbol.clone(),
                ])));
                None
            }
            Step::Stale | Step::Unsynced => None,
        }
    }

    /// The rows in the order shown: as added, or sorted by the chosen column (ties by symbol).
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        if let Some((key, descending)) = self.sort {
            order.sort_by(|&a, &b| {
                let (ra, rb) = (&self.rows[a], &self.rows[b]);
                let by = key.value(ra).cmp(&key.value(rb));
                let by = if descending { by.reverse() } else { by };
                by.then_with(|| ra.symbol.cmp(&rb.symbol))
            });
        }
        order
    }

    /// Moves the selection `by` rows down (negative: up) in the shown order, within bounds.
    pub fn move_selection(&mut self, by: isize) {
        let order = self.order();
        let Some(at) = order.iter().position(|&i| i == self.selected) else {
            self.selected = order.first().copied().unwrap_or(0);
            return;
        };
        let to = at
            .saturating_add_signed(by)
            .min(order.len().saturating_sub(1));
        self.selected = order[to];
    }

    /// `o`: the next sort column (after the last, back to the order added).
    pub fn next_sort(&mut self) {
        self.sort = match self.sort {
            None => Some((SortKey::ALL[0], false)),
            Some((key, d)) => {
                let i = SortKey::ALL.iter().position(|k| *k == key).unwrap_or(0) + 1;
                SortKey::ALL.get(i).map(|k| (*k, d))
            }
        };
    }

    /// `O`: ascending or descending.
    pub fn reverse_sort(&mut self) {
        if let Some((_, descending)) = self.sort.as_mut() {
            *descending = !*descending;
        }
    }
}

/// A column the watchlist sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Symbol,
    Bid,
    Ask,
    Last,
    Change,
    ChangePct,
    Volume,
    Spread,
}

/// What a row sorts by: a symbol or a number (a number that does not fit sorts first).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Text(Symbol),
    Number(Option<Decimal>),
}

impl SortKey {
    pub const ALL: [Self; 8] = [
        Self::Symbol,
        Self::Bid,
        Self::Ask,
        Self::Last,
        Self::Change,
        Self::ChangePct,
        Self::Volume,
        Self::Spread,
    ];

    /// The header of the column it sorts.
    pub fn header(self) -> &'static str {
        match self {
            Self::Symbol => "Symbol",
            Self::Bid => "Bid",
            Self::Ask => "Ask",
            Self::Last => "Last",
            Self::Change => "Chg",
            Self::ChangePct => "Chg%",
            Self::Volume => "Volume",
            Self::Spread => "Sprd",
        }
    }

    fn value(self, r: &Row) -> SortValue {
        match self {
            Self::Symbol => SortValue::Text(r.symbol.clone()),
            Self::Bid => SortValue::Number(Some(r.bid)),
            Self::Ask => SortValue::Number(Some(r.ask)),
            Self::Last => SortValue::Number(Some(r.last)),
            Self::Change => SortValue::Number(r.change()),
            Self::ChangePct => SortValue::Number(r.change_pct()),
            Self::Volume => SortValue::Number(Some(r.volume)),
            Self::Spread => SortValue::Number(r.spread()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_orders_the_rows_and_the_selection_follows_the_shown_order() {
        let mut w = Watchlist::new(&["MSFT".to_owned(), "AAPL".to_owned(), "KO".to_owned()]);
        for (row, last) in w.rows.iter_mut().zip([418, 230, 63]) {
            row.last = Decimal::from(last);
        }
        assert_eq!(w.order(), [0, 1, 2]);
        w.next_sort();
        assert_eq!(w.order(), [1, 2, 0], "by symbol");
        w.reverse_sort();
        assert_eq!(w.order(), [0, 2, 1]);
        for _ in 0..3 {
            w.next_sort();
        }
        assert_eq!(w.sort, Some((SortKey::Last, true)));
        assert_eq!(w.order(), [0, 1, 2], "by last, descending");
        w.selected = 0;
        w.move_selection(1);
        assert_eq!(w.selected, 1);
        w.move_selection(10);
        assert_eq!(w.selected, 2, "clamped to the end");
        w.move_selection(-10);
        assert_eq!(w.selected, 0);
    }

    #[test]
    fn a_busy_symbol_flashes_at_most_a_fifth_of_the_time() {
        let mut w = Watchlist::new(&["AAPL".to_owned()]);
        w.rows[0].seq.snapshot(0);
        let t0 = Instant::now();
        let mut out = Vec::new();
        let (mut lit, mut samples) = (0, 0);
        // A trade at a new price every 50 ms for 10 s, the screen sampled every 10 ms.
        for ms in 0..10_000u64 {
            let now = t0 + Duration::from_millis(ms);
            if ms % 50 == 0 {
                let price = Decimal::new(10_000 + i64::try_from(ms % 7).unwrap_or(0), 2);
                w.trade("AAPL", ms / 50 + 1, price, Decimal::ONE, 0.0, now, &mut out);
            }
            if ms % 10 == 0 {
                samples += 1;
                lit += usize::from(w.rows[0].flashing(now));
            }
        }
        assert!(lit > 0, "a change still flashes");
        assert!(lit * 5 <= samples, "lit {lit} of {samples} samples");
        assert!(out.is_empty());
    }
}
