#![doc = include_str!("../README.md")]
// The crate manual is README.md. Keep this header at its line count: the built modules embed
// panic locations (file:line:column of overflow checks and indexing, kept in the data section
// even with `panic = "abort"`) of this file, so moving the code below by one line changes the
// bytes, and the SHA-256, of the built-in modules that inline those checks. Changing
// anything here changes module hashes users have authorized: rebuild with `build.sh` and
// accept new hashes deliberately.
#![no_std]

pub use kms_solana;
use kms_solana::programs::{
    ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, SYSTEM_PROGRAM, TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
};
use kms_solana::{AccountRef, Address, Instruction, Instructions, Message};

/// ABI version (see the host's `SPEC.md`).
pub const ABI_VERSION: i32 = 1;
/// Result code: accepted.
pub const ACCEPT: i32 = 0x4B4D_5331;
/// Result code: refused, see the reason.
pub const REJECT: i32 = 1;
/// Result code: the message does not parse.
pub const MALFORMED_MESSAGE: i32 = 2;
/// Result code: the parameters do not decode.
pub const MALFORMED_PARAMS: i32 = 3;
/// Result code: the loaded accounts do not match the message.
pub const MALFORMED_LOADED: i32 = 4;

/// Why a transaction is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Refused: the shape is not the authorized one.
    Reject {
        /// Index of the offending instruction, when there is one.
        ix: Option<usize>,
        /// Why.
        reason: &'static str,
    },
    /// The parameters do not decode.
    MalformedParams(&'static str),
}

impl Verdict {
    /// The ABI result code.
    #[must_use]
    pub fn code(&self) -> i32 {
        match self {
            Self::Reject { .. } => REJECT,
            Self::MalformedParams(_) => MALFORMED_PARAMS,
        }
    }
}

/// Refusal about the whole message.
#[must_use]
pub const fn reject(reason: &'static str) -> Verdict {
    Verdict::Reject { ix: None, reason }
}

/// Refusal about instruction `ix`.
#[must_use]
pub const fn reject_at(ix: usize, reason: &'static str) -> Verdict {
    Verdict::Reject {
        ix: Some(ix),
        reason,
    }
}

/// Result of a module's checks.
pub type Check<T = ()> = Result<T, Verdict>;

/// Reader of the canonical parameter encoding (fields in schema order, little-endian).
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    /// Reads from these bytes.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn take<const N: usize>(&mut self) -> Check<&'a [u8; N]> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(Verdict::MalformedParams("parameters are too short"))?;
        self.rest = rest;
        Ok(head)
    }

    /// A 32-byte address.
    pub fn pubkey(&mut self) -> Check<&'a Address> {
        self.take::<32>()
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Check<u8> {
        Ok(self.take::<1>()?[0])
    }

    /// A `u16`.
    pub fn u16(&mut self) -> Check<u16> {
        Ok(u16::from_le_bytes(*self.take::<2>()?))
    }

    /// A `u32`.
    pub fn u32(&mut self) -> Check<u32> {
        Ok(u32::from_le_bytes(*self.take::<4>()?))
    }

    /// A `u64`.
    pub fn u64(&mut self) -> Check<u64> {
        Ok(u64::from_le_bytes(*self.take::<8>()?))
    }

    /// An `opt-pubkey`.
    pub fn opt_pubkey(&mut self) -> Check<Option<&'a Address>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.pubkey()?)),
            _ => Err(Verdict::MalformedParams("option tag is neither 0 nor 1")),
        }
    }

    /// A `token-program`: SPL Token or Token-2022.
    pub fn token_program(&mut self) -> Check<&'a Address> {
        let p = self.pubkey()?;
        if *p != TOKEN_PROGRAM && *p != TOKEN_2022_PROGRAM {
            return Err(Verdict::MalformedParams(
                "token program is neither SPL Token nor Token-2022",
            ));
        }
        Ok(p)
    }

    /// Ends reading: no bytes may be left.
    pub fn finish(self) -> Check {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Verdict::MalformedParams(
                "trailing bytes after the parameters",
            ))
        }
    }
}

