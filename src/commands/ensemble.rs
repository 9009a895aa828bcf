//! `frameshift eval --ensemble-with SCORES`: grouped cross-validation of an ensemble of this
//! model's frozen-embedding head and a fine-tuned model, without fine-tuning again; and
//! `frameshift train --ensemble-with MODEL`, which builds the runnable ensemble the same way
//! (see [`train`]; [`super::scorer`] runs it).
//!
//! Takes the scores file an `eval --finetune` run wrote (`<date>-<model>-finetuned.scores.jsonl`:
//! per annotation its out-of-fold `test` probabilities, and per fold the probabilities on the
//! grouped `validation` split that fold's fine-tuning held out for early stopping), and the
//! encoder given by `--model` (e.g. MPNet). Gives `<date>-<model>+<other>.{json,md,scores.jsonl}`
//! with the ensemble's figures beside those of its two members on the same folds.
//!
//! Why this protocol: the two members make different errors (different encoders; one frozen,
//! one tuned), so averaging their probabilities should help, but an ensemble's thresholds
//! must be chosen without the test fold. In outer fold k the fine-tuned model never saw its
//! validation documents V_k, so the head is trained on the training folds *minus* V_k too;
//! both members then score V_k as unseen data, the ensemble's per-frame thresholds are chosen
//! on V_k, and are applied to fold k. Fold k's labels are used only to score. The weights are
//! fixed (equal), not tuned, so there is nothing else to choose.

use super::eval::{publish, test_score_rows};
use super::{load_encoder, CommandError};
use crate::classify::ensemble::{EnsembleFile, ValidationRef, ENSEMBLE_FORMAT};
use crate::classify::{
    best_threshold, grouped_folds, train_head, Frame, FrameScores, LabelSet, LabelledSet,
    TrainOptions,
};
use crate::cli::{EvalArgs, TrainArgs};
use crate::metrics::evaluate;
use crate::settings::Settings;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

/// A fine-tuned cross-validation's scores, by annotation id.
#[derive(Debug, Default)]
struct MemberScores {
    /// Out-of-fold probabilities and the fold they were held out in.
    test: BTreeMap<String, (usize, [f32; 4])>,
    /// Per fold, the validation split's probabilities.
    validation: BTreeMap<usize, BTreeMap<String, [f32; 4]>>,
}

fn read_member(path: &Path) -> Result<MemberScores, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|e| CommandError::io(path.display(), e))?;
    let mut out = MemberScores::default();
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| CommandError::Input(format!("{}:{}: {why}", path.display(), n + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let id = v["id"].as_str().ok_or_else(|| bad("no id"))?.to_string();
        let fold = v["fold"].as_u64().ok_or_else(|| bad("no fold"))? as usize;
        let mut p = [0f32; 4];
        for f in Frame::ALL {
            p[f.index()] = v["scores"][f.name()]
                .as_f64()
                .ok_or_else(|| bad(&format!("no {} score", f.name())))?
                as f32;
        }
        let seen = match v["split"].as_str() {
            Some("test") => out.test.insert(id.clone(), (fold, p)).is_some(),
            Some("validation") => out
                .validation
                .entry(fold)
                .or_default()
                .insert(id.clone(), p)
                .is_some(),
            _ => return Err(bad("split is neither test nor validation")),
        };
        if seen {
            return Err(bad(&format!("{id} appears twice in its split")));
        }
    }
    Ok(out)
}

/// The member's out-of-fold probabilities in annotation order. The scores file must come
/// from the same annotations and folds, or the held-out sets differ and the comparison
/// means nothing.
fn align(member: &MemberScores, ids: &[&str], folds: &[usize]) -> Result<Vec<[f32; 4]>, String> {
    if member.test.len() != ids.len() {
        return Err(format!(
            "{} test rows for {} annotations: made from other annotations",
            member.test.len(),
            ids.len()
        ));
    }
    ids.iter()
        .zip(folds)
        .map(|(id, &k)| match member.test.get(*id) {
            Some((f, p)) if *f == k => Ok(*p),
            Some((f, _)) => Err(format!(
                "{id} was held out in fold {f}, here in fold {k}: made with other folds"
            )),
            None => Err(format!(
                "no test row for annotation {id}: made from other annotations"
            )),
        })
        .collect()
}

