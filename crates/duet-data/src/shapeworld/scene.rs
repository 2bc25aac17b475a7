//! Scene graphs and their sampling: a scene is realised from a GenEval prompt's
//! clauses, so the prompt is true of it by construction.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::config::ShapeWorldConfig;
use super::vocab::{Color, Shape, known};
use crate::error::{DataError, Result};
use crate::geometry::{BBox, relative_position};
use crate::records::GenEvalMetadata;

/// One object: a filled shape of one colour, `size` pixels across, centred at
/// `center` (pixels, y down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub shape: Shape,
    pub color: Color,
    pub center: [f64; 2],
    pub size: f64,
}

impl Object {
    pub fn bbox(&self) -> BBox {
        let h = self.size / 2.0;
        BBox::from([
            self.center[0] - h,
            self.center[1] - h,
            self.center[0] + h,
            self.center[1] + h,
        ])
    }

    /// "red circle".
    pub fn description(&self) -> String {
        format!("{} {}", self.color.name(), self.shape.name())
    }
}

/// A scene: non-overlapping objects on the background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub objects: Vec<Object>,
}

impl Scene {
    pub fn count_shape(&self, shape: Shape) -> usize {
        self.objects.iter().filter(|o| o.shape == shape).count()
    }
    pub fn count_color(&self, color: Color) -> usize {
        self.objects.iter().filter(|o| o.color == color).count()
    }
    pub fn count_kind(&self, shape: Shape, color: Color) -> usize {
        self.objects
            .iter()
            .filter(|o| o.shape == shape && o.color == color)
            .count()
    }
}

/// What the realiser must place: one entry per object, grouped by clause.
struct Spec {
    shape: Shape,
    color: Option<Color>,
    group: usize,
}

/// Samples a scene of which every clause of `meta` is true: exactly `count`
/// objects per include clause with the given colour, positions satisfying
/// GenEval's relation rule against every object of the reference group, and no
/// exclude clause violated. Unconstrained colours are drawn uniformly.
pub fn realise(
    meta: &GenEvalMetadata,
    cfg: &ShapeWorldConfig,
    rng: &mut impl Rng,
) -> Result<Scene> {
    let unknown = |kind, name: &str, known: String| DataError::Unknown {
        context: format!("prompt `{}`", meta.prompt),
        kind,
        name: name.to_string(),
        known,
    };
    let mut specs = Vec::new();
    for (g, clause) in meta.include.iter().enumerate() {
        let shape = Shape::parse(&clause.class)
            .ok_or_else(|| unknown("class", &clause.class, known(&Shape::ALL, Shape::name)))?;
        let color = match &clause.color {
            Some(c) => Some(
                Color::parse(c)
                    .ok_or_else(|| unknown("color", c, known(&Color::ALL, Color::name)))?,
            ),
            None => None,
        };
        if let Some((_, r)) = clause.position
            && r >= g
        {
            return Err(DataError::Unrealisable {
                prompt: meta.prompt.clone(),
                reason: format!(
                    "include clause {g} refers to clause {r}, which does not precede it"
                ),
            });
        }
        for _ in 0..clause.count {
            specs.push(Spec {
                shape,
                color,
                group: g,
            });
        }
    }
    if specs.len() > cfg.max_objects {
        return Err(DataError::Unrealisable {
            prompt: meta.prompt.clone(),
            reason: format!(
                "{} objects requested, at most {} fit",
                specs.len(),
                cfg.max_objects
            ),
        });
    }
    for ex in &meta.exclude {
        let n = specs.iter().filter(|s| s.shape.name() == ex.class).count();
        if n as u32 >= ex.count {
            return Err(DataError::Unrealisable {
                prompt: meta.prompt.clone(),
                reason: format!(
                    "include asks for {n} {} but exclude forbids {}",
                    ex.class, ex.count
                ),
            });
        }
    }
    for _ in 0..cfg.max_layout_attempts {
        if let Some(objects) = try_layout(&specs, cfg, rng)
            && positions_hold(meta, &specs, &objects)
        {
            return Ok(Scene {
                width: cfg.image_size,
                height: cfg.image_size,
                objects,
            });
        }
    }
    Err(DataError::Unrealisable {
        prompt: meta.prompt.clone(),
        reason: format!("no layout found in {} attempts", cfg.max_layout_attempts),
    })
}

/// Places every object at random, without overlap; `None` if it gets stuck.
fn try_layout(specs: &[Spec], cfg: &ShapeWorldConfig, rng: &mut impl Rng) -> Option<Vec<Object>> {
    let side = cfg.image_size as f64;
    let margin = cfg.margin_frac * side;
    let mut placed: Vec<Object> = Vec::with_capacity(specs.len());
    for spec in specs {
        let color = spec
            .color
            .unwrap_or_else(|| Color::ALL[rng.random_range(0..Color::ALL.len())]);
        let place = Placement::draw(cfg, rng)?;
        let mut ok = None;
        for _ in 0..100 {
            let obj = Object {
                shape: spec.shape,
                color,
                center: [place.coord(rng), place.coord(rng)],
                size: place.size,
            };
            if placed
                .iter()
                .all(|p| !p.bbox().intersects(&obj.bbox(), margin / 2.0))
            {
                ok = Some(obj);
                break;
            }
        }
        placed.push(ok?);
    }
    Some(placed)
}

