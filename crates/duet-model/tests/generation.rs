//! Batched generation: padding must not change what a row generates, and the
//! seeded sampler must make runs reproducible.

use duet_model::generate::{ImageGenConfig, TextGenConfig, generate_image_tokens, generate_text};
use duet_model::sampling::SamplingConfig;
use duet_model::{Cpu, JanusConfig};

type B = Cpu;

fn model() -> duet_model::Janus<B> {
    let (cfg, _) = JanusConfig::preset("shapeworld").unwrap();
    cfg.init::<B>(&Default::default())
}

fn img_cfg(sampling: SamplingConfig) -> ImageGenConfig {
    ImageGenConfig {
        num_tokens: 6,
        cfg_scale: 3.0,
        pad_id: 3,
        bos_id: 1,
        boi_id: 4,
        sampling,
        use_cache: true,
    }
}

#[test]
fn batching_with_left_padding_matches_one_by_one() {
    let m = model();
    let prompts = vec![vec![1, 20, 21, 22, 23, 4], vec![1, 30, 4]];
    let cfg = img_cfg(SamplingConfig::greedy());
    let batched = generate_image_tokens(&m, &prompts, &cfg).unwrap();
    for (i, p) in prompts.iter().enumerate() {
        assert_eq!(
            generate_image_tokens(&m, std::slice::from_ref(p), &cfg).unwrap()[0],
            batched[i]
        );
    }
    let no_cache = generate_image_tokens(
        &m,
        &prompts,
        &ImageGenConfig {
            use_cache: false,
            ..cfg
        },
    )
    .unwrap();
    assert_eq!(no_cache, batched);

    let tcfg = TextGenConfig {
        max_new_tokens: 5,
        stop_tokens: vec![],
        pad_id: 0,
        sampling: SamplingConfig::greedy(),
    };
    let batched = generate_text(&m, &prompts, None, &tcfg).unwrap();
    for (i, p) in prompts.iter().enumerate() {
        assert_eq!(
            generate_text(&m, std::slice::from_ref(p), None, &tcfg).unwrap()[0],
            batched[i]
        );
    }
}

#[test]
fn sampling_is_seeded_and_stop_tokens_end_rows() {
    let m = model();
    let prompts = vec![vec![1, 20, 21, 4], vec![1, 30, 4]];
    let s = |seed| SamplingConfig {
        temperature: 1.0,
        top_k: 50,
        top_p: 0.95,
        seed,
    };
    let a = generate_image_tokens(&m, &prompts, &img_cfg(s(1))).unwrap();
    assert_eq!(
        a,
        generate_image_tokens(&m, &prompts, &img_cfg(s(1))).unwrap()
    );
    assert_ne!(
        a,
        generate_image_tokens(&m, &prompts, &img_cfg(s(2))).unwrap()
    );
    assert!(a.iter().all(|r| r.len() == 6 && r.iter().all(|&t| t < 512)));

    // Greedy text, then the first greedy token as a stop token: rows end there.
    let g = TextGenConfig {
        max_new_tokens: 4,
        stop_tokens: vec![],
        pad_id: 0,
        sampling: SamplingConfig::greedy(),
    };
    let first = generate_text(&m, &prompts, None, &g).unwrap()[0][0];
    let stopped = generate_text(
        &m,
        &prompts,
        None,
        &TextGenConfig {
            stop_tokens: vec![first],
            ..g
        },
    )
    .unwrap();
    assert_eq!(stopped[0], vec![first]);
}

#[test]
fn logprobs_do_not_depend_on_batch_padding() {
    use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
    let m = model();
    let prompts = vec![vec![1, 20, 21, 22, 23, 4], vec![1, 30, 4]];
    let responses = vec![vec![40, 41], vec![42, 43, 44]];
    let all = text_logprobs(&m, &prompts, &responses, None, 0).unwrap();
    let all_v: Vec<f32> = all.logprobs.into_data().to_vec().unwrap();
    let mask: Vec<f32> = all.mask.into_data().to_vec().unwrap();
    assert_eq!(mask, vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
    for i in 0..2 {
        let one = text_logprobs(&m, &prompts[i..i + 1], &responses[i..i + 1], None, 0).unwrap();
        let v: Vec<f32> = one.logprobs.into_data().to_vec().unwrap();
        for (k, x) in v.iter().enumerate() {
            assert!((x - all_v[i * 3 + k]).abs() < 1e-5, "row {i} token {k}");
            assert!(*x < 0.0);
        }
    }
    let codes = vec![vec![7, 8, 9], vec![10, 11, 12]];
    let cfg = img_cfg(SamplingConfig::greedy());
    for mode in [GenLogprobMode::Cond, GenLogprobMode::Cfg] {
        let all = image_logprobs(&m, &prompts, &codes, mode, &cfg).unwrap();
        let all_v: Vec<f32> = all.logprobs.into_data().to_vec().unwrap();
        for i in 0..2 {
            let one = image_logprobs(&m, &prompts[i..i + 1], &codes[i..i + 1], mode, &cfg).unwrap();
            let v: Vec<f32> = one.logprobs.into_data().to_vec().unwrap();
            for (k, x) in v.iter().enumerate() {
                assert!(
                    (x - all_v[i * 3 + k]).abs() < 1e-5,
                    "{mode:?} row {i} token {k}"
                );
            }
        }
    }
    assert!(
        image_logprobs(
            &m,
            &prompts,
            &[vec![1], vec![1, 2]],
            GenLogprobMode::Cond,
            &cfg
        )
        .is_err()
    );
}

/// The sampler's recorded log-probs equal the teacher-forced ones of the
/// same tokens (text; image tokens in `cfg` mode), so an RL trainer's
/// sampler-vs-trainer gap measures only what differs by design.
#[test]
fn sampler_logprobs_match_teacher_forcing() {
    use duet_model::generate::{generate_image_tokens_scored, generate_text_scored};
    use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
    let m = model();
    let prompts = vec![vec![1, 20, 21, 22, 23, 4], vec![1, 30, 4]];
    let sampling = SamplingConfig {
        seed: 9,
        ..Default::default()
    };
    let cfg = img_cfg(sampling.clone());
    let (codes, lps) = generate_image_tokens_scored(&m, &prompts, &cfg).unwrap();
    let tf = image_logprobs(&m, &prompts, &codes, GenLogprobMode::Cfg, &cfg).unwrap();
    let tf: Vec<f32> = tf.logprobs.into_data().to_vec().unwrap();
    let flat: Vec<f32> = lps.concat();
    for (a, b) in tf.iter().zip(&flat) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    let tcfg = TextGenConfig {
        max_new_tokens: 4,
        stop_tokens: vec![],
        pad_id: 0,
        sampling,
    };
    let (resp, lps) = generate_text_scored(&m, &prompts, None, &tcfg).unwrap();
    let tf = text_logprobs(&m, &prompts, &resp, None, 0).unwrap();
    let tf: Vec<f32> = tf.logprobs.into_data().to_vec().unwrap();
    for (a, b) in tf.iter().zip(lps.concat().iter()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}
