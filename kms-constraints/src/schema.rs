//! Parameter schemas and the canonical parameter encoding (ABI v1, `SPEC.md` § Parameters).
//!
//! A module declares its parameters in the custom section `kms-params` as text:
//!
//! ```text
//! kms-params v1
//! user pubkey
//! max_lamports u64
//! dest_ata ata(dest_owner,mint,token_program)
//! ```
//!
//! The encoding is the fields in schema order, fixed width, little-endian, with no padding and no
//! trailing bytes, so every value has exactly one encoding and a user's authorization of
//! (module hash, parameter bytes) is unambiguous. The host checks the encoding and verifies every
//! derived field (`ata(...)`, `token-program`) natively *before* the module runs, so modules can
//! trust those fields without doing curve arithmetic in the interpreter.

use kms_solana::programs::{TOKEN_2022_PROGRAM, TOKEN_PROGRAM};

use crate::error::{Error, RejectionKind};

/// First line of every schema.
const SCHEMA_HEADER: &str = "kms-params v1";
/// Most fields a schema may declare.
const MAX_FIELDS: usize = 32;
/// Longest field name.
const MAX_NAME_LEN: usize = 32;

/// The type of one parameter field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamType {
    /// A 32-byte address.
    Pubkey,
    /// `u8`.
    U8,
    /// `u16`, little-endian.
    U16,
    /// `u32`, little-endian.
    U32,
    /// `u64`, little-endian.
    U64,
    /// One byte, `0` or `1`.
    Bool,
    /// One tag byte `0` (none) or `1` followed by a 32-byte address.
    OptPubkey,
    /// A 32-byte address that must be the SPL Token or the Token-2022 program (host-checked).
    TokenProgram,
    /// A 32-byte address that must be the associated token account of the fields at these
    /// indices: owner (`pubkey`), mint (`pubkey`) and token program (`token-program`).
    /// Host-checked by derivation.
    Ata {
        /// Index of the owner field.
        owner: usize,
        /// Index of the mint field.
        mint: usize,
        /// Index of the token-program field.
        program: usize,
    },
    /// A 32-byte address that must be the program-derived address (canonical bump, as
    /// `find_program_address`) of these seeds under this program. Host-checked by derivation.
    Pda {
        /// The deriving program.
        program: PdaInput,
        /// The seeds, in order (at most 15, each at most 32 bytes).
        seeds: Vec<PdaInput>,
    },
}

/// One input of a `pda(...)` field: a constant written in the schema (so covered by the module
/// hash) or an earlier field's encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PdaInput {
    /// An earlier field, by index: its canonical encoding (32 bytes for an address, the
    /// little-endian bytes of an integer, one byte for a `bool`).
    Field(usize),
    /// A seed string written `"text"` in the schema (its UTF-8 bytes).
    Text(String),
    /// An address written in base58 in the schema (its 32 bytes).
    Address([u8; 32]),
}

impl ParamType {
    fn encoded_len(&self) -> Option<usize> {
        match self {
            Self::Pubkey | Self::TokenProgram | Self::Ata { .. } | Self::Pda { .. } => Some(32),
            Self::U8 | Self::Bool => Some(1),
            Self::U16 => Some(2),
            Self::U32 => Some(4),
            Self::U64 => Some(8),
            Self::OptPubkey => None,
        }
    }
}

/// One named field of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamField {
    /// The field name (`[a-z0-9_]`, at most 32 characters).
    pub name: String,
    /// The field type.
    pub ty: ParamType,
}

/// A value for one field, for [`ParamSchema::encode`] and [`ParamSchema::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamValue {
    /// For `pubkey`, `token-program`, `ata(...)` and `pda(...)` fields.
    Pubkey([u8; 32]),
    /// For `u8`.
    U8(u8),
    /// For `u16`.
    U16(u16),
    /// For `u32`.
    U32(u32),
    /// For `u64`.
    U64(u64),
    /// For `bool`.
    Bool(bool),
    /// For `opt-pubkey`.
    OptPubkey(Option<[u8; 32]>),
    /// For `ata(...)` and `pda(...)` fields only, when encoding: let the host derive the address.
    Derived,
}

/// A module's parameter schema (custom section `kms-params`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamSchema {
    fields: Vec<ParamField>,
}

fn schema_err(msg: impl Into<String>) -> Error {
    Error::InvalidSchema(msg.into())
}

fn params_err(msg: impl Into<String>) -> Error {
    Error::rejected(RejectionKind::MalformedParams, msg)
}

