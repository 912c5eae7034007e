//! Share codes and tickets as QR codes, for the terminal and the app.
//!
//! A ticket is base32, which QR codes hold densely in their alphanumeric
//! mode when it is written in uppercase (tickets are read in any case), so
//! [`for_share`] uppercases it.

use qrcode::{Color, EcLevel, QrCode};

/// A QR code's modules, row by row, `true` for dark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    /// Modules per side, without the quiet zone.
    pub width: usize,
    /// `width * width` modules, row by row.
    pub dark: Vec<bool>,
}

/// Modules of quiet zone around a code, as the standard asks.
pub const QUIET_ZONE: usize = 4;

/// The text a share's QR code carries: the ticket in uppercase.
pub fn for_share(ticket: &str) -> String {
    ticket.to_ascii_uppercase()
}

/// Encodes `text` (medium error correction: a smudged screen still scans).
///
/// # Errors
/// The text is too long for any QR code (past about 2 KiB).
pub fn encode(text: &str) -> Result<Modules, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    Ok(Modules {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

impl Modules {
    /// Whether the module at (`x`, `y`) is dark; the quiet zone and
    /// anything outside are light. Coordinates include the quiet zone.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// Modules per side with the quiet zone.
    pub fn side(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// The code in a terminal: two rows of modules per line, light modules
    /// drawn in the text colour (as `qrencode -t UTF8` does), so it reads on
    /// the usual light-on-dark terminal, quiet zone included.
    pub fn to_terminal(&self) -> String {
        let side = self.side();
        let mut out = String::with_capacity((side + 1) * side.div_ceil(2) * 3);
        for y in (0..side).step_by(2) {
            for x in 0..side {
                let top = !self.is_dark(x, y);
                let bottom = y + 1 >= side || !self.is_dark(x, y + 1);
                out.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Reads a code back the way a camera would: as a greyscale picture.
    fn scan(modules: &Modules) -> String {
        const PX: usize = 4;
        let side = modules.side() * PX;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            if modules.is_dark(x / PX, y / PX) {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn a_ticket_scans_back_to_itself() {
        let ticket = format!("p2pt{}", "abcdefghijklmnopqrstuvwxyz234567".repeat(5));
        let text = for_share(&ticket);
        let modules = encode(&text).unwrap();
        assert_eq!(scan(&modules).to_ascii_lowercase(), ticket);
    }

    #[test]
    fn the_terminal_form_has_the_quiet_zone_and_two_rows_per_line() {
        let modules = encode("P2PT").unwrap();
        let text = modules.to_terminal();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), modules.side().div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == modules.side()));
        // The quiet zone is light, so drawn: the first line is all blocks.
        assert!(lines[0].chars().all(|c| c == '█'));
    }

    #[test]
    fn text_too_long_for_a_code_is_an_error() {
        assert!(encode(&"x".repeat(5000)).is_err());
    }
}
