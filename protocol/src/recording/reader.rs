//! Reading a recording as a stream, one line at a time, with every failure located.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::books::{Change, LineBook};
use super::{
    Extras, FORMAT, Header, MAX_BOOK_DEPTH, MAX_LINE_BYTES, MAX_SYMBOLS, MarketEvent,
    RecordingError, VERSION, in_units,
};
use crate::book::{BookStep, OrderBook};
use crate::types::{Book, Level};
use crate::{Decimal, Decoder, ServerMessage, Side, Symbol};

/// One event of a recording: its original time and `seq`, and the event in ticks and lots of its
/// symbol (an index into the header's symbols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub ts_ns: u64,
    pub seq: u64,
    pub event: MarketEvent,
    /// A live venue's fields of a quote or trade line, if it had them.
    pub extras: Extras,
}

/// A recording opened for reading; holds one line in memory at a time.
#[derive(Debug)]
pub struct Reader {
    path: PathBuf,
    input: Input,
    header: Header,
    index: HashMap<Symbol, usize>,
    grids: Vec<(Decimal, Decimal)>,
    decoder: Decoder,
    line: u64,
    buf: Vec<u8>,
    parsed: Vec<ServerMessage>,
    truncated: Option<u64>,
    /// Events of a line not handed out yet (a book line makes several).
    pending: VecDeque<Recorded>,
    /// Each symbol's book in ticks (what the level events are worked out from) and as the
    /// lines wrote it (what their checksums are checked against); empty without `book_depth`.
    books: Vec<LineBook>,
    checked: Vec<OrderBook>,
    changes: Vec<Change>,
}

/// The byte stream under the lines, plain or decompressed.
struct Input {
    bytes: Box<dyn BufRead + Send>,
    zstd: bool,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.zstd { "zstd" } else { "plain" })
    }
}

impl Input {
    /// Reads up to a newline, at most one byte past [`MAX_LINE_BYTES`].
    fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&mut self.bytes)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', buf)
    }
}

/// What one read of a line found.
enum Line {
    /// A whole line (without its newline).
    Whole,
    /// Bytes at the end of the file with no newline after them.
    Unterminated,
    /// The file ended where a crash would end it: an unfinished zstd frame.
    CutShort,
    End,
}

impl Reader {
    /// Opens a recording and reads its header.
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let fail = |line, message: String| RecordingError::new(path, line, message);
        let file = File::open(path).map_err(|e| fail(None, format!("cannot open: {e}")))?;
        let zstd = super::is_zstd(path);
        let bytes: Box<dyn BufRead + Send> = if zstd {
            let decoder = zstd::stream::read::Decoder::new(file)
                .map_err(|e| fail(None, format!("cannot start zstd decompression: {e}")))?;
            Box::new(BufReader::with_capacity(64 * 1024, decoder))
        } else {
            Box::new(BufReader::with_capacity(64 * 1024, file))
        };
        let input = Input { bytes, zstd };
        let mut reader = Self {
            path: path.to_owned(),
            input,
            header: Header::new("", Vec::new(), 0, String::new()),
            index: HashMap::new(),
            grids: Vec::new(),
            decoder: Decoder::new(),
            line: 0,
            buf: Vec::with_capacity(256),
            parsed: Vec::with_capacity(1),
            truncated: None,
            pending: VecDeque::new(),
            books: Vec::new(),
            checked: Vec::new(),
            changes: Vec::new(),
        };
        match reader.read_line()? {
            Line::Whole | Line::Unterminated => {}
            Line::End | Line::CutShort => {
                return Err(fail(Some(1), "empty file: no header line".to_owned()));
            }
        }
        let header: Header = serde_json::from_slice(&reader.buf).map_err(|e| {
            fail(
                Some(1),
                format!("not a Tickwire recording header ({e}); the first line must be the header"),
            )
        })?;
        if header.format != FORMAT {
            return Err(fail(
                Some(1),
                format!("format is `{}`, expected `{FORMAT}`", header.format),
            ));
        }
        if header.version == 0 || header.version > VERSION {
            return Err(fail(
                Some(1),
                format!(
                    "format version {} is not supported by this build (it reads versions 1 to {VERSION})",
                    header.version
                ),
            ));
        }
        if let Some(depth) = header.book_depth {
            if header.version < 2 {
                return Err(fail(
                    Some(1),
                    "book_depth needs format version 2".to_owned(),
                ));
            }
            if depth == 0 || depth as usize > MAX_BOOK_DEPTH {
                return Err(fail(
                    Some(1),
                    format!("book_depth is 1 to {MAX_BOOK_DEPTH}, not {depth}"),
                ));
            }
        }
        if header.symbols.is_empty() || header.symbols.len() > MAX_SYMBOLS {
            return Err(fail(
                Some(1),
                format!(
                    "a header lists 1 to {MAX_SYMBOLS} symbols, this one {}",
                    header.symbols.len()
                ),
            ));
        }
        for (i, s) in header.symbols.iter().enumerate() {
            crate::check_symbol(&s.symbol).map_err(|e| fail(Some(1), e))?;
            if s.tick_size <= Decimal::ZERO || s.lot_size <= Decimal::ZERO {
                return Err(fail(
                    Some(1),
                    format!("`{}` needs a positive tick_size and lot_size", s.symbol),
                ));
            }
            in_units(s.prev_close, s.tick_size, "prev_close")
                .map_err(|e| fail(Some(1), format!("`{}`: {e}", s.symbol)))?;
            if reader.index.insert(s.symbol.clone(), i).is_some() {
                return Err(fail(
                    Some(1),
                    format!("symbol `{}` is listed twice", s.symbol),
                ));
            }
            reader.grids.push((s.tick_size, s.lot_size));
        }
        if let Some(depth) = header.book_depth {
            reader.books = vec![LineBook::default(); header.symbols.len()];
            reader.checked = vec![OrderBook::new(depth as usize); header.symbols.len()];
        }
        reader.header = header;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line number of a cut-off last line that was skipped, once the end is reached.
    pub fn truncated_at(&self) -> Option<u64> {
        self.truncated
    }