/// The fields every built-in module starts its parameters with (schema lines
/// `user pubkey`, `max_cu_limit u32`, `max_cu_price u64`).
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// The user: fee payer, only signer, authority of every transfer.
    pub user: &'a Address,
    /// Largest compute-unit limit allowed in a `SetComputeUnitLimit`.
    pub max_cu_limit: u32,
    /// Largest compute-unit price (micro-lamports) allowed in a `SetComputeUnitPrice`.
    pub max_cu_price: u64,
}

impl<'a> Common<'a> {
    /// Reads the common fields.
    pub fn read(p: &mut Params<'a>) -> Check<Self> {
        Ok(Self {
            user: p.pubkey()?,
            max_cu_limit: p.u32()?,
            max_cu_price: p.u64()?,
        })
    }
}

/// Walks a message's instructions in order and tracks which accounts the expected shape uses
/// and may write. [`Shape::finish`] then refuses anything the walk did not account for: an extra
/// instruction, an extra writable account, an unused account, a second signer.
pub struct Shape<'m> {
    msg: &'m Message<'m>,
    ixs: Instructions<'m>,
    /// The next instruction, decoded once (`peek` is called several times per instruction).
    upcoming: Option<Instruction<'m>>,
    next_ix: usize,
    writable_ok: Bits,
    used: Bits,
}

/// One instruction under inspection.
#[derive(Clone, Copy)]
pub struct Ix<'m> {
    /// Its position in the message.
    pub index: usize,
    /// The raw instruction.
    pub ix: Instruction<'m>,
    /// The program it invokes.
    pub program: &'m Address,
}

impl<'m> Shape<'m> {
    /// Starts a walk: the user must be the fee payer and the only signer.
    pub fn begin(msg: &'m Message<'m>, user: &Address) -> Check<Self> {
        let h = msg.header();
        if h.num_required_signatures != 1 {
            return Err(reject("the user must be the only signer"));
        }
        if msg.fee_payer() != user {
            return Err(reject("the fee payer is not the user"));
        }
        let mut ixs = msg.instructions();
        let upcoming = ixs.next();
        let mut s = Self {
            msg,
            ixs,
            upcoming,
            next_ix: 0,
            writable_ok: Bits::EMPTY,
            used: Bits::EMPTY,
        };
        s.writable_ok.set(0);
        s.used.set(0);
        Ok(s)
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &'m Message<'m> {
        self.msg
    }

    /// The next instruction without consuming it.
    #[must_use]
    pub fn peek(&self) -> Option<Ix<'m>> {
        let ix = self.upcoming?;
        Some(Ix {
            index: self.next_ix,
            program: ix.program_id(self.msg),
            ix,
        })
    }