impl ParamSchema {
    /// Parses the text form (the contents of the `kms-params` section).
    ///
    /// # Errors
    /// [`Error::InvalidSchema`] for a wrong header, an unknown type, a bad or duplicate name, an
    /// `ata(...)` naming a field that does not exist earlier with the right type, or too many
    /// fields.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut lines = text.lines();
        if lines.next() != Some(SCHEMA_HEADER) {
            return Err(schema_err(format!(
                "the first line must be `{SCHEMA_HEADER}`"
            )));
        }
        let mut fields: Vec<ParamField> = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let (name, ty) = line
                .split_once(' ')
                .ok_or_else(|| schema_err(format!("line `{line}` is not `name type`")))?;
            let name_ok = !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(schema_err("field names are 1-32 characters of [a-z0-9_]"));
            }
            if fields.iter().any(|f| f.name == name) {
                return Err(schema_err(format!("field `{name}` is declared twice")));
            }
            let find = |n: &str, want: &[fn(&ParamType) -> bool]| -> Result<usize, Error> {
                fields
                    .iter()
                    .position(|f| f.name == n && want.iter().any(|w| w(&f.ty)))
                    .ok_or_else(|| {
                        schema_err(format!(
                            "`{name}` refers to `{n}`, not an earlier field of the right type"
                        ))
                    })
            };
            let ty = match ty {
                "pubkey" => ParamType::Pubkey,
                "u8" => ParamType::U8,
                "u16" => ParamType::U16,
                "u32" => ParamType::U32,
                "u64" => ParamType::U64,
                "bool" => ParamType::Bool,
                "opt-pubkey" => ParamType::OptPubkey,
                "token-program" => ParamType::TokenProgram,
                other if other.starts_with("pda(") => {
                    let args = other
                        .strip_prefix("pda(")
                        .and_then(|r| r.strip_suffix(')'))
                        .ok_or_else(|| schema_err(format!("unknown type `{other}`")))?;
                    let mut it = args.split(',');
                    let program = match it.next().map(|a| pda_input(a, &fields, name)) {
                        Some(Ok(p @ (PdaInput::Address(_) | PdaInput::Field(_)))) => p,
                        _ => {
                            return Err(schema_err(format!(
                                "`{name}`: pda(...) starts with a program address or field"
                            )));
                        }
                    };
                    if let PdaInput::Field(i) = program
                        && fields[i].ty != ParamType::Pubkey
                    {
                        return Err(schema_err(format!(
                            "`{name}`: the program of pda(...) must be a `pubkey` field"
                        )));
                    }
                    let seeds = it
                        .map(|a| pda_input(a, &fields, name))
                        .collect::<Result<Vec<_>, _>>()?;
                    if seeds.is_empty() || seeds.len() >= kms_solana::MAX_SEEDS {
                        return Err(schema_err(format!(
                            "`{name}`: pda(...) takes 1 to {} seeds",
                            kms_solana::MAX_SEEDS - 1
                        )));
                    }
                    ParamType::Pda { program, seeds }
                }
                other => {
                    let args = other
                        .strip_prefix("ata(")
                        .and_then(|r| r.strip_suffix(')'))
                        .ok_or_else(|| schema_err(format!("unknown type `{other}`")))?;
                    let mut it = args.split(',');
                    let (Some(o), Some(m), Some(p), None) =
                        (it.next(), it.next(), it.next(), it.next())
                    else {
                        return Err(schema_err("ata(...) takes owner,mint,token_program"));
                    };
                    let is_pk: fn(&ParamType) -> bool = |t| matches!(t, ParamType::Pubkey);
                    let is_ata: fn(&ParamType) -> bool =
                        |t| matches!(t, ParamType::Ata { .. } | ParamType::Pda { .. });
                    let is_prog: fn(&ParamType) -> bool = |t| matches!(t, ParamType::TokenProgram);
                    ParamType::Ata {
                        // The owner may be any earlier address field: a PDA (a bonding curve, a
                        // pool) owns token accounts, and an ATA is allowed as before.
                        owner: find(o, &[is_pk, is_ata])?,
                        mint: find(m, &[is_pk])?,
                        program: find(p, &[is_prog])?,
                    }
                }
            };
            fields.push(ParamField {
                name: name.to_owned(),
                ty,
            });
            if fields.len() > MAX_FIELDS {
                return Err(schema_err(format!("more than {MAX_FIELDS} fields")));
            }
        }
        Ok(Self { fields })
    }

    /// The fields in encoding order.
    #[must_use]
    pub fn fields(&self) -> &[ParamField] {
        &self.fields
    }

    /// The text form, as embedded in a module (round-trips through [`ParamSchema::parse`]).
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::from(SCHEMA_HEADER);
        for f in &self.fields {
            s.push('\n');
            s.push_str(&f.name);
            s.push(' ');
            match &f.ty {
                ParamType::Pubkey => s.push_str("pubkey"),
                ParamType::U8 => s.push_str("u8"),
                ParamType::U16 => s.push_str("u16"),
                ParamType::U32 => s.push_str("u32"),
                ParamType::U64 => s.push_str("u64"),
                ParamType::Bool => s.push_str("bool"),
                ParamType::OptPubkey => s.push_str("opt-pubkey"),
                ParamType::TokenProgram => s.push_str("token-program"),
                ParamType::Ata {
                    owner,
                    mint,
                    program,
                } => {
                    s.push_str(&format!(
                        "ata({},{},{})",
                        self.fields[*owner].name,
                        self.fields[*mint].name,
                        self.fields[*program].name
                    ));
                }
                ParamType::Pda { program, seeds } => {
                    s.push_str("pda(");
                    for (k, input) in std::iter::once(program).chain(seeds).enumerate() {
                        if k > 0 {
                            s.push(',');
                        }
                        match input {
                            PdaInput::Field(i) => s.push_str(&self.fields[*i].name),
                            PdaInput::Text(t) => {
                                s.push('"');
                                s.push_str(t);
                                s.push('"');
                            }
                            PdaInput::Address(a) => {
                                let mut buf = [0u8; 44];
                                s.push_str(kms_solana::address_to_base58(a, &mut buf));
                            }
                        }
                    }
                    s.push(')');
                }
            }
        }
        s.push('\n');
        s
    }

    /// Encodes one value per field, in order, deriving `ata(...)` fields given as
    /// [`ParamValue::Derived`], and checks the result as [`ParamSchema::decode`] would.
    ///
    /// # Errors
    /// [`Error::Rejected`] with [`RejectionKind::MalformedParams`] when the count or a type is
    /// wrong, a token program is neither SPL Token nor Token-2022, or a given ATA is not derived.
    pub fn encode(&self, values: &[ParamValue]) -> Result<Vec<u8>, Error> {
        if values.len() != self.fields.len() {
            return Err(params_err(format!(
                "{} values for {} fields",
                values.len(),
                self.fields.len()
            )));
        }
        let mut resolved: Vec<ParamValue> = Vec::with_capacity(values.len());
        let mut out = Vec::new();
        for (f, v) in self.fields.iter().zip(values) {
            let v = match (&f.ty, *v) {
                (
                    ParamType::Ata {
                        owner,
                        mint,
                        program,
                    },
                    ParamValue::Derived,
                ) => {
                    let get = |i: usize| match resolved.get(i) {
                        Some(ParamValue::Pubkey(k)) => Ok(*k),
                        _ => Err(params_err("derived field refers to a missing value")),
                    };
                    let (ata, _) = kms_solana::associated_token_address(
                        &get(*owner)?,
                        &get(*mint)?,
                        &get(*program)?,
                    )
                    .map_err(|_| params_err("no associated token account can be derived"))?;
                    ParamValue::Pubkey(ata)
                }
                (ParamType::Pda { program, seeds }, ParamValue::Derived) => {
                    ParamValue::Pubkey(derive_pda(program, seeds, &resolved).ok_or_else(|| {
                        params_err(format!("field `{}`: no address can be derived", f.name))
                    })?)
                }
                (_, v) => v,
            };
            match (&f.ty, v) {
                (
                    ParamType::Pubkey
                    | ParamType::TokenProgram
                    | ParamType::Ata { .. }
                    | ParamType::Pda { .. },
                    ParamValue::Pubkey(k),
                ) => {
                    out.extend_from_slice(&k);
                }
                (ParamType::U8, ParamValue::U8(x)) => out.push(x),
                (ParamType::U16, ParamValue::U16(x)) => out.extend_from_slice(&x.to_le_bytes()),
                (ParamType::U32, ParamValue::U32(x)) => out.extend_from_slice(&x.to_le_bytes()),
                (ParamType::U64, ParamValue::U64(x)) => out.extend_from_slice(&x.to_le_bytes()),
                (ParamType::Bool, ParamValue::Bool(x)) => out.push(u8::from(x)),
                (ParamType::OptPubkey, ParamValue::OptPubkey(None)) => out.push(0),
                (ParamType::OptPubkey, ParamValue::OptPubkey(Some(k))) => {
                    out.push(1);
                    out.extend_from_slice(&k);
                }
                _ => {
                    return Err(params_err(format!(
                        "wrong value type for field `{}`",
                        f.name
                    )));
                }
            }
            resolved.push(v);
        }
        self.decode(&out)?;
        Ok(out)
    }

    /// Decodes and checks canonical parameter bytes: exact length, tags and booleans `0`/`1`,
    /// token programs known, every `ata(...)` field equal to its derivation.
    ///
    /// Cost: one associated-token-address derivation (SHA-256 and an ed25519 point decompression
    /// per bump tried, a few µs) per `ata(...)` field.
    ///
    /// # Errors
    /// [`Error::Rejected`] with [`RejectionKind::MalformedParams`] naming the first bad field.
    pub fn decode(&self, bytes: &[u8]) -> Result<Vec<ParamValue>, Error> {
        let mut rest = bytes;
        let mut take = |n: usize, name: &str| -> Result<&[u8], Error> {
            if rest.len() < n {
                return Err(params_err(format!("parameters end inside field `{name}`")));
            }
            let (a, b) = rest.split_at(n);
            rest = b;
            Ok(a)
        };
        let mut values = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            let n = &f.name;
            let v = match &f.ty {
                ParamType::OptPubkey => match take(1, n)?[0] {
                    0 => ParamValue::OptPubkey(None),
                    1 => ParamValue::OptPubkey(Some(arr32(take(32, n)?))),
                    _ => {
                        return Err(params_err(format!(
                            "field `{n}`: option tag must be 0 or 1"
                        )));
                    }
                },
                ty => {
                    let len = ty.encoded_len().unwrap_or(0);
                    let b = take(len, n)?;
                    match ty {
                        ParamType::U8 => ParamValue::U8(b[0]),
                        ParamType::Bool => match b[0] {
                            0 => ParamValue::Bool(false),
                            1 => ParamValue::Bool(true),
                            _ => {
                                return Err(params_err(format!(
                                    "field `{n}`: bool must be 0 or 1"
                                )));
                            }
                        },
                        ParamType::U16 => ParamValue::U16(u16::from_le_bytes([b[0], b[1]])),
                        ParamType::U32 => {
                            ParamValue::U32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        }
                        ParamType::U64 => {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(b);
                            ParamValue::U64(u64::from_le_bytes(a))
                        }
                        _ => ParamValue::Pubkey(arr32(b)),
                    }
                }
            };
            match (&f.ty, &v) {
                (ParamType::TokenProgram, ParamValue::Pubkey(k))
                    if *k != TOKEN_PROGRAM && *k != TOKEN_2022_PROGRAM =>
                {
                    return Err(params_err(format!(
                        "field `{n}` must be the SPL Token or the Token-2022 program"
                    )));
                }
                (
                    ParamType::Ata {
                        owner,
                        mint,
                        program,
                    },
                    ParamValue::Pubkey(k),
                ) => {
                    let pk = |i: usize| match values.get(i) {
                        Some(ParamValue::Pubkey(k)) => Some(*k),
                        _ => None,
                    };
                    let (Some(o), Some(m), Some(p)) = (pk(*owner), pk(*mint), pk(*program)) else {
                        return Err(params_err(format!(
                            "field `{n}`: derivation inputs missing"
                        )));
                    };
                    let derived = kms_solana::associated_token_address(&o, &m, &p).ok();
                    if derived.map(|(a, _)| a) != Some(*k) {
                        return Err(params_err(format!(
                            "field `{n}` is not the associated token account of `{}` for `{}`",
                            self.fields[*owner].name, self.fields[*mint].name
                        )));
                    }
                }
                (ParamType::Pda { program, seeds }, ParamValue::Pubkey(k))
                    if derive_pda(program, seeds, &values) != Some(*k) =>
                {
                    return Err(params_err(format!(
                        "field `{n}` is not the program-derived address its schema declares"
                    )));
                }
                _ => {}
            }
            values.push(v);
        }
        if !rest.is_empty() {
            return Err(params_err(format!(
                "{} trailing bytes after the last field",
                rest.len()
            )));
        }
        Ok(values)
    }
}

