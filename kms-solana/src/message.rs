//! The strict zero-copy parser: [`parse_transaction`], [`parse_message`] and the borrowed views
//! they return.

use crate::error::{Error, Field, HeaderProblem};
use crate::wire::{Reader, compact_len};

/// Largest transaction the network carries (IPv6 MTU minus headers), in bytes.
pub const PACKET_DATA_SIZE: usize = 1232;

/// A 32-byte ed25519 public key / account address.
pub type Address = [u8; 32];

/// Top bit of the first message byte: set for versioned messages.
const VERSION_PREFIX: u8 = 0x80;

/// Message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The original format (first byte is the header, top bit clear).
    Legacy,
    /// Version 0: prefix byte `0x80`, then address-table lookups after the instructions.
    V0,
}

/// The three header counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Signatures required; the first this-many static keys sign.
    pub num_required_signatures: u8,
    /// Of the signers, how many (the last ones) are readonly.
    pub num_readonly_signed_accounts: u8,
    /// Of the non-signing static keys, how many (the last ones) are readonly.
    pub num_readonly_unsigned_accounts: u8,
}

/// A parsed, signed transaction borrowing the input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction<'a> {
    bytes: &'a [u8],
    signatures: &'a [[u8; 64]],
    message: Message<'a>,
}

/// A parsed message (what the signatures sign) borrowing the input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    bytes: &'a [u8],
    offset: usize,
    version: Version,
    header: Header,
    account_keys: &'a [Address],
    recent_blockhash: &'a [u8; 32],
    num_instructions: u16,
    instructions: &'a [u8],
    instructions_offset: usize,
    num_lookups: u16,
    lookups: &'a [u8],
    lookups_offset: usize,
    loaded_writable: u16,
    loaded_readonly: u16,
}

/// One instruction, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction<'a> {
    /// Index of the program among the static account keys (never 0, the fee payer).
    pub program_id_index: u8,
    /// Indices into the message's accounts (static keys, then loaded writable, then loaded
    /// readonly); see [`Message::account`].
    pub accounts: &'a [u8],
    /// The instruction data, uninterpreted.
    pub data: &'a [u8],
    /// Byte offset of the instruction in the parsed input.
    pub offset: usize,
}

/// One v0 address-table lookup, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressTableLookup<'a> {
    /// The lookup table account's address.
    pub table: &'a Address,
    /// Indices into the table of accounts loaded writable.
    pub writable_indexes: &'a [u8],
    /// Indices into the table of accounts loaded readonly.
    pub readonly_indexes: &'a [u8],
    /// Byte offset of the lookup in the parsed input.
    pub offset: usize,
}

/// Where an account of the message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRef<'a> {
    /// A static key written in the message.
    Static(&'a Address),
    /// An address loaded at execution time from an address lookup table: the parser (and any
    /// signer) cannot know which address it is without trusting chain state.
    Lookup {
        /// The lookup table's address.
        table: &'a Address,
        /// The index into the table.
        index: u8,
    },
}

/// Parses a full transaction: compact-u16 signature count, signatures, message.
///
/// Strict as the Solana runtime (see the crate's `SPEC.md`): at most [`PACKET_DATA_SIZE`] bytes,
/// canonical compact-u16 lengths, legacy or v0 only, consistent header, exactly
/// `num_required_signatures` signatures, indices in range, program not the fee payer, no duplicate
/// static keys or lookup entries, no trailing bytes. Allocation-free; cost is linear in the input.
///
/// # Errors
/// A typed [`Error`] naming the problem and its byte offset in `bytes`.
pub fn parse_transaction(bytes: &[u8]) -> Result<Transaction<'_>, Error> {
    if let Some(e) = message_first(bytes) {
        return Err(e);
    }
    if bytes.len() > PACKET_DATA_SIZE {
        return Err(too_large(bytes.len()));
    }
    let mut r = Reader::new(bytes, 0);
    let num_sigs = usize::from(r.compact_u16(Field::SignatureCount)?);
    let sig_bytes = r.take(num_sigs * 64, Field::Signatures)?;
    let (signatures, _) = sig_bytes.as_chunks::<64>();
    let msg_start = r.pos;
    let message = parse_message_at(&bytes[msg_start..], msg_start)?;
    let required = usize::from(message.header.num_required_signatures);
    if num_sigs != required {
        return Err(Error::SignatureCountMismatch {
            offset: 0,
            signatures: num_sigs,
            required,
        });
    }
    Ok(Transaction {
        bytes,
        signatures,
        message,
    })
}

