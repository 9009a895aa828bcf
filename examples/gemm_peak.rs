//! Sustained f32 GEMM throughput of this machine, for the FLOP-bound ceiling of the
//! embedding paths (README, Performance): the same `gemm` crate and call shape as the fast
//! encoder's linear layers (rows x 384 times 384 x 1536 and 1536 x 384), all threads, a
//! fixed number of repetitions after a warm-up; prints GFLOP/s per shape and their median.
//!
//! `cargo run --release --example gemm_peak [SECONDS_PER_SHAPE]`

use std::time::Instant;

fn run(m: usize, k: usize, n: usize, seconds: f64) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
    let mut c = vec![0f32; m * n];
    let threads = rayon::current_num_threads();
    let once = |c: &mut [f32]| unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(threads),
        )
    };
    for _ in 0..3 {
        once(&mut c);
    }
    let start = Instant::now();
    let mut reps = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        once(&mut c);
        reps += 1;
    }
    let flops = 2.0 * (m * k * n) as f64 * reps as f64;
    std::hint::black_box(&c);
    flops / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mut rates = Vec::new();
    // Rows: a batch of ~2,048 tokens, as the token budget makes them.
    for (m, k, n) in [
        (2048, 384, 1152),
        (2048, 384, 1536),
        (2048, 1536, 384),
        (2048, 384, 384),
    ] {
        let g = run(m, k, n, seconds);
        println!("{m} x {k} x {n}: {g:.1} GFLOP/s");
        rates.push(g);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    let median = (rates[1] + rates[2]) / 2.0;
    println!(
        "median {median:.1} GFLOP/s on {} threads",
        rayon::current_num_threads()
    );
}
