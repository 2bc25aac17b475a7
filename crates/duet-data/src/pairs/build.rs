//! The pair builder end to end (PairUni Algorithm 1): embed every image of
//! U ∪ G, cluster, take each cluster's medoid as an aligned pair (the item
//! completed across modalities, so both halves share its image), retrieve
//! pairs greedily for the remaining generation items, complete the items that
//! made it into a pair, and assemble PairUG records. Nothing is written here:
//! the caller writes the records atomically, so an error leaves no file.

use std::collections::HashMap;
use std::path::Path;

use super::complete::{Annotator, McQa, Verifier, complete_captions, complete_questions};
use super::embed::{ImageEmbedder, embed_all};
use super::hnsw::HnswIndex;
use super::items::{GenItem, UndItem};
use super::kmeans::{KMeansOptions, medoids, minibatch_kmeans};
use super::options::{BuildStats, IndexChoice, PairOptions, Stage};
use super::record::{Ann, Origin, PairRecord, PairType, relative_to};
use super::search::{ExactIndex, Match, NeighbourIndex, retrieve};
use crate::error::{DataError, Result};

/// The models the builder calls.
pub struct Tools<'a> {
    pub embedder: &'a mut dyn ImageEmbedder,
    pub annotator: &'a mut dyn Annotator,
    pub verifier: &'a dyn Verifier,
}