/// Parses a bare message (the bytes a transaction's signatures sign), legacy or v0.
///
/// Same rules as [`parse_transaction`]; the size limit applies to the transaction that would carry
/// this message (its signatures plus the message must fit in [`PACKET_DATA_SIZE`]).
///
/// # Errors
/// A typed [`Error`] naming the problem and its byte offset in `bytes`.
pub fn parse_message(bytes: &[u8]) -> Result<Message<'_>, Error> {
    if bytes.len() > PACKET_DATA_SIZE {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max: PACKET_DATA_SIZE,
        });
    }
    let m = parse_message_at(bytes, 0)?;
    let n = usize::from(m.header.num_required_signatures);
    let needed = compact_len(n) + 64 * n + bytes.len();
    if needed > PACKET_DATA_SIZE {
        return Err(Error::TooLarge {
            len: needed,
            max: PACKET_DATA_SIZE,
        });
    }
    Ok(m)
}

/// Parses and validates a message occupying exactly `bytes`; offsets in errors are `base + i`.
fn parse_message_at(bytes: &[u8], base: usize) -> Result<Message<'_>, Error> {
    let mut r = Reader::new(bytes, base);
    let first = r.u8(Field::VersionPrefix)?;
    let (version, header_offset, nrs) = if first & VERSION_PREFIX != 0 {
        let v = first & !VERSION_PREFIX;
        if v != 0 {
            return Err(Error::UnsupportedVersion {
                offset: base,
                version: v,
            });
        }
        let off = r.offset();
        (Version::V0, off, r.u8(Field::Header)?)
    } else {
        (Version::Legacy, base, first)
    };
    let header = Header {
        num_required_signatures: nrs,
        num_readonly_signed_accounts: r.u8(Field::Header)?,
        num_readonly_unsigned_accounts: r.u8(Field::Header)?,
    };

    let keys_count_offset = r.offset();
    let num_keys = usize::from(r.compact_u16(Field::AccountKeyCount)?);
    let keys_offset = r.offset();
    let (account_keys, _) = r.take(num_keys * 32, Field::AccountKeys)?.as_chunks::<32>();
    let recent_blockhash = r.array32(Field::RecentBlockhash)?;

    // Instructions: read once for framing; the index checks need the loaded-account count, which
    // (in v0) is only known after the lookups, so they run in a second pass below.
    let num_instructions = r.compact_u16(Field::InstructionCount)?;
    let instructions_offset = r.offset();
    let ins_start = r.pos;
    // The framing pass also notes whether any index could be out of range; only then does the
    // detailed pass below run (it reports the first offending index exactly). Inside the
    // WebAssembly modules this saves decoding every instruction a second time.
    let (mut bad_program, mut max_account) = (false, 0u8);
    for _ in 0..num_instructions {
        let program = r.u8(Field::ProgramIdIndex)?;
        bad_program |= program == 0 || usize::from(program) >= num_keys;
        let accounts = r.short_bytes(Field::AccountIndexCount, Field::AccountIndices)?;
        max_account = accounts.iter().fold(max_account, |m, &a| m.max(a));
        r.short_bytes(Field::DataLength, Field::Data)?;
    }
    let instructions = &bytes[ins_start..r.pos];

    let (num_lookups, lookups, lookups_offset) = if version == Version::V0 {
        let n = r.compact_u16(Field::LookupCount)?;
        let off = r.offset();
        let start = r.pos;
        for _ in 0..n {
            r.array32(Field::LookupTable)?;
            r.short_bytes(Field::WritableIndexCount, Field::WritableIndices)?;
            r.short_bytes(Field::ReadonlyIndexCount, Field::ReadonlyIndices)?;
        }
        (n, &bytes[start..r.pos], off)
    } else {
        (0, &bytes[..0], r.offset())
    };

    if r.remaining() != 0 {
        return Err(Error::TrailingBytes {
            offset: r.offset(),
            count: r.remaining(),
        });
    }

    // ---- semantic checks, in the order of Solana's `sanitize` ----
    if usize::from(header.num_required_signatures)
        + usize::from(header.num_readonly_unsigned_accounts)
        > num_keys
    {
        return Err(Error::InvalidHeader {
            offset: header_offset,
            problem: HeaderProblem::CountsExceedKeys,
        });
    }
    if header.num_readonly_signed_accounts >= header.num_required_signatures {
        return Err(Error::InvalidHeader {
            offset: header_offset,
            problem: HeaderProblem::NoWritableFeePayer,
        });
    }

    let mut m = Message {
        bytes,
        offset: base,
        version,
        header,
        account_keys,
        recent_blockhash,
        num_instructions,
        instructions,
        instructions_offset,
        num_lookups,
        lookups,
        lookups_offset,
        loaded_writable: 0,
        loaded_readonly: 0,
    };

    let (mut w, mut ro) = (0usize, 0usize);
    for (i, l) in m.address_table_lookups().enumerate() {
        if l.writable_indexes.is_empty() && l.readonly_indexes.is_empty() {
            return Err(Error::EmptyLookup {
                offset: l.offset,
                lookup: i,
            });
        }
        w += l.writable_indexes.len();
        ro += l.readonly_indexes.len();
    }
    let total = num_keys + w + ro;
    if total > 256 {
        return Err(Error::TooManyAccounts {
            offset: lookups_offset,
            total,
        });
    }
    // Both fit: total <= 256.
    m.loaded_writable = w as u16;
    m.loaded_readonly = ro as u16;

    if bad_program || usize::from(max_account) >= total {
        check_instruction_indexes(&m, num_keys, total)?;
    }

    let _ = keys_count_offset;
    check_duplicate_keys(account_keys, keys_offset)?;
    if num_lookups > 0 {
        check_duplicate_lookups(&m)?;
    }
    Ok(m)
}