/// Parses one argument of `pda(...)` in the schema of field `name`: `"text"`, an earlier
/// fixed-width field's name, or a base58 address.
fn pda_input(arg: &str, fields: &[ParamField], name: &str) -> Result<PdaInput, Error> {
    if let Some(t) = arg.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let ok = !t.is_empty()
            && t.len() <= kms_solana::MAX_SEED_LEN
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b'(' | b')'));
        return if ok {
            Ok(PdaInput::Text(t.to_owned()))
        } else {
            Err(schema_err(format!(
                "`{name}`: a seed string is 1-32 printable characters without `\"`, `,`, `(`, `)`"
            )))
        };
    }
    if let Some(i) = fields.iter().position(|f| f.name == arg) {
        return match fields[i].ty {
            ParamType::OptPubkey => Err(schema_err(format!(
                "`{name}`: an `opt-pubkey` field cannot be a seed"
            ))),
            _ => Ok(PdaInput::Field(i)),
        };
    }
    // An address literal is 32 to 44 base58 characters; a field name at most 32 of
    // [a-z0-9_], so the two cannot be confused once the field lookup failed.
    match kms_solana::address_from_base58(arg) {
        Some(a) if arg.len() > MAX_NAME_LEN => Ok(PdaInput::Address(a)),
        _ => Err(schema_err(format!(
            "`{name}` refers to `{arg}`, neither an earlier field, a \"seed\" nor an address"
        ))),
    }
}

