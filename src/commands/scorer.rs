//! What the commands classify with: one encoder and its head, or an ensemble of several.
//!
//! Takes the `--model`/`--head` flags, gives a [`Scorer`] that turns paragraph texts into
//! [`FrameScores`] and labels. `--model a+b` names an ensemble
//! (`weights/heads/a+b.json`, see [`crate::classify::ensemble`]): each member's encoder is
//! loaded and checked against the head the ensemble stores for it, each embeds the texts
//! (through its own cache), and the members' probabilities are averaged. `label`, `analyze`
//! and `eval --gold` go through here, so all three run an ensemble as they run one model.

use super::{embed_with_cache, load_classifier, load_encoder, CommandError, LoadedEncoder};
use crate::cache::CacheStats;
use crate::citations::{CitationTable, Citations};
use crate::classify::ensemble::{self, EnsembleFile};
use crate::classify::lexicon::Lexicon;
use crate::classify::{Classifier, FrameScores, LabelSet};
use crate::cli::EncoderArgs;
use crate::settings::Settings;
use std::path::{Path, PathBuf};

/// One encoder with the head that reads its vectors.
pub struct Member {
    pub loaded: LoadedEncoder,
    pub head: Classifier,
}

/// A classifier ready to score texts.
pub struct Scorer {
    pub members: Vec<Member>,
    /// The head file, or the ensemble record.
    pub path: PathBuf,
    /// `Some` for an ensemble: its record (thresholds, members, data).
    pub ensemble: Option<EnsembleFile>,
    /// The citation table whose codebook rule adds frames to the labels
    /// ([`CitationTable::frames`]); `None` with `--no-citation-rules`.
    pub rules: Option<CitationTable>,
}

/// The classifier `label`, `analyze` and `eval --gold` use when neither `--model` nor
/// `--head` is given: all-mpnet-base-v2 fully fine-tuned with its head on every
/// annotation, committed as `weights/mpnet-finetuned-r64/` (each encoder matrix's change
/// from the base at rank 64) and rebuilt from the fetched MPNet on first use, hash-checked
/// (README, "Which is the default": the most accurate recipe measured here, at the speed
/// of any MPNet classifier; `mpnet-bitfit`, the default until 2026-12-07, stays
/// selectable). The commands that embed, train or cross-validate a head default to the
/// base model of weights/models.toml instead.
pub const DEFAULT_CLASSIFIER: &str = "mpnet-finetuned-r64";

/// `args` with `--model` set to [`DEFAULT_CLASSIFIER`] when no model or head was asked for
/// and the classifier is at hand (a binary run outside the repository falls back to the
/// registry's default model and its head, as before).
fn with_default_classifier(
    args: &EncoderArgs,
    explicit: Option<&Path>,
    settings: &Settings,
) -> EncoderArgs {
    let mut args = args.clone();
    let dir = settings.home.join("weights").join(DEFAULT_CLASSIFIER);
    if args.model.model.is_none() && explicit.is_none() && super::finetune::is_model_dir(&dir) {
        args.model.model = Some(DEFAULT_CLASSIFIER.to_string());
    }
    args
}

/// Whether `--model` names an ensemble (`a+b`) rather than one model.
pub fn is_ensemble_name(model: Option<&str>) -> bool {
    model.is_some_and(|m| m.contains('+') && !Path::new(m).is_dir())
}

impl Scorer {
    /// Load what `args` name: the model and its head (`explicit` or the default), or, for
    /// `--model a+b`, the ensemble record (`explicit` or `weights/heads/a+b.json`) and every
    /// member's encoder, each refused unless it is the encoder its stored head was trained on.
    pub fn load(
        args: &EncoderArgs,
        explicit: Option<&Path>,
        settings: &Settings,
    ) -> Result<Scorer, CommandError> {
        let args = &with_default_classifier(args, explicit, settings);
        let rules = if settings.citation_rules {
            Some(CitationTable::load(
                &settings.datasets_dir().join("citations.toml"),
            )?)
        } else {
            None
        };
        let name = args.model.model.as_deref();
        if !is_ensemble_name(name) {
            let loaded = load_encoder(args, settings)?;
            let (path, head) = load_classifier(explicit, &loaded, settings)?;
            return Ok(Scorer {
                members: vec![Member { loaded, head }],
                path,
                ensemble: None,
                rules,
            });
        }
        let name = name.expect("an ensemble name");
        if args.model.weights.is_some() {
            return Err(CommandError::Input(format!(
                "--weights names one model's files; the ensemble {name} loads each member's own"
            )));
        }
        let path = explicit.map(Path::to_path_buf).unwrap_or_else(|| {
            settings
                .home
                .join("weights")
                .join("heads")
                .join(format!("{name}.json"))
        });
        let file = EnsembleFile::load(&path)?;
        let mut members = Vec::new();
        for (i, head) in file.members.iter().enumerate() {
            let mut member_args = args.clone();
            member_args.model.model = Some(head.encoder.model.clone());
            let loaded = load_encoder(&member_args, settings)?;
            let info = loaded.encoder.info();
            let origin = format!("{} (member {}, {})", path.display(), i + 1, info.name);
            head.check(&origin, &info.name, &info.fingerprint)?;
            members.push(Member {
                loaded,
                head: Classifier::new(head.clone(), &origin)?,
            });
        }
        Ok(Scorer {
            members,
            path,
            ensemble: Some(file),
            rules,
        })
    }

