//! The two checksums a pack needs besides SHA-1: zlib's Adler-32, which ends each object's
//! stream, and the CRC-32 the index keeps of each object's bytes. A first reconcile of 500
//! projects packs about 35 MB of status; a byte at a time, the two sums took more CPU than the
//! pack's SHA-1 (issue #21). So:
//! - Adler-32 sums 32 lanes side by side and folds them into the two sums every 32 KiB: the
//!   compiler turns the lanes into vector additions (AVX2 when the CPU has it). About four
//!   times the speed of the byte loop, measured on status YAML.
//! - CRC-32 folds 64 bytes at a time with carry-less multiplication (PCLMULQDQ) when the CPU has
//!   it, the method of Intel's paper "Fast CRC Computation for Generic Polynomials Using
//!   PCLMULQDQ Instruction"; else, and for the last bytes, it looks up tables eight bytes at a
//!   time.
//!
//! The tests hold both to their definitions, one byte and one bit at a time, on every length
//! up to a few hundred bytes and at every split.

/// zlib's Adler-32 of `data`.
pub(super) fn adler32(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { adler32_avx2(data) };
    }
    adler32_lanes(data)
}

/// [`adler32_lanes`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn adler32_avx2(data: &[u8]) -> u32 {
    adler32_lanes(data)
}

/// Adler-32 over 32 lanes: lane `j` sums byte `j` of every 32-byte block (`sums`), and the
/// sums it had before each block (`before`); the two Adler sums follow from those.
#[inline(always)]
fn adler32_lanes(data: &[u8]) -> u32 {
    const MOD: u64 = 65521;
    const LANES: usize = 32;
    // Blocks per fold: a lane of `before` reaches at most 1024² · 255, below 2³².
    const BLOCKS: usize = 1024;
    let (mut a, mut b) = (1u64, 0u64);
    for chunk in data.chunks(BLOCKS * LANES) {
        let mut blocks = chunk.chunks_exact(LANES);
        let mut sums = [0u32; LANES];
        let mut before = [0u32; LANES];
        let mut count = 0u64;
        for block in &mut blocks {
            for j in 0..LANES {
                before[j] += sums[j];
                sums[j] += u32::from(block[j]);
            }
            count += 1;
        }
        // Block k adds 32·(a before it) + Σ (32 − j)·byte j to b, and Σ bytes to a.
        let (mut sum, mut prior, mut weighted) = (0u64, 0u64, 0u64);
        for j in 0..LANES {
            sum += u64::from(sums[j]);
            prior += u64::from(before[j]);
            weighted += (LANES - j) as u64 * u64::from(sums[j]);
        }
        b = (b + count * LANES as u64 * a + LANES as u64 * prior + weighted) % MOD;
        a = (a + sum) % MOD;
        for &byte in blocks.remainder() {
            a += u64::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    ((b << 16) | a) as u32
}

/// The CRC-32 (IEEE, as zlib and git's pack index compute it) of the bytes seen so far
/// (`crc`, 0 at the start) followed by `data`.
pub(super) fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    !crc32_register(!crc, data)
}

/// The CRC register after `data`, from register `c` (no inversions).
fn crc32_register(c: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= 64
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        let (whole, rest) = data.split_at(data.len() & !15);
        // SAFETY: the CPU has PCLMULQDQ and SSE4.1; `whole` is 64 bytes or more, in 16s.
        let c = unsafe { crc32_fold(c, whole) };
        return crc32_tables(c, rest);
    }
    crc32_tables(c, data)
}

