//! The one random number generator of the core: xoshiro256++ (Blackman & Vigna 2018) seeded by
//! SplitMix64, with one independent stream per fixed-size chunk of work so that Monte Carlo
//! results depend only on (inputs, seed), never on the thread count.
//!
//! It is small enough that `brickwall.reference.rng` replays it bit for bit in Python.

/// SplitMix64 step: the standard seeder for the xoshiro family.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose four state words are the first four SplitMix64 outputs of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        Self { s: [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)] }
    }

    /// The stream of chunk `chunk` of a run seeded with `seed`: seeded from a SplitMix64 mix of
    /// both, so neighbouring chunks and seeds give unrelated streams.
    pub fn for_chunk(seed: u64, chunk: u64) -> Self {
        let mut sm = seed ^ chunk.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Self::new(splitmix64(&mut sm))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// A uniform double in [0, 1) from the top 53 bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in [0, n) by Lemire's multiply-shift (bias below 2^-32 for n < 2^32;
    /// no rejection so the stream stays replayable one draw per call).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vector() {
        // xoshiro256++ from state [1, 2, 3, 4]: the first outputs of the authors' C code.
        let mut r = Rng { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, vec![41943041, 58720359, 3588806011781223]);
    }

    #[test]
    fn splitmix_reference() {
        // SplitMix64 from seed 1234567: published first output.
        let mut s = 1234567u64;
        assert_eq!(splitmix64(&mut s), 6457827717110365317);
    }

    #[test]
    fn uniform_in_unit_interval_and_below_in_range() {
        let mut r = Rng::for_chunk(7, 3);
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(16) < 16);
        }
    }
}
