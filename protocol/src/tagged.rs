//! Decoding of `type`-tagged messages without buffering.
//!
//! serde's derived internally-tagged enums first copy every object into an intermediate tree to find
//! the tag, which doubled the cost of decoding a quote. Tickwire writes `type` first, so this reads
//! the first key: when it is `type`, the rest of the object streams straight into the right struct.
//! When another key comes first (allowed: key order is free in JSON), the object is collected into a
//! `serde_json::Value` and decoded from there, slower but correct.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer};

/// A tagged message type: which variant a `type` names, and how to decode each from a map.
pub(crate) trait Tagged: Sized {
    /// The `type` names, in variant order, for error messages.
    const TYPES: &'static [&'static str];
    const EXPECTING: &'static str;

    /// Decodes the variant named `tag` from the rest of a map.
    fn from_map<'de, D: Deserializer<'de>>(tag: &str, rest: D) -> Result<Self, D::Error>;
}

/// The first key of an object: `type`, or another one kept for the slow path.
enum FirstKey {
    Type,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = FirstKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FirstKey, E> {
                Ok(if v == "type" {
                    FirstKey::Type
                } else {
                    FirstKey::Other(v.to_owned())
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// A short tag read without allocating when the input allows it.
struct Tag(compact_str::CompactString);

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagVisitor;
        impl Visitor<'_> for TagVisitor {
            type Value = Tag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message type name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Tag, E> {
                Ok(Tag(v.into()))
            }
        }
        deserializer.deserialize_str(TagVisitor)
    }
}

/// Deserializes any [`Tagged`] type from a JSON object.
pub(crate) fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        match map.next_key::<FirstKey>()? {
            None => Err(de::Error::missing_field("type")),
            Some(FirstKey::Type) => {
                let Tag(tag) = map.next_value()?;
                check_tag::<T, A::Error>(&tag)?;
                T::from_map(&tag, MapAccessDeserializer::new(map))
            }
            Some(FirstKey::Other(first)) => {
                let mut object = serde_json::Map::new();
                let value: serde_json::Value = map.next_value()?;
                object.insert(first, value);
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    object.insert(key, value);
                }
                let Some(serde_json::Value::String(tag)) = object.remove("type") else {
                    return Err(de::Error::missing_field("type"));
                };
                check_tag::<T, A::Error>(&tag)?;
                T::from_map(&tag, serde_json::Value::Object(object)).map_err(de::Error::custom)
            }
        }
    }
}

fn check_tag<T: Tagged, E: de::Error>(tag: &str) -> Result<(), E> {
    if T::TYPES.contains(&tag) {
        Ok(())
    } else {
        Err(E::unknown_variant(tag, T::TYPES))
    }
}

/// Implements `Deserialize` and [`Tagged`] for a message enum whose variants each wrap a struct.
macro_rules! tagged_enum {
    ($enum:ident, $expecting:literal, { $($tag:literal => $variant:ident),+ $(,)? }) => {
        impl $crate::tagged::Tagged for $enum {
            const TYPES: &'static [&'static str] = &[$($tag),+];
            const EXPECTING: &'static str = $expecting;

            fn from_map<'de, D: serde::Deserializer<'de>>(tag: &str, rest: D) -> Result<Self, D::Error> {
                match tag {
                    $($tag => serde::Deserialize::deserialize(rest).map($enum::$variant),)+
                    other => Err(<D::Error as serde::de::Error>::unknown_variant(other, Self::TYPES)),
                }
            }
        }

        impl $enum {
            /// The message's `type` on the wire.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => $tag,)+
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::tagged::deserialize(deserializer)
            }
        }
    };
}

pub(crate) use tagged_enum;
