//! Where market events come from: a seeded synthesizer or a recording, apart from the hub.
//!
//! A [`Source`] yields events with their time on the source's own clock; the [`crate::pacer`]
//! turns that clock into wall-clock due times and hands the events to the hub, which stamps,
//! encodes and fans them out the same way whatever produced them.

pub mod replay;
pub mod synth;

use std::path::Path;

use protocol::SourceInfo;

use crate::config::Config;
use crate::event::MarketEvent;
use crate::universe::Universe;
use protocol::recording::RecordingError;

/// One step of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An event at `at_ns` on the source's clock (never earlier than the previous one's, except
    /// where a recording itself goes back in time).
    Event { at_ns: u64, event: MarketEvent },
    /// A looping replay finished a pass over its file and starts the next.
    Looped,
}

/// A stream of market events.
pub trait Source: Send + std::fmt::Debug {
    /// The next step, `Ok(None)` when the source has nothing more, or why it cannot go on
    /// (`FILE:LINE: what is wrong`).
    fn next_step(&mut self) -> Result<Option<Step>, String>;

    /// Whether falling far behind schedule may skip events rather than send them late: true for
    /// synthesis, where no one is owed a particular event, false for a replay.
    fn skippable(&self) -> bool;
}

/// A server's source, ready to pace, with the universe it yields events for.
#[derive(Debug)]
pub struct Opened {
    pub universe: Universe,
    pub source: Box<dyn Source>,
    /// The source clock's time that maps to the start of pacing.
    pub origin_ns: u64,
    /// What `hello` says about it (`replay_start_ns` is set when pacing starts).
    pub info: SourceInfo,
}

/// Opens what `config` asks for: a recording's replay, or synthesis.
pub fn open(config: &Config) -> Result<Opened, RecordingError> {
    if let Some(path) = &config.replay {
        let replay = replay::ReplaySource::open(path, config.looping)?;
        let universe = replay.universe()?;
        let origin_ns = replay.header().start_ns;
        let info = SourceInfo {
            kind: "replay".to_owned(),
            rate: None,
            seed: None,
            file: Some(file_name(path)),
            speed: Some(config.speed.to_string()),
            looping: Some(config.looping),
            recording_start_ns: Some(origin_ns),
            replay_start_ns: None,
        };
        Ok(Opened {
            universe,
            source: Box::new(replay),
            origin_ns,
            info,
        })
    } else {
        let universe = Universe::new(&config.symbols, config.seed);
        let source = Box::new(synth::SynthSource::new(&universe, config.seed, config.rate));
        Ok(Opened {
            universe,
            source,
            origin_ns: 0,
            info: SourceInfo {
                kind: "synthetic".to_owned(),
                rate: Some(config.rate),
                seed: Some(config.seed),
                file: None,
                speed: None,
                looping: None,
                recording_start_ns: None,
                replay_start_ns: None,
            },
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
