//! `frameshift train`: fit the frame head on the project's annotations.
//!
//! Takes `datasets/annotations/` (joined with the segmented corpus) and an encoder, gives
//! `weights/heads/<model>.json`: the head, the encoder it belongs to (fingerprint and file
//! hashes), the data hash and the options. Training is deterministic, so rerunning on the
//! same data and weights reproduces the committed file byte for byte. With `--finetune` the
//! encoder is trained too ([`super::finetune`]).

use super::{load_encoder, write_atomically, CommandError, LoadedEncoder};
use crate::classify::lexicon::Lexicon;
use crate::classify::zeroshot::ZeroShot;
use crate::classify::{
    best_threshold, head_features, quantize_for_reproducibility, train_head, DataRef, EncoderRef,
    Frame, HeadFile, LabelledSet, TrainOptions, HEAD_FORMAT,
};
use crate::cli::{DataArgs, EncoderArgs, TrainArgs};
use crate::dataset::{join_annotations, read_annotation_dirs, AnnotationSet, Labelled};
use crate::segment::AgendaRules;
use crate::settings::Settings;
use std::process::ExitCode;

/// The annotations joined with their paragraphs, embedded.
pub struct TrainingData {
    pub annotations: AnnotationSet,
    pub labelled: Vec<Labelled>,
    /// The rounded embeddings (what the zero-shot baseline reads).
    pub vectors: Vec<Vec<f32>>,
    /// The head's features ([`head_features`]) with labels and documents.
    pub set: LabelledSet,
    /// The lexicon whose indicators are part of the features (`datasets/lexicon.toml`).
    pub lexicon: Lexicon,
}

pub fn load_training_data(
    data: &DataArgs,
    encoder: &LoadedEncoder,
    args: &EncoderArgs,
    settings: &Settings,
) -> Result<TrainingData, CommandError> {
    let dirs = if data.annotations.is_empty() {
        vec![settings.datasets_dir().join("annotations")]
    } else {
        data.annotations.clone()
    };
    let corpus = data.corpus.clone().unwrap_or_else(|| settings.corpus_dir());
    let annotations = read_annotation_dirs(&dirs)?;
    let rules = AgendaRules::load(&settings.datasets_dir().join("agendas.toml"))?;
    let labelled = join_annotations(&annotations, &corpus, &rules)?;
    let texts: Vec<&str> = labelled.iter().map(|l| l.paragraph.text.as_str()).collect();
    if settings.chatty() {
        eprintln!("embedding {} annotated paragraphs...", texts.len());
    }
    let (vectors, _) = super::embed_with_cache(args, encoder, &texts, settings)?;
    let lexicon = Lexicon::load(&settings.datasets_dir().join("lexicon.toml"))?;
    let set = LabelledSet {
        x: vectors
            .iter()
            .zip(&texts)
            .map(|(v, t)| head_features(&v.vector, t, &lexicon))
            .collect(),
        y: labelled.iter().map(|l| l.labels).collect(),
        groups: labelled.iter().map(|l| l.paragraph.doc.clone()).collect(),
    };
    Ok(TrainingData {
        annotations,
        labelled,
        vectors: vectors
            .iter()
            .map(|v| quantize_for_reproducibility(&v.vector))
            .collect(),
        set,
        lexicon,
    })
}

/// Train the head and the zero-shot thresholds on all of `data`.
pub fn fit_head_file(
    data: &TrainingData,
    encoder: &LoadedEncoder,
    zeroshot: &ZeroShot,
    opts: &TrainOptions,
) -> HeadFile {
    let all: Vec<usize> = (0..data.set.len()).collect();
    fit_head_file_on(data, &all, encoder, zeroshot, opts)
}

/// Train the head and the zero-shot thresholds on the annotations `rows` of `data` (an
/// ensemble's member is trained without the documents its thresholds are chosen on).
pub fn fit_head_file_on(
    data: &TrainingData,
    rows: &[usize],
    encoder: &LoadedEncoder,
    zeroshot: &ZeroShot,
    opts: &TrainOptions,
) -> HeadFile {
    let set = data.set.subset(rows);
    let head = train_head(&set, opts);
    let mut zeroshot_thresholds = [0.5f32; 4];
    for f in Frame::ALL {
        let scores: Vec<f64> = rows
            .iter()
            .map(|&i| zeroshot.scores(&data.vectors[i])[f.index()] as f64)
            .collect();
        let truth: Vec<bool> = set.y.iter().map(|y| y.contains(f)).collect();
        zeroshot_thresholds[f.index()] = best_threshold(&scores, &truth);
    }
    HeadFile {
        format: HEAD_FORMAT,
        encoder: EncoderRef {
            model: encoder.model.spec.name.clone(),
            fingerprint: encoder.model.fingerprint(),
            files: encoder.model.files.clone(),
        },
        data: data_ref(&set, &data.annotations.sha256),
        options: *opts,
        head,
        zeroshot_thresholds,
        lexicon: data.lexicon.terms(),
    }
}

/// What a head file records about the data it was trained on.
pub fn fit_head_file_data(data: &TrainingData) -> DataRef {
    data_ref(&data.set, &data.annotations.sha256)
}

/// What a head trained on `set` (drawn from the annotations with `annotations_sha256`)
/// records about its data.
pub fn data_ref(set: &LabelledSet, annotations_sha256: &str) -> DataRef {
    let positives = Frame::ALL
        .iter()
        .map(|f| {
            (
                f.name().to_string(),
                set.y.iter().filter(|y| y.contains(*f)).count(),
            )
        })
        .chain(std::iter::once((
            "none".to_string(),
            set.y.iter().filter(|y| y.is_empty()).count(),
        )))
        .collect();
    let documents: std::collections::BTreeSet<&str> =
        set.groups.iter().map(|g| g.as_str()).collect();
    DataRef {
        annotations_sha256: annotations_sha256.to_string(),
        paragraphs: set.len(),
        documents: documents.len(),
        positives,
    }
}

pub fn run(args: &TrainArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    if args.finetune {
        return super::finetune::train(args, settings);
    }
    if let Some(other) = &args.ensemble_with {
        return super::ensemble::train(args, settings, other);
    }
    let encoder = load_encoder(&args.encoder, settings)?;
    let data = load_training_data(&args.data, &encoder, &args.encoder, settings)?;
    let zeroshot = ZeroShot::build(
        encoder.encoder.as_ref(),
        &settings.datasets_dir().join("frames.toml"),
    )?;
    let head = fit_head_file(&data, &encoder, &zeroshot, &TrainOptions::default());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| super::eval::default_head_path(settings, &encoder.model.spec.name));
    let json = head.to_json();
    write_atomically(&out, |w| std::io::Write::write_all(w, json.as_bytes()))?;
    if settings.chatty() {
        for fh in &head.head.frames {
            eprintln!("{}: L2 {} threshold {:.2}", fh.frame, fh.l2, fh.threshold);
        }
        eprintln!(
            "trained on {} paragraphs from {} documents -> {}",
            head.data.paragraphs,
            head.data.documents,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
