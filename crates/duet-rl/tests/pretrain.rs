//! A miniature pretraining recipe end to end, and kill-and-resume: a run
//! interrupted after a checkpoint and resumed ends with the same bytes as
//! an uninterrupted one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use duet_data::shapeworld::{Layout, OptionOrder};
use duet_model::Cpu;
use duet_rl::eval::EvalConfig;
use duet_rl::pretrain::encoder::EncoderTrainConfig;
use duet_rl::pretrain::recipe::{self, DataSection, Progress, Recipe, RunLayout, Stage};
use duet_rl::pretrain::sft::SftTrainConfig;
use duet_rl::pretrain::vq::{VqMethod, VqTrainConfig};

type B = Autodiff<Cpu>;

fn mini() -> Recipe {
    Recipe {
        preset: "shapeworld".into(),
        data: DataSection {
            n: 60,
            seed: 5,
            layout: Layout::Grid,
            option_order: OptionOrder::Canonical,
            rl: 0,
        },
        vq: VqTrainConfig {
            method: VqMethod::PatchKmeans,
            max_steps: 3,
            batch_size: 2,
            save_steps: 2,
            zero_init_residual: true,
            freeze_residual: true,
            ..Default::default()
        },
        encoder: EncoderTrainConfig {
            max_steps: 3,
            batch_size: 4,
            save_steps: 2,
            ..Default::default()
        },
        encoder_eval_scenes: 8,
        init_vision_from_encoder: true,
        sft: SftTrainConfig {
            max_steps: 4,
            understanding_batch_size: 2,
            generation_batch_size: 2,
            // Every kind of example, so resume covers their draws too.
            short_answer_fraction: 0.3,
            mc_target: duet_rl::tasks::McTarget::OptionThenLetter,
            mc_drill_batch_size: 2,
            t2i_caption_fraction: 0.5,
            freeze_vision_tower: true,
            save_steps: 2,
            save_total_limit: 5,
            ..Default::default()
        },
        eval: EvalConfig::default(),
    }
}

/// Records steps; panics at `die_at` (a simulated kill after a checkpoint).
struct Steps {
    seen: Vec<(String, usize)>,
    stage: String,
    die_at: Option<(String, usize)>,
}

impl Progress for Steps {
    fn stage(&mut self, name: &str, _total: usize, _done: usize) {
        self.stage = name.to_string();
    }
    fn step(&mut self, step: usize, _message: String) {
        if self.die_at == Some((self.stage.clone(), step)) {
            panic!("simulated kill at {} step {step}", self.stage);
        }
        self.seen.push((self.stage.clone(), step));
    }
    fn finish(&mut self, _message: String) {}
}

fn steps(die_at: Option<(&str, usize)>) -> Steps {
    Steps {
        seen: vec![],
        stage: String::new(),
        die_at: die_at.map(|(s, n)| (s.to_string(), n)),
    }
}

const ALL: [Stage; 3] = [Stage::Vq, Stage::Encoder, Stage::Sft];

