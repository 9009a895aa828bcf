//! Int8 linear layers for the fast CPU path (`--precision int8`).
//!
//! Takes a PyTorch-layout weight `[out, in]` once at load, gives [`QLinear::forward`]:
//! `y = x W^T` for `f32` activations, computed in integers. Weights are quantised
//! symmetrically per output channel (`w = s_w[j] * q`, `q` in [-127, 127]); activations per
//! row, dynamically at every call (`x = s_x[m] * q`, same range). Products are summed exactly
//! in `i32`, so the only error is the rounding of the two quantisations.
//!
//! Why this layout: AVX-512 VNNI's `vpdpbusd` multiplies 4 unsigned bytes by 4 signed bytes
//! and adds the four products into one `i32` lane, 16 lanes per instruction. Activations are
//! therefore stored offset by +128 as `u8`, and the offset is removed afterwards with a
//! per-column `128 * sum(q_w)` computed at load. Weights are packed in panels of 64 output
//! columns x 4 inputs (`[n/64][k/4][64][4]`), which is exactly four 512-bit loads per step
//! of 4 inputs. The portable kernel walks the same layout with plain integer arithmetic;
//! integer sums are exact, so both kernels give bit-identical outputs (a unit test checks).
//! Work is split over rows with rayon; rows are independent, so results do not depend on
//! the thread count.

use super::simd::{self, Level};
use rayon::prelude::*;

/// Output columns per packed panel (four 16-lane `i32` vectors).
const NB: usize = 64;
/// Rows per register block of the VNNI kernel (6 x 4 accumulators = 24 of 32 registers).
const MR: usize = 6;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = MR * 8;

/// A linear layer `[n_out, n_in]` quantised per output channel.
pub struct QLinear {
    k: usize,
    n: usize,
    /// `k` rounded up to a multiple of 4 (padding has zero weight).
    kp: usize,
    /// `[ceil(n/64)][kp/4][64][4]`, zero beyond `n` and `k`.
    packed: Vec<i8>,
    /// Per output channel scale.
    scale: Vec<f32>,
    /// `128 * sum_k q[j][k]`, the contribution of the +128 activation offset.
    offset: Vec<i32>,
    vnni: bool,
    level: Level,
}

impl QLinear {
    /// Quantise `w` (`[n, k]` row-major, the PyTorch `Linear` layout).
    pub fn new(w: &[f32], n: usize, k: usize, level: Level) -> QLinear {
        assert_eq!(w.len(), n * k, "weight shape");
        let kp = k.div_ceil(4) * 4;
        let panels = n.div_ceil(NB);
        let mut packed = vec![0i8; panels * NB * kp];
        let mut scale = vec![1f32; n];
        let mut offset = vec![0i32; n];
        for j in 0..n {
            let row = &w[j * k..(j + 1) * k];
            let amax = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scale[j] = s;
            let (panel, col) = (j / NB, j % NB);
            let mut total = 0i32;
            for (kk, x) in row.iter().enumerate() {
                let q = (x / s).round().clamp(-127.0, 127.0) as i8;
                total += q as i32;
                packed[((panel * (kp / 4) + kk / 4) * NB + col) * 4 + kk % 4] = q;
            }
            offset[j] = 128 * total;
        }
        QLinear {
            k,
            n,
            kp,
            packed,
            scale,
            offset,
            vnni: simd::vnni(),
            level,
        }
    }

    pub fn n_out(&self) -> usize {
        self.n
    }

    /// Run the portable kernels only (tests of the fallback path on machines with VNNI).
    #[cfg(test)]
    pub(super) fn force_portable(&mut self) {
        self.vnni = false;
        self.level = Level::Portable;
    }

    /// `out (m x n) = x (m x k) W^T`, or `out += x W^T` when `accumulate`. `scratch` holds
    /// the quantised activations and is grown as needed (kept by the caller across calls).
    pub fn forward(&self, x: &[f32], out: &mut [f32], accumulate: bool, scratch: &mut Vec<u8>) {
        self.forward_with(x, out, accumulate, scratch, self.vnni)
    }

    fn forward_with(
        &self,
        x: &[f32],
        out: &mut [f32],
        accumulate: bool,
        scratch: &mut Vec<u8>,
        vnni: bool,
    ) {
        let m = x.len() / self.k;
        assert_eq!(x.len(), m * self.k, "input shape");
        assert_eq!(out.len(), m * self.n, "output shape");
        scratch.resize(m * self.kp, 0);
        x.par_chunks(ROWS_PER_TASK * self.k)
            .zip(scratch.par_chunks_mut(ROWS_PER_TASK * self.kp))
            .zip(out.par_chunks_mut(ROWS_PER_TASK * self.n))
            .for_each(|((x, a), out)| self.task(x, a, out, accumulate, vnni));
    }

