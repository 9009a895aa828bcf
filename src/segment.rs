//! Paragraph segmentation (placeholder: being written for issue 3).

/// One paragraph with a stable id.
#[derive(Debug, Clone)]
pub struct Paragraph {
    pub id: String,
    pub text: String,
}