/// One object's size and how each centre coordinate is drawn.
struct Placement {
    size: f64,
    centre: Centre,
}

enum Centre {
    /// Free layout: uniform in `[lo, hi]`.
    Uniform { lo: f64, hi: f64 },
    /// Grid layout: the block's first cell uniform in `0..=last`, centre
    /// `first · cell + half`.
    Cells { cell: f64, last: u32, half: f64 },
}

impl Placement {
    fn draw(cfg: &ShapeWorldConfig, rng: &mut impl Rng) -> Option<Placement> {
        let side = cfg.image_size as f64;
        match (cfg.grid_cells, cfg.cell_px()) {
            (Some(cells), Some(cell)) => {
                let k = *cfg
                    .grid_sizes
                    .get(rng.random_range(0..cfg.grid_sizes.len().max(1)))?;
                if k == 0 || k > cells {
                    return None;
                }
                let block = k as f64 * cell;
                Some(Placement {
                    size: block - 2.0 * cfg.grid_inset * cell,
                    centre: Centre::Cells {
                        cell,
                        last: cells - k,
                        half: block / 2.0,
                    },
                })
            }
            _ => {
                let size = rng.random_range(cfg.min_size_frac..=cfg.max_size_frac) * side;
                Some(Placement {
                    size,
                    centre: Centre::Uniform {
                        lo: size / 2.0 + cfg.border_px,
                        hi: side - size / 2.0 - cfg.border_px,
                    },
                })
            }
        }
    }

    fn coord(&self, rng: &mut impl Rng) -> f64 {
        match self.centre {
            Centre::Cells { cell, last, half } => rng.random_range(0..=last) as f64 * cell + half,
            Centre::Uniform { lo, hi } => rng.random_range(lo..=hi),
        }
    }
}

fn positions_hold(meta: &GenEvalMetadata, specs: &[Spec], objects: &[Object]) -> bool {
    meta.include.iter().enumerate().all(|(g, clause)| {
        let Some((rel, r)) = clause.position else {
            return true;
        };
        let group = |k| {
            specs
                .iter()
                .zip(objects)
                .filter(move |(s, _)| s.group == k)
                .map(|(_, o)| o)
        };
        group(g).all(|a| group(r).all(|b| relative_position(&a.bbox(), &b.bbox()).contains(&rel)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapeworld::prompts::prompt_space;
    use rand::SeedableRng;

    #[test]
    fn every_prompt_in_the_space_is_realisable_and_true() {
        let cfg = ShapeWorldConfig::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for meta in prompt_space() {
            let scene = realise(&meta, &cfg, &mut rng).unwrap();
            let total: u32 = meta.include.iter().map(|c| c.count).sum();
            assert_eq!(scene.objects.len() as u32, total, "{}", meta.prompt);
            for (i, a) in scene.objects.iter().enumerate() {
                for b in &scene.objects[i + 1..] {
                    assert!(!a.bbox().intersects(&b.bbox(), 0.0), "{}", meta.prompt);
                }
            }
        }
    }

    #[test]
    fn grid_layout_puts_objects_on_whole_cells_apart() {
        let cfg = ShapeWorldConfig::grid(64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut sizes = std::collections::BTreeSet::new();
        for meta in prompt_space() {
            let scene = realise(&meta, &cfg, &mut rng).unwrap();
            for (i, o) in scene.objects.iter().enumerate() {
                let b = o.bbox();
                // 1 px inside an 8-px-aligned block of 2 or 3 cells.
                assert_eq!((b.x0 - 1.0) % 8.0, 0.0, "{}: {o:?}", meta.prompt);
                assert_eq!((b.y0 - 1.0) % 8.0, 0.0, "{}: {o:?}", meta.prompt);
                assert!(b.x1 <= 63.0 && b.y1 <= 63.0, "{o:?}");
                sizes.insert(o.size as u32);
                for p in &scene.objects[i + 1..] {
                    assert!(!b.intersects(&p.bbox(), 1.5), "{}", meta.prompt);
                }
            }
        }
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), vec![14, 22]);
    }

    #[test]
    fn unknown_class_is_named() {
        let meta: GenEvalMetadata = serde_json::from_str(
            r#"{"tag":"single_object","include":[{"class":"bench","count":1}],"prompt":"a photo of a bench"}"#,
        )
        .unwrap();
        let cfg = ShapeWorldConfig::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let err = realise(&meta, &cfg, &mut rng).unwrap_err().to_string();
        assert!(err.contains("unknown class `bench`"), "{err}");
    }
}
