//! BIP39 seed phrases (English word list) and the BIP39 seed.

use core::fmt;
use std::borrow::Cow;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result, os_random};
use crate::secret::Seed;

/// How many words a newly generated seed phrase has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WordCount {
    /// 12 words, 128 bits of entropy.
    Twelve,
    /// 24 words, 256 bits of entropy.
    TwentyFour,
}

impl WordCount {
    fn entropy_len(self) -> usize {
        match self {
            WordCount::Twelve => 16,
            WordCount::TwentyFour => 32,
        }
    }
}

/// A BIP39 seed phrase. Zeroized on drop; `Debug` shows only the word count.
///
/// Reading the words is explicit: [`Mnemonic::phrase`] and [`Mnemonic::word`].
pub struct Mnemonic(bip39::Mnemonic);

/// PBKDF2 iteration count fixed by BIP39.
const BIP39_PBKDF2_ROUNDS: u32 = 2048;

impl Mnemonic {
    /// Generates a new English seed phrase from the operating system's RNG.
    ///
    /// # Errors
    /// [`Error::Rng`] if the OS RNG fails.
    pub fn generate(words: WordCount) -> Result<Self> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        let len = words.entropy_len();
        os_random(&mut entropy[..len])?;
        Self::from_entropy(&entropy[..len])
    }

    /// Builds the phrase that encodes `entropy` (16, 20, 24, 28 or 32 bytes).
    ///
    /// # Errors
    /// [`Error::BadWordCount`] when the entropy length is not one BIP39 allows.
    pub fn from_entropy(entropy: &[u8]) -> Result<Self> {
        bip39::Mnemonic::from_entropy(entropy)
            .map(Mnemonic)
            .map_err(|_| Error::BadWordCount {
                count: entropy.len() * 3 / 4,
            })
    }

    /// Parses and validates an English phrase: every word in the list, a valid word count, a
    /// matching checksum. Whitespace between words may be any amount; case must be lower.
    ///
    /// # Errors
    /// [`Error::UnknownWord`] (with its 1-based position), [`Error::BadWordCount`],
    /// [`Error::BadChecksum`]. No error message contains a word of the phrase.
    pub fn parse(phrase: &str) -> Result<Self> {
        // Checked in this order so the error names the first problem a user can fix.
        let count = phrase.split_whitespace().count();
        for (i, w) in phrase.split_whitespace().enumerate() {
            if bip39::Language::English.find_word(w).is_none() {
                return Err(Error::UnknownWord { position: i + 1 });
            }
        }
        if !matches!(count, 12 | 15 | 18 | 21 | 24) {
            return Err(Error::BadWordCount { count });
        }
        let mut normalized = Zeroizing::new(String::with_capacity(phrase.len()));
        for (i, w) in phrase.split_whitespace().enumerate() {
            if i > 0 {
                normalized.push(' ');
            }
            normalized.push_str(w);
        }
        bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
            .map(Mnemonic)
            .map_err(|e| match e {
                bip39::Error::UnknownWord(i) => Error::UnknownWord { position: i + 1 },
                bip39::Error::BadWordCount(c) => Error::BadWordCount { count: c },
                _ => Error::BadChecksum,
            })
    }

    /// Number of words.
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The word at 0-based `index` (for the backup quiz), or `None` when out of range.
    pub fn word(&self, index: usize) -> Option<&'static str> {
        self.0.words().nth(index)
    }

    /// The whole phrase, words separated by one space, in a zeroizing string.
    pub fn phrase(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.word_count() * 9));
        for (i, w) in self.0.words().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(w);
        }
        s
    }

    /// The entropy the phrase encodes (16 to 32 bytes), in a zeroizing buffer.
    pub fn entropy(&self) -> Zeroizing<Vec<u8>> {
        let (mut arr, len) = self.0.to_entropy_array();
        let out = Zeroizing::new(arr[..len].to_vec());
        arr.zeroize();
        out
    }

    /// The 64-byte BIP39 seed: PBKDF2-HMAC-SHA512(phrase, "mnemonic" + passphrase, 2048 rounds),
    /// the passphrase NFKD-normalized as BIP39 requires. Costs about 1 ms (2048 rounds).
    ///
    /// Computed here rather than by the `bip39` crate so that every intermediate block is
    /// zeroized and the seed is built in place in its final allocation.
    pub fn to_seed(&self, passphrase: &str) -> Seed {
        let mut pass: Cow<'_, str> = Cow::Borrowed(passphrase);
        bip39::Mnemonic::normalize_utf8_cow(&mut pass);
        let phrase = self.phrase();
        let mut salt = Zeroizing::new(Vec::with_capacity(8 + pass.len()));
        salt.extend_from_slice(b"mnemonic");
        salt.extend_from_slice(pass.as_bytes());
        if let Cow::Owned(mut s) = pass {
            s.zeroize();
        }
        let mut seed = Seed::zeroed();
        pbkdf2_hmac_sha512_one_block(phrase.as_bytes(), &salt, seed.as_mut());
        seed
    }
}

/// PBKDF2-HMAC-SHA512 producing exactly one 64-byte block (BIP39's dkLen), zeroizing
/// every intermediate block.
fn pbkdf2_hmac_sha512_one_block(password: &[u8], salt: &[u8], out: &mut [u8; 64]) {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let Ok(keyed) = <Hmac<Sha512> as KeyInit>::new_from_slice(password) else {
        unreachable!("HMAC accepts keys of any length")
    };
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u = mac.finalize().into_bytes();
    out.copy_from_slice(&u);
    for _ in 1..BIP39_PBKDF2_ROUNDS {
        let mut mac = keyed.clone();
        mac.update(&u);
        let mut next = mac.finalize().into_bytes();
        for (o, b) in out.iter_mut().zip(next.iter()) {
            *o ^= *b;
        }
        u.as_mut_slice().copy_from_slice(&next);
        next.as_mut_slice().zeroize();
    }
    u.as_mut_slice().zeroize();
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mnemonic")
            .field("words", &self.word_count())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Mnemonic {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        let (a, b) = (self.entropy(), other.entropy());
        a.len() == b.len() && bool::from(a.as_slice().ct_eq(b.as_slice()))
    }
}
impl Eq for Mnemonic {}
