//! The zero-shot baseline: similarity to written frame descriptions.
//!
//! Takes the encoder and `datasets/frames.toml` (a few sentences per frame paraphrasing the
//! codebook), gives per-frame cosine scores for any paragraph embedding. It needs no
//! labelled data, which makes it the natural floor for what the labelled head adds.

use super::Frame;
use crate::embed::{cosine, embed_texts, l2_normalize, EmbedError, EmbedOptions, Encoder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ZeroShotError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

#[derive(Deserialize)]
struct FramesFile {
    frames: BTreeMap<String, Descriptions>,
}

#[derive(Deserialize)]
struct Descriptions {
    descriptions: Vec<String>,
}

/// One normalised centroid of description embeddings per frame.
#[derive(Debug, Clone)]
pub struct ZeroShot {
    centroids: [Vec<f32>; 4],
}

impl ZeroShot {
    pub fn build(encoder: &dyn Encoder, path: &Path) -> Result<Self, ZeroShotError> {
        let err = |message: String| ZeroShotError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: FramesFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let mut centroids: [Vec<f32>; 4] = Default::default();
        for frame in Frame::ALL {
            let d = file
                .frames
                .get(frame.name())
                .filter(|d| !d.descriptions.is_empty())
                .ok_or_else(|| err(format!("no descriptions for frame `{frame}`")))?;
            let vectors = embed_texts(encoder, &d.descriptions, &EmbedOptions::default())?;
            let mut c = vec![0f32; encoder.info().dim];
            for v in &vectors {
                for (a, b) in c.iter_mut().zip(&v.vector) {
                    *a += b;
                }
            }
            l2_normalize(&mut c);
            centroids[frame.index()] = c;
        }
        Ok(ZeroShot { centroids })
    }

    /// Cosine similarity of `v` to each frame's centroid.
    pub fn scores(&self, v: &[f32]) -> [f32; 4] {
        let mut s = [0f32; 4];
        for f in Frame::ALL {
            s[f.index()] = cosine(v, &self.centroids[f.index()]);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::tiny;

    #[test]
    fn shipped_descriptions_load_and_score_in_range() {
        let enc = tiny::encoder(32);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/frames.toml");
        let zs = ZeroShot::build(&enc, &path).unwrap();
        let v = embed_texts(&enc, &["the security council"], &EmbedOptions::default()).unwrap();
        let s = zs.scores(&v[0].vector);
        assert!(s.iter().all(|x| (-1.0001..=1.0001).contains(x)), "{s:?}");
        assert!(s.iter().any(|x| *x != s[0]), "frames must differ: {s:?}");
    }
}
