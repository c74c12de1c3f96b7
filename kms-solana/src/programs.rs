//! Well-known program and account addresses as `[u8; 32]` constants (decoded from base58 at
//! compile time), and a `const` base58 decoder for 32-byte addresses.

use crate::message::Address;

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

const fn digit(c: u8) -> Option<u32> {
    let mut i = 0;
    while i < 58 {
        if ALPHABET[i] == c {
            return Some(i as u32);
        }
        i += 1;
    }
    None
}

/// Decodes a base58 address into exactly 32 bytes, or `None` if `s` is not the canonical base58
/// form of 32 bytes. Usable in `const` context and without `std`; cost is O(len × 32).
///
/// ```
/// use kms_solana::{address_from_base58, programs::SYSTEM_PROGRAM};
/// assert_eq!(address_from_base58("11111111111111111111111111111111"), Some(SYSTEM_PROGRAM));
/// assert_eq!(address_from_base58("0OIl"), None);
/// ```
pub const fn address_from_base58(s: &str) -> Option<Address> {
    let s = s.as_bytes();
    if s.is_empty() || s.len() > 44 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut ones = 0;
    while ones < s.len() && s[ones] == b'1' {
        ones += 1;
    }
    let mut i = 0;
    while i < s.len() {
        let mut carry = match digit(s[i]) {
            Some(d) => d,
            None => return None,
        };
        let mut j = 32;
        while j > 0 {
            j -= 1;
            carry += (out[j] as u32) * 58;
            out[j] = (carry & 0xff) as u8;
            carry >>= 8;
        }
        if carry != 0 {
            return None;
        }
        i += 1;
    }
    // Canonical: exactly `ones` leading zero bytes (base58 writes each leading zero byte as '1').
    let mut zeros = 0;
    while zeros < 32 && out[zeros] == 0 {
        zeros += 1;
    }
    if zeros != ones {
        return None;
    }
    Some(out)
}

/// Writes the base58 text of an address into `out` and returns it. No allocation, no `std`;
/// many times faster than a generic byte-at-a-time encoder (used by the describer).
///
/// ```
/// use kms_solana::{address_to_base58, programs::TOKEN_PROGRAM};
/// let mut buf = [0u8; 44];
/// assert_eq!(address_to_base58(&TOKEN_PROGRAM, &mut buf), "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// ```
pub fn address_to_base58<'o>(a: &Address, out: &'o mut [u8; 44]) -> &'o str {
    // The 256-bit number as 8 big-endian u32 limbs is converted to 9 digits in base 58^5 by one
    // multiplication with a precomputed table (limb weight 2^(32k) written in base 58^5), then
    // each digit gives 5 base58 characters.
    let mut limbs = [0u64; 8];
    for (l, c) in limbs.iter_mut().zip(a.chunks_exact(4)) {
        *l = u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut acc = [0u64; 9];
    // Two halves keep every sum below 2^64: 4 products < 2^61.3 each, plus a normalized carry.
    for half in [0..4, 4..8] {
        for i in half {
            for (j, t) in B58_TABLE[i].iter().enumerate() {
                acc[j] += limbs[i] * t;
            }
        }
        for j in (1..9).rev() {
            acc[j - 1] += acc[j] / B58_BASE;
            acc[j] %= B58_BASE;
        }
    }
    let mut digits = [0u8; 45];
    for (j, &v) in acc.iter().enumerate() {
        let mut v = v;
        for k in (0..5).rev() {
            digits[j * 5 + k] = (v % 58) as u8;
            v /= 58;
        }
    }
    let skip = digits.iter().take_while(|&&d| d == 0).count();
    let zeros = a.iter().take_while(|&&b| b == 0).count();
    let n = 45 - skip;
    out[..zeros].fill(b'1');
    for (o, &d) in out[zeros..zeros + n].iter_mut().zip(&digits[skip..]) {
        *o = ALPHABET[usize::from(d)];
    }
    // Only alphabet bytes were written.
    core::str::from_utf8(&out[..zeros + n]).unwrap_or_default()
}

const B58_BASE: u64 = 58 * 58 * 58 * 58 * 58; // 58^5 < 2^32

/// `B58_TABLE[i][j]`: digit `j` (most significant first) of 2^(32·(7−i)) in base 58^5.
const B58_TABLE: [[u64; 9]; 8] = {
    let mut t = [[0u64; 9]; 8];
    let mut i = 0;
    while i < 8 {
        let mut d = [0u64; 9];
        d[8] = 1;
        let mut k = 0;
        while k < 7 - i {
            let mut carry = 0u64;
            let mut j = 9;
            while j > 0 {
                j -= 1;
                let v = d[j] * (1u64 << 32) + carry;
                d[j] = v % B58_BASE;
                carry = v / B58_BASE;
            }
            k += 1;
        }
        t[i] = d;
        i += 1;
    }
    t
};