/// The member's model name from its scores file's name, `<date>-<model>.scores.jsonl`.
fn member_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_suffix(".scores.jsonl"))
        .unwrap_or("member");
    let dated = stem.len() > 11
        && stem.as_bytes()[10] == b'-'
        && stem[..10].bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if dated { &stem[11..] } else { stem }.to_string()
}

/// The ensemble's probabilities: the same mean the runnable ensemble takes.
fn mean(a: &[f32; 4], b: &FrameScores) -> FrameScores {
    crate::classify::ensemble::mean_scores(&[FrameScores(*a), *b])
}

/// One outer fold's rows: annotation index, the head's own labels, the ensemble's
/// probabilities and labels; and the ensemble's thresholds.
type FoldOut = (Vec<(usize, LabelSet, FrameScores, LabelSet)>, [f32; 4]);

/// Outer fold `k` (see the module docs): `tuned` is the fine-tuned member's out-of-fold
/// probabilities by annotation, `val` its validation rows for this fold (annotation index,
/// probabilities). Fold `k`'s labels are not read.
fn ensemble_fold(
    set: &LabelledSet,
    folds: &[usize],
    k: usize,
    tuned: &[[f32; 4]],
    val: &[(usize, [f32; 4])],
    opts: &TrainOptions,
) -> FoldOut {
    let n = set.len();
    let held: BTreeSet<usize> = val.iter().map(|(i, _)| *i).collect();
    let train: Vec<usize> = (0..n)
        .filter(|&i| folds[i] != k && !held.contains(&i))
        .collect();
    let head = train_head(&set.subset(&train), opts);
    let val_mean: Vec<FrameScores> = val
        .iter()
        .map(|(i, p)| mean(p, &head.score(&set.x[*i])))
        .collect();
    let mut thresholds = [0.5f32; 4];
    for f in Frame::ALL {
        let p: Vec<f64> = val_mean.iter().map(|s| s.get(f) as f64).collect();
        let y: Vec<bool> = val.iter().map(|(i, _)| set.y[*i].contains(f)).collect();
        thresholds[f.index()] = best_threshold(&p, &y);
    }
    let rows = (0..n)
        .filter(|&i| folds[i] == k)
        .map(|i| {
            let (own, own_labels) = head.predict(&set.x[i]);
            let both = mean(&tuned[i], &own);
            (i, own_labels, both, both.labels(&thresholds))
        })
        .collect();
    (rows, thresholds)
}

