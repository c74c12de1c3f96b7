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
}
