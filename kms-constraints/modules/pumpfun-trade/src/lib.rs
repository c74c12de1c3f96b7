//! `pumpfun-trade` 3.1.0: one pump.fun bonding-curve trade of `mint` at a price no worse than
//! the user authorized, in the layouts the program accepts since its fee-recipient upgrade of
//! 2026-04-28 (pump.fun's public docs repository, `idl/pump.json` and
//! `docs/BREAKING_FEE_RECIPIENT.md` at commit `1b82215`):
//!
//! - `buy` (`amount`, `max_sol_cost`, optional `track_volume`) and `buy_exact_sol_in`
//!   (`spendable_sol_in`, `min_tokens_out`, optional `track_volume`): the IDL's 16 accounts, then
//!   `bonding_curve_v2` (readonly) and a buyback fee recipient (writable): 18;
//! - `sell` (`amount`, `min_sol_output`): the IDL's 14 accounts, then `bonding_curve_v2` and a
//!   buyback fee recipient: 16; for cashback coins the user's volume accumulator (writable)
//!   comes before the pair: 17;
//! - the quote-mint forms (`docs/instructions/BUY.md`, `SELL.md`), which pump.fun's own router
//!   uses: `buy_v2` (`amount`, `max_sol_cost`) and `buy_exact_quote_in_v2`
//!   (`spendable_quote_in`, `min_tokens_out`) with 27 accounts, `sell_v2` (`amount`,
//!   `min_sol_output`) with 26; their amounts are in base units of the intent's `quote_mint`
//!   (wrapped SOL for SOL-paired coins: lamports), and the fee and buyback recipients are the
//!   intent's, whose quote token accounts the host derives.
//!
//! - the v3 forms (3.1.0; in `idl/pump.json` of pump-public-docs at commit `8cda1fa`, which the
//!   snapshot this module was written from does not have: read from the copy shipped in the
//!   crates.io package `sol-parser-sdk` 0.11.0, `idl/pumpfun.json`): `buy_v3` (`amount`,
//!   `max_sol_cost`), `buy_exact_quote_in_v3` (`spendable_quote_in`, `min_tokens_out`) and
//!   `sell_v3` (`amount`, `min_sol_output`), 17 accounts (no fee recipient, creator vault,
//!   sharing config, global volume accumulator or fee program; the intent's buyback fee
//!   recipient), amounts in the intent's quote mint as in v2.
//!
//! `partial_fill` (an optional last flag of every buy in the IDL of `8cda1fa`) may be absent or
//! false: a partial fill may buy fewer tokens than the authorized minimum, so it is refused.
//!
//! The intent's `quote_mint` says what `max_sol_cost` and `min_sol_output` count: the SOL-only
//! layouts above are accepted only when it is wrapped SOL.
//!
//! Limit price (SPEC §5): a buy pays at most `max_sol_cost` for at least `min_tokens_out`
//! tokens, a sell gives at most `max_tokens_in` tokens for at least `min_sol_output`.
//!
//! Every address the program derives is checked: the bonding curve, its token account, its v2
//! account, the creator vault, the global and user volume accumulators and the fee config are
//! host-derived parameters (`pda(...)`, `ata(...)`: SPEC §4); the global account, the event
//! authority and the fee program are constants; the fee recipient must be one of the 8 normal
//! or 8 reserved (mayhem) recipients and the buyback recipient one of the 8 buyback recipients
//! of `docs/FEE_RECIPIENTS.md`. The classic 12-account layout and the 16/14-account layouts of
//! before the upgrade are refused by name (the program refuses them too).
//!
//! Writable flags (3.1.0): the global volume accumulator, the fee config and the fee program may
//! be marked writable, as most builders on mainnet mark them (the IDL had the accumulator
//! writable until 2025-11-16). Each is owned by pump.fun or its fee program, or is a program:
//! the flag lets nothing move the user's funds. 3.0.0 refused them; every other account keeps
//! the IDL's flag.
//! Before the trade: the trading preamble (durable nonce, compute budget, priority fee) and,
//! before a buy, an idempotent creation of the user's token account. No lookup tables.
#![no_std]

use kms_module_sdk::kms_solana::programs::{
    ASSOCIATED_TOKEN_PROGRAM, NATIVE_MINT, PUMP_FUN_PROGRAM, SYSTEM_PROGRAM,
};
use kms_module_sdk::kms_solana::{Address, Message};

