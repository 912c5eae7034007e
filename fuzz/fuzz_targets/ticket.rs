//! A pasted ticket: decoded without panic, within its limits, and
//! re-encoded to the same ticket.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::signal::MAX_ADDRS;
use protocol::ticket::Ticket;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Ticket::looks_like_ticket(text);
    if let Ok(ticket) = Ticket::decode(text) {
        assert!(ticket.addrs.len() <= MAX_ADDRS);
        assert_eq!(Ticket::decode(&ticket.encode()).ok(), Some(ticket));
    }
});
