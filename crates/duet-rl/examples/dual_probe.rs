//! Do the dual self-rewards rank rollouts the way the exact checkers do?
//! For N training scenes, samples G captions per image (temperature 1) and
//! scores each by R_U = mean log p(image codes | caption) under the
//! checkpoint, and G images per reference caption (CFG as given) scored by
//! R_G = mean log p(caption | image); then compares with the exact checks
//! (duet-data's caption check; GenEval's rules for the scene): how often the
//! top-R rollout of a group is correct against a random one, and the mean
//! within-group rank correlation of R with the check's dense score:
//! `cargo run --release -p duet-rl --example dual_probe -- CHECKPOINT SPLIT_DIR [N] [G] [CFG]`
//! (`DUET_RU_PROMPT=1`: R_U with the caption restated as a GenEval prompt;
//! `DUET_RU_CFG=w`: R_U under the guided distribution).

use duet_data::pairs::oracle_check::check_caption;
use duet_data::shapeworld::{SceneRecord, ShapeWorldConfig, load_png};
use duet_eval::detector::ShapeDetector;
use duet_eval::geneval::rules::Thresholds;
use duet_eval::geneval::score_image;
use duet_model::Cpu;
use duet_model::generate::{ImageGenConfig, generate_image_tokens};
use duet_model::logprobs::{GenLogprobMode, image_logprobs, text_logprobs};
use duet_model::prompts::JanusTokenizer;
use duet_model::sampling::SamplingConfig;
use duet_rl::rewards::dual::{contrast, row_means};
use duet_rl::tasks;
use duet_rl::trainer::data::scene_metadata;

