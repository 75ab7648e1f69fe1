//! Reading a recording as a stream, one line at a time, with every failure located.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{
    FORMAT, Header, MAX_LINE_BYTES, MAX_SYMBOLS, MarketEvent, RecordingError, VERSION, in_units,
};
use crate::{Decimal, Decoder, ServerMessage, Symbol};

/// One event of a recording: its original time and `seq`, and the event in ticks and lots of its
/// symbol (an index into the header's symbols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub ts_ns: u64,
    pub seq: u64,
    pub event: MarketEvent,
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
        if header.version != VERSION {
            return Err(fail(
                Some(1),
                format!(
                    "format version {} is not supported by this build (it reads version {VERSION})",
                    header.version
                ),
            ));
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

    /// The next event, `Ok(None)` at the end (also after a cut-off last line: see
    /// [`Reader::truncated_at`]), or the first malformed line.
    pub fn next_event(&mut self) -> Result<Option<Recorded>, RecordingError> {
        loop {
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
                Ok(event) => return Ok(Some(event)),
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

    fn parse(&mut self) -> Result<Recorded, String> {
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
            other => {
                return Err(format!(
                    "a `{}` line: a recording holds only `quote` and `trade` events",
                    other.type_name()
                ));
            }
        };
        let Some(&i) = self.index.get(symbol) else {
            return Err(format!("symbol `{symbol}` is not in the header"));
        };
        let (tick, lot) = self.grids[i];
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
            _ => return Err("unreachable event kind".to_owned()),
        };
        Ok(Recorded { ts_ns, seq, event })
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
