//! Bounds-checked reading of the little-endian integers and Go varints the payloads use.
//!
//! `uvarint`/`varint` follow Go's `encoding/binary.Uvarint`/`Varint` exactly: at most 10
//! bytes, the 10th byte at most 1; a short buffer or an overflow is an error.

use crate::store::jsops::error::{OpError, Payload};

/// Go's `binary.MaxVarintLen64`.
const MAX_VARINT_LEN64: usize = 10;

/// Go's `binary.Uvarint`: `(value, n)` with `n > 0` the bytes read, `n == 0` for a short
/// buffer, `n < 0` for an overflow (`-n` bytes read).
pub(crate) fn go_uvarint(buf: &[u8]) -> (u64, isize) {
    let mut x: u64 = 0;
    let mut s: u32 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i == MAX_VARINT_LEN64 {
            return (0, -(i as isize + 1));
        }
        if b < 0x80 {
            if i == MAX_VARINT_LEN64 - 1 && b > 1 {
                return (0, -(i as isize + 1));
            }
            return (x | (u64::from(b) << s), i as isize + 1);
        }
        x |= u64::from(b & 0x7f) << s;
        s += 7;
    }
    (0, 0)
}

/// Go's `binary.Varint` (zig-zag over `Uvarint`).
pub(crate) fn go_varint(buf: &[u8]) -> (i64, isize) {
    let (ux, n) = go_uvarint(buf);
    let mut x = (ux >> 1) as i64;
    if ux & 1 != 0 {
        x = !x;
    }
    (x, n)
}

/// A read position in one payload, remembering where errors should point.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    payload: Payload,
    decompressed: bool,
}

impl<'a> Cursor<'a> {
    /// `base` is the offset of `buf[0]` in the reported offset space.
    pub(crate) fn new(buf: &'a [u8], base: usize, payload: Payload, decompressed: bool) -> Self {
        Cursor {
            buf,
            pos: 0,
            base,
            payload,
            decompressed,
        }
    }

    /// Offset of the next byte, as errors report it.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn truncated(&self, field: &'static str, need: u64) -> OpError {
        OpError::Truncated {
            payload: self.payload,
            offset: self.offset(),
            decompressed: self.decompressed,
            field,
            need,
            have: self.remaining(),
        }
    }

    pub(crate) fn invalid(&self, field: &'static str, reason: impl Into<String>) -> OpError {
        OpError::Invalid {
            payload: self.payload,
            offset: self.offset(),
            decompressed: self.decompressed,
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn take(&mut self, n: u64, field: &'static str) -> Result<&'a [u8], OpError> {
        if n > self.remaining() as u64 {
            return Err(self.truncated(field, n));
        }
        let n = n as usize;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], OpError> {
        let s = self.take(N as u64, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, OpError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16_le(&mut self, field: &'static str) -> Result<u16, OpError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32_le(&mut self, field: &'static str) -> Result<u32, OpError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64_le(&mut self, field: &'static str) -> Result<u64, OpError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn varint_err(&self, field: &'static str) -> OpError {
        OpError::Varint {
            payload: self.payload,
            offset: self.offset(),
            decompressed: self.decompressed,
            field,
        }
    }

    pub(crate) fn uvarint(&mut self, field: &'static str) -> Result<u64, OpError> {
        let (v, n) = go_uvarint(self.rest());
        if n <= 0 {
            return Err(self.varint_err(field));
        }
        self.pos += n as usize;
        Ok(v)
    }

    pub(crate) fn varint(&mut self, field: &'static str) -> Result<i64, OpError> {
        let (v, n) = go_varint(self.rest());
        if n <= 0 {
            return Err(self.varint_err(field));
        }
        self.pos += n as usize;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_go() {
        assert_eq!(go_uvarint(&[]), (0, 0));
        assert_eq!(go_uvarint(&[0x80]), (0, 0));
        assert_eq!(go_uvarint(&[0x01]), (1, 1));
        assert_eq!(go_uvarint(&[0xac, 0x02]), (300, 2));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(go_uvarint(&max), (u64::MAX, 10));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(go_uvarint(&over), (0, -10));
        let long = [0x80; 11];
        assert_eq!(go_uvarint(&long), (0, -11));
        assert_eq!(go_varint(&[0x01]), (-1, 1));
        assert_eq!(go_varint(&[0x02]), (1, 1));
        assert_eq!(go_varint(&[0x03]), (-2, 1));
    }
}