/// Spearman-free stand-in: Pearson correlation of two short vectors (NaN
/// when either is constant).
fn corr(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[derive(Default)]
struct Stats {
    groups: usize,
    correct: f64,
    top_correct: f64,
    corrs: Vec<f64>,
    r_correct: Vec<f64>,
    r_wrong: Vec<f64>,
}

impl Stats {
    fn add(&mut self, r: &[f64], ok: &[bool], dense: &[f64]) {
        self.groups += 1;
        let g = r.len() as f64;
        self.correct += ok.iter().filter(|&&o| o).count() as f64 / g;
        let top = (0..r.len()).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
        self.top_correct += ok[top] as u8 as f64;
        let c = corr(r, dense);
        if c.is_finite() {
            self.corrs.push(c);
        }
        let m = r.iter().sum::<f64>() / g;
        for (x, o) in r.iter().zip(ok) {
            if *o {
                self.r_correct.push(x - m);
            } else {
                self.r_wrong.push(x - m);
            }
        }
    }
    fn print(&self, name: &str) {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!(
            "{name}: {} groups; correct rollouts {:.3}; top-{name} rollout correct {:.3}; \
             within-group corr(R, dense check) {:.3} over {} groups; R − group mean: correct {:+.3} (n {}), wrong {:+.3} (n {})",
            self.groups,
            self.correct / self.groups as f64,
            self.top_correct / self.groups as f64,
            mean(&self.corrs),
            self.corrs.len(),
            mean(&self.r_correct),
            self.r_correct.len(),
            mean(&self.r_wrong),
            self.r_wrong.len()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ckpt = std::path::Path::new(&args[1]);
    let split = std::path::Path::new(&args[2]);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let g: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(8);
    let cfg_w: f64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let dev = Default::default();
    let (_, model) = duet_model::checkpoint::load::<Cpu>(ckpt, &dev).unwrap();
    let ids = duet_model::checkpoint::read_generation_ids(ckpt)
        .unwrap()
        .unwrap();
    let tok = JanusTokenizer::from_file(&ckpt.join("tokenizer.json")).unwrap();
    let n_img = tasks::image_tokens(&model);
    let scenes: Vec<SceneRecord> = duet_data::io::read_jsonl(&split.join("scenes.jsonl")).unwrap();
    let detector = ShapeDetector::new(&ShapeWorldConfig::default());
    let th = Thresholds::default();
    let question = tasks::understanding_ids(&tok, tasks::CAPTION_QUESTION, n_img).unwrap();
    let cond = tasks::cond_image_cfg(&ids);
    let sampled = |seed: u64| SamplingConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        seed,
    };
    // G images drawn for a prompt (CFG `cfg_w`), decoded.
    let draw = |prompt: &str, seed: u64| -> Vec<image::RgbImage> {
        let gen_cfg = ImageGenConfig {
            num_tokens: n_img,
            cfg_scale: cfg_w,
            sampling: sampled(seed),
            use_cache: true,
            ..cond.clone()
        };
        let row = tasks::generation_ids(&tok, prompt).unwrap();
        let drawn = generate_image_tokens(&model, &vec![row; g], &gen_cfg).unwrap();
        duet_rl::eval::decode_codes(&model, &drawn).unwrap()
    };
    // R_G of `text` for each image: its per-token likelihood as the caption.
    let r_g_of = |pics: &[image::RgbImage], text: &str| -> Vec<f64> {
        let refs: Vec<&image::RgbImage> = pics.iter().collect();
        let resp = tasks::response_ids(&tok, text, ids.eos_token_id).unwrap();
        let lp = text_logprobs(
            &model,
            &vec![question.clone(); refs.len()],
            &vec![resp; refs.len()],
            Some(tasks::pixels(&refs, &dev)),
            ids.pad_token_id,
        )
        .unwrap();
        row_means(lp)
    };
    let (mut su, mut sg) = (Stats::default(), Stats::default());
    // R_U(reference caption) − R_U(another scene's caption), per scene.
    let mut ref_minus_other: Vec<f64> = Vec::new();
    for (k, s) in scenes.iter().take(n).enumerate() {
        let img = load_png(&split.join(&s.image)).unwrap();
        let codes = model
            .vqmodel
            .encode(tasks::pixels(&[&img], &dev))
            .codes
            .into_data()
            .iter::<i64>()
            .map(|c| c as u32)
            .collect::<Vec<_>>();
        let meta = {
            let mut m = scene_metadata(&s.scene);
            m.prompt = s.caption.clone();
            m
        };
        // Understanding: G sampled captions, R_U.
        let caps =
            tasks::caption_images(&model, &tok, &ids, &vec![&img; g], sampled(k as u64)).unwrap();
        let other = &scenes[(k + 97) % scenes.len()].caption;
        // DUET_RU_PROMPT=1: captions are asked as GenEval prompts
        // (duet-data's `caption_as_prompt`).
        let as_prompt = |c: &str| -> String {
            match std::env::var("DUET_RU_PROMPT") {
                Ok(_) => duet_data::shapeworld::prompts::caption_as_prompt(c),
                Err(_) => c.to_string(),
            }
        };
        let mut prompts: Vec<Vec<u32>> = caps
            .iter()
            .map(|c| tasks::generation_ids(&tok, &as_prompt(c)).unwrap())
            .collect();
        prompts.push(tasks::generation_ids(&tok, &as_prompt(&s.caption)).unwrap());
        prompts.push(tasks::generation_ids(&tok, &as_prompt(other)).unwrap());
        // DUET_RU_CFG=w scores R_U with the guided distribution
        // log softmax(uncond + w·(cond − uncond)).
        let (mode, ru_cfg) = match std::env::var("DUET_RU_CFG")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            Some(w) => (
                GenLogprobMode::Cfg,
                ImageGenConfig {
                    cfg_scale: w,
                    ..cond.clone()
                },
            ),
            None => (GenLogprobMode::Cond, cond.clone()),
        };
        let lp =
            image_logprobs(&model, &prompts, &vec![codes.clone(); g + 2], mode, &ru_cfg).unwrap();
        let mut r_u = row_means(lp);
        let r_other = r_u.pop().unwrap();
        let r_ref = r_u.pop().unwrap();
        ref_minus_other.push(r_ref - r_other);
        let ok: Vec<bool> = caps
            .iter()
            .map(|c| check_caption(&s.scene, c).is_ok())
            .collect();
        let dense: Vec<f64> = ok.iter().map(|&o| o as u8 as f64).collect();
        su.add(&r_u, &ok, &dense);
        // Generation: G images from the reference caption, R_G.
        let pics = draw(&s.caption, 1000 + k as u64);
        let r_g = r_g_of(&pics, &s.caption);
        let res: Vec<_> = pics
            .iter()
            .map(|p| score_image(&detector, p, &meta, &th, String::new()))
            .collect();
        let ok: Vec<bool> = res.iter().map(|r| r.correct).collect();
        let dense: Vec<f64> = res.iter().map(|r| r.score).collect();
        sg.add(&r_g, &ok, &dense);
        if k % 16 == 15 {
            su.print("R_U");
            sg.print("R_G");
        }
    }
    su.print("R_U");
    sg.print("R_G");
    // Generation from GenEval prompts (the dual presets' image rollouts):
    // R_G as the prompt's likelihood, and as the self-check (the share of K
    // sampled captions of the image that pass GenEval's rules).
    let items: Vec<duet_data::shapeworld::GenerationItem> =
        duet_data::io::read_jsonl(&split.join("generation.jsonl")).unwrap();
    let (mut sl, mut sc, mut sx) = (Stats::default(), Stats::default(), Stats::default());
    let pool: Vec<&str> = items
        .iter()
        .take(n)
        .map(|it| it.metadata.prompt.as_str())
        .collect();
    let kc = 4;
    for (k, it) in items.iter().take(n).enumerate() {
        let meta = &it.metadata;
        let pics = draw(&meta.prompt, 5000 + k as u64);
        let r_lik = r_g_of(&pics, &meta.prompt);
        // Contrastive R_G: the prompt's likelihood against the next three
        // distinct prompts of the probe set (the batch's other prompts, as
        // `form = "contrastive"` scores them).
        let mut negs: Vec<&str> = Vec::new();
        for j in 1..pool.len() {
            let p = pool[(k + j) % pool.len()];
            if p != meta.prompt && !negs.contains(&p) {
                negs.push(p);
            }
            if negs.len() == 3 {
                break;
            }
        }
        let mut all = vec![r_lik.clone()];
        all.extend(negs.iter().map(|neg| r_g_of(&pics, neg)));
        let r_con: Vec<f64> = (0..g)
            .map(|i| {
                let scores: Vec<f64> = all.iter().map(|v| v[i]).collect();
                contrast(&scores, 0).unwrap_or(0.0)
            })
            .collect();
        let many: Vec<&image::RgbImage> = pics
            .iter()
            .flat_map(|r| std::iter::repeat_n(r, kc))
            .collect();
        let caps =
            tasks::caption_images(&model, &tok, &ids, &many, sampled(9000 + k as u64)).unwrap();
        let passes: Vec<f64> = caps
            .iter()
            .map(|c| {
                let dets = duet_eval::caption_reader::caption_detections(c, 64, 64);
                let objs = duet_eval::geneval::rules::filter_detections(&dets, meta.tag, &th);
                duet_eval::geneval::rules::evaluate(&objs, meta).0 as u8 as f64
            })
            .collect();
        let r_chk: Vec<f64> = passes
            .chunks(kc)
            .map(|c| c.iter().sum::<f64>() / kc as f64)
            .collect();
        let res: Vec<_> = pics
            .iter()
            .map(|p| score_image(&detector, p, meta, &th, String::new()))
            .collect();
        let ok: Vec<bool> = res.iter().map(|r| r.correct).collect();
        let dense: Vec<f64> = res.iter().map(|r| r.score).collect();
        sl.add(&r_lik, &ok, &dense);
        sc.add(&r_chk, &ok, &dense);
        sx.add(&r_con, &ok, &dense);
    }
    sl.print("R_G likelihood (GenEval prompts)");
    sc.print("R_G self-check (GenEval prompts)");
    sx.print("R_G contrastive (GenEval prompts)");
    let m = ref_minus_other.iter().sum::<f64>() / ref_minus_other.len() as f64;
    let wins = ref_minus_other.iter().filter(|&&d| d > 0.0).count();
    println!(
        "R_U(reference caption) − R_U(another scene's caption): mean {m:+.4} per code, reference higher in {wins}/{}",
        ref_minus_other.len()
    );
}