/// Whether the accounts builders mark writable beyond the IDL (global volume accumulator, fee
/// config, fee program) may be writable: they may (module doc).
const BUILDERS_WRITABLE: bool = true;
use kms_module_sdk::{
    Check, Common, FeePolicy, Ix, Params, Shape, address, create_ata_idempotent, le_u64, reject,
    reject_at,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// Anchor discriminator of `buy` (first 8 bytes of SHA-256 of `global:buy`).
pub const BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
/// Anchor discriminator of `buy_exact_sol_in`.
pub const BUY_EXACT_SOL_IN: [u8; 8] = [56, 252, 116, 8, 158, 223, 205, 95];
/// Anchor discriminator of `sell`.
pub const SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
/// Anchor discriminator of `buy_v2`.
pub const BUY_V2: [u8; 8] = [184, 23, 238, 97, 103, 197, 211, 61];
/// Anchor discriminator of `sell_v2`.
pub const SELL_V2: [u8; 8] = [93, 246, 130, 60, 231, 233, 64, 178];
/// Anchor discriminator of `buy_exact_quote_in_v2`.
pub const BUY_EXACT_QUOTE_IN_V2: [u8; 8] = [194, 171, 28, 70, 104, 77, 91, 47];
/// Anchor discriminator of `buy_v3`.
pub const BUY_V3: [u8; 8] = [7, 5, 29, 196, 245, 23, 101, 80];
/// Anchor discriminator of `sell_v3`.
pub const SELL_V3: [u8; 8] = [28, 146, 222, 119, 38, 196, 105, 213];
/// Anchor discriminator of `buy_exact_quote_in_v3`.
pub const BUY_EXACT_QUOTE_IN_V3: [u8; 8] = [225, 247, 80, 30, 213, 179, 132, 136];
/// pump.fun's global config account (PDA `global`).
pub const GLOBAL: Address = address!("4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf");
/// pump.fun's Anchor event authority (PDA `__event_authority`).
pub const EVENT_AUTHORITY: Address = address!("Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1");
/// The pump fees program.
pub const FEE_PROGRAM: Address = address!("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ");

/// Fee recipients a trade may pay: the 8 normal and the 8 reserved (mayhem-mode) recipients.
pub const FEE_RECIPIENTS: [Address; 16] = [
    address!("62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV"),
    address!("7VtfL8fvgNfhz17qKRMjzQEXgbdpnHHHQRh54R9jP2RJ"),
    address!("7hTckgnGnLQR6sdH7YkqFTAA7VwTfYFaZ6EhEsU3saCX"),
    address!("9rPYyANsfQZw3DnDmKE3YCQF5E8oD89UXoHn9JFEhJUz"),
    address!("AVmoTthdrX6tKt4nDjco2D775W2YK3sDhxPcMmzUAmTY"),
    address!("CebN5WGQ4jvEPvsVU4EoHEpgzq1VV7AbicfhtW4xC9iM"),
    address!("FWsW1xNtWscwNmKv6wVsU1iTzRN6wmmk3MjxRP5tT7hz"),
    address!("G5UZAVbAf46s7cKWoyKu8kYTip9DGTpbLZ2qa9Aq69dP"),
    address!("GesfTA3X2arioaHp8bbKdjG9vJtskViWACZoYvxp4twS"),
    address!("4budycTjhs9fD6xw62VBducVTNgMgJJ5BgtKq7mAZwn6"),
    address!("8SBKzEQU4nLSzcwF4a74F2iaUDQyTfjGndn6qUWBnrpR"),
    address!("4UQeTP1T39KZ9Sfxzo3WR5skgsaP6NZa87BAkuazLEKH"),
    address!("8sNeir4QsLsJdYpc9RZacohhK1Y5FLU3nC5LXgYB4aa6"),
    address!("Fh9HmeLNUMVCvejxCtCL2DbYaRyBFVJ5xrWkLnMH6fdk"),
    address!("463MEnMeGyJekNZFQSTUABBEbLnvMTALbT6ZmsxAbAdq"),
    address!("6AUH3WEHucYZyC61hqpqYUWVto5qA5hjHuNQ32GNnNxA"),
];

/// The 8 buyback fee recipients.
pub const BUYBACK_FEE_RECIPIENTS: [Address; 8] = [
    address!("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD"),
    address!("9M4giFFMxmFGXtc3feFzRai56WbBqehoSeRE5GK7gf7"),
    address!("GXPFM2caqTtQYC2cJ5yJRi9VDkpsYZXzYdwYpGnLmtDL"),
    address!("3BpXnfJaUTiwXnJNe7Ej1rcbzqTTQUvLShZaWazebsVR"),
    address!("5cjcW9wExnJJiqgLjq7DEG75Pm6JBgE1hNv4B2vHXUW6"),
    address!("EHAAiTxcdDwQ3U4bU6YcMsQGaekdzLS3B5SmYo46kJtL"),
    address!("5eHhjP8JaYkz83CWwvGU2uMUXefd3AazWGx4gpcuEEYD"),
    address!("A7hAgCzFw14fejgCp387JUJRMNyz4j89JKnhtKU8piqW"),
];

/// The intent, as the parameters say it.
struct Intent<'a> {
    user: &'a Address,
    mint: &'a Address,
    token_program: &'a Address,
    max_sol_cost: u64,
    min_sol_output: u64,
    min_tokens_out: u64,
    max_tokens_in: u64,
    user_ata: &'a Address,
    bonding_curve: &'a Address,
    bonding_curve_ata: &'a Address,
    bonding_curve_v2: &'a Address,
    creator_vault: &'a Address,
    global_volume_accumulator: &'a Address,
    user_volume_accumulator: &'a Address,
    fee_config: &'a Address,
    quote_mint: &'a Address,
    quote_token_program: &'a Address,
    fee_recipient: &'a Address,
    buyback_fee_recipient: &'a Address,
    fee_recipient_quote_ata: &'a Address,
    buyback_quote_ata: &'a Address,
    bonding_curve_quote_ata: &'a Address,
    user_quote_ata: &'a Address,
    creator_vault_quote_ata: &'a Address,
    sharing_config: &'a Address,
    user_volume_quote_ata: &'a Address,
}

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let mint = p.pubkey()?;
    let token_program = p.token_program()?;
    let max_sol_cost = p.u64()?;
    let min_sol_output = p.u64()?;
    let min_tokens_out = p.u64()?;
    let max_tokens_in = p.u64()?;
    let user_ata = p.pubkey()?;
    let fees = FeePolicy::read(p)?;
    let _creator = p.pubkey()?; // only an input of `creator_vault`
    let t = Intent {
        user: c.user,
        mint,
        token_program,
        max_sol_cost,
        min_sol_output,
        min_tokens_out,
        max_tokens_in,
        user_ata,
        bonding_curve: p.pubkey()?,
        bonding_curve_ata: p.pubkey()?,
        bonding_curve_v2: p.pubkey()?,
        creator_vault: p.pubkey()?,
        global_volume_accumulator: p.pubkey()?,
        user_volume_accumulator: p.pubkey()?,
        fee_config: p.pubkey()?,
        quote_mint: p.pubkey()?,
        quote_token_program: p.token_program()?,
        fee_recipient: p.pubkey()?,
        buyback_fee_recipient: p.pubkey()?,
        fee_recipient_quote_ata: p.pubkey()?,
        buyback_quote_ata: p.pubkey()?,
        bonding_curve_quote_ata: p.pubkey()?,
        user_quote_ata: p.pubkey()?,
        creator_vault_quote_ata: p.pubkey()?,
        sharing_config: p.pubkey()?,
        user_volume_quote_ata: p.pubkey()?,
    };
    if msg.address_table_lookups().len() != 0 {
        return Err(reject(
            "a pump.fun trade may not load accounts from lookup tables",
        ));
    }
    let mut s = Shape::begin(msg, c.user)?;
    s.preamble(&c, &fees)?;
    let mut created = false;
    if s.next_is(&ASSOCIATED_TOKEN_PROGRAM, &[]) {
        create_ata_idempotent(&mut s, c.user, user_ata, c.user, mint, token_program)?;
        created = true;
    }
    let ix = s.next("missing the pump.fun trade")?;
    if *ix.program != PUMP_FUN_PROGRAM {
        return Err(reject_at(ix.index, "expected the pump.fun program"));
    }
    let d = ix.ix.data;
    let n = ix.ix.accounts.len();
    let disc = d.get(..8).unwrap_or_default();
    let (Some(a), Some(b)) = (le_u64(d, 8), le_u64(d, 16)) else {
        return Err(reject_at(ix.index, "unknown pump.fun layout"));
    };
    let v2 = disc == BUY_V2 || disc == SELL_V2 || disc == BUY_EXACT_QUOTE_IN_V2;
    let v3 = disc == BUY_V3 || disc == SELL_V3 || disc == BUY_EXACT_QUOTE_IN_V3;
    if v2 || v3 {
        if created && (disc == SELL_V2 || disc == SELL_V3) {
            return Err(reject_at(
                ix.index,
                "a sell does not create a token account",
            ));
        }
        if v2 {
            quote_trade(&mut s, &ix, &t, disc, a, b)?;
        } else {
            v3_trade(&mut s, &ix, &t, disc, a, b)?;
        }
        return s.finish();
    }
    if *t.quote_mint != NATIVE_MINT {
        return Err(reject_at(
            ix.index,
            "a SOL layout under an intent priced in another quote mint",
        ));
    }
    let buy_like = disc == BUY || disc == BUY_EXACT_SOL_IN;
    if (buy_like && n == 16) || (disc == SELL && (n == 14 || n == 15)) {
        return Err(reject_at(
            ix.index,
            "pump.fun layout from before the 2026-04-28 fee-recipient upgrade (no bonding-curve-v2 and buyback fee recipient) refused",
        ));
    }
    if n == 12 && (disc == BUY || disc == SELL) {
        return Err(reject_at(
            ix.index,
            "classic 12-account pump.fun layout refused (the program no longer accepts it)",
        ));
    }
    if buy_like {
        // `track_volume` (an OptionBool) may be absent or one byte 0/1, then `partial_fill`
        // (IDL of 8cda1fa) absent or false.
        if n != 18 || !options_ok(&ix, 24, 2)? {
            return Err(reject_at(ix.index, "unknown pump.fun buy layout"));
        }
        // buy: (amount, max_sol_cost); buy_exact_sol_in: (spendable_sol_in, min_tokens_out).
        limit_price(&ix, &t, false, disc == BUY, a, b)?;
        buy_accounts(&mut s, &ix, &t)?;
    } else if disc == SELL {
        if created {
            return Err(reject_at(
                ix.index,
                "a sell does not create a token account",
            ));
        }
        if d.len() != 24 || !(n == 16 || n == 17) {
            return Err(reject_at(ix.index, "unknown pump.fun sell layout"));
        }
        limit_price(&ix, &t, true, true, a, b)?;
        sell_accounts(&mut s, &ix, &t, n == 17)?;
    } else {
        return Err(reject_at(
            ix.index,
            "only buy, buy_exact_sol_in, sell and their quote-mint v2 and v3 forms are allowed",
        ));
    }
    s.finish()
}

