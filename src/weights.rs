//! (being written)
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{0}")]
    Other(String),
}