/// Builds the pairs. `out_dir` is where the pairs file will live: image paths
/// in the records are written relative to it.
pub fn build_pairs(
    und: &[UndItem],
    gens: &[GenItem],
    tools: Tools<'_>,
    opts: &PairOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<(Vec<PairRecord>, BuildStats)> {
    if !(opts.threshold.is_finite() && (-1.0..=1.0).contains(&opts.threshold)) || opts.top_n == 0 {
        let why = format!(
            "threshold {} must be a cosine and top-n ({}) at least 1",
            opts.threshold, opts.top_n
        );
        return Err(DataError::Config(why));
    }
    // Each distinct image is embedded once; items point at its row.
    let mut row_of: HashMap<&Path, usize> = HashMap::new();
    let mut images: Vec<&Path> = Vec::new();
    let paths = und
        .iter()
        .map(|u| u.image_path())
        .chain(gens.iter().map(|g| g.image_path()));
    let rows: Vec<usize> = paths
        .map(|p| {
            *row_of.entry(p).or_insert_with(|| {
                images.push(p);
                images.len() - 1
            })
        })
        .collect();
    let (und_rows, gen_rows) = rows.split_at(und.len());
    let x = embed_all(tools.embedder, &images, progress)?;

    // Aligned pairs: cluster medoids over U ∪ G.
    let points = &rows;
    let k = opts
        .clusters
        .unwrap_or(points.len().div_ceil(20))
        .min(points.len());
    progress(Stage::Cluster, 0, 1);
    let km = minibatch_kmeans(&x, points, KMeansOptions { k, ..opts.kmeans });
    let picks = medoids(&x, points, &km);
    progress(Stage::Cluster, 1, 1);
    let mut und_used = vec![false; und.len()];
    let mut gen_used = vec![false; gens.len()];
    let mut aligned: Vec<(Origin, usize)> = Vec::new();
    for p in picks {
        if p < und.len() {
            und_used[p] = true;
            aligned.push((Origin::Understanding, p));
        } else {
            gen_used[p - und.len()] = true;
            aligned.push((Origin::Generation, p - und.len()));
        }
    }

    // Retrieved pairs over the remaining pools.
    let und_rem: Vec<usize> = (0..und.len()).filter(|&i| !und_used[i]).collect();
    let gen_rem: Vec<usize> = (0..gens.len()).filter(|&i| !gen_used[i]).collect();
    let und_rem_rows: Vec<usize> = und_rem.iter().map(|&i| und_rows[i]).collect();
    let gen_rem_rows: Vec<usize> = gen_rem.iter().map(|&i| gen_rows[i]).collect();
    let use_hnsw = match opts.index {
        IndexChoice::Exact => false,
        IndexChoice::Hnsw => true,
        IndexChoice::Auto => und_rem.len() >= opts.hnsw_min,
    };
    // The index build counts as retrieval time.
    progress(Stage::Retrieve, 0, gen_rem.len());
    let exact = ExactIndex {
        x: &x,
        rows: &und_rem_rows,
    };
    let approx = use_hnsw.then(|| HnswIndex::build(&x, &und_rem_rows, opts.hnsw));
    let index: &dyn NeighbourIndex = match &approx {
        Some(h) => h,
        None => &exact,
    };
    let total = gen_rem.len();
    let matches: Vec<Match> = retrieve(
        &x,
        &gen_rem_rows,
        &und_rem_rows,
        index,
        opts.threshold,
        opts.top_n,
        &mut |d| progress(Stage::Retrieve, d, total),
    );
    let matches: Vec<(usize, usize, f32)> = matches
        .iter()
        .map(|m| (gen_rem[m.gen_pos], und_rem[m.und_pos], m.similarity))
        .collect();

    // Complete only the items that are in a pair.
    let mut need_und: Vec<usize> = aligned
        .iter()
        .filter(|a| a.0 == Origin::Understanding)
        .map(|a| a.1)
        .collect();
    need_und.extend(matches.iter().map(|m| m.1));
    let mut need_gen: Vec<usize> = aligned
        .iter()
        .filter(|a| a.0 == Origin::Generation)
        .map(|a| a.1)
        .collect();
    need_gen.extend(matches.iter().map(|m| m.0));
    need_gen.sort_unstable();
    need_gen.dedup();
    let und_refs: Vec<&UndItem> = need_und.iter().map(|&i| &und[i]).collect();
    let gen_refs: Vec<&GenItem> = need_gen.iter().map(|&i| &gens[i]).collect();
    let (nu, ng) = (und_refs.len(), gen_refs.len());
    let captions = complete_captions(
        tools.annotator,
        tools.verifier,
        &und_refs,
        opts.completion,
        &mut |d| progress(Stage::Caption, d, nu),
    )?;
    let qas = complete_questions(
        tools.annotator,
        tools.verifier,
        &gen_refs,
        opts.completion,
        &mut |d| progress(Stage::Question, d, ng),
    )?;
    let caption: HashMap<usize, &String> = need_und.iter().copied().zip(&captions).collect();
    let qa: HashMap<usize, &McQa> = need_gen.iter().copied().zip(&qas).collect();

    let rel = |p: &Path| relative_to(p, out_dir).display().to_string();
    let und_ann = |i: usize| {
        let u = &und[i];
        Ann {
            id: u.id.clone(),
            image_path: rel(u.image_path()),
            prompt: caption[&i].clone(),
            question: u.question.clone(),
            options: u.options.clone(),
            answer: u.answer.clone(),
            tag: u.tag.clone(),
        }
    };
    let gen_ann = |i: usize| {
        let (g, q) = (&gens[i], qa[&i]);
        Ann {
            id: g.id.clone(),
            image_path: rel(g.image_path()),
            prompt: g.prompt.clone(),
            question: q.question.clone(),
            options: q.options.clone(),
            answer: q.answer.clone(),
            tag: g.tag.clone(),
        }
    };
    let mut records = Vec::with_capacity(aligned.len() + matches.len());
    for &(origin, i) in &aligned {
        let ann = match origin {
            Origin::Understanding => und_ann(i),
            Origin::Generation => gen_ann(i),
        };
        records.push(PairRecord {
            similarity: 1.0,
            pair_type: PairType::Aligned,
            origin: Some(origin),
            generate_ann: ann.clone(),
            understand_ann: ann,
        });
    }
    for &(g, u, s) in &matches {
        records.push(PairRecord {
            similarity: s,
            pair_type: PairType::Retrieved,
            origin: None,
            generate_ann: gen_ann(g),
            understand_ann: und_ann(u),
        });
    }
    let paired_gens = need_gen.len() - aligned.iter().filter(|a| a.0 == Origin::Generation).count();
    let stats = BuildStats {
        images: x.rows(),
        clusters: km.centroids.rows(),
        aligned_from_und: aligned
            .iter()
            .filter(|a| a.0 == Origin::Understanding)
            .count(),
        aligned_from_gen: aligned.iter().filter(|a| a.0 == Origin::Generation).count(),
        retrieved: matches.len(),
        gen_unpaired: gen_rem.len() - paired_gens,
        und_unused: und_rem.len() - matches.len(),
        index: if use_hnsw { "hnsw" } else { "exact" },
    };
    Ok((records, stats))
}