/// Accounts 0 to 7, common to buys and sells.
fn head<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, t: &Intent<'_>) -> Check {
    s.key(ix, 0, &GLOBAL, false, "wrong pump.fun global account")?;
    fee_recipient(
        s,
        ix,
        1,
        &FEE_RECIPIENTS,
        "fee recipient is not one of pump.fun's",
    )?;
    s.key(
        ix,
        2,
        t.mint,
        false,
        "trade of another mint than the authorized one",
    )?;
    s.key(
        ix,
        3,
        t.bonding_curve,
        true,
        "bonding curve is not the authorized mint's",
    )?;
    s.key(
        ix,
        4,
        t.bonding_curve_ata,
        true,
        "bonding-curve token account is not the authorized mint's",
    )?;
    s.key(
        ix,
        5,
        t.user_ata,
        true,
        "tokens to or from an account other than the user's associated token account",
    )?;
    s.key(ix, 6, t.user, true, "trader is not the user")?;
    s.key(ix, 7, &SYSTEM_PROGRAM, false, "wrong system program")
}

/// One of `allowed`, static, writable.
fn fee_recipient<'m>(
    s: &mut Shape<'m>,
    ix: &Ix<'m>,
    n: usize,
    allowed: &[Address],
    what: &'static str,
) -> Check {
    let k = s.static_key(ix, n, what)?;
    if !allowed.contains(k) {
        return Err(reject_at(ix.index, what));
    }
    s.mark(ix, n, true);
    Ok(())
}