/// The CRC register after `data` (64 bytes or more, a multiple of 16), folded 64 bytes at a
/// time, then 16, then reduced to 32 bits (Barrett). Constants for the bit-reflected
/// polynomial 0xEDB88320: `x^n mod P(x)` for the fold distances, and P(x) with its
/// Barrett quotient.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse4.1")]
unsafe fn crc32_fold(c: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::*;
    debug_assert!(data.len() >= 64 && data.len().is_multiple_of(16));
    let load = |at: usize| {
        // SAFETY: callers stay within `data`; unaligned loads.
        unsafe { _mm_loadu_si128(data.as_ptr().add(at).cast()) }
    };
    // Fold by 64 bytes (lo, hi), by 16 bytes (lo, hi).
    let by64 = _mm_set_epi64x(0x1_c6e4_1596, 0x1_5444_2bd4);
    let by16 = _mm_set_epi64x(0x0_ccaa_009e, 0x1_7519_97d0);
    let by4 = _mm_set_epi64x(0, 0x1_63cd_6124);
    // Barrett: P(x) (lo) and the quotient of x^64 by it (hi).
    let barrett = _mm_set_epi64x(0x1_f701_1641, 0x1_db71_0641);
    let low32 = _mm_set_epi32(0, 0, 0, -1);
    let fold = |x: __m128i, k: __m128i, next: __m128i| {
        let lo = _mm_clmulepi64_si128(x, k, 0x00);
        let hi = _mm_clmulepi64_si128(x, k, 0x11);
        _mm_xor_si128(_mm_xor_si128(lo, hi), next)
    };
    let mut x = [
        _mm_xor_si128(load(0), _mm_cvtsi32_si128(c as i32)),
        load(16),
        load(32),
        load(48),
    ];
    let mut at = 64;
    while data.len() - at >= 64 {
        for (i, lane) in x.iter_mut().enumerate() {
            *lane = fold(*lane, by64, load(at + 16 * i));
        }
        at += 64;
    }
    let mut one = fold(fold(fold(x[0], by16, x[1]), by16, x[2]), by16, x[3]);
    while at < data.len() {
        one = fold(one, by16, load(at));
        at += 16;
    }
    // 128 bits to 64, then to 32 (each step also appends 32 zero bits, as a CRC does).
    let one = _mm_xor_si128(
        _mm_srli_si128(one, 8),
        _mm_clmulepi64_si128(one, by16, 0x10),
    );
    let one = _mm_xor_si128(
        _mm_srli_si128(one, 4),
        _mm_clmulepi64_si128(_mm_and_si128(one, low32), by4, 0x00),
    );
    let q = _mm_clmulepi64_si128(_mm_and_si128(one, low32), barrett, 0x10);
    let r = _mm_clmulepi64_si128(_mm_and_si128(q, low32), barrett, 0x00);
    _mm_extract_epi32(_mm_xor_si128(one, r), 1) as u32
}

/// The CRC register after `data`, eight bytes per step through [`CRC_TABLES`].
fn crc32_tables(mut c: u32, data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut chunks = data.chunks_exact(8);
    for b in &mut chunks {
        let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][b[4] as usize]
            ^ t[2][b[5] as usize]
            ^ t[1][b[6] as usize]
            ^ t[0][b[7] as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// CRC-32 tables for slicing by eight.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that look like nothing in particular, the same in every run.
    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// Adler-32 as zlib defines it, a byte at a time.
    fn adler32_bytewise(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u64, 0u64);
        for &x in data {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        ((b << 16) | a) as u32
    }

    /// CRC-32 as the polynomial defines it, a bit at a time.
    fn crc32_bitwise(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn adler32_is_zlibs_at_every_length() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let data = noise(40000);
        for n in (0..700).chain([4095, 4096, 4097, 32767, 32768, 32769, 40000]) {
            assert_eq!(
                adler32(&data[..n]),
                adler32_bytewise(&data[..n]),
                "{n} bytes"
            );
            assert_eq!(adler32_lanes(&data[..n]), adler32_bytewise(&data[..n]));
        }
        // Sums pushed as high as bytes push them, over many folds.
        let ff = vec![0xffu8; 300_000];
        assert_eq!(adler32(&ff), adler32_bytewise(&ff));
    }

    #[test]
    fn crc32_is_the_polynomials_at_every_length_and_split() {
        assert_eq!(crc32_update(0, b""), 0);
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        let data = noise(5000);
        for n in (0..600).chain([1023, 1024, 1025, 4999, 5000]) {
            let want = crc32_bitwise(&data[..n]);
            assert_eq!(crc32_update(0, &data[..n]), want, "{n} bytes");
            assert_eq!(!crc32_tables(!0, &data[..n]), want, "{n} bytes, tables");
        }
        let whole = crc32_update(0, &data);
        for cut in [1, 7, 8, 9, 63, 64, 65, 500, 4999] {
            let (a, b) = data.split_at(cut);
            assert_eq!(crc32_update(crc32_update(0, a), b), whole, "split at {cut}");
        }
        // Unaligned starts.
        for start in 1..17 {
            let part = &data[start..start + 1000];
            assert_eq!(crc32_update(0, part), crc32_bitwise(part), "from {start}");
        }
    }

    /// The folding path itself, whatever `crc32_update` picks on this machine.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn crc32_folding_is_the_polynomials() {
        if !std::arch::is_x86_feature_detected!("pclmulqdq")
            || !std::arch::is_x86_feature_detected!("sse4.1")
        {
            eprintln!("this CPU cannot fold (no PCLMULQDQ): only the tables were checked");
            return;
        }
        let data = noise(3000);
        for n in (64..=3000).step_by(16) {
            // SAFETY: the CPU has both features; n is 64 or more, in 16s.
            let folded = unsafe { crc32_fold(!0, &data[..n]) };
            assert_eq!(!folded, crc32_bitwise(&data[..n]), "{n} bytes");
        }
    }
}
