//! Element-wise kernels of the fast CPU forward pass: GELU (erf form), softmax and
//! LayerNorm over contiguous `f32` rows.
//!
//! Takes slices, gives results in place. Why it is written this way: `libm`'s `erff`/`expf`
//! are scalar calls, and on a BERT forward GELU alone is ~550k evaluations per paragraph, so
//! a scalar GELU would cost about as much as all the matrix products. Here `exp` and `erf`
//! are branch-free polynomials on plain `f32` arithmetic, written so that LLVM vectorises the
//! loops; each public function is compiled three times (AVX-512, AVX2+FMA, baseline) and
//! [`Level`] picks one at run time, so the binary still runs on any x86-64 and on aarch64.
//!
//! Accuracy: `exp` has a relative error below 2e-7 on the range used, `erf` (Abramowitz &
//! Stegun 7.1.26, evaluated in `f32`) an absolute error below 1e-6, near `f32` rounding
//! and far inside the 0.9999 cosine the embeddings are held to. Reductions use fixed-width
//! lane accumulators in a fixed order, so results are bit-identical from run to run for a
//! given [`Level`].

/// Instruction-set level the kernels run at, detected once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// x86-64 with AVX-512F/BW/VL (and VNNI for int8 when [`vnni`] says so).
    Avx512,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// Anything else: the same code compiled for the baseline target.
    Portable,
}

impl Level {
    pub fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx2;
            }
        }
        Level::Portable
    }
}

/// Whether the int8 kernel can use AVX-512 VNNI (`vpdpbusd`).
pub fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compile `$body` (a function taking `$args`) once per [`Level`] and dispatch on `level`.
macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident($level:ident: Level, $($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
        $(#[$doc])*
        pub fn $name($level: Level, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { $body($($arg),*) }
                match $level {
                    // SAFETY: `Level::Avx512` is only produced by `Level::detect` after
                    // checking these features at run time.
                    Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above, `Level::Avx2` implies AVX2 and FMA were detected.
                    Level::Avx2 => return unsafe { avx2($($arg),*) },
                    Level::Portable => {}
                }
            }
            let _ = $level;
            $body($($arg),*)
        }
    };
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// Adding this to a float in [-2^22, 2^22] rounds it to an integer (ties to even) held in
/// the low mantissa bits: a branch-free float-to-int that vectorises, where `as i32`
/// (saturating, NaN-checked) makes LLVM fall back to scalar code.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `round(x) as i32` for |x| < 2^22, vectorisable (see [`ROUND_MAGIC`]).
#[inline(always)]
pub(crate) fn round_to_i32(x: f32) -> i32 {
    ((x + ROUND_MAGIC).to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32)
}

/// `e^x` for `x` in about [-87, 88] (clamped outside), branch-free so loops vectorise.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Cephes expf polynomial on [-ln2/2, ln2/2].
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let p = p * r * r + r + 1.0;
    // n is in [-126, 127]: 2^n built directly in the exponent bits.
    let e = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let scale = f32::from_bits(((e + 127) as u32) << 23);
    p * scale
}

/// `erf(x)`, Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut p = 1.061_405_4f32;
    p = p * t - 1.453_152_1;
    p = p * t + 1.421_413_7;
    p = p * t - 0.284_496_72;
    p = p * t + 0.254_829_6;
    let y = 1.0 - p * t * exp(-a * a);
    y.copysign(x)
}

#[inline(always)]
fn bias_gelu_body(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            let v = *x + b;
            *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatch! {
    /// `x = gelu(x + bias)` for every row of `rows` (row length = `bias.len()`), with the
    /// erf form of GELU that BERT uses.
    pub fn bias_gelu(level: Level, rows: &mut [f32], bias: &[f32]) => bias_gelu_body
}

const LANES: usize = 16;

#[inline(always)]
fn lane_sum(acc: [f32; LANES]) -> f32 {
    // Fixed pairwise order: deterministic and the same for every level.
    let mut a = acc;
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            a[i] += a[i + w];
        }
        w /= 2;
    }
    a[0]
}

#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    lane_sum(acc) + tail.iter().sum::<f32>()
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    let m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    tail.iter().copied().fold(m, f32::max)
}

