//! The describer (feature `std`): one line per instruction, never hiding one, plus a summary of
//! what leaves and enters the user's accounts and flags on dangerous operations.

use std::borrow::ToOwned;
use std::fmt::{self, Write as _};
use std::format;
use std::string::String;
use std::vec::Vec;

use crate::message::{AccountRef, Address, Instruction, Message, Transaction};
use crate::programs::{
    ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, JUPITER_V6_PROGRAM, MEMO_PROGRAM,
    MEMO_V1_PROGRAM, PUMP_AMM_PROGRAM, PUMP_FUN_PROGRAM, RAYDIUM_AMM_V4_PROGRAM, SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM, TOKEN_PROGRAM,
};

/// Who "the user" is and what the caller knows about lookup tables.
///
/// By default the user is the fee payer. Lookup-table contents supplied here are shown next to the
/// table reference and marked as supplied by the caller: the signer cannot check them.
#[derive(Debug, Clone, Default)]
pub struct DescribeContext {
    users: Vec<Address>,
    user_token_accounts: Vec<Address>,
    tables: Vec<(Address, Vec<Address>)>,
}

impl DescribeContext {
    /// A context whose user is the fee payer and that knows no lookup table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a wallet address of the user (replaces the fee-payer default).
    pub fn with_user(mut self, user: Address) -> Self {
        self.users.push(user);
        self
    }

    /// Declares a token account as the user's (funds moving into it stay with the user).
    pub fn with_user_token_account(mut self, account: Address) -> Self {
        self.user_token_accounts.push(account);
        self
    }

    /// Supplies a lookup table's addresses, in table order.
    pub fn with_lookup_table(mut self, table: Address, addresses: Vec<Address>) -> Self {
        self.tables.push((table, addresses));
        self
    }
}

/// A dangerous operation found in an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Danger {
    /// Funds leave the user's accounts for an account that is not the user's.
    TransferOut,
    /// A token delegate is approved: it can move the user's tokens later.
    Approve,
    /// An authority (owner, mint, freeze, close, …) is changed.
    SetAuthority,
    /// A token account is closed and its rent sent to an account that is not the user's.
    CloseToOther,
    /// An account the user signs for is assigned to another program, or a nonce authority changes.
    OwnershipChange,
    /// An account that receives funds comes from a lookup table: the signer cannot see which.
    LookupRecipient,
    /// A program this describer does not decode; its effect is unknown.
    UnknownProgram,
    /// An instruction of a known program that this describer does not decode field by field.
    NotDecoded,
}

impl fmt::Display for Danger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TransferOut => "funds leave your accounts to an account that is not yours",
            Self::Approve => "approves a delegate who can later move your tokens",
            Self::SetAuthority => "changes an authority",
            Self::CloseToOther => {
                "closes an account and sends its balance to an account that is not yours"
            }
            Self::OwnershipChange => "changes who controls one of your accounts",
            Self::LookupRecipient => {
                "a receiving account comes from a lookup table and cannot be checked"
            }
            Self::UnknownProgram => "unknown program: its effect cannot be described",
            Self::NotDecoded => "instruction not decoded: its effect cannot be described",
        })
    }
}

/// One instruction in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstructionDescription {
    /// Position in the transaction (0-based).
    pub index: usize,
    /// Program name ("System", "SPL Token", …) or "Unknown program".
    pub program: &'static str,
    /// The program's address, base58.
    pub program_id: String,
    /// The description.
    pub text: String,
    /// Dangerous operations in this instruction.
    pub dangers: Vec<Danger>,
}

/// A whole transaction in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Fee payer, base58.
    pub fee_payer: String,
    /// "legacy" or "v0".
    pub version: &'static str,
    /// Every required signer, base58, in order.
    pub signers: Vec<String>,
    /// One entry per instruction, in order; never fewer than the transaction has.
    pub instructions: Vec<InstructionDescription>,
    /// Lamports leaving the user's accounts (transfers to others, accounts funded).
    pub sol_out: u128,
    /// Lamports entering the user's accounts from others.
    pub sol_in: u128,
    /// Token movements out of the user's accounts, one line each.
    pub tokens_out: Vec<String>,
    /// Token movements into the user's accounts, one line each.
    pub tokens_in: Vec<String>,
    /// Swaps (DEX instructions), one line each.
    pub swaps: Vec<String>,
}

impl Description {
    /// Every dangerous operation, with its instruction index.
    pub fn dangers(&self) -> impl Iterator<Item = (usize, &Danger)> {
        self.instructions
            .iter()
            .flat_map(|i| i.dangers.iter().map(move |d| (i.index, d)))
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Fee payer: {}", self.fee_payer)?;
        writeln!(f, "Signers: {}", self.signers.join(", "))?;
        writeln!(f, "Instructions ({}):", self.instructions.len())?;
        for i in &self.instructions {
            if i.dangers.contains(&Danger::UnknownProgram) {
                writeln!(f, "  {}. {}", i.index + 1, i.text)?;
            } else {
                writeln!(f, "  {}. {}: {}", i.index + 1, i.program, i.text)?;
            }
            for d in &i.dangers {
                writeln!(f, "     ⚠ {d}")?;
            }
        }
        writeln!(f, "Summary:")?;
        writeln!(f, "  SOL leaving your accounts: {}", sol(self.sol_out))?;
        writeln!(f, "  SOL entering your accounts: {}", sol(self.sol_in))?;
        for t in &self.tokens_out {
            writeln!(f, "  Tokens leaving your accounts: {t}")?;
        }
        for t in &self.tokens_in {
            writeln!(f, "  Tokens entering your accounts: {t}")?;
        }
        for s in &self.swaps {
            writeln!(f, "  Swap: {s}")?;
        }
        let n = self.dangers().count();
        if n > 0 {
            writeln!(f, "  ⚠ {n} warning(s) above")?;
        }
        Ok(())
    }
}

/// Describes a parsed transaction. Cost: linear in the instructions; allocates the text.
pub fn describe_transaction(tx: &Transaction<'_>, ctx: &DescribeContext) -> Description {
    describe_message(tx.message(), ctx)
}

