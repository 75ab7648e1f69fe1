//! `--channels` of `terminal bench` and `terminal record`: which of a symbol's streams to take.

/// The channels of `--channels`: `quotes`, `book` or both, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels(pub Vec<protocol::Channel>);

impl Channels {
    pub fn book(&self) -> bool {
        self.0.contains(&protocol::Channel::Book)
    }

    pub fn names(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|c| c.as_str()).collect();
        names.join(",")
    }
}

impl std::str::FromStr for Channels {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut channels = Vec::new();
        for name in s.split(',').map(str::trim) {
            let channel = match name {
                "quotes" => protocol::Channel::Quotes,
                "book" => protocol::Channel::Book,
                other => {
                    return Err(format!(
                        "`{other}` is not a channel: use quotes, book or both"
                    ));
                }
            };
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        Ok(Self(channels))
    }
}
