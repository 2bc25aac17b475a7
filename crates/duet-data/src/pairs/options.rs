//! The pair builder's knobs, its progress stages and its statistics.

use super::complete::CompletionOptions;
use super::hnsw::HnswOptions;
use super::kmeans::KMeansOptions;

/// Which nearest-neighbour search retrieval uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexChoice {
    Exact,
    Hnsw,
    /// HNSW from `hnsw_min` remaining understanding items on, else exact.
    Auto,
}

/// The builder's knobs (docs/pairs.md lists them with their sources).
#[derive(Debug, Clone)]
pub struct PairOptions {
    /// K; `None`: one cluster per 20 items (PairUni: 4,971 aligned of ~107k).
    pub clusters: Option<usize>,
    pub kmeans: KMeansOptions,
    /// δ: retrieved pairs need at least this cosine (PairUni: 0.6).
    pub threshold: f32,
    /// Understanding items per generation item (PairUni: not stated; 1).
    pub top_n: usize,
    pub index: IndexChoice,
    pub hnsw_min: usize,
    pub hnsw: HnswOptions,
    pub completion: CompletionOptions,
}

impl Default for PairOptions {
    fn default() -> Self {
        PairOptions {
            clusters: None,
            kmeans: KMeansOptions::new(0),
            threshold: 0.6,
            top_n: 1,
            index: IndexChoice::Auto,
            hnsw_min: 20_000,
            hnsw: HnswOptions::default(),
            completion: CompletionOptions::default(),
        }
    }
}

/// Pipeline stages, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Embed,
    Cluster,
    Retrieve,
    Caption,
    Question,
}

/// What the builder did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct BuildStats {
    pub images: usize,
    pub clusters: usize,
    pub aligned_from_und: usize,
    pub aligned_from_gen: usize,
    pub retrieved: usize,
    /// Generation items left without a partner ≥ δ.
    pub gen_unpaired: usize,
    pub und_unused: usize,
    pub index: &'static str,
}
