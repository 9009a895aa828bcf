//! Labelled data: gold files for `frameshift eval --gold`, and (with the segmenter) the
//! project's annotations in `datasets/annotations/`.
//!
//! Takes JSONL files, gives [`GoldItem`]s (text plus codebook labels). Lines that cannot be
//! used are returned with their line number and reason rather than aborting the run: one
//! bad line must not cost a scholar the whole evaluation.

use crate::classify::LabelSet;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no usable lines")]
    Empty { path: String },
}

/// One gold paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldItem {
    pub text: String,
    pub labels: LabelSet,
    /// 1-based line in the gold file.
    pub line: usize,
}

#[derive(Deserialize)]
struct GoldLine {
    text: String,
    labels: Vec<String>,
}

/// Parsed gold file: usable items and rejected lines with reasons.
#[derive(Debug, Default)]
pub struct Gold {
    pub items: Vec<GoldItem>,
    pub rejected: Vec<(usize, String)>,
}

pub fn read_gold(path: &Path) -> Result<Gold, DatasetError> {
    let text = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut gold = Gold::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<GoldLine>(line) {
            Ok(g) => match LabelSet::from_names(&g.labels) {
                Ok(labels) => gold.items.push(GoldItem {
                    text: g.text,
                    labels,
                    line: i + 1,
                }),
                Err(why) => gold.rejected.push((i + 1, why)),
            },
            Err(e) => gold.rejected.push((i + 1, e.to_string())),
        }
    }
    if gold.items.is_empty() {
        return Err(DatasetError::Empty {
            path: path.display().to_string(),
        });
    }
    Ok(gold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gold_lines_parse_and_bad_lines_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        std::fs::write(
            &path,
            "{\"text\": \"a\", \"labels\": [\"crime\"], \"id\": 7}\n\n{\"text\": \"b\", \"labels\": []}\n{\"text\": \"c\", \"labels\": [\"peace\"]}\nnope\n",
        )
        .unwrap();
        let g = read_gold(&path).unwrap();
        assert_eq!(g.items.len(), 2);
        assert_eq!(g.items[0].labels.names(), vec!["crime"]);
        assert!(g.items[1].labels.is_empty());
        assert_eq!(g.items[1].line, 3);
        assert_eq!(
            g.rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(g.rejected[0].1.contains("peace"));
    }
}
