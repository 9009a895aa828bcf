//! frameshift: how UN Security Council texts frame their subjects, and how that framing moves.
//!
//! The crate is a pipeline; each stage is one module and hands typed values to the next:
//!
//! 1. [`corpus`]: files (resolutions, meeting records, speeches, generic text/JSONL/CSV) ->
//!    [`corpus::Document`]s with metadata (symbol, kind, number, year, speaker, ...).
//! 2. [`segment`]: a `Document` -> [`segment::Paragraph`]s with stable ids
//!    (`S/RES/1325 (2000)#op8a`), page furniture removed, agenda tags attached.
//! 3. [`embed`]: paragraph texts -> [`embed::Embedding`]s from a sentence encoder
//!    (MiniLM or MPNet through candle), windowed so nothing is silently truncated, batched
//!    by a token budget, results in input order.
//! 4. [`classify`]: embeddings -> [`classify::FrameScores`] (a probability per codebook frame)
//!    and label sets, from a multi-label logistic head trained in Rust with grouped
//!    cross-validation ([`metrics`] scores any method the same way), or from an encoder
//!    (BERT or MPNet) fine-tuned together with that head ([`classify::finetune`]).
//!
//!    [`citations`] finds the legal instruments and resolutions each paragraph cites.
//! 5. [`aggregate`]: per-paragraph frames -> shares per year and agenda with bootstrap CIs
//!    over documents, conditional shares, the dilution index, trends and change points.
//!
//! 6. [`report`]: the aggregates -> `report.html` / `report.md` with charts, tables and the
//!    run's provenance. `frameshift analyze` runs stages 1-6 over a corpus.
//!
//! Around the pipeline: [`weights`] finds and sha256-checks model files, [`device`] picks the
//! compute device once, [`cli`] and [`settings`] turn flags into one [`settings::Settings`]
//! value, and [`commands`] runs each subcommand of the `frameshift` binary.

// Pipeline stages, in order (one group each so rustfmt keeps the order).
pub mod corpus;

pub mod segment;

pub mod embed;

pub mod classify;

pub mod citations;

pub mod aggregate;

pub mod report;

// Around the pipeline.

pub mod cache;
pub mod cli;
pub mod commands;
pub mod dataset;
pub mod device;
pub mod metrics;
pub mod npy;
pub mod settings;
pub mod weights;