fn creator_vault<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, n: usize, t: &Intent<'_>) -> Check {
    s.key(
        ix,
        n,
        t.creator_vault,
        true,
        "creator vault is not the authorized creator's",
    )
}

fn tail<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, t: &Intent<'_>, at: usize) -> Check {
    s.key(
        ix,
        at,
        t.bonding_curve_v2,
        false,
        "bonding-curve-v2 account is not the authorized mint's",
    )?;
    fee_recipient(
        s,
        ix,
        at + 1,
        &BUYBACK_FEE_RECIPIENTS,
        "buyback fee recipient is not one of pump.fun's",
    )
}

fn buy_accounts<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, t: &Intent<'_>) -> Check {
    head(s, ix, t)?;
    s.key(ix, 8, t.token_program, false, "wrong token program")?;
    creator_vault(s, ix, 9, t)?;
    s.key(
        ix,
        10,
        &EVENT_AUTHORITY,
        false,
        "wrong pump.fun event authority",
    )?;
    s.key(
        ix,
        11,
        &PUMP_FUN_PROGRAM,
        false,
        "wrong pump.fun program account",
    )?;
    s.key(
        ix,
        12,
        t.global_volume_accumulator,
        BUILDERS_WRITABLE,
        "wrong global volume accumulator",
    )?;
    s.key(
        ix,
        13,
        t.user_volume_accumulator,
        true,
        "volume accumulator is not the user's",
    )?;
    s.key(
        ix,
        14,
        t.fee_config,
        BUILDERS_WRITABLE,
        "wrong pump.fun fee config",
    )?;
    s.key(
        ix,
        15,
        &FEE_PROGRAM,
        BUILDERS_WRITABLE,
        "wrong pump.fun fee program",
    )?;
    tail(s, ix, t, 16)
}

