//! The owner's side of browsing: a published folder (`p2p-client share
//! DIR`), its listing pages and its fetches, for the peers it admits.
//!
//! A peer is admitted by the ticket's secret in each request (`--allow
//! ticket`), by being trusted (`--allow trusted`: the configuration's
//! trusted peers), or by being in our signal-server room now (`--allow
//! room`; trusted peers too). Each peer's requests are rate-limited, and only a few
//! listings run at once. A fetch is answered at once; its files are then
//! hashed (a hash is kept while the file is unchanged) and offered back
//! under the fetch's ID, as an ordinary transfer the requester accepts
//! without asking. A refused request gets a reason, and the log names the
//! peer.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use protocol::browse::{FetchRequest, ListRequest, parse_path};
use protocol::transfer::{Refusal, Request, Response};
use tokio::sync::{Semaphore, oneshot};
use tracing::{info, warn};

use super::share::constant_time_eq;
use super::{Engine, lock};
use crate::files::published::{PublishError, Published};
use crate::files::scan::HashCache;

/// Who may browse a published folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// Holders of the ticket printed when publishing.
    Ticket,
    /// Trusted peers only (the configuration's `trusted_peers`).
    Trusted,
    /// Peers in our signal-server room (and trusted peers).
    Room,
}

/// Requests per second one peer may make, sustained.
const RATE: f64 = 20.0;

/// Requests one peer may make at once, after a quiet while.
const BURST: f64 = 40.0;

/// Peers whose request rate is tracked; past it, tracking starts again.
const MAX_TRACKED: usize = 4096;

/// Listings read from disk at once.
const MAX_LISTINGS: usize = 4;

/// A published folder and who may see it.
pub(super) struct Publication {
    published: Published,
    allow: Allow,
    secret: Vec<u8>,
    trusted: HashSet<PeerId>,
    hashes: Arc<HashCache>,
    rates: std::sync::Mutex<HashMap<PeerId, (f64, Instant)>>,
    listings: Arc<Semaphore>,
}

impl Publication {
    pub(super) fn new(
        published: Published,
        allow: Allow,
        secret: Vec<u8>,
        trusted: HashSet<PeerId>,
    ) -> Self {
        Self {
            published,
            allow,
            secret,
            trusted,
            hashes: Arc::new(HashCache::default()),
            rates: std::sync::Mutex::new(HashMap::new()),
            listings: Arc::new(Semaphore::new(MAX_LISTINGS)),
        }
    }

