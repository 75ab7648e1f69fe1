//! Writing a recording: a header, then one event per line, compressed as the name says.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{ServerMessage, encode_server};

use super::Header;

/// A recording being written.
///
/// Created `atomic`, it writes `FILE.partial` and renames it to `FILE` only in [`Writer::finish`]:
/// a failed import or generation leaves nothing behind. Otherwise (recording a live feed) it writes
/// `FILE` directly, so a crash keeps everything flushed so far.
#[derive(Debug)]
pub struct Writer {
    out: Option<Output>,
    path: PathBuf,
    partial: Option<PathBuf>,
    events: u64,
}

enum Output {
    Plain(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "plain",
            Self::Zstd(_) => "zstd",
        })
    }
}

impl Output {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Self::Plain(w) => w,
            Self::Zstd(w) => w,
        }
    }
}

/// zstd level: fast enough to keep up with any feed, about 6x smaller than plain JSON lines.
const ZSTD_LEVEL: i32 = 3;

impl Writer {
    /// Creates the file and writes the header line.
    pub fn create(path: &Path, header: &Header, atomic: bool) -> io::Result<Self> {
        let partial = atomic.then(|| {
            let mut name = path.as_os_str().to_owned();
            name.push(".partial");
            PathBuf::from(name)
        });
        let file = File::create(partial.as_deref().unwrap_or(path))?;
        let buffered = BufWriter::with_capacity(256 * 1024, file);
        let out = if super::is_zstd(path) {
            Output::Zstd(zstd::stream::write::Encoder::new(buffered, ZSTD_LEVEL)?)
        } else {
            Output::Plain(buffered)
        };
        let mut writer = Self {
            out: Some(out),
            path: path.to_owned(),
            partial,
            events: 0,
        };
        let line = serde_json::to_string(header).map_err(io::Error::other)?;
        writer.write_line(&line)?;
        Ok(writer)
    }

    /// Appends a `quote` or `trade`.
    pub fn write_event(&mut self, message: &ServerMessage) -> io::Result<()> {
        self.write_line(&encode_server(message))?;
        self.events += 1;
        Ok(())
    }

    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(io::Error::other("the recording is already finished"));
        };
        let w = out.writer();
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")
    }

    /// Events written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Pushes what is buffered to the file (a complete zstd block), so a crash loses little.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.writer().flush(),
            None => Ok(()),
        }
    }

    /// Closes the compression frame, syncs the file and (when atomic) moves it into place.
    /// Returns the file's size in bytes.
    pub fn finish(mut self) -> io::Result<u64> {
        let file = match self.out.take() {
            Some(Output::Plain(w)) => w.into_inner().map_err(io::IntoInnerError::into_error)?,
            Some(Output::Zstd(w)) => w
                .finish()?
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?,
            None => return Err(io::Error::other("the recording is already finished")),
        };
        file.sync_all()?;
        let size = file.metadata()?.len();
        if let Some(partial) = self.partial.take() {
            fs::rename(&partial, &self.path)?;
        }
        Ok(size)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // An atomic writer dropped unfinished (an error on the way) leaves nothing behind.
        if let Some(partial) = self.partial.take() {
            self.out = None;
            let _ = fs::remove_file(partial);
        }
    }
}
