//! Extractor for the `ole` family (placeholder until its module lands: every
//! file of this format is reported `unscannable`, never clean). Until then it
//! already recognises password-protected OOXML, which Office stores as an OLE
//! container (`EncryptionInfo` + `EncryptedPackage`), and reports it
//! `encrypted` (scanner-office; the OLE module should keep this check).

use super::{Ctx, ExtractError, ExtractResult};

pub fn extract(data: &[u8], _ctx: &mut Ctx) -> ExtractResult {
    if let Some(e) = super::ooxml::encrypted_ooxml_in_cfb(data) {
        return Err(e);
    }
    Err(ExtractError::Unsupported(
        "ole extraction not built yet".into(),
    ))
}
