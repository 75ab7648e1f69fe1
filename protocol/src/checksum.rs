//! The order-book checksum: CRC32 (IEEE) over the top levels in Kraken's documented form, so a
//! client can tell that the book it rebuilt from `book` and `book_update` is the server's.
//!
//! The input is the top [`CHECKSUM_LEVELS`] asks from the best, then the top bids from the best;
//! for each level its price and then its size, as the text written on the wire with the `.`
//! removed and leading zeros dropped (`"0.00000500"` gives `500`). The text matters: `187.20` and
//! `187.2` are different inputs, which is why Tickwire writes every price of a symbol at its
//! grid's scale and why a client must keep the decimal it read, never a float of it.

use std::fmt::Write as _;

use rust_decimal::Decimal;

/// Levels per side the checksum covers.
pub const CHECKSUM_LEVELS: usize = 10;

/// The checksum of levels given as wire text: `asks` and `bids` best first, each `(price, size)`.
/// Levels past [`CHECKSUM_LEVELS`] on either side are not read.
pub fn checksum_text<'a>(
    asks: impl IntoIterator<Item = (&'a str, &'a str)>,
    bids: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for (price, size) in asks
        .into_iter()
        .take(CHECKSUM_LEVELS)
        .chain(bids.into_iter().take(CHECKSUM_LEVELS))
    {
        feed(&mut crc, price.as_bytes());
        feed(&mut crc, size.as_bytes());
    }
    crc.finalize()
}

/// The checksum of levels as exact decimals, each written as the wire writes it (its `Display`,
/// which keeps its scale).
pub fn checksum<'a>(
    asks: impl IntoIterator<Item = (&'a Decimal, &'a Decimal)>,
    bids: impl IntoIterator<Item = (&'a Decimal, &'a Decimal)>,
) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    let mut text = Text::default();
    for (price, size) in asks
        .into_iter()
        .take(CHECKSUM_LEVELS)
        .chain(bids.into_iter().take(CHECKSUM_LEVELS))
    {
        for value in [price, size] {
            text.len = 0;
            // A decimal's text is at most 31 bytes: the buffer cannot overflow.
            let _ = write!(text, "{value}");
            feed(&mut crc, &text.buf[..text.len]);
        }
    }
    crc.finalize()
}

/// Hashes one value's text without its `.` and leading zeros.
fn feed(crc: &mut crc32fast::Hasher, text: &[u8]) {
    let mut started = false;
    for &b in text {
        if b == b'.' || (!started && b == b'0') {
            continue;
        }
        started = true;
        crc.update(&[b]);
    }
}

/// A decimal's text, on the stack.
struct Text {
    buf: [u8; 48],
    len: usize,
}

impl Default for Text {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kraken_documented_example() {
        // The example of Kraken's book checksum guide: ten levels a side of 0.00000500 each.
        let asks: Vec<(String, String)> = [
            "0.05005", "0.05010", "0.05015", "0.05020", "0.05025", "0.05030", "0.05035", "0.05040",
            "0.05045", "0.05050",
        ]
        .iter()
        .map(|p| ((*p).to_owned(), "0.00000500".to_owned()))
        .collect();
        let bids: Vec<(String, String)> = [
            "0.05000", "0.04995", "0.04990", "0.04980", "0.04975", "0.04970", "0.04965", "0.04960",
            "0.04955", "0.04950",
        ]
        .iter()
        .map(|p| ((*p).to_owned(), "0.00000500".to_owned()))
        .collect();
        let sum = checksum_text(
            asks.iter().map(|(p, s)| (p.as_str(), s.as_str())),
            bids.iter().map(|(p, s)| (p.as_str(), s.as_str())),
        );
        assert_eq!(sum, 974_947_235);
    }

    #[test]
    fn decimals_hash_as_their_wire_text() {
        let d = |s: &str| Decimal::from_str_exact(s).unwrap_or_default();
        let asks = [(d("187.20"), d("300"))];
        let bids = [(d("187.19"), d("0.00000048"))];
        let by_decimal = checksum(
            asks.iter().map(|(p, s)| (p, s)),
            bids.iter().map(|(p, s)| (p, s)),
        );
        let by_text = checksum_text([("187.20", "300")], [("187.19", "0.00000048")]);
        assert_eq!(by_decimal, by_text);
        // The scale is part of the text: 187.2 is another input than 187.20.
        assert_ne!(
            by_text,
            checksum_text([("187.2", "300")], [("187.19", "0.00000048")])
        );
    }

    #[test]
    fn only_the_top_ten_of_each_side_count() {
        let level = ("1.5", "2");
        let ten = checksum_text(vec![level; 10], vec![level; 10]);
        assert_eq!(ten, checksum_text(vec![level; 25], vec![level; 12]));
        assert_ne!(ten, checksum_text(vec![level; 9], vec![level; 10]));
    }
}