    /// One parallel task: quantise up to [`ROWS_PER_TASK`] rows, multiply, scale, store.
    /// Compiled per instruction set so the quantisation and the epilogue vectorise too.
    fn task(&self, x: &[f32], a: &mut [u8], out: &mut [f32], accumulate: bool, vnni: bool) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            fn avx512(q: &QLinear, x: &[f32], a: &mut [u8], out: &mut [f32], acc: bool, v: bool) {
                q.task_body(x, a, out, acc, v)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2(q: &QLinear, x: &[f32], a: &mut [u8], out: &mut [f32], acc: bool, v: bool) {
                q.task_body(x, a, out, acc, v)
            }
            match self.level {
                // SAFETY: `Level::Avx512` comes from `Level::detect`, which checked these
                // features at run time.
                Level::Avx512 => return unsafe { avx512(self, x, a, out, accumulate, vnni) },
                // SAFETY: `Level::Avx2` implies AVX2 and FMA were detected.
                Level::Avx2 => return unsafe { avx2(self, x, a, out, accumulate, vnni) },
                Level::Portable => {}
            }
        }
        self.task_body(x, a, out, accumulate, vnni)
    }

    #[inline(always)]
    fn task_body(&self, x: &[f32], a: &mut [u8], out: &mut [f32], accumulate: bool, vnni: bool) {
        let rows = x.len() / self.k;
        let mut row_scale = [0f32; ROWS_PER_TASK];
        for r in 0..rows {
            row_scale[r] = quantize_row(
                &x[r * self.k..(r + 1) * self.k],
                &mut a[r * self.kp..(r + 1) * self.kp],
            );
        }
        let mut acc = [0i32; MR * NB];
        let mut r = 0;
        while r < rows {
            let mr = MR.min(rows - r);
            for panel in 0..self.n.div_ceil(NB) {
                self.panel_dot(&a[r * self.kp..(r + mr) * self.kp], panel, &mut acc, vnni);
                let c0 = panel * NB;
                let cols = NB.min(self.n - c0);
                for i in 0..mr {
                    let o = &mut out[(r + i) * self.n + c0..(r + i) * self.n + c0 + cols];
                    let sx = row_scale[r + i];
                    let acc = &acc[i * NB..i * NB + cols];
                    let offset = &self.offset[c0..c0 + cols];
                    let sw = &self.scale[c0..c0 + cols];
                    if accumulate {
                        for j in 0..cols {
                            o[j] += (acc[j] - offset[j]) as f32 * (sx * sw[j]);
                        }
                    } else {
                        for j in 0..cols {
                            o[j] = (acc[j] - offset[j]) as f32 * (sx * sw[j]);
                        }
                    }
                }
            }
            r += mr;
        }
    }

    /// `acc[i][c] = sum_k a[i][k] * q[panel*64 + c][k]` for the (at most [`MR`]) rows of `a`.
    fn panel_dot(&self, a: &[u8], panel: usize, acc: &mut [i32; MR * NB], vnni: bool) {
        let steps = self.kp / 4;
        let w = &self.packed[panel * steps * NB * 4..(panel + 1) * steps * NB * 4];
        #[cfg(target_arch = "x86_64")]
        if vnni {
            // SAFETY: `vnni` is only true when `simd::vnni()` detected AVX-512F/BW/VNNI at
            // run time; the slices' lengths are what `panel_dot_vnni` indexes (checked there
            // with debug assertions, and by construction of `packed` and the row chunks).
            unsafe { panel_dot_vnni(a, self.kp, w, acc) };
            return;
        }
        let _ = vnni;
        panel_dot_portable(self.level, a, self.kp, w, acc);
    }
}

/// Quantise one row to `u8` (value + 128) into `a` (zero padded); returns its scale.
#[inline(always)]
fn quantize_row(x: &[f32], a: &mut [u8]) -> f32 {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
    let inv = 1.0 / s;
    for (q, v) in a.iter_mut().zip(x) {
        *q = (simd::round_to_i32((v * inv).clamp(-127.0, 127.0)) + 128) as u8;
    }
    for q in a[x.len()..].iter_mut() {
        *q = 128;
    }
    s
}

#[inline(always)]
fn panel_dot_portable_body(a: &[u8], kp: usize, w: &[i8], acc: &mut [i32; MR * NB]) {
    let rows = a.len() / kp;
    acc.fill(0);
    for i in 0..rows {
        let a = &a[i * kp..(i + 1) * kp];
        let mut sum = [0i32; NB];
        for (step, wk) in w.chunks_exact(NB * 4).enumerate() {
            let a4 = &a[step * 4..step * 4 + 4];
            for (c, wc) in wk.chunks_exact(4).enumerate() {
                sum[c] += a4[0] as i32 * wc[0] as i32
                    + a4[1] as i32 * wc[1] as i32
                    + a4[2] as i32 * wc[2] as i32
                    + a4[3] as i32 * wc[3] as i32;
            }
        }
        acc[i * NB..(i + 1) * NB].copy_from_slice(&sum);
    }
}