/// Reports the first instruction whose program index or an account index is out of range (or
/// whose program is the fee payer), in instruction order.
#[cold]
fn check_instruction_indexes(m: &Message<'_>, num_keys: usize, total: usize) -> Result<(), Error> {
    for (i, ins) in m.instructions().enumerate() {
        if usize::from(ins.program_id_index) >= num_keys {
            return Err(Error::ProgramIndexOutOfRange {
                offset: ins.offset,
                instruction: i,
                index: ins.program_id_index,
                static_keys: num_keys,
            });
        }
        if ins.program_id_index == 0 {
            return Err(Error::ProgramIsFeePayer {
                offset: ins.offset,
                instruction: i,
            });
        }
        // Account indices start after the program id byte and the count.
        let acc_offset = ins.offset + 1 + compact_len(ins.accounts.len());
        for (j, &a) in ins.accounts.iter().enumerate() {
            if usize::from(a) >= total {
                return Err(Error::AccountIndexOutOfRange {
                    offset: acc_offset + j,
                    instruction: i,
                    index: a,
                    accounts: total,
                });
            }
        }
    }
    Ok(())
}

/// Rejects a repeated static key. A 1024-bit filter keeps the common case linear; only filter hits
/// compare against earlier keys (worst case quadratic in at most ~38 keys).
fn check_duplicate_keys(keys: &[Address], keys_offset: usize) -> Result<(), Error> {
    let mut seen = [0u64; 16];
    for (i, k) in keys.iter().enumerate() {
        let h = filter_bit(k);
        let (word, bit) = (h / 64, 1u64 << (h % 64));
        if seen[word] & bit != 0
            && let Some(first) = keys[..i].iter().position(|p| p == k)
        {
            {
                // Indices fit in u8 when they matter: at most 38 keys fit in 1232 bytes.
                return Err(Error::DuplicateAccountKey {
                    offset: keys_offset + 32 * i,
                    first: first as u8,
                    index: i as u8,
                });
            }
        }
        seen[word] |= bit;
    }
    Ok(())
}

/// Filter position of a key: all 32 bytes summed as four little-endian words, folded to 10 bits.
/// Every byte counts, so keys with a pattern (all bytes equal, long runs of zeros, as in test
/// fixtures, vanity and sysvar addresses) spread out as well as random ones.
fn filter_bit(k: &Address) -> usize {
    let (words, _) = k.as_chunks::<8>();
    let s = words
        .iter()
        .fold(0u64, |s, w| s.wrapping_add(u64::from_le_bytes(*w)));
    let s = s ^ (s >> 31) ^ (s >> 47);
    (s as usize) & 1023
}

