//! Live venues' feeds, normalized to Tickwire's market events (issue 24, under way): so far
//! Kraken's order book, kept exactly from the message text and checked by its checksum. Not yet
//! wired into a running server.

pub mod kraken;
