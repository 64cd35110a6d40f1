//! S2 (klauspost/compress/s2) decompression through `minlz`, with a size cap.
//!
//! nats-server uses both S2 formats:
//! * the *block* format (`s2.Encode`/`s2.Decode`): the meta snapshot and the body of
//!   `compressedStreamMsgOp`; a uvarint of the decoded length, then the tagged elements.
//! * the *stream* (framed) format (`s2.NewWriter`/`s2.NewReader`): the body of
//!   `assignCompressedConsumerOp`; the `0xff 06 00 00 "S2sTwO"` stream identifier, then
//!   chunks of `type(1) len(3, LE)` each with a masked CRC-32C of the decoded data.

use std::io::Read;

use crate::store::jsops::error::{OpError, Payload};

/// Largest decoded size accepted, in either format. A block's length header is checked
/// before anything is allocated (minlz itself caps a block at 256 MiB as well).
pub const MAX_DECODED: usize = 256 * 1024 * 1024;

/// Decodes an S2 block. `offset` is where `src` starts in the payload, for errors.
pub(crate) fn decode_block(
    src: &[u8],
    payload: Payload,
    offset: usize,
) -> Result<Vec<u8>, OpError> {
    let err = |detail: String| OpError::Decompress {
        payload,
        offset,
        format: "block",
        detail,
    };
    let (len, _) = minlz::s2::decode_len(src).map_err(|e| err(e.to_string()))?;
    if len > MAX_DECODED {
        return Err(err(format!(
            "declared length {len} is over the {MAX_DECODED} byte cap"
        )));
    }
    minlz::s2::decode(src).map_err(|e| err(e.to_string()))
}

/// Decodes an S2 stream (framed) to its end.
pub(crate) fn decode_stream(
    src: &[u8],
    payload: Payload,
    offset: usize,
) -> Result<Vec<u8>, OpError> {
    let mut out = Vec::new();
    let reader = minlz::s2::Reader::new(src);
    let mut limited = reader.take(MAX_DECODED as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| OpError::Decompress {
            payload,
            offset,
            format: "stream",
            detail: e.to_string(),
        })?;
    if out.len() > MAX_DECODED {
        return Err(OpError::Decompress {
            payload,
            offset,
            format: "stream",
            detail: format!("decoded data is over the {MAX_DECODED} byte cap"),
        });
    }
    Ok(out)
}
