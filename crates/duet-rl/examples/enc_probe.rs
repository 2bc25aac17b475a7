//! Contrastive-encoder experiments on a pretrain run's data: trains the
//! SigLIP-style encoder with the sigmoid loss (optionally plus a dense
//! per-patch shape/colour loss, a wider or deeper vision tower, or extra
//! scenes realised from the training prompts) and prints image → caption
//! retrieval top-1 on 500 training and 500 held-out scenes:
//! `cargo run --release -p duet-rl --example enc_probe -- RUN_DIR STEPS [BATCH] [LR]`
//! with `DUET_ENC_AUX` (dense loss weight), `DUET_ENC_WIDTH`,
//! `DUET_ENC_LAYERS`, `DUET_ENC_FRESH` (extra scenes).

use std::path::Path;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use duet_data::records::GenEvalMetadata;
use duet_data::shapeworld::questions::caption;
use duet_data::shapeworld::{
    Color, Scene, SceneRecord, Shape, ShapeWorldConfig, load_png, realise, render,
};
use duet_model::contrastive::ContrastiveEncoder;
use duet_model::prompts::JanusTokenizer;
use duet_model::{Cpu, JanusConfig};
use duet_rl::checkpoint::step_rng;
use duet_rl::optim::{AdamW, AdamWConfig, SchedulerType, learning_rate};
use duet_rl::pretrain::encoder::{Pair, encoder_config, retrieval_top1};
use duet_rl::pretrain::vq_loss::to_tensor;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

type B = Autodiff<Cpu>;

#[derive(Module, Debug)]
struct Probe<B: Backend> {
    enc: ContrastiveEncoder<B>,
    shape_head: Linear<B>,
    color_head: Linear<B>,
}

fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Per patch: (shape class, colour class) of the object whose box holds the
/// patch centre; 0 = background.
fn labels(scene: &Scene, cells: usize) -> Vec<(usize, usize)> {
    let px = scene.width as f64 / cells as f64;
    let mut out = Vec::with_capacity(cells * cells);
    for r in 0..cells {
        for c in 0..cells {
            let (x, y) = ((c as f64 + 0.5) * px, (r as f64 + 0.5) * px);
            let hit = scene.objects.iter().find(|o| {
                (x - o.center[0]).abs() <= o.size / 2.0 && (y - o.center[1]).abs() <= o.size / 2.0
            });
            out.push(match hit {
                Some(o) => (
                    1 + Shape::ALL.iter().position(|s| *s == o.shape).unwrap(),
                    1 + Color::ALL.iter().position(|s| *s == o.color).unwrap(),
                ),
                None => (0, 0),
            });
        }
    }
    out
}

fn nll(logits: Tensor<B, 2>, target: &[usize]) -> Tensor<B, 1> {
    let [n, k] = logits.dims();
    let mut onehot = vec![0f32; n * k];
    for (i, t) in target.iter().enumerate() {
        onehot[i * k + t] = 1.0;
    }
    let oh = Tensor::<B, 2>::from_data(TensorData::new(onehot, [n, k]), &logits.device());
    (log_softmax(logits, 1) * oh).sum().neg() / n as f64
}

