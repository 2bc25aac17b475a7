//! ShapeDetector recovers fresh ShapeWorld scenes exactly, clean and after
//! blur + noise + JPEG. (`cargo xtask detector` measures the same on 2,000.)

use duet_data::perturb::standard_corruption;
use duet_data::records::Task;
use duet_data::shapeworld::prompts::prompt_space;
use duet_data::shapeworld::{ShapeWorldConfig, realise, render};
use duet_eval::detector::{Detector, SceneMatch, ShapeDetector, match_scene};
use rand::SeedableRng;
use rand::seq::IndexedRandom;

#[test]
fn recovers_fresh_scenes_exactly() {
    let cfg = ShapeWorldConfig::default();
    let det = ShapeDetector::new(&cfg);
    let space = prompt_space();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xD37EC7);
    let n = 300;
    let (mut clean, mut corrupted) = (0, 0);
    for _ in 0..n {
        let task = *Task::ALL.choose(&mut rng).unwrap();
        let pool: Vec<_> = space.iter().filter(|m| m.tag == task).collect();
        let scene = realise(pool.choose(&mut rng).unwrap(), &cfg, &mut rng).unwrap();
        let img = render(&scene, &cfg);
        clean += (match_scene(&det.detect(&img), &scene, 2.0) == SceneMatch::Exact) as usize;
        let bad = standard_corruption(&img, &mut rng);
        corrupted += (match_scene(&det.detect(&bad), &scene, 2.0) == SceneMatch::Exact) as usize;
    }
    assert!(clean as f64 >= 0.995 * n as f64, "clean: {clean}/{n}");
    assert!(
        corrupted as f64 >= 0.97 * n as f64,
        "corrupted: {corrupted}/{n}"
    );
}

#[test]
fn empty_image_has_no_detections_and_confidences_are_high_on_clean_shapes() {
    let cfg = ShapeWorldConfig::default();
    let det = ShapeDetector::new(&cfg);
    let blank = image::RgbImage::from_pixel(64, 64, image::Rgb(duet_data::shapeworld::BACKGROUND));
    assert!(det.detect(&blank).is_empty());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    for meta in prompt_space().iter().filter(|m| m.tag == Task::Counting) {
        let img = render(&realise(meta, &cfg, &mut rng).unwrap(), &cfg);
        for d in det.detect(&img) {
            // Counting uses GenEval's 0.9 threshold.
            assert!(d.score > 0.9, "{}: {:?}", meta.prompt, d);
        }
    }
}