    /// Consumes the next instruction; refuses if there is none.
    pub fn next(&mut self, what: &'static str) -> Check<Ix<'m>> {
        let ix = self.peek().ok_or_else(|| reject(what))?;
        self.upcoming = self.ixs.next();
        self.next_ix += 1;
        self.used.set(ix.ix.program_id_index);
        Ok(ix)
    }

    /// Whether the next instruction invokes `program` and its data starts with `prefix`.
    #[must_use]
    pub fn next_is(&self, program: &Address, prefix: &[u8]) -> bool {
        self.peek()
            .is_some_and(|i| i.program == program && i.ix.data.starts_with(prefix))
    }

    /// Account number `n` of instruction `ix`: it must be a static key equal to `expected`,
    /// and is allowed to be writable iff `writable`. (An account the shape expects writable but
    /// the message marks readonly only makes the transaction fail on chain; it is allowed.)
    pub fn key(
        &mut self,
        ix: &Ix<'m>,
        n: usize,
        expected: &Address,
        writable: bool,
        what: &'static str,
    ) -> Check {
        let i = self.index(ix, n)?;
        match self.msg.account_keys().get(usize::from(i)) {
            Some(k) if k == expected => {}
            Some(_) => return Err(reject_at(ix.index, what)),
            None => return Err(self.not_static(ix, i, what)),
        }
        self.used.set(i);
        if writable {
            self.writable_ok.set(i);
        }
        Ok(())
    }

    /// Index of account number `n` of `ix` in the message.
    fn index(&self, ix: &Ix<'m>, n: usize) -> Check<u8> {
        ix.ix
            .accounts
            .get(n)
            .copied()
            .ok_or_else(|| reject_at(ix.index, "instruction has too few accounts"))
    }

    /// Why account `i` is not a static key: a lookup-table entry (refused as `what`) or no
    /// account at all.
    #[cold]
    fn not_static(&self, ix: &Ix<'m>, i: u8, what: &'static str) -> Verdict {
        if self.msg.is_loaded(i) {
            reject_at(ix.index, what)
        } else {
            reject_at(ix.index, "account index out of range")
        }
    }

    /// Account number `n` of instruction `ix` as a static key (any value); marks it used and
    /// writable iff `writable`.
    pub fn static_key(&mut self, ix: &Ix<'m>, n: usize, what: &'static str) -> Check<&'m Address> {
        let i = self.index(ix, n)?;
        self.msg
            .account_keys()
            .get(usize::from(i))
            .ok_or_else(|| self.not_static(ix, i, what))
    }

    /// Marks account number `n` of `ix` used, and allowed writable iff `writable` (it may then
    /// come from a lookup table: use only for accounts that cannot receive the user's funds).
    pub fn mark(&mut self, ix: &Ix<'m>, n: usize, writable: bool) {
        if let Some(&i) = ix.ix.accounts.get(n) {
            self.used.set(i);
            if writable {
                self.writable_ok.set(i);
            }
        }
    }

    /// Whether account number `n` of `ix` is a signer (only the user can be).
    #[must_use]
    pub fn is_signer(&self, ix: &Ix<'m>, n: usize) -> bool {
        ix.ix
            .accounts
            .get(n)
            .is_some_and(|&i| self.msg.is_signer(i))
    }

