//! Low-rank compression of a fully fine-tuned encoder: each weight matrix's change from
//! the base model, approximated at a fixed rank.
//!
//! Takes a matrix difference `m = W_tuned - W_base` (row-major, f64) and a rank; gives the
//! two thin factors `b` (rows x rank) and `a` (rank x cols) with `m ~ b a`, in the layout of
//! LoRA's saved adapters ([`super::finetune::LORA_A`], [`super::finetune::LORA_B`]), so a
//! compressed model is stored and rebuilt exactly as a LoRA model is
//! ([`super::finetune::merge_low_rank`], the same bits on every machine).
//!
//! Why: a fully fine-tuned MPNet is 438 MB, too large to commit, and its training is not
//! bit-reproducible across CPUs, so it cannot be rebuilt from a recipe to a hash either;
//! the change fine-tuning makes to each matrix is much smaller than the matrix and, in
//! practice, concentrated in few directions, so its best rank-r approximation keeps most of
//! it in a file of a few megabytes. How much it keeps (`kept`, the share of the squared
//! Frobenius norm) is reported per matrix, and what matters, how far the compressed
//! model's probabilities move from the full model's, is measured on paragraphs by the
//! caller (`eval --gold --scores` on both).
//!
//! The method is randomized subspace iteration (Halko, Martinsson and Tropp, "Finding
//! structure with randomness", SIAM Review 53(2), 2011, Algorithm 4.4): a seeded random
//! start, `iterations` rounds of multiplying by `m` and `m^T` with re-orthonormalisation,
//! then `b` = the orthonormal basis found and `a = b^T m`, the projection of `m` onto it.
//! With a few rounds it is within rounding of the truncated SVD when the singular values
//! fall off, and never worse than a projection; it needs only matrix products, so no
//! linear-algebra dependency is added. Deterministic: fixed seed, fixed summation order.

/// The factors of a rank-`rank` approximation `b a` of a `rows x cols` matrix.
#[derive(Debug, Clone)]
pub struct LowRank {
    /// `rank x cols`, row-major.
    pub a: Vec<f32>,
    /// `rows x rank`, row-major, orthonormal columns.
    pub b: Vec<f32>,
    pub rank: usize,
    /// Share of `m`'s squared Frobenius norm that `b a` keeps (1 for a zero matrix).
    pub kept: f64,
}

/// Rank-`rank` approximation of `m` (`rows x cols`, row-major); `rank` is capped at
/// `min(rows, cols)`, where the approximation is exact up to rounding and no rounds run.
pub fn low_rank(
    m: &[f64],
    rows: usize,
    cols: usize,
    rank: usize,
    iterations: usize,
    seed: u64,
) -> LowRank {
    assert_eq!(m.len(), rows * cols, "matrix of {rows} x {cols}");
    let k = rank.min(rows).min(cols);
    let mut rng = super::finetune::SplitMix(seed);
    // Uniform entries in [-1, 1): any start with a component along every singular
    // direction works (Gaussian in the paper; the rounds below make the difference moot).
    let omega: Vec<f64> = (0..cols * k).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let mut q = times(m, rows, cols, &omega, k);
    orthonormalise(&mut q, rows, k);
    // At full rank the start already spans the whole space (unless it is degenerate, which
    // a random start is not), so rounds would change nothing but the rounding.
    let iterations = if k == rows.min(cols) { 0 } else { iterations };
    for _ in 0..iterations {
        let mut z = transposed_times(m, rows, cols, &q, k);
        orthonormalise(&mut z, cols, k);
        q = times(m, rows, cols, &z, k);
        orthonormalise(&mut q, rows, k);
    }
    // a = q^T m, computed as (m^T q)^T.
    let mt_q = transposed_times(m, rows, cols, &q, k); // cols x k
    let mut a = vec![0f64; k * cols];
    for j in 0..cols {
        for r in 0..k {
            a[r * cols + j] = mt_q[j * k + r];
        }
    }
    let total: f64 = m.iter().map(|x| x * x).sum();
    let kept_norm: f64 = a.iter().map(|x| x * x).sum();
    LowRank {
        a: a.iter().map(|&x| x as f32).collect(),
        b: q.iter().map(|&x| x as f32).collect(),
        rank: k,
        kept: if total > 0.0 { kept_norm / total } else { 1.0 },
    }
}

/// `m x` for `m` (`rows x cols`) and `x` (`cols x k`), both row-major: `rows x k`.
fn times(m: &[f64], rows: usize, cols: usize, x: &[f64], k: usize) -> Vec<f64> {
    let mut y = vec![0f64; rows * k];
    for i in 0..rows {
        let out = &mut y[i * k..(i + 1) * k];
        for (j, &mij) in m[i * cols..(i + 1) * cols].iter().enumerate() {
            for (o, &xj) in out.iter_mut().zip(&x[j * k..(j + 1) * k]) {
                *o += mij * xj;
            }
        }
    }
    y
}

/// `m^T q` for `m` (`rows x cols`) and `q` (`rows x k`), both row-major: `cols x k`.
fn transposed_times(m: &[f64], rows: usize, cols: usize, q: &[f64], k: usize) -> Vec<f64> {
    let mut z = vec![0f64; cols * k];
    for i in 0..rows {
        let qi = &q[i * k..(i + 1) * k];
        for (j, &mij) in m[i * cols..(i + 1) * cols].iter().enumerate() {
            for (o, &qv) in z[j * k..(j + 1) * k].iter_mut().zip(qi) {
                *o += mij * qv;
            }
        }
    }
    z
}