    /// Sets a level of a symbol's book without an event: what the server's book holds before
    /// the recording's first book line (its opening touch), so that line removes it.
    pub fn seed_level(&mut self, symbol: usize, side: Side, price: i64, size: i64) {
        if let Some(book) = self.books.get_mut(symbol) {
            book.set(side, price, size, &mut Vec::new());
        }
    }

    /// The books as the lines read so far left them: a replay that loops hands them to the
    /// next pass's reader ([`Reader::continue_books`]), so its first `book` lines replace them.
    pub fn take_books(&mut self) -> Vec<LineBook> {
        std::mem::take(&mut self.books)
    }

    /// Goes on from the books of a previous pass over the same file.
    pub fn continue_books(&mut self, books: Vec<LineBook>) {
        if books.len() == self.books.len() {
            self.books = books;
        }
    }

    /// The next event, `Ok(None)` at the end (also after a cut-off last line: see
    /// [`Reader::truncated_at`]), or the first malformed line.
    pub fn next_event(&mut self) -> Result<Option<Recorded>, RecordingError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            let line = self.read_line()?;
            let complete = match line {
                Line::End => return Ok(None),
                Line::CutShort => {
                    self.truncated = Some(self.line + 1);
                    return Ok(None);
                }
                Line::Whole => true,
                Line::Unterminated => false,
            };
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match self.parse() {
                Ok(()) => {}
                // A crash mid-write leaves a partial last line: what came before it is good.
                Err(_) if !complete => {
                    self.truncated = Some(self.line);
                    return Ok(None);
                }
                Err(why) => return Err(RecordingError::new(&self.path, Some(self.line), why)),
            }
        }
    }

    fn read_line(&mut self) -> Result<Line, RecordingError> {
        self.buf.clear();
        let n = match self.input.read_line(&mut self.buf) {
            Ok(n) => n,
            // zstd reports a stream that stops inside a frame as an early end of file.
            Err(e) if self.input.zstd && e.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(Line::CutShort);
            }
            Err(e) if self.input.zstd => {
                return Err(RecordingError::new(
                    &self.path,
                    Some(self.line + 1),
                    format!("corrupt zstd data: {e}"),
                ));
            }
            Err(e) => {
                return Err(RecordingError::new(
                    &self.path,
                    Some(self.line + 1),
                    format!("read failed: {e}"),
                ));
            }
        };
        if n == 0 {
            return Ok(Line::End);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            Ok(Line::Whole)
        } else if self.buf.len() > MAX_LINE_BYTES {
            Err(RecordingError::new(
                &self.path,
                Some(self.line),
                format!("line is longer than {MAX_LINE_BYTES} bytes"),
            ))
        } else {
            Ok(Line::Unterminated)
        }
    }

    fn parse(&mut self) -> Result<(), String> {
        if self.buf.first() == Some(&b'[') {
            return Err("one event per line, not an array".to_owned());
        }
        self.parsed.clear();
        self.decoder
            .server_frame(&self.buf, &mut self.parsed)
            .map_err(|e| e.to_string())?;
        let Some(message) = self.parsed.pop() else {
            return Err("no event on the line".to_owned());
        };
        let (symbol, seq, ts_ns) = match &message {
            ServerMessage::Quote(q) => (&q.symbol, q.seq, q.ts_ns),
            ServerMessage::Trade(t) => (&t.symbol, t.seq, t.ts_ns),
            ServerMessage::Book(b) | ServerMessage::BookUpdate(b)
                if self.header.book_depth.is_some() =>
            {
                (&b.symbol, b.seq, b.ts_ns)
            }
            ServerMessage::Book(_) | ServerMessage::BookUpdate(_) => {
                return Err(format!(
                    "a `{}` line in a recording whose header has no book_depth",
                    message.type_name()
                ));
            }
            other => {
                return Err(format!(
                    "a `{}` line: a recording holds only `quote`, `trade`, `book` and `book_update` events",
                    other.type_name()
                ));
            }
        };
        let Some(&i) = self.index.get(symbol) else {
            return Err(format!("symbol `{symbol}` is not in the header"));
        };
        let (tick, lot) = self.grids[i];
        let extras = match &message {
            ServerMessage::Quote(q) => Extras::new(q.exch_ts_ns, None, None),
            ServerMessage::Trade(t) => Extras::new(t.exch_ts_ns, t.trade_id, t.aggressor),
            _ => Extras::NONE,
        };
        let event = match &message {
            ServerMessage::Quote(q) => {
                let bid = in_units(q.bid, tick, "bid")?;
                let ask = in_units(q.ask, tick, "ask")?;
                MarketEvent::Quote {
                    symbol: i,
                    bid,
                    bid_size: in_units(q.bid_size, lot, "bid_size")?,
                    ask,
                    ask_size: in_units(q.ask_size, lot, "ask_size")?,
                }
            }
            ServerMessage::Trade(t) => {
                let price = in_units(t.price, tick, "price")?;
                if price == 0 {
                    return Err("trade price must be positive".to_owned());
                }
                MarketEvent::Trade {
                    symbol: i,
                    price,
                    size: in_units(t.size, lot, "size")?,
                }
            }
            ServerMessage::Book(b) => return self.book_line(i, b, true),
            ServerMessage::BookUpdate(b) => return self.book_line(i, b, false),
            _ => return Err("unreachable event kind".to_owned()),
        };
        self.pending.push_back(Recorded {
            ts_ns,
            seq,
            event,
            extras,
        });
        Ok(())
    }

    /// Checks a `book` (`whole`) or `book_update` line against the book so far and queues the
    /// level events it makes.
    fn book_line(&mut self, i: usize, line: &Book, whole: bool) -> Result<(), String> {
        let (tick, lot) = self.grids[i];
        let depth = self.header.book_depth.unwrap_or(1) as usize;
        if whole && (line.bids.len() > depth || line.asks.len() > depth) {
            return Err(format!(
                "a `book` line holds at most book_depth ({depth}) levels a side"
            ));
        }
        let units = |levels: &[Level]| -> Result<Vec<(i64, i64)>, String> {
            levels
                .iter()
                .map(|l| {
                    let price = in_units(l.price(), tick, "price")?;
                    if price == 0 {
                        return Err("a book price must be positive".to_owned());
                    }
                    Ok((price, in_units(l.size(), lot, "size")?))
                })
                .collect()
        };
        let (bids, asks) = (units(&line.bids)?, units(&line.asks)?);
        let (Some(book), Some(checked)) = (self.books.get_mut(i), self.checked.get_mut(i)) else {
            return Err("no book kept for the symbol".to_owned());
        };
        match checked.apply(line, whole) {
            BookStep::InSync => {}
            BookStep::Gap { expected: 0, .. } => {
                return Err(format!(
                    "a `book_update` of `{}` before its first `book` line",
                    line.symbol
                ));
            }
            BookStep::Gap { expected, got } => {
                return Err(format!(
                    "book seq {got} of `{}` where {expected} was next; after a gap the next book line is a `book`",
                    line.symbol
                ));
            }
            BookStep::Stale => {
                return Err(format!(
                    "book seq {} of `{}` is not after the one before",
                    line.seq, line.symbol
                ));
            }
            BookStep::Mismatch { expected, computed } => {
                return Err(format!(
                    "checksum {expected} does not match the book the lines built ({computed})"
                ));
            }
        }
        self.changes.clear();
        if whole {
            book.replace(&bids, &asks, &mut self.changes);
        } else {
            for &(price, size) in &bids {
                book.set(Side::Buy, price, size, &mut self.changes);
            }
            for &(price, size) in &asks {
                book.set(Side::Sell, price, size, &mut self.changes);
            }
        }
        book.truncate(depth, &mut self.changes);
        for &(side, price, size) in &self.changes {
            self.pending.push_back(Recorded {
                ts_ns: line.ts_ns,
                seq: line.seq,
                event: MarketEvent::Level {
                    symbol: i,
                    side,
                    price,
                    size,
                },
                extras: Extras::NONE,
            });
        }
        if whole {
            // A `book` line is a fresh book for the replay's clients too.
            self.pending.push_back(Recorded {
                ts_ns: line.ts_ns,
                seq: line.seq,
                event: MarketEvent::Resync { symbol: i },
                extras: Extras::NONE,
            });
        }
        Ok(())
    }
}

/// Reads a whole recording into memory: for tests and small files only.
pub fn read_all(path: &Path) -> Result<(Header, Vec<Recorded>), RecordingError> {
    let mut reader = Reader::open(path)?;
    let mut events = Vec::new();
    while let Some(e) = reader.next_event()? {
        events.push(e);
    }
    Ok((reader.header.clone(), events))
}