/// The bytes a field value contributes as a seed (its canonical encoding).
fn seed_bytes(v: &ParamValue) -> Option<Vec<u8>> {
    Some(match *v {
        ParamValue::Pubkey(k) => k.to_vec(),
        ParamValue::U8(x) => vec![x],
        ParamValue::U16(x) => x.to_le_bytes().to_vec(),
        ParamValue::U32(x) => x.to_le_bytes().to_vec(),
        ParamValue::U64(x) => x.to_le_bytes().to_vec(),
        ParamValue::Bool(x) => vec![u8::from(x)],
        ParamValue::OptPubkey(_) | ParamValue::Derived => return None,
    })
}

/// The program-derived address of a `pda(...)` field from the values before it; `None` when an
/// input is missing or no address can be derived. Cost: one `find_program_address` (a SHA-256
/// and a point decompression per bump tried, a few µs).
fn derive_pda(program: &PdaInput, seeds: &[PdaInput], values: &[ParamValue]) -> Option<[u8; 32]> {
    let bytes = |input: &PdaInput| -> Option<Vec<u8>> {
        match input {
            PdaInput::Field(i) => seed_bytes(values.get(*i)?),
            PdaInput::Text(t) => Some(t.as_bytes().to_vec()),
            PdaInput::Address(a) => Some(a.to_vec()),
        }
    };
    let program = <[u8; 32]>::try_from(bytes(program)?.as_slice()).ok()?;
    let seeds = seeds.iter().map(bytes).collect::<Option<Vec<_>>>()?;
    let refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    kms_solana::find_program_address(&refs, &program)
        .ok()
        .map(|(a, _)| a)
}

