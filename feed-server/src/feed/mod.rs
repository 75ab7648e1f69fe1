//! The feed: where market events come from and when they are due.
//!
//! A [`source::Source`] yields events with their time on the source's own clock: the seeded synthesizer
//! ([`synth`], over the random walk in `walk`) or a recording ([`replay`]). The [`pacer`]
//! thread turns that clock into wall-clock due times and hands the events ([`event::Due`]) to
//! the hub, which stamps, encodes and fans them out the same way whatever produced them. The
//! [`universe`] names the instruments every part shares.
//!
//! The feed knows nothing of the market's state or of clients.

pub mod args;
pub(crate) mod depth;
pub mod event;
pub mod pacer;
pub(crate) mod replay;
pub mod source;
pub(crate) mod synth;
pub mod universe;
pub(crate) mod walk;

use std::path::{Path, PathBuf};

use protocol::SourceInfo;
use protocol::recording::{RecordingError, Speed};

pub use args::{SymbolChoice, SynthArgs};
use source::Source;
use universe::Universe;

/// A server's source, ready to pace, with the universe it yields events for.
#[derive(Debug)]
pub struct Opened {
    pub universe: Universe,
    pub source: Box<dyn Source>,
    /// The source clock's time that maps to the start of pacing.
    pub origin_ns: u64,
    /// What `hello` says about it (`replay_start_ns` is set when pacing starts).
    pub info: SourceInfo,
    /// Whether the source's events include the book: then the core must not make the book's
    /// touch from each quote (a recording with book lines already holds those changes).
    pub carries_books: bool,
}

/// Where a server's events come from.
#[derive(Debug, Clone)]
pub enum SourceChoice {
    /// The seeded synthesizer.
    Synth(SynthArgs),
    /// A recording, at `speed`, once or in a loop.
    Replay {
        file: PathBuf,
        speed: Speed,
        looping: bool,
    },
}

/// Opens a source: a recording's replay, or synthesis.
pub fn open(choice: &SourceChoice) -> Result<Opened, RecordingError> {
    match choice {
        SourceChoice::Replay {
            file,
            speed,
            looping,
        } => open_replay(file, *speed, *looping),
        SourceChoice::Synth(args) => Ok(open_synth(args)),
    }
}

fn open_replay(path: &Path, speed: Speed, looping: bool) -> Result<Opened, RecordingError> {
    let mut replay = replay::ReplaySource::open(path, looping)?;
    let universe = replay.universe()?;
    let carries_books = replay.header().book_depth.is_some();
    replay.seed_books(&universe);
    let origin_ns = replay.header().start_ns;
    let info = SourceInfo {
        kind: "replay".to_owned(),
        rate: None,
        seed: None,
        file: Some(file_name(path)),
        speed: Some(speed.to_string()),
        looping: Some(looping),
        recording_start_ns: Some(origin_ns),
        replay_start_ns: None,
        venues: None,
    };
    Ok(Opened {
        universe,
        source: Box::new(replay),
        origin_ns,
        info,
        carries_books,
    })
}

fn open_synth(args: &SynthArgs) -> Opened {
    let universe = Universe::new(&args.symbols, args.seed);
    let source = Box::new(synth::SynthSource::new(
        &universe,
        args.seed,
        args.rate,
        args.book_rate,
    ));
    Opened {
        universe,
        source,
        origin_ns: 0,
        carries_books: false,
        info: SourceInfo {
            kind: "synthetic".to_owned(),
            rate: Some(args.rate),
            seed: Some(args.seed),
            file: None,
            speed: None,
            looping: None,
            recording_start_ns: None,
            replay_start_ns: None,
            venues: None,
        },
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