fn load_split(dir: &Path) -> Vec<(SceneRecord, image::RgbImage)> {
    let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&dir.join("scenes.jsonl")).unwrap();
    scenes
        .into_iter()
        .map(|s| {
            let img = load_png(&dir.join(&s.image)).unwrap();
            (s, img)
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let run = Path::new(&args[1]);
    let steps: usize = args[2].parse().unwrap();
    let batch: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let lr: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1e-3);
    let aux: f64 = env("DUET_ENC_AUX", 0.0);
    let fresh: usize = env("DUET_ENC_FRESH", 0);
    let dev = Default::default();
    let tok = JanusTokenizer::from_file(&run.join("tokenizer.json")).unwrap();
    let (mut janus, ids) = JanusConfig::preset("shapeworld").unwrap();
    janus.vision_config.hidden_size = env("DUET_ENC_WIDTH", janus.vision_config.hidden_size);
    janus.vision_config.num_hidden_layers =
        env("DUET_ENC_LAYERS", janus.vision_config.num_hidden_layers);
    let cells = janus.vision_config.image_size / janus.vision_config.patch_size;
    let mut train = load_split(&run.join("data/train"));
    if fresh > 0 {
        let prompts: Vec<GenEvalMetadata> =
            duet_data::io::read_jsonl(&run.join("data/train/evaluation_metadata.jsonl")).unwrap();
        let cfg = ShapeWorldConfig::grid(64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
        for _ in 0..fresh {
            let s = realise(prompts.choose(&mut rng).unwrap(), &cfg, &mut rng).unwrap();
            let img = render(&s, &cfg);
            let rec = SceneRecord {
                id: String::new(),
                image: String::new(),
                tag: duet_data::records::Task::SingleObject,
                prompt: String::new(),
                caption: caption(&s),
                scene: s,
            };
            train.push((rec, img));
        }
    }
    let mut held = load_split(&run.join("data/test"));
    held.extend(load_split(&run.join("data/val")));
    held.truncate(500);
    let to_pairs = |v: &[(SceneRecord, image::RgbImage)]| -> Vec<Pair> {
        v.iter()
            .map(|(s, img)| Pair {
                image: img.clone(),
                caption: s.caption.clone(),
                tokens: tok.encode(&s.caption).unwrap(),
            })
            .collect()
    };
    let train_pairs = to_pairs(&train);
    let train_labels: Vec<Vec<(usize, usize)>> =
        train.iter().map(|(s, _)| labels(&s.scene, cells)).collect();
    let held_pairs = to_pairs(&held);
    let enc_cfg = encoder_config(&janus, ids.pad_token_id);
    <B as Backend>::seed(&dev, 0);
    let d = janus.vision_config.hidden_size;
    let mut probe = Probe::<B> {
        enc: enc_cfg.init(&dev),
        shape_head: LinearConfig::new(d, 5).init(&dev),
        color_head: LinearConfig::new(d, 7).init(&dev),
    };
    let mut optim = AdamW::<Cpu>::new(AdamWConfig {
        weight_decay: 1e-4,
        max_grad_norm: Some(1.0),
        ..AdamWConfig::default()
    });
    println!(
        "train scenes {} held-out {} width {d} layers {} aux {aux} steps {steps} batch {batch} lr {lr}",
        train_pairs.len(),
        held_pairs.len(),
        janus.vision_config.num_hidden_layers
    );
    let t0 = Instant::now();
    for step in 0..steps {
        let mut rng = step_rng(0, step);
        let idx: Vec<usize> = (0..batch)
            .map(|_| rng.random_range(0..train_pairs.len()))
            .collect();
        let images: Vec<&image::RgbImage> = idx.iter().map(|&i| &train_pairs[i].image).collect();
        let rows: Vec<Vec<u32>> = idx.iter().map(|&i| train_pairs[i].tokens.clone()).collect();
        let h = probe
            .enc
            .vision_model
            .forward(to_tensor::<B>(&images, &dev))
            .last_hidden_state;
        let [b, p, dd] = h.dims();
        let pooled = h.clone().mean_dim(1).reshape([b, dd]);
        let z = duet_model::linear::apply(&probe.enc.visual_projection, pooled);
        let img = z.clone() / z.square().sum_dim(1).sqrt().clamp_min(1e-12);
        let txt = probe.enc.embed_texts(&rows).unwrap();
        let logits = probe.enc.logits(img, txt);
        let labels_pm: Vec<f32> = (0..b * b)
            .map(|k| {
                if train_pairs[idx[k / b]].caption == train_pairs[idx[k % b]].caption {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let lab = Tensor::<B, 2>::from_data(TensorData::new(labels_pm, [b, b]), &dev);
        let mut loss = log_sigmoid(logits * lab).sum().neg() / b as f64;
        let mut aux_v = 0.0;
        if aux > 0.0 {
            let flat = h.reshape([b * p, dd]);
            let shapes: Vec<usize> = idx
                .iter()
                .flat_map(|&i| train_labels[i].iter().map(|l| l.0))
                .collect();
            let colors: Vec<usize> = idx
                .iter()
                .flat_map(|&i| train_labels[i].iter().map(|l| l.1))
                .collect();
            let a = nll(probe.shape_head.forward(flat.clone()), &shapes)
                + nll(probe.color_head.forward(flat), &colors);
            aux_v = a.clone().into_scalar().elem::<f64>();
            loss = loss + a * aux;
        }
        let v: f64 = loss.clone().into_scalar().elem();
        let grads = GradientsParams::from_grads(loss.backward(), &probe);
        let lr_t = learning_rate(SchedulerType::Cosine, lr, step, 20, steps);
        probe = optim.update(lr_t, probe, grads).unwrap().0;
        if step % 100 == 0 || step + 1 == steps {
            println!(
                "step {step} loss {v:.4} aux {aux_v:.4} ({:.2} s/step)",
                t0.elapsed().as_secs_f64() / (step + 1) as f64
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let enc = probe.enc.valid();
    let tr = retrieval_top1(&enc, &train_pairs[..500.min(train_pairs.len())]).unwrap();
    let ho = retrieval_top1(&enc, &held_pairs).unwrap();
    println!("RESULT train top1 {tr:.3} held-out top1 {ho:.3} train time {secs:.1} s");
}