fn sell_accounts<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, t: &Intent<'_>, cashback: bool) -> Check {
    head(s, ix, t)?;
    creator_vault(s, ix, 8, t)?;
    s.key(ix, 9, t.token_program, false, "wrong token program")?;
    s.key(
        ix,
        10,
        &EVENT_AUTHORITY,
        false,
        "wrong pump.fun event authority",
    )?;
    s.key(
        ix,
        11,
        &PUMP_FUN_PROGRAM,
        false,
        "wrong pump.fun program account",
    )?;
    s.key(
        ix,
        12,
        t.fee_config,
        BUILDERS_WRITABLE,
        "wrong pump.fun fee config",
    )?;
    s.key(
        ix,
        13,
        &FEE_PROGRAM,
        BUILDERS_WRITABLE,
        "wrong pump.fun fee program",
    )?;
    if cashback {
        s.key(
            ix,
            14,
            t.user_volume_accumulator,
            true,
            "volume accumulator is not the user's",
        )?;
        tail(s, ix, t, 15)
    } else {
        tail(s, ix, t, 14)
    }
}

/// `buy_v2`, `buy_exact_quote_in_v2` (27 accounts) or `sell_v2` (26), amounts in the intent's
/// quote mint.
fn quote_trade<'m>(
    s: &mut Shape<'m>,
    ix: &Ix<'m>,
    t: &Intent<'_>,
    disc: &[u8],
    a: u64,
    b: u64,
) -> Check {
    let n = ix.ix.accounts.len();
    let sell = disc == SELL_V2;
    // A buy's `partial_fill` (IDL of 8cda1fa) may be absent or false.
    let data_ok = if sell {
        ix.ix.data.len() == 24
    } else {
        partial_fill_ok(ix, 24)?
    };
    if !data_ok || n != if sell { 26 } else { 27 } {
        return Err(reject_at(ix.index, "unknown pump.fun quote-mint layout"));
    }
    // buy_v2: (amount, max_sol_cost); buy_exact_quote_in_v2: (spendable_quote_in,
    // min_tokens_out); sell_v2: (amount, min_sol_output).
    limit_price(ix, t, sell, disc == BUY_V2, a, b)?;
    if !FEE_RECIPIENTS.contains(t.fee_recipient) {
        return Err(reject_at(
            ix.index,
            "fee recipient is not one of pump.fun's",
        ));
    }
    if !BUYBACK_FEE_RECIPIENTS.contains(t.buyback_fee_recipient) {
        return Err(reject_at(
            ix.index,
            "buyback fee recipient is not one of pump.fun's",
        ));
    }
    let fixed: [(&Address, bool, &'static str); 19] = [
        (&GLOBAL, false, "wrong pump.fun global account"),
        (
            t.mint,
            false,
            "trade of another mint than the authorized one",
        ),
        (t.quote_mint, false, "wrong quote mint"),
        (t.token_program, false, "wrong token program"),
        (t.quote_token_program, false, "wrong quote token program"),
        (
            &ASSOCIATED_TOKEN_PROGRAM,
            false,
            "wrong associated token program",
        ),
        (
            t.fee_recipient,
            true,
            "fee recipient is not the authorized one",
        ),
        (
            t.fee_recipient_quote_ata,
            true,
            "fee account is not the authorized recipient's",
        ),
        (
            t.buyback_fee_recipient,
            true,
            "buyback fee recipient is not the authorized one",
        ),
        (
            t.buyback_quote_ata,
            true,
            "buyback fee account is not the authorized recipient's",
        ),
        (
            t.bonding_curve,
            true,
            "bonding curve is not the authorized mint's",
        ),
        (
            t.bonding_curve_ata,
            true,
            "bonding-curve token account is not the authorized mint's",
        ),
        (
            t.bonding_curve_quote_ata,
            true,
            "bonding-curve quote account is not the authorized mint's",
        ),
        (t.user, true, "trader is not the user"),
        (
            t.user_ata,
            true,
            "tokens to or from an account other than the user's associated token account",
        ),
        (
            t.user_quote_ata,
            true,
            "quote to or from an account other than the user's",
        ),
        (
            t.creator_vault,
            true,
            "creator vault is not the authorized creator's",
        ),
        (
            t.creator_vault_quote_ata,
            true,
            "creator vault account is not the authorized creator's",
        ),
        (t.sharing_config, false, "wrong pump.fun sharing config"),
    ];
    for (k, (addr, writable, what)) in fixed.iter().enumerate() {
        s.key(ix, k, addr, *writable, what)?;
    }
    let mut at = 19;
    if !sell {
        s.key(
            ix,
            at,
            t.global_volume_accumulator,
            BUILDERS_WRITABLE,
            "wrong global volume accumulator",
        )?;
        at += 1;
    }
    let tail: [(&Address, bool, &'static str); 7] = [
        (
            t.user_volume_accumulator,
            true,
            "volume accumulator is not the user's",
        ),
        (
            t.user_volume_quote_ata,
            true,
            "volume accumulator account is not the user's",
        ),
        (t.fee_config, BUILDERS_WRITABLE, "wrong pump.fun fee config"),
        (
            &FEE_PROGRAM,
            BUILDERS_WRITABLE,
            "wrong pump.fun fee program",
        ),
        (&SYSTEM_PROGRAM, false, "wrong system program"),
        (&EVENT_AUTHORITY, false, "wrong pump.fun event authority"),
        (&PUMP_FUN_PROGRAM, false, "wrong pump.fun program account"),
    ];
    for (k, (addr, writable, what)) in tail.iter().enumerate() {
        s.key(ix, at + k, addr, *writable, what)?;
    }
    Ok(())
}

/// Whether the OptionBool flags after the fixed arguments (from byte `at`: `track_volume` when
/// `count` is 2, then `partial_fill`) are each absent or one byte 0/1, with `partial_fill`, when
/// present, false. A partial fill may buy fewer tokens than the authorized minimum: refused.
fn options_ok(ix: &Ix<'_>, at: usize, count: usize) -> Check<bool> {
    let d = ix.ix.data;
    let extra = d.len().saturating_sub(at);
    if d.len() < at || extra > count || d[at..].iter().any(|&b| b > 1) {
        return Ok(false);
    }
    // The last flag is `partial_fill` when all `count` are present.
    if extra == count && d[d.len() - 1] == 1 {
        return Err(reject_at(
            ix.index,
            "a partial fill may buy fewer tokens than the authorized minimum",
        ));
    }
    Ok(true)
}

/// Whether a buy's only optional flag, `partial_fill` (from byte `at`), is absent or false.
fn partial_fill_ok(ix: &Ix<'_>, at: usize) -> Check<bool> {
    options_ok(ix, at, 1)
}

/// `buy_v3`, `buy_exact_quote_in_v3` or `sell_v3` (IDL of 8cda1fa): 17 accounts, amounts in the
/// intent's quote mint, no fee recipient, creator vault, sharing config, global volume
/// accumulator or fee program; the buyback fee recipient is the intent's, one of pump.fun's.
fn v3_trade<'m>(
    s: &mut Shape<'m>,
    ix: &Ix<'m>,
    t: &Intent<'_>,
    disc: &[u8],
    a: u64,
    b: u64,
) -> Check {
    let sell = disc == SELL_V3;
    let data_ok = if sell {
        ix.ix.data.len() == 24
    } else {
        partial_fill_ok(ix, 24)?
    };
    if !data_ok || ix.ix.accounts.len() != 17 {
        return Err(reject_at(ix.index, "unknown pump.fun v3 layout"));
    }
    // As the v2 forms.
    limit_price(ix, t, sell, disc == BUY_V3, a, b)?;
    if !BUYBACK_FEE_RECIPIENTS.contains(t.buyback_fee_recipient) {
        return Err(reject_at(
            ix.index,
            "buyback fee recipient is not one of pump.fun's",
        ));
    }
    let accounts: [(&Address, bool, &'static str); 17] = [
        (&GLOBAL, false, "wrong pump.fun global account"),
        (
            t.mint,
            false,
            "trade of another mint than the authorized one",
        ),
        (t.quote_mint, false, "wrong quote mint"),
        (t.token_program, false, "wrong token program"),
        (t.quote_token_program, false, "wrong quote token program"),
        (
            t.bonding_curve,
            true,
            "bonding curve is not the authorized mint's",
        ),
        (
            t.bonding_curve_ata,
            true,
            "bonding-curve token account is not the authorized mint's",
        ),
        (
            t.bonding_curve_quote_ata,
            true,
            "bonding-curve quote account is not the authorized mint's",
        ),
        (t.user, true, "trader is not the user"),
        (
            t.user_ata,
            true,
            "tokens to or from an account other than the user's associated token account",
        ),
        (
            t.user_quote_ata,
            true,
            "quote to or from an account other than the user's",
        ),
        (
            t.user_volume_accumulator,
            true,
            "volume accumulator is not the user's",
        ),
        (t.fee_config, BUILDERS_WRITABLE, "wrong pump.fun fee config"),
        (
            t.buyback_fee_recipient,
            true,
            "buyback fee recipient is not the authorized one",
        ),
        (&SYSTEM_PROGRAM, false, "wrong system program"),
        (&EVENT_AUTHORITY, false, "wrong pump.fun event authority"),
        (&PUMP_FUN_PROGRAM, false, "wrong pump.fun program account"),
    ];
    for (k, (addr, writable, what)) in accounts.iter().enumerate() {
        s.key(ix, k, addr, *writable, what)?;
    }
    Ok(())
}

/// The limit price (SPEC §5) of a trade whose two amounts are `a`, `b`: a sell `(amount,
/// min_sol_output)`; a buy `(amount, max cost)` when `amount_first`, else `(spendable, min
/// tokens)`. Costs and outputs count the intent's quote mint.
fn limit_price(
    ix: &Ix<'_>,
    t: &Intent<'_>,
    sell: bool,
    amount_first: bool,
    a: u64,
    b: u64,
) -> Check {
    if sell {
        if b < t.min_sol_output {
            return Err(reject_at(
                ix.index,
                "min SOL output below the authorized minimum",
            ));
        }
        if a > t.max_tokens_in {
            return Err(reject_at(
                ix.index,
                "sells more tokens than the authorized maximum",
            ));
        }
        return Ok(());
    }
    let (tokens, cost) = if amount_first { (a, b) } else { (b, a) };
    if cost > t.max_sol_cost {
        return Err(reject_at(
            ix.index,
            "max SOL cost above the authorized maximum",
        ));
    }
    if tokens < t.min_tokens_out {
        return Err(reject_at(
            ix.index,
            "buys fewer tokens than the authorized minimum",
        ));
    }
    Ok(())
}
