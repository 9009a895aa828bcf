//! (being written)
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("{0}")]
    Other(String),
}
