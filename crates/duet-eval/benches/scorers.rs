//! Scorer speed: ShapeDetector on a 64×64 scene, GenEval's rules on top, and
//! MMMU's multiple-choice response parser.
//! `cargo bench -p duet-eval --bench scorers`.

use criterion::{Criterion, criterion_group, criterion_main};
use duet_data::records::GenEvalMetadata;
use duet_data::shapeworld::{ShapeWorldConfig, realise, render};
use duet_eval::detector::{Detector, ShapeDetector};
use duet_eval::geneval::{Thresholds, score_image};
use duet_eval::mmmu::parse::parse_multi_choice;
use rand::SeedableRng;

fn bench(c: &mut Criterion) {
    let cfg = ShapeWorldConfig::default();
    let meta: GenEvalMetadata = serde_json::from_str(
        r#"{"tag":"color_attr","include":[{"class":"diamond","count":1,"color":"blue"},{"class":"triangle","count":1,"color":"yellow"}],"prompt":"a photo of a blue diamond and a yellow triangle"}"#,
    )
    .expect("metadata");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let img = render(&realise(&meta, &cfg, &mut rng).expect("scene"), &cfg);
    let det = ShapeDetector::new(&cfg);
    let mut g = c.benchmark_group("scorers");
    g.bench_function("shape_detector_64px", |b| b.iter(|| det.detect(&img)));
    g.bench_function("geneval_score_image_64px", |b| {
        b.iter(|| score_image(&det, &img, &meta, &Thresholds::default(), String::new()))
    });
    let choices: Vec<String> = ["A", "B", "C", "D"].iter().map(|s| s.to_string()).collect();
    let index2ans: Vec<(String, String)> = choices
        .iter()
        .zip(["red", "green", "blue", "yellow"])
        .map(|(l, a)| (l.clone(), a.to_string()))
        .collect();
    g.bench_function("mmmu_parse_answer_tag", |b| {
        b.iter(|| parse_multi_choice("<answer>C</answer>", &choices, &index2ans))
    });
    g.bench_function("mmmu_parse_free_text", |b| {
        b.iter(|| {
            parse_multi_choice(
                "Looking at the image, the object is blue, so the answer is (C) blue.",
                &choices,
                &index2ans,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