    /// Why `peer` (in our server room now, or not) may not make this
    /// request, if it may not.
    fn refuse(
        &self,
        peer: PeerId,
        secret: Option<&[u8]>,
        in_room: bool,
        now: Instant,
    ) -> Option<Response> {
        // The rate first: refusals cost too (and are logged).
        let mut rates = self
            .rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rates.len() >= MAX_TRACKED && !rates.contains_key(&peer) {
            rates.clear();
        }
        let (tokens, last) = rates.entry(peer).or_insert((BURST, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * RATE).min(BURST);
        *last = now;
        if *tokens < 1.0 {
            return Some(Response::Refused {
                reason: Refusal::RateLimited,
                message: "too many requests; wait a moment".into(),
            });
        }
        *tokens -= 1.0;
        drop(rates);
        let admitted = match self.allow {
            Allow::Ticket => secret.is_some_and(|s| constant_time_eq(s, &self.secret)),
            Allow::Trusted => self.trusted.contains(&peer),
            Allow::Room => in_room || self.trusted.contains(&peer),
        };
        if !admitted {
            return Some(Response::Refused {
                reason: Refusal::NotAllowed,
                message: match self.allow {
                    Allow::Ticket => "this folder is shared with holders of its ticket only".into(),
                    Allow::Trusted => "this folder is shared with trusted peers only".into(),
                    Allow::Room => {
                        "this folder is shared with peers in the owner's server room only".into()
                    }
                },
            });
        }
        None
    }
}

impl From<PublishError> for Response {
    fn from(e: PublishError) -> Self {
        let reason = match e {
            PublishError::NotFound(_) | PublishError::NotAFolder(_) => Refusal::NotFound,
            _ => Refusal::NotExpected,
        };
        Response::Refused {
            reason,
            message: protocol::transfer::sanitize_reason(&e.to_string()),
        }
    }
}

fn nothing_published() -> Response {
    Response::Refused {
        reason: Refusal::NotAllowed,
        message: "this peer shares no folder".into(),
    }
}

fn refused(peer: PeerId, what: &str, response: Response, reply: oneshot::Sender<Response>) {
    match &response {
        Response::Refused {
            reason: Refusal::RateLimited,
            message,
        } => info!(%peer, request = what, reason = %message, "browse request refused"),
        Response::Refused { message, .. } => {
            warn!(%peer, request = what, reason = %message, "browse request refused");
        }
        _ => {}
    }
    let _ = reply.send(response);
}

/// A page of the published folder.
pub(super) fn on_list(
    engine: &Engine,
    peer: PeerId,
    request: ListRequest,
    reply: oneshot::Sender<Response>,
) {
    let Some(publication) = engine.publication() else {
        return refused(peer, "list", nothing_published(), reply);
    };
    if let Some(no) = publication.refuse(
        peer,
        request.secret.as_deref(),
        engine.in_room(&peer),
        Instant::now(),
    ) {
        return refused(peer, "list", no, reply);
    }
    let path = match request.validate().and_then(|()| parse_path(&request.path)) {
        Ok(path) => path,
        Err(e) => {
            let no = Response::Refused {
                reason: Refusal::NotExpected,
                message: e.to_string(),
            };
            return refused(peer, "list", no, reply);
        }
    };
    let Ok(permit) = Arc::clone(&publication.listings).try_acquire_owned() else {
        let busy = Response::Refused {
            reason: Refusal::Busy,
            message: "busy listing for others; try again in a moment".into(),
        };
        return refused(peer, "list", busy, reply);
    };
    engine.spawn(async move {
        let listed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            publication.published.list(
                path.as_ref(),
                request.after.as_deref(),
                request.limit as usize,
            )
        })
        .await;
        let response = match listed {
            Ok(Ok(listing)) => Response::Listing(listing),
            Ok(Err(e)) => e.into(),
            Err(_) => nothing_published(),
        };
        refused(peer, "list", response, reply);
    });
}

/// Files of the published folder: admitted at once, then offered back.
pub(super) fn on_fetch(
    engine: &Engine,
    peer: PeerId,
    request: FetchRequest,
    reply: oneshot::Sender<Response>,
) {
    let Some(publication) = engine.publication() else {
        return refused(peer, "fetch", nothing_published(), reply);
    };
    if let Some(no) = publication.refuse(
        peer,
        request.secret.as_deref(),
        engine.in_room(&peer),
        Instant::now(),
    ) {
        return refused(peer, "fetch", no, reply);
    }
    if let Err(e) = request.validate() {
        let no = Response::Refused {
            reason: Refusal::NotExpected,
            message: e.to_string(),
        };
        return refused(peer, "fetch", no, reply);
    }
    let driver = engine.clone();
    engine.spawn(async move {
        let check = Arc::clone(&publication);
        let paths = request.paths.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            paths
                .iter()
                .map(|p| {
                    let rel = parse_path(p).ok().flatten();
                    let rel = rel.ok_or_else(|| PublishError::NotFound(p.clone()))?;
                    check.published.resolve(Some(&rel)).map(|(local, _)| local)
                })
                .collect::<Result<Vec<PathBuf>, PublishError>>()
        })
        .await;
        let locals = match resolved {
            Ok(Ok(locals)) => locals,
            Ok(Err(e)) => return refused(peer, "fetch", e.into(), reply),
            Err(_) => return refused(peer, "fetch", nothing_published(), reply),
        };
        let _ = reply.send(Response::Fetching);
        info!(%peer, files = locals.len(), fetch = %request.fetch_id, "fetch admitted");
        offer_fetched(&driver, peer, &publication, request.fetch_id, locals).await;
    });
}

