//! An ensemble classifier: several encoders' heads whose probabilities are averaged, with
//! thresholds of its own.
//!
//! Takes one [`FrameScores`] per member for a paragraph (each from its own encoder and head),
//! gives their equal-weight mean and, at the ensemble's thresholds, a [`LabelSet`]. The
//! record (`weights/heads/<a>+<b>.json`, written by `frameshift train --ensemble-with`)
//! carries every member's head file, so each member is checked against its encoder exactly
//! as a single head is, and the thresholds with the documents they were chosen on.
//!
//! Why: MPNet's frozen head and the fine-tuned MiniLM err differently; their mean is the
//! most accurate classifier measured here (see `eval --ensemble-with` and the README).

use super::{ClassifyError, DataRef, Frame, FrameScores, HeadFile, LabelSet};
use serde::{Deserialize, Serialize};

/// 1: members' head files, equal weights, thresholds on a validation split.
pub const ENSEMBLE_FORMAT: u32 = 1;

/// Where an ensemble's thresholds were chosen: documents neither member trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRef {
    /// How the documents were picked: fold 0 of `folds` grouped folds at `seed`, the split
    /// the fine-tuned member held out for its early stopping.
    pub folds: usize,
    pub seed: u64,
    pub documents: usize,
    pub paragraphs: usize,
}

/// The committed record of an ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleFile {
    pub format: u32,
    /// `<member>+<member>`, the name `--model` takes.
    pub name: String,
    /// Each member's head, naming the encoder (model and fingerprint) it belongs to.
    pub members: Vec<HeadFile>,
    pub thresholds: [f32; 4],
    pub data: DataRef,
    pub validation: ValidationRef,
}

impl EnsembleFile {
    pub fn load(path: &std::path::Path) -> Result<Self, ClassifyError> {
        let err = |message: String| ClassifyError::HeadFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: EnsembleFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if file.format != ENSEMBLE_FORMAT {
            return Err(err(format!(
                "ensemble format {} (this build reads {ENSEMBLE_FORMAT})",
                file.format
            )));
        }
        if file.members.len() < 2 {
            return Err(err("an ensemble needs at least two members".into()));
        }
        Ok(file)
    }

    /// Deterministic JSON, so retraining reproduces the committed file byte for byte.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("ensemble serialises");
        s.push('\n');
        s
    }
}

/// The equal-weight mean of the members' probabilities for one paragraph.
pub fn mean_scores(members: &[FrameScores]) -> FrameScores {
    assert!(!members.is_empty(), "an ensemble has members");
    let mut m = [0f64; 4];
    for s in members {
        for f in Frame::ALL {
            m[f.index()] += s.get(f) as f64;
        }
    }
    let n = members.len() as f64;
    FrameScores(m.map(|v| (v / n) as f32))
}

/// Mean probabilities and the labels at `thresholds`.
pub fn predict(members: &[FrameScores], thresholds: &[f32; 4]) -> (FrameScores, LabelSet) {
    let s = mean_scores(members);
    (s, s.labels(thresholds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_per_frame_and_labels_follow_the_thresholds() {
        let a = FrameScores([0.9, 0.2, 0.6, 0.0]);
        let b = FrameScores([0.5, 0.4, 0.2, 1.0]);
        let (s, l) = predict(&[a, b], &[0.7, 0.3, 0.45, 0.5]);
        let want = [0.7, 0.3, 0.4, 0.5];
        for (got, want) in s.0.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{:?}", s.0);
        }
        // 0.7 >= 0.7, 0.3 >= 0.3, 0.4 < 0.45, 0.5 >= 0.5
        assert_eq!(l.names(), vec!["security", "crime", "gender"]);
        // Order of members does not matter.
        assert_eq!(mean_scores(&[b, a]), s);
    }

    #[test]
    fn load_refuses_other_formats_and_single_members() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a+b.json");
        std::fs::write(
            &path,
            r#"{"format":9,"name":"a+b","members":[],"thresholds":[0.5,0.5,0.5,0.5],
               "data":{"annotations_sha256":"x","paragraphs":0,"documents":0,"positives":{}},
               "validation":{"folds":8,"seed":1,"documents":0,"paragraphs":0}}"#,
        )
        .unwrap();
        let e = EnsembleFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("ensemble format 9"), "{e}");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"format\":9", "\"format\":1");
        std::fs::write(&path, text).unwrap();
        let e = EnsembleFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("at least two members"), "{e}");
    }
}
