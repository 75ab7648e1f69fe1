//! Books built from Databento MBO (market by order): every order is kept by id, and each price
//! level's total is what its orders add up to.
//!
//! Per Databento's rules: **A**dd puts an order in the book, **C**ancel takes its size off (all
//! or part), **M**odify moves it to a new price or size, clea**R** empties the instrument's book
//! (a snapshot starts with one); **T**rade, **F**ill and **N**one leave the book alone (fills come
//! with the cancels that change it). The book is looked at only after a record flagged `F_LAST`,
//! the end of one venue event, so a book row is one event's changes.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use dbn::{MboMsg, UNDEF_PRICE};
use protocol::Decimal;

use super::row::BookRow;

/// Orders resting at once, all instruments together, that an import keeps at most.
pub const MAX_ORDERS: usize = 10_000_000;
/// Levels one event may change before its changes are written anyway (a file without `F_LAST`).
const MAX_PENDING: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Resting {
    bid: bool,
    price: i64,
    size: u64,
}

#[derive(Debug, Default)]
struct Levels {
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
    /// Levels changed since the last row: `(bid, price)`.
    changed: BTreeSet<(bool, i64)>,
    /// Cleared since the last row: the next row is the whole book.
    cleared: bool,
}

impl Levels {
    fn add(&mut self, bid: bool, price: i64, size: i64) {
        let side = if bid { &mut self.bids } else { &mut self.asks };
        let total = side.entry(price).or_insert(0);
        *total = if size >= 0 {
            total.saturating_add(size.unsigned_abs())
        } else {
            total.saturating_sub(size.unsigned_abs())
        };
        if *total == 0 {
            side.remove(&price);
        }
        self.changed.insert((bid, price));
    }
}

/// Every instrument's orders and levels.
#[derive(Debug, Default)]
pub struct MboBooks {
    orders: HashMap<(u32, u64), Resting>,
    books: HashMap<u32, Levels>,
}

impl MboBooks {
    /// Applies one record; returns the instrument's book row when the event is complete.
    pub fn apply(&mut self, m: &MboMsg) -> Result<Option<BookRow>, String> {
        let id = m.hd.instrument_id;
        let action = m.action as u8;
        let bid = match m.side as u8 {
            b'B' => Some(true),
            b'A' => Some(false),
            _ => None,
        };
        let size = i64::from(m.size);
        match action {
            b'R' => {
                self.orders.retain(|(instrument, _), _| *instrument != id);
                let book = self.books.entry(id).or_default();
                book.bids.clear();
                book.asks.clear();
                book.changed.clear();
                book.cleared = true;
            }
            b'A' | b'M' | b'C' => {
                let Some(bid) = bid else {
                    return Err(format!("`{}` with no side", action as char));
                };
                if action != b'C' && (m.price == UNDEF_PRICE || m.price <= 0) {
                    return Err(format!("`{}` with no price ({})", action as char, m.price));
                }
                let key = (id, m.order_id);
                // A modify of an order not seen (it rested before the file began) adds it.
                let old = self.orders.get(&key).copied();
                let book = self.books.entry(id).or_default();
                if let Some(old) = old.filter(|_| action != b'A') {
                    book.add(old.bid, old.price, -lots(old.size));
                }
                let new = match (action, old) {
                    (b'C', Some(old)) => Resting {
                        size: old.size.saturating_sub(m.size.into()),
                        ..old
                    },
                    (b'C', None) => return Ok(self.done(m)),
                    _ => Resting {
                        bid,
                        price: m.price,
                        size: if action == b'A' {
                            old.map_or(0, |o| o.size).saturating_add(m.size.into())
                        } else {
                            m.size.into()
                        },
                    },
                };
                if action == b'A' {
                    book.add(bid, m.price, size);
                } else if new.size > 0 {
                    book.add(new.bid, new.price, lots(new.size));
                }
                if new.size == 0 {
                    self.orders.remove(&key);
                } else {
                    let full = self.orders.len() >= MAX_ORDERS;
                    match self.orders.entry(key) {
                        Entry::Occupied(mut e) => {
                            e.insert(new);
                        }
                        Entry::Vacant(_) if full => {
                            return Err(format!(
                                "more than {MAX_ORDERS} orders rest at once; the import keeps at most that many"
                            ));
                        }
                        Entry::Vacant(e) => {
                            e.insert(new);
                        }
                    }
                }
            }
            // Trades, fills and the rest leave the book alone.
            _ => {}
        }
        Ok(self.done(m))
    }

    /// The instrument's changes as a book row, if its event ended (or too many are waiting).
    fn done(&mut self, m: &MboMsg) -> Option<BookRow> {
        let book = self.books.get_mut(&m.hd.instrument_id)?;
        if !m.flags.is_last() && book.changed.len() < MAX_PENDING {
            return None;
        }
        Self::row(book)
    }

    fn row(book: &mut Levels) -> Option<BookRow> {
        if book.changed.is_empty() && !book.cleared {
            return None;
        }
        let level = |(price, size): (i64, u64)| (price_of(price), Decimal::from(size));
        let row = if book.cleared {
            BookRow {
                replace: true,
                bids: book
                    .bids
                    .iter()
                    .rev()
                    .map(|(p, s)| level((*p, *s)))
                    .collect(),
                asks: book.asks.iter().map(|(p, s)| level((*p, *s))).collect(),
            }
        } else {
            let mut row = BookRow::default();
            for &(bid, price) in &book.changed {
                let side = if bid { &book.bids } else { &book.asks };
                let size = side.get(&price).copied().unwrap_or(0);
                if bid {
                    row.bids.push(level((price, size)));
                } else {
                    row.asks.push(level((price, size)));
                }
            }
            row
        };
        book.changed.clear();
        book.cleared = false;
        Some(row)
    }

    /// Rows for every instrument with changes not yet written (at the end of the file).
    pub fn flush(&mut self) -> Vec<(u32, BookRow)> {
        let mut ids: Vec<u32> = self.books.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| {
                let book = self.books.get_mut(&id)?;
                Self::row(book).map(|row| (id, row))
            })
            .collect()
    }
}

fn lots(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// A DBN fixed-point price (units of 1e-9) as an exact decimal.
pub fn price_of(px: i64) -> Decimal {
    Decimal::new(px, 9).normalize()
}
