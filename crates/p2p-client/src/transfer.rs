//! Files on disk: the sender's scan and the receiver's store.

pub mod scan;
pub mod store;
