//! The primitives every binary layout is made of, written by [`Out`] and read back, checked, by
//! [`In`]: little-endian integers, u16-length strings and exact decimals (`dec`).

use rust_decimal::Decimal;

use super::{HEADER, Kind};
use crate::error::DecodeError;

/// The flag in a `dec` scale byte for a 128-bit mantissa.
const WIDE: u8 = 0x80;
/// The largest scale a [`Decimal`] has.
const MAX_SCALE: u32 = 28;

/// Appends one message to a frame, patching its length when done.
pub(super) struct Out<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Out<'a> {
    pub(super) fn begin(buf: &'a mut Vec<u8>, kind: Kind) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[kind as u8, 0, 0]);
        Self { buf, start }
    }

    pub(super) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub(super) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(super) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(super) fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(super) fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    pub(super) fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        self.bool(v.is_some()).u64(v.unwrap_or(0))
    }
    /// A count of what follows, as a u32.
    pub(super) fn count(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// A string, cut at a character boundary to fit a u16 length.
    pub(super) fn str(&mut self, s: &str) -> &mut Self {
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.buf.extend_from_slice(&(end as u16).to_le_bytes());
        self.buf.extend_from_slice(&s.as_bytes()[..end]);
        self
    }
    pub(super) fn dec(&mut self, d: Decimal) -> &mut Self {
        let scale = d.scale() as u8;
        let mantissa = d.mantissa();
        if let Ok(m) = i64::try_from(mantissa) {
            self.u8(scale).u64(m as u64)
        } else {
            self.buf.push(scale | WIDE);
            self.buf.extend_from_slice(&mantissa.to_le_bytes());
            self
        }
    }

    /// Patches the length. A message over 64 KiB (a hello listing a large universe) says 0:
    /// it runs to the end of its frame, which it has to itself.
    pub(super) fn finish(self) {
        let len = u16::try_from(self.buf.len() - self.start).unwrap_or(0);
        self.buf[self.start + 1..self.start + 3].copy_from_slice(&len.to_le_bytes());
    }
}

/// A cursor over one message's bytes, after its header; every read is checked.
pub(super) struct In<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> In<'a> {
    /// Reads the fields of `message` (header included), a message of type `kind`.
    pub(super) fn new(message: &'a [u8], kind: Kind) -> Self {
        Self {
            bytes: message,
            at: HEADER,
            what: kind.name(),
        }
    }

    pub(super) fn fail(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            kind: self.what.to_owned(),
            detail: detail.into(),
        }
    }

    /// Bytes not read yet.
    pub(super) fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.fail(format!(
                "ends at byte {} of {} while reading {n} more",
                self.at,
                self.bytes.len()
            )));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(super) fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub(super) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.fail(format!("flag byte {other} is neither 0 nor 1"))),
        }
    }
    pub(super) fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        let present = self.bool()?;
        let value = self.u64()?;
        Ok(present.then_some(value))
    }
    /// A count of items of at least `min_bytes` each: a count that cannot fit in what is left is
    /// refused before anything is allocated for it.
    pub(super) fn count(&mut self, min_bytes: usize) -> Result<usize, DecodeError> {
        let count = self.u32()?;
        let fits = usize::try_from(count)
            .ok()
            .filter(|&n| n <= self.left() / min_bytes);
        fits.ok_or_else(|| {
            let items = if min_bytes == 4 {
                "symbol ids"
            } else {
                "symbols"
            };
            self.fail(format!("{count} {items} cannot fit"))
        })
    }
    pub(super) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.fail("a string is not valid UTF-8"))
    }
    pub(super) fn dec(&mut self) -> Result<Decimal, DecodeError> {
        let scale = self.u8()?;
        let mantissa = if scale & WIDE == 0 {
            i128::from(self.u64()? as i64)
        } else {
            i128::from_le_bytes(self.array()?)
        };
        let scale = u32::from(scale & !WIDE);
        if scale > MAX_SCALE {
            return Err(self.fail(format!("decimal scale {scale} is over {MAX_SCALE}")));
        }
        Decimal::try_from_i128_with_scale(mantissa, scale)
            .map_err(|_| self.fail("decimal mantissa is over 96 bits"))
    }
    /// A decimal from a compact mantissa and its shared scale.
    pub(super) fn scaled(&self, mantissa: i32, scale: u8) -> Result<Decimal, DecodeError> {
        let scale = u32::from(scale);
        if scale > MAX_SCALE {
            return Err(self.fail(format!("decimal scale {scale} is over {MAX_SCALE}")));
        }
        Ok(Decimal::new(i64::from(mantissa), scale))
    }
    /// Whether every byte of the message has been read.
    pub(super) fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub(super) fn done(&self) -> Result<(), DecodeError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.fail(format!(
                "{} bytes left over after the last field",
                self.bytes.len() - self.at
            )))
        }
    }
}