#[inline(always)]
fn softmax_rows_body(rows: &mut [f32], width: usize, scale: f32) {
    for row in rows.chunks_exact_mut(width) {
        let m = max(row) * scale;
        for x in row.iter_mut() {
            *x = exp(*x * scale - m);
        }
        let inv = 1.0 / sum(row);
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

dispatch! {
    /// Row-wise `softmax(scale * x)` over rows of `width` (scale > 0).
    pub fn softmax_rows(level: Level, rows: &mut [f32], width: usize, scale: f32) => softmax_rows_body
}

#[inline(always)]
fn bias_layer_norm_body(rows: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = bias.len();
    for row in rows.chunks_exact_mut(n) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
        let mean = sum(row) / n as f32;
        let mut acc = [0f32; LANES];
        let chunks = row.chunks_exact(LANES);
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|x| (x - mean) * (x - mean))
            .sum();
        for c in chunks {
            for i in 0..LANES {
                let d = c[i] - mean;
                acc[i] += d * d;
            }
        }
        let var = (lane_sum(acc) + tail) / n as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *x = (*x - mean) * inv * g + b;
        }
    }
}

dispatch! {
    /// `x = LayerNorm(x + bias) * gamma + beta` per row (row length = `bias.len()`); the
    /// residual has already been added into `x` by the matrix product that produced it.
    pub fn bias_layer_norm(level: Level, rows: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], eps: f32) => bias_layer_norm_body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> Vec<Level> {
        let mut l = vec![Level::Portable];
        let d = Level::detect();
        if d != Level::Portable {
            l.push(d);
        }
        #[cfg(target_arch = "x86_64")]
        if d == Level::Avx512 {
            l.push(Level::Avx2);
        }
        l
    }

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0f64;
        let mut worst_erf = 0f64;
        for i in -20000..=20000 {
            let x = i as f32 / 1000.0;
            let e = exp(x) as f64;
            let want = (x as f64).exp();
            worst_exp = worst_exp.max(((e - want) / want).abs());
            let want = libm_erf(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - want).abs());
        }
        assert!(worst_exp < 4e-7, "exp rel error {worst_exp}");
        // A&S bound 1.5e-7 plus f32 rounding of the result and of `exp`.
        assert!(worst_erf < 1e-6, "erf abs error {worst_erf}");
    }

    /// erf by its Taylor series / continued fraction is overkill here: integrate
    /// 2/sqrt(pi) e^{-t^2} with Simpson's rule in f64, accurate to ~1e-12 on [-20, 20].
    fn libm_erf(x: f64) -> f64 {
        let n = 4000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn levels_agree_and_kernels_are_right() {
        let width = 37;
        let data: Vec<f32> = (0..width * 5)
            .map(|i| ((i * 7919) % 101) as f32 / 10.0 - 5.0)
            .collect();
        let bias: Vec<f32> = (0..width).map(|i| i as f32 / 50.0).collect();
        let gamma: Vec<f32> = (0..width).map(|i| 1.0 + i as f32 / 100.0).collect();
        let mut outs = Vec::new();
        for level in levels() {
            let mut g = data.clone();
            bias_gelu(level, &mut g, &bias);
            let mut s = data.clone();
            softmax_rows(level, &mut s, width, 0.5);
            let mut n = data.clone();
            bias_layer_norm(level, &mut n, &bias, &gamma, &bias, 1e-12);
            outs.push((g, s, n));
        }
        let (g, s, n) = &outs[0];
        for (i, (x, y)) in data.iter().zip(g).enumerate() {
            let v = (*x + bias[i % width]) as f64;
            let want = 0.5 * v * (1.0 + libm_erf(v / 2f64.sqrt()));
            assert!(
                (*y as f64 - want).abs() < 1e-5,
                "gelu({v}) = {y}, want {want}"
            );
        }
        for row in s.chunks(width) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        for row in n.chunks(width) {
            let m: f32 = row
                .iter()
                .zip(&gamma)
                .zip(&bias)
                .map(|((x, g), b)| (x - b) / g)
                .sum::<f32>()
                / width as f32;
            assert!(m.abs() < 1e-4);
        }
        for o in &outs[1..] {
            for (a, b) in [(&o.0, g), (&o.1, s), (&o.2, n)] {
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
                }
            }
        }
    }
}
