//! The seed-phrase backup quiz.

use rand_core::TryCryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::digest::random_below;
use crate::error::IntentError;
use crate::wire::{Reader, Writer};

/// Words asked by default.
pub const DEFAULT_QUIZ_WORDS: usize = 3;

/// Where the seed-phrase backup stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedBackup {
    /// The phrase has not been shown yet.
    #[default]
    NotShown,
    /// The phrase was shown once; the quiz is waiting for answers.
    QuizPending {
        /// Words in the phrase.
        word_count: u8,
        /// Zero-based positions asked, in the order asked.
        positions: Vec<u8>,
    },
    /// The user proved the backup at this time.
    Confirmed {
        /// Unix time of the confirmation.
        at: u64,
    },
}

/// The quiz to show: the one-based word positions to ask for, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedQuiz {
    /// One-based positions ("word #4").
    pub positions: Vec<usize>,
}

impl SeedBackup {
    pub(crate) fn start<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        word_count: usize,
        k: usize,
    ) -> Result<SeedQuiz, IntentError> {
        if !matches!(self, Self::NotShown) {
            return Err(IntentError::SeedAlreadyShown);
        }
        if !matches!(word_count, 12 | 15 | 18 | 21 | 24) {
            return Err(IntentError::InvalidInput {
                field: "word_count",
                reason: "not 12, 15, 18, 21 or 24",
            });
        }
        if k == 0 || k > word_count {
            return Err(IntentError::InvalidInput {
                field: "quiz words",
                reason: "not 1 to the phrase length",
            });
        }
        // Partial Fisher-Yates over 0..word_count: k distinct uniform positions.
        let mut all: Vec<u8> = (0..word_count as u8).collect();
        for i in 0..k {
            let j = i + random_below(rng, (word_count - i) as u32)? as usize;
            all.swap(i, j);
        }
        all.truncate(k);
        let quiz = SeedQuiz {
            positions: all.iter().map(|p| usize::from(*p) + 1).collect(),
        };
        *self = Self::QuizPending {
            word_count: word_count as u8,
            positions: all,
        };
        Ok(quiz)
    }

    /// Checks answers against the phrase; every answer is compared (constant-time per word,
    /// after trimming and ASCII lowercasing) before the result is decided.
    pub(crate) fn answer(
        &mut self,
        phrase: &[&str],
        answers: &[&str],
        now: u64,
    ) -> Result<(), IntentError> {
        let Self::QuizPending {
            word_count,
            positions,
        } = self
        else {
            return Err(IntentError::NoQuizPending);
        };
        if phrase.len() != usize::from(*word_count) {
            return Err(IntentError::InvalidInput {
                field: "phrase",
                reason: "length differs from the quiz",
            });
        }
        if answers.len() != positions.len() {
            return Err(IntentError::QuizWrong);
        }
        let mut ok = Choice::from(1);
        for (pos, answer) in positions.iter().zip(answers) {
            let want = Zeroizing::new(phrase[usize::from(*pos)].trim().to_ascii_lowercase());
            let got = Zeroizing::new(answer.trim().to_ascii_lowercase());
            ok &= want.as_bytes().ct_eq(got.as_bytes());
        }
        if bool::from(ok) {
            *self = Self::Confirmed { at: now };
            Ok(())
        } else {
            Err(IntentError::QuizWrong)
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Self::NotShown => w.u8(0),
            Self::QuizPending {
                word_count,
                positions,
            } => {
                w.u8(1);
                w.u8(*word_count);
                w.bytes(positions);
            }
            Self::Confirmed { at } => {
                w.u8(2);
                w.u64(*at);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        Ok(match r.u8()? {
            0 => Self::NotShown,
            1 => {
                let word_count = r.u8()?;
                if !matches!(word_count, 12 | 15 | 18 | 21 | 24) {
                    return Err(IntentError::Malformed("seed word count"));
                }
                let positions = r.bytes(24, "too many quiz positions")?.to_vec();
                let distinct = positions
                    .iter()
                    .enumerate()
                    .all(|(i, p)| !positions[..i].contains(p));
                if positions.is_empty() || !distinct || positions.iter().any(|p| *p >= word_count) {
                    return Err(IntentError::Malformed("quiz positions"));
                }
                Self::QuizPending {
                    word_count,
                    positions,
                }
            }
            2 => Self::Confirmed { at: r.u64()? },
            _ => return Err(IntentError::Malformed("unknown seed-backup state")),
        })
    }
}
