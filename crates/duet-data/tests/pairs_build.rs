//! The pair builder end to end on a small ShapeWorld set: one use per
//! understanding item, retrieved similarities at least δ, aligned pairs on one
//! image, reproducible output, paths that resolve from the output directory.

use std::collections::HashSet;
use std::path::Path;

use duet_data::pairs::kmeans::KMeansOptions;
use duet_data::pairs::record::resolve_image;
use duet_data::pairs::{
    FormCheck, GenItem, IndexChoice, Origin, PairOptions, PairRecord, PairType, PixelEmbedder,
    SceneIndex, ShapeWorldOracle, Tools, UndItem, build_pairs, read_gen_items, read_und_items,
};
use duet_data::shapeworld::{GenerateOptions, generate};

fn inputs(dir: &Path) -> (Vec<UndItem>, Vec<GenItem>, ShapeWorldOracle) {
    generate(dir, &GenerateOptions::new(150, 11), |_, _| {}).unwrap();
    let (u, g) = (
        dir.join("train/understanding.jsonl"),
        dir.join("train/generation.jsonl"),
    );
    let oracle = ShapeWorldOracle::new(SceneIndex::load(&SceneIndex::beside(&[&u, &g])).unwrap());
    // Understanding from the first 40 scenes, generation from the rest, so
    // that retrieval has to find similar images rather than the same ones.
    let und: Vec<UndItem> = read_und_items(&u)
        .unwrap()
        .into_iter()
        .filter(|i| i.image_path().file_stem().unwrap().to_str().unwrap() < "000040")
        .collect();
    let gens: Vec<GenItem> = read_gen_items(&g).unwrap().into_iter().skip(40).collect();
    (und, gens, oracle)
}

/// Tests run unoptimised: fewer, smaller k-means steps.
fn small_kmeans() -> KMeansOptions {
    KMeansOptions {
        batch: 128,
        steps: 20,
        ..KMeansOptions::new(0)
    }
}

fn run(
    und: &[UndItem],
    gens: &[GenItem],
    oracle: &ShapeWorldOracle,
    opts: &PairOptions,
    out: &Path,
) -> Vec<PairRecord> {
    let mut ann = oracle.clone();
    let tools = Tools {
        embedder: &mut PixelEmbedder::default(),
        annotator: &mut ann,
        verifier: oracle,
    };
    let (recs, stats) = build_pairs(und, gens, tools, opts, out, &mut |_, _, _| {}).unwrap();
    assert_eq!(
        recs.len(),
        stats.aligned_from_und + stats.aligned_from_gen + stats.retrieved
    );
    recs
}

#[test]
fn pairs_follow_the_rules_and_are_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let (und, gens, oracle) = inputs(&t.path().join("sw"));
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let opts = PairOptions {
        clusters: Some(12),
        index: IndexChoice::Exact,
        kmeans: small_kmeans(),
        ..Default::default()
    };
    let recs = run(&und, &gens, &oracle, &opts, &out);
    let aligned: Vec<_> = recs
        .iter()
        .filter(|r| r.pair_type == PairType::Aligned)
        .collect();
    let retrieved: Vec<_> = recs
        .iter()
        .filter(|r| r.pair_type == PairType::Retrieved)
        .collect();
    assert!((1..=12).contains(&aligned.len()), "{}", aligned.len());
    assert!(retrieved.len() > 20, "only {} retrieved", retrieved.len());

    let mut used = HashSet::new();
    for r in &recs {
        let u = &r.understand_ann;
        if r.pair_type == PairType::Retrieved || r.origin == Some(Origin::Understanding) {
            assert!(
                used.insert(u.id.clone()),
                "understanding item {} used twice",
                u.id
            );
        }
        assert!(
            resolve_image(&out.join("pairs.jsonl"), &u.image_path).is_file(),
            "{}",
            u.image_path
        );
        assert!(!u.prompt.is_empty() && !r.generate_ann.question.is_empty());
    }
    for r in &retrieved {
        assert!(
            r.similarity >= opts.threshold,
            "similarity {} < δ",
            r.similarity
        );
        assert_ne!(r.generate_ann.image_path, r.understand_ann.image_path);
    }
    for r in &aligned {
        assert_eq!(r.generate_ann, r.understand_ann);
        assert_eq!(r.similarity, 1.0);
    }
    // Generation items are used at most once with top-n 1.
    let gen_ids: HashSet<_> = recs.iter().map(|r| &r.generate_ann.id).collect();
    assert_eq!(gen_ids.len(), recs.len());

    assert_eq!(
        run(&und, &gens, &oracle, &opts, &out),
        recs,
        "same inputs, same pairs"
    );

    // A higher threshold admits fewer pairs, each still above it.
    let strict = PairOptions {
        threshold: 0.9,
        ..opts.clone()
    };
    let fewer = run(&und, &gens, &oracle, &strict, &out);
    let n_strict = fewer
        .iter()
        .filter(|r| r.pair_type == PairType::Retrieved)
        .count();
    assert!(n_strict < retrieved.len());
    assert!(fewer.iter().all(|r| r.similarity >= 0.9));
}

#[test]
fn form_check_alone_accepts_any_well_formed_completion() {
    let t = tempfile::tempdir().unwrap();
    let (und, gens, oracle) = inputs(&t.path().join("sw"));
    let mut ann = oracle.clone();
    let opts = PairOptions {
        clusters: Some(5),
        top_n: 2,
        kmeans: small_kmeans(),
        ..Default::default()
    };
    let tools = Tools {
        embedder: &mut PixelEmbedder::default(),
        annotator: &mut ann,
        verifier: &FormCheck,
    };
    let (recs, stats) =
        build_pairs(&und, &gens, tools, &opts, t.path(), &mut |_, _, _| {}).unwrap();
    assert_eq!(stats.index, "exact");
    // top-n 2: a generation item may pair with two understanding items, never more.
    let mut per_gen = std::collections::HashMap::new();
    for r in recs.iter().filter(|r| r.pair_type == PairType::Retrieved) {
        *per_gen.entry(&r.generate_ann.id).or_insert(0) += 1;
    }
    assert!(per_gen.values().all(|&n| n <= 2));
    assert!(per_gen.values().any(|&n| n == 2));
}