#[allow(
    clippy::panic,
    reason = "evaluated in const context only: a bad literal fails the build"
)]
const fn decode(s: &str) -> Address {
    match address_from_base58(s) {
        Some(a) => a,
        None => panic!("invalid base58 address literal"),
    }
}

/// System program.
pub const SYSTEM_PROGRAM: Address = decode("11111111111111111111111111111111");
/// SPL Token program.
pub const TOKEN_PROGRAM: Address = decode("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
/// SPL Token-2022 program.
pub const TOKEN_2022_PROGRAM: Address = decode("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// Associated Token Account program.
pub const ASSOCIATED_TOKEN_PROGRAM: Address =
    decode("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// Compute Budget program.
pub const COMPUTE_BUDGET_PROGRAM: Address = decode("ComputeBudget111111111111111111111111111111");
/// SPL Memo program v2 (current).
pub const MEMO_PROGRAM: Address = decode("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
/// SPL Memo program v1 (legacy).
pub const MEMO_V1_PROGRAM: Address = decode("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo");
/// Raydium Liquidity Pool (AMM) v4.
pub const RAYDIUM_AMM_V4_PROGRAM: Address = decode("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8");
/// pump.fun bonding-curve program.
pub const PUMP_FUN_PROGRAM: Address = decode("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P");
/// PumpSwap AMM (pump.fun's AMM for graduated coins).
pub const PUMP_AMM_PROGRAM: Address = decode("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA");
/// Jupiter aggregator v6.
pub const JUPITER_V6_PROGRAM: Address = decode("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4");
/// Address Lookup Table program.
pub const ADDRESS_LOOKUP_TABLE_PROGRAM: Address =
    decode("AddressLookupTab1e1111111111111111111111111");
/// Stake program.
pub const STAKE_PROGRAM: Address = decode("Stake11111111111111111111111111111111111111");
/// Vote program.
pub const VOTE_PROGRAM: Address = decode("Vote111111111111111111111111111111111111111");
/// BPF upgradeable loader.
pub const BPF_LOADER_UPGRADEABLE: Address = decode("BPFLoaderUpgradeab1e11111111111111111111111");
/// Rent sysvar.
pub const SYSVAR_RENT: Address = decode("SysvarRent111111111111111111111111111111111");
/// Recent-blockhashes sysvar (durable nonce instructions).
pub const SYSVAR_RECENT_BLOCKHASHES: Address =
    decode("SysvarRecentB1ockHashes11111111111111111111");
/// Instructions sysvar.
pub const SYSVAR_INSTRUCTIONS: Address = decode("Sysvar1nstructions1111111111111111111111111");
/// Wrapped SOL mint (SPL Token "native mint").
pub const NATIVE_MINT: Address = decode("So11111111111111111111111111111111111111112");
/// Wrapped SOL mint of Token-2022.
pub const NATIVE_MINT_2022: Address = decode("9pan9bMn5HatX4EJdBwg9VgCa7Uz5HL8N1m5D3NdXejP");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_canonical_and_wrong_length() {
        // 31 bytes (one leading '1' short) and 33 bytes do not decode to an address.
        assert_eq!(address_from_base58("1111111111111111111111111111111"), None);
        assert_eq!(
            address_from_base58("111111111111111111111111111111111"),
            None
        );
        assert_eq!(address_from_base58(""), None);
        assert_eq!(
            address_from_base58("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"),
            None
        );
        assert_eq!(SYSTEM_PROGRAM, [0u8; 32]);
    }

    #[test]
    fn fast_base58_round_trips() {
        let mut buf = [0u8; 44];
        let mut x = [0u8; 32];
        // Leading zeros of every length, and pseudo-random tails.
        for z in 0..=32 {
            for seed in 0..40u32 {
                for (i, b) in x.iter_mut().enumerate() {
                    *b = if i < z {
                        0
                    } else {
                        (seed.wrapping_mul(2_654_435_761).rotate_left(i as u32) >> 7) as u8 | 1
                    };
                }
                let s = address_to_base58(&x, &mut buf);
                assert_eq!(address_from_base58(s), Some(x), "{s}");
            }
        }
        assert_eq!(address_to_base58(&[0xff; 32], &mut buf).len(), 44);
        assert_eq!(
            address_to_base58(&[0; 32], &mut buf),
            "11111111111111111111111111111111"
        );
    }
}