    /// `--model`'s name: the model's, or the ensemble's `a+b`.
    pub fn name(&self) -> String {
        match &self.ensemble {
            Some(e) => e.name.clone(),
            None => self.members[0].loaded.encoder.info().name.clone(),
        }
    }

    pub fn thresholds(&self) -> [f32; 4] {
        match &self.ensemble {
            Some(e) => e.thresholds,
            None => self.members[0].head.thresholds(),
        }
    }

    /// The term lists the (first) head reads, for evidence shown beside labels.
    pub fn lexicon(&self) -> &Lexicon {
        self.members[0].head.lexicon()
    }

    /// The annotations the classifier was trained on (sha256).
    pub fn annotations_sha256(&self) -> &str {
        match &self.ensemble {
            Some(e) => &e.data.annotations_sha256,
            None => &self.members[0].head.file.data.annotations_sha256,
        }
    }

    /// Probabilities for every text, in order; the cache statistics summed over members.
    pub fn score<S: AsRef<str> + Sync>(
        &self,
        args: &EncoderArgs,
        texts: &[S],
        settings: &Settings,
    ) -> Result<(Vec<FrameScores>, CacheStats), CommandError> {
        let mut per_member = Vec::with_capacity(self.members.len());
        let mut stats = CacheStats::default();
        for m in &self.members {
            let (vectors, s) = embed_with_cache(args, &m.loaded, texts, settings)?;
            stats.requested += s.requested;
            stats.distinct += s.distinct;
            stats.hits += s.hits;
            stats.embedded += s.embedded;
            let scores: Vec<FrameScores> = {
                use rayon::prelude::*;
                vectors
                    .par_iter()
                    .zip(texts.par_iter())
                    .map(|(v, t)| m.head.score(&v.vector, t.as_ref()))
                    .collect()
            };
            per_member.push(scores);
        }
        if self.ensemble.is_none() {
            return Ok((per_member.pop().expect("one member"), stats));
        }
        let scores = (0..texts.len())
            .map(|i| {
                let row: Vec<FrameScores> = per_member.iter().map(|m| m[i]).collect();
                ensemble::mean_scores(&row)
            })
            .collect();
        Ok((scores, stats))
    }

    /// The labels of a paragraph with these probabilities and citations: the frames over
    /// `thresholds`, plus those the codebook's citation rule gives its citations (unless
    /// `--no-citation-rules`). The probabilities are left as the classifier gave them.
    pub fn labels(
        &self,
        scores: &FrameScores,
        thresholds: &[f32; 4],
        cited: &Citations,
    ) -> LabelSet {
        let by_rule = self
            .rules
            .as_ref()
            .map_or_else(LabelSet::default, |t| t.frames(cited));
        scores.labels(thresholds).union(by_rule)
    }

    /// Whether labels get the codebook's citation rule.
    pub fn citation_rules(&self) -> bool {
        self.rules.is_some()
    }

    /// Probabilities and labels at the classifier's own thresholds, with the citation rule.
    pub fn predict<S: AsRef<str> + Sync>(
        &self,
        args: &EncoderArgs,
        texts: &[S],
        settings: &Settings,
    ) -> Result<(Vec<(FrameScores, LabelSet)>, CacheStats), CommandError> {
        let (scores, stats) = self.score(args, texts, settings)?;
        let t = self.thresholds();
        let cited = |text: &str| {
            self.rules
                .as_ref()
                .map_or_else(Citations::default, |table| table.extract(text))
        };
        Ok((
            scores
                .into_iter()
                .zip(texts)
                .map(|(s, text)| (s, self.labels(&s, &t, &cited(text.as_ref()))))
                .collect(),
            stats,
        ))
    }

    /// The model part of a run record: the single model's fields as before, or the ensemble's
    /// name and each member's.
    pub fn model_record(&self) -> serde_json::Value {
        let one = |m: &Member| {
            let info = m.loaded.encoder.info();
            serde_json::json!({
                "name": info.name,
                "fingerprint": info.fingerprint,
                "files": m.loaded.model.files,
                "backend": m.loaded.backend,
                "device": crate::device::name(&m.loaded.device),
            })
        };
        match &self.ensemble {
            None => one(&self.members[0]),
            Some(e) => serde_json::json!({
                "name": e.name,
                "members": self.members.iter().map(one).collect::<Vec<_>>(),
            }),
        }
    }
}
