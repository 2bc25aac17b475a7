//! Measurements of the pair builder (issue 5's acceptance): input subsets
//! with disjoint images, a report on a pairs file (rules and shared scene
//! attributes against random pairs), and HNSW recall against exact search.

pub mod inputs;
pub mod recall;
pub mod report;
