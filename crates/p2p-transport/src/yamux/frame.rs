//! yamux's frame headers, as the layers under yamux follow them.
//!
//! A header is 12 bytes: version 0, type, flags, stream ID, length; a data
//! frame's body (`length` bytes) follows its header. A header that is not
//! yamux's stops the following for good; yamux itself then fails the
//! connection.

pub(super) const HEADER: usize = 12;
pub(super) const VERSION: u8 = 0;
pub(super) const TYPE_DATA: u8 = 0;
pub(super) const TYPE_PING: u8 = 2;
pub(super) const TYPE_GO_AWAY: u8 = 3;
pub(super) const FLAG_SYN: u16 = 1;
pub(super) const FLAG_ACK: u16 = 2;
pub(super) const FLAG_RST: u16 = 8;

/// What a frame header says, as far as following the stream needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Header {
    Data { stream: u32, flags: u16, len: u32 },
    Ping { flags: u16, opaque: u32 },
    Other,
    NotYamux,
}

pub(super) fn parse(header: &[u8; HEADER]) -> Header {
    let [version, kind, f0, f1, s0, s1, s2, s3, l0, l1, l2, l3] = *header;
    let flags = u16::from_be_bytes([f0, f1]);
    let stream = u32::from_be_bytes([s0, s1, s2, s3]);
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    match (version, kind) {
        (VERSION, TYPE_DATA) => Header::Data { stream, flags, len },
        (VERSION, TYPE_PING) => Header::Ping { flags, opaque: len },
        (VERSION, 1..=TYPE_GO_AWAY) => Header::Other,
        _ => Header::NotYamux,
    }
}

/// Copies what is left of `header` after `given` into `buf`, as much as
/// fits; returns how much and counts it in `given`.
pub(super) fn give(header: &[u8; HEADER], given: &mut usize, buf: &mut [u8]) -> usize {
    let from = header.get(*given..).unwrap_or_default();
    let n = from.len().min(buf.len());
    if let (Some(to), Some(from)) = (buf.get_mut(..n), from.get(..n)) {
        to.copy_from_slice(from);
    }
    *given += n;
    n
}

/// Follows the frames of one direction, byte by byte as they pass.
#[derive(Debug, Default)]
pub(super) struct Follower {
    /// Body bytes of the current data frame still to come.
    body: u64,
    header: [u8; HEADER],
    have: usize,
    lost: bool,
}

impl Follower {
    /// Feeds bytes that passed; calls `on_header` for each whole header.
    pub(super) fn feed(&mut self, mut bytes: &[u8], mut on_header: impl FnMut(Header)) {
        while !bytes.is_empty() && !self.lost {
            if self.body > 0 {
                let skip = usize::try_from(self.body).map_or(bytes.len(), |b| b.min(bytes.len()));
                self.body -= skip as u64;
                bytes = bytes.get(skip..).unwrap_or_default();
                continue;
            }
            let take = (HEADER - self.have).min(bytes.len());
            if let (Some(to), Some(from)) = (
                self.header.get_mut(self.have..self.have + take),
                bytes.get(..take),
            ) {
                to.copy_from_slice(from);
            }
            self.have += take;
            bytes = bytes.get(take..).unwrap_or_default();
            if self.have == HEADER {
                self.have = 0;
                let header = parse(&self.header);
                match header {
                    Header::Data { len, .. } => self.body = u64::from(len),
                    Header::NotYamux => self.lost = true,
                    _ => {}
                }
                on_header(header);
            }
        }
    }

    /// Whether the bytes are not yamux's (nothing is followed any more).
    pub(super) fn lost(&self) -> bool {
        self.lost
    }

    /// Whether the next byte starts a frame.
    pub(super) fn between_frames(&self) -> bool {
        self.body == 0 && self.have == 0
    }

    /// How many bytes may pass before the next frame boundary (the end of
    /// the current header or body); `usize::MAX` once lost.
    pub(super) fn to_boundary(&self) -> usize {
        if self.lost {
            usize::MAX
        } else if self.body > 0 {
            usize::try_from(self.body).unwrap_or(usize::MAX)
        } else {
            HEADER - self.have
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, flags: u16, stream: u32, len: u32) -> Vec<u8> {
        let mut out = vec![VERSION, kind];
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out
    }

    #[test]
    fn a_follower_sees_each_header_however_the_bytes_are_split() {
        let mut bytes = header(TYPE_DATA, 0, 3, 5);
        bytes.extend_from_slice(b"hello");
        bytes.extend(header(TYPE_PING, FLAG_SYN, 0, 77));
        for split in 1..bytes.len() {
            let mut follower = Follower::default();
            let mut seen = Vec::new();
            for piece in bytes.chunks(split) {
                assert!(piece.len() <= follower.to_boundary() || split > 1);
                follower.feed(piece, |h| seen.push(h));
            }
            assert_eq!(
                seen,
                [
                    Header::Data {
                        stream: 3,
                        flags: 0,
                        len: 5
                    },
                    Header::Ping {
                        flags: FLAG_SYN,
                        opaque: 77
                    }
                ],
                "split every {split} bytes"
            );
            assert!(follower.between_frames());
        }
    }

    #[test]
    fn the_boundary_is_the_end_of_the_header_then_of_the_body() {
        let mut follower = Follower::default();
        assert_eq!(follower.to_boundary(), HEADER);
        follower.feed(&header(TYPE_DATA, 0, 1, 100)[..5], |_| {});
        assert_eq!(follower.to_boundary(), HEADER - 5);
        assert!(!follower.between_frames());
        follower.feed(&header(TYPE_DATA, 0, 1, 100)[5..], |_| {});
        assert_eq!(follower.to_boundary(), 100);
        follower.feed(&[0; 100], |_| {});
        assert!(follower.between_frames());
    }

    #[test]
    fn a_header_that_is_not_yamux_stops_the_following() {
        let mut follower = Follower::default();
        let mut seen = Vec::new();
        follower.feed(&[9; HEADER], |h| seen.push(h));
        assert_eq!(seen, [Header::NotYamux]);
        assert!(follower.lost());
        assert_eq!(follower.to_boundary(), usize::MAX);
        follower.feed(&header(TYPE_PING, FLAG_SYN, 0, 1), |h| seen.push(h));
        assert_eq!(seen.len(), 1, "nothing is followed after");
    }
}
