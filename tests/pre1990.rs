//! The pre-1990 check set (datasets/pre1990/): 240 resolution paragraphs of 1946-1989, the
//! years the annotations never reached, read twice and blind, disagreements adjudicated. It
//! is drawn as documented (no held-out resolution, nothing already annotated, no corpus
//! text), its gold labels are exactly what the readings and the adjudication give, and the
//! committed figures in eval/pre1990/ are what `frameshift agreement` and `frameshift eval
//! --gold` give on it. The figure tests need the shared corpus and the MPNet weights and
//! fail saying how to get them.

mod common;

use common::checkset::CheckSet;

const PRE1990: CheckSet = CheckSet {
    name: "pre1990",
    n: 240,
    years: (1946, 1989),
};

#[test]
fn pre1990_set_comes_from_years_the_annotations_never_reached_and_holds_no_text() {
    PRE1990.check_drawn_as_documented();
}

#[test]
fn pre1990_gold_is_the_agreed_labels_or_the_adjudicated_ones() {
    PRE1990.check_gold_is_agreed_or_adjudicated();
}

#[test]
fn committed_pre1990_agreement_is_what_the_two_readings_give() {
    PRE1990.check_committed_agreement();
}

/// The default classifier's figures on the pre-1990 set, as the README reports them.
#[test]
fn committed_pre1990_figures_of_the_default_are_what_eval_gold_gives() {
    PRE1990.check_committed_figures(&[], "default");
}

/// The same for the MPNet head trained with the pre-1990 batch too,
/// `weights/heads/mpnet-1946.json` (README "How does it do before 1990?"): its figures there
/// are the reason it is committed.
#[test]
fn committed_pre1990_figures_of_the_mpnet_1946_head_are_what_eval_gold_gives() {
    let head = common::repo_root().join("weights/heads/mpnet-1946.json");
    PRE1990.check_committed_figures(
        &["--model", "mpnet", "--head", head.to_str().unwrap()],
        "mpnet-1946",
    );
}

/// The same for `weights/mpnet-bitfit-1946/`, BitFit MPNet's recipe trained with the
/// pre-1990 batch too, the classifier the README advises for analyses that reach before 1990.
#[test]
fn committed_pre1990_figures_of_mpnet_bitfit_1946_are_what_eval_gold_gives() {
    PRE1990.check_committed_figures(&["--model", "mpnet-bitfit-1946"], "mpnet-bitfit-1946");
}

/// The same for `weights/mpnet-bitfit/`, BitFit MPNet, the default until 2026-12-07
/// (the README's pre-1990 table compares it with the default that replaced it).
#[test]
fn committed_pre1990_figures_of_mpnet_bitfit_are_what_eval_gold_gives() {
    PRE1990.check_committed_figures(&["--model", "mpnet-bitfit"], "mpnet-bitfit");
}

/// The same for `weights/mpnet-finetuned-all-r64/`, the default's recipe trained with both
/// pending batches too, the classifier the README advises for analyses from 1946.
#[test]
fn committed_pre1990_figures_of_mpnet_finetuned_all_are_what_eval_gold_gives() {
    PRE1990.check_committed_figures(
        &["--model", "mpnet-finetuned-all-r64"],
        "mpnet-finetuned-all-r64",
    );
}