fn bytes(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

#[test]
fn a_miniature_recipe_runs_end_to_end_and_a_killed_run_resumes_to_the_same_weights() {
    let recipe = mini();
    let dev = Default::default();

    let a = tempfile::tempdir().unwrap();
    let run_a = RunLayout {
        root: a.path().to_path_buf(),
    };
    let mut p = steps(None);
    let base_a = recipe::run::<B>(&recipe, &run_a, &ALL, false, &dev, &mut p)
        .unwrap()
        .expect("SFT finished");
    assert_eq!(p.seen.len(), 3 + 3 + 4, "{:?}", p.seen);
    for f in [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "optimizer.safetensors",
        "trainer_state.json",
    ] {
        assert!(
            base_a.join(f).is_file(),
            "{f} missing in {}",
            base_a.display()
        );
    }
    // The finished VQ stores its codebook unit-norm, as training used it
    // (encoding searches the stored codebook without normalising it), and
    // the base carries the same codebook.
    let vq_dir = a.path().join("vq/checkpoint-3");
    let (_, vq) = duet_model::checkpoint::load::<Cpu>(&vq_dir, &dev).unwrap();
    let book = vq.vqmodel.quantize.embedding.weight.val();
    let norms: Vec<f32> = book
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .into_data()
        .to_vec()
        .unwrap();
    assert!(
        norms.iter().all(|n| (n - 1.0).abs() < 1e-5),
        "codebook norms {:?}…",
        &norms[..4]
    );
    // The base loads as an HF checkpoint, answers and draws.
    let (_, ids, model) = recipe::load_base::<Cpu>(&base_a, &dev).unwrap();
    // With `freeze_vision_tower`, its understanding encoder is the
    // contrastive encoder's image tower, bit for bit, while the rest trained.
    let (_, enc) =
        duet_model::contrastive::load::<Cpu>(&a.path().join("encoder/checkpoint-3"), &dev).unwrap();
    let flat = |t: Tensor<Cpu, 2>| t.into_data().to_vec::<f32>().unwrap();
    let (v, e) = (&model.vision_model, &enc.vision_model);
    assert_eq!(
        v.embeddings.patch_embedding.weight.val().into_data(),
        e.embeddings.patch_embedding.weight.val().into_data()
    );
    for (lv, le) in v.layers.iter().zip(&e.layers) {
        assert_eq!(
            flat(lv.self_attn.q_proj.weight.val()),
            flat(le.self_attn.q_proj.weight.val())
        );
        assert_eq!(flat(lv.mlp.fc2.weight.val()), flat(le.mlp.fc2.weight.val()));
    }
    assert_ne!(
        flat(model.lm_head.weight.val()),
        flat(vq.lm_head.weight.val()),
        "the language model trained"
    );
    let split = duet_rl::eval::Split::read(&a.path().join("data/test")).unwrap();
    let tok =
        duet_model::prompts::JanusTokenizer::from_file(&base_a.join("tokenizer.json")).unwrap();
    let cfg = EvalConfig {
        max_mc_items: 4,
        max_prompts: 2,
        images_per_prompt: 1,
        caption_scenes: 3,
        ..Default::default()
    };
    let report = duet_rl::eval::evaluate(&model, &tok, &ids, &split, &cfg).unwrap();
    assert_eq!(report.mc_by_type.values().map(|t| t.num).sum::<usize>(), 4);
    assert_eq!(report.geneval.total_images, 2);
    let caps = report.captions.as_ref().unwrap();
    assert_eq!((caps.caption.num, caps.caption_to_image.num), (3, 3));
    assert!(caps.caption_exact.correct <= caps.caption.correct);

    // The same recipe, killed in SFT after its step-2 checkpoint, then resumed.
    let b = tempfile::tempdir().unwrap();
    let run_b = RunLayout {
        root: b.path().to_path_buf(),
    };
    let mut p = steps(Some(("sft", 2)));
    let killed = catch_unwind(AssertUnwindSafe(|| {
        recipe::run::<B>(&recipe, &run_b, &ALL, false, &dev, &mut p)
    }));
    assert!(killed.is_err(), "the simulated kill happened");
    // Starting afresh over the unfinished run's checkpoints is refused.
    let err = recipe::run::<B>(&recipe, &run_b, &ALL, false, &dev, &mut steps(None))
        .expect_err("refused without --resume");
    assert!(err.to_string().contains("--resume"), "{err}");
    let mut p = steps(None);
    let base_b = recipe::run::<B>(&recipe, &run_b, &ALL, true, &dev, &mut p)
        .unwrap()
        .expect("SFT finished");
    // Finished stages are reused; SFT continues at step 2.
    assert_eq!(p.seen, vec![("sft".to_string(), 2), ("sft".to_string(), 3)]);
    for f in ["model.safetensors", "optimizer.safetensors"] {
        assert!(
            bytes(&base_a, f) == bytes(&base_b, f),
            "{f} differs after resume"
        );
    }
}
