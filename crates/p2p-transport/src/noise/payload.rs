//! The handshake payload of libp2p's Noise: the protobuf message
//! `NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2;
//! NoiseExtensions extensions = 4; }`, by hand, with one field of ours,
//! `bytes ciphers = 20563`, which libp2p's decoder skips as unknown: the
//! transport ciphers its sender offers or chose (see the parent module).
//! Those three are read and everything else skipped.

/// The fields of a received payload we use, borrowed from it. Missing
/// fields are empty, as protobuf's defaults are.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Payload<'a> {
    /// The sender's libp2p public key, protobuf-encoded.
    pub(super) identity_key: &'a [u8],
    /// Its signature over the sender's Noise static key.
    pub(super) identity_sig: &'a [u8],
    /// Comma-separated Noise cipher names; empty from libp2p's peers.
    pub(super) ciphers: &'a [u8],
}

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// Field numbers.
const IDENTITY_KEY: u64 = 1;
const IDENTITY_SIG: u64 = 2;
/// Ours: "PS" in ASCII, far from the numbers libp2p gives out in order.
const CIPHERS: u64 = 20_563;

/// The payload carrying `identity_key`, `identity_sig` and, unless empty,
/// `ciphers`.
pub(super) fn encode(identity_key: &[u8], identity_sig: &[u8], ciphers: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(identity_key.len() + identity_sig.len() + ciphers.len() + 16);
    let fields = [
        (IDENTITY_KEY, identity_key),
        (IDENTITY_SIG, identity_sig),
        (CIPHERS, ciphers),
    ];
    for (field, value) in fields {
        if field == CIPHERS && value.is_empty() {
            continue;
        }
        put_varint(&mut out, field << 3 | LENGTH_DELIMITED);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

/// The identity fields of `bytes`. Unknown fields are skipped; of a field
/// given twice the last counts, as protobuf says.
///
/// # Errors
/// A description of what is malformed: a truncated or overlong varint, a
/// field running past the end, field number 0 or a group wire type.
pub(super) fn decode(mut bytes: &[u8]) -> Result<Payload<'_>, &'static str> {
    let mut payload = Payload::default();
    while !bytes.is_empty() {
        let key = take_varint(&mut bytes)?;
        let field = key >> 3;
        if field == 0 {
            return Err("a payload field numbered 0");
        }
        match key & 7 {
            VARINT => {
                take_varint(&mut bytes)?;
            }
            FIXED64 => {
                take(&mut bytes, 8)?;
            }
            FIXED32 => {
                take(&mut bytes, 4)?;
            }
            LENGTH_DELIMITED => {
                let len = usize::try_from(take_varint(&mut bytes)?)
                    .map_err(|_| "a payload field longer than memory")?;
                let value = take(&mut bytes, len)?;
                match field {
                    IDENTITY_KEY => payload.identity_key = value,
                    IDENTITY_SIG => payload.identity_sig = value,
                    CIPHERS => payload.ciphers = value,
                    _ => {}
                }
            }
            _ => return Err("a payload field of an unsupported wire type"),
        }
    }
    Ok(payload)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint of at most 10 bytes from the front of `bytes`.
fn take_varint(bytes: &mut &[u8]) -> Result<u64, &'static str> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        // The tenth byte may hold only the top bit of a u64.
        if i == 9 && bits > 1 {
            return Err("a payload varint over 64 bits");
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = bytes.get(i + 1..).unwrap_or_default();
            return Ok(value);
        }
    }
    Err(if bytes.len() >= 10 {
        "a payload varint over 64 bits"
    } else {
        "a payload cut short in a varint"
    })
}

/// Takes `len` bytes from the front of `bytes`.
fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Result<&'a [u8], &'static str> {
    if bytes.len() < len {
        return Err("a payload field running past its end");
    }
    let (value, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encoded_decodes() {
        let bytes = encode(&[1, 2, 3], &[9; 200], b"AESGCM");
        let payload = decode(&bytes).expect("decodes");
        assert_eq!(payload.identity_key, &[1, 2, 3]);
        assert_eq!(payload.identity_sig, &[9; 200][..]);
        assert_eq!(payload.ciphers, b"AESGCM");
        // No cipher field at all when there is nothing to offer, so what a
        // libp2p peer receives is exactly what libp2p-noise would send.
        assert_eq!(encode(&[1], &[2], &[]), vec![0x0a, 1, 1, 0x12, 1, 2]);
    }

    #[test]
    fn the_empty_payload_has_empty_fields() {
        assert_eq!(decode(&[]), Ok(Payload::default()));
    }

    #[test]
    fn unknown_fields_are_skipped_and_the_last_of_a_field_counts() {
        // extensions (4, bytes), a varint field 5, fixed64 field 6, fixed32
        // field 7, then identity_key twice.
        let mut bytes = vec![0x22, 2, 0xaa, 0xbb, 0x28, 0x96, 0x01];
        bytes.extend([0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3d, 1, 2, 3, 4]);
        bytes.extend([0x0a, 1, 7, 0x0a, 2, 8, 9]);
        let payload = decode(&bytes).expect("decodes");
        assert_eq!(payload.identity_key, &[8, 9]);
        assert!(payload.identity_sig.is_empty());
    }

    #[test]
    fn malformed_payloads_are_errors() {
        for (bytes, what) in [
            (&[0x0a, 5, 1, 2][..], "field past the end"),
            (&[0x0a][..], "no length"),
            (&[0x0a, 0x80][..], "cut varint"),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                ][..],
                "65 bits",
            ),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1,
                ][..],
                "11 bytes",
            ),
            (&[0x02, 0][..], "field 0"),
            (&[0x0b][..], "group start"),
            (&[0x31, 1, 2][..], "fixed64 cut"),
        ] {
            assert!(decode(bytes).is_err(), "{what}");
        }
    }

    #[test]
    fn long_fields_take_multi_byte_lengths() {
        let key = vec![5u8; 300];
        let bytes = encode(&key, &[], &[]);
        assert_eq!(&bytes[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(decode(&bytes).expect("decodes").identity_key, &key[..]);
    }
}
