//! Extractor for the `rtf` family (placeholder until its module lands: every
//! file of this format is reported `unscannable`, never clean).

use super::{Ctx, ExtractError, ExtractResult};

pub fn extract(_data: &[u8], _ctx: &mut Ctx) -> ExtractResult {
    Err(ExtractError::Unsupported("rtf extraction not built yet".into()))
}
