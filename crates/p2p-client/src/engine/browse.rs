//! The requester's side of browsing: a page of a peer's published folder
//! ([`Engine::list`]), and files fetched from it ([`Engine::get`]): the
//! owner offers them back under the fetch's ID, our inbox takes that offer
//! without asking (we asked), and the transfer is any other: verified,
//! placed without overwriting, resumed by fetching again.

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use protocol::browse::{FetchRequest, ListRequest, Listing};
use protocol::transfer::{Request, Response, sanitize_reason};
use rand::RngCore as _;
use tokio::sync::oneshot;

use super::{Engine, EngineError, lock};
use crate::event::{Event, Summary};

/// How long the owner may take to offer what was fetched (it hashes the
/// files first, unless it did before).
const OFFER_WAIT: Duration = Duration::from_secs(10 * 60);

/// Fetches waiting for their transfer's end, at most.
const MAX_FETCHES: usize = 64;

/// Whose published folder: the owner, where it may be, and the ticket's
/// secret when it shares with ticket holders.
#[derive(Debug, Clone)]
pub struct Target {
    /// The owner.
    pub peer: PeerId,
    /// Its addresses, if known (a ticket's); else found on the LAN or
    /// through the server.
    pub addrs: Vec<Multiaddr>,
    /// The ticket's secret.
    pub secret: Option<Vec<u8>>,
}

/// How each fetch ends, by its transfer ID.
pub(super) type Fetches =
    std::collections::HashMap<String, oneshot::Sender<Result<Summary, String>>>;

impl Engine {
    /// One page of the folder `path` (`""`: the published folder) of
    /// `target`'s published folder: at most `limit` entries after `after`.
    ///
    /// # Errors
    /// The owner cannot be reached, refuses (not allowed, no such folder,
    /// too many requests), or answers out of the rules.
    pub async fn list(
        &self,
        target: &Target,
        path: &str,
        after: Option<String>,
        limit: u32,
    ) -> Result<Listing, EngineError> {
        let request = ListRequest {
            path: path.to_owned(),
            after,
            limit: limit.clamp(1, protocol::browse::MAX_PAGE),
            secret: target.secret.clone(),
        };
        let peer = target.peer;
        self.reach(target).await?;
        match self
            .inner
            .net
            .request(peer, Request::List(request.clone()))
            .await?
        {
            Response::Listing(listing) => {
                listing
                    .validate_for(&request)
                    .map_err(|e| EngineError::Protocol {
                        peer,
                        reason: e.to_string(),
                    })?;
                Ok(listing)
            }
            other => Err(refusal(peer, other)),
        }
    }

    /// Fetches `paths` of `target`'s published folder into the download
    /// folder; returns when the files are verified and placed.
    ///
    /// # Errors
    /// As [`Engine::list`]; the owner could not offer them (a file
    /// vanished), or the transfer failed.
    pub async fn get(&self, target: &Target, paths: Vec<String>) -> Result<Summary, EngineError> {
        let peer = target.peer;
        let mut id = [0u8; 16];
        rand::rngs::OsRng
            .try_fill_bytes(&mut id)
            .map_err(|_| EngineError::Stopped)?;
        let fetch_id = data_encoding::HEXLOWER.encode(&id);
        let (done, ended) = oneshot::channel();
        {
            let mut fetches = lock(&self.inner.fetches);
            fetches.retain(|_, waiter| !waiter.is_closed());
            if fetches.len() >= MAX_FETCHES {
                return Err(EngineError::Transfer {
                    peer,
                    reason: "too many fetches at once; wait for some to end".into(),
                });
            }
            fetches.insert(fetch_id.clone(), done);
        }
        self.inbox().expect_fetch(&fetch_id, peer, Instant::now());
        let asked = async {
            self.reach(target).await?;
            let request = FetchRequest {
                fetch_id: fetch_id.clone(),
                paths,
                secret: target.secret.clone(),
            };
            match self
                .inner
                .net
                .request(peer, Request::Fetch(request))
                .await?
            {
                Response::Fetching => Ok(()),
                other => Err(refusal(peer, other)),
            }
        };
        if let Err(e) = asked.await {
            lock(&self.inner.fetches).remove(&fetch_id);
            self.inbox().forget_fetch(&fetch_id);
            return Err(e);
        }
        // The offer comes once the owner has hashed the files; then the
        // transfer runs under its own stall timeout.
        let mut ended = ended;
        loop {
            match tokio::time::timeout(OFFER_WAIT, &mut ended).await {
                Ok(Ok(result)) => {
                    return result.map_err(|reason| EngineError::Transfer { peer, reason });
                }
                Ok(Err(_)) => return Err(EngineError::Stopped),
                Err(_) if self.inbox().fetch_owner(&fetch_id).is_some() => {
                    lock(&self.inner.fetches).remove(&fetch_id);
                    self.inbox().forget_fetch(&fetch_id);
                    return Err(EngineError::Transfer {
                        peer,
                        reason: "the owner did not offer the files in time".into(),
                    });
                }
                Err(_) => {}
            }
        }
    }

    /// Connects to the owner.
    async fn reach(&self, target: &Target) -> Result<(), EngineError> {
        let addrs = self.find_peer(target.peer, target.addrs.clone()).await?;
        self.inner.net.dial(target.peer, addrs).await?;
        Ok(())
    }

    /// Ends the fetch `transfer_id` with `result`, if one waits.
    pub(super) fn end_fetch(&self, transfer_id: &str, result: Result<Summary, String>) {
        if let Some(waiter) = lock(&self.inner.fetches).remove(transfer_id) {
            let _ = waiter.send(result);
        }
    }
}

/// The transfer `event` ends, and how, if it ends one (a fetch waiting
/// for it ends with it).
pub(super) fn fetch_end(event: &Event) -> Option<(String, Result<Summary, String>)> {
    match event {
        Event::TransferDone {
            transfer_id,
            summary,
        } => Some((transfer_id.clone(), Ok(summary.clone()))),
        Event::TransferFailed {
            transfer_id, error, ..
        } => Some((transfer_id.clone(), Err(error.clone()))),
        Event::Declined {
            transfer_id,
            reason,
        } => Some((transfer_id.clone(), Err(reason.clone()))),
        _ => None,
    }
}

/// An owner's answer that is not what was asked for.
fn refusal(peer: PeerId, response: Response) -> EngineError {
    match response {
        Response::Refused { message, .. } => EngineError::Refused {
            peer,
            message: sanitize_reason(&message),
        },
        other => EngineError::Protocol {
            peer,
            reason: format!("unexpected answer {other:?}"),
        },
    }
}