/// Rejects loading the same (table, index) twice, within a lookup or across lookups of one table.
fn check_duplicate_lookups(m: &Message<'_>) -> Result<(), Error> {
    for (j, l) in m.address_table_lookups().enumerate() {
        let mut mine = [0u64; 4];
        let w_off = l.offset + 32 + compact_len(l.writable_indexes.len());
        let r_off = w_off + l.writable_indexes.len() + compact_len(l.readonly_indexes.len());
        let entries = l
            .writable_indexes
            .iter()
            .enumerate()
            .map(|(i, &x)| (w_off + i, x))
            .chain(
                l.readonly_indexes
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| (r_off + i, x)),
            );
        for (off, x) in entries {
            let (word, bit) = (usize::from(x / 64), 1u64 << (x % 64));
            if mine[word] & bit != 0 {
                return Err(Error::DuplicateLookupEntry {
                    offset: off,
                    table_index: x,
                });
            }
            mine[word] |= bit;
        }
        for earlier in m.address_table_lookups().take(j) {
            if earlier.table != l.table {
                continue;
            }
            for &x in earlier
                .writable_indexes
                .iter()
                .chain(earlier.readonly_indexes)
            {
                if mine[usize::from(x / 64)] & (1u64 << (x % 64)) != 0 {
                    return Err(Error::DuplicateLookupEntry {
                        offset: l.offset,
                        table_index: x,
                    });
                }
            }
        }
    }
    Ok(())
}

impl<'a> Transaction<'a> {
    /// The whole transaction as parsed.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The signatures, in the order of the signing static keys.
    pub fn signatures(&self) -> &'a [[u8; 64]] {
        self.signatures
    }

    /// The message (what the signatures sign).
    pub fn message(&self) -> &Message<'a> {
        &self.message
    }

    /// Pairs of (signer address, signature), in order.
    pub fn signers(&self) -> impl ExactSizeIterator<Item = (&'a Address, &'a [u8; 64])> + 'a {
        self.message.account_keys.iter().zip(self.signatures)
    }
}

impl<'a> Message<'a> {
    /// The message bytes (what is signed).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Byte offset of the message in the parsed input (0 for a bare message).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Legacy or v0.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header counts.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The static account keys, in order: writable signers, readonly signers, writable
    /// non-signers, readonly non-signers.
    pub fn account_keys(&self) -> &'a [Address] {
        self.account_keys
    }

    /// The fee payer (static key 0, always a writable signer).
    pub fn fee_payer(&self) -> &'a Address {
        // Non-empty: the header check requires at least one signer key.
        &self.account_keys[0]
    }

    /// The recent blockhash, or the durable nonce value for nonce transactions.
    pub fn recent_blockhash(&self) -> &'a [u8; 32] {
        self.recent_blockhash
    }

    /// Number of instructions.
    pub fn num_instructions(&self) -> usize {
        usize::from(self.num_instructions)
    }

    /// The instructions, in order. Iterating costs a re-scan of their framing (no allocation).
    pub fn instructions(&self) -> Instructions<'a> {
        Instructions {
            r: Reader::new(self.instructions, self.instructions_offset),
            left: self.num_instructions,
        }
    }

    /// The address-table lookups (empty for legacy messages).
    pub fn address_table_lookups(&self) -> Lookups<'a> {
        Lookups {
            r: Reader::new(self.lookups, self.lookups_offset),
            left: self.num_lookups,
        }
    }

    /// Accounts loaded writable through lookup tables.
    pub fn num_loaded_writable(&self) -> usize {
        usize::from(self.loaded_writable)
    }

    /// Accounts loaded readonly through lookup tables.
    pub fn num_loaded_readonly(&self) -> usize {
        usize::from(self.loaded_readonly)
    }

    /// All accounts instructions can name: static keys plus loaded ones (at most 256).
    pub fn num_accounts(&self) -> usize {
        self.account_keys.len() + self.num_loaded_writable() + self.num_loaded_readonly()
    }

    /// Account `index` as instructions number them: static keys first, then every lookup's
    /// writable entries (lookups in order), then every lookup's readonly entries. `None` when out
    /// of range.
    pub fn account(&self, index: u8) -> Option<AccountRef<'a>> {
        let mut i = usize::from(index);
        if let Some(k) = self.account_keys.get(i) {
            return Some(AccountRef::Static(k));
        }
        i -= self.account_keys.len();
        let writable = i < self.num_loaded_writable();
        if !writable {
            i -= self.num_loaded_writable();
        }
        // Walks the raw lookups (framing validated at parse time) without building each
        // `AddressTableLookup`: `table ‖ compact count ‖ writable ‖ compact count ‖ readonly`.
        let mut rest = self.lookups;
        for _ in 0..self.num_lookups {
            let (table, tail) = rest.split_first_chunk::<32>()?;
            let (writable_indexes, tail) = split_short(tail)?;
            let (readonly_indexes, tail) = split_short(tail)?;
            rest = tail;
            let list = if writable {
                writable_indexes
            } else {
                readonly_indexes
            };
            if let Some(&x) = list.get(i) {
                return Some(AccountRef::Lookup { table, index: x });
            }
            i -= list.len();
        }
        None
    }

    /// Whether account `index` must sign (only static keys can).
    pub fn is_signer(&self, index: u8) -> bool {
        index < self.header.num_required_signatures
    }

    /// Whether account `index` is requested writable by the message. (The runtime additionally
    /// demotes some to readonly, e.g. invoked programs and sysvars; a request is what a signer
    /// must assume.)
    pub fn is_writable(&self, index: u8) -> bool {
        let i = usize::from(index);
        let n = self.account_keys.len();
        let h = self.header;
        let nrs = usize::from(h.num_required_signatures);
        if i < nrs {
            i < nrs - usize::from(h.num_readonly_signed_accounts)
        } else if i < n {
            i < n - usize::from(h.num_readonly_unsigned_accounts)
        } else {
            i < n + self.num_loaded_writable()
        }
    }

    /// Whether account `index` is loaded through a lookup table (not a static key).
    pub fn is_loaded(&self, index: u8) -> bool {
        usize::from(index) >= self.account_keys.len() && usize::from(index) < self.num_accounts()
    }
}