pub fn cross_validate(
    args: &EvalArgs,
    settings: &Settings,
    member_path: &Path,
) -> Result<ExitCode, CommandError> {
    use rayon::prelude::*;
    let member = read_member(member_path)?;
    let loaded = load_encoder(&args.encoder, settings)?;
    let data = super::train::load_training_data(&args.data, &loaded, &args.encoder, settings)?;
    let mut opts = TrainOptions::default();
    if let Some(seed) = args.seed {
        opts.seed = seed;
    }
    let set = &data.set;
    let n = set.len();
    let folds = grouped_folds(&set.groups, opts.folds, opts.seed);
    let ids: Vec<&str> = data
        .labelled
        .iter()
        .map(|l| l.paragraph.id.as_str())
        .collect();
    let tuned = align(&member, &ids, &folds)
        .map_err(|why| CommandError::Input(format!("{}: {why}", member_path.display())))?;
    let index: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();

    let per_fold: Vec<Result<FoldOut, CommandError>> = (0..opts.folds)
        .into_par_iter()
        .map(|k| {
            let val_scores = member.validation.get(&k).ok_or_else(|| {
                CommandError::Input(format!(
                    "{}: no validation rows for fold {k}",
                    member_path.display()
                ))
            })?;
            let mut val = Vec::new();
            for (id, p) in val_scores {
                let &i = index.get(id.as_str()).ok_or_else(|| {
                    CommandError::Input(format!("{}: unknown id {id}", member_path.display()))
                })?;
                if folds[i] == k {
                    return Err(CommandError::Input(format!(
                        "{}: validation row {id} lies in its own test fold {k}",
                        member_path.display()
                    )));
                }
                val.push((i, *p));
            }
            Ok(ensemble_fold(set, &folds, k, &tuned, &val, &opts))
        })
        .collect();
    let mut head_labels = vec![LabelSet::default(); n];
    let mut ens_scores = vec![FrameScores::default(); n];
    let mut ens_labels = vec![LabelSet::default(); n];
    let mut fold_thresholds = Vec::new();
    for r in per_fold {
        let (rows, t) = r?;
        fold_thresholds.push(t);
        for (i, own, both, labels) in rows {
            head_labels[i] = own;
            ens_scores[i] = both;
            ens_labels[i] = labels;
        }
    }
    let ensemble = evaluate(&set.y, &ens_labels, Some(&ens_scores));
    // The head alone, trained on the same reduced folds at its own thresholds: what the
    // fine-tuned member adds is read against this, not against the full-data head.
    let head_alone = evaluate(&set.y, &head_labels, None);
    let sources = super::eval::by_source(&data.labelled, &set.y, &ens_labels, &ens_scores);
    let model = &loaded.model.spec.name;
    let other = member_name(member_path);
    let name = format!("{model}+{other}");
    let date = super::eval::today_utc();
    let member_sha = crate::weights::sha256_file(member_path)?;
    let thresholds_json: Vec<serde_json::Value> = fold_thresholds
        .iter()
        .map(|t| {
            Frame::ALL
                .iter()
                .map(|f| (f.name().to_string(), (t[f.index()] as f64).into()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .collect();
    let result = serde_json::json!({
        "date": date,
        "frameshift_version": env!("CARGO_PKG_VERSION"),
        "model": name,
        "members": [model, other],
        "model_fingerprint": loaded.model.fingerprint(),
        "member_scores": member_path.file_name().map(|s| s.to_string_lossy().to_string()),
        "member_scores_sha256": member_sha,
        "annotations_sha256": data.annotations.sha256,
        "paragraphs": n,
        "folds": opts.folds,
        "seed": opts.seed,
        "protocol": "grouped k-fold by document, the folds of the member's scores file; in fold k: head trained on the training folds minus the fine-tuned member's validation documents V_k; ensemble = equal-weight mean of the two members' probabilities; per-frame thresholds chosen on V_k (unseen by both members) and applied to fold k",
        "thresholds_by_fold": thresholds_json,
        "macro_f1": ensemble.macro_f1,
        "micro_f1": ensemble.micro_f1,
        "per_frame": serde_json::to_value(&ensemble.per_frame).expect("serialises"),
        "by_source": super::eval::by_source_json(&sources),
        "head_alone_macro_f1": head_alone.macro_f1,
        "head_alone_per_frame": serde_json::to_value(&head_alone.per_frame).expect("serialises"),
        "ensemble_confusions": crate::metrics::confusions(&set.y, &ens_labels),
    });
    let mut md = format!(
        "# frameshift eval --ensemble-with: grouped {}-fold cross-validation ({date})\n\n\
         Ensemble of the `{model}` head and `{other}` (scores file sha256 `{}`): equal-weight \
         mean of probabilities, thresholds chosen per fold on the fine-tuned member's validation \
         documents, which neither member trained on. Annotations sha256 `{}`, {n} paragraphs, seed {}.\n\n",
        opts.folds,
        &member_sha[..16],
        &data.annotations.sha256[..16],
        opts.seed
    );
    md.push_str(&ensemble.to_markdown(&format!("ensemble {name}")));
    md.push('\n');
    for (kind, r) in &sources {
        md.push_str(&r.to_markdown(&format!("ensemble, {kind} paragraphs only")));
        md.push('\n');
    }
    md.push_str(&head_alone.to_markdown(&format!(
        "{model} head alone (same folds, trained without V_k, its own thresholds)"
    )));
    md.push('\n');
    md.push_str(
        &crate::metrics::confusions(&set.y, &ens_labels)
            .to_markdown("ensemble: where the errors go (out-of-fold)"),
    );
    let rows = test_score_rows(&data.labelled, &folds, &set.y, &ens_scores, &ens_labels);
    publish(
        args,
        settings,
        &format!("{date}-{name}"),
        &result,
        &md,
        &rows,
    )
}

/// `frameshift train --model <model> --ensemble-with <fine-tuned>`: the runnable form of
/// the ensemble cross-validated above, built the same way on all annotations. The
/// fine-tuned model held out one grouped split of them (fold 0 of its `validation_folds`
/// at its seed, recorded in its manifest) for early stopping; the head is trained on the
/// rest, both members score that split, and the ensemble's thresholds are chosen on it.
/// Writes `weights/heads/<model>+<other>.json` (or `--out`).
pub fn train(args: &TrainArgs, settings: &Settings, other: &str) -> Result<ExitCode, CommandError> {
    let loaded = load_encoder(&args.encoder, settings)?;
    let mut other_args = args.encoder.clone();
    other_args.model.model = Some(other.to_string());
    other_args.model.weights = None;
    let tuned = load_encoder(&other_args, settings)?;
    let manifest_path = tuned.model.dir.join(super::finetune::MANIFEST);
    if !manifest_path.is_file() {
        return Err(CommandError::Input(format!(
            "--ensemble-with takes a fine-tuned model (`train --finetune`); {other} has no {}",
            super::finetune::MANIFEST
        )));
    }
    let manifest: super::finetune::Manifest = super::finetune::read_json(&manifest_path)?;
    let (_, tuned_head) = super::load_classifier(None, &tuned, settings)?;
    let data = super::train::load_training_data(&args.data, &loaded, &args.encoder, settings)?;
    if manifest.data.annotations_sha256 != data.annotations.sha256 {
        return Err(CommandError::Input(format!(
            "{other} was fine-tuned on annotations {}, these are {}: fine-tune again first",
            &manifest.data.annotations_sha256[..16],
            &data.annotations.sha256[..16]
        )));
    }
    let set = &data.set;
    let (vfolds, seed) = (
        manifest.options.validation_folds.max(2),
        manifest.options.seed,
    );
    let split = grouped_folds(&set.groups, vfolds, seed);
    let (val, rest): (Vec<usize>, Vec<usize>) = (0..set.len()).partition(|&i| split[i] == 0);
    if val.len() != manifest.validation_rows {
        return Err(CommandError::Input(format!(
            "{other} held out {} validation paragraphs, the same split here has {}",
            manifest.validation_rows,
            val.len()
        )));
    }
    // The zero-shot thresholds come along to keep the member a complete head file; the
    // ensemble never uses them.
    let zs = crate::classify::zeroshot::ZeroShot::build(
        loaded.encoder.as_ref(),
        &settings.datasets_dir().join("frames.toml"),
    )?;
    let member =
        super::train::fit_head_file_on(&data, &rest, &loaded, &zs, &TrainOptions::default());
    let head = &member.head;
    let val_texts: Vec<&str> = val
        .iter()
        .map(|&i| data.labelled[i].paragraph.text.as_str())
        .collect();
    let (tuned_vectors, _) = super::embed_with_cache(&other_args, &tuned, &val_texts, settings)?;
    let mut probs = vec![Vec::new(); 4];
    for (k, &i) in val.iter().enumerate() {
        let both = crate::classify::ensemble::mean_scores(&[
            head.score(&set.x[i]),
            tuned_head.score(&tuned_vectors[k].vector, val_texts[k]),
        ]);
        for f in Frame::ALL {
            probs[f.index()].push(both.get(f) as f64);
        }
    }
    let mut thresholds = [0.5f32; 4];
    for f in Frame::ALL {
        let y: Vec<bool> = val.iter().map(|&i| set.y[i].contains(f)).collect();
        thresholds[f.index()] = best_threshold(&probs[f.index()], &y);
    }
    let documents: BTreeSet<&str> = val.iter().map(|&i| set.groups[i].as_str()).collect();
    let name = format!("{}+{}", loaded.model.spec.name, tuned.model.spec.name);
    let file = EnsembleFile {
        format: ENSEMBLE_FORMAT,
        name: name.clone(),
        members: vec![member, tuned_head.file.clone()],
        thresholds,
        data: super::train::fit_head_file_data(&data),
        validation: ValidationRef {
            folds: vfolds,
            seed,
            documents: documents.len(),
            paragraphs: val.len(),
        },
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| super::eval::default_head_path(settings, &name));
    let json = file.to_json();
    super::write_atomically(&out, |w| std::io::Write::write_all(w, json.as_bytes()))?;
    if settings.chatty() {
        let t: Vec<String> = Frame::ALL
            .iter()
            .map(|f| format!("{} {:.2}", f.name(), thresholds[f.index()]))
            .collect();
        eprintln!(
            "ensemble {name}: head trained on {} paragraphs, thresholds ({}) on {} held-out paragraphs from {} documents -> {}",
            rest.len(),
            t.join(", "),
            val.len(),
            documents.len(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::synthetic_set;

    /// A stand-in fine-tuned member: probabilities that follow the features, imperfectly.
    fn member_probs(set: &LabelledSet) -> Vec<[f32; 4]> {
        set.x
            .iter()
            .map(|x| {
                let mut p = [0f32; 4];
                for f in Frame::ALL {
                    let z = 3.0 * x[f.index()] + 0.8 * x[5];
                    p[f.index()] = 1.0 / (1.0 + (-z).exp());
                }
                p
            })
            .collect()
    }

    #[test]
    fn ensemble_fold_never_reads_the_test_folds_labels() {
        let mut set = synthetic_set();
        let folds = grouped_folds(&set.groups, 5, 3);
        let tuned = member_probs(&set);
        let k = 0;
        // Validation: the training rows of two of the other folds' documents.
        let val: Vec<(usize, [f32; 4])> = (0..set.len())
            .filter(|&i| folds[i] == 1)
            .map(|i| (i, tuned[i]))
            .collect();
        let opts = TrainOptions::default();
        let (rows, thresholds) = ensemble_fold(&set, &folds, k, &tuned, &val, &opts);
        assert_eq!(rows.len(), folds.iter().filter(|&&f| f == k).count());
        for (i, _, both, labels) in &rows {
            assert_eq!(folds[*i], k);
            assert_eq!(*labels, both.labels(&thresholds));
            for f in Frame::ALL {
                let p = both.get(f);
                assert!((0.0..=1.0).contains(&p));
            }
        }
        // The ensemble separates the synthetic frames on the held-out fold.
        let right = rows.iter().filter(|(i, _, _, l)| *l == set.y[*i]).count();
        assert!(right * 10 >= rows.len() * 8, "{right}/{} exact", rows.len());

        // Scramble the test fold's labels: nothing it gives may change.
        for (y, _) in set.y.iter_mut().zip(&folds).filter(|(_, &f)| f == k) {
            *y = LabelSet::default();
        }
        let again = ensemble_fold(&set, &folds, k, &tuned, &val, &opts);
        assert_eq!(again.1, thresholds);
        assert_eq!(again.0, rows);

        // The validation labels, by contrast, are what the thresholds come from.
        for (i, _) in &val {
            set.y[*i] = LabelSet::default();
        }
        let blind = ensemble_fold(&set, &folds, k, &tuned, &val, &opts);
        assert_ne!(
            blind.1, thresholds,
            "thresholds must be chosen on the validation rows"
        );
    }

    #[test]
    fn align_refuses_scores_from_other_folds_or_annotations() {
        let mut member = MemberScores::default();
        member.test.insert("a".into(), (0, [0.1; 4]));
        member.test.insert("b".into(), (1, [0.9; 4]));
        let ok = align(&member, &["b", "a"], &[1, 0]).unwrap();
        assert_eq!(ok, vec![[0.9; 4], [0.1; 4]]);
        let folds = align(&member, &["a", "b"], &[1, 0]).unwrap_err();
        assert!(folds.contains("other folds"), "{folds}");
        let ids = align(&member, &["a", "c"], &[0, 1]).unwrap_err();
        assert!(ids.contains("no test row for annotation c"), "{ids}");
        let count = align(&member, &["a"], &[0]).unwrap_err();
        assert!(count.contains("2 test rows for 1 annotations"), "{count}");
    }

    #[test]
    fn read_member_splits_rows_and_rejects_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-11-24-minilm-finetuned.scores.jsonl");
        let row = |id: &str, fold: u32, split: &str| {
            format!(
                r#"{{"id":"{id}","fold":{fold},"split":"{split}","gold":[],"scores":{{"security":0.5,"crime":0.25,"human_rights":0.125,"gender":0.0}}}}"#
            )
        };
        let good = [
            row("a", 0, "test"),
            row("b", 1, "test"),
            row("b", 0, "validation"),
        ];
        std::fs::write(&path, good.join("\n") + "\n").unwrap();
        let m = read_member(&path).unwrap();
        assert_eq!(m.test["a"], (0, [0.5, 0.25, 0.125, 0.0]));
        assert_eq!(m.validation[&0]["b"], [0.5, 0.25, 0.125, 0.0]);
        assert_eq!(member_name(&path), "minilm-finetuned");

        std::fs::write(&path, [row("a", 0, "test"), row("a", 1, "test")].join("\n")).unwrap();
        let e = read_member(&path).unwrap_err().to_string();
        assert!(e.contains(":2: a appears twice"), "{e}");
        std::fs::write(&path, row("a", 0, "train")).unwrap();
        let e = read_member(&path).unwrap_err().to_string();
        assert!(e.contains(":1: split is neither"), "{e}");
    }
}