/// Make the `k` columns of `y` (`n x k`, row-major) orthonormal, in order (modified
/// Gram-Schmidt, run twice: one pass loses orthogonality when columns are nearly
/// dependent, as they become over the rounds). A column with nothing left (the matrix has
/// lower rank than `k`) becomes zero and adds nothing to the approximation. Works on a
/// column-major copy, so that every inner loop runs over contiguous memory.
fn orthonormalise(y: &mut [f64], n: usize, k: usize) {
    let mut cols: Vec<Vec<f64>> = (0..k)
        .map(|c| (0..n).map(|i| y[i * k + c]).collect())
        .collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut scale: Vec<f64> = cols.iter().map(|c| norm(c)).collect();
    for _pass in 0..2 {
        for (c, scale) in scale.iter_mut().enumerate() {
            let (done, rest) = cols.split_at_mut(c);
            let col = &mut rest[0];
            for p in done.iter() {
                let dot: f64 = col.iter().zip(p).map(|(x, y)| x * y).sum();
                for (x, y) in col.iter_mut().zip(p) {
                    *x -= dot * y;
                }
            }
            let left = norm(col);
            // Relative to the column's size before projection: what is left of a column
            // inside the span of the earlier ones is rounding, not a direction.
            let keep = left > 1e-10 * scale.max(f64::MIN_POSITIVE);
            for x in col.iter_mut() {
                *x = if keep { *x / left } else { 0.0 };
            }
            // The next pass measures against the column as it now is.
            *scale = if keep { 1.0 } else { 0.0 };
        }
    }
    for (c, col) in cols.iter().enumerate() {
        for (i, x) in col.iter().enumerate() {
            y[i * k + c] = *x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n x k` with orthonormal columns, from a seeded start.
    fn orthonormal(n: usize, k: usize, seed: u64) -> Vec<f64> {
        let mut rng = crate::classify::finetune::SplitMix(seed);
        let mut y: Vec<f64> = (0..n * k).map(|_| rng.unit() - 0.5).collect();
        orthonormalise(&mut y, n, k);
        y
    }

    /// `u diag(s) v^T` for orthonormal `u` (rows x s.len()) and `v` (cols x s.len()).
    fn with_spectrum(rows: usize, cols: usize, s: &[f64]) -> Vec<f64> {
        let k = s.len();
        let (u, v) = (orthonormal(rows, k, 1), orthonormal(cols, k, 2));
        let mut m = vec![0f64; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                m[i * cols + j] = (0..k).map(|r| u[i * k + r] * s[r] * v[j * k + r]).sum();
            }
        }
        m
    }

    fn product(lr: &LowRank, rows: usize, cols: usize) -> Vec<f64> {
        let mut out = vec![0f64; rows * cols];
        for i in 0..rows {
            for r in 0..lr.rank {
                let b = lr.b[i * lr.rank + r] as f64;
                for j in 0..cols {
                    out[i * cols + j] += b * lr.a[r * cols + j] as f64;
                }
            }
        }
        out
    }

    fn max_abs_diff(x: &[f64], y: &[f64]) -> f64 {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_matrix_of_the_target_rank_is_recovered() {
        let (rows, cols) = (40, 70);
        let m = with_spectrum(rows, cols, &[3.0, 1.0, 0.2]);
        let lr = low_rank(&m, rows, cols, 3, 2, 7);
        assert!((lr.kept - 1.0).abs() < 1e-9, "kept {}", lr.kept);
        // f32 factors: agreement to f32 rounding of entries of size ~0.1.
        assert!(max_abs_diff(&product(&lr, rows, cols), &m) < 1e-6);
    }

    #[test]
    fn the_kept_share_is_the_truncated_svds_when_the_spectrum_falls_off() {
        let (rows, cols) = (60, 50);
        let s: Vec<f64> = (0..20).map(|i| 0.7f64.powi(i)).collect();
        let m = with_spectrum(rows, cols, &s);
        let total: f64 = s.iter().map(|x| x * x).sum();
        let best: f64 = s[..5].iter().map(|x| x * x).sum::<f64>() / total;
        let lr = low_rank(&m, rows, cols, 5, 12, 11);
        assert!(
            lr.kept <= best + 1e-12,
            "more than the optimum: {}",
            lr.kept
        );
        assert!(best - lr.kept < 1e-6, "kept {} against {best}", lr.kept);
        // The factor b has orthonormal columns.
        for p in 0..5 {
            for c in 0..5 {
                let dot: f64 = (0..rows)
                    .map(|i| lr.b[i * 5 + p] as f64 * lr.b[i * 5 + c] as f64)
                    .sum();
                let want = if p == c { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-6, "b^T b [{p},{c}] = {dot}");
            }
        }
    }

    #[test]
    fn full_rank_is_exact_and_a_zero_matrix_stays_zero() {
        let (rows, cols) = (12, 9);
        let mut rng = crate::classify::finetune::SplitMix(3);
        let m: Vec<f64> = (0..rows * cols).map(|_| rng.unit() - 0.5).collect();
        let lr = low_rank(&m, rows, cols, 50, 1, 5);
        assert_eq!(lr.rank, 9, "rank capped at the smaller side");
        assert!(max_abs_diff(&product(&lr, rows, cols), &m) < 1e-6);

        let zero = low_rank(&vec![0.0; rows * cols], rows, cols, 4, 2, 5);
        assert_eq!(zero.kept, 1.0);
        assert!(zero.a.iter().chain(&zero.b).all(|&x| x == 0.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_factors() {
        let (rows, cols) = (30, 20);
        let m = with_spectrum(rows, cols, &[1.0, 0.5, 0.25, 0.1]);
        let (x, y) = (
            low_rank(&m, rows, cols, 2, 3, 9),
            low_rank(&m, rows, cols, 2, 3, 9),
        );
        assert_eq!(x.a, y.a);
        assert_eq!(x.b, y.b);
    }
}
