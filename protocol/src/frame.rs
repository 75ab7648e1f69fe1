//! WebSocket frame heads (RFC 6455 section 5.2) on raw bytes, for code that frames messages itself
//! (the server's outbox writes frames straight to sockets) or reads frames without a WebSocket
//! library (the server's tests and its fuzz driver).
//!
//! A head is two bytes (FIN, RSV1-3 and the opcode; the MASK bit and a 7-bit length), then 2 or
//! 8 more bytes of length when the 7 bits say 126 or 127, then the 4-byte masking key of a masked
//! (client) frame.

/// Frame opcodes.
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// The longest head: 2 bytes, an 8-byte length and a masking key.
pub const MAX_HEAD: usize = 14;
/// The 7-bit length values that say a 16-bit or a 64-bit length follows.
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

/// One frame's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// The last frame of its message.
    pub fin: bool,
    /// RSV1 to RSV3, as the low three bits (0 unless an extension says otherwise).
    pub rsv: u8,
    pub opcode: u8,
    /// The masking key: clients mask every frame, servers none.
    pub mask: Option<[u8; 4]>,
    /// The payload's length.
    pub len: u64,
}

impl FrameHead {
    /// The head of a final, unmasked frame: what a server sends.
    pub const fn server(opcode: u8, len: u64) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            len,
        }
    }

    /// Reads the head at the start of `bytes`, and how many bytes it takes; `None` until the
    /// head is whole. Any bytes make a head: checking it against the rules is the caller's job.
    pub fn parse(bytes: &[u8]) -> Option<(Self, usize)> {
        let (&[first, second], rest) = bytes.split_first_chunk::<2>()?;
        let (len, rest, mut used) = match second & 0x7F {
            LEN_16 => {
                let (len, rest) = rest.split_first_chunk::<2>()?;
                (u64::from(u16::from_be_bytes(*len)), rest, 4)
            }
            LEN_64 => {
                let (len, rest) = rest.split_first_chunk::<8>()?;
                (u64::from_be_bytes(*len), rest, 10)
            }
            short => (u64::from(short), rest, 2),
        };
        let mask = if second & 0x80 == 0 {
            None
        } else {
            used += 4;
            Some(*rest.first_chunk::<4>()?)
        };
        let head = Self {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x7,
            opcode: first & 0x0F,
            mask,
            len,
        };
        Some((head, used))
    }

    /// The head as bytes, with the length in its shortest form; returns how many of the
    /// [`MAX_HEAD`] bytes it takes.
    pub fn encode(&self) -> ([u8; MAX_HEAD], usize) {
        let mut out = [0u8; MAX_HEAD];
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | (self.opcode & 0x0F);
        let masked = if self.mask.is_some() { 0x80 } else { 0 };
        let mut used = match u16::try_from(self.len) {
            Ok(short) if short < u16::from(LEN_16) => {
                out[1] = masked | short as u8;
                2
            }
            Ok(medium) => {
                out[1] = masked | LEN_16;
                out[2..4].copy_from_slice(&medium.to_be_bytes());
                4
            }
            Err(_) => {
                out[1] = masked | LEN_64;
                out[2..10].copy_from_slice(&self.len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[used..used + 4].copy_from_slice(&key);
            used += 4;
        }
        (out, used)
    }
}

/// Splits the whole frame at the front of `bytes` off: its head, its payload (still masked, if it
/// is) and the bytes after it; `None` until the frame is whole.
pub fn split_frame(bytes: &[u8]) -> Option<(FrameHead, &[u8], &[u8])> {
    let (head, used) = FrameHead::parse(bytes)?;
    let end = usize::try_from(head.len).ok()?.checked_add(used)?;
    let payload = bytes.get(used..end)?;
    Some((head, payload, &bytes[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_form_and_parse_back() {
        for (len, bytes) in [
            (5u64, 2),
            (125, 2),
            (126, 4),
            (300, 4),
            (65_535, 4),
            (70_000, 10),
        ] {
            let head = FrameHead::server(opcode::TEXT, len);
            let (out, used) = head.encode();
            assert_eq!(used, bytes, "{len}");
            assert_eq!(FrameHead::parse(&out[..used]), Some((head, used)));
            assert_eq!(
                FrameHead::parse(&out[..used - 1]),
                None,
                "a cut head is not read"
            );
        }
        let (out, used) = FrameHead::server(opcode::TEXT, 300).encode();
        assert_eq!(&out[..used], &[0x81, 126, 1, 44]);
        let (out, used) = FrameHead::server(opcode::TEXT, 70_000).encode();
        assert_eq!(&out[..used], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn masked_heads_with_reserved_bits_round_trip() {
        let head = FrameHead {
            fin: false,
            rsv: 0b101,
            opcode: opcode::PING,
            mask: Some([1, 2, 3, 4]),
            len: 126,
        };
        let (out, used) = head.encode();
        assert_eq!(used, 8);
        assert_eq!(FrameHead::parse(&out[..used]), Some((head, used)));
        assert_eq!(FrameHead::parse(&out[..used - 1]), None);
    }

    #[test]
    fn whole_frames_are_split_off_and_a_partial_one_is_left() {
        let mut bytes = vec![0x8A, 2, b'h', b'i', 0x88, 2, 0x03, 0xE8];
        bytes.extend_from_slice(&[0x81, 5, b'a']);
        let (pong, payload, rest) = split_frame(&bytes).unwrap();
        assert_eq!((pong.opcode, payload), (opcode::PONG, &b"hi"[..]));
        let (close, payload, rest) = split_frame(rest).unwrap();
        assert_eq!((close.opcode, payload), (opcode::CLOSE, &[0x03, 0xE8][..]));
        assert_eq!(rest, &[0x81, 5, b'a']);
        assert_eq!(split_frame(rest), None);
        // A length beyond memory is never read past.
        assert_eq!(split_frame(&[0x81, 127, 0xFF, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
