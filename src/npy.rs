//! Minimal NumPy `.npy` (format 1.0) reading and writing for float32 matrices.
//!
//! Takes a row-major `[rows, cols]` f32 buffer, gives a file that `numpy.load` opens directly,
//! and reads such files back (for tests, merging shards and comparisons). A whole crate for
//! this would pull in more than the ~60 lines it needs.

use std::io::{Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a float32 2-D .npy file ({why})")]
    Format { path: String, why: String },
}

/// A row-major float32 matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

fn header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic(6) + version(2) + len(2) + dict + padding + '\n' must be a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let mut text = dict.into_bytes();
    text.extend(std::iter::repeat_n(b' ', pad));
    text.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend(text);
    out
}

/// Write `data` (`rows * cols` values) to `w` in `.npy` format.
pub fn write_f32<W: Write>(
    mut w: W,
    rows: usize,
    cols: usize,
    data: &[f32],
) -> std::io::Result<()> {
    assert_eq!(
        data.len(),
        rows * cols,
        "matrix data does not match its shape"
    );
    w.write_all(&header(rows, cols))?;
    let mut bytes = Vec::with_capacity(data.len() * 4);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    w.write_all(&bytes)?;
    w.flush()
}

pub fn read_f32(path: &Path) -> Result<Matrix, NpyError> {
    let fmt = |why: &str| NpyError::Format {
        path: path.display().to_string(),
        why: why.to_string(),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| NpyError::Io {
            path: path.display().to_string(),
            source,
        })?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fmt("bad magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(fmt("unsupported version")),
    };
    let text = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
            .ok_or_else(|| fmt("short header"))?,
    )
    .map_err(|_| fmt("header not UTF-8"))?;
    if !text.contains("'<f4'") || text.contains("'fortran_order': True") {
        return Err(fmt("expected little-endian float32, C order"));
    }
    let shape = text
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| fmt("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| fmt("bad shape")))
        .collect::<Result<_, _>>()?;
    let (rows, cols) = match dims.as_slice() {
        [r, c] => (*r, *c),
        _ => return Err(fmt("not 2-D")),
    };
    let body = &bytes[start + hlen..];
    if body.len() != rows * cols * 4 {
        return Err(fmt("data length does not match shape"));
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Matrix { rows, cols, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_f32(std::fs::File::create(&path).unwrap(), 3, 4, &data).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            (bytes.len() - 12 * 4) % 64,
            0,
            "header must be 64-byte aligned"
        );
        let m = read_f32(&path).unwrap();
        assert_eq!((m.rows, m.cols), (3, 4));
        assert_eq!(m.data, data);
        assert_eq!(m.row(2), &data[8..12]);
    }

    #[test]
    fn empty_matrix_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        write_f32(std::fs::File::create(&path).unwrap(), 0, 384, &[]).unwrap();
        let m = read_f32(&path).unwrap();
        assert_eq!((m.rows, m.cols), (0, 384));
    }
}