    /// Consumes leading compute-budget instructions: at most one `SetComputeUnitLimit`
    /// (≤ `max_limit`) and one `SetComputeUnitPrice` (≤ `max_price`), no accounts; any other
    /// compute-budget instruction is refused.
    pub fn compute_budget(&mut self, max_limit: u32, max_price: u64) -> Check {
        let (mut limit_seen, mut price_seen) = (false, false);
        while self
            .peek()
            .is_some_and(|i| *i.program == COMPUTE_BUDGET_PROGRAM)
        {
            let ix = self.next("")?;
            if !ix.ix.accounts.is_empty() {
                return Err(reject_at(
                    ix.index,
                    "compute-budget instruction with accounts",
                ));
            }
            match ix.ix.data {
                [2, rest @ ..] if rest.len() == 4 && !limit_seen => {
                    limit_seen = true;
                    let v = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                    if v > max_limit {
                        return Err(reject_at(ix.index, "compute-unit limit above the cap"));
                    }
                }
                [3, rest @ ..] if rest.len() == 8 && !price_seen => {
                    price_seen = true;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(rest);
                    if u64::from_le_bytes(b) > max_price {
                        return Err(reject_at(ix.index, "compute-unit price above the cap"));
                    }
                }
                _ => {
                    return Err(reject_at(
                        ix.index,
                        "compute-budget instruction not allowed",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Ends the walk: no instruction left, every account used, no writable account the shape
    /// did not allow.
    pub fn finish(self) -> Check {
        if let Some(ix) = self.peek() {
            return Err(reject_at(ix.index, "instruction not allowed by this shape"));
        }
        // Per account, in index order, the first failure wins as if each were checked in turn:
        // unused, then writable without permission.
        let msg = self.msg;
        let h = msg.header();
        let (signers, keys) = (
            usize::from(h.num_required_signatures),
            msg.account_keys().len(),
        );
        let mut writable = Bits::EMPTY;
        writable.set_range(0, signers - usize::from(h.num_readonly_signed_accounts));
        writable.set_range(
            signers,
            keys - usize::from(h.num_readonly_unsigned_accounts),
        );
        writable.set_range(keys, keys + msg.num_loaded_writable());
        let mut all = Bits::EMPTY;
        all.set_range(0, msg.num_accounts());
        let unused = all.and_not(&self.used);
        let forbidden = writable.and_not(&self.writable_ok);
        match (unused.first(), forbidden.first()) {
            (Some(u), f) if f.is_none_or(|f| u <= f) => {
                Err(reject("an account is not used by any allowed instruction"))
            }
            (_, Some(_)) => Err(reject(
                "an account is writable that this shape never writes",
            )),
            _ => Ok(()),
        }
    }
}

/// A set of account indexes (0 to 255).
#[derive(Clone, Copy)]
struct Bits([u64; 4]);

impl Bits {
    const EMPTY: Self = Self([0; 4]);

    fn set(&mut self, i: u8) {
        self.0[usize::from(i >> 6)] |= 1 << (i & 63);
    }

    /// Adds `start..end` (clamped to 256).
    fn set_range(&mut self, start: usize, end: usize) {
        for (w, word) in self.0.iter_mut().enumerate() {
            let (lo, hi) = (w * 64, w * 64 + 64);
            let (a, b) = (start.clamp(lo, hi), end.clamp(lo, hi));
            if a < b {
                let len = b - a;
                let ones = if len == 64 {
                    u64::MAX
                } else {
                    (1u64 << len) - 1
                };
                *word |= ones << (a - lo);
            }
        }
    }

    fn and_not(&self, other: &Self) -> Self {
        let mut out = *self;
        for (o, b) in out.0.iter_mut().zip(other.0) {
            *o &= !b;
        }
        out
    }

    fn first(&self) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }
}

/// Associated Token Account `CreateIdempotent` (data `[1]`) of `ata` for `owner` and `mint`,
/// paid by `payer`, under `token_program`. Consumes the instruction.
pub fn create_ata_idempotent(
    s: &mut Shape<'_>,
    payer: &Address,
    ata: &Address,
    owner: &Address,
    mint: &Address,
    token_program: &Address,
) -> Check {
    let ix = s.next("missing associated-token-account creation")?;
    if *ix.program != ASSOCIATED_TOKEN_PROGRAM || ix.ix.data != [1] {
        return Err(reject_at(
            ix.index,
            "expected an idempotent associated-token-account creation",
        ));
    }
    if ix.ix.accounts.len() != 6 {
        return Err(reject_at(
            ix.index,
            "associated-token-account creation needs exactly 6 accounts",
        ));
    }
    s.key(
        &ix,
        0,
        payer,
        true,
        "account creation not funded by the user",
    )?;
    s.key(
        &ix,
        1,
        ata,
        true,
        "creates an account that is not the expected associated token account",
    )?;
    s.key(
        &ix,
        2,
        owner,
        false,
        "associated token account for the wrong owner",
    )?;
    s.key(
        &ix,
        3,
        mint,
        false,
        "associated token account for the wrong mint",
    )?;
    s.key(&ix, 4, &SYSTEM_PROGRAM, false, "wrong system program")?;
    s.key(&ix, 5, token_program, false, "wrong token program")
}

/// System `Transfer` from `from` (signer) to `to`; returns the lamports. Consumes it.
pub fn system_transfer(
    s: &mut Shape<'_>,
    from: &Address,
    to: &Address,
    what: &'static str,
) -> Check<u64> {
    let ix = s.next("missing SOL transfer")?;
    if *ix.program != SYSTEM_PROGRAM {
        return Err(reject_at(ix.index, "expected a System program instruction"));
    }
    let lamports = match ix.ix.data {
        [2, 0, 0, 0, rest @ ..] if rest.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(rest);
            u64::from_le_bytes(b)
        }
        _ => return Err(reject_at(ix.index, "expected a System transfer")),
    };
    if ix.ix.accounts.len() != 2 {
        return Err(reject_at(
            ix.index,
            "System transfer needs exactly 2 accounts",
        ));
    }
    s.key(&ix, 0, from, true, "SOL transfer not from the user")?;
    s.key(&ix, 1, to, true, what)?;
    Ok(lamports)
}

/// SPL Token `SyncNative` of `account`. Consumes it.
pub fn sync_native(s: &mut Shape<'_>, account: &Address, token_program: &Address) -> Check {
    let ix = s.next("missing syncNative")?;
    if ix.program != token_program || ix.ix.data != [17] || ix.ix.accounts.len() != 1 {
        return Err(reject_at(
            ix.index,
            "expected syncNative of the user's wrapped-SOL account",
        ));
    }
    s.key(
        &ix,
        0,
        account,
        true,
        "syncNative of an account that is not the user's wrapped-SOL account",
    )
}

/// SPL Token `CloseAccount` of `account` with the rent and balance going to `user`, who
/// must be the owner. Consumes it.
pub fn close_to_user(
    s: &mut Shape<'_>,
    account: &Address,
    user: &Address,
    token_program: &Address,
) -> Check {
    let ix = s.next("missing closeAccount")?;
    if ix.program != token_program || ix.ix.data != [9] || ix.ix.accounts.len() != 3 {
        return Err(reject_at(
            ix.index,
            "expected closeAccount of the user's wrapped-SOL account",
        ));
    }
    s.key(
        &ix,
        0,
        account,
        true,
        "closes an account that is not the user's wrapped-SOL account",
    )?;
    s.key(
        &ix,
        1,
        user,
        true,
        "closeAccount sends the balance to someone other than the user",
    )?;
    s.key(
        &ix,
        2,
        user,
        false,
        "closeAccount authority is not the user",
    )
}

/// Copies a byte string into an array at compile time (for the `kms-params` section).
#[must_use]
pub const fn to_array<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N && i < s.len() {
        out[i] = s[i];
        i += 1;
    }
    out
}

/// Reads a little-endian `u64` at `at` of `data`.
#[must_use]
pub fn le_u64(data: &[u8], at: usize) -> Option<u64> {
    let b = data.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Reads a little-endian `u16` at `at` of `data`.
#[must_use]
pub fn le_u16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Runs a module's validate function on raw inputs the way the WASM export does, and returns
/// the result code and the reason. Used by the exports and, natively, by tests and benchmarks.
pub fn run_native(
    validate: fn(&Message<'_>, &[Address], &mut Params<'_>) -> Check,
    message: &[u8],
    loaded: &[u8],
    params: &[u8],
    reason: &mut Reason,
) -> i32 {
    let msg = match kms_solana::parse_message(message) {
        Ok(m) => m,
        Err(_) => {
            reason.set(None, "the message does not parse");
            return MALFORMED_MESSAGE;
        }
    };
    let (chunks, rest) = loaded.as_chunks::<32>();
    if !rest.is_empty() || chunks.len() != msg.num_loaded_writable() + msg.num_loaded_readonly() {
        reason.set(
            None,
            "lookup-table accounts do not match the message's lookups",
        );
        return MALFORMED_LOADED;
    }
    let mut p = Params::new(params);
    match validate(&msg, chunks, &mut p).and_then(|()| p.finish()) {
        Ok(()) => ACCEPT,
        Err(v) => {
            match v {
                Verdict::Reject { ix, reason: r } => reason.set(ix, r),
                Verdict::MalformedParams(r) => reason.set(None, r),
            }
            v.code()
        }
    }
}

/// Length of the reason buffer.
pub const REASON_CAP: usize = 160;

/// A rejection reason: `instruction N: text`, in a fixed buffer (no allocator).
pub struct Reason {
    buf: [u8; REASON_CAP],
    len: usize,
}

impl Default for Reason {
    fn default() -> Self {
        Self::new()
    }
}

impl Reason {
    /// Empty.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            buf: [0; REASON_CAP],
            len: 0,
        }
    }

    fn push(&mut self, s: &[u8]) {
        for &b in s {
            if self.len < REASON_CAP {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    /// Sets the reason.
    pub fn set(&mut self, ix: Option<usize>, text: &str) {
        self.len = 0;
        if let Some(i) = ix {
            self.push(b"instruction ");
            let mut digits = [0u8; 20];
            let mut n = i;
            let mut k = digits.len();
            loop {
                k -= 1;
                digits[k] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            self.push(&digits[k..]);
            self.push(b": ");
        }
        self.push(text.as_bytes());
    }

    /// The reason bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;

/// Defines the ABI v1 exports of a module (on `wasm32` only) and its `kms-params` section.
///
/// `schema` is a byte-string literal of the parameter schema; `validate` a
/// `fn(&Message, &[Address], &mut Params) -> Check`.
#[macro_export]
macro_rules! module {
    (schema: $schema:expr, validate: $validate:path $(,)?) => {
        /// The parameter schema, in the custom section the host reads.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(link_section = "kms-params")]
        #[used]
        static KMS_PARAMS: [u8; $schema.len()] = $crate::to_array($schema);

        /// ABI export.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn kms_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        /// ABI export.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn kms_alloc(len: i32) -> i32 {
            $crate::wasm::alloc(len)
        }

        /// ABI export.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn kms_validate(a: i32, b: i32, c: i32, d: i32, e: i32, f: i32) -> i32 {
            $crate::wasm::validate(a, b, c, d, e, f, $validate)
        }

        /// ABI export.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn kms_reason() -> i64 {
            $crate::wasm::reason()
        }

        /// The schema text (for native tests).
        pub const SCHEMA: &[u8] = $schema;
    };
}

/// The two sides of a swap, as the user authorized them.
#[derive(Clone, Copy)]
pub struct SwapSides<'a> {
    /// The user.
    pub user: &'a Address,
    /// Input mint.
    pub mint_in: &'a Address,
    /// Token program of the input mint.
    pub program_in: &'a Address,
    /// The user's associated token account of the input mint (host-verified).
    pub source: &'a Address,
    /// Output mint.
    pub mint_out: &'a Address,
    /// Token program of the output mint.
    pub program_out: &'a Address,
    /// The user's associated token account of the output mint (host-verified).
    pub destination: &'a Address,
    /// Largest input amount (also caps the lamports wrapped when the input is SOL).
    pub max_in: u64,
}

/// Optional instructions before a swap, in this order: for a SOL input, an idempotent creation
/// of the user's wrapped-SOL account, a System transfer into it (at most `max_in`) and
/// `syncNative`; then an idempotent creation of the user's output account. All paid by and for
/// the user.
pub fn swap_prelude(s: &mut Shape<'_>, w: &SwapSides<'_>) -> Check {
    use kms_solana::programs::NATIVE_MINT;
    let native_in = *w.mint_in == NATIVE_MINT;
    if native_in && next_creates(s, w.source) {
        create_ata_idempotent(s, w.user, w.source, w.user, w.mint_in, w.program_in)?;
    }
    if native_in && s.next_is(&SYSTEM_PROGRAM, &[]) {
        let index = s.peek().map_or(0, |i| i.index);
        let lamports = system_transfer(
            s,
            w.user,
            w.source,
            "SOL wrapped into an account other than the user's wrapped-SOL account",
        )?;
        if lamports > w.max_in {
            return Err(reject_at(
                index,
                "wraps more SOL than the authorized input maximum",
            ));
        }
        sync_native(s, w.source, w.program_in)?;
    }
    if s.next_is(&ASSOCIATED_TOKEN_PROGRAM, &[]) {
        create_ata_idempotent(s, w.user, w.destination, w.user, w.mint_out, w.program_out)?;
    }
    Ok(())
}

fn next_creates(s: &Shape<'_>, ata: &Address) -> bool {
    s.peek().is_some_and(|i| {
        *i.program == ASSOCIATED_TOKEN_PROGRAM
            && i.ix.accounts.get(1).and_then(|&k| s.message().account(k))
                == Some(AccountRef::Static(ata))
    })
}

/// Optional instructions after a swap: `closeAccount` of the user's wrapped-SOL input account
/// (SOL input) and/or of the wrapped-SOL output account (SOL output), each back to the user.
pub fn swap_epilogue(s: &mut Shape<'_>, w: &SwapSides<'_>) -> Check {
    use kms_solana::programs::NATIVE_MINT;
    if *w.mint_in == NATIVE_MINT && s.next_is(w.program_in, &[9]) {
        close_to_user(s, w.source, w.user, w.program_in)?;
    }
    if *w.mint_out == NATIVE_MINT && s.next_is(w.program_out, &[9]) {
        close_to_user(s, w.destination, w.user, w.program_out)?;
    }
    Ok(())
}

/// A base58 address as a constant (compile-time checked).
#[macro_export]
macro_rules! address {
    ($s:literal) => {
        match $crate::kms_solana::address_from_base58($s) {
            Some(a) => a,
            None => panic!("bad base58 address"),
        }
    };
}

// Everything below was added after the 1.0.0/2.0.0 modules were built; it is appended so that the
// panic locations above (and with them the bytes of modules that do not use it) stay unchanged.

/// Lamports per micro-lamport of compute-unit price: the priority fee is
/// `⌈limit × price / 1 000 000⌉` lamports.
const MICRO_LAMPORTS_PER_LAMPORT: u128 = 1_000_000;
/// The runtime's default compute-unit limit per instruction when a transaction sets none
/// (builtins get less since Agave 2.1; this is the larger, older figure, so a bound on it holds
/// under both rules).
pub const DEFAULT_CU_PER_INSTRUCTION: u128 = 200_000;
/// The runtime's largest compute-unit limit: a larger requested limit is clamped to it.
pub const MAX_CU_LIMIT: u128 = 1_400_000;

/// The intent fields every trading module reads after its own fields (schema lines
/// `max_priority_fee u64`, `nonce_account opt-pubkey`).
#[derive(Debug, Clone, Copy)]
pub struct FeePolicy<'a> {
    /// Most lamports the transaction may pay as priority fee (compute-unit limit × price).
    pub max_priority_fee: u64,
    /// The only durable-nonce account the transaction may advance; `None` refuses every
    /// durable-nonce transaction (a signed one stays valid until the nonce is advanced).
    pub nonce_account: Option<&'a Address>,
}

impl<'a> FeePolicy<'a> {
    /// Reads the two fields.
    pub fn read(p: &mut Params<'a>) -> Check<Self> {
        Ok(Self {
            max_priority_fee: p.u64()?,
            nonce_account: p.opt_pubkey()?,
        })
    }
}

/// The priority fee in lamports that a transaction requesting `limit` compute units (or none:
/// the runtime's default for `non_budget_ixs` instructions) at `price` micro-lamports per unit
/// pays at most. `u128`, rounded up, no overflow.
#[must_use]
pub fn priority_fee(limit: Option<u32>, price: u64, non_budget_ixs: usize) -> u128 {
    let units = match limit {
        Some(l) => u128::from(l),
        None => DEFAULT_CU_PER_INSTRUCTION.saturating_mul(non_budget_ixs as u128),
    }
    .min(MAX_CU_LIMIT);
    (units * u128::from(price)).div_ceil(MICRO_LAMPORTS_PER_LAMPORT)
}

impl Shape<'_> {
    /// The start of every trading shape: an optional durable-nonce `AdvanceNonceAccount` (only
    /// of `f.nonce_account`, authority the user), then optional compute-budget instructions in
    /// any order: at most one `SetComputeUnitLimit` ≤ `c.max_cu_limit`, one
    /// `SetComputeUnitPrice` ≤ `c.max_cu_price` and one `SetLoadedAccountsDataSizeLimit` (it
    /// can only lower a limit), no accounts, and a priority fee (limit × price, see
    /// [`priority_fee`]) ≤ `f.max_priority_fee`. Any other compute-budget instruction (heap
    /// frame requests, unknown ones) is refused.
    pub fn preamble(&mut self, c: &Common<'_>, f: &FeePolicy<'_>) -> Check {
        use kms_solana::programs::SYSVAR_RECENT_BLOCKHASHES;
        if self.next_is(&SYSTEM_PROGRAM, &[4, 0, 0, 0]) {
            let ix = self.next("")?;
            let Some(nonce) = f.nonce_account else {
                return Err(reject_at(
                    ix.index,
                    "durable-nonce transaction (AdvanceNonceAccount) not allowed by the intent",
                ));
            };
            if ix.ix.data.len() != 4 || ix.ix.accounts.len() != 3 {
                return Err(reject_at(ix.index, "unknown AdvanceNonceAccount layout"));
            }
            self.key(
                &ix,
                0,
                nonce,
                true,
                "advances a nonce account other than the authorized one",
            )?;
            self.key(
                &ix,
                1,
                &SYSVAR_RECENT_BLOCKHASHES,
                false,
                "wrong recent-blockhashes sysvar",
            )?;
            self.key(&ix, 2, c.user, false, "nonce authority is not the user")?;
        }
        let (mut limit, mut price, mut data_size) = (None, None, false);
        let mut first = None;
        while self
            .peek()
            .is_some_and(|i| *i.program == COMPUTE_BUDGET_PROGRAM)
        {
            let ix = self.next("")?;
            first.get_or_insert(ix.index);
            if !ix.ix.accounts.is_empty() {
                return Err(reject_at(
                    ix.index,
                    "compute-budget instruction with accounts",
                ));
            }
            match ix.ix.data {
                [2, a, b, c2, d] if limit.is_none() => {
                    let v = u32::from_le_bytes([*a, *b, *c2, *d]);
                    if v > c.max_cu_limit {
                        return Err(reject_at(ix.index, "compute-unit limit above the cap"));
                    }
                    limit = Some(v);
                }
                [3, rest @ ..] if rest.len() == 8 && price.is_none() => {
                    let v = le_u64(rest, 0).unwrap_or(u64::MAX);
                    if v > c.max_cu_price {
                        return Err(reject_at(ix.index, "compute-unit price above the cap"));
                    }
                    price = Some(v);
                }
                [4, _, _, _, _] if !data_size => data_size = true,
                _ => {
                    return Err(reject_at(
                        ix.index,
                        "compute-budget instruction not allowed",
                    ));
                }
            }
        }
        if let (Some(at), Some(p)) = (first, price) {
            let others = self
                .msg
                .instructions()
                .filter(|i| *i.program_id(self.msg) != COMPUTE_BUDGET_PROGRAM)
                .count();
            if priority_fee(limit, p, others) > u128::from(f.max_priority_fee) {
                return Err(reject_at(
                    at,
                    "priority fee (compute-unit limit x price) above the authorized maximum",
                ));
            }
        }
        Ok(())
    }
}
