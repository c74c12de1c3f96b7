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
}

impl ParamType {
    fn encoded_len(&self) -> Option<usize> {
        match self {
            Self::Pubkey | Self::TokenProgram | Self::Ata { .. } => Some(32),
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
    /// For `pubkey`, `token-program` and `ata(...)` fields.
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
    /// For `ata(...)` fields only, when encoding: let the host derive the address.
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
                    let is_ata: fn(&ParamType) -> bool = |t| matches!(t, ParamType::Ata { .. });
                    let is_prog: fn(&ParamType) -> bool = |t| matches!(t, ParamType::TokenProgram);
                    ParamType::Ata {
                        // An ATA can own nothing meaningful, but a PDA-owned ATA is legitimate:
                        // the owner may be any earlier address field.
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
                (_, v) => v,
            };
            match (&f.ty, v) {
                (
                    ParamType::Pubkey | ParamType::TokenProgram | ParamType::Ata { .. },
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
        ] {
            assert!(
                matches!(ParamSchema::parse(t), Err(Error::InvalidSchema(_))),
                "{t:?}"
            );
        }
    }
}
