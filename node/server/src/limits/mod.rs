//! Counting what clients do, cluster-wide: the seam rate limits and login protection share.
//! See [`counters`].

pub mod counters;
