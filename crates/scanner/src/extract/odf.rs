//! Extractor for the `odf` family (placeholder until its module lands: every
//! file of this format is reported `unscannable`, never clean).

use super::{Ctx, ExtractError, ExtractResult};

pub fn extract(_data: &[u8], _ctx: &mut Ctx) -> ExtractResult {
    Err(ExtractError::Unsupported("odf extraction not built yet".into()))
}