fn arr32(b: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "kms-params v1\nuser pubkey\nmint pubkey\nprog token-program\nmax u64\nfee opt-pubkey\nflag bool\nuser_ata ata(user,mint,prog)\n";

    #[test]
    fn parse_round_trips_and_encode_is_canonical() {
        let s = ParamSchema::parse(TEXT).unwrap();
        assert_eq!(s.to_text(), TEXT);
        let vals = [
            ParamValue::Pubkey([1; 32]),
            ParamValue::Pubkey([2; 32]),
            ParamValue::Pubkey(TOKEN_PROGRAM),
            ParamValue::U64(7),
            ParamValue::OptPubkey(None),
            ParamValue::Bool(true),
            ParamValue::Derived,
        ];
        let bytes = s.encode(&vals).unwrap();
        assert_eq!(bytes.len(), 32 * 3 + 8 + 1 + 1 + 32);
        let decoded = s.decode(&bytes).unwrap();
        assert_eq!(decoded[3], ParamValue::U64(7));
        // Every other encoding of the same or other values is refused.
        let mut bad = bytes.clone();
        bad.push(0);
        assert_eq!(
            s.decode(&bad).unwrap_err().rejection_kind(),
            Some(RejectionKind::MalformedParams)
        );
        let mut bad = bytes.clone();
        bad[104] = 2; // option tag
        assert!(s.decode(&bad).is_err());
        let mut bad = bytes.clone();
        bad[105] = 2; // bool
        assert!(s.decode(&bad).is_err());
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1; // not the derived ATA
        assert!(
            s.decode(&bad)
                .unwrap_err()
                .to_string()
                .contains("associated token account")
        );
        let mut bad = bytes.clone();
        bad[64] ^= 1; // token program neither SPL Token nor Token-2022
        assert!(s.decode(&bad).is_err());
        assert!(s.decode(&bytes[..bytes.len() - 1]).is_err());
    }

    const PDA_TEXT: &str = "kms-params v1\nuser pubkey\nmint pubkey\nprog token-program\nindex u16\ncurve pda(6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P,\"bonding-curve\",mint)\ncurve_ata ata(curve,mint,prog)\nother pda(user,\"pool\",index,curve,TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA)\n";

    #[test]
    fn pda_fields_are_derived_by_the_host() {
        let s = ParamSchema::parse(PDA_TEXT).unwrap();
        assert_eq!(s.to_text(), PDA_TEXT);
        let pump =
            kms_solana::address_from_base58("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P").unwrap();
        let (user, mint) = ([1; 32], [2; 32]);
        let bytes = s
            .encode(&[
                ParamValue::Pubkey(user),
                ParamValue::Pubkey(mint),
                ParamValue::Pubkey(TOKEN_PROGRAM),
                ParamValue::U16(0x0102),
                ParamValue::Derived,
                ParamValue::Derived,
                ParamValue::Derived,
            ])
            .unwrap();
        let curve = kms_solana::find_program_address(&[b"bonding-curve", &mint], &pump)
            .unwrap()
            .0;
        assert_eq!(bytes[98..130], curve);
        let curve_ata = kms_solana::associated_token_address(&curve, &mint, &TOKEN_PROGRAM)
            .unwrap()
            .0;
        assert_eq!(bytes[130..162], curve_ata);
        // A field program, an integer seed (its little-endian bytes) and an address seed.
        let other =
            kms_solana::find_program_address(&[b"pool", &[2, 1], &curve, &TOKEN_PROGRAM], &user)
                .unwrap()
                .0;
        assert_eq!(bytes[162..], other);
        // Any other address in a pda field is refused, naming the field; so is a change of a
        // seed field that the derived fields were not re-derived for.
        for at in [98, 162, 96] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            let err = s.decode(&bad).unwrap_err().to_string();
            assert!(err.contains("program-derived address"), "{at}: {err}");
        }
    }

    #[test]
    fn bad_schemas_are_refused() {
        for t in [
            "",
            "kms-params v2\n",
            "kms-params v1\nUser pubkey\n",
            "kms-params v1\nuser pubkey\nuser u64\n",
            "kms-params v1\nuser float\n",
            "kms-params v1\nuser\n",
            "kms-params v1\na ata(b,c,d)\n",
            "kms-params v1\nuser pubkey\nmint pubkey\nx ata(user,mint,user)\n",
            "kms-params v1\nuser pubkey\nmint pubkey\np token-program\nx ata(user,mint)\n",
            // pda(...): no seed, an unknown name, a later field, an opt-pubkey seed, a program
            // that is not an address, bad seed strings, too many seeds.
            "kms-params v1\nuser pubkey\nx pda(user)\n",
            "kms-params v1\nuser pubkey\nx pda(user,mint)\n",
            "kms-params v1\nuser pubkey\nx pda(user,y)\ny pubkey\n",
            "kms-params v1\nuser pubkey\no opt-pubkey\nx pda(user,o)\n",
            "kms-params v1\nuser pubkey\nn u64\nx pda(n,user)\n",
            "kms-params v1\nuser pubkey\nx pda(\"seed\",user)\n",
            "kms-params v1\nuser pubkey\nx pda(user,\"\")\n",
            "kms-params v1\nuser pubkey\nx pda(user,\"a b\")\n",
            "kms-params v1\nuser pubkey\nx pda(user,\"0123456789012345678901234567890123\")\n",
            "kms-params v1\nuser pubkey\nx pda(user,user,user,user,user,user,user,user,user,user,user,user,user,user,user,user,user)\n",
            "kms-params v1\nuser pubkey\nx pda(user,user\n",
        ] {
            assert!(
                matches!(ParamSchema::parse(t), Err(Error::InvalidSchema(_))),
                "{t:?}"
            );
        }
    }
}
