//! How consistently a checkpoint's VQ names ShapeWorld patches: encodes a
//! split's images and reports, for pure-background patches and for all
//! patches, how many distinct codes are used and the entropy of the
//! patch-content → code map:
//! `cargo run --release -p duet-rl --example code_stats -- CHECKPOINT SPLIT_DIR [N]`.

use std::collections::HashMap;

use duet_model::Cpu;
use duet_rl::pretrain::vq::to_tensor;
use duet_rl::pretrain::vq_codes::patches;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ckpt = std::path::Path::new(&args[1]);
    let split = std::path::Path::new(&args[2]);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let dev = Default::default();
    let (_, model) = duet_model::checkpoint::load::<Cpu>(ckpt, &dev).unwrap();
    let mut by_patch: HashMap<Vec<u8>, HashMap<i64, usize>> = HashMap::new();
    for i in 0..n {
        let img =
            duet_data::shapeworld::load_png(&split.join(format!("images/{i:06}.png"))).unwrap();
        let codes: Vec<i64> = model
            .vqmodel
            .encode(to_tensor::<Cpu>(&[&img], &dev))
            .codes
            .into_data()
            .iter::<i64>()
            .collect();
        for (p, c) in patches(&img, 8).iter().zip(codes) {
            let key: Vec<u8> = p.iter().map(|v| (v * 255.0).round() as u8).collect();
            *by_patch.entry(key).or_default().entry(c).or_default() += 1;
        }
    }
    let bg: Vec<u8> = [48u8, 48, 48].repeat(64);
    let (mut total, mut h) = (0usize, 0.0f64);
    let mut all_codes = std::collections::HashSet::new();
    for m in by_patch.values() {
        let t: usize = m.values().sum();
        total += t;
        for (&c, &k) in m {
            all_codes.insert(c);
            let p = k as f64 / t as f64;
            h -= k as f64 * p.ln();
        }
    }
    println!(
        "{} distinct patch contents, {} distinct codes; mean H(code | patch content) = {:.3} nats",
        by_patch.len(),
        all_codes.len(),
        h / total as f64
    );
    if let Some(m) = by_patch.get(&bg) {
        let t: usize = m.values().sum();
        let mut v: Vec<_> = m.iter().collect();
        v.sort_by_key(|x| std::cmp::Reverse(*x.1));
        println!(
            "background patches: {t}, {} distinct codes, top: {:?}",
            m.len(),
            &v[..v.len().min(8)]
        );
    }
}
