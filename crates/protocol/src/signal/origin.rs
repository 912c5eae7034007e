//! The server a proof is made for: [`Origin`], the scheme, host and port of
//! the WebSocket URL, in one canonical text form that the client signs.
//!
//! Naming the server in the signed payload keeps a proof made for one server
//! from registering the client's peer ID at another (a malicious server that
//! passes on another server's challenge).

use std::fmt;
use std::str::FromStr;

/// Longest canonical origin, in bytes: `wss://`, a 253-byte host name and
/// `:65535`, with room to spare.
pub const MAX_ORIGIN_BYTES: usize = 272;

/// Longest host, in bytes (a DNS name is at most 253).
const MAX_HOST_BYTES: usize = 255;

/// The scheme, host and port of a signal server's WebSocket URL.
///
/// The canonical form (its [`Display`](fmt::Display)) is
/// `ws://host:port` or `wss://host:port`: the host in lower case (an IPv6
/// address in brackets, as written), the port always written, the path
/// dropped. Two URLs of one server give the same origin whatever their path,
/// case or default port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    secure: bool,
    host: String,
    port: u16,
}

/// Why a text is not a WebSocket URL with a usable origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Not `ws://` or `wss://`.
    #[error("the URL must start with ws:// or wss://")]
    Scheme,
    /// The host is missing, too long, or has characters a host cannot have
    /// (user names before `@` are refused too).
    #[error("the URL has no valid host")]
    Host,
    /// The port is not a number from 1 to 65535.
    #[error("the URL's port must be a number from 1 to 65535")]
    Port,
}

impl Origin {
    /// The origin of a `ws://` or `wss://` URL (scheme in any case; path,
    /// query and fragment ignored).
    pub fn from_url(url: &str) -> Result<Self, OriginError> {
        let (scheme, rest) = url.split_once("://").ok_or(OriginError::Scheme)?;
        let secure = if scheme.eq_ignore_ascii_case("wss") {
            true
        } else if scheme.eq_ignore_ascii_case("ws") {
            false
        } else {
            return Err(OriginError::Scheme);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, port) = split_authority(&rest[..end], default_port(secure))?;
        Ok(Self { secure, host, port })
    }

    /// Whether an HTTP `Host` header (`host` or `host:port`) names this
    /// origin's host and port; without a port, the scheme's default port.
    /// The scheme is not compared: a server behind a TLS proxy cannot tell.
    pub fn matches_host(&self, host_header: &str) -> bool {
        split_authority(host_header.trim(), default_port(self.secure))
            .is_ok_and(|(host, port)| host == self.host && port == self.port)
    }

    /// Whether the URL uses TLS (`wss://`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl FromStr for Origin {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_url(s)
    }
}

fn default_port(secure: bool) -> u16 {
    if secure { 443 } else { 80 }
}

/// Splits `host[:port]` (an IPv6 host in brackets), lower-casing the host.
fn split_authority(authority: &str, default: u16) -> Result<(String, u16), OriginError> {
    if authority.contains('@') {
        return Err(OriginError::Host);
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or(OriginError::Host)?;
        let ipv6_chars = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        if inner.is_empty() || !inner.chars().all(ipv6_chars) {
            return Err(OriginError::Host);
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(OriginError::Port)?),
        };
        (&authority[..inner.len() + 2], port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let name_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if !host.chars().all(name_chars) {
            return Err(OriginError::Host);
        }
        (host, port)
    };
    if host.is_empty() || host.len() > MAX_HOST_BYTES {
        return Err(OriginError::Host);
    }
    let port = match port {
        None => default,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(OriginError::Port)?,
        Some(_) => return Err(OriginError::Port),
    };
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn origin(url: &str) -> String {
        Origin::from_url(url).unwrap().to_string()
    }

    #[test]
    fn urls_of_one_server_give_one_origin() {
        assert_eq!(origin("ws://127.0.0.1:8080/ws"), "ws://127.0.0.1:8080");
        assert_eq!(
            origin("WSS://Signal.Example.ORG/ws"),
            "wss://signal.example.org:443"
        );
        assert_eq!(
            origin("wss://signal.example.org:443"),
            "wss://signal.example.org:443"
        );
        assert_eq!(
            origin("ws://signal.example.org?x=1"),
            "ws://signal.example.org:80"
        );
        assert_eq!(origin("ws://[::1]:9000/ws"), "ws://[::1]:9000");
        assert_eq!(origin("ws://[2001:DB8::1]/"), "ws://[2001:db8::1]:80");
        // The canonical form parses to itself.
        for url in ["ws://[::1]:9000", "wss://a.example:443", "ws://10.0.0.1:1"] {
            assert_eq!(origin(url), url);
        }
    }

    #[test]
    fn servers_that_differ_in_host_port_or_scheme_differ() {
        assert_ne!(origin("ws://a.example:8080"), origin("ws://b.example:8080"));
        assert_ne!(origin("ws://a.example:8080"), origin("ws://a.example:8081"));
        assert_ne!(origin("ws://a.example:443"), origin("wss://a.example:443"));
    }

    #[test]
    fn bad_urls_are_refused() {
        for (url, err) in [
            ("http://a.example/ws", OriginError::Scheme),
            ("a.example:80", OriginError::Scheme),
            ("ws:///ws", OriginError::Host),
            ("ws://user@a.example/ws", OriginError::Host),
            ("ws://a b.example/", OriginError::Host),
            ("ws://a.example\n/", OriginError::Host),
            ("ws://[::1/ws", OriginError::Host),
            ("ws://[zz::1]/", OriginError::Host),
            ("ws://a.example:0/", OriginError::Port),
            ("ws://a.example:65536/", OriginError::Port),
            ("ws://a.example:/", OriginError::Port),
            ("ws://a.example:+80/", OriginError::Port),
            ("ws://[::1]x/", OriginError::Port),
        ] {
            assert_eq!(Origin::from_url(url), Err(err), "{url:?}");
        }
        let long = format!("ws://{}/", "a".repeat(MAX_HOST_BYTES + 1));
        assert_eq!(Origin::from_url(&long), Err(OriginError::Host));
        let longest = format!("wss://{}:65535", "a".repeat(MAX_HOST_BYTES));
        assert!(origin(&longest).len() <= MAX_ORIGIN_BYTES);
    }

    #[test]
    fn host_headers_match_host_and_port() {
        let o = Origin::from_url("ws://127.0.0.1:8080/ws").unwrap();
        assert!(o.matches_host("127.0.0.1:8080"));
        assert!(!o.matches_host("127.0.0.1"));
        assert!(!o.matches_host("127.0.0.1:8081"));
        assert!(!o.matches_host("evil.example:8080"));
        let o = Origin::from_url("wss://Signal.Example.org/ws").unwrap();
        assert!(o.matches_host("signal.example.ORG"));
        assert!(o.matches_host("signal.example.org:443"));
        assert!(!o.matches_host("signal.example.org:80"));
        assert!(!o.matches_host(""));
        let o = Origin::from_url("ws://[::1]:9/").unwrap();
        assert!(o.matches_host("[::1]:9"));
        assert!(!o.matches_host("::1:9"));
    }
}