/// Hashes what was fetched (from the cache where unchanged) and offers it
/// to `peer` under `fetch_id`; tells it why if that cannot be done.
async fn offer_fetched(
    engine: &Engine,
    peer: PeerId,
    publication: &Arc<Publication>,
    fetch_id: String,
    locals: Vec<PathBuf>,
) {
    let hashes = Arc::clone(&publication.hashes);
    let scanned = tokio::task::spawn_blocking(move || {
        crate::files::scan::scan_cached(&locals, &|_| {}, Some(&hashes))
    })
    .await;
    let reason = match scanned {
        Ok(Ok(mut scanned)) => {
            scanned.offer.transfer_id = fetch_id.clone();
            match super::send::offer_and_send(engine, peer, scanned).await {
                Ok(_) => return,
                Err(e) => {
                    warn!(%peer, fetch = %fetch_id, error = %e, "fetch not delivered");
                    return;
                }
            }
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the owner stopped".to_owned(),
    };
    warn!(%peer, fetch = %fetch_id, %reason, "fetch cannot be offered");
    let cancel = Request::Cancel {
        transfer_id: fetch_id,
        reason,
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        engine.inner.net.request(peer, cancel),
    )
    .await;
}

impl Engine {
    /// The folder published now, if any.
    fn publication(&self) -> Option<Arc<Publication>> {
        lock(&self.inner.publication).clone()
    }

    /// Whether `peer` is in our signal-server room now.
    fn in_room(&self, peer: &PeerId) -> bool {
        self.inner.signal.as_ref().is_some_and(|s| s.in_room(peer))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn publication(allow: Allow, trusted: &[PeerId]) -> (tempfile::TempDir, Publication) {
        let dir = tempfile::tempdir().unwrap();
        let published = Published::new(dir.path()).unwrap();
        let publication = Publication::new(
            published,
            allow,
            vec![5; 16],
            trusted.iter().copied().collect(),
        );
        (dir, publication)
    }

    fn reason(response: Option<Response>) -> Option<Refusal> {
        match response {
            None => None,
            Some(Response::Refused { reason, .. }) => Some(reason),
            Some(other) => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn only_the_ticket_or_trust_admits_a_peer() {
        let now = Instant::now();
        let (_dir, by_ticket) = publication(Allow::Ticket, &[]);
        let peer = PeerId::random();
        assert_eq!(
            reason(by_ticket.refuse(peer, Some(&[5; 16]), false, now)),
            None
        );
        assert_eq!(
            reason(by_ticket.refuse(peer, Some(&[6; 16]), false, now)),
            Some(Refusal::NotAllowed)
        );
        assert_eq!(
            reason(by_ticket.refuse(peer, None, true, now)),
            Some(Refusal::NotAllowed)
        );
        let friend = PeerId::random();
        let (_dir, by_trust) = publication(Allow::Trusted, &[friend]);
        assert_eq!(reason(by_trust.refuse(friend, None, false, now)), None);
        // Neither the ticket's secret nor the room admits anyone to a
        // trusted-only folder.
        assert_eq!(
            reason(by_trust.refuse(peer, Some(&[5; 16]), true, now)),
            Some(Refusal::NotAllowed)
        );
        let (_dir, by_room) = publication(Allow::Room, &[friend]);
        assert_eq!(reason(by_room.refuse(peer, None, true, now)), None);
        assert_eq!(reason(by_room.refuse(friend, None, false, now)), None);
        assert_eq!(
            reason(by_room.refuse(PeerId::random(), Some(&[5; 16]), false, now)),
            Some(Refusal::NotAllowed)
        );
    }

    #[test]
    fn each_peer_is_held_to_its_request_rate() {
        let now = Instant::now();
        let (_dir, publication) = publication(Allow::Ticket, &[]);
        let secret = Some(&[5u8; 16][..]);
        let greedy = PeerId::random();
        let admitted = (0..100)
            .filter(|_| publication.refuse(greedy, secret, false, now).is_none())
            .count();
        assert_eq!(admitted, BURST as usize);
        assert_eq!(
            reason(publication.refuse(greedy, secret, false, now)),
            Some(Refusal::RateLimited)
        );
        // Another peer is not held back by it.
        assert_eq!(
            reason(publication.refuse(PeerId::random(), secret, false, now)),
            None
        );
        // A second later the greedy one may make RATE more.
        let later = now + Duration::from_secs(1);
        let again = (0..100)
            .filter(|_| publication.refuse(greedy, secret, false, later).is_none())
            .count();
        assert_eq!(again, RATE as usize);
    }
}