/// Describes a parsed message (see [`describe_transaction`]).
pub fn describe_message(m: &Message<'_>, ctx: &DescribeContext) -> Description {
    let mut d = Describer::new(m, ctx);
    let mut out = Vec::with_capacity(m.num_instructions());
    for (index, ins) in m.instructions().enumerate() {
        out.push(d.instruction(index, &ins));
    }
    let signers = (0..m.header().num_required_signatures)
        .map(|i| d.static_name(i))
        .collect();
    Description {
        fee_payer: d.static_name(0),
        version: match m.version() {
            crate::Version::Legacy => "legacy",
            crate::Version::V0 => "v0",
        },
        signers,
        instructions: out,
        sol_out: d.sol_out,
        sol_in: d.sol_in,
        tokens_out: d.tokens_out,
        tokens_in: d.tokens_in,
        swaps: d.swaps,
    }
}

/// Exact decimal text of `amount` base units with `decimals` places, trailing zeros trimmed.
///
/// ```
/// assert_eq!(kms_solana::describe::format_units(2_078_000_000, 9), "2.078");
/// assert_eq!(kms_solana::describe::format_units(42, 9), "0.000000042");
/// assert_eq!(kms_solana::describe::format_units(5, 0), "5");
/// ```
pub fn format_units(amount: u128, decimals: u8) -> String {
    let digits = format!("{amount}");
    let d = usize::from(decimals);
    if d == 0 {
        return digits;
    }
    let padded = if digits.len() <= d {
        let mut s = "0".repeat(d + 1 - digits.len());
        s.push_str(&digits);
        s
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    }
}

/// Lamports as "X SOL (N lamports)".
pub fn sol(lamports: u128) -> String {
    format!("{} SOL ({lamports} lamports)", format_units(lamports, 9))
}