fn panel_dot_portable(level: Level, a: &[u8], kp: usize, w: &[i8], acc: &mut [i32; MR * NB]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn avx2(a: &[u8], kp: usize, w: &[i8], acc: &mut [i32; MR * NB]) {
            panel_dot_portable_body(a, kp, w, acc)
        }
        if level != Level::Portable {
            // SAFETY: levels other than Portable imply AVX2 was detected (`Level::detect`).
            unsafe { avx2(a, kp, w, acc) };
            return;
        }
    }
    let _ = level;
    panel_dot_portable_body(a, kp, w, acc)
}

/// The VNNI register block: up to [`MR`] rows x 64 columns in 24 `zmm` accumulators.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512VNNI. `a` holds `rows <= MR` rows
/// of `kp` bytes, `w` holds `kp / 4` steps of 256 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn panel_dot_vnni(a: &[u8], kp: usize, w: &[i8], acc: &mut [i32; MR * NB]) {
    let rows = a.len() / kp;
    debug_assert!(rows <= MR && w.len() == kp / 4 * NB * 4);
    match rows {
        6 => vnni_block::<6>(a, kp, w, acc),
        5 => vnni_block::<5>(a, kp, w, acc),
        4 => vnni_block::<4>(a, kp, w, acc),
        3 => vnni_block::<3>(a, kp, w, acc),
        2 => vnni_block::<2>(a, kp, w, acc),
        _ => vnni_block::<1>(a, kp, w, acc),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
fn vnni_block<const R: usize>(a: &[u8], kp: usize, w: &[i8], acc: &mut [i32; MR * NB]) {
    use std::arch::x86_64::*;
    let mut c = [[_mm512_setzero_si512(); 4]; R];
    let steps = kp / 4;
    assert!(a.len() >= R * kp && w.len() >= steps * NB * 4);
    let wp = w.as_ptr();
    let ap = a.as_ptr();
    for s in 0..steps {
        // SAFETY: `s < steps`, so the four 64-byte loads at `(s * 4 + j) * 64` lie within
        // `w` (asserted above); unaligned loads are used.
        let wv = unsafe {
            [
                _mm512_loadu_si512(wp.add(s * 256) as *const _),
                _mm512_loadu_si512(wp.add(s * 256 + 64) as *const _),
                _mm512_loadu_si512(wp.add(s * 256 + 128) as *const _),
                _mm512_loadu_si512(wp.add(s * 256 + 192) as *const _),
            ]
        };
        for (i, ci) in c.iter_mut().enumerate() {
            // SAFETY: row `i < R` and byte `s * 4 + 3 < kp` lie within `a` (asserted above);
            // the 4-byte read is unaligned.
            let a4 = unsafe { (ap.add(i * kp + s * 4) as *const i32).read_unaligned() };
            let av = _mm512_set1_epi32(a4);
            for (cij, wj) in ci.iter_mut().zip(&wv) {
                *cij = _mm512_dpbusd_epi32(*cij, av, *wj);
            }
        }
    }
    for (i, ci) in c.iter().enumerate() {
        for (j, cij) in ci.iter().enumerate() {
            // SAFETY: `acc` has `MR * 64` elements and `i < R <= MR`, `j < 4`: the 16 lanes
            // at `i * 64 + j * 16` are in bounds.
            unsafe { _mm512_storeu_si512(acc.as_mut_ptr().add(i * NB + j * 16) as *mut _, *cij) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = (i as u32 ^ seed).wrapping_mul(2_654_435_761) >> 8;
                h as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn int8_linear_is_close_to_f32_and_kernels_agree() {
        // Odd sizes: a partial panel, k not a multiple of 4, a partial row block.
        let (m, n, k) = (53, 70, 37);
        let w = values(n * k, 7);
        let x = values(m * k, 11);
        let q = QLinear::new(&w, n, k, Level::detect());
        let mut scratch = Vec::new();
        let mut portable = vec![0f32; m * n];
        q.forward_with(&x, &mut portable, false, &mut scratch, false);
        for r in 0..m {
            for j in 0..n {
                let exact: f32 = (0..k).map(|c| x[r * k + c] * w[j * k + c]).sum();
                let got = portable[r * n + j];
                assert!((got - exact).abs() < 0.05, "({r},{j}): {got} vs {exact}");
            }
        }
        if simd::vnni() {
            let mut fast = vec![1f32; m * n];
            q.forward_with(&x, &mut fast, false, &mut scratch, true);
            assert_eq!(
                fast, portable,
                "VNNI and portable kernels must agree exactly"
            );
            let mut acc = vec![1f32; m * n];
            q.forward_with(&x, &mut acc, true, &mut scratch, true);
            for (a, p) in acc.iter().zip(&portable) {
                assert_eq!(*a, 1.0 + p);
            }
        }
    }
}