/// Splits a compact-u16 length and that many bytes off `b` (one-byte lengths inline).
fn split_short(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, skip) = match b.first() {
        Some(&n) if n & 0x80 == 0 => (usize::from(n), 1),
        _ => {
            let (n, skip) = crate::wire::read_compact_u16(b).ok()?;
            (usize::from(n), skip)
        }
    };
    b.get(skip..)?.split_at_checked(n)
}

/// Iterator over a message's instructions.
#[derive(Clone)]
pub struct Instructions<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> Iterator for Instructions<'a> {
    type Item = Instruction<'a>;

    fn next(&mut self) -> Option<Instruction<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Framing was validated at parse time, so these reads cannot fail.
        let offset = self.r.offset();
        let program_id_index = self.r.u8(Field::ProgramIdIndex).ok()?;
        let accounts = self
            .r
            .short_bytes(Field::AccountIndexCount, Field::AccountIndices)
            .ok()?;
        let data = self.r.short_bytes(Field::DataLength, Field::Data).ok()?;
        Some(Instruction {
            program_id_index,
            accounts,
            data,
            offset,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Instructions<'_> {}

/// Iterator over a v0 message's address-table lookups.
#[derive(Clone)]
pub struct Lookups<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> Iterator for Lookups<'a> {
    type Item = AddressTableLookup<'a>;

    fn next(&mut self) -> Option<AddressTableLookup<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Framing was validated at parse time, so these reads cannot fail.
        let offset = self.r.offset();
        let table = self.r.array32(Field::LookupTable).ok()?;
        let writable_indexes = self
            .r
            .short_bytes(Field::WritableIndexCount, Field::WritableIndices)
            .ok()?;
        let readonly_indexes = self
            .r
            .short_bytes(Field::ReadonlyIndexCount, Field::ReadonlyIndices)
            .ok()?;
        Some(AddressTableLookup {
            table,
            writable_indexes,
            readonly_indexes,
            offset,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Lookups<'_> {}

impl<'a> Instruction<'a> {
    /// The program this instruction invokes (always a static key).
    pub fn program_id(&self, message: &Message<'a>) -> &'a Address {
        // In range: checked at parse time (program ids cannot come from lookup tables).
        &message.account_keys[usize::from(self.program_id_index)]
    }
}

/// A transaction whose first byte has the top bit set starts with a version prefix, not a
/// signature count: no legacy or v0 transaction can (128 signatures or more do not fit in a
/// packet). That is the shape of the v1 format of SIMD-0385 (version byte `0x81`, up to 4,096
/// bytes) that recent Agave and litesvm releases accept: refused by name, before the size check,
/// so a 4 KiB v1 transaction is not reported as merely too large.
fn message_first(bytes: &[u8]) -> Option<Error> {
    let first = *bytes.first()?;
    (first & VERSION_PREFIX != 0).then_some(Error::UnsupportedVersion {
        offset: 0,
        version: first & !VERSION_PREFIX,
    })
}

fn too_large(len: usize) -> Error {
    Error::TooLarge {
        len,
        max: PACKET_DATA_SIZE,
    }
}
