//! Corpus readers (placeholder: being written for issue 3).

/// One input document with its metadata.
#[derive(Debug, Clone)]
pub struct Document {
    pub symbol: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{0}")]
    Unsupported(String),
}