/// Base58 text of the well-known addresses, so the common ones cost no encoding.
const KNOWN: &[(Address, &str)] = &[
    (SYSTEM_PROGRAM, "11111111111111111111111111111111"),
    (TOKEN_PROGRAM, "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"),
    (
        TOKEN_2022_PROGRAM,
        "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
    ),
    (
        ASSOCIATED_TOKEN_PROGRAM,
        "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
    ),
    (
        COMPUTE_BUDGET_PROGRAM,
        "ComputeBudget111111111111111111111111111111",
    ),
    (MEMO_PROGRAM, "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
    (
        MEMO_V1_PROGRAM,
        "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
    ),
    (
        RAYDIUM_AMM_V4_PROGRAM,
        "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8",
    ),
    (
        PUMP_FUN_PROGRAM,
        "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P",
    ),
    (
        JUPITER_V6_PROGRAM,
        "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4",
    ),
    (
        PUMP_AMM_PROGRAM,
        "pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA",
    ),
    (
        crate::programs::SYSVAR_RENT,
        "SysvarRent111111111111111111111111111111111",
    ),
    (
        crate::programs::NATIVE_MINT,
        "So11111111111111111111111111111111111111112",
    ),
];

fn b58(a: &Address) -> String {
    if let Some((_, s)) = KNOWN.iter().find(|(k, _)| k == a) {
        return (*s).to_owned();
    }
    let mut buf = [0u8; 44];
    crate::programs::address_to_base58(a, &mut buf).to_owned()
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}
fn key_at(d: &[u8], at: usize) -> Option<&[u8; 32]> {
    d.get(at..at + 32)?.try_into().ok()
}
/// A bincode `String` (u64 length + UTF-8) at `at`; returns it and the offset after it.
fn str_at(d: &[u8], at: usize) -> Option<(&str, usize)> {
    let n = usize::try_from(u64_at(d, at)?).ok()?;
    let end = at.checked_add(8)?.checked_add(n)?;
    let s = std::str::from_utf8(d.get(at + 8..end)?).ok()?;
    Some((s, end))
}

/// How an account is identified in text.
#[derive(Clone, Copy)]
enum Who<'a> {
    Key(&'a Address),
    Table { table: &'a Address, index: u8 },
    Missing,
}

struct Describer<'m, 'a, 'c> {
    m: &'m Message<'a>,
    ctx: &'c DescribeContext,
    users: Vec<Address>,
    user_accounts: Vec<Address>,
    names: Vec<Option<String>>,
    /// Account positions of the current instruction already named in its text (bit per position).
    named: [u64; 4],
    sol_out: u128,
    sol_in: u128,
    tokens_out: Vec<String>,
    tokens_in: Vec<String>,
    swaps: Vec<String>,
}

impl<'m, 'a: 'm, 'c> Describer<'m, 'a, 'c> {
    fn new(m: &'m Message<'a>, ctx: &'c DescribeContext) -> Self {
        let users = if ctx.users.is_empty() {
            std::vec![*m.fee_payer()]
        } else {
            ctx.users.clone()
        };
        Self {
            m,
            ctx,
            users,
            user_accounts: ctx.user_token_accounts.clone(),
            names: std::vec![None; m.num_accounts()],
            named: [0; 4],
            sol_out: 0,
            sol_in: 0,
            tokens_out: Vec::new(),
            tokens_in: Vec::new(),
            swaps: Vec::new(),
        }
    }

    fn who(&self, ins: &Instruction<'a>, pos: usize) -> Who<'a> {
        let Some(&i) = ins.accounts.get(pos) else {
            return Who::Missing;
        };
        match self.m.account(i) {
            Some(AccountRef::Static(k)) => Who::Key(k),
            Some(AccountRef::Lookup { table, index }) => Who::Table { table, index },
            None => Who::Missing,
        }
    }

    /// The address of the account at `pos`, if known (static, or resolved by the caller).
    fn addr(&self, ins: &Instruction<'a>, pos: usize) -> Option<Address> {
        match self.who(ins, pos) {
            Who::Key(k) => Some(*k),
            Who::Table { table, index } => self.resolve(table, index).copied(),
            Who::Missing => None,
        }
    }

    fn resolve(&self, table: &Address, index: u8) -> Option<&'c Address> {
        self.ctx
            .tables
            .iter()
            .find(|(t, _)| t == table)
            .and_then(|(_, v)| v.get(usize::from(index)))
    }

    fn is_lookup(&self, ins: &Instruction<'a>, pos: usize) -> bool {
        matches!(self.who(ins, pos), Who::Table { .. })
    }

    /// Base58 of static key `i` (cached).
    fn static_name(&mut self, i: u8) -> String {
        if let Some(Some(s)) = self.names.get(usize::from(i)) {
            return s.clone();
        }
        let s = self
            .m
            .account_keys()
            .get(usize::from(i))
            .map(b58)
            .unwrap_or_default();
        if let Some(slot) = self.names.get_mut(usize::from(i)) {
            *slot = Some(s.clone());
        }
        s
    }

    /// Text for the account at `pos` (cached per account index).
    fn name(&mut self, ins: &Instruction<'a>, pos: usize) -> String {
        if pos < 256 {
            self.named[pos / 64] |= 1 << (pos % 64);
        }
        let Some(&i) = ins.accounts.get(pos) else {
            return format!("<missing account #{}>", pos + 1);
        };
        if let Some(Some(s)) = self.names.get(usize::from(i)) {
            return s.clone();
        }
        let s = match self.who(ins, pos) {
            Who::Key(k) => b58(k),
            Who::Table { table, index } => match self.resolve(table, index) {
                Some(a) => format!(
                    "{} (table {}[{index}], supplied by the caller, unverified)",
                    b58(a),
                    b58(table)
                ),
                None => format!("table {}[{index}]", b58(table)),
            },
            Who::Missing => format!("<missing account #{}>", pos + 1),
        };
        if let Some(slot) = self.names.get_mut(usize::from(i)) {
            *slot = Some(s.clone());
        }
        s
    }

    fn is_user(&self, a: Option<Address>) -> bool {
        a.is_some_and(|a| self.users.contains(&a))
    }

    fn is_user_token_account(&self, a: Option<Address>) -> bool {
        a.is_some_and(|a| self.user_accounts.contains(&a) || self.users.contains(&a))
    }

    fn instruction(&mut self, index: usize, ins: &Instruction<'a>) -> InstructionDescription {
        let pid = *ins.program_id(self.m);
        let mut dangers = Vec::new();
        self.named = [0; 4];
        let (program, mut text) = if pid == SYSTEM_PROGRAM {
            ("System", self.system(ins, &mut dangers))
        } else if pid == TOKEN_PROGRAM {
            ("SPL Token", self.token(ins, &mut dangers, false))
        } else if pid == TOKEN_2022_PROGRAM {
            ("Token-2022", self.token(ins, &mut dangers, true))
        } else if pid == ASSOCIATED_TOKEN_PROGRAM {
            ("Associated Token Account", self.ata(ins, &mut dangers))
        } else if pid == COMPUTE_BUDGET_PROGRAM {
            ("Compute Budget", self.compute_budget(ins, &mut dangers))
        } else if pid == MEMO_PROGRAM || pid == MEMO_V1_PROGRAM {
            ("Memo", self.memo(ins))
        } else if pid == RAYDIUM_AMM_V4_PROGRAM {
            ("Raydium AMM v4", self.raydium(ins, &mut dangers))
        } else if pid == PUMP_FUN_PROGRAM {
            ("pump.fun", self.pump(ins, &mut dangers))
        } else if pid == JUPITER_V6_PROGRAM {
            ("Jupiter v6", self.jupiter(ins, &mut dangers))
        } else if pid == PUMP_AMM_PROGRAM {
            ("PumpSwap", self.pump_amm(ins, &mut dangers))
        } else {
            dangers.push(Danger::UnknownProgram);
            let mut t = format!(
                "Unknown program {}: {} accounts, {} bytes of data",
                self.static_name(ins.program_id_index),
                ins.accounts.len(),
                ins.data.len()
            );
            self.note_user_writable(ins, &mut t);
            ("Unknown program", t)
        };
        let lists_accounts = pid == SYSTEM_PROGRAM
            || pid == TOKEN_PROGRAM
            || pid == TOKEN_2022_PROGRAM
            || pid == ASSOCIATED_TOKEN_PROGRAM
            || pid == COMPUTE_BUDGET_PROGRAM
            || pid == MEMO_PROGRAM
            || pid == MEMO_V1_PROGRAM;
        if lists_accounts && !dangers.contains(&Danger::NotDecoded) {
            self.extra_accounts(ins, &mut text);
        } else if (pid == RAYDIUM_AMM_V4_PROGRAM
            || pid == PUMP_FUN_PROGRAM
            || pid == PUMP_AMM_PROGRAM)
            && !dangers.contains(&Danger::NotDecoded)
        {
            let _ = write!(text, " [{} accounts]", ins.accounts.len());
        }
        InstructionDescription {
            index,
            program,
            program_id: self.static_name(ins.program_id_index),
            text,
            dangers,
        }
    }

    /// Appends every account of the instruction that its text did not name, so none is hidden.
    fn extra_accounts(&mut self, ins: &Instruction<'a>, t: &mut String) {
        let extra: Vec<usize> = (0..ins.accounts.len())
            .filter(|&p| p >= 256 || self.named[p / 64] & (1 << (p % 64)) == 0)
            .collect();
        if extra.is_empty() {
            return;
        }
        let names: Vec<String> = extra
            .iter()
            .map(|&p| {
                let i = ins.accounts[p];
                let mut n = self.name(ins, p);
                if self.m.is_signer(i) {
                    n.push_str(" (signer)");
                } else if self.m.is_writable(i) {
                    n.push_str(" (writable)");
                }
                n
            })
            .collect();
        let _ = write!(t, "; also passes account(s): {}", names.join(", "));
    }

    /// For undecoded instructions: say whether the user's accounts are passed writable/signing.
    fn note_user_writable(&mut self, ins: &Instruction<'a>, t: &mut String) {
        let mut signs = false;
        let mut writable = false;
        for (pos, &i) in ins.accounts.iter().enumerate() {
            if self.is_user(self.addr(ins, pos)) {
                signs |= self.m.is_signer(i);
                writable |= self.m.is_writable(i);
            }
        }
        if signs {
            t.push_str("; your signature is passed to it");
        }
        if writable {
            t.push_str("; your account is writable in it");
        }
    }

    fn undecoded(
        &mut self,
        what: &str,
        ins: &Instruction<'a>,
        dangers: &mut Vec<Danger>,
    ) -> String {
        dangers.push(Danger::NotDecoded);
        let mut t = format!(
            "{what} (not decoded): {} accounts, {} bytes of data",
            ins.accounts.len(),
            ins.data.len()
        );
        self.note_user_writable(ins, &mut t);
        t
    }

    /// Records a lamport movement `from` → `to` and flags it.
    fn lamports(
        &mut self,
        ins: &Instruction<'a>,
        from_pos: usize,
        to_pos: usize,
        amount: u64,
        dangers: &mut Vec<Danger>,
    ) {
        let from_user = self.is_user(self.addr(ins, from_pos));
        let to_user = self.is_user(self.addr(ins, to_pos)) && !self.is_lookup(ins, to_pos);
        if from_user && !to_user {
            self.sol_out += u128::from(amount);
            dangers.push(Danger::TransferOut);
        }
        if to_user && !from_user {
            self.sol_in += u128::from(amount);
        }
        if self.is_lookup(ins, to_pos) {
            dangers.push(Danger::LookupRecipient);
        }
    }

    fn system(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        let d = ins.data;
        let Some(tag) = u32_at(d, 0) else {
            return self.undecoded("malformed instruction", ins, dangers);
        };
        let r = (|| -> Option<String> {
            Some(match tag {
                0 => {
                    let (lamports, space, owner) = (u64_at(d, 4)?, u64_at(d, 12)?, key_at(d, 20)?);
                    exact(d, 52)?;
                    let t = format!(
                        "create account {} funded by {} with {}, {space} bytes, owned by program {}",
                        self.name(ins, 1),
                        self.name(ins, 0),
                        sol(lamports.into()),
                        b58(owner)
                    );
                    self.fund(ins, 0, lamports, dangers);
                    t
                }
                1 => {
                    let owner = key_at(d, 4)?;
                    exact(d, 36)?;
                    self.assign_flag(ins, 0, dangers);
                    format!(
                        "assign account {} to program {}",
                        self.name(ins, 0),
                        b58(owner)
                    )
                }
                2 => {
                    let lamports = u64_at(d, 4)?;
                    exact(d, 12)?;
                    self.lamports(ins, 0, 1, lamports, dangers);
                    format!(
                        "transfer {} from {} to {}",
                        sol(lamports.into()),
                        self.name(ins, 0),
                        self.name(ins, 1)
                    )
                }
                3 => {
                    let base = key_at(d, 4)?;
                    let (seed, at) = str_at(d, 36)?;
                    let (lamports, space, owner) =
                        (u64_at(d, at)?, u64_at(d, at + 8)?, key_at(d, at + 16)?);
                    exact(d, at + 48)?;
                    let t = format!(
                        "create account {} (base {}, seed {:?}) funded by {} with {}, {space} bytes, owned by program {}",
                        self.name(ins, 1),
                        b58(base),
                        seed,
                        self.name(ins, 0),
                        sol(lamports.into()),
                        b58(owner)
                    );
                    self.fund(ins, 0, lamports, dangers);
                    t
                }
                4 => {
                    exact(d, 4)?;
                    format!(
                        "advance durable nonce {} (authority {})",
                        self.name(ins, 0),
                        self.name(ins, 2)
                    )
                }
                5 => {
                    let lamports = u64_at(d, 4)?;
                    exact(d, 12)?;
                    let to_user = self.is_user(self.addr(ins, 1)) && !self.is_lookup(ins, 1);
                    let auth_user = self.is_user(self.addr(ins, 4));
                    if auth_user && !to_user {
                        self.sol_out += u128::from(lamports);
                        dangers.push(Danger::TransferOut);
                    }
                    if self.is_lookup(ins, 1) {
                        dangers.push(Danger::LookupRecipient);
                    }
                    format!(
                        "withdraw {} from nonce account {} to {} (authority {})",
                        sol(lamports.into()),
                        self.name(ins, 0),
                        self.name(ins, 1),
                        self.name(ins, 4)
                    )
                }
                6 => {
                    let auth = key_at(d, 4)?;
                    exact(d, 36)?;
                    format!(
                        "initialize nonce account {} with authority {}",
                        self.name(ins, 0),
                        b58(auth)
                    )
                }
                7 => {
                    let auth = key_at(d, 4)?;
                    exact(d, 36)?;
                    dangers.push(Danger::OwnershipChange);
                    format!(
                        "set the authority of nonce account {} to {} (current authority {})",
                        self.name(ins, 0),
                        b58(auth),
                        self.name(ins, 1)
                    )
                }
                8 => {
                    let space = u64_at(d, 4)?;
                    exact(d, 12)?;
                    format!("allocate {space} bytes for account {}", self.name(ins, 0))
                }
                9 => {
                    let base = key_at(d, 4)?;
                    let (seed, at) = str_at(d, 36)?;
                    let (space, owner) = (u64_at(d, at)?, key_at(d, at + 8)?);
                    exact(d, at + 40)?;
                    self.assign_flag(ins, 1, dangers);
                    format!(
                        "allocate {space} bytes for account {} (base {}, seed {:?}) owned by program {}",
                        self.name(ins, 0),
                        b58(base),
                        seed,
                        b58(owner)
                    )
                }
                10 => {
                    let base = key_at(d, 4)?;
                    let (seed, at) = str_at(d, 36)?;
                    let owner = key_at(d, at)?;
                    exact(d, at + 32)?;
                    self.assign_flag(ins, 1, dangers);
                    format!(
                        "assign account {} (base {}, seed {:?}) to program {}",
                        self.name(ins, 0),
                        b58(base),
                        seed,
                        b58(owner)
                    )
                }
                11 => {
                    let lamports = u64_at(d, 4)?;
                    let (seed, at) = str_at(d, 12)?;
                    let owner = key_at(d, at)?;
                    exact(d, at + 32)?;
                    // The base (account 1) signs for the derived source account 0.
                    let from_user = self.is_user(self.addr(ins, 1));
                    let to_user = self.is_user(self.addr(ins, 2)) && !self.is_lookup(ins, 2);
                    if from_user && !to_user {
                        self.sol_out += u128::from(lamports);
                        dangers.push(Danger::TransferOut);
                    }
                    if self.is_lookup(ins, 2) {
                        dangers.push(Danger::LookupRecipient);
                    }
                    format!(
                        "transfer {} from {} (derived from base {}, seed {:?}, owner {}) to {}",
                        sol(lamports.into()),
                        self.name(ins, 0),
                        self.name(ins, 1),
                        seed,
                        b58(owner),
                        self.name(ins, 2)
                    )
                }
                12 => {
                    exact(d, 4)?;
                    format!("upgrade nonce account {}", self.name(ins, 0))
                }
                _ => return None,
            })
        })();
        match r {
            Some(t) => t,
            None => self.undecoded(&format!("System instruction {tag}"), ins, dangers),
        }
    }

    /// Account creation funded by `pos`: the lamports leave the user but stay in a new account.
    fn fund(&mut self, ins: &Instruction<'a>, pos: usize, lamports: u64, _d: &mut Vec<Danger>) {
        if self.is_user(self.addr(ins, pos)) {
            self.sol_out += u128::from(lamports);
        }
    }

    fn assign_flag(&mut self, ins: &Instruction<'a>, signer_pos: usize, dangers: &mut Vec<Danger>) {
        if self.is_user(self.addr(ins, signer_pos)) || self.addr(ins, signer_pos).is_none() {
            dangers.push(Danger::OwnershipChange);
        }
    }

    fn token(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>, t22: bool) -> String {
        let d = ins.data;
        let Some(&tag) = d.first() else {
            return self.undecoded("malformed instruction", ins, dangers);
        };
        let r = (|| -> Option<String> {
            Some(match tag {
                1 => format!(
                    "initialize token account {} for mint {}, owner {}",
                    self.name(ins, 0),
                    self.name(ins, 1),
                    self.name(ins, 2)
                ),
                16 | 18 => format!(
                    "initialize token account {} for mint {}, owner {}",
                    self.name(ins, 0),
                    self.name(ins, 1),
                    b58(key_at(d, 1)?)
                ),
                3 => {
                    let amount = u64_at(d, 1)?;
                    self.token_move(ins, 0, 1, 2, amount, None, None, dangers);
                    format!(
                        "transfer {} from {} to {} (authority {})",
                        raw(amount),
                        self.name(ins, 0),
                        self.name(ins, 1),
                        self.name(ins, 2)
                    )
                }
                12 => {
                    let (amount, dec) = (u64_at(d, 1)?, *d.get(9)?);
                    let mint = self.name(ins, 1);
                    self.token_move(ins, 0, 2, 3, amount, Some(dec), Some(&mint), dangers);
                    format!(
                        "transfer {} of mint {} from {} to {} (authority {})",
                        units(amount, dec),
                        mint,
                        self.name(ins, 0),
                        self.name(ins, 2),
                        self.name(ins, 3)
                    )
                }
                4 => {
                    let amount = u64_at(d, 1)?;
                    dangers.push(Danger::Approve);
                    format!(
                        "approve delegate {} to spend up to {} from {} (owner {})",
                        self.name(ins, 1),
                        raw(amount),
                        self.name(ins, 0),
                        self.name(ins, 2)
                    )
                }
                13 => {
                    let (amount, dec) = (u64_at(d, 1)?, *d.get(9)?);
                    dangers.push(Danger::Approve);
                    format!(
                        "approve delegate {} to spend up to {} of mint {} from {} (owner {})",
                        self.name(ins, 2),
                        units(amount, dec),
                        self.name(ins, 1),
                        self.name(ins, 0),
                        self.name(ins, 3)
                    )
                }
                5 => format!(
                    "revoke the delegate of {} (owner {})",
                    self.name(ins, 0),
                    self.name(ins, 1)
                ),
                6 => {
                    let kind = *d.get(1)?;
                    let new = match *d.get(2)? {
                        0 => "nobody (authority removed)".to_owned(),
                        1 => b58(key_at(d, 3)?),
                        _ => return None,
                    };
                    dangers.push(Danger::SetAuthority);
                    format!(
                        "set the {} authority of {} to {new} (current authority {})",
                        authority_type(kind),
                        self.name(ins, 0),
                        self.name(ins, 1)
                    )
                }
                7 | 14 => {
                    let amount = u64_at(d, 1)?;
                    let amt = if tag == 14 {
                        units(amount, *d.get(9)?)
                    } else {
                        raw(amount)
                    };
                    format!(
                        "mint {amt} of mint {} to {} (mint authority {})",
                        self.name(ins, 0),
                        self.name(ins, 1),
                        self.name(ins, 2)
                    )
                }
                8 | 15 => {
                    let amount = u64_at(d, 1)?;
                    let amt = if tag == 15 {
                        units(amount, *d.get(9)?)
                    } else {
                        raw(amount)
                    };
                    if self.is_user(self.addr(ins, 2)) {
                        let from = self.name(ins, 0);
                        self.tokens_out.push(format!("{amt} burned from {from}"));
                    }
                    format!(
                        "burn {amt} of mint {} from {} (authority {})",
                        self.name(ins, 1),
                        self.name(ins, 0),
                        self.name(ins, 2)
                    )
                }
                9 => {
                    let dest = self.addr(ins, 1);
                    if !self.is_user_token_account(dest) || self.is_lookup(ins, 1) {
                        dangers.push(Danger::CloseToOther);
                    }
                    if self.is_lookup(ins, 1) {
                        dangers.push(Danger::LookupRecipient);
                    }
                    format!(
                        "close token account {}, sending its SOL to {} (owner {})",
                        self.name(ins, 0),
                        self.name(ins, 1),
                        self.name(ins, 2)
                    )
                }
                10 => format!("freeze token account {}", self.name(ins, 0)),
                11 => format!("thaw token account {}", self.name(ins, 0)),
                17 => format!("sync the wrapped-SOL balance of {}", self.name(ins, 0)),
                22 => format!("make the owner of {} immutable", self.name(ins, 0)),
                _ => return None,
            })
        })();
        match r {
            Some(t) => t,
            None => {
                let what = if t22 { "Token-2022" } else { "SPL Token" };
                self.undecoded(&format!("{what} instruction {tag}"), ins, dangers)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn token_move(
        &mut self,
        ins: &Instruction<'a>,
        src: usize,
        dst: usize,
        auth: usize,
        amount: u64,
        decimals: Option<u8>,
        mint: Option<&str>,
        dangers: &mut Vec<Danger>,
    ) {
        let amt = match decimals {
            Some(dec) => units(amount, dec),
            None => raw(amount),
        };
        let of = mint.map(|m| format!(" of mint {m}")).unwrap_or_default();
        // The authority, or (multisig) any co-signer after it, is the user.
        let from_user = (auth..ins.accounts.len()).any(|p| self.is_user(self.addr(ins, p)));
        if from_user && let Some(s) = self.addr(ins, src) {
            self.user_accounts.push(s);
        }
        let dst_lookup = self.is_lookup(ins, dst);
        let to_user = !dst_lookup && self.is_user_token_account(self.addr(ins, dst));
        if from_user && !to_user {
            dangers.push(Danger::TransferOut);
            let to = self.name(ins, dst);
            self.tokens_out.push(format!("{amt}{of} to {to}"));
        }
        if to_user && !from_user {
            let from = self.name(ins, src);
            self.tokens_in.push(format!("{amt}{of} from {from}"));
        }
        if dst_lookup {
            dangers.push(Danger::LookupRecipient);
        }
    }

    fn ata(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        let kind = match ins.data {
            [] | [0] => "create",
            [1] => "create (idempotent)",
            [2] => {
                return format!(
                    "recover nested token account {} (mint {}) into {} for wallet {}",
                    self.name(ins, 0),
                    self.name(ins, 1),
                    self.name(ins, 2),
                    self.name(ins, 5)
                );
            }
            _ => return self.undecoded("Associated Token Account instruction", ins, dangers),
        };
        // The program fails unless account 1 is the derived address of (wallet, token program,
        // mint), so a created account belongs to the wallet.
        if self.is_user(self.addr(ins, 2))
            && let Some(a) = self.addr(ins, 1)
        {
            self.user_accounts.push(a);
        }
        format!(
            "{kind} the associated token account {} of wallet {} for mint {} (token program {}), paid by {}",
            self.name(ins, 1),
            self.name(ins, 2),
            self.name(ins, 3),
            self.name(ins, 5),
            self.name(ins, 0)
        )
    }

    fn compute_budget(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        let d = ins.data;
        let r = (|| -> Option<String> {
            Some(match *d.first()? {
                0 => {
                    exact(d, 9)?;
                    format!(
                        "request {} compute units and an additional fee of {} (deprecated)",
                        u32_at(d, 1)?,
                        sol(u32_at(d, 5)?.into())
                    )
                }
                1 => {
                    exact(d, 5)?;
                    format!("request a heap frame of {} bytes", u32_at(d, 1)?)
                }
                2 => {
                    exact(d, 5)?;
                    format!("set compute unit limit to {} units", u32_at(d, 1)?)
                }
                3 => {
                    exact(d, 9)?;
                    format!(
                        "set compute unit price to {} micro-lamports per unit",
                        u64_at(d, 1)?
                    )
                }
                4 => {
                    exact(d, 5)?;
                    format!(
                        "set loaded accounts data size limit to {} bytes",
                        u32_at(d, 1)?
                    )
                }
                _ => return None,
            })
        })();
        match r {
            Some(t) => t,
            None => self.undecoded("Compute Budget instruction", ins, dangers),
        }
    }

    fn memo(&mut self, ins: &Instruction<'a>) -> String {
        let text = match std::str::from_utf8(ins.data) {
            // Plain printable ASCII needs no escaping; anything else is escaped like Rust's `{:?}`
            // (quotes, control and invisible characters cannot disguise the text).
            Ok(s)
                if s.bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') =>
            {
                format!("\"{s}\"")
            }
            Ok(s) => format!("{s:?}"),
            Err(_) => format!(
                "{} bytes that are not UTF-8 (the program rejects them)",
                ins.data.len()
            ),
        };
        let mut t = format!("memo {text}");
        if !ins.accounts.is_empty() {
            let signers: Vec<String> = (0..ins.accounts.len()).map(|p| self.name(ins, p)).collect();
            let _ = write!(t, ", signed by {}", signers.join(", "));
        }
        t
    }

    fn raydium(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        let d = ins.data;
        let n = ins.accounts.len();
        let r = (|| -> Option<String> {
            let tag = *d.first()?;
            let (a, b) = (u64_at(d, 1)?, u64_at(d, 9)?);
            exact(d, 17)?;
            let (what, v2) = match tag {
                9 => ("swap (exact input)", false),
                11 => ("swap (exact output)", false),
                16 => ("swap v2 (exact input)", true),
                17 => ("swap v2 (exact output)", true),
                _ => return None,
            };
            if (v2 && n != 8) || (!v2 && n != 17 && n != 18) {
                return None;
            }
            let amounts = if tag == 9 || tag == 16 {
                format!("{} in, at least {} out", raw(a), raw(b))
            } else {
                format!("at most {} in, exactly {} out", raw(a), raw(b))
            };
            let (src, dst, owner) = (n - 3, n - 2, n - 1);
            self.swap_flags(ins, src, dst, owner, dangers);
            let t = format!(
                "{what} on pool {}: {amounts}; from your token account {} to {} (owner {})",
                self.name(ins, 1),
                self.name(ins, src),
                self.name(ins, dst),
                self.name(ins, owner)
            );
            Some(t)
        })();
        match r {
            Some(t) => {
                self.swaps.push(format!("Raydium AMM v4: {t}"));
                t
            }
            None => self.undecoded("Raydium AMM v4 instruction", ins, dangers),
        }
    }

    /// A swap's destination should be the user's; a lookup-table destination cannot be checked.
    fn swap_flags(
        &mut self,
        ins: &Instruction<'a>,
        src: usize,
        dst: usize,
        owner: usize,
        dangers: &mut Vec<Danger>,
    ) {
        if self.is_user(self.addr(ins, owner))
            && let Some(s) = self.addr(ins, src)
        {
            self.user_accounts.push(s);
        }
        if self.is_lookup(ins, dst) {
            dangers.push(Danger::LookupRecipient);
        }
    }

    /// pump.fun's bonding-curve trades (`idl/pump.json` of pump's public docs): `buy`,
    /// `buy_exact_sol_in`, `sell`, the quote-mint forms `buy_v2`, `sell_v2`,
    /// `buy_exact_quote_in_v2`, and the v3 forms `buy_v3`, `sell_v3`, `buy_exact_quote_in_v3`
    /// (IDL of `8cda1fa`), each with its amounts and its limit.
    fn pump(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        const BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
        const SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
        const BUY_EXACT_SOL_IN: [u8; 8] = [56, 252, 116, 8, 158, 223, 205, 95];
        const BUY_V2: [u8; 8] = [184, 23, 238, 97, 103, 197, 211, 61];
        const SELL_V2: [u8; 8] = [93, 246, 130, 60, 231, 233, 64, 178];
        const BUY_EXACT_QUOTE_IN_V2: [u8; 8] = [194, 171, 28, 70, 104, 77, 91, 47];
        const BUY_V3: [u8; 8] = [7, 5, 29, 196, 245, 23, 101, 80];
        const SELL_V3: [u8; 8] = [28, 146, 222, 119, 38, 196, 105, 213];
        const BUY_EXACT_QUOTE_IN_V3: [u8; 8] = [225, 247, 80, 30, 213, 179, 132, 136];
        let d = ins.data;
        let r = (|| -> Option<String> {
            let disc: [u8; 8] = d.get(..8)?.try_into().ok()?;
            let (a, b) = (u64_at(d, 8)?, u64_at(d, 16)?);
            let extra = d.len() - 24;
            let extra = if extra > 0 {
                format!(" (+{extra} more bytes of options)")
            } else {
                String::new()
            };
            let v2 = disc == BUY_V2 || disc == SELL_V2 || disc == BUY_EXACT_QUOTE_IN_V2;
            let v3 = disc == BUY_V3 || disc == SELL_V3 || disc == BUY_EXACT_QUOTE_IN_V3;
            // Positions of the mint, the user's token account and the user (IDL order).
            let (mint, user_tokens, user) = if v3 {
                (1, 9, 8)
            } else if v2 {
                (1, 14, 13)
            } else {
                (2, 5, 6)
            };
            if ins.accounts.len() <= user_tokens.max(user) {
                return None;
            }
            let quote_mint = if v2 || v3 {
                Some(self.name(ins, 2))
            } else {
                None
            };
            let quote = |amount: u64| -> String {
                match &quote_mint {
                    Some(m) => format!("{} of quote mint {m}", raw(amount)),
                    None => sol(amount.into()),
                }
            };
            let (mint_name, tokens, payer) = (
                self.name(ins, mint),
                self.name(ins, user_tokens),
                self.name(ins, user),
            );
            let t = if disc == BUY || disc == BUY_V2 || disc == BUY_V3 {
                format!(
                    "buy {} of mint {mint_name} for at most {}; tokens to {tokens}, paid by {payer}{extra}",
                    raw(a),
                    quote(b),
                )
            } else if disc == BUY_EXACT_SOL_IN
                || disc == BUY_EXACT_QUOTE_IN_V2
                || disc == BUY_EXACT_QUOTE_IN_V3
            {
                format!(
                    "buy mint {mint_name} with {} (fees included) for at least {}; tokens to {tokens}, paid by {payer}{extra}",
                    quote(a),
                    raw(b),
                )
            } else if disc == SELL || disc == SELL_V2 || disc == SELL_V3 {
                format!(
                    "sell {} of mint {mint_name} for at least {}; tokens from {tokens}, proceeds to {payer}{extra}",
                    raw(a),
                    quote(b),
                )
            } else {
                return None;
            };
            if self.is_lookup(ins, user_tokens) || self.is_lookup(ins, user) {
                dangers.push(Danger::LookupRecipient);
            }
            Some(t)
        })();
        match r {
            Some(t) => {
                self.swaps.push(format!("pump.fun: {t}"));
                t
            }
            None => self.undecoded("pump.fun instruction", ins, dangers),
        }
    }

    /// PumpSwap's trades (`idl/pump_amm.json`): `buy`, `buy_exact_quote_in`, `sell`, and their
    /// v2 forms (IDL of `8cda1fa`).
    fn pump_amm(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        const BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
        const SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
        const BUY_EXACT_QUOTE_IN: [u8; 8] = [198, 46, 21, 82, 180, 217, 232, 112];
        // The v2 forms (IDL of `8cda1fa`, 17 accounts): the same first seven accounts.
        const BUY_V2: [u8; 8] = [184, 23, 238, 97, 103, 197, 211, 61];
        const SELL_V2: [u8; 8] = [93, 246, 130, 60, 231, 233, 64, 178];
        const BUY_EXACT_QUOTE_IN_V2: [u8; 8] = [194, 171, 28, 70, 104, 77, 91, 47];
        let d = ins.data;
        let r = (|| -> Option<String> {
            let disc: [u8; 8] = d.get(..8)?.try_into().ok()?;
            let (a, b) = (u64_at(d, 8)?, u64_at(d, 16)?);
            if ins.accounts.len() < 7 {
                return None;
            }
            // pool 0, user 1, base mint 3, quote mint 4, user base 5, user quote 6
            let (base, quote) = (self.name(ins, 3), self.name(ins, 4));
            let (user_base, user_quote) = (self.name(ins, 5), self.name(ins, 6));
            let (pool, user) = (self.name(ins, 0), self.name(ins, 1));
            let t = if disc == BUY || disc == BUY_V2 {
                format!(
                    "buy {} of {base} for at most {} of {quote} in pool {pool}; base to {user_base}, quote from {user_quote} (user {user})",
                    raw(a),
                    raw(b)
                )
            } else if disc == BUY_EXACT_QUOTE_IN || disc == BUY_EXACT_QUOTE_IN_V2 {
                format!(
                    "buy {base} with {} of {quote} (fees included) for at least {} in pool {pool}; base to {user_base}, quote from {user_quote} (user {user})",
                    raw(a),
                    raw(b)
                )
            } else if disc == SELL || disc == SELL_V2 {
                format!(
                    "sell {} of {base} for at least {} of {quote} in pool {pool}; base from {user_base}, quote to {user_quote} (user {user})",
                    raw(a),
                    raw(b)
                )
            } else {
                return None;
            };
            if self.is_lookup(ins, 5) || self.is_lookup(ins, 6) {
                dangers.push(Danger::LookupRecipient);
            }
            Some(t)
        })();
        match r {
            Some(t) => {
                self.swaps.push(format!("PumpSwap: {t}"));
                t
            }
            None => self.undecoded("PumpSwap instruction", ins, dangers),
        }
    }

    fn jupiter(&mut self, ins: &Instruction<'a>, dangers: &mut Vec<Danger>) -> String {
        const ROUTE: [u8; 8] = [229, 23, 203, 151, 122, 227, 173, 42];
        const SHARED: [u8; 8] = [193, 32, 155, 51, 65, 214, 156, 129];
        const EXACT_OUT: [u8; 8] = [208, 51, 239, 151, 123, 43, 237, 92];
        const SHARED_EXACT_OUT: [u8; 8] = [176, 209, 105, 168, 154, 125, 69, 62];
        let d = ins.data;
        let r = (|| -> Option<String> {
            let disc: [u8; 8] = d.get(..8)?.try_into().ok()?;
            // Layout: disc, [id u8 for shared], route_plan: Vec<RoutePlanStep> (u32 count +
            // steps), then amount_a u64, amount_b u64, slippage_bps u16, platform_fee_bps u8.
            // The fixed 19-byte tail is read from the end; the route plan is counted, not decoded.
            let (shared, exact_out) = match disc {
                ROUTE => (false, false),
                SHARED => (true, false),
                EXACT_OUT => (false, true),
                SHARED_EXACT_OUT => (true, true),
                _ => return self.jupiter_v2(ins, disc, dangers),
            };
            let plan_at = if shared { 9 } else { 8 };
            let steps = u32_at(d, plan_at)?;
            if d.len() < plan_at + 4 + 19 {
                return None;
            }
            let tail = d.len() - 19;
            let (a, b) = (u64_at(d, tail)?, u64_at(d, tail + 8)?);
            let slippage = u16_at(d, tail + 16)?;
            let fee = *d.get(tail + 18)?;
            // Account positions from the published IDL.
            let (src, dst, dst_mint, fee_acct, auth) = match (shared, exact_out) {
                (false, false) => (2, 3, 5, 6, 1),
                (false, true) => (2, 3, 6, 7, 1),
                (true, _) => (3, 6, 8, 9, 2),
            };
            if ins.accounts.len() <= fee_acct {
                return None;
            }
            let amounts = if exact_out {
                format!("exactly {} out, quoted {} in", raw(a), raw(b))
            } else {
                format!("{} in, quoted {} out", raw(a), raw(b))
            };
            let platform = if self.addr(ins, fee_acct) == Some(JUPITER_V6_PROGRAM) {
                "none".to_owned()
            } else {
                format!("{} bps to {}", fee, self.name(ins, fee_acct))
            };
            self.swap_flags(ins, src, dst, auth, dangers);
            let name = match (shared, exact_out) {
                (false, false) => "route",
                (true, false) => "shared-accounts route",
                (false, true) => "exact-out route",
                (true, true) => "shared-accounts exact-out route",
            };
            Some(format!(
                "{name}: {amounts}, slippage {}, platform fee {platform}; from {} to {} (output mint {}, authority {}); {steps} route step(s), {} accounts",
                bps(slippage),
                self.name(ins, src),
                self.name(ins, dst),
                self.name(ins, dst_mint),
                self.name(ins, auth),
                ins.accounts.len()
            ))
        })();
        match r {
            Some(t) => {
                self.swaps.push(format!("Jupiter v6: {t}"));
                t
            }
            None => self.undecoded("Jupiter v6 instruction", ins, dangers),
        }
    }

    /// Jupiter's v2 forms (`route_v2`, `shared_accounts_route_v2`, `exact_out_route_v2`,
    /// `shared_accounts_exact_out_route_v2`): amounts, slippage and fees come before the plan.
    fn jupiter_v2(
        &mut self,
        ins: &Instruction<'a>,
        disc: [u8; 8],
        dangers: &mut Vec<Danger>,
    ) -> Option<String> {
        const ROUTE_V2: [u8; 8] = [187, 100, 250, 204, 49, 196, 175, 20];
        const SHARED_V2: [u8; 8] = [209, 152, 83, 147, 124, 254, 216, 233];
        const EXACT_OUT_V2: [u8; 8] = [157, 138, 184, 82, 21, 244, 243, 36];
        const SHARED_EXACT_OUT_V2: [u8; 8] = [53, 96, 229, 202, 216, 187, 250, 24];
        let (shared, exact_out) = match disc {
            ROUTE_V2 => (false, false),
            SHARED_V2 => (true, false),
            EXACT_OUT_V2 => (false, true),
            SHARED_EXACT_OUT_V2 => (true, true),
            _ => return None,
        };
        let d = ins.data;
        let at = if shared { 9 } else { 8 };
        let (a, b) = (u64_at(d, at)?, u64_at(d, at + 8)?);
        let (slippage, fee, positive) = (
            u16_at(d, at + 16)?,
            u16_at(d, at + 18)?,
            u16_at(d, at + 20)?,
        );
        let steps = u32_at(d, at + 22)?;
        // Account positions of the v2 IDL: (authority, source, destination, output mint).
        let (auth, src, dst, dst_mint) = if shared { (1, 2, 5, 7) } else { (0, 1, 2, 4) };
        if ins.accounts.len() <= dst_mint.max(dst) {
            return None;
        }
        let amounts = if exact_out {
            format!("exactly {} out, quoted {} in", raw(a), raw(b))
        } else {
            format!("{} in, quoted {} out", raw(a), raw(b))
        };
        self.swap_flags(ins, src, dst, auth, dangers);
        let name = match (shared, exact_out) {
            (false, false) => "route v2",
            (true, false) => "shared-accounts route v2",
            (false, true) => "exact-out route v2",
            (true, true) => "shared-accounts exact-out route v2",
        };
        Some(format!(
            "{name}: {amounts}, slippage {}, platform fee {}, positive-slippage fee {}; from {} to {} (output mint {}, authority {}); {steps} route step(s), {} accounts",
            bps(slippage),
            bps(fee),
            bps(positive),
            self.name(ins, src),
            self.name(ins, dst),
            self.name(ins, dst_mint),
            self.name(ins, auth),
            ins.accounts.len()
        ))
    }
}

fn exact(d: &[u8], len: usize) -> Option<()> {
    (d.len() == len).then_some(())
}

fn raw(amount: u64) -> String {
    format!("{amount} raw units")
}

fn units(amount: u64, decimals: u8) -> String {
    format!(
        "{} ({amount} raw units, {decimals} decimals)",
        format_units(amount.into(), decimals)
    )
}

fn bps(b: u16) -> String {
    format!("{}% ({b} bps)", format_units(b.into(), 2))
}

fn authority_type(k: u8) -> String {
    match k {
        0 => "mint-tokens".to_owned(),
        1 => "freeze-account".to_owned(),
        2 => "account-owner".to_owned(),
        3 => "close-account".to_owned(),
        n => format!("type-{n}"),
    }
}
